//! Sliced score matching (Song, Garg, Shi & Ermon 2019): E[vᵀ∇ₓs v + ½ (vᵀs)²] over random projections v, or
//! the variance-reduced form E[vᵀ∇ₓs v + ½ ‖s‖²] (exact second term for E[v vᵀ] = I; `ssm-vr`).

use super::{Gradient, Objective, Projection, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::jet::Direction;
use crate::nn::{Kind, Model, Precision};
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
    let xv = tape.tensor(x);
    let vv = tape.tensor_const(v);
    let along = Direction::Rows(vv);
    let per_row = match model.kind {
        Kind::Energy if variance_reduced => {
            let mut dirs: Vec<Direction> = (0..x.cols()).map(Direction::Axis).collect();
            dirs.push(along);
            let jet = model.jet(p, xv, None, &dirs, &[x.cols()]);
            let sq = super::sum_of(jet.tangents[..x.cols()].iter().map(|t| t.square()));
            sq * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Energy => {
            let jet = model.jet(p, xv, None, &[along], &[0]);
            jet.tangents[0].square() * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Score => {
            let jet = model.jet(p, xv, None, &[along], &[]);
            let vjv = (jet.tangents[0] * vv).sum_axis(1);
            let second = if variance_reduced {
                jet.value.square().sum_axis(1)
            } else {
                (jet.value * vv).sum_axis(1).square()
            };
            vjv + second * 0.5
        }
    };
    per_row.sum() / x.rows() as f64
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

    fn check(&self, net: &Network, precision: Precision) -> Result<(), ModelError> {
        super::needs(self.name(), super::FIELDS, net)?;
        super::unconditioned(self.name(), net)?;
        super::f64_only(self.name(), precision)?;
        super::check_projections(self.projections).map(|_| ())
    }

    fn rows_per_point(&self) -> usize {
        self.projections
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let x = super::tile_rows(step.batch, self.projections);
        let v = self.projection.draw(x.rows(), x.cols(), step.rng);
        let vr = self.variance_reduced;
        Ok(super::sharded(
            step.net,
            &[],
            x.rows(),
            |tape, p, _, lo, hi| {
                use crate::shard::rows_of;
                loss(m, tape, p, &rows_of(&x, lo, hi), &rows_of(&v, lo, hi), vr)
            },
        ))
    }

    fn record(&self) -> Record {
        Record::new(self.name())
            .number("projections", self.projections as f64)
            .choice("projection", self.projection.name())
    }
}
