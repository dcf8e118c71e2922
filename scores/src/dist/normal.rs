use crate::density::{Analytic, LogDensity, Sample};
use crate::error::ScoreError;
use rand::Rng;
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;
use stein_autodiff::Real;

/// The normal distribution N(μ, σ²) on ℝ.
///
/// # Density and score
/// log p(x) = −(x − μ)² / (2σ²) − ½ log(2πσ²); s(x) = −(x − μ)/σ²; Laplacian −1/σ².
///
/// # Parameters
/// σ > 0, μ finite.
///
/// # Example
/// ```
/// use stein_scores::{Analytic, Normal, Score};
/// let n = Normal::new(1.0, 2.0).unwrap();
/// assert_eq!(n.score(&[3.0]), vec![-0.5]);
/// assert!(Normal::new(0.0, -1.0).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normal {
    mu: f64,
    sigma: f64,
}

impl Normal {
    /// N(μ, σ²); errors unless μ is finite and σ is a usable scale (σ² and 1/σ² finite normal numbers:
    /// about 1.5·10⁻¹⁵⁴ ≤ σ ≤ 1.3·10¹⁵⁴).
    pub fn new(mu: f64, sigma: f64) -> Result<Self, ScoreError> {
        crate::error::finite_all("mu", &[mu])?;
        Ok(Normal {
            mu,
            sigma: crate::error::scale("sigma", sigma)?,
        })
    }
    /// μ.
    pub fn mean(&self) -> f64 {
        self.mu
    }
    /// σ.
    pub fn std_dev(&self) -> f64 {
        self.sigma
    }
}

impl LogDensity for Normal {
    fn dim(&self) -> usize {
        1
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Normal::log_prob", x.len(), LogDensity::dim(self));
        let z = (x[0] - self.mu) / self.sigma;
        -(z * z) * 0.5
    }
}

impl Analytic for Normal {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        out[0] = -(x[0] - self.mu) / (self.sigma * self.sigma);
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Normal::laplacian", x.len(), LogDensity::dim(self));
        -1.0 / (self.sigma * self.sigma)
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(0.5 * (2.0 * PI * self.sigma * self.sigma).ln())
    }
}

impl Sample for Normal {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let z: f64 = StandardNormal.sample(rng);
        out[0] = self.mu + self.sigma * z;
    }
}
