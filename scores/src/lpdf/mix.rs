//! Combinators of log-densities: Stan's `log_mix`.

use super::reject;
use stein_autodiff::Real;

/// log(θ e^{lp₁} + (1 − θ) e^{lp₂}): the log-density of a two-component mixture with weight θ on the first,
/// given each component's log-density (Stan's `log_mix`), computed as a log-sum-exp so that neither
/// exponential overflows. NaN (a rejection) when θ is outside [0, 1] or not finite.
///
/// ```
/// use stein_scores::lpdf;
/// let (a, b) = (lpdf::normal(0.5, 0.0, 1.0), lpdf::normal(0.5, 3.0, 1.0));
/// let direct = (0.3 * a.exp() + 0.7 * b.exp()).ln();
/// assert!((lpdf::log_mix(0.3, a, b) - direct).abs() < 1e-14);
/// // far in a tail, where the exponentials underflow, it stays exact
/// assert!((lpdf::log_mix(0.5, -2000.0, -2001.0) - (-2000.0 + (0.5 + 0.5 * (-1f64).exp()).ln())).abs() < 1e-9);
/// assert!(lpdf::log_mix(1.5, a, b).is_nan());
/// ```
pub fn log_mix<S: Real>(theta: S, lp1: S, lp2: S) -> S {
    if !(theta >= S::cst(0.0) && theta <= S::cst(1.0)) {
        return reject();
    }
    S::logsumexp(&[theta.ln() + lp1, theta.rsub(1.0).ln() + lp2])
}
