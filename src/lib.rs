//! # Stein
//!
//! Score-based probabilistic modelling in Rust. This facade re-exports the member crates:
//! - [`autodiff`]: a reverse-mode tape that differentiates generic Rust code to any order;
//! - [`scores`]: log-densities and their scores;
//! - [`models`]: networks, losses and samplers;
//! - [`tasks`]: the benchmark tasks (T1–T4) as code;
//! - [`app`]: the jobs behind the `stein` command line.
#![deny(missing_docs)]

pub use stein_autodiff as autodiff;
pub use stein_models as models;
pub use stein_scores as scores;

pub mod app;
pub mod tasks;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
