//! # stein-scores
//!
//! Log-densities and their scores s(x) = ∇ₓ log p(x). A score ignores the normalising constant, so any
//! energy written in Rust has one: write `log_prob` once, generic over [`Real`](stein_autodiff::Real), and
//! [`score`] differentiates it on the tape. Beside that, an analytic catalogue with closed-form scores, the
//! properties users check, property-test helpers and pictures.
//!
//! ```
//! use stein_autodiff::Real;
//! use stein_scores::{score, Analytic, LogDensity, MultivariateNormal, Score};
//!
//! // A user density: a correlated Gaussian written by hand …
//! struct Mine;
//! impl LogDensity for Mine {
//!     fn dim(&self) -> usize { 2 }
//!     fn log_prob<S: Real>(&self, x: &[S]) -> S {
//!         -(x[0] * x[0] * 2.0 - x[0] * x[1] * 2.0 + x[1] * x[1] * 2.0) / 3.0
//!     }
//! }
//! // … against the catalogue's, whose score is in closed form (Σ = [[1, .5], [.5, 1]])
//! let g = MultivariateNormal::new(vec![0.0, 0.0], vec![vec![1.0, 0.5], vec![0.5, 1.0]]).unwrap();
//! let (a, b) = (score(&Mine, &[0.3, -0.4]), g.score(&[0.3, -0.4]));
//! assert!((a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12);
//! assert!((g.laplacian(&[0.0, 0.0]) + 8.0 / 3.0).abs() < 1e-12); // −tr Σ⁻¹
//! ```
//!
//! ## What is here
//! - Traits: [`LogDensity`] (any log-density), [`EnergyFunction`] + [`Energy`] (log p = −E), [`Score`]
//!   (anything with a score), [`Analytic`] (closed-form score, Laplacian, normaliser), [`Sample`] (exact draws).
//! - Autodiff scores: [`score`], [`try_score`], [`laplacian`], [`score_batch`] (parallel), [`AutodiffScore`].
//! - Catalogue: [`Normal`], [`MultivariateNormal`] (full, diagonal, isotropic), [`Mixture`] /
//!   [`GaussianMixture`], [`Laplace`], [`StudentT`], [`MultivariateStudentT`], [`Logistic`], [`Banana`],
//!   [`Funnel`], [`Ring`], [`Tempered`], [`NoisePerturbed`].
//! - Posteriors: [`lpdf`] (log-densities with variable parameters, as Stan's `_lpdf`), [`transform`]
//!   (constraint transforms with their log-Jacobian, and [`transform::Constrained`] to sample constrained
//!   parameters on ℝⁿ), [`linalg::cholesky`] and [`linalg::solve_lower_tri`] on the tape.
//! - Properties: [`expected_score`], [`fisher_information`], [`fisher_divergence`],
//!   [`kernel_stein_discrepancy`], [`mmd`].
//! - Tests with p-values: [`gof`] (KSD with a wild bootstrap, MMD two-sample with permutations, FSSD).
//! - `testing` (feature `testing`): proptest strategies, `testing::assert_score_matches`,
//!   `testing::assert_samples_from` and `testing::assert_same_distribution`.
//! - [`ranks`]: are ranks uniform? The ECDF test with its simultaneous band, a binned χ² and directed tests
//!   of shift and spread, for
//!   simulation-based calibration and rank tests of Markov kernels.
//! - [`plot`] (feature `plot`, default): score fields, 1-D curves, samples over a density (SVG/PNG).
//!
//! Constructors validate their parameters and return [`ScoreError`] naming the parameter; nothing here
//! panics on user parameters.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod density;
mod dist;
mod error;
pub mod files;
pub mod gof;
pub mod linalg;
pub mod lpdf;
mod properties;
pub mod ranks;
pub mod transform;

#[cfg(feature = "plot")]
pub mod plot;
#[cfg(feature = "testing")]
pub mod testing;

pub use density::{
    autodiff, check_point_len, laplacian, score, score_batch, try_score, Analytic, AnalyticScore,
    AutodiffScore, Energy, EnergyFunction, LogDensity, Sample, Score,
};
pub use dist::laplace::Laplace;
pub use dist::logistic::Logistic;
pub use dist::mixture::{GaussianMixture, Mixture};
pub use dist::mixture_batch::MixtureBatch;
pub use dist::mvn::MultivariateNormal;
pub use dist::normal::Normal;
pub use dist::shapes::{Banana, Funnel, Ring};
pub use dist::student_t::{MultivariateStudentT, StudentT};
pub use dist::transform::{GaussianConvolution, NoisePerturbed, Tempered};
pub use error::ScoreError;
pub use properties::{
    expected_score, fisher_divergence, fisher_information, kernel_stein_discrepancy, mmd, mmd_with,
    MonteCarlo, Statistic,
};
