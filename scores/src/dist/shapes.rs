//! Classic hard shapes for samplers and score models: the banana, Neal's funnel and the ring.

use crate::density::{Analytic, LogDensity, Sample};
use crate::error::{positive, ScoreError};
use rand::{Rng, RngExt};
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;
use stein_autodiff::special::erf;
use stein_autodiff::Real;

/// The banana (a Rosenbrock-type curved Gaussian) in 2-D: x₀ ~ N(0, a²), x₁ | x₀ ~ N(b (x₀² − a²), 1).
///
/// # Density and score
/// log p(x) = −x₀²/(2a²) − u²/2 with u = x₁ − b(x₀² − a²); s = (−x₀/a² + 2b x₀ u, −u);
/// Laplacian −1/a² + 2bu − 4b²x₀² − 1.
///
/// # Parameters
/// a > 0, b finite (b = 0 is a Gaussian).
#[derive(Clone, Debug, PartialEq)]
pub struct Banana {
    a: f64,
    b: f64,
}

impl Banana {
    /// The banana with spread `a` and curvature `b`.
    pub fn new(a: f64, b: f64) -> Result<Self, ScoreError> {
        crate::error::finite_all("b", &[b])?;
        Ok(Banana {
            a: crate::error::scale("a", a)?,
            b,
        })
    }
}

impl LogDensity for Banana {
    fn dim(&self) -> usize {
        2
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Banana::log_prob", x.len(), LogDensity::dim(self));
        let u = x[1] - (x[0] * x[0] - self.a * self.a) * self.b;
        -(x[0] * x[0]) / (2.0 * self.a * self.a) - u * u * 0.5
    }
}

impl Analytic for Banana {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        let u = x[1] - self.b * (x[0] * x[0] - self.a * self.a);
        out[0] = -x[0] / (self.a * self.a) + 2.0 * self.b * x[0] * u;
        out[1] = -u;
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Banana::laplacian", x.len(), LogDensity::dim(self));
        let u = x[1] - self.b * (x[0] * x[0] - self.a * self.a);
        -1.0 / (self.a * self.a) + 2.0 * self.b * u - 4.0 * self.b * self.b * x[0] * x[0] - 1.0
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some((2.0 * PI * self.a).ln())
    }
}

impl Sample for Banana {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let (z0, z1): (f64, f64) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
        out[0] = self.a * z0;
        out[1] = self.b * (out[0] * out[0] - self.a * self.a) + z1;
    }
}

/// Neal's funnel in d ≥ 2 dimensions: v = x₀ ~ N(0, σᵥ²), xᵢ | v ~ N(0, eᵛ) for i ≥ 1.
///
/// # Density and score
/// log p(x) = −v²/(2σᵥ²) − e⁻ᵛ Σᵢ xᵢ²/2 − (d − 1) v/2;
/// s₀ = −v/σᵥ² + e⁻ᵛ Σᵢ xᵢ²/2 − (d − 1)/2, sᵢ = −xᵢ e⁻ᵛ;
/// Laplacian −1/σᵥ² − e⁻ᵛ Σᵢ xᵢ²/2 − (d − 1) e⁻ᵛ. The neck (v ≪ 0) defeats fixed-step samplers.
///
/// # Parameters
/// d ≥ 2, σᵥ > 0 (Neal used 3).
#[derive(Clone, Debug, PartialEq)]
pub struct Funnel {
    dim: usize,
    sigma_v: f64,
}

impl Funnel {
    /// The funnel in `dim` dimensions with neck scale σᵥ.
    pub fn new(dim: usize, sigma_v: f64) -> Result<Self, ScoreError> {
        if dim < 2 {
            return Err(ScoreError::Dimension {
                param: "dim",
                expected: "at least 2".into(),
                got: dim.to_string(),
            });
        }
        Ok(Funnel {
            dim,
            sigma_v: crate::error::scale("sigma_v", sigma_v)?,
        })
    }
}

impl LogDensity for Funnel {
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Funnel::log_prob", x.len(), LogDensity::dim(self));
        let v = x[0];
        let ss: S = x[1..].iter().map(|&xi| xi * xi).sum();
        -(v * v) / (2.0 * self.sigma_v * self.sigma_v)
            - ss * (-v).exp() * 0.5
            - v * ((self.dim - 1) as f64 * 0.5)
    }
}

impl Analytic for Funnel {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        let (v, e) = (x[0], (-x[0]).exp());
        let ss: f64 = x[1..].iter().map(|t| t * t).sum();
        out[0] = -v / (self.sigma_v * self.sigma_v) + e * ss * 0.5 - (self.dim - 1) as f64 * 0.5;
        for (o, xi) in out[1..].iter_mut().zip(&x[1..]) {
            *o = -xi * e;
        }
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Funnel::laplacian", x.len(), LogDensity::dim(self));
        let e = (-x[0]).exp();
        let ss: f64 = x[1..].iter().map(|t| t * t).sum();
        -1.0 / (self.sigma_v * self.sigma_v) - e * ss * 0.5 - (self.dim - 1) as f64 * e
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(
            0.5 * (2.0 * PI * self.sigma_v * self.sigma_v).ln()
                + (self.dim - 1) as f64 * 0.5 * (2.0 * PI).ln(),
        )
    }
}

impl Sample for Funnel {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let z: f64 = StandardNormal.sample(rng);
        out[0] = self.sigma_v * z;
        let s = (out[0] * 0.5).exp();
        for o in out[1..].iter_mut() {
            let z: f64 = StandardNormal.sample(rng);
            *o = s * z;
        }
    }
}

/// A ring in 2-D: log p(x) = −(‖x‖ − r)² / (2w²).
///
/// # Score
/// s(x) = −(‖x‖ − r)/w² · x/‖x‖; Laplacian −(2‖x‖ − r)/(w²‖x‖). At the origin the log-density has a cone
/// point: the analytic score returns 0 there (the tape's derivative of √ at 0 is infinite).
///
/// # Parameters
/// r > 0, w > 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    radius: f64,
    width: f64,
}

impl Ring {
    /// The ring of radius `radius` and width `width`.
    pub fn new(radius: f64, width: f64) -> Result<Self, ScoreError> {
        Ok(Ring {
            radius: positive("radius", radius)?,
            width: crate::error::scale("width", width)?,
        })
    }
}

impl LogDensity for Ring {
    fn dim(&self) -> usize {
        2
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Ring::log_prob", x.len(), LogDensity::dim(self));
        let rho = (x[0] * x[0] + x[1] * x[1]).sqrt();
        -(rho - self.radius).powi(2) / (2.0 * self.width * self.width)
    }
}

impl Analytic for Ring {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        let rho = x[0].hypot(x[1]);
        if rho == 0.0 {
            out[0] = 0.0;
            out[1] = 0.0;
            return;
        }
        let f = -(rho - self.radius) / (self.width * self.width * rho);
        out[0] = f * x[0];
        out[1] = f * x[1];
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Ring::laplacian", x.len(), LogDensity::dim(self));
        let rho = x[0].hypot(x[1]);
        -(2.0 * rho - self.radius) / (self.width * self.width * rho)
    }
    fn log_normalizer(&self) -> Option<f64> {
        // Z = 2π ∫ ρ exp(−(ρ − r)²/2w²) dρ = 2π [w² e^{−r²/2w²} + r w √(π/2) (1 + erf(r / (w√2)))]
        let (r, w) = (self.radius, self.width);
        let z = w * w * (-(r * r) / (2.0 * w * w)).exp()
            + r * w * (PI / 2.0).sqrt() * (1.0 + erf(r / (w * std::f64::consts::SQRT_2)));
        Some((2.0 * PI * z).ln())
    }
}

impl Sample for Ring {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        // radius: density ∝ ρ N(ρ; r, w²) on ρ > 0, by rejection from N(r, w²) with acceptance ρ / (r + 10w)
        // (the mass beyond r + 10w, where the bound fails, is below e⁻⁵⁰).
        let cap = self.radius + 10.0 * self.width;
        let rho = loop {
            let z: f64 = StandardNormal.sample(rng);
            let rho = self.radius + self.width * z;
            if rho > 0.0 && rng.random::<f64>() * cap < rho.min(cap) {
                break rho;
            }
        };
        let theta = rng.random::<f64>() * 2.0 * PI;
        out[0] = rho * theta.cos();
        out[1] = rho * theta.sin();
    }
}
