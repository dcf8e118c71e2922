//! T2 (and the T4 Hessian): a Gaussian mixture with full covariances, its analytic score and Hessian beside the tape's.

use crate::autodiff::Real;

/// A Gaussian mixture with full covariances, held as Cholesky factors (T2).
#[derive(Clone, Debug)]
pub struct Gmm {
    /// Component means.
    pub means: Vec<Vec<f64>>,
    /// Lower Cholesky factors of the covariances, row-major d × d.
    pub chol: Vec<Vec<f64>>,
    /// log πₖ − ½ log det Cₖ.
    pub log_norm: Vec<f64>,
    /// −Lₖ, the weights of each forward-substitution row.
    neg_chol: Vec<Vec<f64>>,
    dim: usize,
}

impl Gmm {
    /// The T2 mixture: 8 components in d = 10 (see BENCHMARKS.md).
    pub fn t2() -> Self {
        let (k_n, d) = (8, 10);
        let total: f64 = (0..k_n).map(|k| (k + 1) as f64).sum();
        let mut means = Vec::new();
        let mut chol = Vec::new();
        let mut log_norm = Vec::new();
        for k in 0..k_n {
            means.push((0..d).map(|j| 3.0 * ((k + j) as f64).cos()).collect());
            let a =
                |i: usize, j: usize| 0.3 * (1.0 + k as f64 + 2.0 * i as f64 + 3.0 * j as f64).sin();
            let mut c = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    c[i * d + j] = (0..d).map(|l| a(i, l) * a(j, l)).sum::<f64>()
                        + if i == j { 0.5 } else { 0.0 };
                }
            }
            let l = cholesky(&c, d);
            let log_det: f64 = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
            chol.push(l);
            log_norm.push(((k + 1) as f64 / total).ln() - 0.5 * log_det);
        }
        let neg_chol = chol
            .iter()
            .map(|l| l.iter().map(|v| -v).collect())
            .collect();
        Gmm {
            means,
            chol,
            log_norm,
            neg_chol,
            dim: d,
        }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// log p(x) without the −(d/2) log 2π constant, generic over [`Real`].
    pub fn log_prob<S: Real>(&self, x: &[S]) -> S {
        let d = self.dim;
        let mut terms = [S::cst(0.0); 16];
        let mut z = [S::cst(0.0); 16];
        for (k, l) in self.chol.iter().enumerate() {
            // z = L⁻¹ (x − m) by forward substitution (one linear-combination node per row); quad = |z|²
            let neg = &self.neg_chol[k];
            for i in 0..d {
                let r = x[i] - self.means[k][i];
                z[i] = S::dot_add(r, &neg[i * d..i * d + i], &z[..i]) / l[i * d + i];
            }
            let quad: S = z[..d].iter().map(|&v| v * v).sum();
            terms[k] = quad * -0.5 + self.log_norm[k];
        }
        S::logsumexp(&terms[..self.chol.len()])
    }

    /// Per-component scores sₖ = −Cₖ⁻¹ (x − mₖ) and responsibilities rₖ.
    fn parts(&self, x: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let d = self.dim;
        let mut s = Vec::new();
        let mut logits = Vec::new();
        for (k, l) in self.chol.iter().enumerate() {
            let r: Vec<f64> = (0..d).map(|i| x[i] - self.means[k][i]).collect();
            let z = forward_sub(l, &r, d);
            logits.push(self.log_norm[k] - 0.5 * z.iter().map(|v| v * v).sum::<f64>());
            s.push(back_sub_t(l, &z, d).into_iter().map(|v| -v).collect());
        }
        let lse = crate::autodiff::special::logsumexp(&logits);
        (s, logits.iter().map(|l| (l - lse).exp()).collect())
    }

    /// Analytic score Σₖ rₖ sₖ.
    pub fn score(&self, x: &[f64]) -> Vec<f64> {
        let (s, r) = self.parts(x);
        (0..self.dim)
            .map(|i| (0..s.len()).map(|k| r[k] * s[k][i]).sum())
            .collect()
    }

    /// Analytic Hessian of log p: Σₖ rₖ (sₖ sₖᵀ − Cₖ⁻¹) − s sᵀ.
    pub fn hessian(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let d = self.dim;
        let (s, r) = self.parts(x);
        let mean = self.score(x);
        let mut h = vec![vec![0.0; d]; d];
        for (k, l) in self.chol.iter().enumerate() {
            for j in 0..d {
                // column j of Cₖ⁻¹
                let mut e = vec![0.0; d];
                e[j] = 1.0;
                let col = back_sub_t(l, &forward_sub(l, &e, d), d);
                for i in 0..d {
                    h[i][j] += r[k] * (s[k][i] * s[k][j] - col[i]);
                }
            }
        }
        for i in 0..d {
            for j in 0..d {
                h[i][j] -= mean[i] * mean[j];
            }
        }
        h
    }
}

/// T2's point xⱼ = 0.1 j − 0.4.
pub fn gmm_point() -> Vec<f64> {
    (0..10).map(|j| 0.1 * j as f64 - 0.4).collect()
}

fn cholesky(c: &[f64], d: usize) -> Vec<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = c[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            l[i * d + j] = if i == j { s.sqrt() } else { s / l[j * d + j] };
        }
    }
    l
}

fn forward_sub(l: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut z = vec![0.0; d];
    for i in 0..d {
        z[i] = (b[i] - (0..i).map(|j| l[i * d + j] * z[j]).sum::<f64>()) / l[i * d + i];
    }
    z
}

fn back_sub_t(l: &[f64], z: &[f64], d: usize) -> Vec<f64> {
    let mut v = vec![0.0; d];
    for i in (0..d).rev() {
        v[i] = (z[i] - (i + 1..d).map(|j| l[j * d + i] * v[j]).sum::<f64>()) / l[i * d + i];
    }
    v
}
