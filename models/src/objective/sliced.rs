//! Sliced score matching (Song, Garg, Shi & Ermon 2019): E[vᵀ∇ₓs v + ½ (vᵀs)²] over random projections v, or
//! the variance-reduced form E[vᵀ∇ₓs v + ½ ‖s‖²] (exact second term for E[v vᵀ] = I; `ssm-vr`).

use super::streams::{jet_gradient, on_tape, Along};
use super::{Gradient, Objective, Projection, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::jet::Jet;
use crate::nn::{Kind, Model};
use crate::shard::rows_of;
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// Sliced score matching over the rows of `x` with projections `v` (same shape): mean [vᵀ ∇ₓs v + ½ (vᵀs)²],
/// or with `variance_reduced` mean [vᵀ ∇ₓs v + ½ ‖s‖²].
///
/// Computed in Taylor mode ([`crate::nn::jet`]) along v: for a score network ∇ₓs v is the tangent along v;
/// for an energy network vᵀ∇ₓs v = −vᵀ∇²E v is the second derivative along v and vᵀs = −∂ᵥE (the
/// variance-reduced form also carries the d axes for ‖s‖²).
pub fn loss<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    v: &Tensor,
    variance_reduced: bool,
) -> Var<'t> {
    let (dirs, second) = streams(model.kind, v, variance_reduced);
    let jet = model.jet(
        p,
        tape.tensor(x),
        None,
        &on_tape(tape, &dirs, 0, x.rows()),
        &second,
    );
    head(model.kind, tape, jet, v, variance_reduced)
}

/// The streams sliced score matching needs along the projections `v`: the tangent along v; for an energy
/// network its second derivative along v too (and the d axes for the variance-reduced form's ‖s‖²).
fn streams(kind: Kind, v: &Tensor, variance_reduced: bool) -> (Vec<Along<'_>>, Vec<usize>) {
    let d = v.cols();
    match kind {
        Kind::Energy if variance_reduced => {
            let mut dirs = super::streams::axes(d);
            dirs.push(Along::Rows(v));
            (dirs, vec![d])
        }
        Kind::Energy => (vec![Along::Rows(v)], vec![0]),
        Kind::Score => (vec![Along::Rows(v)], Vec::new()),
    }
}

/// The mean loss of the rows from their jet along [`streams`] and their projections `v`.
fn head<'t>(
    kind: Kind,
    tape: &'t Tape,
    jet: Jet<'t>,
    v: &Tensor,
    variance_reduced: bool,
) -> Var<'t> {
    let per_row = match kind {
        Kind::Energy if variance_reduced => {
            let d = v.cols();
            let sq = super::sum_of(jet.tangents[..d].iter().map(|t| t.square()));
            sq * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Energy => {
            jet.tangents[0].square() * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Score => {
            let vv = tape.tensor_const(v);
            let vjv = (jet.tangents[0] * vv).sum_axis(1);
            let second = if variance_reduced {
                jet.value.square().sum_axis(1)
            } else {
                (jet.value * vv).sum_axis(1).square()
            };
            vjv + second * 0.5
        }
    };
    per_row.sum() / v.rows() as f64
}

/// The gradient of [`loss`] over the rows of `x` (the batch, tiled for several projections per point) with
/// projections `v`, in the step's precision.
pub(crate) fn gradient(
    step: &Step<'_>,
    m: &Model,
    x: &Tensor,
    v: &Tensor,
    variance_reduced: bool,
) -> Gradient {
    let (dirs, second) = streams(m.kind, v, variance_reduced);
    jet_gradient(step, m, x, None, &dirs, &second, |tape, jet, lo, hi| {
        head(m.kind, tape, jet, &rows_of(v, lo, hi), variance_reduced)
    })
}

/// Sliced score matching with `projections` projections per point drawn from `projection`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sliced {
    /// Projections per point (the batch is tiled this many times).
    pub projections: usize,
    /// The variance-reduced form.
    pub variance_reduced: bool,
    /// The projections' law.
    pub projection: Projection,
}

impl Sliced {
    /// `ssm`: one Rademacher projection per point.
    pub fn ssm() -> Self {
        Sliced {
            projections: 1,
            variance_reduced: false,
            projection: Projection::Rademacher,
        }
    }

    /// `ssm-vr`: one Gaussian projection per point, the variance-reduced form.
    pub fn ssm_vr() -> Self {
        Sliced {
            projections: 1,
            variance_reduced: true,
            projection: Projection::Gaussian,
        }
    }

    /// With `k` projections per point (1 to [`super::MAX_PROJECTIONS`]).
    pub fn projections(mut self, k: usize) -> Result<Self, ModelError> {
        self.projections = super::check_projections(k)?;
        Ok(self)
    }

    fn from_record(r: &Record) -> Result<Box<dyn Objective>, ModelError> {
        Ok(Box::new(Sliced {
            projections: super::check_projections(r.get_count("projections")?)?,
            variance_reduced: r.name == REGISTRATION_VR.name,
            projection: r.get_choice("projection", Projection::parse)?,
        }))
    }
}

/// `ssm`.
pub const REGISTRATION: Registration = Registration {
    name: "ssm",
    help: "sliced score matching, Rademacher projections (Song et al. 2019)",
    trains: super::FIELDS,
    fresh: |_| Ok(Box::new(Sliced::ssm())),
    from_record: Sliced::from_record,
};

/// `ssm-vr`.
pub const REGISTRATION_VR: Registration = Registration {
    name: "ssm-vr",
    help: "sliced score matching, variance-reduced, Gaussian projections",
    trains: super::FIELDS,
    fresh: |_| Ok(Box::new(Sliced::ssm_vr())),
    from_record: Sliced::from_record,
};

impl Objective for Sliced {
    fn name(&self) -> &'static str {
        if self.variance_reduced {
            REGISTRATION_VR.name
        } else {
            REGISTRATION.name
        }
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::FIELDS, net)?;
        super::unconditioned(self.name(), net)?;
        super::check_projections(self.projections).map(|_| ())
    }

    fn rows_per_point(&self) -> usize {
        self.projections
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let x = super::tile_rows(step.batch, self.projections);
        let v = self.projection.draw(x.rows(), x.cols(), step.rng);
        Ok(gradient(&step, m, &x, &v, self.variance_reduced))
    }

    fn record(&self) -> Record {
        Record::new(self.name())
            .number("projections", self.projections as f64)
            .choice("projection", self.projection.name())
    }
}
