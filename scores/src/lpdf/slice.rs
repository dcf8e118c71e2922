//! Vectorised blocks (Stan's `y ~ normal(mu, sigma)` with vectors): the sum of a family's log-density over
//! many values, each argument either one value for all ([`Each`] for a `Real`) or one per value (a slice, or
//! [`Data`] for fixed numbers). Lengths must agree. The common cases cost O(1) tape nodes instead of O(n):
//! normal data with one location and scale (through the data's mean and sum of squares), Poisson and
//! Bernoulli data with one parameter (through their totals); the others sum the scalar blocks, so their
//! rules for invalid values (NaN for invalid parameters, −∞ outside the support) carry over.
//!
//! ```
//! use stein_autodiff::{grad, Real};
//! use stein_scores::lpdf::{self, slice::{self, Data}};
//!
//! // eight-schools-like: θ ~ N(μ, τ) for parameters θ, y ~ N(θ, σ) for data y with known σ
//! fn log_post<S: Real>(p: &[S]) -> S {
//!     let (mu, tau, theta) = (p[0], p[1].exp(), &p[2..]);
//!     let (y, sigma) = ([28.0, 8.0, -3.0], [15.0, 10.0, 16.0]);
//!     slice::normal(theta, mu, tau) + slice::normal(Data(&y), theta, Data(&sigma)) + p[1]
//! }
//! let p = [1.0, 0.5, 2.0, -1.0, 0.3];
//! let by_hand: f64 = (0..3).map(|i| lpdf::normal(p[2 + i], p[0], p[1].exp())).sum::<f64>()
//!     + lpdf::normal(28.0, p[2], 15.0) + lpdf::normal(8.0, p[3], 10.0) + lpdf::normal(-3.0, p[4], 16.0)
//!     + p[1];
//! assert!((log_post(&p) - by_hand).abs() < 1e-12);
//! assert!(grad(|q| log_post(q), &p).iter().all(|g| g.is_finite()));
//! ```

use super::Count;
use stein_autodiff::Real;

/// An argument of a vectorised block: one value for every position (a `Real`) or one per position (`&[S]`,
/// `&Vec<S>`, `&[S; N]`, or [`Data`]).
pub trait Each<S: Real> {
    /// How many values it has; `None` for one value broadcast to every position.
    fn size(&self) -> Option<usize>;
    /// The value at position `i`.
    fn at(&self, i: usize) -> S;
    /// The values when they are fixed numbers ([`Data`]), for the blocks' shortcuts.
    fn data(&self) -> Option<&[f64]> {
        None
    }
}

/// Fixed numbers as an argument of a vectorised block for any `Real` (constants on a tape).
#[derive(Clone, Copy, Debug)]
pub struct Data<'a>(pub &'a [f64]);

impl<S: Real> Each<S> for S {
    fn size(&self) -> Option<usize> {
        None
    }
    fn at(&self, _: usize) -> S {
        *self
    }
}

impl<S: Real> Each<S> for &[S] {
    fn size(&self) -> Option<usize> {
        Some(self.len())
    }
    fn at(&self, i: usize) -> S {
        self[i]
    }
}

impl<S: Real> Each<S> for &Vec<S> {
    fn size(&self) -> Option<usize> {
        Some(self.len())
    }
    fn at(&self, i: usize) -> S {
        self[i]
    }
}

impl<S: Real, const N: usize> Each<S> for &[S; N] {
    fn size(&self) -> Option<usize> {
        Some(N)
    }
    fn at(&self, i: usize) -> S {
        self[i]
    }
}

impl<S: Real> Each<S> for Data<'_> {
    fn size(&self) -> Option<usize> {
        Some(self.0.len())
    }
    fn at(&self, i: usize) -> S {
        S::cst(self.0[i])
    }
    fn data(&self) -> Option<&[f64]> {
        Some(self.0)
    }
}

/// The common length of the arguments (1 when all are single values).
///
/// # Panics
/// When two slices differ in length, naming the block and both lengths.
fn length(what: &str, sizes: &[Option<usize>]) -> usize {
    let mut n = None;
    for s in sizes.iter().flatten() {
        match n {
            None => n = Some(*s),
            Some(m) => assert_eq!(m, *s, "{what}: arguments of lengths {m} and {s}"),
        }
    }
    n.unwrap_or(1)
}

/// Σᵢ f(xᵢ, aᵢ, bᵢ) over the common length.
fn sum3<S: Real>(
    what: &str,
    x: impl Each<S>,
    a: impl Each<S>,
    b: impl Each<S>,
    f: fn(S, S, S) -> S,
) -> S {
    let n = length(what, &[x.size(), a.size(), b.size()]);
    (0..n).fold(S::cst(0.0), |lp, i| lp + f(x.at(i), a.at(i), b.at(i)))
}

/// Σᵢ log N(xᵢ | μᵢ, σᵢ). With data x and one μ and σ: three tape nodes' worth of work, through the data's
/// mean x̄ and centred sum of squares (Σ(x − μ)² = Σ(x − x̄)² + n (x̄ − μ)², no cancellation).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn normal<S: Real>(x: impl Each<S>, mu: impl Each<S>, sigma: impl Each<S>) -> S {
    match (x.data(), mu.size(), sigma.size()) {
        (Some(y), None, None) => normal_data(y, mu.at(0), sigma.at(0)),
        _ => sum3("slice::normal", x, mu, sigma, super::normal),
    }
}

/// Σᵢ log N(yᵢ | μ, σ) for data `y` and one μ and σ, through the sufficient statistics; the scalar block's
/// rules (NaN for an invalid σ or μ or a NaN point, −∞ for an infinite one); 0 for no data.
fn normal_data<S: Real>(y: &[f64], mu: S, sigma: S) -> S {
    let n = y.len() as f64;
    if y.is_empty() {
        return S::cst(0.0);
    }
    if !(super::positive(sigma) && super::finite(mu)) {
        return super::reject();
    }
    if y.iter().any(|v| v.is_nan()) {
        return super::reject();
    }
    if y.iter().any(|v| v.is_infinite()) {
        return super::neg_inf();
    }
    // deviations from the first point are exact for data far from the origin, so x̄ − μ keeps its digits
    let shift = y[0];
    let mean = y.iter().map(|v| v - shift).sum::<f64>() / n;
    let ss: f64 = y.iter().map(|v| (v - shift - mean).powi(2)).sum();
    let d = (mu - S::cst(shift)).rsub(mean);
    let quad = (d * d * n + S::cst(ss)) / (sigma * sigma);
    quad * -0.5 - sigma.ln() * n - S::cst(0.5 * n * (2.0 * std::f64::consts::PI).ln())
}

/// Σᵢ log logN(xᵢ | μᵢ, σᵢ).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn lognormal<S: Real>(x: impl Each<S>, mu: impl Each<S>, sigma: impl Each<S>) -> S {
    sum3("slice::lognormal", x, mu, sigma, super::lognormal)
}

/// Σᵢ log Cauchy(xᵢ | μᵢ, σᵢ).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn cauchy<S: Real>(x: impl Each<S>, mu: impl Each<S>, sigma: impl Each<S>) -> S {
    sum3("slice::cauchy", x, mu, sigma, super::cauchy)
}

/// Σᵢ log Gamma(xᵢ | shape αᵢ, rate βᵢ).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn gamma<S: Real>(x: impl Each<S>, shape: impl Each<S>, rate: impl Each<S>) -> S {
    sum3("slice::gamma", x, shape, rate, super::gamma)
}

/// Σᵢ log Exponential(xᵢ | rate λᵢ).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn exponential<S: Real>(x: impl Each<S>, rate: impl Each<S>) -> S {
    let n = length("slice::exponential", &[x.size(), rate.size()]);
    (0..n).fold(S::cst(0.0), |lp, i| {
        lp + super::exponential(x.at(i), rate.at(i))
    })
}

/// Σᵢ log t(xᵢ | νᵢ, μᵢ, σᵢ).
///
/// # Panics
/// When two slices differ in length (naming both).
pub fn student_t<S: Real>(
    x: impl Each<S>,
    nu: impl Each<S>,
    mu: impl Each<S>,
    sigma: impl Each<S>,
) -> S {
    let n = length(
        "slice::student_t",
        &[x.size(), nu.size(), mu.size(), sigma.size()],
    );
    (0..n).fold(S::cst(0.0), |lp, i| {
        lp + super::student_t(x.at(i), nu.at(i), mu.at(i), sigma.at(i))
    })
}

/// Σᵢ log Poisson(kᵢ | e^{ηᵢ}). With one η: through Σk and Σ log k! (O(1) on a tape).
///
/// # Panics
/// When `eta` is a slice of another length than `k` (naming both).
pub fn poisson_log<S: Real, K: Count>(k: &[K], eta: impl Each<S>) -> S {
    let n = length("slice::poisson_log", &[Some(k.len()), eta.size()]);
    if eta.size().is_some() || k.is_empty() {
        return (0..n).fold(S::cst(0.0), |lp, i| {
            lp + super::poisson_log(k[i], eta.at(i))
        });
    }
    let eta = eta.at(0);
    let (mut total, mut log_fact) = (0.0, 0.0);
    for &ki in k {
        match super::discrete::support::<K, S>(ki) {
            Ok(v) => {
                total += v;
                log_fact += stein_autodiff::special::lgamma(v + 1.0);
            }
            Err(v) => return v,
        }
    }
    if !eta.is_finite() {
        // the scalar block's rules for a rate of 0 or ∞
        return k
            .iter()
            .fold(S::cst(0.0), |lp, &ki| lp + super::poisson_log(ki, eta));
    }
    eta * total - eta.exp() * k.len() as f64 - S::cst(log_fact)
}

/// Σᵢ log Bernoulli(yᵢ | σ(αᵢ)). With one α: through the counts of ones and zeros (O(1) on a tape).
///
/// # Panics
/// When `alpha` is a slice of another length than `y` (naming both).
pub fn bernoulli_logit<S: Real>(y: &[bool], alpha: impl Each<S>) -> S {
    let n = length("slice::bernoulli_logit", &[Some(y.len()), alpha.size()]);
    if alpha.size().is_some() {
        return (0..n).fold(S::cst(0.0), |lp, i| {
            lp + super::bernoulli_logit(y[i], alpha.at(i))
        });
    }
    let a = alpha.at(0);
    let ones = y.iter().filter(|v| **v).count() as f64;
    let zeros = y.len() as f64 - ones;
    let mut lp = S::cst(0.0);
    if ones > 0.0 {
        lp += a.log_sigmoid() * ones;
    }
    if zeros > 0.0 {
        lp += (-a).log_sigmoid() * zeros;
    }
    lp
}

/// Σᵢ log Binomial(kᵢ | nᵢ, σ(αᵢ)).
///
/// # Panics
/// When `n` or `alpha` (a slice) differ in length from `k` (naming both).
pub fn binomial_logit<S: Real, K: Count>(k: &[K], n: &[K], alpha: impl Each<S>) -> S {
    let len = length(
        "slice::binomial_logit",
        &[Some(k.len()), Some(n.len()), alpha.size()],
    );
    (0..len).fold(S::cst(0.0), |lp, i| {
        lp + super::binomial_logit(k[i], n[i], alpha.at(i))
    })
}
