//! Noise-contrastive estimation (Gutmann & Hyvärinen 2010) for an energy model with a learned log Z: tell the
//! data from draws of a noise law q (a Gaussian fitted to the data) with the logit G(x) = −E(x) − log Z −
//! log q(x); the minimiser is the data's density, normalised.

use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::{Kind, Model};
use stein_autodiff::{TVar, Tape, Tensor, Var};
use stein_scores::{Analytic, MultivariateNormal, Sample};

/// The NCE loss −mean log σ(G(x_data)) − mean log σ(−G(x_noise)), G(x) = −E(x) − log Z − log q(x), with log q
/// at the two batches given (`log_q_data`, `log_q_noise`, `B × 1`).
#[allow(clippy::too_many_arguments)]
pub fn loss<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    log_z: TVar<'t>,
    x_data: &Tensor,
    x_noise: &Tensor,
    log_q_data: &Tensor,
    log_q_noise: &Tensor,
) -> Var<'t> {
    assert_eq!(model.kind, Kind::Energy, "NCE needs an energy model");
    let e = |x: &Tensor| model.energy_of(p, tape.tensor_const(x), None);
    head(
        tape,
        [e(x_data), e(x_noise)],
        log_z,
        [log_q_data, log_q_noise],
    )
}

/// The loss from the energies of the data and the noise points: with G = −E − log Z − log q,
/// −(mean log σ(G_data) + mean log σ(−G_noise)).
fn head<'t>(tape: &'t Tape, e: [TVar<'t>; 2], log_z: TVar<'t>, log_q: [&Tensor; 2]) -> Var<'t> {
    let g = |e: TVar<'t>, lq: &Tensor| -e - log_z - tape.tensor_const(lq);
    let (gd, gn) = (g(e[0], log_q[0]), g(e[1], log_q[1]));
    -(gd.log_sigmoid().mean() + (-gn).log_sigmoid().mean())
}

/// Noise-contrastive estimation with its learned log Z and its noise law (fitted to the data when a run
/// starts).
#[derive(Clone, Debug)]
pub struct Nce {
    /// log Z, `1 × 1`.
    log_z: [Tensor; 1],
    noise: Option<MultivariateNormal>,
}

impl PartialEq for Nce {
    fn eq(&self, o: &Self) -> bool {
        self.log_z == o.log_z
    }
}

impl Default for Nce {
    fn default() -> Self {
        Nce {
            log_z: [Tensor::zeros(1, 1)],
            noise: None,
        }
    }
}

impl Nce {
    /// A fresh objective: log Z = 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The learned log Z (in model coordinates).
    pub fn log_z(&self) -> f64 {
        self.log_z[0].get(0, 0)
    }
}

/// `nce`.
pub const REGISTRATION: Registration = Registration {
    name: "nce",
    help: "noise-contrastive estimation with a learned log Z (energy models)",
    trains: super::ENERGY,
    fresh: |_| Ok(Box::new(Nce::new())),
    from_record: |r| {
        let mut n = Nce::new();
        if let Some(t) = r.get_tensor("log_z", Some(1))? {
            if t.shape() != (1, 1) {
                return Err(ModelError::BadParameter {
                    param: "objective",
                    value: format!("{:?}", t.shape()),
                    reason: "nce: field `log_z` must be 1 × 1".into(),
                });
            }
            n.log_z = [t];
        }
        Ok(Box::new(n))
    },
};

impl Objective for Nce {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::ENERGY, net)?;
        super::unconditioned(self.name(), net)
    }

    fn prepare(&mut self, _net: &mut Network, data: &Tensor) -> Result<(), ModelError> {
        // a Gaussian fitted to the data (mean and covariance, slightly inflated)
        let (n, d) = data.shape();
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| data.get(i, j)).sum::<f64>() / n as f64)
            .collect();
        let cov: Vec<Vec<f64>> = (0..d)
            .map(|a| {
                (0..d)
                    .map(|b| {
                        let c = (0..n)
                            .map(|i| (data.get(i, a) - mean[a]) * (data.get(i, b) - mean[b]))
                            .sum::<f64>()
                            / (n - 1) as f64;
                        c * 1.2 + if a == b { 1e-6 } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        self.noise = Some(MultivariateNormal::new(mean, cov)?);
        Ok(())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let q = self
            .noise
            .as_ref()
            .ok_or_else(|| ModelError::BadParameter {
                param: "objective",
                value: "nce".into(),
                reason: "its noise law is fitted by prepare() before the first step".into(),
            })?;
        let (b, d) = step.batch.shape();
        let x = step.batch;
        let xn = Tensor::new(b, d, q.sample_n(step.rng, b).concat()).expect("b × dim");
        let lq = |t: &Tensor| {
            Tensor::from_fn(t.rows(), 1, |i, _| {
                q.log_pdf(t.row_slice(i)).expect("a Gaussian's normaliser")
            })
        };
        let (lx, lxn) = (lq(x), lq(&xn));
        Ok(super::streams::value_gradient(
            &step,
            m,
            &[x, &xn],
            &self.log_z,
            |tape, e, z, lo, hi| {
                use crate::shard::rows_of;
                head(
                    tape,
                    [e[0], e[1]],
                    z[0],
                    [&rows_of(&lx, lo, hi), &rows_of(&lxn, lo, hi)],
                )
            },
        ))
    }

    fn extra(&self) -> &[Tensor] {
        &self.log_z
    }

    fn extra_mut(&mut self) -> &mut [Tensor] {
        &mut self.log_z
    }

    fn record(&self) -> Record {
        Record::new(self.name()).tensor("log_z", Some(&self.log_z[0]))
    }
}
