//! # stein-models
//!
//! Learn scores from data and sample them: MLP score and energy networks ([`nn`]), optimisers ([`optim`]),
//! every classic score-matching loss ([`loss`]), toy data ([`data`]), model files ([`io`]), a training loop
//! ([`train`]), Langevin-type samplers with diagnostics ([`sample`]), and diffusion models through SDEs
//! ([`diffusion`]).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::data::Toy;
//! use stein_models::loss::Loss;
//! use stein_models::nn::{Activation, Model};
//! use stein_models::train::{TrainConfig, Trainer};
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
//! let data = Toy::EightGaussians.sample(2000, &mut rng);
//! let model = Model::score_net(2, &[64, 64], Activation::Softplus, &mut rng);
//! let mut trainer = Trainer::new(model);
//! let report = trainer.fit(&data, &TrainConfig::new(Loss::Dsm { sigma: 0.5 }, 50)).unwrap();
//! assert!(report.final_loss(3).is_finite());
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod data;
pub mod diffusion;
mod error;
#[cfg(feature = "io")]
pub mod io;
pub mod loss;
pub mod nn;
pub mod optim;
pub mod progress;
pub mod sample;
pub mod shard;
pub mod train;

pub use error::ModelError;
