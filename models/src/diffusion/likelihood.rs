//! Log-likelihoods through the probability-flow ODE (Song et al. 2021, §4.3; Chen et al. 2018):
//! log p_ε(x) = log p_T(x_T) + ∫_ε^T ∇·f̃(x_t, t) dt (p_ε, the data law perturbed to the ODE's end time ε, stands
//! for p₀ as in Song et al.) along dx/dt = f̃ = a(t) x − ½ g(t)² s(x, t), where
//! ∇·f̃ = d a(t) − ½ g(t)² tr ∇ₓs. The trace is exact ([`Divergence::Exact`]: the score's divergence, small
//! d) or Hutchinson's unbiased estimate E[zᵀ ∇ₓs z] with probes fixed along each trajectory.

use super::ode::{self, Stats, Tolerance};
use super::{PerturbedMixture, Sde, TimeScore};
use crate::ModelError;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use stein_autodiff::Tensor;
use stein_scores::{Analytic, LogDensity};

/// A time score that also gives the divergence of the score.
pub trait TimeDivergence: TimeScore {
    /// tr ∇ₓ s(x, t) of each row of `x`, into `out`.
    fn divergence_at(&self, x: &Tensor, t: f64, out: &mut [f64]);
    /// zᵢᵀ ∇ₓ s(xᵢ, t) zᵢ of each row i of `x` with the row i of `z`, into `out`.
    fn probe_at(&self, x: &Tensor, t: f64, z: &Tensor, out: &mut [f64]);
    /// The score into `score` and its divergence into `div` in one call: [`TimeScore::score_at`] then
    /// [`TimeDivergence::divergence_at`] unless a model computes both in one pass (forward mode).
    fn score_and_divergence_at(&self, x: &Tensor, t: f64, score: &mut Tensor, div: &mut [f64]) {
        self.score_at(x, t, score);
        self.divergence_at(x, t, div);
    }
}

impl TimeDivergence for PerturbedMixture {
    fn divergence_at(&self, x: &Tensor, t: f64, out: &mut [f64]) {
        let p = self.at(t).expect("a valid mixture");
        out.par_iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = p.laplacian(x.row_slice(i)));
    }
    fn probe_at(&self, x: &Tensor, t: f64, z: &Tensor, out: &mut [f64]) {
        let p = self.at(t).expect("a valid mixture");
        out.par_iter_mut().enumerate().for_each(|(i, o)| {
            let hz = stein_autodiff::hvp(|v| p.log_prob(v), x.row_slice(i), z.row_slice(i));
            *o = hz.iter().zip(z.row_slice(i)).map(|(a, b)| a * b).sum();
        });
    }
}

/// How the divergence is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Divergence {
    /// The exact trace.
    Exact,
    /// Hutchinson's estimator with `probes` probes per point, Rademacher (`rademacher`) or Gaussian.
    Hutchinson {
        /// Probes per point.
        probes: usize,
        /// ±1 entries (lower variance) instead of standard normals.
        rademacher: bool,
    },
}

/// Log-likelihoods of points.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLikelihood {
    /// log p₀(x) in nats, per point.
    pub nats: Vec<f64>,
    /// −log₂ p₀(x) / d: bits per dimension, per point.
    pub bits_per_dim: Vec<f64>,
    /// The ODE solver's cost.
    pub stats: Stats,
}

impl LogLikelihood {
    /// The mean log-likelihood in nats.
    pub fn mean_nats(&self) -> f64 {
        self.nats.iter().sum::<f64>() / self.nats.len().max(1) as f64
    }
}

/// log p_ε of each row of `x` under the model `score` with `sde`, by the probability-flow ODE from ε to T
/// ([`super::time_span`]) with adaptive Dormand–Prince (`tol`); `seed` draws Hutchinson's probes. Runs on a
/// worker of rayon's pool ([`stein_autodiff::on_pool`]).
///
/// ```
/// use stein_autodiff::Tensor;
/// use stein_models::diffusion::likelihood::{log_likelihood, Divergence};
/// use stein_models::diffusion::{ode::Tolerance, PerturbedMixture, Sde};
/// use stein_scores::{Analytic, GaussianMixture, MultivariateNormal};
///
/// let g = MultivariateNormal::isotropic(vec![0.3, -0.2], 0.8).unwrap();
/// let truth = PerturbedMixture::new(GaussianMixture::new(vec![1.0], vec![g.clone()]).unwrap(), Sde::vp(0.1, 20.0).unwrap());
/// let x = Tensor::new(1, 2, vec![0.5, 0.1]).unwrap();
/// let tol = Tolerance { rtol: 1e-8, atol: 1e-8, ..Default::default() };
/// let ll = log_likelihood(&truth, truth.sde(), &x, Divergence::Exact, &tol, 0).unwrap();
/// // with the prior N(0, I) at T: within O(α(T)) = 10⁻³ nats of the closed form
/// assert!((ll.nats[0] - g.log_pdf(&[0.5, 0.1]).unwrap()).abs() < 5e-3);
/// ```
pub fn log_likelihood<S: TimeDivergence + ?Sized>(
    score: &S,
    sde: &Sde,
    x: &Tensor,
    divergence: Divergence,
    tol: &Tolerance,
    seed: u64,
) -> Result<LogLikelihood, ModelError> {
    log_likelihood_to(score, sde, x, divergence, tol, seed, &|y| {
        sde.prior_log_prob(y)
    })
}

/// [`log_likelihood`] with another density at T than the SDE's prior: the exact p_T of a known data law
/// (the prior differs from it by O(α(T)) — 10⁻³ nats for VP — which is part of a model's likelihood, not of
/// the ODE's accuracy).
pub fn log_likelihood_to<S: TimeDivergence + ?Sized>(
    score: &S,
    sde: &Sde,
    x: &Tensor,
    divergence: Divergence,
    tol: &Tolerance,
    seed: u64,
    terminal: &(dyn Fn(&[f64]) -> f64 + Sync),
) -> Result<LogLikelihood, ModelError> {
    stein_autodiff::on_pool(move || {
        let (n, d) = x.shape();
        if n == 0 || d != score.dim() {
            return Err(ModelError::BadParameter {
                param: "x",
                value: format!("{n} points of dimension {d}"),
                reason: format!("the model has dimension {}", score.dim()),
            });
        }
        if let Some(i) = x.data().iter().position(|v| !v.is_finite()) {
            return Err(ModelError::BadParameter {
                param: "x",
                value: format!("point {}", i / d),
                reason: "has a non-finite coordinate".into(),
            });
        }
        tol.check()?;
        let probes: Vec<Tensor> = match divergence {
            Divergence::Exact => Vec::new(),
            Divergence::Hutchinson { probes, rademacher } => {
                if probes == 0 || probes > 1000 {
                    return Err(ModelError::BadParameter {
                        param: "probes",
                        value: format!("{probes}"),
                        reason: "must be 1 to 1,000".into(),
                    });
                }
                let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
                (0..probes)
                    .map(|_| {
                        Tensor::from_fn(n, d, |_, _| {
                            if rademacher {
                                if rng.random::<bool>() {
                                    1.0
                                } else {
                                    -1.0
                                }
                            } else {
                                rng.sample(StandardNormal)
                            }
                        })
                    })
                    .collect()
            }
        };
        let (mut s, mut tr, mut one) = (Tensor::zeros(n, d), vec![0.0; n], vec![0.0; n]);
        let mut rhs = |t: f64, y: &[f64], out: &mut [f64]| {
            let xt = Tensor::new(n, d, y[..n * d].to_vec()).expect("n × d");
            if probes.is_empty() {
                score.score_and_divergence_at(&xt, t, &mut s, &mut tr);
            } else {
                score.score_at(&xt, t, &mut s);
                tr.iter_mut().for_each(|v| *v = 0.0);
                for z in &probes {
                    score.probe_at(&xt, t, z, &mut one);
                    tr.iter_mut()
                        .zip(&one)
                        .for_each(|(v, o)| *v += o / probes.len() as f64);
                }
            }
            super::reverse::flow_drift(sde, t, &y[..n * d], s.data(), &mut out[..n * d]);
            let (a, g2) = (sde.drift(t), sde.diffusion(t).powi(2));
            for (o, trv) in out[n * d..].iter_mut().zip(&tr) {
                *o = d as f64 * a - 0.5 * g2 * trv;
            }
        };
        let (eps, big_t) = super::time_span(score, sde);
        let mut y: Vec<f64> = x
            .data()
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0.0, n))
            .collect();
        let stats = ode::dopri5(&mut rhs, &mut y, (eps, big_t), tol)?;
        let nats: Vec<f64> = (0..n)
            .map(|i| terminal(&y[i * d..(i + 1) * d]) + y[n * d + i])
            .collect();
        if let Some(i) = nats.iter().position(|v| !v.is_finite()) {
            let end = &y[i * d..(i + 1) * d];
            let reached = if end.iter().all(|v| v.is_finite()) {
                let r = end.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                format!(" (at T it reached |x| = {r:e})")
            } else {
                String::new()
            };
            return Err(ModelError::BadParameter {
                param: "x",
                value: format!("point {i}"),
                reason: format!(
                    "its log-likelihood is not finite: it lies where the model's flow cannot carry it{reached}"
                ),
            });
        }
        let bits_per_dim = nats
            .iter()
            .map(|l| -l / (d as f64 * std::f64::consts::LN_2))
            .collect();
        Ok(LogLikelihood {
            nats,
            bits_per_dim,
            stats,
        })
    })
}
