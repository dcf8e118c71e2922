//! Stein variational gradient descent (Liu & Wang 2016): n particles move together along
//! φ(x) = (1/n) Σⱼ [k(xⱼ, x) ∇ log p(xⱼ) + ∇_{xⱼ} k(xⱼ, x)], the direction that decreases KL(q ‖ p) fastest in
//! the kernel's RKHS: the first term pulls particles towards high density, the second pushes them apart. It
//! is deterministic given the start, needs only the score, and returns a set of particles rather than chains.
//! Kernels: RBF k = exp(−‖x − y‖²/h) and IMQ k = (1 + ‖x − y‖²/h)^(−1/2), with h by the median heuristic
//! (h = med²/log(n + 1), as in the paper's code) or fixed. Plain gradient steps, or AdaGrad with momentum (the
//! paper's code).
//!
//! ```
//! use stein_models::sample::{svgd, Exact, Rows};
//! use stein_scores::MultivariateNormal;
//!
//! let p = MultivariateNormal::isotropic(vec![1.0, -1.0], 1.0).unwrap();
//! let mut state = svgd::State::grid(100, &[(-4.0, 4.0), (-4.0, 4.0)], 3);
//! let params = svgd::Params::default();
//! for _ in 0..1000 {
//!     svgd::step(&mut state, &Rows(&Exact(&p)), &params).unwrap();
//! }
//! let m = state.mean();
//! assert!((m[0] - 1.0).abs() < 0.05 && (m[1] + 1.0).abs() < 0.05);
//! ```

use super::target::BatchTarget;
use super::SampleError;
use rand::RngExt;
use rand::SeedableRng;
use rayon::prelude::*;
use stein_autodiff::Tensor;

/// The kernel k(x, y).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KernelKind {
    /// exp(−‖x − y‖²/h).
    Rbf,
    /// (1 + ‖x − y‖²/h)^(−1/2), heavier tails (Gorham & Mackey 2017).
    Imq,
}

/// How the particles move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// x ← x + ε φ(x).
    Plain,
    /// AdaGrad with momentum, as in Liu & Wang's code: G ← α G + (1 − α) φ², x ← x + ε φ / (10⁻⁶ + √G).
    Adagrad {
        /// α (0.9).
        alpha: f64,
    },
}

/// Settings of SVGD.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// ε.
    pub step: f64,
    /// The kernel.
    pub kernel: KernelKind,
    /// The bandwidth h (`None`: the median heuristic at every step).
    pub bandwidth: Option<f64>,
    /// The update.
    pub optimizer: Optimizer,
}

impl Default for Params {
    /// ε = 0.1, RBF with the median heuristic, plain steps (they settle on the fixed point; AdaGrad's
    /// normalised steps keep particles moving by about ε, so use it with ε ≈ 10⁻³–10⁻², as the paper does).
    fn default() -> Self {
        Params {
            step: 0.1,
            kernel: KernelKind::Rbf,
            bandwidth: None,
            optimizer: Optimizer::Plain,
        }
    }
}

/// The particles (`n × dim`), their scores and the optimiser's memory.
#[derive(Clone, Debug)]
pub struct State {
    /// The particles, one per row.
    pub particles: Tensor,
    score: Tensor,
    hist: Vec<f64>,
    steps: usize,
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Info {
    /// The bandwidth used.
    pub bandwidth: f64,
    /// The root mean square of φ over particles and coordinates (→ 0 at convergence).
    pub phi_rms: f64,
}

impl State {
    /// Start from these particles.
    pub fn new(particles: Tensor) -> Self {
        let (n, d) = particles.shape();
        State {
            particles,
            score: Tensor::zeros(n, d),
            hist: vec![0.0; n * d],
            steps: 0,
        }
    }

    /// `n` particles uniform on the box `frame` (one `(lo, hi)` per coordinate), seeded.
    pub fn grid(n: usize, frame: &[(f64, f64)], seed: u64) -> Self {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        State::new(Tensor::from_fn(n, frame.len(), |_, j| {
            frame[j].0 + (frame[j].1 - frame[j].0) * rng.random::<f64>()
        }))
    }

    /// The particles' mean.
    pub fn mean(&self) -> Vec<f64> {
        let (n, d) = self.particles.shape();
        (0..d)
            .map(|j| (0..n).map(|i| self.particles.get(i, j)).sum::<f64>() / n as f64)
            .collect()
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The median heuristic: med² / log(n + 1) over the pairwise squared distances (1 if they are all 0).
pub fn median_bandwidth(x: &Tensor) -> f64 {
    let n = x.rows();
    let mut d2: Vec<f64> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| sq_dist(x.row_slice(i), x.row_slice(j)))
        .collect();
    if d2.is_empty() {
        return 1.0;
    }
    let mid = d2.len() / 2;
    let med = *d2.select_nth_unstable_by(mid, f64::total_cmp).1;
    if med > 0.0 {
        med / (n as f64 + 1.0).ln()
    } else {
        1.0
    }
}

/// k(r²) and dk/d(r²).
fn kernel(kind: KernelKind, r2: f64, h: f64) -> (f64, f64) {
    match kind {
        KernelKind::Rbf => {
            let k = (-r2 / h).exp();
            (k, -k / h)
        }
        KernelKind::Imq => {
            let base = 1.0 + r2 / h;
            let k = base.powf(-0.5);
            (k, -0.5 * k / (base * h))
        }
    }
}

/// One SVGD step: evaluate the scores of every particle in one call of `target`, move every particle along
/// φ. Errors when a score is not finite (naming the particle).
pub fn step<T: BatchTarget + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
) -> Result<Info, SampleError> {
    let (n, d) = state.particles.shape();
    if d != target.dim() || !(params.step > 0.0 && params.step.is_finite()) {
        return Err(SampleError::BadParameter {
            param: "svgd",
            reason: format!(
                "particles of dimension {d} for a target of dimension {}, step {}",
                target.dim(),
                params.step
            ),
        });
    }
    target.score_batch(&state.particles, None, &mut state.score);
    if let Some(i) = (0..n).find(|&i| state.score.row_slice(i).iter().any(|v| !v.is_finite())) {
        return Err(SampleError::NonFinite {
            reason: format!(
                "SVGD step {}: the score of particle {i} is not finite",
                state.steps
            ),
            point: state.particles.row_slice(i).to_vec(),
        });
    }
    let h = params
        .bandwidth
        .unwrap_or_else(|| median_bandwidth(&state.particles));
    let (x, s) = (&state.particles, &state.score);
    // φ(xᵢ) = (1/n) Σⱼ k(xⱼ, xᵢ) s(xⱼ) + ∇_{xⱼ} k(xⱼ, xᵢ), with ∇_{xⱼ} k = 2 k'(r²) (xⱼ − xᵢ)
    let phi: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let xi = x.row_slice(i);
            let mut f = vec![0.0; d];
            for j in 0..n {
                let xj = x.row_slice(j);
                let (k, dk) = kernel(params.kernel, sq_dist(xi, xj), h);
                for (((fv, sj), a), b) in f.iter_mut().zip(s.row_slice(j)).zip(xj).zip(xi) {
                    *fv += k * sj + 2.0 * dk * (a - b);
                }
            }
            f.into_iter().map(move |v| v / n as f64)
        })
        .collect();
    let data = state.particles.data_mut();
    match params.optimizer {
        Optimizer::Plain => {
            for (xv, f) in data.iter_mut().zip(&phi) {
                *xv += params.step * f;
            }
        }
        Optimizer::Adagrad { alpha } => {
            let first = state.steps == 0;
            for ((xv, f), g) in data.iter_mut().zip(&phi).zip(state.hist.iter_mut()) {
                *g = if first {
                    f * f
                } else {
                    alpha * *g + (1.0 - alpha) * f * f
                };
                *xv += params.step * f / (1e-6 + g.sqrt());
            }
        }
    }
    state.steps += 1;
    let phi_rms = (phi.iter().map(|v| v * v).sum::<f64>() / phi.len().max(1) as f64).sqrt();
    Ok(Info {
        bandwidth: h,
        phi_rms,
    })
}
