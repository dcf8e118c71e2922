//! Jobs on trained diffusion models, in data coordinates: sample by any reverse method (with snapshots for
//! animations), and log-likelihoods through the probability-flow ODE.

use super::RunError;
use crate::autodiff::Tensor;
use crate::models::diffusion::likelihood::{
    log_likelihood, Divergence, LogLikelihood, TimeDivergence,
};
use crate::models::diffusion::net::TimeModel;
use crate::models::diffusion::ode::Tolerance;
use crate::models::diffusion::reverse::{self, Method, Start};
use crate::models::diffusion::single::TimeModel32;
use crate::models::diffusion::TimeScore;
use crate::models::nn::Precision;

/// The reverse-time samplers of the command line, with their settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReverseKind {
    /// Euler–Maruyama on the reverse SDE, 1,000 steps.
    Sde,
    /// Predictor–corrector: 500 reverse-diffusion steps, one Langevin corrector each, snr 0.16.
    Pc,
    /// The probability-flow ODE, adaptive Dormand–Prince (rtol = atol = 10⁻⁵).
    Ode,
    /// DDIM without noise, 100 steps.
    Ddim,
    /// EDM's Heun sampler, 40 levels.
    Heun,
    /// DPM-Solver++(2M), 20 steps (20 network evaluations).
    Dpmpp,
    /// UniPC (DPM-Solver++(2M) with the UniC corrector), 20 steps.
    Unipc,
}

impl ReverseKind {
    /// The method behind the name.
    pub fn method(self) -> Method {
        match self {
            ReverseKind::Sde => Method::EulerMaruyama { steps: 1000 },
            ReverseKind::Pc => Method::PredictorCorrector {
                steps: 500,
                corrector_steps: 1,
                snr: 0.16,
            },
            ReverseKind::Ode => Method::ProbabilityFlowAdaptive(Tolerance::default()),
            ReverseKind::Ddim => Method::Ddim {
                steps: 100,
                eta: 0.0,
            },
            ReverseKind::Heun => Method::EdmHeun { steps: 40 },
            ReverseKind::Dpmpp => Method::DpmSolverPp { steps: 20 },
            ReverseKind::Unipc => Method::UniPc { steps: 20 },
        }
    }

    /// The sampler a model on `sde` takes when none is named: the reverse SDE, or the adaptive
    /// probability-flow ODE on the straight path of flow matching (whose reverse SDE is not simulated).
    pub fn default_for(sde: &crate::models::diffusion::Sde) -> Self {
        if sde.stochastic_sampling() {
            ReverseKind::Sde
        } else {
            ReverseKind::Ode
        }
    }

    /// The method with `steps` steps instead of its own (levels for Heun); `None` keeps its own. An error for
    /// the adaptive ODE, which chooses its steps.
    ///
    /// ```
    /// use stein::models::diffusion::reverse::Method;
    /// use stein::run::diffusion::ReverseKind;
    /// assert_eq!(ReverseKind::Dpmpp.method_with(Some(10)).unwrap(), Method::DpmSolverPp { steps: 10 });
    /// assert!(ReverseKind::Ode.method_with(Some(10)).is_err());
    /// ```
    pub fn method_with(self, steps: Option<usize>) -> Result<Method, RunError> {
        let Some(n) = steps else {
            return Ok(self.method());
        };
        Ok(match self.method() {
            Method::EulerMaruyama { .. } => Method::EulerMaruyama { steps: n },
            Method::PredictorCorrector {
                corrector_steps,
                snr,
                ..
            } => Method::PredictorCorrector {
                steps: n,
                corrector_steps,
                snr,
            },
            Method::ProbabilityFlow { solver, .. } => Method::ProbabilityFlow { steps: n, solver },
            Method::Ddim { eta, .. } => Method::Ddim { steps: n, eta },
            Method::EdmHeun { .. } => Method::EdmHeun { steps: n },
            Method::DpmSolverPp { .. } => Method::DpmSolverPp { steps: n },
            Method::UniPc { .. } => Method::UniPc { steps: n },
            Method::ProbabilityFlowAdaptive(_) => {
                return Err(RunError::Usage(format!(
                    "steps {n}: the adaptive ODE chooses its own steps"
                )))
            }
        })
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ReverseKind::Sde => "sde",
            ReverseKind::Pc => "pc",
            ReverseKind::Ode => "ode",
            ReverseKind::Ddim => "ddim",
            ReverseKind::Heun => "heun",
            ReverseKind::Dpmpp => "dpmpp",
            ReverseKind::Unipc => "unipc",
        }
    }
}

/// `n` samples of a diffusion model in data coordinates, and about `frames` + 1 snapshots of the particles
/// from noise to data (none when `frames` is 0); the network runs in `precision` ([`TimeModel32`] for f32).
///
/// ```
/// use rand::SeedableRng;
/// use stein::models::diffusion::{net::{Output, TimeModel}, Sde};
/// use stein::models::nn::Precision;
/// use stein::run::diffusion::{sample_diffusion, ReverseKind};
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let model = TimeModel::new(2, &[16], Output::Noise, Sde::vp(0.1, 20.0).unwrap(), &mut rng).unwrap();
/// let method = ReverseKind::Ddim.method();
/// let (x, frames) = sample_diffusion(&model, &method, 10, 1, 5, Precision::F32).unwrap();
/// assert_eq!(x.shape(), (10, 2));
/// assert_eq!(frames.len(), 6);
/// ```
pub fn sample_diffusion(
    model: &TimeModel,
    method: &Method,
    n: usize,
    seed: u64,
    frames: usize,
    precision: Precision,
) -> Result<(Tensor, Vec<Tensor>), RunError> {
    let single = (precision == Precision::F32).then(|| TimeModel32::new(model));
    let score: &dyn TimeScore = match &single {
        Some(s) => s,
        None => model,
    };
    let mut snaps: Vec<Tensor> = Vec::new();
    let every = match *method {
        Method::EulerMaruyama { steps }
        | Method::Ddim { steps, .. }
        | Method::DpmSolverPp { steps }
        | Method::UniPc { steps }
        | Method::EdmHeun { steps } => (steps / frames.max(1)).max(1),
        Method::PredictorCorrector { steps, .. } => (steps / frames.max(1)).max(1),
        _ => 1,
    };
    let (x, _) = reverse::sample_with(
        score,
        &model.sde,
        method,
        Start::Prior(n),
        seed,
        &mut |k, _, x| {
            if frames > 0 && (k == 1 || k % every == 0) {
                snaps.push(x.clone());
            }
        },
    )?;
    let to_data = |mut t: Tensor| {
        if let Some(st) = &model.standardization {
            st.to_data(&mut t);
        }
        t
    };
    if frames > 0 && snaps.last() != Some(&x) {
        snaps.push(x.clone());
    }
    let x = to_data(x);
    if let Some(i) = x.data().iter().position(|v| !v.is_finite()) {
        return Err(RunError::Usage(format!(
            "sample {} is not finite in data coordinates (the model's standardisation maps it beyond f64)",
            i / x.cols().max(1)
        )));
    }
    Ok((x, snaps.into_iter().map(to_data).collect()))
}

/// The largest coordinate (model coordinates) the likelihood feeds the f32 network; points beyond it take the
/// f64 tape.
const F32_INPUT_LIMIT: f64 = 1e30;

/// log p(x) of each row of `x` (data coordinates) under a diffusion model, through the probability-flow ODE:
/// the exact divergence up to 8 dimensions, Hutchinson's estimator with 4 Rademacher probes above; the
/// standardisation's log-determinant is included, so the figures are densities of the data. The network
/// runs in `precision`: f64 on the tape (reverse mode), or f32 in forward mode ([`TimeModel32`]), several
/// times faster at the same figures to about 10⁻³ nats (unless a point lies beyond f32's comfortable range,
/// |x| ≥ 10³⁰ in model coordinates: then the tape); the ODE's state is f64 in both.
pub fn likelihood(
    model: &TimeModel,
    x: &Tensor,
    seed: u64,
    precision: Precision,
) -> Result<LogLikelihood, RunError> {
    if x.cols() != model.dim {
        return Err(RunError::Usage(format!(
            "points of dimension {}, the model has {}",
            x.cols(),
            model.dim
        )));
    }
    let mut z = x.clone();
    if let Some(st) = &model.standardization {
        st.to_model(&mut z);
    }
    let divergence = if model.dim <= 8 {
        Divergence::Exact
    } else {
        Divergence::Hutchinson {
            probes: 4,
            rademacher: true,
        }
    };
    // f32 holds the points the network is fed while they are well inside its range; beyond it the tape
    let representable = z.data().iter().all(|v| v.abs() < F32_INPUT_LIMIT);
    let single;
    let network: &dyn TimeDivergence = match precision {
        Precision::F32 if representable => {
            single = TimeModel32::new(model);
            &single
        }
        _ => model,
    };
    let mut ll = log_likelihood(
        network,
        &model.sde,
        &z,
        divergence,
        &Tolerance::default(),
        seed,
    )?;
    let log_det = model
        .standardization
        .as_ref()
        .map_or(0.0, |st| st.log_det());
    let d = model.dim as f64;
    for (nats, bits) in ll.nats.iter_mut().zip(ll.bits_per_dim.iter_mut()) {
        *nats -= log_det;
        *bits = -*nats / (d * std::f64::consts::LN_2);
    }
    Ok(ll)
}
