//! Pathfinder (Zhang, Carpenter, Gelman & Vehtari 2022): a variational approximation read off an L-BFGS
//! climb of log p. Along the optimisation path every iterate xₖ gives a Gaussian N(xₖ + Hₖ s(xₖ), Hₖ), Hₖ the
//! L-BFGS estimate of the inverse Hessian of −log p; the one with the largest ELBO (estimated with a few draws)
//! is kept. Several paths from dispersed starts, pooled by importance resampling, give starting points in the
//! typical set for NUTS ([`Init::Pathfinder`](super::Init::Pathfinder)): warm-up then adapts there instead of
//! spending its windows on the way in.
//!
//! Hₖ is formed densely (the two-loop recursion applied to the unit vectors) and factored, O(d³) per
//! iterate: meant for the dimensions NUTS users bring (tens to a few hundred). The line search is Armijo's
//! backtracking from the unit step, so Hₖ is an estimate even on a Gaussian, and the iterate the noisy ELBO
//! picks is near the mode rather than at it (on a 5-d Gaussian, with 200 draws per ELBO: the mean within 10%
//! of an sd, the variances within a factor 1.6; with the default 20, one variance 3× too small). Its use
//! here is to start chains in the typical set, not to stand in for the posterior. Not built: the paper's
//! diagonal initial estimate and Pareto-smoothed importance resampling (plain importance weights here).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::pathfinder::{single_path, Options};
//! use stein_models::sample::Exact;
//! use stein_scores::MultivariateNormal;
//!
//! // on a Gaussian: the mean is the mode, the covariance L-BFGS's estimate of the inverse Hessian
//! let g = MultivariateNormal::new(vec![1.0, -2.0], vec![vec![2.0, 0.6], vec![0.6, 0.5]]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let a = single_path(&Exact(&g), &[3.0, 3.0], &Options::default(), &mut rng).unwrap();
//! assert!((a.mean[0] - 1.0).abs() < 0.05 && (a.mean[1] + 2.0).abs() < 0.05);
//! assert!((a.covariance[0] - 2.0).abs() < 0.2 && (a.covariance[1] - 0.6).abs() < 0.2);
//! ```

use super::target::Target;
use super::SampleError;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// Settings of one path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// L-BFGS iterations at most (1,000).
    pub max_iters: usize,
    /// Correction pairs L-BFGS keeps (6, the paper's).
    pub history: usize,
    /// Draws per ELBO estimate (20).
    pub elbo_draws: usize,
    /// Stop when log p changes by less than this, relative to max(|log p|, 1) (1e-10).
    pub tol: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iters: 1000,
            history: 6,
            elbo_draws: 20,
            tol: 1e-10,
        }
    }
}

/// A Gaussian approximation N(mean, covariance) of the target.
#[derive(Clone, Debug, PartialEq)]
pub struct Approximation {
    /// Its mean.
    pub mean: Vec<f64>,
    /// Its covariance, row-major d × d.
    pub covariance: Vec<f64>,
    /// The ELBO estimate that chose it (nats, up to the target's normalising constant).
    pub elbo: f64,
    /// L-BFGS iterations of the path.
    pub iterations: usize,
    /// Evaluations of the target (the climb, its line searches and the ELBO draws).
    pub evaluations: usize,
    /// Lower Cholesky factor of the covariance, row-major.
    chol: Vec<f64>,
}

impl Approximation {
    fn new(mean: Vec<f64>, covariance: Vec<f64>) -> Option<Self> {
        let chol = stein_scores::linalg::cholesky(&covariance, mean.len()).ok()?;
        Some(Approximation {
            mean,
            covariance,
            elbo: f64::NEG_INFINITY,
            iterations: 0,
            evaluations: 0,
            chol,
        })
    }

    /// A draw and its log-density under the approximation.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, f64) {
        let d = self.mean.len();
        let e: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        let x = (0..d)
            .map(|i| self.mean[i] + (0..=i).map(|k| self.chol[i * d + k] * e[k]).sum::<f64>())
            .collect();
        let log_det: f64 = (0..d).map(|i| self.chol[i * d + i].ln()).sum();
        let log_q = -0.5 * e.iter().map(|v| v * v).sum::<f64>()
            - log_det
            - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        (x, log_q)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The L-BFGS correction pairs (s, y, 1/yᵀs) of −log p, oldest first, and the scale γ = sᵀy/yᵀy of the newest.
struct History {
    pairs: Vec<(Vec<f64>, Vec<f64>, f64)>,
    gamma: f64,
    keep: usize,
}

impl History {
    fn push(&mut self, s: Vec<f64>, y: Vec<f64>) {
        let sy = dot(&s, &y);
        // keep only pairs of positive curvature (the estimate stays positive-definite)
        if !(sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() && sy.is_finite()) {
            return;
        }
        self.gamma = sy / dot(&y, &y);
        if self.pairs.len() == self.keep {
            self.pairs.remove(0);
        }
        self.pairs.push((s, y, 1.0 / sy));
    }

    /// H q by the two-loop recursion.
    fn apply(&self, q: &[f64]) -> Vec<f64> {
        let mut q = q.to_vec();
        let mut alpha = vec![0.0; self.pairs.len()];
        for (a, (s, y, rho)) in alpha.iter_mut().zip(&self.pairs).rev() {
            *a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= *a * yi);
        }
        q.iter_mut().for_each(|v| *v *= self.gamma);
        for (a, (s, y, rho)) in alpha.iter().zip(&self.pairs) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        q
    }

    /// H as a dense symmetric matrix.
    fn dense(&self, d: usize) -> Vec<f64> {
        let mut h = vec![0.0; d * d];
        let mut e = vec![0.0; d];
        for j in 0..d {
            e[j] = 1.0;
            let col = self.apply(&e);
            e[j] = 0.0;
            for i in 0..d {
                h[i * d + j] = col[i];
            }
        }
        for i in 0..d {
            for j in 0..i {
                let m = 0.5 * (h[i * d + j] + h[j * d + i]);
                h[i * d + j] = m;
                h[j * d + i] = m;
            }
        }
        h
    }
}

/// log p and the score at `x`, `None` when either is not finite.
fn eval<T: Target + ?Sized>(t: &T, x: &[f64], score: &mut [f64]) -> Option<f64> {
    let lp = t.eval(x, score)?;
    (lp.is_finite() && score.iter().all(|v| v.is_finite())).then_some(lp)
}

/// One path from `x0`: the L-BFGS climb of log p and the best Gaussian along it (see the module
/// documentation). Errors when the target needs a log-density it does not have, or is not finite at `x0`.
pub fn single_path<T: Target + ?Sized, R: Rng + ?Sized>(
    target: &T,
    x0: &[f64],
    opts: &Options,
    rng: &mut R,
) -> Result<Approximation, SampleError> {
    let d = x0.len();
    if !target.has_log_density() {
        return Err(SampleError::NeedsLogDensity {
            method: "Pathfinder",
        });
    }
    if opts.history == 0 || opts.elbo_draws == 0 {
        return Err(SampleError::BadParameter {
            param: "pathfinder options",
            reason: format!(
                "history {} and elbo_draws {} must be positive",
                opts.history, opts.elbo_draws
            ),
        });
    }
    let mut score = vec![0.0; d];
    let mut evals = 1;
    let Some(mut lp) = eval(target, x0, &mut score) else {
        return Err(SampleError::NonFinite {
            reason: "Pathfinder's start: log p or its score is not finite".into(),
            point: x0.to_vec(),
        });
    };
    let mut x = x0.to_vec();
    let mut hist = History {
        pairs: Vec::new(),
        gamma: 1.0,
        keep: opts.history,
    };
    let mut best: Option<Approximation> = None;
    let mut iters = 0;
    let mut trial_score = vec![0.0; d];
    while iters < opts.max_iters {
        iters += 1;
        // ascent direction H·score (the first: the score scaled to unit length), then backtracking to
        // Armijo's condition on log p
        let mut dir = hist.apply(&score);
        if hist.pairs.is_empty() {
            let norm = dot(&score, &score).sqrt();
            dir.iter_mut().for_each(|v| *v /= norm.max(1e-300));
        }
        let slope = dot(&dir, &score);
        // stop where a full step would gain less than the tolerance (converged), or cannot gain at all
        if slope.is_nan() || slope <= opts.tol * lp.abs().max(1.0) {
            break;
        }
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let trial: Vec<f64> = x.iter().zip(&dir).map(|(a, b)| a + t * b).collect();
            evals += 1;
            if let Some(l) = eval(target, &trial, &mut trial_score) {
                if l >= lp + 1e-4 * t * slope {
                    accepted = Some((trial, l));
                    break;
                }
            }
            t *= 0.5;
        }
        let Some((next, next_lp)) = accepted else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        // y of −log p: −(score_new − score_old)
        let y: Vec<f64> = score.iter().zip(&trial_score).map(|(a, b)| a - b).collect();
        hist.push(s, y);
        let change = (next_lp - lp).abs() / lp.abs().max(1.0);
        x = next;
        lp = next_lp;
        score.copy_from_slice(&trial_score);
        // the Gaussian of this iterate and its ELBO
        let h = hist.dense(d);
        let hs = hist.apply(&score);
        let mean: Vec<f64> = x.iter().zip(&hs).map(|(a, b)| a + b).collect();
        if let Some(mut q) = Approximation::new(mean, h) {
            let mut elbo = 0.0;
            for _ in 0..opts.elbo_draws {
                let (z, log_q) = q.draw(rng);
                evals += 1;
                elbo += eval(target, &z, &mut trial_score).map_or(f64::NEG_INFINITY, |l| l - log_q);
            }
            q.elbo = elbo / opts.elbo_draws as f64;
            if best.as_ref().is_none_or(|b| q.elbo > b.elbo) {
                best = Some(q);
            }
        }
        if change < opts.tol {
            break;
        }
    }
    let Some(mut best) = best.filter(|b| b.elbo.is_finite()) else {
        return Err(SampleError::NonFinite {
            reason: format!(
                "Pathfinder found no Gaussian with a finite ELBO in {iters} iterations from the start"
            ),
            point: x0.to_vec(),
        });
    };
    best.iterations = iters;
    best.evaluations = evals;
    Ok(best)
}

/// Paths from each of `starts` (in parallel), pooled: `n` points drawn by importance resampling from the
/// draws of every path's approximation (weights p/q), with the approximations. Paths that fail are left out;
/// an error only when every path fails.
pub fn multi_path<T: Target + ?Sized>(
    target: &T,
    starts: &[Vec<f64>],
    opts: &Options,
    n: usize,
    seed: u64,
) -> Result<(Vec<Vec<f64>>, Vec<Approximation>), SampleError> {
    use rayon::prelude::*;
    type Path = (Approximation, Vec<(Vec<f64>, f64)>);
    let results: Vec<Result<Path, SampleError>> = starts
        .par_iter()
        .enumerate()
        .map(|(i, x0)| {
            let mut rng = super::driver::chain_rng(seed ^ 0x5041_5448, i);
            let a = single_path(target, x0, opts, &mut rng)?;
            // importance draws of this path: the point and its log weight log p − log q
            let mut score = vec![0.0; x0.len()];
            let draws = (0..opts.elbo_draws.max(n))
                .map(|_| {
                    let (z, log_q) = a.draw(&mut rng);
                    let w = eval(target, &z, &mut score).map_or(f64::NEG_INFINITY, |l| l - log_q);
                    (z, w)
                })
                .collect();
            Ok((a, draws))
        })
        .collect();
    let mut last_err = None;
    let (mut approx, mut pool) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok((a, d)) => {
                approx.push(a);
                pool.extend(d);
            }
            Err(e) => last_err = Some(e),
        }
    }
    if approx.is_empty() {
        return Err(last_err.unwrap_or(SampleError::BadParameter {
            param: "starts",
            reason: "no starting points".into(),
        }));
    }
    let top = pool.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = pool.iter().map(|p| (p.1 - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut rng = super::driver::chain_rng(seed ^ 0x5245_5341, 0);
    let points = (0..n)
        .map(|_| {
            let mut u = rng.random::<f64>() * total;
            let i = weights
                .iter()
                .position(|w| {
                    u -= w;
                    u <= 0.0
                })
                .unwrap_or(weights.len() - 1);
            pool[i].0.clone()
        })
        .collect();
    Ok((points, approx))
}
