//! Langevin-type samplers: ULA, MALA, HMC (with dual-averaging step-size adaptation) and annealed Langevin,
//! on any [`Target`] (an analytic density, the autodiff score of a log-density, a trained network), with many
//! chains in parallel and diagnostics.
//!
//! Chains run in parallel with rayon; chain c draws from its own RNG seeded by (seed, c), so the draws are
//! bit-identical whatever the number of threads.
//!
//! ```
//! use stein_models::sample::{sample, Exact, Method, SampleConfig};
//! use stein_scores::MultivariateNormal;
//!
//! let target = MultivariateNormal::isotropic(vec![1.0, -1.0], 0.5).unwrap();
//! let mut cfg = SampleConfig::new(Method::Mala { step: 0.2 }, 4, 500);
//! cfg.seed = 7;
//! let draws = sample(&Exact(&target), &cfg).unwrap();
//! let mean = draws.mean();
//! assert!((mean[0] - 1.0).abs() < 0.15 && draws.acceptance() > 0.5);
//! ```

pub mod batch;
mod diagnostics;
mod target;

pub use diagnostics::{
    ess_basic, ess_bulk, normal_quantile, rank_normalize, rhat_basic, split_chains, split_rhat,
};
pub use target::{Autodiff, Exact, NoiseConditionalScore, PerturbedLadder, ScoreOnly, Target};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::time::Instant;

/// Errors of the samplers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    /// MALA and HMC need log p, and the target has only a score.
    #[error("{method} needs a target with a log-density (this target only has a score): use ULA or annealed Langevin")]
    NeedsLogDensity {
        /// The method.
        method: &'static str,
    },
    /// The target returned NaN/∞ where it must not.
    #[error(
        "chain {chain} stopped at step {step}: the target's {what} is not finite at x = {state:?}"
    )]
    NonFinite {
        /// The chain.
        chain: usize,
        /// The step (0 = the initial point).
        step: usize,
        /// "score" or "log-density".
        what: &'static str,
        /// The state where it happened.
        state: Vec<f64>,
    },
    /// A setting is out of range.
    #[error("parameter `{param}`: {reason}")]
    BadParameter {
        /// The setting.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The transition.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// Unadjusted Langevin: x ← x + (ε/2) s(x) + √ε z. Biased at finite ε; needs only the score.
    Ula {
        /// ε.
        step: f64,
    },
    /// Metropolis-adjusted Langevin: the ULA proposal, accepted with the Metropolis–Hastings ratio.
    Mala {
        /// ε.
        step: f64,
    },
    /// Hamiltonian Monte Carlo: `leapfrog` steps of size ε with a diagonal mass matrix; a step whose energy
    /// error exceeds 1000 (or is not finite) is a divergence and is rejected.
    Hmc {
        /// ε (the initial value when adapting).
        step: f64,
        /// Leapfrog steps per transition.
        leapfrog: usize,
        /// Diagonal of the inverse mass matrix (ones if `None`).
        inv_mass: Option<Vec<f64>>,
        /// Adapt ε during warm-up by dual averaging towards this acceptance rate (e.g. 0.8).
        adapt: Option<f64>,
    },
}

impl Method {
    fn name(&self) -> &'static str {
        match self {
            Method::Ula { .. } => "ULA",
            Method::Mala { .. } => "MALA",
            Method::Hmc { .. } => "HMC",
        }
    }
}

/// Where chains start.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// N(0, scale² I).
    Normal {
        /// The scale.
        scale: f64,
    },
    /// These points, cycled over the chains.
    Points(Vec<Vec<f64>>),
}

/// Settings of a sampling run.
#[derive(Clone, Debug)]
pub struct SampleConfig {
    /// The transition.
    pub method: Method,
    /// Number of chains.
    pub chains: usize,
    /// Draws kept per chain (after warm-up and thinning).
    pub draws: usize,
    /// Warm-up transitions discarded (step-size adaptation happens here).
    pub warmup: usize,
    /// Keep every `thin`-th state.
    pub thin: usize,
    /// Seed; chain c uses the stream (seed, c).
    pub seed: u64,
    /// Starting points.
    pub init: Init,
    /// Record the state every this many transitions (warm-up included), for pictures of trajectories.
    pub record_every: Option<usize>,
}

impl SampleConfig {
    /// `chains` chains of `draws` draws, warm-up `draws / 2`, no thinning, seed 0, start N(0, I).
    pub fn new(method: Method, chains: usize, draws: usize) -> Self {
        SampleConfig {
            method,
            chains,
            draws,
            warmup: draws / 2,
            thin: 1,
            seed: 0,
            init: Init::Normal { scale: 1.0 },
            record_every: None,
        }
    }
}

/// One chain's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Kept draws.
    pub draws: Vec<Vec<f64>>,
    /// Accepted proposals (after warm-up).
    pub accepted: usize,
    /// Proposals made (after warm-up).
    pub proposals: usize,
    /// Divergent transitions after warm-up (HMC): the diagnostic to act on.
    pub divergences: usize,
    /// Divergent transitions during warm-up (expected while the step size adapts).
    pub warmup_divergences: usize,
    /// Recorded states (when `record_every` is set).
    pub trajectory: Vec<Vec<f64>>,
    /// The step size used after warm-up.
    pub step_size: f64,
}

/// The output of a run.
#[derive(Clone, Debug)]
pub struct Draws {
    /// Dimension.
    pub dim: usize,
    /// Every chain.
    pub chains: Vec<Chain>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Draws {
    /// Every kept draw, chain after chain.
    pub fn pooled(&self) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .flat_map(|c| c.draws.iter().cloned())
            .collect()
    }
    /// Accepted / proposed, over all chains (1 for ULA).
    pub fn acceptance(&self) -> f64 {
        let (a, p) = self
            .chains
            .iter()
            .fold((0, 0), |(a, p), c| (a + c.accepted, p + c.proposals));
        if p == 0 {
            1.0
        } else {
            a as f64 / p as f64
        }
    }
    /// Divergent transitions after warm-up, over all chains.
    pub fn divergences(&self) -> usize {
        self.chains.iter().map(|c| c.divergences).sum()
    }
    /// Per-coordinate draws of every chain: `coord[i][chain][t]`.
    pub fn by_coordinate(&self) -> Vec<Vec<Vec<f64>>> {
        (0..self.dim)
            .map(|i| {
                self.chains
                    .iter()
                    .map(|c| c.draws.iter().map(|x| x[i]).collect())
                    .collect()
            })
            .collect()
    }
    /// Sample mean.
    pub fn mean(&self) -> Vec<f64> {
        let all = self.pooled();
        let n = all.len() as f64;
        (0..self.dim)
            .map(|i| all.iter().map(|x| x[i]).sum::<f64>() / n)
            .collect()
    }
    /// Sample covariance.
    pub fn covariance(&self) -> Vec<Vec<f64>> {
        let all = self.pooled();
        let mu = self.mean();
        let n = all.len() as f64;
        (0..self.dim)
            .map(|i| {
                (0..self.dim)
                    .map(|j| {
                        all.iter()
                            .map(|x| (x[i] - mu[i]) * (x[j] - mu[j]))
                            .sum::<f64>()
                            / (n - 1.0)
                    })
                    .collect()
            })
            .collect()
    }
    /// Bulk ESS per coordinate (rank-normalised, split chains; needs ≥ 4 draws per chain).
    pub fn ess(&self) -> Vec<f64> {
        self.by_coordinate().iter().map(|c| ess_bulk(c)).collect()
    }
    /// Rank-normalised split R-hat per coordinate.
    pub fn rhat(&self) -> Vec<f64> {
        self.by_coordinate().iter().map(|c| split_rhat(c)).collect()
    }
    /// Squared kernel Stein discrepancy (IMQ, U-statistic) of the pooled draws under `score`, on at most
    /// `max_points` of them (evenly thinned; the statistic costs O(n²)). Near 0 when the draws follow the target.
    pub fn ksd<S: stein_scores::Score + ?Sized>(
        &self,
        score: &S,
        max_points: usize,
    ) -> Result<f64, stein_scores::ScoreError> {
        let all = self.pooled();
        let sub: Vec<Vec<f64>> = all
            .iter()
            .step_by((all.len() / max_points.max(2)).max(1))
            .cloned()
            .collect();
        stein_scores::kernel_stein_discrepancy(score, &sub, stein_scores::Statistic::U)
    }
}

/// The RNG of chain `c`.
pub fn chain_rng(seed: u64, c: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
            ^ (c as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

fn check(cfg: &SampleConfig, dim: usize) -> Result<(), SampleError> {
    let bad = |param, reason: String| Err(SampleError::BadParameter { param, reason });
    let step = match &cfg.method {
        Method::Ula { step } | Method::Mala { step } | Method::Hmc { step, .. } => *step,
    };
    if step.is_nan() || step <= 0.0 || step.is_infinite() {
        return bad("step", format!("must be positive and finite, got {step}"));
    }
    if cfg.chains == 0 || cfg.thin == 0 {
        return bad("chains/thin", "must be at least 1".into());
    }
    if let Method::Hmc {
        leapfrog,
        inv_mass,
        adapt,
        ..
    } = &cfg.method
    {
        if *leapfrog == 0 {
            return bad("leapfrog", "must be at least 1".into());
        }
        if let Some(m) = inv_mass {
            if m.len() != dim || m.iter().any(|v| v.is_nan() || *v <= 0.0) {
                return bad("inv_mass", format!("needs {dim} positive entries"));
            }
        }
        if let Some(a) = adapt {
            if a.is_nan() || *a <= 0.0 || *a >= 1.0 {
                return bad(
                    "adapt",
                    format!("target acceptance must be in (0, 1), got {a}"),
                );
            }
        }
    }
    if let Init::Points(p) = &cfg.init {
        if p.is_empty() || p.iter().any(|x| x.len() != dim) {
            return bad("init", format!("needs points of dimension {dim}"));
        }
    }
    Ok(())
}

fn start(init: &Init, c: usize, dim: usize, rng: &mut SmallRng) -> Vec<f64> {
    match init {
        Init::Normal { scale } => (0..dim)
            .map(|_| scale * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng))
            .collect(),
        Init::Points(p) => p[c % p.len()].clone(),
    }
}

/// Run the chains.
pub fn sample<T: Target>(target: &T, cfg: &SampleConfig) -> Result<Draws, SampleError> {
    let dim = target.dim();
    check(cfg, dim)?;
    if !matches!(cfg.method, Method::Ula { .. }) && !target.has_log_density() {
        return Err(SampleError::NeedsLogDensity {
            method: cfg.method.name(),
        });
    }
    let t0 = Instant::now();
    let chains = (0..cfg.chains)
        .into_par_iter()
        .map(|c| run_chain(target, cfg, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Draws {
        dim,
        chains,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Dual averaging of the step size (Hoffman & Gelman 2014, algorithm 5).
struct DualAveraging {
    mu: f64,
    h_bar: f64,
    log_eps_bar: f64,
    m: f64,
    delta: f64,
}

impl DualAveraging {
    fn new(eps0: f64, delta: f64) -> Self {
        DualAveraging {
            mu: (10.0 * eps0).ln(),
            h_bar: 0.0,
            log_eps_bar: 0.0,
            m: 0.0,
            delta,
        }
    }
    /// Update with the acceptance statistic of the last transition; returns the next ε.
    fn update(&mut self, alpha: f64) -> f64 {
        let (gamma, t0, kappa) = (0.05, 10.0, 0.75);
        self.m += 1.0;
        self.h_bar =
            (1.0 - 1.0 / (self.m + t0)) * self.h_bar + (self.delta - alpha) / (self.m + t0);
        let log_eps = self.mu - self.m.sqrt() / gamma * self.h_bar;
        let w = self.m.powf(-kappa);
        self.log_eps_bar = w * log_eps + (1.0 - w) * self.log_eps_bar;
        log_eps.exp()
    }
    fn final_step(&self) -> f64 {
        self.log_eps_bar.exp()
    }
}

fn non_finite(chain: usize, step: usize, what: &'static str, x: &[f64]) -> SampleError {
    SampleError::NonFinite {
        chain,
        step,
        what,
        state: x.to_vec(),
    }
}

fn run_chain<T: Target>(target: &T, cfg: &SampleConfig, c: usize) -> Result<Chain, SampleError> {
    let d = target.dim();
    let mut rng = chain_rng(cfg.seed, c);
    let mut x = start(&cfg.init, c, d, &mut rng);
    let mut s = vec![0.0; d];
    let mut lp = target.eval(&x, &mut s);
    if s.iter().any(|v| !v.is_finite()) {
        return Err(non_finite(c, 0, "score", &x));
    }
    if lp.is_some_and(|v| !v.is_finite()) {
        return Err(non_finite(c, 0, "log-density", &x));
    }
    let total = cfg.warmup + cfg.draws * cfg.thin;
    let mut out = Chain {
        draws: Vec::with_capacity(cfg.draws),
        accepted: 0,
        proposals: 0,
        divergences: 0,
        warmup_divergences: 0,
        trajectory: Vec::new(),
        step_size: 0.0,
    };
    let (mut y, mut sy, mut p) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut eps = match &cfg.method {
        Method::Ula { step } | Method::Mala { step } | Method::Hmc { step, .. } => *step,
    };
    let mut adapt = match &cfg.method {
        Method::Hmc {
            adapt: Some(delta), ..
        } => Some(DualAveraging::new(eps, *delta)),
        _ => None,
    };
    if cfg.record_every.is_some() {
        out.trajectory.push(x.clone());
    }
    for k in 0..total {
        let warm = k < cfg.warmup;
        match &cfg.method {
            Method::Ula { .. } => {
                let h = eps.sqrt();
                for i in 0..d {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    x[i] += 0.5 * eps * s[i] + h * z;
                }
                target.eval(&x, &mut s);
                if s.iter().any(|v| !v.is_finite()) {
                    return Err(non_finite(c, k + 1, "score", &x));
                }
            }
            Method::Mala { .. } => {
                let h = eps.sqrt();
                let mut zz = 0.0;
                for i in 0..d {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    zz += z * z;
                    y[i] = x[i] + 0.5 * eps * s[i] + h * z;
                }
                let lpy = target
                    .eval(&y, &mut sy)
                    .expect("checked: the target has a log-density");
                if lpy.is_nan() || sy.iter().any(|v| v.is_nan()) {
                    return Err(non_finite(c, k + 1, "log-density", &y));
                }
                // log q(x | y) − log q(y | x), q(b | a) = N(b; a + ε/2 s(a), ε I)
                let back: f64 = (0..d)
                    .map(|i| (x[i] - y[i] - 0.5 * eps * sy[i]).powi(2))
                    .sum::<f64>();
                let log_alpha = lpy - lp.expect("has log-density") - back / (2.0 * eps) + 0.5 * zz;
                if !warm {
                    out.proposals += 1;
                }
                if lpy > f64::NEG_INFINITY && rng.random::<f64>().ln() < log_alpha {
                    std::mem::swap(&mut x, &mut y);
                    std::mem::swap(&mut s, &mut sy);
                    lp = Some(lpy);
                    if !warm {
                        out.accepted += 1;
                    }
                }
            }
            Method::Hmc {
                leapfrog, inv_mass, ..
            } => {
                let im = |i: usize| inv_mass.as_ref().map_or(1.0, |m| m[i]);
                for (i, pi) in p.iter_mut().enumerate() {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *pi = z / im(i).sqrt();
                }
                let kinetic = |p: &[f64]| {
                    0.5 * p
                        .iter()
                        .enumerate()
                        .map(|(i, v)| im(i) * v * v)
                        .sum::<f64>()
                };
                let h0 = -lp.expect("has log-density") + kinetic(&p);
                y.copy_from_slice(&x);
                sy.copy_from_slice(&s);
                let mut lpy = lp.expect("has log-density");
                let mut diverged = false;
                for _ in 0..*leapfrog {
                    for i in 0..d {
                        p[i] += 0.5 * eps * sy[i];
                        y[i] += eps * im(i) * p[i];
                    }
                    lpy = target.eval(&y, &mut sy).expect("has log-density");
                    if lpy.is_nan() {
                        return Err(non_finite(c, k + 1, "log-density", &y));
                    }
                    if !lpy.is_finite() || sy.iter().any(|v| !v.is_finite()) {
                        diverged = true;
                        break;
                    }
                    for i in 0..d {
                        p[i] += 0.5 * eps * sy[i];
                    }
                }
                let h1 = -lpy + kinetic(&p);
                let err = h1 - h0;
                if diverged || !err.is_finite() || err > 1000.0 {
                    diverged = true;
                    if warm {
                        out.warmup_divergences += 1;
                    } else {
                        out.divergences += 1;
                    }
                }
                let alpha = if diverged { 0.0 } else { (-err).exp().min(1.0) };
                if !warm {
                    out.proposals += 1;
                }
                if !diverged && rng.random::<f64>() < alpha {
                    std::mem::swap(&mut x, &mut y);
                    std::mem::swap(&mut s, &mut sy);
                    lp = Some(lpy);
                    if !warm {
                        out.accepted += 1;
                    }
                }
                if let Some(da) = adapt.as_mut() {
                    if warm {
                        eps = da.update(alpha);
                    }
                    if k + 1 == cfg.warmup {
                        // sample with the averaged step (it lands a little above the target acceptance)
                        eps = da.final_step();
                    }
                }
            }
        }
        if !warm && (k - cfg.warmup).is_multiple_of(cfg.thin) {
            out.draws.push(x.clone());
        }
        if let Some(r) = cfg.record_every {
            if (k + 1) % r.max(1) == 0 {
                out.trajectory.push(x.clone());
            }
        }
    }
    out.step_size = eps;
    Ok(out)
}

/// Annealed Langevin dynamics (Song & Ermon 2019): for each σᵢ of the ladder (largest first), `steps` ULA
/// steps with αᵢ = ε σᵢ² / σ_L² on the noise-conditional score s(x, σᵢ). Returns the final states (one draw
/// per chain). Chains start from N(0, σ₁² I).
pub fn annealed_langevin<S: NoiseConditionalScore>(
    score: &S,
    sigmas: &[f64],
    steps: usize,
    eps: f64,
    chains: usize,
    seed: u64,
) -> Result<Draws, SampleError> {
    if sigmas.is_empty()
        || sigmas.iter().any(|s| s.is_nan() || *s <= 0.0)
        || eps.is_nan()
        || eps <= 0.0
    {
        return Err(SampleError::BadParameter {
            param: "sigmas/eps",
            reason: "need a non-empty ladder of positive σ and ε > 0".into(),
        });
    }
    let d = score.dim();
    let last = *sigmas.last().expect("non-empty");
    let t0 = Instant::now();
    let out = (0..chains)
        .into_par_iter()
        .map(|c| {
            let mut rng = chain_rng(seed, c);
            let mut x: Vec<f64> = (0..d)
                .map(|_| {
                    sigmas[0]
                        * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng)
                })
                .collect();
            let mut s = vec![0.0; d];
            let mut step = 0;
            for &sig in sigmas {
                let alpha = eps * sig * sig / (last * last);
                let h = alpha.sqrt();
                for _ in 0..steps {
                    score.score_at(&x, sig, &mut s);
                    step += 1;
                    if s.iter().any(|v| !v.is_finite()) {
                        return Err(non_finite(c, step, "score", &x));
                    }
                    for i in 0..d {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        x[i] += 0.5 * alpha * s[i] + h * z;
                    }
                }
            }
            Ok(Chain {
                draws: vec![x],
                accepted: 0,
                proposals: 0,
                divergences: 0,
                warmup_divergences: 0,
                trajectory: Vec::new(),
                step_size: eps,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Draws {
        dim: d,
        chains: out,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
