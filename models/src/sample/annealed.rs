//! Annealed Langevin dynamics (Song & Ermon 2019, algorithm 1): one transition walks a ladder of noise levels
//! σ₁ > … > σ_L, taking `steps` Langevin moves at each, x ← x + (αᵢ/2) s(x, σᵢ) + √αᵢ z with
//! αᵢ = ε σᵢ²/σ_L², on a noise-conditional target (a network trained with the multi-noise loss, or the exact
//! [`PerturbedLadder`](super::PerturbedLadder)). Chains start from N(0, σ₁² I); one transition from there
//! is one draw of the algorithm. A non-finite score leaves the state where it was and marks the transition
//! divergent (an unadjusted kernel cannot reject).
//!
//! With [`Params::denoise`], the walk ends with Tweedie's step x ← x + σ_L² s(x, σ_L): the posterior mean of
//! the clean point given the noisy one (Song & Ermon 2020; Jolicoeur-Martineau et al. 2021), which removes the
//! σ_L blur the ladder's last level leaves on every draw — at the price of a slightly narrower law (for a
//! Gaussian of variance v, the draws' variance becomes v²/(v + σ_L²) instead of v + σ_L²).
//!
//! ```
//! use stein_models::sample::{annealed, sample, Config, PerturbedLadder};
//! use stein_scores::Normal;
//!
//! let ladder = PerturbedLadder::new(&Normal::new(3.0, 0.5).unwrap(), &[4.0, 2.0, 1.0, 0.5, 0.1]).unwrap();
//! let params = annealed::Params::new(ladder.sigmas(), 50, 0.005);
//! let draws = sample(&ladder, &Config::new(params).chains(500).warmup(0).draws(1)).unwrap();
//! assert!((draws.mean()[0] - 3.0).abs() < 0.1);
//! ```

use super::kernel::{self, Eval, Info, Kernel, Progress, State, Tunable};
use super::metric::Metric;
use super::target::Target;
use super::ula::{positive_step, propose};
use super::Init;
use rand::Rng;

/// Settings of annealed Langevin.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The noise levels, largest first.
    pub sigmas: Vec<f64>,
    /// Langevin steps per level.
    pub steps: usize,
    /// ε: the step at the smallest level (αᵢ = ε σᵢ²/σ_L²).
    pub eps: f64,
    /// The preconditioner M⁻¹.
    pub metric: Metric,
    /// End with Tweedie's denoising step (see the module documentation; off in [`Params::new`]).
    pub denoise: bool,
}

impl Params {
    /// The ladder `sigmas` (largest first), `steps` per level, step ε at the smallest level.
    pub fn new(sigmas: Vec<f64>, steps: usize, eps: f64) -> Self {
        Params {
            sigmas,
            steps,
            eps,
            metric: Metric::Identity,
            denoise: false,
        }
    }

    /// With Tweedie's denoising step at the end of the walk.
    pub fn denoised(mut self) -> Self {
        self.denoise = true;
        self
    }
}

impl Tunable for Params {
    type Kernel = Annealed;
    fn step_size(&self) -> f64 {
        self.eps
    }
    fn set_step_size(&mut self, step: f64) {
        self.eps = step;
    }
    fn metric(&self) -> &Metric {
        &self.metric
    }
    fn set_metric(&mut self, m: Metric) {
        self.metric = m;
    }
    fn default_init(&self) -> Init {
        Init::Normal {
            scale: self.sigmas.first().copied().unwrap_or(1.0),
        }
    }
}

/// The walk down the ladder.
pub struct Work {
    x: Vec<f64>,
    y: Vec<f64>,
    drift: Vec<f64>,
    level: usize,
    step: usize,
    /// Evaluating the end point at the smallest σ (the chain's state there).
    last: bool,
    /// The end point was moved by the denoising step: this evaluation is its score.
    denoised: bool,
}

/// The annealed Langevin kernel (see the module documentation).
pub struct Annealed;

impl Kernel for Annealed {
    type Params = Params;
    type Work = Work;
    const NAME: &'static str = "annealed Langevin";
    const NEEDS_LOG_DENSITY: bool = false;
    const TARGET_ACCEPT: Option<f64> = None;

    fn work(dim: usize) -> Work {
        Work {
            x: vec![0.0; dim],
            y: vec![0.0; dim],
            drift: vec![0.0; dim],
            level: 0,
            step: 0,
            last: false,
            denoised: false,
        }
    }

    fn validate(p: &Params, dim: usize) -> Result<(), String> {
        positive_step(p.eps)?;
        if p.sigmas.is_empty() || p.sigmas.len() > 10_000 {
            return Err(format!("{} noise levels: need 1 to 10,000", p.sigmas.len()));
        }
        if let Some(s) = p.sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("noise level {s}: must be positive and finite"));
        }
        if p.steps == 0 || p.steps.saturating_mul(p.sigmas.len()) > 1 << 30 {
            return Err(format!("{} steps per level: need 1 to 2³⁰ in all", p.steps));
        }
        p.metric.validate(dim)
    }

    fn begin<R: Rng + ?Sized>(w: &mut Work, s: &State, _p: &Params, _rng: &mut R) -> Progress {
        w.x.copy_from_slice(&s.x);
        w.level = 0;
        w.step = 0;
        w.last = false;
        w.denoised = false;
        Progress::Eval
    }

    fn point(w: &Work) -> &[f64] {
        &w.x
    }

    fn noise(w: &Work, p: &Params) -> Option<f64> {
        Some(if w.last {
            p.sigmas[p.sigmas.len() - 1]
        } else {
            p.sigmas[w.level]
        })
    }

    fn state_noise(p: &Params) -> Option<f64> {
        p.sigmas.last().copied()
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        p: &Params,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let finite = e.score.iter().all(|v| v.is_finite());
        // the moves made, this evaluation, and the one after the denoising step
        let n_grad = (w.level * p.steps + w.step + 1 + w.denoised as usize) as u32;
        let last = p.sigmas[p.sigmas.len() - 1];
        if w.last && finite && p.denoise && !w.denoised {
            // Tweedie: E[x₀ | x] = x + σ_L² ∇log p_σL(x); then the score there, for the state
            for (x, g) in w.x.iter_mut().zip(e.score) {
                *x += last * last * g;
            }
            w.denoised = true;
            return Progress::Eval;
        }
        if w.last || !finite {
            if finite {
                s.x.copy_from_slice(&w.x);
                s.score.copy_from_slice(e.score);
                s.log_p = e.log_p;
            }
            return Progress::Done(Info {
                accept_prob: 1.0,
                accepted: finite,
                divergent: !finite,
                energy: s.log_p.map_or(f64::NAN, |l| -l),
                n_grad,
                ..Info::default()
            });
        }
        let alpha = p.eps * (p.sigmas[w.level] / last).powi(2);
        propose(&w.x, e.score, alpha, &p.metric, rng, &mut w.drift, &mut w.y);
        std::mem::swap(&mut w.x, &mut w.y);
        w.step += 1;
        if w.step == p.steps {
            w.step = 0;
            w.level += 1;
            w.last = w.level == p.sigmas.len();
        }
        Progress::Eval
    }
}

/// One annealed Langevin transition: a walk down the whole ladder (see [`kernel::step`]).
pub fn step<T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    rng: &mut R,
) -> Info {
    kernel::step::<Annealed, _, _>(state, target, params, rng)
}
