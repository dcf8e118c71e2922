//! Multivariate densities: the normal through a Cholesky factor, the Dirichlet, the LKJ prior.

use crate::linalg::solve_lower_tri;
use stein_autodiff::Real;

/// log N(x; μ, L Lᵀ) with L lower triangular (K × K row-major, positive diagonal):
/// −½ ‖L⁻¹(x − μ)‖² − Σ log Lᵢᵢ − (K/2) log 2π. The solve records on the tape, so L can be a parameter.
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
    let r: Vec<S> = x.iter().zip(mu).map(|(&a, &b)| a - b).collect();
    let z = solve_lower_tri(l, &r);
    let quad = z.iter().fold(S::cst(0.0), |a, &v| a + v * v);
    let log_det = (0..k).fold(S::cst(0.0), |a, i| a + l[i * k + i].ln());
    -quad * 0.5 - log_det - 0.5 * k as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// Dirichlet(α) on the simplex: log Γ(Σ αᵢ) − Σ log Γ(αᵢ) + Σ (αᵢ − 1) log xᵢ.
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
    if x.iter().any(|v| v.is_nan() || *v <= S::cst(0.0)) {
        return S::cst(f64::NEG_INFINITY);
    }
    let total = alpha.iter().fold(S::cst(0.0), |a, &v| a + v);
    x.iter().zip(alpha).fold(total.lgamma(), |acc, (&xi, &ai)| {
        acc - ai.lgamma() + (ai - 1.0) * xi.ln()
    })
}

/// log of the LKJ normalising constant c(K, η) = ∫ det(R)^{η−1} dR over K × K correlation matrices
/// (Lewandowski, Kurowicka & Joe 2009, eq. 16): Σₖ₌₁^{K−1} (K − k) log B(βₖ, βₖ) + (2η − 2 + K − k)(K − k) log 2,
/// βₖ = η + (K − k − 1)/2. For K = 3, η = 1 it is log(π²/2), the volume of the 3 × 3 correlation matrices.
pub fn lkj_log_normalizer<S: Real>(k: usize, eta: S) -> S {
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
    let body = (1..k).fold(S::cst(0.0), |acc, i| {
        acc + l[i * k + i].ln() * (eta * 2.0 + (k as f64 - i as f64 - 3.0))
    });
    body - lkj_log_normalizer(k, eta)
}
