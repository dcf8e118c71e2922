//! Distributions built from others: tempering and Gaussian noise perturbation.

use crate::density::{Analytic, LogDensity, Sample};
use crate::dist::mixture::Mixture;
use crate::dist::mvn::MultivariateNormal;
use crate::dist::normal::Normal;
use crate::error::ScoreError;
use rand::Rng;
use stein_autodiff::Real;

/// The tempered density p^{1/T}: log p / T, score s/T, Laplacian Δ log p / T.
///
/// T > 1 flattens the density (arrows shrink), T < 1 sharpens it.
///
/// ```
/// use stein_scores::{Normal, Score, Tempered};
/// let p = Normal::new(0.0, 1.0).unwrap();
/// let hot = Tempered::new(p.clone(), 2.0).unwrap();
/// assert_eq!(hot.score(&[1.0])[0], p.score(&[1.0])[0] / 2.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tempered<D> {
    inner: D,
    temperature: f64,
}

impl<D> Tempered<D> {
    /// p^{1/T}; errors unless T > 0.
    pub fn new(inner: D, temperature: f64) -> Result<Self, ScoreError> {
        Ok(Tempered {
            inner,
            temperature: crate::error::positive_normal("temperature", temperature)?,
        })
    }
    /// T.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }
    /// The untempered density.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: LogDensity> LogDensity for Tempered<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Tempered::log_prob", x.len(), LogDensity::dim(self));
        self.inner.log_prob(x) / self.temperature
    }
}

impl<D: Analytic> Analytic for Tempered<D> {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        self.inner.analytic_score_into(x, out);
        out.iter_mut().for_each(|o| *o /= self.temperature);
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Tempered::laplacian", x.len(), LogDensity::dim(self));
        self.inner.laplacian(x) / self.temperature
    }
}

/// Distributions whose convolution with N(0, σ²I) is again in the family, in closed form.
pub trait GaussianConvolution: Sized {
    /// The law of x + σz, z ~ N(0, I).
    fn convolve_gaussian(&self, sigma: f64) -> Result<Self, ScoreError>;
}

impl GaussianConvolution for Normal {
    fn convolve_gaussian(&self, sigma: f64) -> Result<Self, ScoreError> {
        crate::error::scale("sigma", sigma)?;
        Normal::new(self.mean(), self.std_dev().hypot(sigma))
    }
}

impl GaussianConvolution for MultivariateNormal {
    fn convolve_gaussian(&self, sigma: f64) -> Result<Self, ScoreError> {
        crate::error::scale("sigma", sigma)?;
        let mut cov = self.covariance();
        for (i, row) in cov.iter_mut().enumerate() {
            row[i] += sigma * sigma;
        }
        MultivariateNormal::new(self.mean().to_vec(), cov)
    }
}

impl<D: Analytic + GaussianConvolution> GaussianConvolution for Mixture<D> {
    fn convolve_gaussian(&self, sigma: f64) -> Result<Self, ScoreError> {
        self.map_components(|c| c.convolve_gaussian(sigma))
    }
}

/// The noise-perturbed density p_σ = p ⊛ N(0, σ²I), exact for Gaussians and Gaussian mixtures (each
/// covariance Σ becomes Σ + σ²I). Its score is the target of denoising score matching at noise level σ.
///
/// ```
/// use stein_scores::{MultivariateNormal, NoisePerturbed, Score};
/// let p = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
/// let q = NoisePerturbed::new(p, 1.0).unwrap();       // N(0, 2I)
/// assert!((q.score(&[1.0, 0.0])[0] + 0.5).abs() < 1e-15);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NoisePerturbed<D> {
    sigma: f64,
    exact: D,
}

impl<D: GaussianConvolution> NoisePerturbed<D> {
    /// p ⊛ N(0, σ²I); errors unless σ > 0.
    pub fn new(base: D, sigma: f64) -> Result<Self, ScoreError> {
        Ok(NoisePerturbed {
            exact: base.convolve_gaussian(sigma)?,
            sigma,
        })
    }
    /// σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    /// The perturbed law as a member of the base family.
    pub fn exact(&self) -> &D {
        &self.exact
    }
}

impl<D: LogDensity> LogDensity for NoisePerturbed<D> {
    fn dim(&self) -> usize {
        self.exact.dim()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("NoisePerturbed::log_prob", x.len(), LogDensity::dim(self));
        self.exact.log_prob(x)
    }
}

impl<D: Analytic> Analytic for NoisePerturbed<D> {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        self.exact.analytic_score_into(x, out)
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("NoisePerturbed::laplacian", x.len(), LogDensity::dim(self));
        self.exact.laplacian(x)
    }
    fn log_normalizer(&self) -> Option<f64> {
        self.exact.log_normalizer()
    }
}

impl<D: Sample> Sample for NoisePerturbed<D> {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        self.exact.sample_into(rng, out)
    }
}
