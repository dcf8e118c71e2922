//! The benchmark tasks of `BENCHMARKS.md` as code, so tests, criterion benches and the `bench_report`
//! example measure exactly the same functions.

use crate::autodiff::{Real, TVar, Tape, Tensor, Var};

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

/// T3: Bayesian logistic regression, n = 1000 rows, d = 25 features.
#[derive(Clone, Debug)]
pub struct LogReg {
    /// Design matrix, n × d.
    pub x: Tensor,
    /// Labels as an n × 1 column of 0/1.
    pub y: Tensor,
}

impl LogReg {
    /// The T3 data set.
    pub fn t3() -> Self {
        let (n, d) = (1000, 25);
        LogReg {
            x: Tensor::from_fn(n, d, |i, j| (0.37 * i as f64 + 1.3 * j as f64).sin()),
            y: Tensor::from_fn(n, 1, |i, _| {
                if (0.11 * i as f64).sin() > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }),
        }
    }

    /// log p(β) written as a scalar loop, generic over [`Real`].
    pub fn log_prob<S: Real>(&self, beta: &[S]) -> S {
        let d = self.x.cols();
        let mut lp = S::cst(0.0);
        for i in 0..self.x.rows() {
            let row = self.x.row_slice(i);
            let mut eta = beta[0] * row[0];
            for j in 1..d {
                eta += beta[j] * row[j];
            }
            lp += eta * self.y.data()[i] - eta.softplus();
        }
        let prior: S = beta.iter().map(|&b| b * b).sum();
        lp - prior * 0.5
    }

    /// log p(β) with tensor ops; `beta` is d × 1, `x` and `y` are the data placed on the tape as constants.
    pub fn log_prob_tensor<'t>(beta: TVar<'t>, x: TVar<'t>, y: TVar<'t>) -> Var<'t> {
        let eta = x.matmul(beta);
        (y * eta - eta.softplus()).sum() - beta.dot(beta) * 0.5
    }

    /// Value and gradient with the tensor form on `tape` (cleared first).
    pub fn value_and_grad_tensor(&self, tape: &mut Tape, beta: &Tensor, grad: &mut Tensor) -> f64 {
        tape.clear();
        let b = tape.tensor(beta);
        let (x, y) = (tape.tensor_const(&self.x), tape.tensor_const(&self.y));
        let lp = Self::log_prob_tensor(b, x, y);
        tape.grad_tensors_into(lp, &[b], std::slice::from_mut(grad));
        lp.value()
    }
}

/// T3's point βⱼ = 0.01 j.
pub fn logreg_point() -> Vec<f64> {
    (0..25).map(|j| 0.01 * j as f64).collect()
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

/// The T3 posterior as a log-density written in scalar code (the autodiff route of any user posterior).
impl crate::scores::LogDensity for LogReg {
    fn dim(&self) -> usize {
        self.x.cols()
    }
    fn log_prob<S: Real>(&self, beta: &[S]) -> S {
        LogReg::log_prob(self, beta)
    }
}

impl LogReg {
    /// The T3 posterior as a sampling target through its tensor form, with the data kept on each thread's
    /// tape (T10b).
    pub fn target(&self) -> impl crate::models::sample::Target {
        let data = vec![self.x.clone(), self.y.clone()];
        crate::models::sample::TensorDensity::new(self.x.cols(), data, |beta, d| {
            Self::log_prob_tensor(beta, d[0], d[1])
        })
    }
}

/// T10a: a 100-d Gaussian with independent coordinates, standard deviations log-spaced from 0.01 to 10,
/// written as a user would (generic code, score by autodiff).
#[derive(Clone, Debug)]
pub struct Gauss100 {
    /// The standard deviations.
    pub sd: Vec<f64>,
    /// −1/(2 sdᵢ²), the weights of xᵢ² in log p.
    w: Vec<f64>,
}

impl Gauss100 {
    /// The T10a target.
    pub fn t10a() -> Self {
        let sd: Vec<f64> = (0..100)
            .map(|i| 10f64.powf(-2.0 + 3.0 * i as f64 / 99.0))
            .collect();
        let w = sd.iter().map(|s| -0.5 / (s * s)).collect();
        Gauss100 { sd, w }
    }
}

impl crate::scores::LogDensity for Gauss100 {
    fn dim(&self) -> usize {
        self.sd.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        // log p = Σ wᵢ xᵢ²: one square and one weighted sum (a single n-ary node on the tape)
        let sq: Vec<S> = x.iter().map(|&v| v * v).collect();
        S::dot_add(S::cst(0.0), &self.w, &sq)
    }
}
