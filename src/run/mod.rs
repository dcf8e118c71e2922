//! Jobs on trained models, as library calls (the `stein` command line and the examples use them): draw
//! samples from a model in data coordinates, and measure samples against held-out data.
//!
//! ```
//! use rand::SeedableRng;
//! use stein::models::data::Toy;
//! use stein::models::fit::FitOptions;
//! use stein::models::network::Network;
//! use stein::models::recipe::Recipe;
//! use stein::run::{evaluate, sample_model, uniform_init, SamplerKind};
//!
//! let data = Toy::TwoMoons.sample(500, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! let recipe = Recipe::ebm().hidden(&[16, 16]).steps(200);    // a small energy model, briefly trained
//! let mut trainer = recipe.build(&data, 0).unwrap();
//! trainer.fit(&data, &FitOptions::steps(recipe.steps)).unwrap();
//! let averaged = trainer.averaged(); // the model the run stands for
//! let Network::Model(model) = &averaged else { unreachable!() };
//! let init = uniform_init(&[(-3.0, 3.0), (-3.0, 3.0)], 50, 1);
//! let (draws, run) = sample_model(model, SamplerKind::Mala, &init, 7).unwrap();
//! assert_eq!(draws.shape(), (50, 2));
//! assert!(run.acceptance() > 0.0);
//! let e = evaluate(model, &draws, &data).unwrap();
//! assert!(e.mmd2.is_finite() && e.ksd2.is_finite());
//! //! ```

#[cfg(feature = "io")]
pub mod diffusion;
mod evaluate;
pub mod quality;
mod sample;

pub use evaluate::{
    evaluate, evaluate_with, model_log_density, subsample_rows, Evaluation, MAX_EVAL_POINTS,
};
pub use sample::{sample_model, sample_model_with, SampleOptions, Sampled};

use crate::autodiff::Tensor;
use crate::models::nn::{Conditioning, Kind, Model};
use crate::models::sample::SampleError;
use crate::models::ModelError;
use crate::scores::ScoreError;
use rand::{RngExt, SeedableRng};

/// Everything a job can fail with, each naming what went wrong in one line.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// From models, data or files.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// From scores, statistics or pictures.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// From a sampler.
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// A request that cannot be served (a sampler the model cannot run, an empty request).
    #[error("{0}")]
    Usage(String),
}

/// Which sampler draws from a trained model. Each chain starts at one row of the starting points and keeps
/// its final state; kernels with an acceptance statistic adapt their step size and a diagonal metric in the
/// warm-up (Stan's windows, per chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    /// Unadjusted Langevin, ε = 10⁻³ (in model coordinates), 1,000 steps.
    Ula,
    /// Metropolis-adjusted Langevin: 1,000 transitions, the first 999 adapting h towards acceptance 0.574.
    Mala,
    /// Hamiltonian Monte Carlo, 10 jittered leapfrog steps: 1,000 transitions, the first 999 adapting ε
    /// towards acceptance 0.8 (energy models).
    Hmc,
    /// NUTS: 300 transitions, the first 299 adapting ε towards acceptance 0.8 (energy models).
    Nuts,
    /// Annealed Langevin over the model's σ ladder, 100 steps per level with ε = σ_L²/20, so the last level
    /// relaxes in about 20 steps (noise-conditional models).
    Annealed,
}

impl SamplerKind {
    /// The sampler a model takes when none is named: annealed Langevin for noise-conditional models, MALA
    /// for energy models (they have a log-density), ULA for score networks.
    pub fn default_for(model: &Model) -> Self {
        if model.conditioning != Conditioning::None {
            SamplerKind::Annealed
        } else if model.kind == Kind::Energy {
            SamplerKind::Mala
        } else {
            SamplerKind::Ula
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Ula => "ula",
            SamplerKind::Mala => "mala",
            SamplerKind::Hmc => "hmc",
            SamplerKind::Nuts => "nuts",
            SamplerKind::Annealed => "annealed",
        }
    }

    /// Whether `model` can be sampled this way; the error says what to use instead.
    pub fn check(self, model: &Model) -> Result<(), RunError> {
        let conditioned = model.conditioning != Conditioning::None;
        match self {
            SamplerKind::Annealed if !conditioned => Err(RunError::Usage(
                "annealed Langevin needs a noise-conditional model: train with --loss ncsn, or pick --sampler ula|mala|hmc|nuts".into(),
            )),
            SamplerKind::Mala | SamplerKind::Hmc | SamplerKind::Nuts if model.kind == Kind::Score => Err(RunError::Usage(
                "MALA, HMC and NUTS need an energy model (a log-density): use --model energy or --sampler ula".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// `n` points uniform on the box `frame` (one `(lo, hi)` per coordinate), seeded: starting points spread
/// over the data's range.
pub fn uniform_init(frame: &[(f64, f64)], n: usize, seed: u64) -> Tensor {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    Tensor::from_fn(n, frame.len(), |_, j| {
        let (lo, hi) = frame[j];
        lo + (hi - lo) * rng.random::<f64>()
    })
}
