//! Pathfinder (Zhang, Carpenter, Gelman & Vehtari 2022): a variational approximation read off an L-BFGS
//! climb of log p. Along the optimisation path every iterate xₖ gives a Gaussian N(xₖ + Hₖ s(xₖ), Hₖ), Hₖ the
//! L-BFGS estimate of the inverse Hessian of −log p; the one with the largest ELBO (estimated with a few draws;
//! here less two standard errors of the estimate, so that noise cannot prefer a poor Gaussian to a precise
//! one) is kept. Several paths from dispersed starts, pooled by importance resampling, give starting points in the
//! typical set for NUTS ([`Init::Pathfinder`](super::Init::Pathfinder)): warm-up then adapts there instead of
//! spending its windows on the way in.
//!
//! Hₖ is kept in L-BFGS's compact form (`compact.rs`): a draw and its density cost O(d k) for k correction
//! pairs, the d × d covariance is formed once, for the iterate returned. Each line search tries the unit
//! step and the secant step on the directional derivative (the exact line minimum on a quadratic): on a
//! Gaussian in d ≤ `history` dimensions the pairs are then conjugate, Hₖ becomes the covariance itself after
//! d steps, and the approximation is the target to rounding (tested from ten starts). On other targets it
//! is an estimate, and the iterate a 20-draw ELBO picks is near the mode; its use here is to start chains in
//! the typical set. The pooled draws of several paths are resampled with Pareto-smoothed importance weights
//! ([`psis`](super::psis)), whose k̂ is reported. Not built: the paper's diagonal initial estimate (γ I here).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::pathfinder::{single_path, Options};
//! use stein_models::sample::Exact;
//! use stein_scores::MultivariateNormal;
//!
//! // on a Gaussian: the mean is the mode, the covariance the inverse Hessian
//! let g = MultivariateNormal::new(vec![1.0, -2.0], vec![vec![2.0, 0.6], vec![0.6, 0.5]]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let a = single_path(&Exact(&g), &[3.0, 3.0], &Options::default(), &mut rng).unwrap();
//! assert!((a.mean[0] - 1.0).abs() < 1e-9 && (a.mean[1] + 2.0).abs() < 1e-9);
//! assert!((a.covariance[0] - 2.0).abs() < 1e-9 && (a.covariance[1] - 0.6).abs() < 1e-9);
//! ```

mod compact;

use super::target::Target;
use super::SampleError;
use compact::{dot, Factor, History};
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
    /// The covariance in L-BFGS's compact form (draws in O(d k)).
    factor: Factor,
}

impl Approximation {
    /// A draw and its log-density under the approximation, O(d k) for k correction pairs.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, f64) {
        draw(&self.mean, &self.factor, rng)
    }
}

/// A draw of N(mean, H) and its log-density.
fn draw<R: Rng + ?Sized>(mean: &[f64], factor: &Factor, rng: &mut R) -> (Vec<f64>, f64) {
    let d = mean.len();
    let u: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
    let log_q =
        -0.5 * (dot(&u, &u) + factor.log_det + d as f64 * (2.0 * std::f64::consts::PI).ln());
    (factor.transform(mean, &u), log_q)
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
    let mut hist = History::new(opts.history);
    // the best iterate so far: its mean, factor and ELBO
    let mut best: Option<(Vec<f64>, Factor, f64)> = None;
    let mut iters = 0;
    let mut trial_score = vec![0.0; d];
    // the Gaussian of an iterate (its mean x + H·score) and its ELBO; kept when its ELBO less two standard
    // errors is the best so far (a noisy estimate of a poor Gaussian cannot displace a precise one: on a
    // Gaussian target the exact iterate's log p − log q is constant, its standard error 0). The start's own
    // (H = I) is a candidate too, so a start at a stationary point still gives an approximation.
    let mut best_key = f64::NEG_INFINITY;
    let mut consider = |x: &[f64], score: &[f64], hist: &History, evals: &mut usize| {
        let hs = hist.apply(score);
        let mean: Vec<f64> = x.iter().zip(&hs).map(|(a, b)| a + b).collect();
        if let Some(factor) = hist.factor(d) {
            let log_w: Vec<f64> = (0..opts.elbo_draws)
                .map(|_| {
                    let (z, log_q) = draw(&mean, &factor, rng);
                    *evals += 1;
                    eval(target, &z, &mut trial_score).map_or(f64::NEG_INFINITY, |l| l - log_q)
                })
                .collect();
            let n = log_w.len() as f64;
            let elbo = log_w.iter().sum::<f64>() / n;
            let var = log_w.iter().map(|w| (w - elbo).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            let key = if elbo.is_finite() {
                elbo - 2.0 * (var / n).sqrt()
            } else {
                elbo
            };
            if best.is_none() || key > best_key {
                best_key = key;
                best = Some((mean, factor, elbo));
            }
        }
    };
    consider(&x, &score, &hist, &mut evals);
    while iters < opts.max_iters {
        iters += 1;
        // ascent direction H·score (the first: the score scaled to unit length)
        let mut dir = hist.apply(&score);
        if hist.is_empty() {
            let norm = dot(&score, &score).sqrt();
            dir.iter_mut().for_each(|v| *v /= norm.max(1e-300));
        }
        let slope = dot(&dir, &score);
        // stop where a full step would gain less than the tolerance (converged), or cannot gain at all
        if slope.is_nan() || slope <= opts.tol * lp.abs().max(1.0) {
            break;
        }
        let Some((next, next_lp, next_score)) =
            line_search(target, &x, &dir, lp, slope, &mut evals)
        else {
            break;
        };
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        // y of −log p: −(score_new − score_old)
        let y: Vec<f64> = score.iter().zip(&next_score).map(|(a, b)| a - b).collect();
        hist.push(s, y);
        let change = (next_lp - lp).abs() / lp.abs().max(1.0);
        x = next;
        lp = next_lp;
        score = next_score;
        consider(&x, &score, &hist, &mut evals);
        if change < opts.tol {
            break;
        }
    }
    let Some((mean, factor, elbo)) = best.filter(|b| b.2.is_finite()) else {
        return Err(SampleError::NonFinite {
            reason: format!(
                "Pathfinder found no Gaussian with a finite ELBO in {iters} iterations from the start"
            ),
            point: x0.to_vec(),
        });
    };
    Ok(Approximation {
        covariance: factor.dense(d),
        mean,
        elbo,
        iterations: iters,
        evaluations: evals,
        factor,
    })
}

/// A step from `x` along the ascent direction `dir` (log p `lp`, slope dirᵀ∇log p > 0), with its log p and
/// score: the unit step and the secant step on the directional derivative, t* = φ′(0) / (φ′(0) − φ′(1)) —
/// the exact line minimum on a quadratic, which makes L-BFGS's estimate exact on a Gaussian once the pairs
/// span the space — whichever is higher among those meeting Armijo's condition; backtracking from ½ when
/// neither does. `None` when no step gains.
fn line_search<T: Target + ?Sized>(
    target: &T,
    x: &[f64],
    dir: &[f64],
    lp: f64,
    slope: f64,
    evals: &mut usize,
) -> Option<(Vec<f64>, f64, Vec<f64>)> {
    let d = x.len();
    let mut try_step = |t: f64| {
        let trial: Vec<f64> = x.iter().zip(dir).map(|(a, b)| a + t * b).collect();
        let mut score = vec![0.0; d];
        *evals += 1;
        let l = eval(target, &trial, &mut score)?;
        Some((trial, l, score))
    };
    let armijo = |t: f64, l: f64| l >= lp + 1e-4 * t * slope;
    let mut found: Option<(Vec<f64>, f64, Vec<f64>)> = None;
    let mut start: f64 = 0.5;
    if let Some(unit) = try_step(1.0) {
        let slope1 = dot(dir, &unit.2);
        if armijo(1.0, unit.1) {
            found = Some(unit);
        }
        let t = slope / (slope - slope1);
        if slope1 < slope && t.is_finite() && (t - 1.0).abs() > 1e-8 {
            let t = t.min(100.0);
            if let Some(sec) = try_step(t) {
                if armijo(t, sec.1) && found.as_ref().is_none_or(|f| sec.1 > f.1) {
                    found = Some(sec);
                }
            }
            start = start.min(0.5 * t);
        }
    }
    let mut t = start;
    for _ in 0..60 {
        if found.is_some() {
            break;
        }
        if let Some(step) = try_step(t) {
            if armijo(t, step.1) {
                found = Some(step);
            }
        }
        t *= 0.5;
    }
    found
}

/// What [`multi_path`] returns.
#[derive(Clone, Debug)]
pub struct Pooled {
    /// `n` points drawn with replacement, by Pareto-smoothed importance resampling, from the pooled draws
    /// of every path's approximation.
    pub points: Vec<Vec<f64>>,
    /// The approximation of each path that succeeded, in the order of the starts.
    pub paths: Vec<Approximation>,
    /// The Pareto k̂ of the pooled importance weights ([`psis`](super::psis)): below 0.7 the points are
    /// a usable sample of the target; above it the approximations miss mass of the target and the points are
    /// starting points only (what [`Init::Pathfinder`](super::Init::Pathfinder) uses them for).
    pub pareto_k: f64,
}

/// Paths from each of `starts` (in parallel), pooled: every path's approximation draws max(`elbo_draws`,
/// 4`n`) points, weighted by p/q and Pareto-smoothed, and `n` are drawn from the pool by those weights.
/// Paths that fail are left out; an error only when every path fails.
pub fn multi_path<T: Target + ?Sized>(
    target: &T,
    starts: &[Vec<f64>],
    opts: &Options,
    n: usize,
    seed: u64,
) -> Result<Pooled, SampleError> {
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
            let draws = (0..opts.elbo_draws.max(4 * n))
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
    let smoothed = super::psis::psis(&pool.iter().map(|p| p.1).collect::<Vec<_>>());
    let top = smoothed
        .log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return Err(SampleError::NonFinite {
            reason: format!(
                "Pathfinder: no importance weight is finite among {} draws of its approximations",
                pool.len()
            ),
            point: approx[0].mean.clone(),
        });
    }
    let weights: Vec<f64> = smoothed
        .log_weights
        .iter()
        .map(|w| (w - top).exp())
        .collect();
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
    Ok(Pooled {
        points,
        paths: approx,
        pareto_k: smoothed.pareto_k,
    })
}
