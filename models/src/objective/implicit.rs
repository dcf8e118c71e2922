//! Implicit score matching (Hyvärinen 2005): E[tr ∇ₓs(x) + ½ ‖s(x)‖²], equal to the explicit loss up to a
//! constant that does not depend on the model, with no target needed — with the exact trace, or with
//! Hutchinson's estimator tr ∇ₓs ≈ vᵀ∇ₓs v (`ism-hutchinson`).

use super::streams::{jet_gradient, on_tape, Along};
use super::{Gradient, Objective, Projection, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::jet::Jet;
use crate::nn::{Kind, Model};
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// Implicit score matching with the exact trace: mean [tr ∇ₓs(x) + ½ ‖s(x)‖²] over the rows of `x`.
///
/// Computed in Taylor mode ([`crate::nn::jet`]): the network's derivatives along the d axes (and, for an
/// energy network, its Laplacian: tr ∇ₓs = −ΔE) ride forward beside its value — d + 2 streams through each
/// layer and one backward pass in the parameters, instead of d reverse sweeps over a reverse sweep.
pub fn loss<'t>(model: &Model, tape: &'t Tape, p: &[TVar<'t>], x: &Tensor) -> Var<'t> {
    let (dirs, second) = streams(model.kind, x.cols());
    let jet = model.jet(
        p,
        tape.tensor(x),
        None,
        &on_tape(tape, &dirs, 0, x.rows()),
        &second,
    );
    head(model.kind, jet, x.rows())
}

/// The streams of the exact trace: the d axes, and for an energy network the Laplacian along them.
fn streams(kind: Kind, d: usize) -> (Vec<Along<'static>>, Vec<usize>) {
    let second = match kind {
        Kind::Energy => (0..d).collect(),
        Kind::Score => Vec::new(),
    };
    (super::streams::axes(d), second)
}

/// The mean loss of `rows` rows from their jet along [`streams`].
fn head(kind: Kind, jet: Jet<'_>, rows: usize) -> Var<'_> {
    let per_row = match kind {
        Kind::Energy => {
            // s = −∇E: tr ∇s = −ΔE, ‖s‖² = Σₖ (∂ₖE)²
            let sq = super::sum_of(jet.tangents.iter().map(|t| t.square()));
            sq * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Score => {
            // tr ∇s = Σₖ ∂ₖsₖ
            let tr = super::sum_of(
                jet.tangents
                    .iter()
                    .enumerate()
                    .map(|(k, t)| t.slice_cols(k, 1)),
            );
            tr + jet.value.square().sum_axis(1) * 0.5
        }
    };
    per_row.sum() / rows as f64
}

/// Implicit score matching with Hutchinson's trace estimator: tr ∇ₓs ≈ vᵀ ∇ₓ(vᵀs) for projections v with
/// E[v vᵀ] = I. `v` has the shape of `x` (tile the batch for several projections per point). This is the same
/// estimator as variance-reduced sliced score matching (Song et al. 2019, §3), so it is computed by
/// [`super::sliced::loss`].
pub fn hutchinson<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    v: &Tensor,
) -> Var<'t> {
    super::sliced::loss(model, tape, p, x, v, true)
}

/// Implicit score matching, exact (`projections` = `None`) or with Hutchinson's estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct Implicit {
    projections: Option<usize>,
}

impl Implicit {
    /// The exact trace (d + 2 streams per layer: the choice in low dimension).
    pub fn exact() -> Self {
        Implicit { projections: None }
    }

    /// Hutchinson's estimator with `projections` Rademacher projections per point (1 to
    /// [`super::MAX_PROJECTIONS`]).
    pub fn hutchinson(projections: usize) -> Result<Self, ModelError> {
        Ok(Implicit {
            projections: Some(super::check_projections(projections)?),
        })
    }
}

/// `ism`.
pub const REGISTRATION: Registration = Registration {
    name: "ism",
    help: "implicit score matching with the exact trace (Hyvärinen 2005)",
    trains: super::FIELDS,
    fresh: |_| Ok(Box::new(Implicit::exact())),
    from_record: |_| Ok(Box::new(Implicit::exact())),
};

/// `ism-hutchinson`.
pub const REGISTRATION_HUTCHINSON: Registration = Registration {
    name: "ism-hutchinson",
    help: "implicit score matching with Hutchinson's trace estimator",
    trains: super::FIELDS,
    fresh: |_| Ok(Box::new(Implicit::hutchinson(1)?)),
    from_record: |r| Ok(Box::new(Implicit::hutchinson(r.get_count("projections")?)?)),
};

impl Objective for Implicit {
    fn name(&self) -> &'static str {
        match self.projections {
            None => REGISTRATION.name,
            Some(_) => REGISTRATION_HUTCHINSON.name,
        }
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::FIELDS, net)?;
        super::unconditioned(self.name(), net)
    }

    fn rows_per_point(&self) -> usize {
        self.projections.unwrap_or(1)
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        Ok(match self.projections {
            None => {
                let (dirs, second) = streams(m.kind, step.batch.cols());
                jet_gradient(
                    &step,
                    m,
                    step.batch,
                    None,
                    &dirs,
                    &second,
                    |_, jet, lo, hi| head(m.kind, jet, hi - lo),
                )
            }
            Some(k) => {
                let x = super::tile_rows(step.batch, k);
                let v = Projection::Rademacher.draw(x.rows(), x.cols(), step.rng);
                super::sliced::gradient(&step, m, &x, &v, true)
            }
        })
    }

    fn record(&self) -> Record {
        let r = Record::new(self.name());
        match self.projections {
            None => r,
            Some(k) => r.number("projections", k as f64),
        }
    }
}
