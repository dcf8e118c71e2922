//! The traits: log-densities (any energy), scores, exact sampling; and the autodiff score of any density.

use crate::error::{dim_eq, finite_all, ScoreError};
use rand::Rng;
use rayon::prelude::*;
use stein_autodiff::{with_tape, Real, Var};

/// An unnormalised log-density log p(x) (+ const), written once, generic over [`Real`], so the same code
/// runs on `f64` and on a tape. Its score ∇ₓ log p comes from [`score`].
///
/// ```
/// use stein_autodiff::Real;
/// use stein_scores::{score, LogDensity};
///
/// /// A "donut": log p(x) = −(|x| − 2)² / (2 · 0.3²)
/// struct Donut;
/// impl LogDensity for Donut {
///     fn dim(&self) -> usize { 2 }
///     fn log_prob<S: Real>(&self, x: &[S]) -> S {
///         let r = (x[0] * x[0] + x[1] * x[1]).sqrt();
///         -(r - 2.0).powi(2) / (2.0 * 0.09)
///     }
/// }
/// let s = score(&Donut, &[3.0, 0.0]);            // points back towards the ring
/// assert!((s[0] + 1.0 / 0.09).abs() < 1e-12 && s[1] == 0.0);
/// ```
pub trait LogDensity: Sync {
    /// Dimension of x.
    fn dim(&self) -> usize;
    /// log p(x) up to an additive constant: −∞ outside the support; NaN only for a NaN point or where the
    /// density's own parameters are invalid (the `lpdf` rule), which samplers treat as a rejection.
    ///
    /// # Panics
    /// Implementations may panic when `x` does not have `dim` values (a programmer error); the catalogue's
    /// densities and [`crate::transform::Constrained`] do, naming both lengths.
    fn log_prob<S: Real>(&self, x: &[S]) -> S;
}

/// An energy E(x) with log p = −E + const. Wrap it in [`Energy`] to use it as a [`LogDensity`].
pub trait EnergyFunction: Sync {
    /// Dimension of x.
    fn dim(&self) -> usize;
    /// E(x).
    fn energy<S: Real>(&self, x: &[S]) -> S;
}

/// The log-density log p = −E of an [`EnergyFunction`]; its score is −∇E.
///
/// ```
/// use stein_autodiff::Real;
/// use stein_scores::{score, Energy, EnergyFunction};
/// struct Quartic;
/// impl EnergyFunction for Quartic {
///     fn dim(&self) -> usize { 1 }
///     fn energy<S: Real>(&self, x: &[S]) -> S { x[0].powi(4) }
/// }
/// assert_eq!(score(&Energy(Quartic), &[2.0]), vec![-32.0]); // −4x³
/// ```
#[derive(Clone, Debug)]
pub struct Energy<E>(pub E);

impl<E: EnergyFunction> LogDensity for Energy<E> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        -self.0.energy(x)
    }
}

/// Anything that gives a score s(x) ∈ ℝᵈ: an analytic distribution, the autodiff score of a density
/// ([`AutodiffScore`]), a trained network.
pub trait Score: Sync {
    /// Dimension of x and of s(x). (Named apart from [`LogDensity::dim`], so a distribution implementing
    /// both never makes `d.dim()` ambiguous.)
    fn score_dim(&self) -> usize;
    /// Write s(x) into `out` (length `score_dim`).
    ///
    /// # Panics
    /// Implementations may panic when `x` or `out` does not have `score_dim` entries (a programmer error);
    /// the catalogue's and the autodiff scores do, naming both lengths.
    fn score_into(&self, x: &[f64], out: &mut [f64]);
    /// s(x) as a new vector.
    ///
    /// # Panics
    /// When `x` does not have `score_dim` coordinates; the message names both lengths.
    fn score(&self, x: &[f64]) -> Vec<f64> {
        check_len("Score::score", x.len(), self.score_dim());
        let mut out = vec![0.0; self.score_dim()];
        self.score_into(x, &mut out);
        out
    }
}

impl<T: Analytic> Score for T {
    fn score_dim(&self) -> usize {
        LogDensity::dim(self)
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        check_lens(
            "Score::score_into",
            x.len(),
            out.len(),
            LogDensity::dim(self),
        );
        self.analytic_score_into(x, out)
    }
}

/// Panic, naming both lengths, when a point does not have the density's dimension: the check every
/// catalogue density makes in `log_prob`, for densities written elsewhere to make the same way.
#[inline]
#[track_caller]
pub fn check_point_len(what: &str, got: usize, dim: usize) {
    check_len(what, got, dim)
}

/// [`check_point_len`], for this crate.
#[inline]
#[track_caller]
pub(crate) fn check_len(what: &str, got: usize, dim: usize) {
    if got != dim {
        len_panic(what, "the point", got, dim)
    }
}

/// [`check_len`] for a point and an output buffer.
#[inline]
#[track_caller]
pub(crate) fn check_lens(what: &str, x: usize, out: usize, dim: usize) {
    if x != dim {
        len_panic(what, "the point", x, dim)
    }
    if out != dim {
        len_panic(what, "the output buffer", out, dim)
    }
}

#[cold]
#[track_caller]
fn len_panic(what: &str, which: &str, got: usize, dim: usize) -> ! {
    panic!("{what}: {which} has {got} coordinates, the density's dimension is {dim}")
}

/// A distribution with closed forms: its score (implement [`Analytic::analytic_score_into`]), the Laplacian
/// of its log-density, and (where known) its normalised log-density. Every `Analytic` is a [`Score`].
pub trait Analytic: LogDensity {
    /// The closed-form score ∇ₓ log p(x).
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]);
    /// The closed-form Laplacian tr ∇²ₓ log p(x) (the divergence of the score).
    fn laplacian(&self, x: &[f64]) -> f64;
    /// log p(x) (unnormalised, as [`LogDensity::log_prob`]) and the score at once, into `out`. Families
    /// override it with an allocation-free path; mixtures and samplers call it on hot loops.
    fn log_prob_and_score(&self, x: &[f64], out: &mut [f64]) -> f64 {
        self.analytic_score_into(x, out);
        self.log_prob(x)
    }
    /// log Z, where the normaliser Z = ∫ exp(log_prob) is known in closed form.
    fn log_normalizer(&self) -> Option<f64> {
        None
    }
    /// The normalised log-density log_prob(x) − log Z, where Z is known.
    fn log_pdf(&self, x: &[f64]) -> Option<f64> {
        self.log_normalizer().map(|z| self.log_prob(x) - z)
    }
}

/// Exact sampling.
pub trait Sample {
    /// Draw one point into `out` (length `dim`).
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]);
    /// Draw `n` points.
    fn sample_n<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Vec<Vec<f64>>
    where
        Self: LogDensity,
    {
        (0..n)
            .map(|_| {
                let mut x = vec![0.0; self.dim()];
                self.sample_into(rng, &mut x);
                x
            })
            .collect()
    }
}

/// The score of any [`LogDensity`] by reverse-mode autodiff, as a [`Score`].
#[derive(Clone, Copy, Debug)]
pub struct AutodiffScore<'a, D: ?Sized>(pub &'a D);

impl<D: LogDensity> Score for AutodiffScore<'_, D> {
    fn score_dim(&self) -> usize {
        self.0.dim()
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        check_lens(
            "AutodiffScore::score_into",
            x.len(),
            out.len(),
            self.0.dim(),
        );
        with_tape(|t| {
            let xs = t.vars(x);
            let y = self.0.log_prob(&xs);
            t.grad_into(y, &xs, out);
        })
    }
}

/// The analytic score of a distribution, as a [`Score`] (the same as the distribution itself; this names the
/// choice where both are on the table, e.g. `assert_score_matches(AnalyticScore(&d), AutodiffScore(&d), …)`).
#[derive(Clone, Copy, Debug)]
pub struct AnalyticScore<'a, D: ?Sized>(pub &'a D);

impl<D: Analytic> Score for AnalyticScore<'_, D> {
    fn score_dim(&self) -> usize {
        self.0.dim()
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        check_lens(
            "AnalyticScore::score_into",
            x.len(),
            out.len(),
            self.0.dim(),
        );
        self.0.analytic_score_into(x, out)
    }
}

/// The score ∇ₓ log p(x) of any density, by autodiff.
///
/// For a one-off density there is no need for a struct: a plain generic function works with
/// [`stein_autodiff::grad`] directly.
///
/// ```
/// use stein_autodiff::{grad, Real};
/// fn log_p<S: Real>(x: &[S]) -> S { -(x[0] * x[0] + x[1].powi(4)) * 0.5 }
/// assert_eq!(grad(|x| log_p(x), &[1.0, 1.0]), vec![-1.0, -2.0]);
/// ```
///
/// # Panics
/// When `x.len() != density.dim()` (a programmer error; the message names both lengths). [`try_score`]
/// returns an error instead.
pub fn score<D: LogDensity + ?Sized>(density: &D, x: &[f64]) -> Vec<f64> {
    check_len("score", x.len(), density.dim());
    let mut out = vec![0.0; x.len()];
    with_tape(|t| {
        let xs = t.vars(x);
        let y = density.log_prob(&xs);
        t.grad_into(y, &xs, &mut out);
    });
    out
}

/// [`score`], checked: the point must have `dim` finite coordinates and the score must be finite.
pub fn try_score<D: LogDensity + ?Sized>(density: &D, x: &[f64]) -> Result<Vec<f64>, ScoreError> {
    dim_eq("x", density.dim(), x.len())?;
    finite_all("x", x)?;
    let s = score(density, x);
    finite_all("score", &s)?;
    Ok(s)
}

/// The exact Laplacian tr ∇² log p(x) of any density, by autodiff (second order).
pub fn laplacian<D: LogDensity + ?Sized>(density: &D, x: &[f64]) -> f64 {
    stein_autodiff::laplacian(|v: &[Var]| density.log_prob(v), x)
}

/// Scores of many points, `points` row-major (`n × dim`), in parallel with rayon (each worker thread records
/// on its own tape). The result is row-major too, and does not depend on the number of threads.
pub fn score_batch<S: Score + ?Sized>(score: &S, points: &[f64]) -> Result<Vec<f64>, ScoreError> {
    let d = score.score_dim();
    if d == 0 || !points.len().is_multiple_of(d) {
        return Err(ScoreError::Dimension {
            param: "points",
            expected: format!("a multiple of dim = {d} values"),
            got: format!("{} values", points.len()),
        });
    }
    let mut out = vec![0.0; points.len()];
    out.par_chunks_mut(d * 64)
        .zip(points.par_chunks(d * 64))
        .for_each(|(o, p)| {
            for (oi, pi) in o.chunks_mut(d).zip(p.chunks(d)) {
                score.score_into(pi, oi);
            }
        });
    Ok(out)
}

/// [`AutodiffScore`] for a density, so `score_batch(&autodiff(&d), …)` reads naturally.
pub fn autodiff<D: LogDensity>(density: &D) -> AutodiffScore<'_, D> {
    AutodiffScore(density)
}
