//! Stochastic gradient Langevin dynamics (Welling & Teh 2011) for posteriors whose log-density is a sum
//! over data: log p(θ) = log p₀(θ) + Σᵢ₌₁ᴺ log p(yᵢ | θ). Each step draws a minibatch B of `batch` terms
//! (without replacement) and takes the Langevin move with the unbiased gradient estimate
//! ĝ = ∇ log p₀(θ) + (N/|B|) Σ_{i∈B} ∇ log p(yᵢ | θ), at step hₜ = h (b / (b + t))^γ (Welling & Teh's
//! polynomial decay; γ = 0 keeps h constant). Unadjusted: its draws are biased by the step and by the
//! gradient noise, and the bias vanishes as hₜ → 0.
//!
//! Write the target once with [`SumOfTerms`] (generic code, scores by autodiff) or give the stochastic
//! gradient yourself with [`MinibatchTarget`].
//!
//! ```
//! use stein_autodiff::Real;
//! use stein_models::sample::sgld::{self, SumOfTerms};
//!
//! /// y ~ N(θ, 1) for 1,000 points, prior θ ~ N(0, 10²): the posterior is N(ȳ N/(N + 0.01), 1/(N + 0.01)).
//! struct Mean(Vec<f64>);
//! impl SumOfTerms for Mean {
//!     fn dim(&self) -> usize { 1 }
//!     fn n_terms(&self) -> usize { self.0.len() }
//!     fn log_prior<S: Real>(&self, t: &[S]) -> S { -(t[0] * t[0]) * 0.005 }
//!     fn log_term<S: Real>(&self, t: &[S], i: usize) -> S { -(t[0] - self.0[i]).powi(2) * 0.5 }
//! }
//! let data = Mean((0..1000).map(|i| 2.0 + ((i as f64) * 0.7).sin()).collect());
//! let ybar = data.0.iter().sum::<f64>() / 1000.0;
//! let cfg = sgld::config(sgld::Params::new(1e-4, 50)).chains(2).warmup(200).draws(2000);
//! let draws = sgld::sample(&data, &cfg).unwrap();
//! assert!((draws.mean()[0] - ybar).abs() < 0.02);
//! ```

use super::driver::{chain_rng, Config, Init};
use super::kernel::{Info, State};
use super::metric::Metric;
use super::ula::{positive_step, propose};
use super::{chain::start_point, Chain, Draws, SampleError};
use rand::Rng;
use rayon::prelude::*;
use std::time::Instant;
use stein_autodiff::{with_tape, Real, Var};

/// A target whose score is estimated from a minibatch of data.
pub trait MinibatchTarget: Sync {
    /// Dimension of θ.
    fn dim(&self) -> usize;
    /// N, the number of data terms.
    fn n_terms(&self) -> usize;
    /// Write ∇ log p₀(θ) + (N/|idx|) Σ_{i∈idx} ∇ log p(yᵢ | θ) into `score`.
    fn minibatch_score(&self, theta: &[f64], idx: &[usize], score: &mut [f64]);
}

/// A log-density written as prior + Σ terms, generic over [`Real`] (differentiated by autodiff). Every
/// `SumOfTerms` is a [`MinibatchTarget`], and [`Full`] reads it whole as a log-density (for NUTS).
pub trait SumOfTerms: Sync {
    /// Dimension of θ.
    fn dim(&self) -> usize;
    /// N, the number of data terms.
    fn n_terms(&self) -> usize;
    /// log p₀(θ).
    fn log_prior<S: Real>(&self, theta: &[S]) -> S;
    /// log p(yᵢ | θ).
    fn log_term<S: Real>(&self, theta: &[S], i: usize) -> S;
}

impl<T: SumOfTerms> MinibatchTarget for T {
    fn dim(&self) -> usize {
        SumOfTerms::dim(self)
    }
    fn n_terms(&self) -> usize {
        SumOfTerms::n_terms(self)
    }
    fn minibatch_score(&self, theta: &[f64], idx: &[usize], score: &mut [f64]) {
        let scale = self.n_terms() as f64 / idx.len().max(1) as f64;
        with_tape(|t| {
            let th: Vec<Var> = t.vars(theta);
            let mut lp = self.log_prior(&th);
            for &i in idx {
                lp += self.log_term(&th, i) * scale;
            }
            t.grad_into(lp, &th, score);
        })
    }
}

/// A [`SumOfTerms`] read whole: log p₀(θ) + Σ all terms, a [`stein_scores::LogDensity`] (sample it with
/// NUTS through [`super::Autodiff`] to check SGLD against the exact posterior).
#[derive(Clone, Copy, Debug)]
pub struct Full<'a, T: ?Sized>(pub &'a T);

impl<T: SumOfTerms + ?Sized> stein_scores::LogDensity for Full<'_, T> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn log_prob<S: Real>(&self, theta: &[S]) -> S {
        (0..self.0.n_terms()).fold(self.0.log_prior(theta), |acc, i| {
            acc + self.0.log_term(theta, i)
        })
    }
}

/// Settings of SGLD.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// h, the first step.
    pub step: f64,
    /// Terms per minibatch.
    pub batch: usize,
    /// γ of the decay hₜ = h (b / (b + t))^γ (0: constant; Welling & Teh use 0.55).
    pub decay: f64,
    /// b of the decay.
    pub offset: f64,
    /// The preconditioner M⁻¹.
    pub metric: Metric,
}

impl Params {
    /// Constant step `step`, minibatches of `batch` terms.
    pub fn new(step: f64, batch: usize) -> Self {
        Params {
            step,
            batch,
            decay: 0.0,
            offset: 1.0,
            metric: Metric::Identity,
        }
    }

    /// hₜ at step t.
    pub fn step_at(&self, t: usize) -> f64 {
        self.step * (self.offset / (self.offset + t as f64)).powf(self.decay)
    }

    fn validate(&self, dim: usize, n: usize) -> Result<(), String> {
        positive_step(self.step)?;
        if self.batch == 0 || self.batch > n {
            return Err(format!("batch {}: need 1 to the {n} terms", self.batch));
        }
        if !(self.decay >= 0.0 && self.decay <= 1.0 && self.offset > 0.0 && self.offset.is_finite())
        {
            return Err("decay must be in [0, 1] and offset positive".into());
        }
        self.metric.validate(dim)
    }
}

/// A run of SGLD: `params` with the defaults of [`Config::new`] (4 chains, 1,000 warm-up steps, 1,000
/// draws, starts uniform on (−2, 2)ᵈ).
pub fn config(params: Params) -> Config<Params> {
    Config::with_init(params, Init::default())
}

/// Scratch of one chain.
pub struct Work {
    y: Vec<f64>,
    drift: Vec<f64>,
    idx: Vec<usize>,
}

impl Work {
    /// For dimension `d`.
    pub fn new(d: usize) -> Self {
        Work {
            y: vec![0.0; d],
            drift: vec![0.0; d],
            idx: Vec::new(),
        }
    }
}

/// One SGLD step at iteration `t`: a minibatch, its gradient estimate at θ, the Langevin move. The state's
/// `score` holds the estimate used. A non-finite estimate leaves θ where it is and marks the step divergent.
pub fn step<T: MinibatchTarget + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    t: usize,
    work: &mut Work,
    rng: &mut R,
) -> Info {
    let n = target.n_terms();
    work.idx.clear();
    work.idx
        .extend(rand::seq::index::sample(rng, n, params.batch.min(n)).iter());
    target.minibatch_score(&state.x, &work.idx, &mut state.score);
    let finite = state.score.iter().all(|v| v.is_finite());
    if finite {
        let h = params.step_at(t);
        propose(
            &state.x,
            &state.score,
            h,
            &params.metric,
            rng,
            &mut work.drift,
            &mut work.y,
        );
        state.x.copy_from_slice(&work.y);
    }
    Info {
        accept_prob: 1.0,
        accepted: finite,
        divergent: !finite,
        energy: f64::NAN,
        n_grad: 1,
        ..Info::default()
    }
}

/// Run the chains of `cfg` (warm-up steps are discarded; the step keeps decaying through them).
pub fn sample<T: MinibatchTarget + ?Sized>(
    target: &T,
    cfg: &Config<Params>,
) -> Result<Draws, SampleError> {
    let d = target.dim();
    cfg.params
        .validate(d, target.n_terms())
        .map_err(|reason| SampleError::BadParameter {
            param: "params",
            reason,
        })?;
    let total = cfg.validate_run(d)?;
    let t0 = Instant::now();
    let chains = (0..cfg.chains)
        .into_par_iter()
        .map(|c| {
            let mut rng = chain_rng(cfg.seed, c);
            let x = start_point(&cfg.init, c, d, &mut rng);
            let mut state = State {
                x,
                log_p: None,
                score: vec![0.0; d],
            };
            let mut work = Work::new(d);
            let mut out = Chain::new(
                cfg.draws,
                cfg.params.step_at(total),
                cfg.params.metric.clone(),
            );
            for t in 0..total {
                let info = step(&mut state, target, &cfg.params, t, &mut work, &mut rng);
                out.n_grad += 1;
                let warm = t < cfg.warmup;
                let keep = !warm && (t - cfg.warmup).is_multiple_of(cfg.thin);
                out.record(info, &state.x, warm, keep);
            }
            out
        })
        .collect();
    Ok(Draws {
        dim: d,
        kernel: "SGLD",
        chains,
        seconds: t0.elapsed().as_secs_f64(),
        warmup: cfg.warmup,
        notes: Vec::new(),
    })
}
