//! Univariate continuous densities.

use stein_autodiff::Real;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
const LN_PI: f64 = 1.144_729_885_849_400_2;

use super::{finite, neg_inf, positive, reject};

/// log N(x; μ, σ²) = −½ ((x − μ)/σ)² − log σ − ½ log 2π.
pub fn normal<S: Real>(x: S, mu: S, sigma: S) -> S {
    if !(finite(mu) && positive(sigma)) {
        return reject();
    }
    let z = (x - mu) / sigma;
    -(z * z) * 0.5 - sigma.ln() - LN_SQRT_2PI
}

/// Student's t with ν degrees of freedom, location μ, scale σ:
/// log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log σ − (ν+1)/2 · log(1 + ((x − μ)/σ)²/ν).
pub fn student_t<S: Real>(x: S, nu: S, mu: S, sigma: S) -> S {
    if !(positive(nu) && finite(mu) && positive(sigma)) {
        return reject();
    }
    let z = (x - mu) / sigma;
    let half = (nu + 1.0) * 0.5;
    half.lgamma()
        - (nu * 0.5).lgamma()
        - (nu.ln() + LN_PI) * 0.5
        - sigma.ln()
        - half * (z * z / nu).ln_1p()
}

/// Cauchy: −log π − log σ − log(1 + ((x − μ)/σ)²).
pub fn cauchy<S: Real>(x: S, mu: S, sigma: S) -> S {
    if !(finite(mu) && positive(sigma)) {
        return reject();
    }
    let z = (x - mu) / sigma;
    -sigma.ln() - (z * z).ln_1p() - LN_PI
}

/// Exponential with rate λ: log λ − λ x for x ≥ 0.
pub fn exponential<S: Real>(x: S, rate: S) -> S {
    if !positive(rate) {
        return reject();
    }
    if x < S::cst(0.0) {
        return neg_inf();
    }
    rate.ln() - rate * x
}

/// Gamma with shape α and rate β: α log β − log Γ(α) + (α − 1) log x − β x for x > 0.
pub fn gamma<S: Real>(x: S, shape: S, rate: S) -> S {
    if !(positive(shape) && positive(rate)) {
        return reject();
    }
    // x = ∞ is outside too ((α − 1) log x − β x would be ∞ − ∞ for α > 1)
    if x <= S::cst(0.0) || x == S::cst(f64::INFINITY) {
        return neg_inf();
    }
    shape * rate.ln() - shape.lgamma() + (shape - 1.0) * x.ln() - rate * x
}

/// Log-normal: log N(log x; μ, σ²) − log x for x > 0.
pub fn lognormal<S: Real>(x: S, mu: S, sigma: S) -> S {
    if !(finite(mu) && positive(sigma)) {
        return reject();
    }
    if x <= S::cst(0.0) {
        return neg_inf();
    }
    let lx = x.ln();
    normal(lx, mu, sigma) - lx
}

/// Half-normal with scale σ: log 2 + log N(x; 0, σ²) for x ≥ 0.
pub fn half_normal<S: Real>(x: S, sigma: S) -> S {
    if !positive(sigma) {
        return reject();
    }
    if x < S::cst(0.0) {
        return neg_inf();
    }
    normal(x, S::cst(0.0), sigma) + std::f64::consts::LN_2
}

/// Half-Cauchy with scale σ: log 2 + log Cauchy(x; 0, σ) for x ≥ 0.
pub fn half_cauchy<S: Real>(x: S, sigma: S) -> S {
    if !positive(sigma) {
        return reject();
    }
    if x < S::cst(0.0) {
        return neg_inf();
    }
    cauchy(x, S::cst(0.0), sigma) + std::f64::consts::LN_2
}

/// Beta(a, b) on (0, 1): log Γ(a + b) − log Γ(a) − log Γ(b) + (a − 1) log x + (b − 1) log(1 − x).
pub fn beta<S: Real>(x: S, a: S, b: S) -> S {
    if !(positive(a) && positive(b)) {
        return reject();
    }
    if x.is_nan() {
        return x;
    }
    if !(x > S::cst(0.0) && x < S::cst(1.0)) {
        return neg_inf();
    }
    (a + b).lgamma() - a.lgamma() - b.lgamma() + (a - 1.0) * x.ln() + (b - 1.0) * (-x).ln_1p()
}
