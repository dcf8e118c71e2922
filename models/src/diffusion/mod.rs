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

pub mod likelihood;
pub mod net;
pub mod ode;
pub mod reverse;
mod sde;
pub mod single;
mod truth;

pub use sde::{Schedule, Sde, MAX_BETA, VE_SIGMA_RANGE};
pub use truth::PerturbedMixture;

use crate::ModelError;
use stein_autodiff::Tensor;

/// A time-dependent score s(x, t) = ∇ₓ log p_t(x), evaluated on a batch of points: a trained network or an
/// exact truth.
pub trait TimeScore: Sync {
    /// The dimension of the points.
    fn dim(&self) -> usize;
    /// The scores of the rows of `x` at time `t`, into `out` (resized to the shape of `x`).
    ///
    /// # Panics
    /// When `x` does not have [`TimeScore::dim`] columns, or `t` is not a time the score is defined at (outside
    /// [0, 1], NaN, or — for a network that reads its output as noise — a time where σ(t) = 0): programmer
    /// errors, since the samplers and the likelihood only ask within [ε, T]. The message names both.
    fn score_at(&self, x: &Tensor, t: f64, out: &mut Tensor);
    /// The earliest time ε the score is meant for — a trained model's interval [ε, T] (samplers end there,
    /// the likelihood starts there); `None` (the default): the SDE's own, [`Sde::time_range`].
    fn t_min(&self) -> Option<f64> {
        None
    }
}

/// The interval [ε, T] of a score under `sde`: ε from [`TimeScore::t_min`] if it has one, else from
/// [`Sde::time_range`], which also gives T. Training, every sampler and the likelihood take their times from
/// here.
///
/// ```
/// use stein_models::diffusion::{time_span, PerturbedMixture, Sde};
/// use stein_scores::{GaussianMixture, MultivariateNormal};
///
/// let g = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
/// let data = GaussianMixture::new(vec![1.0], vec![g]).unwrap();
/// let sde = Sde::vp(0.1, 20.0).unwrap();
/// assert_eq!(time_span(&PerturbedMixture::new(data.clone(), sde), &sde), (1e-5, 1.0));
/// let truth = PerturbedMixture::new(data, sde).with_t_min(1e-3).unwrap();
/// assert_eq!(time_span(&truth, &sde), (1e-3, 1.0));
/// ```
pub fn time_span<S: TimeScore + ?Sized>(score: &S, sde: &Sde) -> (f64, f64) {
    let (eps, big_t) = sde.time_range();
    (score.t_min().unwrap_or(eps), big_t)
}

/// Panic, naming both, when the points `x` do not have the score's dimension or `t` is outside [0, 1]
/// ([`TimeScore::score_at`]'s contract).
#[track_caller]
pub(crate) fn check_score_args(what: &str, x: &Tensor, dim: usize, t: f64) {
    assert!(
        x.cols() == dim,
        "{what}: the points have {} columns, the score's dimension is {dim}",
        x.cols()
    );
    assert!(
        (0.0..=1.0).contains(&t),
        "{what}: t = {t} is outside [0, 1], the SDE's times"
    );
}

/// The smallest start time ε a score may have: below it σ(ε) (10⁻⁴ for VP at 10⁻⁷) is so small that the
/// network's s = −ε̂/σ and the probability-flow ODE near t = ε become stiff beyond any use (at ε = 10⁻³⁰⁰ the
/// likelihood's solver ran for minutes before its step limit).
pub const MIN_T: f64 = 1e-7;

/// Check a start time ε for `sde`: in [[`MIN_T`], T/2].
pub(crate) fn check_t_min(sde: &Sde, t_min: f64) -> Result<(), ModelError> {
    let big_t = sde.time_range().1;
    if (MIN_T..=0.5 * big_t).contains(&t_min) {
        Ok(())
    } else {
        Err(ModelError::BadParameter {
            param: "t_min",
            value: format!("{t_min:?}"),
            reason: format!("the earliest time must lie in [{MIN_T:e}, {}]", 0.5 * big_t),
        })
    }
}
