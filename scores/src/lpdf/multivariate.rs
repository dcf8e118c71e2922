//! Multivariate densities: the normal through a Cholesky factor, the Dirichlet, the LKJ prior.

use super::{finite, neg_inf, positive, reject};
use crate::linalg::solve_lower_tri;
use stein_autodiff::Real;

/// How far a simplex point's sum, or a correlation factor's row norm, may be from 1 (Stan's
/// `CONSTRAINT_TOLERANCE`).
const TOLERANCE: f64 = 1e-8;

/// log N(x; μ, L Lᵀ) with L lower triangular (K × K row-major, positive diagonal; the upper triangle is not
/// read): −½ ‖L⁻¹(x − μ)‖² − Σ log Lᵢᵢ − (K/2) log 2π. The solve records on the tape, so L can be a
/// parameter. NaN (a rejection) when μ or L's lower triangle is not finite or a diagonal entry is not
/// positive.
///
/// # Panics
/// When the lengths disagree (naming them).
pub fn multi_normal_cholesky<S: Real>(x: &[S], mu: &[S], l: &[S]) -> S {
    let k = x.len();
    assert!(
        mu.len() == k && l.len() == k * k,
        "multi_normal_cholesky: x has {k} values, mu {}, L {} (need {})",
        mu.len(),
        l.len(),
        k * k
    );
    let lower_ok = (0..k).all(|i| positive(l[i * k + i]) && (0..i).all(|j| finite(l[i * k + j])));
    if !(lower_ok && mu.iter().all(|&m| finite(m))) {
        return reject();
    }
    let r: Vec<S> = x.iter().zip(mu).map(|(&a, &b)| a - b).collect();
    let z = solve_lower_tri(l, &r);
    let quad = z.iter().fold(S::cst(0.0), |a, &v| a + v * v);
    let log_det = (0..k).fold(S::cst(0.0), |a, i| a + l[i * k + i].ln());
    -quad * 0.5 - log_det - 0.5 * k as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// log N(x; μ, Σ) with Σ a covariance (K × K row-major), factored here ([`crate::linalg::cholesky`], on the
/// tape when Σ holds parameters). NaN (a rejection) when Σ is not positive-definite or μ is not finite.
///
/// ```
/// use stein_scores::lpdf::{multi_normal, normal};
/// let sigma = [4.0, 0.0, 0.0, 1.0];
/// let v = multi_normal(&[1.0, 0.5], &[0.0, 0.0], &sigma);
/// assert!((v - normal(1.0, 0.0, 2.0) - normal(0.5, 0.0, 1.0)).abs() < 1e-12);
/// assert!(multi_normal(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 2.0, 2.0, 1.0]).is_nan());
/// ```
///
/// # Panics
/// When the lengths disagree (naming them).
pub fn multi_normal<S: Real>(x: &[S], mu: &[S], sigma: &[S]) -> S {
    let k = x.len();
    assert!(
        mu.len() == k && sigma.len() == k * k,
        "multi_normal: x has {k} values, mu {}, Sigma {} (need {})",
        mu.len(),
        sigma.len(),
        k * k
    );
    match crate::linalg::cholesky(sigma, k) {
        Ok(l) => multi_normal_cholesky(x, mu, &l),
        Err(_) => reject(),
    }
}

/// Dirichlet(α) on the simplex: log Γ(Σ αᵢ) − Σ log Γ(αᵢ) + Σ (αᵢ − 1) log xᵢ. NaN (a rejection) when an
/// αᵢ is not positive and finite; −∞ when x is off the simplex (an xᵢ ≤ 0, or Σ xᵢ more than 10⁻⁸ from 1).
///
/// # Panics
/// When the lengths disagree (naming them).
pub fn dirichlet<S: Real>(x: &[S], alpha: &[S]) -> S {
    assert_eq!(
        x.len(),
        alpha.len(),
        "dirichlet: x has {} values, alpha {}",
        x.len(),
        alpha.len()
    );
    if !alpha.iter().all(|&a| positive(a)) {
        return reject();
    }
    if let Some(&v) = x.iter().find(|v| v.is_nan()) {
        return v;
    }
    let sum = x.iter().fold(S::cst(0.0), |a, &v| a + v);
    if x.iter().any(|v| *v <= S::cst(0.0)) || (sum - 1.0).abs() > S::cst(TOLERANCE) {
        return neg_inf();
    }
    let total = alpha.iter().fold(S::cst(0.0), |a, &v| a + v);
    x.iter().zip(alpha).fold(total.lgamma(), |acc, (&xi, &ai)| {
        acc - ai.lgamma() + (ai - 1.0) * xi.ln()
    })
}

/// log of the LKJ normalising constant c(K, η) = ∫ det(R)^{η−1} dR over K × K correlation matrices
/// (Lewandowski, Kurowicka & Joe 2009, eq. 16): Σₖ₌₁^{K−1} (K − k) log B(βₖ, βₖ) + (2η − 2 + K − k)(K − k) log 2,
/// βₖ = η + (K − k − 1)/2. For K = 3, η = 1 it is log(π²/2), the volume of the 3 × 3 correlation matrices.
/// NaN unless η is positive and finite.
pub fn lkj_log_normalizer<S: Real>(k: usize, eta: S) -> S {
    if !positive(eta) {
        return reject();
    }
    (1..k).fold(S::cst(0.0), |acc, i| {
        let d = (k - i) as f64;
        let b = eta + 0.5 * (d - 1.0);
        let lbeta = b.lgamma() * 2.0 - (b * 2.0).lgamma();
        acc + lbeta * d + (eta * 2.0 + (d - 2.0)) * (d * std::f64::consts::LN_2)
    })
}

/// LKJ(η) on a correlation matrix R = L Lᵀ, as a density of its Cholesky factor L (K × K row-major, the free
/// entries being the strictly lower triangle): Σᵢ₌₁^{K−1} (K − i − 1 + 2η − 2) log Lᵢᵢ − log c(K, η)
/// (Stan's `lkj_corr_cholesky_lpdf`). η = 1 is uniform over correlation matrices; η > 1 favours the identity.
/// NaN (a rejection) unless η is positive and finite; −∞ when L is not the Cholesky factor of a correlation
/// matrix (an entry above the diagonal not 0, a diagonal entry not positive, a row's norm more than 10⁻⁸ from 1).
///
/// # Panics
/// When `l` is not K × K for some K (naming its length).
pub fn lkj_corr_cholesky<S: Real>(l: &[S], eta: S) -> S {
    let k = (l.len() as f64).sqrt().round() as usize;
    assert_eq!(
        k * k,
        l.len(),
        "lkj_corr_cholesky: L has {} entries, not K²",
        l.len()
    );
    if !positive(eta) {
        return reject();
    }
    if let Some(&v) = l.iter().find(|v| v.is_nan()) {
        return v;
    }
    let factor = (0..k).all(|i| {
        let norm2 = (0..=i).fold(S::cst(0.0), |a, j| a + l[i * k + j] * l[i * k + j]);
        l[i * k + i] > S::cst(0.0)
            && (i + 1..k).all(|j| l[i * k + j] == S::cst(0.0))
            && (norm2 - 1.0).abs() <= S::cst(TOLERANCE)
    });
    if !factor {
        return neg_inf();
    }
    let body = (1..k).fold(S::cst(0.0), |acc, i| {
        acc + l[i * k + i].ln() * (eta * 2.0 + (k as f64 - i as f64 - 3.0))
    });
    body - lkj_log_normalizer(k, eta)
}
