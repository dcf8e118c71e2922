//! The unadjusted Langevin algorithm: x′ = x + (h/2) M⁻¹ s(x) + √h L z, z ~ N(0, I), M⁻¹ = L Lᵀ. Biased at
//! finite h (its stationary law is not the target's); needs only the score, so it samples trained score
//! networks. With `noise` set it evaluates a noise-conditional target at that σ (annealed Langevin walks a
//! ladder of them, [`super::annealed`]).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::{ula, ScoreOnly, State};
//! use stein_scores::Normal;
//!
//! let p = Normal::new(0.0, 1.0).unwrap();
//! let mut s = State::new(&ScoreOnly(&p), vec![3.0]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! for _ in 0..200 {
//!     ula::step(&mut s, &ScoreOnly(&p), &ula::Params::new(0.1), &mut rng);
//! }
//! assert!(s.x[0].abs() < 4.0);
//! ```

use super::kernel::{self, Eval, Info, Kernel, Progress, State, Tunable};
use super::metric::Metric;
use super::target::Target;
use rand::Rng;

/// Settings of ULA.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The step h (the variance of the noise).
    pub step: f64,
    /// The preconditioner M⁻¹.
    pub metric: Metric,
    /// The noise level at which to read a noise-conditional target.
    pub noise: Option<f64>,
}

impl Params {
    /// Step `h`, no preconditioning.
    pub fn new(step: f64) -> Self {
        Params {
            step,
            metric: Metric::Identity,
            noise: None,
        }
    }
}

impl Tunable for Params {
    type Kernel = Ula;
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

/// The proposal being evaluated.
pub struct Work {
    y: Vec<f64>,
    drift: Vec<f64>,
}

/// The ULA kernel (see the module documentation).
pub struct Ula;

impl Kernel for Ula {
    type Params = Params;
    type Work = Work;
    const NAME: &'static str = "ULA";
    const NEEDS_LOG_DENSITY: bool = false;
    const TARGET_ACCEPT: Option<f64> = None;

    fn work(dim: usize) -> Work {
        Work {
            y: vec![0.0; dim],
            drift: vec![0.0; dim],
        }
    }

    fn validate(p: &Params, dim: usize) -> Result<(), String> {
        positive_step(p.step)?;
        if let Some(s) = p.noise.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!("noise level {s}: must be positive and finite"));
        }
        p.metric.validate(dim)
    }

    fn begin<R: Rng + ?Sized>(w: &mut Work, s: &State, p: &Params, rng: &mut R) -> Progress {
        propose(
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

    fn noise(_w: &Work, p: &Params) -> Option<f64> {
        p.noise
    }

    fn state_noise(p: &Params) -> Option<f64> {
        p.noise
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        _p: &Params,
        e: Eval<'_>,
        _rng: &mut R,
    ) -> Progress {
        // an unadjusted kernel cannot reject: a non-finite score leaves the chain where it is and says so
        let finite = e.score.iter().all(|v| v.is_finite()) && e.log_p.is_none_or(|l| !l.is_nan());
        if finite {
            s.x.copy_from_slice(&w.y);
            s.score.copy_from_slice(e.score);
            s.log_p = e.log_p;
        }
        Progress::Done(Info {
            accept_prob: 1.0,
            accepted: finite,
            divergent: !finite,
            energy: s.log_p.map_or(f64::NAN, |l| -l),
            depth: 0,
            max_depth: false,
            n_grad: 1,
        })
    }
}

/// The Langevin move, the one place it is written (ULA, MALA, annealed Langevin, SGLD):
/// y = x + (h/2) M⁻¹ s + √h L z with z ~ N(0, I), M⁻¹ = L Lᵀ. `drift` is scratch for M⁻¹ s.
/// Returns ‖z‖² (MALA's forward proposal density needs it).
pub(crate) fn propose<R: Rng + ?Sized>(
    x: &[f64],
    score: &[f64],
    h: f64,
    metric: &Metric,
    rng: &mut R,
    drift: &mut [f64],
    y: &mut [f64],
) -> f64 {
    let zz = metric.sample_noise(rng, y);
    let drift: &[f64] = match metric {
        Metric::Identity => score,
        _ => {
            metric.velocity(score, drift);
            drift
        }
    };
    let root = h.sqrt();
    for ((y, x), g) in y.iter_mut().zip(x).zip(drift) {
        *y = x + 0.5 * h * g + root * *y;
    }
    zz
}

/// A step size must be positive and finite.
pub(crate) fn positive_step(step: f64) -> Result<(), String> {
    if step > 0.0 && step.is_finite() {
        Ok(())
    } else {
        Err(format!("step size {step}: must be positive and finite"))
    }
}

/// One ULA transition (see [`kernel::step`]).
pub fn step<T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    rng: &mut R,
) -> Info {
    kernel::step::<Ula, _, _>(state, target, params, rng)
}
