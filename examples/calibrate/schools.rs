//! The hierarchical model of the calibration example and of `tests/sbc_models.rs`: eight-schools-like, with
//! the eight schools' standard errors and data simulated from the prior.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use stein::autodiff::Real;
use stein::models::calibration::sbc::SbcModel;
use stein::scores::lpdf;

fn z<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// The eight schools' standard errors.
const SIGMA: [f64; 8] = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];

/// μ ~ N(0, 5), τ ~ half-N(0, 5), ηⱼ ~ N(0, 1), yⱼ ~ N(μ + τ ηⱼ, σⱼ), sampled on (μ, log τ, η). The
/// posterior is written with the prior scale `scale_in_posterior` (5 is right).
pub struct Schools {
    /// The prior scale of μ and τ inside the posterior (5 is right).
    pub scale_in_posterior: f64,
}

impl SbcModel for Schools {
    type Data = [f64; 8];
    fn dim(&self) -> usize {
        10
    }
    fn names(&self) -> Vec<String> {
        let mut n = vec!["mu".to_string(), "log_tau".to_string()];
        n.extend((0..8).map(|j| format!("eta[{j}]")));
        n
    }
    fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let mut t = vec![5.0 * z(rng), (5.0 * z(rng).abs()).ln()];
        t.extend((0..8).map(|_| z(rng)));
        t
    }
    fn simulate<R: Rng + ?Sized>(&self, t: &[f64], rng: &mut R) -> [f64; 8] {
        std::array::from_fn(|j| t[0] + t[1].exp() * t[2 + j] + SIGMA[j] * z(rng))
    }
    fn log_posterior<S: Real>(&self, t: &[S], y: &[f64; 8]) -> S {
        let c = S::cst;
        let (mu, log_tau) = (t[0], t[1]);
        let tau = log_tau.exp();
        let scale = c(self.scale_in_posterior);
        let mut lp = lpdf::normal(mu, c(0.0), scale) + lpdf::half_normal(tau, scale) + log_tau;
        for j in 0..8 {
            lp += lpdf::normal(t[2 + j], c(0.0), c(1.0));
            lp += lpdf::normal(c(y[j]), mu + tau * t[2 + j], c(SIGMA[j]));
        }
        lp
    }
    fn quantities(&self, t: &[f64], y: &[f64; 8]) -> Vec<f64> {
        vec![(0..8)
            .map(|j| lpdf::normal(y[j], t[0] + t[1].exp() * t[2 + j], SIGMA[j]))
            .sum()]
    }
    fn quantity_names(&self) -> Vec<String> {
        vec!["log likelihood".into()]
    }
}
