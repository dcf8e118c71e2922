//! Contrastive divergence for energy models: lower the energy of the data, raise it at negatives drawn from
//! the model by Langevin dynamics, E(x_data) − E(x_neg) + α (E(x_data)² + E(x_neg)²) (the α term keeps the
//! energies from drifting; Du & Mordatch 2019). The negatives come from persistent chains, a fraction of them
//! restarted from noise each step; with a replay buffer (Du & Mordatch's), each step's chains start from
//! stored negatives instead, and their ends are stored back.

use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::Model;
use rand::rngs::SmallRng;
use rand::{Rng, RngExt};
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// mean E(x_data) − mean E(x_neg) + α (mean E(x_data)² + mean E(x_neg)²); the negatives are constants.
pub fn loss<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x_data: &Tensor,
    x_neg: &Tensor,
    alpha: f64,
) -> Var<'t> {
    let ed = model.energy_of(p, tape.tensor_const(x_data), None);
    let en = model.energy_of(p, tape.tensor_const(x_neg), None);
    head(ed, en, alpha)
}

/// The loss from the energies of the data and the negatives.
fn head<'t>(ed: TVar<'t>, en: TVar<'t>, alpha: f64) -> Var<'t> {
    ed.mean() - en.mean() + (ed.square().mean() + en.square().mean()) * alpha
}

/// `steps` unadjusted Langevin steps x ← x + (ε/2) s(x) + √ε z from every row of `x0` under the model's
/// current score: the ULA kernel on the batched driver, one chain per row, seeded from `rng`. Returns the
/// moved batch, or the sampler's error (a score that is not finite at a start).
pub fn langevin_negatives<R: Rng + ?Sized>(
    model: &Model,
    x0: &Tensor,
    steps: usize,
    eps: f64,
    rng: &mut R,
) -> Result<Tensor, crate::sample::SampleError> {
    use crate::sample::{sample_batched, ula, Config, Init};
    let (n, d) = x0.shape();
    let starts = x0.to_rows();
    let cfg = Config::new(ula::Params::new(eps))
        .chains(n)
        .warmup(steps.saturating_sub(1))
        .draws(1)
        .seed(rng.random())
        .init(Init::Points(starts));
    let draws = sample_batched(model, &cfg)?;
    let mut out = Tensor::zeros(n, d);
    for (i, c) in draws.chains.iter().enumerate() {
        out.data_mut()[i * d..(i + 1) * d].copy_from_slice(&c.draws[0]);
    }
    Ok(out)
}

/// The most Langevin steps per update.
pub const MAX_CD_STEPS: usize = 1_000;
/// The most negatives a replay buffer holds.
pub const MAX_REPLAY: usize = 1 << 20;

/// Contrastive divergence with its chains.
#[derive(Clone, Debug, PartialEq)]
pub struct Cd {
    /// Langevin steps per update (1 to [`MAX_CD_STEPS`]; 20).
    pub steps: usize,
    /// The Langevin step size ε (10⁻³).
    pub step_size: f64,
    /// The energy regulariser α ≥ 0 (0.1).
    pub alpha: f64,
    /// The fraction of chains restarted from noise (uniform on the data's box, widened by 20%) each step,
    /// in [0, 1] (0.05).
    pub restart: f64,
    /// The replay buffer's capacity (0: no buffer, the chains persist as they are).
    pub replay: usize,
    chains: Option<Tensor>,
    buffer: Option<Tensor>,
    /// The box of the data, low and high corner, for restarts.
    bounds: Option<(Vec<f64>, Vec<f64>)>,
}

impl Default for Cd {
    fn default() -> Self {
        Cd {
            steps: 20,
            step_size: 1e-3,
            alpha: 0.1,
            restart: 0.05,
            replay: 0,
            chains: None,
            buffer: None,
            bounds: None,
        }
    }
}

impl Cd {
    /// With these settings; an error names the first out of range.
    pub fn new(
        steps: usize,
        step_size: f64,
        alpha: f64,
        restart: f64,
        replay: usize,
    ) -> Result<Self, ModelError> {
        let bad = |param, value: String, reason: &str| {
            Err(ModelError::BadParameter {
                param,
                value,
                reason: reason.into(),
            })
        };
        if !(1..=MAX_CD_STEPS).contains(&steps) {
            return bad("steps", steps.to_string(), "need 1 to 1,000 Langevin steps");
        }
        super::positive("step_size", step_size)?;
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return bad(
                "alpha",
                alpha.to_string(),
                "must be non-negative and finite",
            );
        }
        if !(0.0..=1.0).contains(&restart) {
            return bad(
                "restart",
                restart.to_string(),
                "must be a fraction in [0, 1]",
            );
        }
        if replay > MAX_REPLAY {
            return bad("replay", replay.to_string(), "at most 2²⁰ negatives");
        }
        Ok(Cd {
            steps,
            step_size,
            alpha,
            restart,
            replay,
            ..Cd::default()
        })
    }

    /// `n` points uniform on the data's box widened by 20% (chains started or restarted from noise).
    fn noise(&self, n: usize, rng: &mut SmallRng) -> Tensor {
        let (lo, hi) = self.bounds.as_ref().expect("set by prepare");
        Tensor::from_fn(n, lo.len(), |_, j| {
            let w = hi[j] - lo[j];
            lo[j] - 0.1 * w + rng.random::<f64>() * 1.2 * w
        })
    }

    /// The chains' starting points for this step: the persistent chains (cycled to `b` rows when a run
    /// continues with another batch size), or draws from the replay buffer; then the restarts.
    fn starts(&mut self, b: usize, rng: &mut SmallRng) -> Tensor {
        let mut x = if self.replay > 0 {
            match &self.buffer {
                Some(buf) if buf.rows() > 0 => {
                    let rows: Vec<usize> =
                        (0..b).map(|_| rng.random_range(0..buf.rows())).collect();
                    Tensor::from_fn(b, buf.cols(), |i, j| buf.get(rows[i], j))
                }
                _ => self.noise(b, rng),
            }
        } else {
            let fresh = match self.chains.take() {
                Some(c) => c,
                None => self.noise(b, rng),
            };
            if fresh.rows() != b {
                Tensor::from_fn(b, fresh.cols(), |i, j| fresh.get(i % fresh.rows(), j))
            } else {
                fresh
            }
        };
        let d = x.cols();
        for i in 0..b {
            if rng.random::<f64>() < self.restart {
                let fresh = self.noise(1, rng);
                x.data_mut()[i * d..(i + 1) * d].copy_from_slice(fresh.data());
            }
        }
        x
    }

    /// Keep the negatives: as the persistent chains, or at the end of the replay buffer (the oldest leave).
    fn keep(&mut self, negatives: &Tensor) {
        if self.replay == 0 {
            self.chains = Some(negatives.clone());
            return;
        }
        let d = negatives.cols();
        let mut data = self
            .buffer
            .take()
            .map(|b| b.data().to_vec())
            .unwrap_or_default();
        data.extend_from_slice(negatives.data());
        let rows = data.len() / d;
        let keep = rows.min(self.replay);
        let data = data[(rows - keep) * d..].to_vec();
        self.buffer = Some(Tensor::new(keep, d, data).expect("whole rows"));
    }
}

/// `cd`.
pub const REGISTRATION: Registration = Registration {
    name: "cd",
    help: "contrastive divergence with Langevin negatives, persistent chains or a replay buffer (energy models)",
    trains: super::ENERGY,
    fresh: |_| Ok(Box::new(Cd::default())),
    from_record: |r| {
        let mut cd = Cd::new(
            r.get_count("steps")?,
            r.get_number("step_size")?,
            r.get_number("alpha")?,
            r.get_number("restart")?,
            r.get_count("replay")?,
        )?;
        cd.chains = r.get_tensor("chains", None)?;
        cd.buffer = r.get_tensor("buffer", None)?;
        Ok(Box::new(cd))
    },
};

impl Objective for Cd {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::ENERGY, net)?;
        super::unconditioned(self.name(), net)?;
        for (what, t) in [("chains", &self.chains), ("buffer", &self.buffer)] {
            if let Some(t) = t.as_ref().filter(|t| t.cols() != net.dim()) {
                return Err(ModelError::BadParameter {
                    param: "objective",
                    value: format!("{} columns", t.cols()),
                    reason: format!(
                        "cd: its {what} do not fit a model of dimension {}",
                        net.dim()
                    ),
                });
            }
        }
        Ok(())
    }

    fn prepare(&mut self, _net: &mut Network, data: &Tensor) -> Result<(), ModelError> {
        let (n, d) = data.shape();
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for i in 0..n {
            for (j, &v) in data.row_slice(i).iter().enumerate() {
                lo[j] = lo[j].min(v);
                hi[j] = hi[j].max(v);
            }
        }
        self.bounds = Some((lo, hi));
        Ok(())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let b = step.batch.rows();
        let starts = self.starts(b, step.rng);
        let negatives = langevin_negatives(m, &starts, self.steps, self.step_size, step.rng)
            .map_err(|e| ModelError::BadParameter {
                param: "objective",
                value: "cd".into(),
                reason: format!("the Langevin negatives failed: {e}"),
            })?;
        self.keep(&negatives);
        let (x, alpha) = (step.batch, self.alpha);
        Ok(super::streams::value_gradient(
            &step,
            m,
            &[x, &negatives],
            &[],
            |_, e, _, _, _| head(e[0], e[1], alpha),
        ))
    }

    fn record(&self) -> Record {
        Record::new(self.name())
            .number("steps", self.steps as f64)
            .number("step_size", self.step_size)
            .number("alpha", self.alpha)
            .number("restart", self.restart)
            .number("replay", self.replay as f64)
            .tensor("chains", self.chains.as_ref())
            .tensor("buffer", self.buffer.as_ref())
    }
}
