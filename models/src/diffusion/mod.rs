//! Score-based generative modelling through SDEs (Song, Sohl-Dickstein, Kingma, Kumar, Ermon & Poole 2021):
//! forward SDEs with closed-form marginals ([`Sde`]), exact time-dependent scores of perturbed Gaussian
//! mixtures ([`PerturbedMixture`]), reverse-time samplers ([`reverse`]: Euler–Maruyama, predictor–corrector,
//! the probability-flow ODE with Heun, RK4 or adaptive Dormand–Prince), and log-likelihoods through the
//! probability-flow ODE ([`likelihood`]).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::diffusion::{reverse, PerturbedMixture, Sde};
//! use stein_scores::{GaussianMixture, MultivariateNormal};
//!
//! let c = |m: f64| MultivariateNormal::isotropic(vec![m, 1.0], 0.3).unwrap();
//! let data = GaussianMixture::new(vec![0.3, 0.7], vec![c(-2.0), c(2.0)]).unwrap();
//! let truth = PerturbedMixture::new(data, Sde::vp(0.1, 20.0).unwrap());
//! // noise to data along the reverse-time SDE with the exact score
//! let x = reverse::sample(&truth, truth.sde(), &reverse::Method::EulerMaruyama { steps: 500 }, 400, 7).unwrap();
//! let right = (0..400).filter(|&i| x.get(i, 0) > 0.0).count() as f64 / 400.0;
//! assert!((right - 0.7).abs() < 0.08);
//! ```

#[cfg(feature = "io")]
pub mod file;
pub mod likelihood;
pub mod net;
pub mod ode;
pub mod reverse;
mod sde;
pub mod train;
mod truth;

pub use sde::{Schedule, Sde};
pub use truth::PerturbedMixture;

use stein_autodiff::Tensor;

/// A time-dependent score s(x, t) = ∇ₓ log p_t(x), evaluated on a batch of points: a trained network or an
/// exact truth.
pub trait TimeScore: Sync {
    /// The dimension of the points.
    fn dim(&self) -> usize;
    /// The scores of the rows of `x` at time `t`, into `out` (resized to the shape of `x`).
    fn score_at(&self, x: &Tensor, t: f64, out: &mut Tensor);
}
