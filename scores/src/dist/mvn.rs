use crate::density::{Analytic, LogDensity, Sample};
use crate::error::{finite_all, ScoreError};
use crate::linalg::Cholesky;
use rand::Rng;
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;
use stein_autodiff::Real;

/// The multivariate normal N(μ, Σ), held as μ and the Cholesky factor L of Σ (never an explicit inverse).
///
/// # Density and score
/// log p(x) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ log det(2πΣ); s(x) = −Σ⁻¹ (x − μ) (two triangular solves);
/// Laplacian −tr Σ⁻¹.
///
/// # Parameters
/// Σ symmetric positive-definite (full), or positive variances (diagonal), or σ > 0 (isotropic).
///
/// # Example
/// ```
/// use stein_scores::{MultivariateNormal, Score};
/// let g = MultivariateNormal::new(vec![0.0, 0.0], vec![vec![2.0, 0.5], vec![0.5, 1.0]]).unwrap();
/// let s = g.score(&[1.0, 0.0]);                 // −Σ⁻¹ x
/// assert!((s[0] + 1.0 / 1.75).abs() < 1e-12 && (s[1] - 0.5 / 1.75).abs() < 1e-12);
/// assert!(MultivariateNormal::new(vec![0.0], vec![vec![-1.0]]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultivariateNormal {
    mean: Vec<f64>,
    chol: Cholesky,
}

impl MultivariateNormal {
    /// Full covariance (row by row).
    pub fn new(mean: Vec<f64>, cov: Vec<Vec<f64>>) -> Result<Self, ScoreError> {
        finite_all("mean", &mean)?;
        let chol = Cholesky::new("cov", &cov)?;
        crate::error::dim_eq("mean", chol.dim(), mean.len())?;
        Ok(MultivariateNormal { mean, chol })
    }

    /// Diagonal covariance diag(var).
    pub fn diagonal(mean: Vec<f64>, var: Vec<f64>) -> Result<Self, ScoreError> {
        finite_all("mean", &mean)?;
        crate::error::dim_eq("var", mean.len(), var.len())?;
        for &v in &var {
            crate::error::positive_normal("var", v)?;
        }
        Ok(MultivariateNormal {
            chol: Cholesky::diagonal(&var),
            mean,
        })
    }

    /// Isotropic covariance σ² I.
    pub fn isotropic(mean: Vec<f64>, sigma: f64) -> Result<Self, ScoreError> {
        crate::error::scale("sigma", sigma)?;
        let var = vec![sigma * sigma; mean.len()];
        Self::diagonal(mean, var)
    }

    /// μ.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }
    /// Σ.
    pub fn covariance(&self) -> Vec<Vec<f64>> {
        self.chol.covariance()
    }
    /// The Cholesky factor of Σ.
    pub fn cholesky(&self) -> &Cholesky {
        &self.chol
    }

    /// −½ (x − μ)ᵀ Σ⁻¹ (x − μ), generic.
    pub(crate) fn quad<S: Real>(&self, x: &[S]) -> S {
        let d = self.mean.len();
        let r: Vec<S> = x.iter().zip(&self.mean).map(|(&xi, &m)| xi - m).collect();
        let mut z = vec![S::cst(0.0); d];
        self.chol.solve_lower(&r, &mut z);
        let q: S = z.iter().map(|&v| v * v).sum();
        -q * 0.5
    }
}

impl LogDensity for MultivariateNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len(
            "MultivariateNormal::log_prob",
            x.len(),
            LogDensity::dim(self),
        );
        self.quad(x)
    }
}

impl Analytic for MultivariateNormal {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        self.log_prob_and_score(x, out);
    }
    fn log_prob_and_score(&self, x: &[f64], out: &mut [f64]) -> f64 {
        for ((o, xi), m) in out.iter_mut().zip(x).zip(&self.mean) {
            *o = xi - m;
        }
        let q = self.chol.solve_in_place(out);
        out.iter_mut().for_each(|o| *o = -*o);
        -0.5 * q
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len(
            "MultivariateNormal::laplacian",
            x.len(),
            LogDensity::dim(self),
        );
        -self.chol.trace_inverse()
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(0.5 * (self.mean.len() as f64 * (2.0 * PI).ln() + self.chol.log_det()))
    }
}

impl Sample for MultivariateNormal {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let z: Vec<f64> = (0..self.mean.len())
            .map(|_| StandardNormal.sample(rng))
            .collect();
        self.chol.mul_lower(&z, out);
        for (o, m) in out.iter_mut().zip(&self.mean) {
            *o += m;
        }
    }
}
