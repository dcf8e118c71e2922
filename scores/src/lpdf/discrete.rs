//! Discrete data with a continuous parameter on the log-odds or log scale. Counts may be given as any
//! integer type or as `f64` (data read from JSON or CSV often is): see [`Count`].

use stein_autodiff::Real;

/// A count as the discrete blocks read it: `u64`, `u32`, `usize`, `i64`, `i32` or `f64`. A negative or
/// fractional value, or ±∞, is outside the support of a count (the block gives −∞); NaN gives NaN.
///
/// ```
/// use stein_scores::lpdf::poisson_log;
/// let eta = 0.5_f64;
/// assert_eq!(poisson_log(3_i64, eta), poisson_log(3_u64, eta));
/// assert_eq!(poisson_log(3.0, eta), poisson_log(3_u64, eta));
/// assert_eq!(poisson_log(-1_i64, eta), f64::NEG_INFINITY);
/// assert_eq!(poisson_log(2.5, eta), f64::NEG_INFINITY);
/// assert!(poisson_log(f64::NAN, eta).is_nan());
/// ```
pub trait Count: Copy {
    /// The count as a number (possibly negative, fractional or NaN: the blocks check).
    fn as_f64(self) -> f64;
}

macro_rules! count {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
count!(u64, u32, usize, i64, i32, f64);

/// `Ok(k)` for a count in the support, `Err(value)` with the block's value otherwise (−∞, NaN for NaN).
pub(super) fn support<K: Count, S: Real>(k: K) -> Result<f64, S> {
    let k = k.as_f64();
    if k.is_nan() {
        Err(S::cst(f64::NAN))
    } else if k >= 0.0 && k.is_finite() && k.fract() == 0.0 {
        Ok(k)
    } else {
        Err(S::cst(f64::NEG_INFINITY))
    }
}

/// Bernoulli with log-odds α: log σ(α) if y, else log σ(−α) (stable for large |α|).
pub fn bernoulli_logit<S: Real>(y: bool, alpha: S) -> S {
    if y {
        alpha.log_sigmoid()
    } else {
        (-alpha).log_sigmoid()
    }
}

/// Binomial with n trials and log-odds α: log C(n, k) + k log σ(α) + (n − k) log σ(−α); −∞ when k is not a
/// count or k > n; NaN when n is not a count (an invalid parameter).
pub fn binomial_logit<S: Real, K: Count>(k: K, n: K, alpha: S) -> S {
    let nf = match support::<K, S>(n) {
        Ok(n) => n,
        Err(_) => return super::reject(),
    };
    let kf = match support(k) {
        Ok(k) if k <= nf => k,
        Ok(_) => return super::neg_inf(),
        Err(v) => return v,
    };
    use stein_autodiff::special::lgamma;
    let choose = lgamma(nf + 1.0) - lgamma(kf + 1.0) - lgamma(nf - kf + 1.0);
    alpha.log_sigmoid() * kf + (-alpha).log_sigmoid() * (nf - kf) + choose
}

/// Poisson with log-rate η: k η − e^η − log k!. η = −∞ is the rate 0 (all mass at k = 0), η = +∞ an
/// infinite rate (−∞ for every k); −∞ when k is not a count ([`Count`]).
pub fn poisson_log<S: Real, K: Count>(k: K, eta: S) -> S {
    let kf = match support(k) {
        Ok(k) => k,
        Err(v) => return v,
    };
    if eta == S::cst(f64::NEG_INFINITY) {
        return S::cst(if kf == 0.0 { 0.0 } else { f64::NEG_INFINITY });
    }
    if eta == S::cst(f64::INFINITY) {
        return S::cst(f64::NEG_INFINITY);
    }
    eta * kf - eta.exp() - stein_autodiff::special::lgamma(kf + 1.0)
}
