use crate::density::{Analytic, LogDensity, Sample};
use crate::error::{finite_all, ScoreError};
use rand::{Rng, RngExt};
use stein_autodiff::Real;

/// Independent logistic coordinates: xᵢ ~ Logistic(μᵢ, s).
///
/// # Density and score
/// log p(x) = Σᵢ [log σ(zᵢ) + log σ(−zᵢ)] − d log s, zᵢ = (xᵢ − μᵢ)/s;
/// sᵢ(x) = −tanh(zᵢ/2) / s; Laplacian −Σᵢ (1 − tanh²(zᵢ/2)) / (2s²).
///
/// # Parameters
/// s > 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Logistic {
    loc: Vec<f64>,
    scale: f64,
}

impl Logistic {
    /// Logistic(μ, s) in each coordinate.
    pub fn new(loc: Vec<f64>, scale: f64) -> Result<Self, ScoreError> {
        finite_all("loc", &loc)?;
        Ok(Logistic {
            loc,
            scale: crate::error::scale("scale", scale)?,
        })
    }
}

impl LogDensity for Logistic {
    fn dim(&self) -> usize {
        self.loc.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Logistic::log_prob", x.len(), LogDensity::dim(self));
        x.iter()
            .zip(&self.loc)
            .map(|(&xi, &m)| {
                let z = (xi - m) / self.scale;
                z.log_sigmoid() + (-z).log_sigmoid()
            })
            .sum()
    }
}

impl Analytic for Logistic {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        for ((o, &xi), &m) in out.iter_mut().zip(x).zip(&self.loc) {
            *o = -((xi - m) / self.scale * 0.5).tanh() / self.scale;
        }
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Logistic::laplacian", x.len(), LogDensity::dim(self));
        x.iter()
            .zip(&self.loc)
            .map(|(&xi, &m)| {
                let t = ((xi - m) / self.scale * 0.5).tanh();
                -(1.0 - t * t) / (2.0 * self.scale * self.scale)
            })
            .sum()
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(self.loc.len() as f64 * self.scale.ln())
    }
}

impl Sample for Logistic {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        for (o, &m) in out.iter_mut().zip(&self.loc) {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            *o = m + self.scale * (u / (1.0 - u)).ln();
        }
    }
}
