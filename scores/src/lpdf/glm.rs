//! Generalised linear models in one call (Stan's `_glm` functions): the log-likelihood of n observations whose
//! linear predictor is ηᵢ = α + xᵢ · β, with X a fixed n × k design (row-major). Each ηᵢ is one node on a
//! tape (`Real::dot_add`), so a regression costs n nodes instead of n k; generic, so α, β (and σ) can be
//! parameters.
//!
//! ```
//! use stein_scores::lpdf::{bernoulli_logit, bernoulli_logit_glm};
//! let x = [1.0, 0.5, -2.0, 0.0]; // two rows, two columns
//! let y = [true, false];
//! let (alpha, beta) = (0.3, [1.0, -1.0]);
//! let by_row = bernoulli_logit(true, 0.3 + 1.0 - 0.5) + bernoulli_logit(false, 0.3 - 2.0);
//! assert!((bernoulli_logit_glm(&y, &x, alpha, &beta) - by_row).abs() < 1e-12);
//! ```

use super::{bernoulli_logit, normal, poisson_log, Count};
use stein_autodiff::Real;

/// The linear predictors α + xᵢ · β, checking the design's size.
fn predictors<'a, S: Real>(
    what: &'static str,
    n: usize,
    x: &'a [f64],
    alpha: S,
    beta: &'a [S],
) -> impl Iterator<Item = S> + 'a {
    let k = beta.len();
    assert_eq!(
        x.len(),
        n * k,
        "{what}: a design of {} values for {n} observations × {k} coefficients",
        x.len()
    );
    (0..n).map(move |i| S::dot_add(alpha, &x[i * k..(i + 1) * k], beta))
}

/// Σᵢ log Bernoulli(yᵢ | σ(α + xᵢ · β)) (logistic regression).
///
/// # Panics
/// When `x` does not have `y.len() × beta.len()` values (naming the sizes).
pub fn bernoulli_logit_glm<S: Real>(y: &[bool], x: &[f64], alpha: S, beta: &[S]) -> S {
    predictors("bernoulli_logit_glm", y.len(), x, alpha, beta)
        .zip(y)
        .fold(S::cst(0.0), |lp, (eta, &yi)| lp + bernoulli_logit(yi, eta))
}

/// Σᵢ log N(yᵢ | α + xᵢ · β, σ) (linear regression); NaN for σ ≤ 0, as `normal`.
///
/// # Panics
/// When `x` does not have `y.len() × beta.len()` values (naming the sizes).
pub fn normal_id_glm<S: Real>(y: &[f64], x: &[f64], alpha: S, beta: &[S], sigma: S) -> S {
    predictors("normal_id_glm", y.len(), x, alpha, beta)
        .zip(y)
        .fold(S::cst(0.0), |lp, (eta, &yi)| {
            lp + normal(S::cst(yi), eta, sigma)
        })
}

/// Σᵢ log Poisson(kᵢ | exp(α + xᵢ · β)) (Poisson regression on the log scale).
///
/// # Panics
/// When `x` does not have `k.len() × beta.len()` values (naming the sizes).
pub fn poisson_log_glm<S: Real, K: Count>(k: &[K], x: &[f64], alpha: S, beta: &[S]) -> S {
    predictors("poisson_log_glm", k.len(), x, alpha, beta)
        .zip(k)
        .fold(S::cst(0.0), |lp, (eta, &ki)| lp + poisson_log(ki, eta))
}
