//! Log-densities with variable parameters, as Stan's `_lpdf` / `_lpmf` functions: every argument but
//! discrete data is generic over `Real` (`stein_autodiff::Real`), so a parameter can be a tape variable and
//! the gradient flows to it. Each is normalised (constants included, so values match scipy's `logpdf`).
//! Constants enter as `S::cst(v)`.
//!
//! # Invalid values: −∞ and NaN
//! - A point **outside the support** (x < 0 for a gamma, x off the simplex for a Dirichlet, x = ±∞) gives
//!   **−∞**: probability zero, a legitimate value of a log-density.
//! - **Invalid parameters** (a scale or shape that is not positive and finite, a location that is not finite,
//!   a Cholesky factor with a non-positive diagonal) give **NaN**, as Stan's functions *reject*: every Stein
//!   sampler treats a non-finite log-density at a proposal as a rejection (a divergence for HMC and NUTS), so
//!   a posterior whose parameters wander outside their domain is never moved there, and a NaN cannot be
//!   mistaken for a probability. A NaN point gives NaN too.
//! - Parameters are checked before the point: `gamma(-1.0, -0.5, 1.0)` is NaN, not −∞.
//!
//! | function | density |
//! |---|---|
//! | [`normal`] (x, μ, σ) | N(μ, σ²) |
//! | [`student_t`] (x, ν, μ, σ) | Student's t |
//! | [`cauchy`] (x, μ, σ) | Cauchy |
//! | [`exponential`] (x, λ) | rate λ |
//! | [`gamma`] (x, α, β) | shape α, rate β |
//! | [`lognormal`] (x, μ, σ) | log x ~ N(μ, σ²) |
//! | [`half_normal`] (x, σ), [`half_cauchy`] (x, σ) | on x ≥ 0 |
//! | [`beta`] (x, a, b) | on (0, 1) |
//! | [`bernoulli_logit`] (y, α) | P(y = 1) = σ(α) |
//! | [`binomial_logit`] (k, n, α) | n trials, success σ(α) |
//! | [`poisson_log`] (k, η) | rate e^η |
//! | [`bernoulli_logit_glm`] (y, X, α, β), [`normal_id_glm`] (y, X, α, β, σ), [`poisson_log_glm`] (k, X, α, β) | the sums over rows with ηᵢ = α + xᵢ · β |
//! | [`multi_normal`] (x, μ, Σ), [`multi_normal_cholesky`] (x, μ, L) | N(μ, Σ), N(μ, L Lᵀ) |
//! | [`dirichlet`] (x, α) | on the simplex |
//! | [`lkj_corr_cholesky`] (L, η) | LKJ(η) on correlation matrices, through their Cholesky factor |
//! | [`log_mix`] (θ, lp₁, lp₂) | a two-component mixture of the given log-densities |
//!
//! Sums over many values with Stan's broadcasting (`y ~ normal(mu, sigma)` with vectors) are in [`slice`](mod@slice).
//!
//! ```
//! use stein_autodiff::{grad, Real};
//! use stein_scores::lpdf;
//!
//! // log p(μ, log σ | y) for three observations, a N(0, 10²) prior on μ and a half-normal on σ
//! fn log_post<S: Real>(p: &[S]) -> S {
//!     let (mu, sigma) = (p[0], p[1].exp());
//!     let lik = [1.2, 0.7, 2.1].iter().fold(S::cst(0.0), |acc, &y| acc + lpdf::normal(S::cst(y), mu, sigma));
//!     lik + lpdf::normal(mu, S::cst(0.0), S::cst(10.0)) + lpdf::half_normal(sigma, S::cst(1.0)) + p[1]
//! }
//! let g = grad(|p| log_post(p), &[1.0, 0.0]);
//! assert!(g.iter().all(|v| v.is_finite()));
//! let plain: f64 = log_post(&[1.0, 0.0]);
//! assert!(plain.is_finite());
//! ```

use stein_autodiff::Real;

/// The value of a building block whose parameters are invalid (Stan's reject).
fn reject<S: Real>() -> S {
    S::cst(f64::NAN)
}

/// The value outside the support.
fn neg_inf<S: Real>() -> S {
    S::cst(f64::NEG_INFINITY)
}

/// A parameter that must be positive and finite (a scale, a rate, a shape, a concentration).
fn positive<S: Real>(v: S) -> bool {
    v > S::cst(0.0) && v.is_finite()
}

/// A parameter that must be finite (a location).
fn finite<S: Real>(v: S) -> bool {
    v.is_finite()
}

mod continuous;
mod discrete;
mod glm;
mod mix;
mod multivariate;
pub mod slice;

pub use continuous::{
    beta, cauchy, exponential, gamma, half_cauchy, half_normal, lognormal, normal, student_t,
};
pub use discrete::{bernoulli_logit, binomial_logit, poisson_log, Count};
pub use glm::{bernoulli_logit_glm, normal_id_glm, poisson_log_glm};
pub use mix::log_mix;
pub use multivariate::{
    dirichlet, lkj_corr_cholesky, lkj_log_normalizer, multi_normal, multi_normal_cholesky,
};
