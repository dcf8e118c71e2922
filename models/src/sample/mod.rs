//! Samplers as kernels. Each method is one module with a `Params` struct and a pure transition in BlackJAX's
//! shape, `step(&mut state, target, &params, rng) -> Info`: [`ula`], [`mala`], [`hmc`], [`nuts`] (the default
//! for log-densities), [`annealed`] Langevin, plus the particle method [`svgd`] and minibatch [`sgld`].
//! Two drivers run any kernel over many chains with Stan's warm-up ([`adapt`]): [`sample`] (each chain on its
//! own, in parallel) and [`sample_batched`] (the requests of a block of chains in one tensor pass, for
//! networks). Chain c draws from its own RNG stream (seed, c), so the draws are bit-identical whatever the
//! driver or the number of threads. A non-finite log-density or score at a proposal is a rejection (a
//! divergence for HMC and NUTS), never an abort; at the start it is an error naming the chain and the point.
//! [`Draws`] holds the result, with diagnostics ([`diagnostics`]), a summary table ([`Summary`]) and the
//! target's notes (a [`Compiled`] density that ran on the tape says so, and why, once per run).
//!
//! ```
//! use stein_models::sample::{sample, Autodiff, Config};
//! use stein_scores::LogDensity;
//! use stein_autodiff::Real;
//!
//! /// A correlated 2-d Gaussian, written by hand.
//! struct Tilted;
//! impl LogDensity for Tilted {
//!     fn dim(&self) -> usize { 2 }
//!     fn log_prob<S: Real>(&self, x: &[S]) -> S {
//!         let (a, b) = (x[0], x[1] - x[0] * 0.8);
//!         -(a * a) * 0.5 - b * b * (0.5 / 0.36)
//!     }
//! }
//! let draws = sample(&Autodiff(&Tilted), &Config::default().seed(1)).unwrap(); // NUTS, 4 chains
//! let summary = draws.summary();
//! assert!(summary.is_ok(), "{summary}");
//! assert!((draws.covariance()[0][1] - 0.8).abs() < 0.1);
//! ```
//!
//! Adding a sampler: one file with its `Params` (implementing [`Tunable`]), its `Work` and a [`Kernel`]
//! impl (`begin` proposes and names the first point to evaluate, `resume` takes the value there), plus one
//! line in `tests/samplers.rs`' invariance table; both drivers, warm-up and diagnostics come for free.

pub mod adapt;
pub mod annealed;
mod chain;
pub mod cmdstan;
pub mod diagnostics;
mod draws;
mod driver;
pub mod hmc;
mod kernel;
pub mod mala;
mod metric;
pub mod nuts;
pub mod pathfinder;
pub mod psis;
pub mod score_fit;
pub mod sgld;
mod summary;
pub mod svgd;
mod target;
mod tensor_density;
pub mod ula;

pub use chain::MAX_INIT_TRIES;
pub use draws::{Chain, Draws};
pub use driver::{chain_rng, sample, sample_batched, Config, Init, MAX_STORED_VALUES};
pub use kernel::{step, Eval, Info, Kernel, Progress, State, Tunable};
pub use metric::{DenseMetric, LowRankMetric, Metric};
pub use summary::{Row, Summary, EBFMI_LIMIT, ESS_LIMIT, RHAT_LIMIT};
pub use target::{
    Autodiff, BatchTarget, Compiled, Exact, PerturbedLadder, Rows, ScoreOnly, Target,
};
pub use tensor_density::TensorDensity;

/// Errors of the samplers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    /// MALA, HMC and NUTS need log p, and the target has only a score.
    #[error("{method} needs a target with a log-density (this target only has a score): use ULA or annealed Langevin")]
    NeedsLogDensity {
        /// The method.
        method: &'static str,
    },
    /// A chain has no finite starting point.
    #[error("chain {chain} cannot start: {reason} x = {}", show_point(point))]
    BadStart {
        /// The chain.
        chain: usize,
        /// What is not finite there.
        reason: String,
        /// The (last) point tried.
        point: Vec<f64>,
    },
    /// The target is not finite where a method cannot step around it (SVGD's particles).
    #[error("{reason} at x = {}", show_point(point))]
    NonFinite {
        /// Where and what.
        reason: String,
        /// The point.
        point: Vec<f64>,
    },
    /// A setting is out of range.
    #[error("parameter `{param}`: {reason}")]
    BadParameter {
        /// The setting.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A point for a message: every coordinate up to 8, else the first 6 and the count.
fn show_point(x: &[f64]) -> String {
    let f = |v: &[f64]| {
        v.iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if x.len() <= 8 {
        format!("[{}]", f(x))
    } else {
        format!("[{}, … ({} coordinates)]", f(&x[..6]), x.len())
    }
}
