//! Exact truths: data from a Gaussian mixture Σ wₖ N(μₖ, Σₖ) have, under any of the SDEs, the marginal
//! p_t = Σ wₖ N(α(t) μₖ, α(t)² Σₖ + σ(t)² I) at every t — its score, log-density and Laplacian in closed
//! form. Samplers run on it as on a trained network, and a network's per-t Fisher divergence is measured
//! against it.

use super::{Sde, TimeScore};
use crate::ModelError;
use rayon::prelude::*;
use stein_autodiff::Tensor;
use stein_scores::{Analytic, GaussianMixture, LogDensity, MultivariateNormal};

/// The perturbed marginals p_t of a Gaussian-mixture data law under an SDE.
///
/// ```
/// use stein_models::diffusion::{PerturbedMixture, Sde};
/// use stein_scores::{GaussianMixture, MultivariateNormal};
///
/// let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.0], 0.3).unwrap();
/// let data = GaussianMixture::new(vec![0.5, 0.5], vec![c(-2.0), c(2.0)]).unwrap();
/// let truth = PerturbedMixture::new(data, Sde::vp(0.1, 20.0).unwrap());
/// let p1 = truth.at(1.0).unwrap();              // at t = 1: close to the prior N(0, I)
/// let s = stein_scores::Score::score(&p1, &[0.5, -0.5]);
/// assert!((s[0] + 0.5).abs() < 0.05 && (s[1] - 0.5).abs() < 0.05);
/// ```
#[derive(Clone, Debug)]
pub struct PerturbedMixture {
    data: GaussianMixture,
    sde: Sde,
    t_min: Option<f64>,
}

impl PerturbedMixture {
    /// The marginals of `data` under `sde`.
    pub fn new(data: GaussianMixture, sde: Sde) -> Self {
        PerturbedMixture {
            data,
            sde,
            t_min: None,
        }
    }

    /// The same truth, with samplers ending (and likelihoods starting) at ε = `t_min` rather than the SDE's
    /// default ([`super::time_span`]); an error unless [`super::MIN_T`] ≤ ε ≤ T/2.
    pub fn with_t_min(mut self, t_min: f64) -> Result<Self, ModelError> {
        super::check_t_min(&self.sde, t_min)?;
        self.t_min = Some(t_min);
        Ok(self)
    }

    /// The data law (t = 0).
    pub fn data(&self) -> &GaussianMixture {
        &self.data
    }

    /// The SDE.
    pub fn sde(&self) -> &Sde {
        &self.sde
    }

    /// p_t as a mixture: means α(t) μₖ, covariances α(t)² Σₖ + σ(t)² I; an error for t outside [0, 1].
    pub fn at(&self, t: f64) -> Result<GaussianMixture, ModelError> {
        Sde::check_time(t)?;
        let (a, s) = (self.sde.alpha(t), self.sde.sigma(t));
        let comps = self
            .data
            .components()
            .iter()
            .map(|c| {
                let mean = c.mean().iter().map(|m| a * m).collect();
                let mut cov = c.covariance();
                for (i, row) in cov.iter_mut().enumerate() {
                    row.iter_mut().for_each(|v| *v *= a * a);
                    row[i] += s * s;
                }
                MultivariateNormal::new(mean, cov)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GaussianMixture::new(self.data.weights(), comps)?)
    }

    /// The normalised log p_t(x); an error for t outside [0, 1] or x of another dimension.
    pub fn log_prob_at(&self, x: &[f64], t: f64) -> Result<f64, ModelError> {
        self.check_point(x)?;
        let p = self.at(t)?;
        Ok(p.log_pdf(x).unwrap_or_else(|| p.log_prob(x)))
    }

    /// The Laplacian tr ∇² log p_t(x) (the divergence of the score); errors as [`PerturbedMixture::log_prob_at`].
    pub fn laplacian_at(&self, x: &[f64], t: f64) -> Result<f64, ModelError> {
        self.check_point(x)?;
        Ok(self.at(t)?.laplacian(x))
    }

    fn check_point(&self, x: &[f64]) -> Result<(), ModelError> {
        let d = TimeScore::dim(self);
        if x.len() != d {
            return Err(ModelError::BadParameter {
                param: "x",
                value: format!("a point of dimension {}", x.len()),
                reason: format!("the mixture has dimension {d}"),
            });
        }
        Ok(())
    }
}

impl TimeScore for PerturbedMixture {
    fn dim(&self) -> usize {
        self.data.components().first().map_or(0, |c| c.mean().len())
    }

    fn score_at(&self, x: &Tensor, t: f64, out: &mut Tensor) {
        super::check_score_args("PerturbedMixture::score_at", x, TimeScore::dim(self), t);
        let p = self
            .at(t)
            .expect("α² Σ + σ² I of a valid mixture is positive definite");
        let d = x.cols();
        out.set_zeros(x.rows(), d);
        out.data_mut()
            .par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(i, o)| p.analytic_score_into(x.row_slice(i), o));
    }

    fn t_min(&self) -> Option<f64> {
        self.t_min
    }
}
