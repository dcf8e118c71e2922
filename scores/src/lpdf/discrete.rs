//! Discrete data with a continuous parameter on the log-odds or log scale.

use stein_autodiff::Real;

/// Bernoulli with log-odds α: log σ(α) if y, else log σ(−α) (stable for large |α|).
pub fn bernoulli_logit<S: Real>(y: bool, alpha: S) -> S {
    if y {
        alpha.log_sigmoid()
    } else {
        (-alpha).log_sigmoid()
    }
}

/// Binomial with n trials and log-odds α: log C(n, k) + k log σ(α) + (n − k) log σ(−α); −∞ when k > n.
pub fn binomial_logit<S: Real>(k: u64, n: u64, alpha: S) -> S {
    if k > n {
        return S::cst(f64::NEG_INFINITY);
    }
    use stein_autodiff::special::lgamma;
    let (kf, nf) = (k as f64, n as f64);
    let choose = lgamma(nf + 1.0) - lgamma(kf + 1.0) - lgamma(nf - kf + 1.0);
    alpha.log_sigmoid() * kf + (-alpha).log_sigmoid() * (nf - kf) + choose
}

/// Poisson with log-rate η: k η − e^η − log k!. η = −∞ is the rate 0 (all mass at k = 0), η = +∞ an
/// infinite rate (−∞ for every k).
pub fn poisson_log<S: Real>(k: u64, eta: S) -> S {
    let kf = k as f64;
    if eta == S::cst(f64::NEG_INFINITY) {
        return S::cst(if k == 0 { 0.0 } else { f64::NEG_INFINITY });
    }
    if eta == S::cst(f64::INFINITY) {
        return S::cst(f64::NEG_INFINITY);
    }
    eta * kf - eta.exp() - stein_autodiff::special::lgamma(kf + 1.0)
}
