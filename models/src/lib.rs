//! # stein-models
//!
//! Learn scores from data and sample them: MLP score and energy networks ([`nn`]) and diffusion models
//! through SDEs ([`diffusion`]), one value for both ([`network`]), every classic score-matching objective
//! ([`objective`]), one training loop ([`fit`]), the command line's recipes ([`recipe`]), optimisers
//! ([`optim`]), toy data and their exact densities ([`data`]), readouts of a model's quality ([`quality`]), model files ([`io`]), Langevin-type samplers with diagnostics
//! ([`sample`]), and the tests that calibrate samplers and posteriors ([`calibration`]: SBC, exact rank tests
//! of kernels, Geweke's test).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::data::Toy;
//! use stein_models::fit::FitOptions;
//! use stein_models::recipe::Recipe;
//!
//! let data = Toy::EightGaussians.sample(2000, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! let mut trainer = Recipe::ebm().hidden(&[32, 32]).build(&data, 0).unwrap();
//! let report = trainer.fit(&data, &FitOptions::steps(50)).unwrap();
//! assert!(report.final_loss(3).unwrap().is_finite());
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod calibration;
pub mod data;
pub mod diffusion;
mod error;
pub mod fit;
#[cfg(feature = "io")]
pub mod io;
pub mod network;
pub mod nn;
pub mod objective;
pub mod optim;
pub mod progress;
pub mod quality;
pub mod recipe;
pub mod sample;
pub mod shard;

pub use error::ModelError;
