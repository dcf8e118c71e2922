use crate::density::{Analytic, LogDensity, Sample};
use crate::error::{finite_all, ScoreError};
use rand::{Rng, RngExt};
use stein_autodiff::Real;

/// Independent Laplace coordinates: xᵢ ~ Laplace(μᵢ, b).
///
/// # Density and score
/// log p(x) = −Σᵢ |xᵢ − μᵢ| / b − d log(2b); sᵢ(x) = −sign(xᵢ − μᵢ) / b.
///
/// The score jumps from +1/b to −1/b at xᵢ = μᵢ. There, Stein returns **0**, the midpoint of the two
/// one-sided limits (the minimal-norm subgradient); the tape agrees, since it differentiates |t| to 0 at 0.
/// The Laplacian is 0 away from μ (the density's curvature sits entirely at the kink, as −2/b δ).
///
/// # Parameters
/// b > 0, μ finite.
///
/// # Example
/// ```
/// use stein_scores::{Laplace, Score};
/// let l = Laplace::new(vec![0.0], 2.0).unwrap();
/// assert_eq!(l.score(&[3.0]), vec![-0.5]);
/// assert_eq!(l.score(&[-3.0]), vec![0.5]);
/// assert_eq!(l.score(&[0.0]), vec![0.0]); // the value chosen at the kink
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Laplace {
    loc: Vec<f64>,
    scale: f64,
}

impl Laplace {
    /// Laplace(μ, b) in each coordinate.
    pub fn new(loc: Vec<f64>, scale: f64) -> Result<Self, ScoreError> {
        finite_all("loc", &loc)?;
        Ok(Laplace {
            loc,
            scale: crate::error::scale("scale", scale)?,
        })
    }
}

impl LogDensity for Laplace {
    fn dim(&self) -> usize {
        self.loc.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Laplace::log_prob", x.len(), LogDensity::dim(self));
        let s: S = x
            .iter()
            .zip(&self.loc)
            .map(|(&xi, &m)| (xi - m).abs())
            .sum();
        -s / self.scale
    }
}

impl Analytic for Laplace {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        for ((o, &xi), &m) in out.iter_mut().zip(x).zip(&self.loc) {
            let r = xi - m;
            *o = if r > 0.0 {
                -1.0 / self.scale
            } else if r < 0.0 {
                1.0 / self.scale
            } else {
                0.0
            };
        }
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Laplace::laplacian", x.len(), LogDensity::dim(self));
        0.0
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(self.loc.len() as f64 * (2.0 * self.scale).ln())
    }
}

impl Sample for Laplace {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        for (o, &m) in out.iter_mut().zip(&self.loc) {
            // inverse CDF with u uniform on (−½, ½)
            let u: f64 = rng.random::<f64>() - 0.5;
            *o = m - self.scale * u.signum() * (1.0 - 2.0 * u.abs()).ln();
        }
    }
}
