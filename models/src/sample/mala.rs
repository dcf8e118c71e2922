//! The Metropolis-adjusted Langevin algorithm: the ULA proposal y = x + (h/2) M⁻¹ s(x) + √h L z
//! (M⁻¹ = L Lᵀ, the adapted metric as preconditioner), accepted with probability
//! min(1, p(y) q(x | y) / (p(x) q(y | x))), q(b | a) = N(b; a + (h/2) M⁻¹ s(a), h M⁻¹). Exact for any h; warm-up
//! adapts h towards an acceptance of 0.574 (Roberts & Rosenthal 1998). A proposal where log p or the score
//! is not finite is rejected (and flagged `divergent`).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::{mala, Exact, State};
//! use stein_scores::MultivariateNormal;
//!
//! let g = MultivariateNormal::isotropic(vec![1.0, -1.0], 0.5).unwrap();
//! let mut s = State::new(&Exact(&g), vec![0.0, 0.0]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
//! let accepted = (0..500).filter(|_| mala::step(&mut s, &Exact(&g), &mala::Params::new(0.3), &mut rng).accepted).count();
//! assert!(accepted > 200);
//! ```

use super::kernel::{self, Eval, Info, Kernel, Progress, State, Tunable};
use super::metric::Metric;
use super::target::Target;
use super::ula::{positive_step, propose};
use rand::{Rng, RngExt};

/// Settings of MALA.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The step h (the variance of the proposal's noise).
    pub step: f64,
    /// The preconditioner M⁻¹.
    pub metric: Metric,
}

impl Params {
    /// Step `h`, no preconditioning.
    pub fn new(step: f64) -> Self {
        Params {
            step,
            metric: Metric::Identity,
        }
    }
}

impl Default for Params {
    /// h = 0.1 (warm-up starts here and searches).
    fn default() -> Self {
        Params::new(0.1)
    }
}

impl Tunable for Params {
    type Kernel = Mala;
    fn step_size(&self) -> f64 {
        self.step
    }
    fn set_step_size(&mut self, step: f64) {
        self.step = step;
    }
    fn metric(&self) -> &Metric {
        &self.metric
    }
    fn set_metric(&mut self, m: Metric) {
        self.metric = m;
    }
    fn to_leapfrog(step: f64) -> f64 {
        step.sqrt()
    }
    fn from_leapfrog(eps: f64) -> f64 {
        eps * eps
    }
}

/// The proposal and what its acceptance needs.
pub struct Work {
    y: Vec<f64>,
    drift: Vec<f64>,
    scratch: Vec<f64>,
    /// ‖z‖² of the forward noise: −log q(y | x) up to the constant.
    zz: f64,
}

/// The MALA kernel (see the module documentation).
pub struct Mala;

impl Kernel for Mala {
    type Params = Params;
    type Work = Work;
    const NAME: &'static str = "MALA";
    const NEEDS_LOG_DENSITY: bool = true;
    const TARGET_ACCEPT: Option<f64> = Some(0.574);

    fn work(dim: usize) -> Work {
        Work {
            y: vec![0.0; dim],
            drift: vec![0.0; dim],
            scratch: vec![0.0; dim],
            zz: 0.0,
        }
    }

    fn validate(p: &Params, dim: usize) -> Result<(), String> {
        positive_step(p.step)?;
        p.metric.validate(dim)
    }

    fn begin<R: Rng + ?Sized>(w: &mut Work, s: &State, p: &Params, rng: &mut R) -> Progress {
        w.zz = propose(
            &s.x,
            &s.score,
            p.step,
            &p.metric,
            rng,
            &mut w.drift,
            &mut w.y,
        );
        Progress::Eval
    }

    fn point(w: &Work) -> &[f64] {
        &w.y
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        p: &Params,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let h = p.step;
        let lx = s.log_p.expect("MALA needs log p");
        let ly = e.log_p.unwrap_or(f64::NAN);
        let finite = ly.is_finite() && e.score.iter().all(|v| v.is_finite());
        let log_alpha = if finite {
            // log q(x | y): residual r = x − y − (h/2) M⁻¹ s(y), −rᵀ M r / (2h)
            p.metric.velocity(e.score, &mut w.drift);
            for ((r, (x, y)), g) in w.scratch.iter_mut().zip(s.x.iter().zip(&w.y)).zip(&w.drift) {
                *r = x - y - 0.5 * h * g;
            }
            let back = p.metric.mass_norm_in_place(&mut w.scratch);
            ly - lx - back / (2.0 * h) + 0.5 * w.zz
        } else {
            f64::NEG_INFINITY
        };
        let accept_prob = if log_alpha.is_nan() {
            0.0
        } else {
            log_alpha.min(0.0).exp()
        };
        let accepted = finite && rng.random::<f64>() < accept_prob;
        if accepted {
            s.x.copy_from_slice(&w.y);
            s.score.copy_from_slice(e.score);
            s.log_p = Some(ly);
        }
        Progress::Done(Info {
            accept_prob,
            accepted,
            divergent: !finite,
            energy: -s.log_p.unwrap_or(f64::NAN),
            depth: 0,
            max_depth: false,
            n_grad: 1,
        })
    }
}

/// One MALA transition (see [`kernel::step`]).
pub fn step<T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    rng: &mut R,
) -> Info {
    kernel::step::<Mala, _, _>(state, target, params, rng)
}
