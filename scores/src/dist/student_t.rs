use crate::density::{Analytic, LogDensity, Sample};
use crate::error::{finite_all, positive, ScoreError};
use crate::linalg::Cholesky;
use rand::Rng;
use rand_distr::{ChiSquared, Distribution as _, StandardNormal};
use std::f64::consts::PI;
use stein_autodiff::special::lgamma;
use stein_autodiff::Real;

/// Student's t on ℝ with location μ, scale s and ν degrees of freedom.
///
/// # Density and score
/// log p(x) = −(ν + 1)/2 · log(1 + z²/ν) + const, z = (x − μ)/s;
/// s(x) = −(ν + 1)(x − μ) / (ν s² + (x − μ)²); Laplacian −(ν + 1)(ν s² − r²)/(ν s² + r²)², r = x − μ.
/// Unlike a Gaussian's, the score decays to 0 in the tails.
///
/// # Parameters
/// s > 0, ν > 0.
///
/// # Example
/// ```
/// use stein_scores::{Score, StudentT};
/// let t = StudentT::new(0.0, 1.0, 3.0).unwrap();
/// assert!((t.score(&[1.0])[0] + 4.0 / 4.0).abs() < 1e-15); // −(ν+1)x/(ν + x²)
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StudentT {
    loc: f64,
    scale: f64,
    nu: f64,
}

impl StudentT {
    /// t(μ, s, ν).
    pub fn new(loc: f64, scale: f64, nu: f64) -> Result<Self, ScoreError> {
        finite_all("loc", &[loc])?;
        Ok(StudentT {
            loc,
            scale: crate::error::scale("scale", scale)?,
            nu: positive("nu", nu)?,
        })
    }
}

impl LogDensity for StudentT {
    fn dim(&self) -> usize {
        1
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("StudentT::log_prob", x.len(), LogDensity::dim(self));
        let z = (x[0] - self.loc) / self.scale;
        -((z * z) / self.nu).ln_1p() * ((self.nu + 1.0) * 0.5)
    }
}

impl Analytic for StudentT {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        let r = x[0] - self.loc;
        out[0] = -(self.nu + 1.0) * r / (self.nu * self.scale * self.scale + r * r);
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("StudentT::laplacian", x.len(), LogDensity::dim(self));
        let r = x[0] - self.loc;
        let a = self.nu * self.scale * self.scale;
        -(self.nu + 1.0) * (a - r * r) / ((a + r * r) * (a + r * r))
    }
    fn log_normalizer(&self) -> Option<f64> {
        let nu = self.nu;
        Some(lgamma(nu / 2.0) - lgamma((nu + 1.0) / 2.0) + 0.5 * (nu * PI).ln() + self.scale.ln())
    }
}

impl Sample for StudentT {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let t: f64 = rand_distr::StudentT::new(self.nu)
            .expect("ν > 0 checked")
            .sample(rng);
        out[0] = self.loc + self.scale * t;
    }
}

/// The multivariate Student t with location μ, scale matrix Σ and ν degrees of freedom.
///
/// # Density and score
/// log p(x) = −(ν + d)/2 · log(1 + q/ν) + const, q = (x − μ)ᵀ Σ⁻¹ (x − μ);
/// s(x) = −(ν + d) Σ⁻¹(x − μ) / (ν + q); Laplacian −(ν + d) [tr Σ⁻¹ /(ν + q) − 2 ‖Σ⁻¹(x − μ)‖² /(ν + q)²].
///
/// # Parameters
/// Σ symmetric positive-definite, ν > 0.
#[derive(Clone, Debug, PartialEq)]
pub struct MultivariateStudentT {
    mean: Vec<f64>,
    chol: Cholesky,
    nu: f64,
}

impl MultivariateStudentT {
    /// t(μ, Σ, ν).
    pub fn new(mean: Vec<f64>, scale: Vec<Vec<f64>>, nu: f64) -> Result<Self, ScoreError> {
        finite_all("mean", &mean)?;
        let chol = Cholesky::new("scale", &scale)?;
        crate::error::dim_eq("mean", chol.dim(), mean.len())?;
        Ok(MultivariateStudentT {
            mean,
            chol,
            nu: positive("nu", nu)?,
        })
    }

    fn parts(&self, x: &[f64]) -> (Vec<f64>, f64) {
        let r: Vec<f64> = x.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        let w = self.chol.solve(&r);
        let q = r.iter().zip(&w).map(|(a, b)| a * b).sum();
        (w, q)
    }
}

impl LogDensity for MultivariateStudentT {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len(
            "MultivariateStudentT::log_prob",
            x.len(),
            LogDensity::dim(self),
        );
        let d = self.mean.len();
        let r: Vec<S> = x.iter().zip(&self.mean).map(|(&xi, &m)| xi - m).collect();
        let mut z = vec![S::cst(0.0); d];
        self.chol.solve_lower(&r, &mut z);
        let q: S = z.iter().map(|&v| v * v).sum();
        -(q / self.nu).ln_1p() * ((self.nu + d as f64) * 0.5)
    }
}

impl Analytic for MultivariateStudentT {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        let (w, q) = self.parts(x);
        let f = -(self.nu + self.mean.len() as f64) / (self.nu + q);
        for (o, wi) in out.iter_mut().zip(&w) {
            *o = f * wi;
        }
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len(
            "MultivariateStudentT::laplacian",
            x.len(),
            LogDensity::dim(self),
        );
        let (w, q) = self.parts(x);
        let a = self.nu + q;
        let w2: f64 = w.iter().map(|v| v * v).sum();
        -(self.nu + self.mean.len() as f64) * (self.chol.trace_inverse() / a - 2.0 * w2 / (a * a))
    }
    fn log_normalizer(&self) -> Option<f64> {
        let (nu, d) = (self.nu, self.mean.len() as f64);
        Some(
            lgamma(nu / 2.0) - lgamma((nu + d) / 2.0)
                + 0.5 * d * (nu * PI).ln()
                + 0.5 * self.chol.log_det(),
        )
    }
}

impl Sample for MultivariateStudentT {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let z: Vec<f64> = (0..self.mean.len())
            .map(|_| StandardNormal.sample(rng))
            .collect();
        let g: f64 = ChiSquared::new(self.nu).expect("ν > 0 checked").sample(rng);
        self.chol.mul_lower(&z, out);
        let f = (self.nu / g).sqrt();
        for (o, m) in out.iter_mut().zip(&self.mean) {
            *o = m + f * *o;
        }
    }
}
