//! The values of the command line's choices (clap `ValueEnum`s) and what each stands for in the library.

use clap::ValueEnum;
use stein::models::network::NetworkKind;
use stein::models::nn::Activation;
use stein::models::recipe::{Recipe, SdeKind};
use stein::run::diffusion::ReverseKind;
use stein::run::SamplerKind;

/// What the network outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// A scalar energy E(x); score = −∇E.
    Energy,
    /// The score itself.
    Score,
    /// A time-conditional diffusion model (a score network over t of a forward SDE; see --sde).
    Diffusion,
    /// A flow model: a time-conditional velocity network trained by conditional flow matching on the straight
    /// path x_t = (1 − t) x₀ + t z (see --coupling); sampled by the deterministic samplers.
    Flow,
}

impl ModelArg {
    /// The kind of network (a flow model is a diffusion network on the straight path).
    pub fn kind(self) -> NetworkKind {
        match self {
            ModelArg::Energy => NetworkKind::Energy,
            ModelArg::Score => NetworkKind::Score,
            ModelArg::Diffusion | ModelArg::Flow => NetworkKind::Diffusion,
        }
    }

    /// The library's recipe for it.
    pub fn recipe(self) -> Recipe {
        match self {
            ModelArg::Flow => Recipe::flow(),
            other => Recipe::for_kind(other.kind()),
        }
    }
}

/// How flow matching pairs data and noise in a minibatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CouplingArg {
    /// Independently (I-CFM).
    Independent,
    /// By the optimal-transport assignment within blocks of 64 rows (OT-CFM): straighter paths, a costlier step.
    Ot,
}

impl CouplingArg {
    /// The objective's registered name.
    pub fn objective(self) -> &'static str {
        match self {
            CouplingArg::Independent => "flow-matching",
            CouplingArg::Ot => "flow-matching-ot",
        }
    }
}

/// The forward SDE of a diffusion model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SdeArg {
    /// Variance preserving, β from 0.1 to 20 (DDPM's schedule).
    Vp,
    /// Variance exploding, σ from 0.01 to the data's largest pairwise distance (at least 10).
    Ve,
    /// Sub-VP, β from 0.1 to 20.
    Subvp,
    /// The straight path of flow matching, x_t = (1 − t) x₀ + t z (deterministic samplers only).
    Linear,
}

impl SdeArg {
    /// The recipe's SDE.
    pub fn kind(self) -> SdeKind {
        match self {
            SdeArg::Vp => SdeKind::Vp,
            SdeArg::Ve => SdeKind::Ve,
            SdeArg::Subvp => SdeKind::SubVp,
            SdeArg::Linear => SdeKind::Linear,
        }
    }
}

/// The arithmetic of a diffusion model's network passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// Single precision: twice the speed, the same quality on the benchmarks (parameters and optimiser in f64).
    F32,
    /// Double precision on the tape.
    F64,
}

impl PrecisionArg {
    /// The library's setting.
    pub fn precision(self) -> stein::models::nn::Precision {
        match self {
            PrecisionArg::F32 => stein::models::nn::Precision::F32,
            PrecisionArg::F64 => stein::models::nn::Precision::F64,
        }
    }
}

/// A diffusion model's precision: the flag's, else f32.
pub fn precision_of(flag: Option<PrecisionArg>) -> stein::models::nn::Precision {
    flag.map_or(stein::models::nn::Precision::F32, PrecisionArg::precision)
}

/// The non-linearity of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ActivationArg {
    /// x σ(x).
    Silu,
    /// ln(1 + eˣ).
    Softplus,
    /// tanh x.
    Tanh,
    /// ELU (α = 1).
    Elu,
    /// max(x, 0) (no second derivative: unfit for ism, ssm and energy-model dsm).
    Relu,
}

impl ActivationArg {
    /// The library's activation.
    pub fn activation(self) -> Activation {
        match self {
            ActivationArg::Silu => Activation::Silu,
            ActivationArg::Softplus => Activation::Softplus,
            ActivationArg::Tanh => Activation::Tanh,
            ActivationArg::Elu => Activation::Elu,
            ActivationArg::Relu => Activation::Relu,
        }
    }
}

/// The sampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// Unadjusted Langevin.
    Ula,
    /// Metropolis-adjusted Langevin (energy models).
    Mala,
    /// Hamiltonian Monte Carlo (energy models).
    Hmc,
    /// The No-U-Turn sampler (energy models).
    Nuts,
    /// Annealed Langevin over the σ ladder (noise-conditional models).
    Annealed,
    /// Diffusion: Euler–Maruyama on the reverse SDE, 1,000 steps.
    Sde,
    /// Diffusion: predictor–corrector (reverse diffusion + Langevin, snr 0.16), 500 steps.
    Pc,
    /// Diffusion: the probability-flow ODE, adaptive Dormand–Prince.
    Ode,
    /// Diffusion: DDIM without noise, 100 steps.
    Ddim,
    /// Diffusion: EDM's Heun sampler, 40 levels.
    Heun,
    /// Diffusion: DPM-Solver++(2M), 20 steps (one network evaluation each).
    Dpmpp,
    /// Diffusion: UniPC (DPM-Solver++(2M) with the UniC corrector), 20 steps.
    Unipc,
}

impl SamplerArg {
    /// The sampler of a score or energy model; for a diffusion sampler, the message saying which to use.
    pub fn kind(self) -> Result<SamplerKind, String> {
        match self {
            SamplerArg::Ula => Ok(SamplerKind::Ula),
            SamplerArg::Mala => Ok(SamplerKind::Mala),
            SamplerArg::Hmc => Ok(SamplerKind::Hmc),
            SamplerArg::Nuts => Ok(SamplerKind::Nuts),
            SamplerArg::Annealed => Ok(SamplerKind::Annealed),
            _ => Err(sampler_mismatch(self, false)),
        }
    }

    /// The reverse-time sampler of a diffusion model; for the others, the message saying which to use.
    pub fn reverse(self) -> Result<ReverseKind, String> {
        match self {
            SamplerArg::Sde => Ok(ReverseKind::Sde),
            SamplerArg::Pc => Ok(ReverseKind::Pc),
            SamplerArg::Ode => Ok(ReverseKind::Ode),
            SamplerArg::Ddim => Ok(ReverseKind::Ddim),
            SamplerArg::Heun => Ok(ReverseKind::Heun),
            SamplerArg::Dpmpp => Ok(ReverseKind::Dpmpp),
            SamplerArg::Unipc => Ok(ReverseKind::Unipc),
            _ => Err(sampler_mismatch(self, true)),
        }
    }
}

/// The error for a sampler that does not fit the model.
fn sampler_mismatch(sampler: SamplerArg, diffusion: bool) -> String {
    let name = clap::ValueEnum::to_possible_value(&sampler)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    if diffusion {
        format!("--sampler {name} samples score and energy models; a diffusion model takes --sampler sde|pc|ode|ddim|heun|dpmpp|unipc")
    } else {
        format!("--sampler {name} is a diffusion sampler; this model takes --sampler ula|mala|hmc|nuts|annealed")
    }
}

/// How pictures show data of more than two dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    /// A pair-plot grid of the first four coordinates (and the plane of the first two for animations).
    Pairs,
    /// The plane of the data's first two principal components.
    Pca,
}

/// What an animation of `stein plot` sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AnimateArg {
    /// The noise level σ from 0.05 to 3 (Gaussian-mixture targets: gmm-2d, 8gaussians).
    Sigma,
    /// The temperature T from 0.25 to 8.
    Temperature,
}

/// What `stein plot` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotWhat {
    /// The score field over the log-density (2-D) or both curves (1-D).
    Score,
    /// The log-density alone.
    Density,
}

/// The analytic targets of `stein plot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotTarget {
    /// 0.3 N(−2, 0.6²) + 0.7 N(1.5, 0.9²).
    #[value(name = "gmm-1d")]
    Gmm1d,
    /// A three-component Gaussian mixture in the plane.
    #[value(name = "gmm-2d", alias = "mixture")]
    Gmm2d,
    /// A banana (Rosenbrock-type) density.
    Banana,
    /// Neal's funnel.
    Funnel,
    /// A ring.
    Ring,
    /// Eight Gaussians on a circle.
    #[value(name = "8gaussians")]
    EightGaussians,
    /// Two concentric rings.
    Rings,
    /// Laplace(0, 1).
    Laplace,
    /// Student t, ν = 3.
    StudentT,
}
