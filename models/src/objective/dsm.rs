//! Denoising score matching (Vincent 2011) at one noise level: x̃ = x + σz, loss ½ σ² E‖s(x̃) + z/σ‖² (the
//! single-noise loss of BENCHMARKS' T5). [`loss`] takes a level per row, so [`super::ncsn`] shares it.

use super::streams::score_of;
use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::{Kind, Model, Precision};
use crate::shard::rows_of;
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// Denoising score matching with per-row noise levels `sigma` (`B × 1`) and standard normal `z`: x̃ = x + σz,
/// loss = mean ½ σ² ‖s(x̃, σ) + z/σ‖² (the weighting λ(σ) = σ² of NCSN). Works for score and energy networks,
/// noise-conditional or not.
pub fn loss<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    z: &Tensor,
    sigma: &Tensor,
) -> Var<'t> {
    let xv = tape.tensor(&noised(x, z, sigma));
    let sg = tape.tensor_const(sigma);
    head(tape, model.score(tape, p, xv, Some(sg)), z, sg)
}

/// x + σz, σ one level per row.
fn noised(x: &Tensor, z: &Tensor, sigma: &Tensor) -> Tensor {
    let d = x.cols();
    Tensor::from_fn(x.rows(), d, |i, j| {
        x.get(i, j) + sigma.get(i, 0) * z.get(i, j)
    })
}

/// The loss from the score at the noisy points: mean ½ ‖σ s + z‖² (= ½ σ² ‖s + z/σ‖²).
fn head<'t>(tape: &'t Tape, s: TVar<'t>, z: &Tensor, sg: TVar<'t>) -> Var<'t> {
    (s * sg + tape.tensor_const(z)).square().sum() * (0.5 / z.rows() as f64)
}

/// The sharded gradient of [`loss`] for a batch, its noise and its levels, in the step's precision (in f32
/// an energy network's score comes from its tangents along the axes, [`super::streams`]).
pub(crate) fn gradient(step: &Step<'_>, m: &Model, z: &Tensor, sigma: &Tensor) -> Gradient {
    let x = step.batch;
    if step.precision == Precision::F32 {
        let dirs = match m.kind {
            Kind::Energy => super::streams::axes(x.cols()),
            Kind::Score => Vec::new(),
        };
        let noisy = noised(x, z, sigma);
        return super::streams::jet_gradient(
            step,
            m,
            &noisy,
            Some(sigma),
            &dirs,
            &[],
            |tape, jet, lo, hi| {
                let sg = tape.tensor_const(&rows_of(sigma, lo, hi));
                head(tape, score_of(m.kind, &jet), &rows_of(z, lo, hi), sg)
            },
        );
    }
    super::sharded(step.net, &[], x.rows(), |tape, p, _, lo, hi| {
        loss(
            m,
            tape,
            p,
            &rows_of(x, lo, hi),
            &rows_of(z, lo, hi),
            &rows_of(sigma, lo, hi),
        )
    })
}

/// Record `ladder` on a noise-conditional model (the levels its sampler anneals over), or refuse one that
/// differs from the ladder it was trained on.
pub(crate) fn keep_ladder(net: &mut Network, ladder: &[f64], name: &str) -> Result<(), ModelError> {
    let m = net.model_mut(name)?;
    if m.conditioning == crate::nn::Conditioning::None {
        return Ok(());
    }
    if m.sigmas.is_empty() {
        m.sigmas = ladder.to_vec();
        Ok(())
    } else if m.sigmas != ladder {
        Err(ModelError::BadParameter {
            param: "sigmas",
            value: format!("{ladder:?}"),
            reason: format!(
                "the model was trained on the ladder {:?}; a run continues it with the same",
                m.sigmas
            ),
        })
    } else {
        Ok(())
    }
}

/// The command line's ladder for data in model coordinates: 10 levels from the data's largest spread (at
/// least 0.1) down to 5% of it. The smallest level is the energy model's density (its likelihood and KL are
/// read there): on two moons, KL(data ‖ model) by AIS was 0.26 nats with the ladder down to 2%, 1.04 down
/// to 1%, 0.06 down to 5% and 0.11 down to 7% (4 × 96 network, 4,000 steps) — a ladder that ends lower asks
/// the network for an energy it learns worst.
pub fn default_ladder(z: &Tensor) -> Result<Vec<f64>, ModelError> {
    let st = crate::data::Standardization::fit(z);
    let top = st.scale.iter().fold(0.1f64, |a, s| a.max(*s));
    super::geometric_sigmas(top, 0.05 * top, 10)
}

/// Denoising score matching at one level σ.
#[derive(Clone, Debug, PartialEq)]
pub struct Dsm {
    sigma: f64,
}

impl Dsm {
    /// At noise level σ (positive, finite; in model coordinates).
    pub fn new(sigma: f64) -> Result<Self, ModelError> {
        Ok(Dsm {
            sigma: super::positive("sigma", sigma)?,
        })
    }

    /// σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

/// `dsm`.
pub const REGISTRATION: Registration = Registration {
    name: "dsm",
    help: "denoising score matching at one noise level (Vincent 2011)",
    trains: super::FIELDS,
    // the middle level of the ladder `ncsn` would use
    fresh: |z| {
        let ladder = default_ladder(z)?;
        Ok(Box::new(Dsm::new(ladder[ladder.len() / 2])?))
    },
    from_record: |r| Ok(Box::new(Dsm::new(r.get_number("sigma")?)?)),
};

impl Objective for Dsm {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::FIELDS, net)
    }

    fn prepare(&mut self, net: &mut Network, _data: &Tensor) -> Result<(), ModelError> {
        keep_ladder(net, &[self.sigma], self.name())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let (b, d) = step.batch.shape();
        let z = super::normals(b, d, step.rng);
        let sigma = Tensor::full(b, 1, self.sigma);
        Ok(gradient(&step, m, &z, &sigma))
    }

    fn record(&self) -> Record {
        Record::new(self.name()).number("sigma", self.sigma)
    }
}
