//! The benchmark tasks of `BENCHMARKS.md` as code, so tests, criterion benches and the `bench_report`
//! example measure exactly the same functions.

mod gmm;
mod posteriors;

pub use gmm::{gmm_point, Gmm};
pub use posteriors::{logreg_point, Gauss100, LogReg};

use crate::autodiff::{Real, TVar, Var};

/// T1: log p(x) = −Σᵢ [100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²], written as a scalar loop.
pub fn rosenbrock<S: Real>(x: &[S]) -> S {
    let mut s = S::cst(0.0);
    for w in x.windows(2) {
        let t = w[1] - w[0] * w[0];
        let u = w[0].rsub(1.0);
        s += t * t * 100.0 + u * u;
    }
    -s
}

/// T1 written with tensor ops on a `1 × d` row.
pub fn rosenbrock_tensor(x: TVar<'_>) -> Var<'_> {
    let d = x.cols();
    let (a, b) = (x.slice_cols(0, d - 1), x.slice_cols(1, d - 1));
    let t = b - a * a;
    let u = 1.0 - a;
    -(t * t * 100.0 + u * u).sum()
}

/// T1's point xᵢ = 0.5 + 0.01 i.
pub fn rosenbrock_point(d: usize) -> Vec<f64> {
    (0..d).map(|i| 0.5 + 0.01 * i as f64).collect()
}

/// Closed-form Laplacian of T1: Σᵢ ∂²/∂xᵢ² log p.
pub fn rosenbrock_laplacian(x: &[f64]) -> f64 {
    let d = x.len();
    let mut lap = 0.0;
    for i in 0..d {
        // terms that involve xᵢ: as the "a" of pair i (if i < d−1) and as the "b" of pair i−1 (if i > 0)
        if i + 1 < d {
            // ∂²/∂a² [100 (b − a²)² + (1 − a)²] = 100 (12a² − 4b) + 2
            lap += 100.0 * (12.0 * x[i] * x[i] - 4.0 * x[i + 1]) + 2.0;
        }
        if i > 0 {
            lap += 200.0; // ∂²/∂b² 100 (b − a²)²
        }
    }
    -lap
}

/// T2 built from the scores crate's catalogue: the same mixture as [`Gmm::t2`], as a
/// [`GaussianMixture`](crate::scores::GaussianMixture) (analytic score and autodiff score of one object).
pub fn t2_mixture() -> crate::scores::GaussianMixture {
    use crate::scores::{GaussianMixture, MultivariateNormal};
    let (k_n, d) = (8, 10);
    let comps = (0..k_n)
        .map(|k| {
            let a =
                |i: usize, j: usize| 0.3 * (1.0 + k as f64 + 2.0 * i as f64 + 3.0 * j as f64).sin();
            let cov = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| {
                            (0..d).map(|l| a(i, l) * a(j, l)).sum::<f64>()
                                + if i == j { 0.5 } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            let mean = (0..d).map(|j| 3.0 * ((k + j) as f64).cos()).collect();
            MultivariateNormal::new(mean, cov).expect("T2 covariances are positive-definite")
        })
        .collect();
    GaussianMixture::new((0..k_n).map(|k| (k + 1) as f64).collect(), comps)
        .expect("T2 weights are positive")
}
