//! The values of the command line's choices (clap `ValueEnum`s) and what each stands for in the library.

use clap::ValueEnum;
use stein::models::loss::{Loss, Projection};
use stein::models::nn::Kind;
use stein::run::SamplerKind;

/// What the network outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// A scalar energy E(x); score = −∇E.
    Energy,
    /// The score itself.
    Score,
}

impl ModelArg {
    pub fn kind(self) -> Kind {
        match self {
            ModelArg::Energy => Kind::Energy,
            ModelArg::Score => Kind::Score,
        }
    }
}

/// The training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// Denoising score matching at one σ.
    Dsm,
    /// Multi-noise denoising (noise-conditional model).
    Ncsn,
    /// Sliced score matching (Rademacher projections).
    Ssm,
    /// Sliced score matching, variance-reduced (Gaussian projections).
    SsmVr,
    /// Implicit score matching, exact trace.
    Ism,
    /// Noise-contrastive estimation (energy models).
    Nce,
    /// Contrastive divergence with Langevin negatives (energy models).
    Cd,
}

impl LossArg {
    /// The loss, with the σ ladder fitted to the data for the denoising losses (in model coordinates).
    pub fn loss(self, sigmas: &[f64]) -> Loss {
        match self {
            LossArg::Dsm => Loss::Dsm {
                sigma: sigmas[sigmas.len() / 2],
            },
            LossArg::Ncsn => Loss::Ncsn {
                sigmas: sigmas.to_vec(),
            },
            LossArg::Ssm => Loss::Ssm {
                projections: 1,
                variance_reduced: false,
                projection: Projection::Rademacher,
            },
            LossArg::SsmVr => Loss::Ssm {
                projections: 1,
                variance_reduced: true,
                projection: Projection::Gaussian,
            },
            LossArg::Ism => Loss::Ism,
            LossArg::Nce => Loss::Nce,
            LossArg::Cd => Loss::Cd {
                steps: 20,
                step_size: 1e-3,
                alpha: 0.1,
            },
        }
    }

    /// The flag's value, as the loss names itself ([`Loss::name`]).
    pub fn name(self) -> &'static str {
        match self {
            LossArg::Dsm => "dsm",
            LossArg::Ncsn => "ncsn",
            LossArg::Ssm => "ssm",
            LossArg::SsmVr => "ssm-vr",
            LossArg::Ism => "ism",
            LossArg::Nce => "nce",
            LossArg::Cd => "cd",
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
}

impl SamplerArg {
    pub fn kind(self) -> SamplerKind {
        match self {
            SamplerArg::Ula => SamplerKind::Ula,
            SamplerArg::Mala => SamplerKind::Mala,
            SamplerArg::Hmc => SamplerKind::Hmc,
            SamplerArg::Nuts => SamplerKind::Nuts,
            SamplerArg::Annealed => SamplerKind::Annealed,
        }
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
