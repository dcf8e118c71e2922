//! Explicit score matching: ½ E‖s(x) − s*(x)‖² when the target score s* is known (an analytic density, a
//! teacher network). It needs the target in code, so it is built with [`Explicit::new`]; a file keeps its
//! name only, and resuming one takes the target again ([`crate::fit::Trainer::resume_with`]).

use super::streams::score_of;
use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::{Kind, Model, Precision};
use crate::shard::rows_of;
use std::sync::Arc;
use stein_autodiff::{TVar, Tape, Tensor, Var};
use stein_scores::Score;

/// ½ mean ‖s(x) − target(x)‖² over the rows of `x`, on the tape (`target` holds s*(x) row by row).
pub fn loss<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    target: &Tensor,
) -> Var<'t> {
    let xv = tape.tensor(x);
    head(tape, model.score(tape, p, xv, None), target)
}

/// The loss from the model's score: mean ½ ‖s − s*‖².
fn head<'t>(tape: &'t Tape, s: TVar<'t>, target: &Tensor) -> Var<'t> {
    (s - tape.tensor_const(target)).square().sum() * (0.5 / target.rows() as f64)
}

/// The explicit score-matching objective with its target score.
///
/// ```
/// use rand::SeedableRng;
/// use stein_models::data::Toy;
/// use stein_models::fit::{FitOptions, Settings, Trainer};
/// use stein_models::nn::{Activation, Model};
/// use stein_models::objective::explicit::Explicit;
/// use stein_scores::MultivariateNormal;
///
/// let target = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let data = Toy::EightGaussians.sample(500, &mut rng);
/// let model = Model::score_net(2, &[16], Activation::Silu, &mut rng);
/// let mut t = Trainer::new(model.into(), Box::new(Explicit::new(target)), Settings::default());
/// let report = t.fit(&data, &FitOptions::steps(30)).unwrap();
/// assert!(report.losses.last().unwrap().1 < report.losses[0].1);
/// ```
#[derive(Clone)]
pub struct Explicit {
    target: Arc<dyn Score + Send>,
}

impl std::fmt::Debug for Explicit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Explicit { target }")
    }
}

impl Explicit {
    /// Match the score of `target` (in model coordinates).
    pub fn new(target: impl Score + Send + 'static) -> Self {
        Explicit {
            target: Arc::new(target),
        }
    }
}

/// `esm`: registered so files name it; it cannot be read back without its target.
pub const REGISTRATION: Registration = Registration {
    name: "esm",
    help:
        "explicit score matching against a known score (library only: it needs the target in code)",
    trains: super::FIELDS,
    fresh: |_| Err(needs_target()),
    from_record: |_| Err(needs_target()),
};

fn needs_target() -> ModelError {
    ModelError::BadParameter {
        param: "objective",
        value: "esm".into(),
        reason: "explicit score matching needs its target score in code: build Explicit::new(target) (and resume with Trainer::resume_with)".into(),
    }
}

impl Objective for Explicit {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), REGISTRATION.trains, net)?;
        super::unconditioned(self.name(), net)?;
        if self.target.score_dim() != net.dim() {
            return Err(ModelError::BadParameter {
                param: "target",
                value: format!("dimension {}", self.target.score_dim()),
                reason: format!("the model has dimension {}", net.dim()),
            });
        }
        Ok(())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let x = step.batch;
        let mut target = Tensor::zeros(x.rows(), x.cols());
        for i in 0..x.rows() {
            let s = self.target.score(x.row_slice(i));
            target.data_mut()[i * x.cols()..(i + 1) * x.cols()].copy_from_slice(&s);
        }
        if let Some(v) = target.data().iter().find(|v| !v.is_finite()) {
            return Err(ModelError::BadParameter {
                param: "target",
                value: v.to_string(),
                reason: "the target score is not finite at a point of the batch".into(),
            });
        }
        if step.precision == Precision::F32 {
            // an energy network's score from its tangents along the axes
            let dirs = match m.kind {
                Kind::Energy => super::streams::axes(x.cols()),
                Kind::Score => Vec::new(),
            };
            return Ok(super::streams::jet_gradient(
                &step,
                m,
                x,
                None,
                &dirs,
                &[],
                |tape, jet, lo, hi| head(tape, score_of(m.kind, &jet), &rows_of(&target, lo, hi)),
            ));
        }
        Ok(super::sharded(
            step.net,
            &[],
            x.rows(),
            |tape, p, _, lo, hi| loss(m, tape, p, &rows_of(x, lo, hi), &rows_of(&target, lo, hi)),
        ))
    }

    fn record(&self) -> Record {
        Record::new(self.name())
    }
}
