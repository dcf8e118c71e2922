//! Hamiltonian Monte Carlo with a fixed number of leapfrog steps: momentum p ~ N(0, M), L leapfrog steps of
//! size ε × u, u uniform on (1 − jitter, 1 + jitter), accepted with probability min(1, e^{H₀ − H₁}). The
//! jitter (on by default) breaks the periodicity a fixed (ε, L) has on Gaussian-like targets, where a
//! coordinate can flip sign every transition. An energy error above `max_energy_error`, or a non-finite log p
//! or score on the trajectory, is a divergence: the proposal is rejected and the transition says so.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::{hmc, Exact, State};
//! use stein_scores::MultivariateNormal;
//!
//! let g = MultivariateNormal::isotropic(vec![0.0; 5], 1.0).unwrap();
//! let mut s = State::new(&Exact(&g), vec![1.0; 5]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
//! let info = hmc::step(&mut s, &Exact(&g), &hmc::Params::new(0.3, 10), &mut rng);
//! assert_eq!(info.n_grad, 10);
//! ```

use super::adapt::MetricKind;
use super::kernel::{self, Eval, Info, Kernel, Phase, Progress, State, Tunable};
use super::metric::Metric;
use super::target::Target;
use super::ula::positive_step;
use rand::{Rng, RngExt};

/// Settings of HMC.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The nominal leapfrog step ε.
    pub step: f64,
    /// Leapfrog steps per transition.
    pub leapfrog: usize,
    /// Relative jitter of ε: each transition uses ε × u, u ~ U(1 − jitter, 1 + jitter) (0 turns it off).
    pub jitter: f64,
    /// The inverse mass matrix.
    pub metric: Metric,
    /// The energy error counted as a divergence.
    pub max_energy_error: f64,
}

impl Params {
    /// ε, L, jitter 0.2, identity metric, divergence at an energy error of 1000.
    pub fn new(step: f64, leapfrog: usize) -> Self {
        Params {
            step,
            leapfrog,
            jitter: 0.2,
            metric: Metric::Identity,
            max_energy_error: 1000.0,
        }
    }
}

impl Default for Params {
    /// ε = 0.1, L = 10 (warm-up adapts ε and the metric).
    fn default() -> Self {
        Params::new(0.1, 10)
    }
}

impl Tunable for Params {
    type Kernel = Hmc;
    /// Stan's variance windows: a metric fitted to scores lets the step grow to the 0.8 acceptance it aims
    /// at, where Stan's windows land near 0.87; a fixed-length trajectory at that step diverges in the stiff
    /// tails of curved targets (the banana of `tests/samplers.rs`: 334 divergences in 12,000 transitions
    /// against 3; NUTS, which shortens its trajectories, 34 against 4).
    fn default_metric() -> MetricKind {
        MetricKind::Diagonal
    }
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
}

/// The trajectory in progress.
pub struct Work {
    z: Phase,
    h0: f64,
    eps: f64,
    left: usize,
}

/// The HMC kernel (see the module documentation).
pub struct Hmc;

impl Kernel for Hmc {
    type Params = Params;
    type Work = Work;
    const NAME: &'static str = "HMC";
    const NEEDS_LOG_DENSITY: bool = true;
    const TARGET_ACCEPT: Option<f64> = Some(0.8);

    fn work(dim: usize) -> Work {
        Work {
            z: Phase::new(dim),
            h0: 0.0,
            eps: 0.0,
            left: 0,
        }
    }

    fn validate(p: &Params, dim: usize) -> Result<(), String> {
        positive_step(p.step)?;
        if p.leapfrog == 0 || p.leapfrog > 1 << 20 {
            return Err(format!("{} leapfrog steps: need 1 to 2²⁰", p.leapfrog));
        }
        if !(0.0..1.0).contains(&p.jitter) {
            return Err(format!("jitter {}: must be in [0, 1)", p.jitter));
        }
        if p.max_energy_error.is_nan() || p.max_energy_error <= 0.0 {
            return Err("max_energy_error must be positive".into());
        }
        p.metric.validate(dim)
    }

    fn begin<R: Rng + ?Sized>(w: &mut Work, s: &State, p: &Params, rng: &mut R) -> Progress {
        w.z.start(s, &p.metric, rng);
        w.h0 = w.z.energy();
        let u = if p.jitter > 0.0 {
            1.0 + p.jitter * (2.0 * rng.random::<f64>() - 1.0)
        } else {
            1.0
        };
        w.eps = p.step * u;
        w.left = p.leapfrog;
        w.z.leapfrog_begin(w.eps, &p.metric);
        Progress::Eval
    }

    fn point(w: &Work) -> &[f64] {
        &w.z.x
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        p: &Params,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let finite = w.z.leapfrog_end(w.eps, &p.metric, e);
        w.left -= 1;
        let done = p.leapfrog - w.left;
        if finite && w.left > 0 {
            w.z.leapfrog_begin(w.eps, &p.metric);
            return Progress::Eval;
        }
        let h1 = w.z.energy();
        let err = h1 - w.h0;
        let divergent = !finite || !err.is_finite() || err > p.max_energy_error;
        let accept_prob = if divergent {
            0.0
        } else {
            (-err).min(0.0).exp()
        };
        let accepted = !divergent && rng.random::<f64>() < accept_prob;
        if accepted {
            w.z.store(s);
        }
        Progress::Done(Info {
            accept_prob,
            accepted,
            divergent,
            energy: if accepted { h1 } else { w.h0 },
            depth: 0,
            max_depth: false,
            n_grad: done as u32,
        })
    }
}

/// One HMC transition (see [`kernel::step`]).
pub fn step<T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    rng: &mut R,
) -> Info {
    kernel::step::<Hmc, _, _>(state, target, params, rng)
}
