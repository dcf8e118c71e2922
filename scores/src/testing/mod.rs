//! Property-testing support (feature `testing`): proptest strategies for random, well-conditioned members of
//! each family and for points, assertions comparing two scores with a readable failure message, and
//! assertions on draws with calibrated tests ([`assert_samples_from`], [`assert_same_distribution`]).
//!
//! ```
//! use proptest::prelude::*;
//! use stein_scores::testing::{assert_score_matches, mvn, points};
//! use stein_scores::{AnalyticScore, AutodiffScore};
//!
//! proptest!(|(g in mvn(3), xs in points(3, 5, 4.0))| {
//!     assert_score_matches(&AutodiffScore(&g), &AnalyticScore(&g), &xs, 1e-10);
//! });
//! ```

mod samples;

pub use samples::{assert_same_distribution, assert_samples_from, assert_samples_from_with};

use crate::density::Score;
use crate::dist::laplace::Laplace;
use crate::dist::logistic::Logistic;
use crate::dist::mixture::GaussianMixture;
use crate::dist::mvn::MultivariateNormal;
use crate::dist::normal::Normal;
use crate::dist::shapes::{Banana, Funnel, Ring};
use crate::dist::student_t::{MultivariateStudentT, StudentT};
use proptest::prelude::*;

/// Normal with μ ∈ [−3, 3], σ ∈ [0.3, 3].
pub fn normal() -> impl Strategy<Value = Normal> {
    (-3.0..3.0f64, 0.3..3.0f64).prop_map(|(m, s)| Normal::new(m, s).expect("valid"))
}

/// A well-conditioned d × d covariance A Aᵀ + ½ I with A's entries in [−1, 1].
pub fn covariance(d: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(-1.0..1.0f64, d * d).prop_map(move |a| {
        (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>()
                            + if i == j { 0.5 } else { 0.0 }
                    })
                    .collect()
            })
            .collect()
    })
}

/// A mean vector in [−3, 3]ᵈ.
pub fn mean(d: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-3.0..3.0f64, d)
}

/// Full-covariance Gaussian in d dimensions.
pub fn mvn(d: usize) -> impl Strategy<Value = MultivariateNormal> {
    (mean(d), covariance(d))
        .prop_map(|(m, c)| MultivariateNormal::new(m, c).expect("well-conditioned"))
}

/// A mixture of `k` full-covariance Gaussians in d dimensions with weights in [0.1, 1].
pub fn gmm(d: usize, k: usize) -> impl Strategy<Value = GaussianMixture> {
    (
        prop::collection::vec(0.1..1.0f64, k),
        prop::collection::vec(mvn(d), k),
    )
        .prop_map(|(w, c)| GaussianMixture::new(w, c).expect("valid"))
}

/// Laplace with location in [−3, 3]ᵈ and scale in [0.3, 3].
pub fn laplace(d: usize) -> impl Strategy<Value = Laplace> {
    (mean(d), 0.3..3.0f64).prop_map(|(m, s)| Laplace::new(m, s).expect("valid"))
}

/// Logistic with location in [−3, 3]ᵈ and scale in [0.3, 3].
pub fn logistic(d: usize) -> impl Strategy<Value = Logistic> {
    (mean(d), 0.3..3.0f64).prop_map(|(m, s)| Logistic::new(m, s).expect("valid"))
}

/// Student t with ν ∈ [0.5, 30].
pub fn student_t() -> impl Strategy<Value = StudentT> {
    (-3.0..3.0f64, 0.3..3.0f64, 0.5..30.0f64)
        .prop_map(|(m, s, nu)| StudentT::new(m, s, nu).expect("valid"))
}

/// Multivariate t in d dimensions with ν ∈ [0.5, 30].
pub fn mv_student_t(d: usize) -> impl Strategy<Value = MultivariateStudentT> {
    (mean(d), covariance(d), 0.5..30.0f64)
        .prop_map(|(m, c, nu)| MultivariateStudentT::new(m, c, nu).expect("valid"))
}

/// Banana with a ∈ [0.5, 2], b ∈ [−1, 1].
pub fn banana() -> impl Strategy<Value = Banana> {
    (0.5..2.0f64, -1.0..1.0f64).prop_map(|(a, b)| Banana::new(a, b).expect("valid"))
}

/// Neal's funnel in d dimensions with σᵥ ∈ [0.5, 3].
pub fn funnel(d: usize) -> impl Strategy<Value = Funnel> {
    (0.5..3.0f64).prop_map(move |s| Funnel::new(d, s).expect("valid"))
}

/// Ring with radius in [1, 4] and width in [0.1, 1].
pub fn ring() -> impl Strategy<Value = Ring> {
    (1.0..4.0f64, 0.1..1.0f64).prop_map(|(r, w)| Ring::new(r, w).expect("valid"))
}

/// `n` points in [−range, range]ᵈ.
pub fn points(d: usize, n: usize, range: f64) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-range..range, d), n)
}

/// Where two scores disagree most.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Index of the point.
    pub point_index: usize,
    /// The point.
    pub point: Vec<f64>,
    /// The first score there.
    pub a: Vec<f64>,
    /// The second score there.
    pub b: Vec<f64>,
    /// The worst component.
    pub component: usize,
    /// |aᵢ − bᵢ| / max(1, |bᵢ|) at that component.
    pub rel_err: f64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "scores differ at point #{} x = {:?}",
            self.point_index, self.point
        )?;
        writeln!(f, "  a(x) = {:?}", self.a)?;
        writeln!(f, "  b(x) = {:?}", self.b)?;
        write!(
            f,
            "  worst component {}: {:e} vs {:e} (relative error {:.3e})",
            self.component, self.a[self.component], self.b[self.component], self.rel_err
        )
    }
}

/// The worst disagreement between two scores over the points, if it exceeds `rtol` (relative error
/// |aᵢ − bᵢ| / max(1, |bᵢ|)); NaN in either score counts as a mismatch.
pub fn score_mismatch<A: Score + ?Sized, B: Score + ?Sized>(
    a: &A,
    b: &B,
    points: &[Vec<f64>],
    rtol: f64,
) -> Option<Mismatch> {
    let mut worst: Option<Mismatch> = None;
    for (i, x) in points.iter().enumerate() {
        let (sa, sb) = (a.score(x), b.score(x));
        for k in 0..sa.len() {
            let e = (sa[k] - sb[k]).abs() / 1f64.max(sb[k].abs());
            let e = if e.is_nan() { f64::INFINITY } else { e };
            if e > rtol && worst.as_ref().is_none_or(|w| e > w.rel_err) {
                worst = Some(Mismatch {
                    point_index: i,
                    point: x.clone(),
                    a: sa.clone(),
                    b: sb.clone(),
                    component: k,
                    rel_err: e,
                });
            }
        }
    }
    worst
}

/// Panic with the point, both scores and the worst component if two scores differ beyond `rtol`.
#[track_caller]
pub fn assert_score_matches<A: Score + ?Sized, B: Score + ?Sized>(
    a: &A,
    b: &B,
    points: &[Vec<f64>],
    rtol: f64,
) {
    if let Some(m) = score_mismatch(a, b, points, rtol) {
        panic!("{m}");
    }
}
