//! # Stein
//!
//! Score-based probabilistic modelling in Rust. This facade re-exports the member crates and the random
//! number crates their APIs use:
//! - [`autodiff`]: a reverse-mode tape that differentiates generic Rust code to any order;
//! - [`scores`]: log-densities and their scores (pictures with feature `plot`, proptest helpers with
//!   feature `testing`);
//! - [`models`]: networks, losses, samplers, training (model files and CSV with feature `io`);
//! - [`run`]: jobs on trained models (sampling in data coordinates, evaluation);
//! - [`tasks`]: the benchmark tasks (T1–T4) as code;
//! - [`rand`] and [`rand_distr`]: the versions Stein's `Rng` bounds are written against, so user code that
//!   names `stein::rand` always matches.
//!
//! Features: `cli` (the `stein` binary), `plot`, `io` (all three on by default), `progress`, `testing`.
//! With `default-features = false` the facade is the library alone: autodiff, scores, models.
//!
//! ```
//! use stein::rand::SeedableRng;
//! use stein::models::data::Toy;
//! let mut rng = stein::rand::rngs::SmallRng::seed_from_u64(0);
//! let moons = Toy::TwoMoons.sample(100, &mut rng);
//! assert_eq!(moons.shape(), (100, 2));
//! ```
#![deny(missing_docs)]

pub use rand;
pub use rand_distr;
// inlined, so that `cargo doc -p stein` documents the whole library under these modules
#[doc(inline)]
pub use stein_autodiff as autodiff;
#[doc(inline)]
pub use stein_models as models;
#[doc(inline)]
pub use stein_scores as scores;

pub mod run;
pub mod tasks;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "cli"))]
pub struct ReadmeDoctests;
