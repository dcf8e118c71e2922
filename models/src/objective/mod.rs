//! Training objectives, one file each: a loss says what it needs from the network, draws its own inputs for a
//! batch, records its value on the tape, and owns its state (NCE's log Z, contrastive divergence's chains).
//! One loop ([`crate::fit`]) trains every network with any of them.
//!
//! | name | file | trains | what it minimises |
//! |---|---|---|---|
//! | `esm` | [`explicit`] | score, energy | ½ E‖s(x) − s*(x)‖², the target score s* known |
//! | `ism`, `ism-hutchinson` | [`implicit`] | score, energy | E[tr ∇s + ½‖s‖²] (Hyvärinen 2005), exact or Hutchinson's trace |
//! | `ssm`, `ssm-vr` | [`sliced`] | score, energy | E[vᵀ∇s v + ½(vᵀs)²] (Song et al. 2019), or the variance-reduced form |
//! | `dsm` | [`dsm`] | score, energy | ½ σ² E‖s(x + σz) + z/σ‖² (Vincent 2011) |
//! | `ncsn` | [`ncsn`] | noise-conditional | the same over a σ ladder (Song & Ermon 2019) |
//! | `nce` | [`nce`] | energy | noise-contrastive estimation with a learned log Z (Gutmann & Hyvärinen 2010) |
//! | `cd` | [`cd`] | energy | contrastive divergence with Langevin negatives, persistent chains, a replay buffer |
//! | `diffusion-dsm` | [`diffusion`] | diffusion | continuous-time denoising over t, weighted by σ², g², or g² importance-sampled |
//!
//! **Adding a loss** is one file here (a struct with its settings and state, its loss on the tape,
//! `impl Objective`, and a [`Registration`]: its name, a line of help, the networks it trains, how to make
//! a fresh one and how to read one back from a file) and one line in [`REGISTRY`]; the command line's
//! `--loss` takes its values from the registry.
//!
//! An objective's settings and state travel in model files as a [`Record`]: numbers, named choices and
//! tensors, each read back by name with an error that names the field.

pub mod cd;
pub mod diffusion;
pub mod dsm;
pub mod explicit;
pub mod flow;
pub mod implicit;
pub mod nce;
pub mod ncsn;
mod record;
pub mod sliced;
mod streams;

pub use record::Record;
pub use streams::{Along, Single};

use crate::error::ModelError;
use crate::network::{Network, NetworkKind};
use crate::nn::Precision;
use rand::rngs::SmallRng;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// A loss and its gradient in the network's parameters (then the objective's own tensors, in order).
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    /// The mean loss over the batch.
    pub loss: f64,
    /// One tensor per parameter of the network, then one per [`Objective::extra`] tensor.
    pub grads: Vec<Tensor>,
}

/// What one training step gives an objective: the network, its minibatch and the step's random stream.
pub struct Step<'a> {
    /// The network, in model coordinates.
    pub net: &'a Network,
    /// The minibatch: rows of the training data (model coordinates), drawn by the loop.
    pub batch: &'a Tensor,
    /// Every random draw of the step comes from here, in a fixed order (so a resumed run repeats it).
    pub rng: &'a mut SmallRng,
    /// The arithmetic of the passes.
    pub precision: Precision,
    /// The network in f32, kept in step with its parameters by the loop, for objectives with an f32 path.
    pub single: Option<&'a Single>,
}

/// A training objective. See the [module documentation](self) for the list and how to add one.
pub trait Objective: ObjectiveClone + Send + Sync + std::fmt::Debug {
    /// The name it is registered under (the command line's `--loss` value).
    fn name(&self) -> &'static str;

    /// Whether it can train `net`; the error says what it needs instead. (Every objective trains in f32
    /// and f64: [`Step::precision`].)
    fn check(&self, net: &Network) -> Result<(), ModelError>;

    /// Called once before the first step of a run, fresh or resumed, with the training data in model
    /// coordinates: fit what depends on the data (NCE's noise law, the box that contrastive divergence
    /// restarts its chains in), or record what the network keeps (a noise-conditional model's σ ladder).
    fn prepare(&mut self, _net: &mut Network, _data: &Tensor) -> Result<(), ModelError> {
        Ok(())
    }

    /// The loss of one step and its gradient: draw the inputs (every random draw from `step.rng`, in one
    /// order), then differentiate the mean over the rows — [`sharded`] runs shards of rows in parallel.
    /// An error (a sampler that failed inside the loss) stops the run with its message.
    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError>;

    /// Rows of the loss's mean per point of the batch (several projections per point tile it); the loop
    /// bounds the batch with it before any step.
    fn rows_per_point(&self) -> usize {
        1
    }

    /// Tensors the objective learns beside the network (NCE's log Z), updated by the loop's optimiser.
    fn extra(&self) -> &[Tensor] {
        &[]
    }

    /// The learned tensors, to update.
    fn extra_mut(&mut self) -> &mut [Tensor] {
        &mut []
    }

    /// Its settings and state, to keep in checkpoints and model files (read back by [`REGISTRY`]).
    fn record(&self) -> Record;
}

/// A copy of a boxed objective, settings and state (every objective is `Clone`; this makes the box so).
pub trait ObjectiveClone {
    /// The copy.
    fn clone_box(&self) -> Box<dyn Objective>;
}

impl<T: Objective + Clone + 'static> ObjectiveClone for T {
    fn clone_box(&self) -> Box<dyn Objective> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Objective> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// How a registered objective is built.
pub struct Registration {
    /// The name (the command line's `--loss` value).
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The kinds of network it trains.
    pub trains: &'static [NetworkKind],
    /// A fresh one with the command line's defaults for the training data (model coordinates): the σ
    /// ladder of the denoising objectives is fitted to their spread.
    pub fresh: fn(&Tensor) -> Result<Box<dyn Objective>, ModelError>,
    /// Rebuild it from its record (settings and state), as [`Objective::record`] wrote it.
    pub from_record: fn(&Record) -> Result<Box<dyn Objective>, ModelError>,
}

use NetworkKind::{Diffusion as D, Energy as E, Score as S};

/// Every objective: one line each.
pub const REGISTRY: &[Registration] = &[
    explicit::REGISTRATION,
    implicit::REGISTRATION,
    implicit::REGISTRATION_HUTCHINSON,
    sliced::REGISTRATION,
    sliced::REGISTRATION_VR,
    dsm::REGISTRATION,
    ncsn::REGISTRATION,
    nce::REGISTRATION,
    cd::REGISTRATION,
    diffusion::REGISTRATION,
    flow::REGISTRATION,
    flow::REGISTRATION_OT,
];

/// Every kind of score or energy model.
pub(crate) const FIELDS: &[NetworkKind] = &[S, E];
/// Energy models only.
pub(crate) const ENERGY: &[NetworkKind] = &[E];
/// Diffusion models only.
pub(crate) const DIFFUSION: &[NetworkKind] = &[D];

/// The registration named `name`, or an error listing the names.
pub fn registration(name: &str) -> Result<&'static Registration, ModelError> {
    REGISTRY
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ModelError::BadParameter {
            param: "objective",
            value: name.into(),
            reason: format!(
                "unknown; the objectives are {}",
                REGISTRY
                    .iter()
                    .map(|r| r.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Rebuild an objective from its record (the registry entry of its name).
pub fn from_record(record: &Record) -> Result<Box<dyn Objective>, ModelError> {
    (registration(&record.name)?.from_record)(record)
}

/// The error of an objective that cannot train a network of kind `kind`.
pub(crate) fn needs(name: &str, kinds: &[NetworkKind], net: &Network) -> Result<(), ModelError> {
    if kinds.contains(&net.kind()) {
        return Ok(());
    }
    Err(ModelError::BadParameter {
        param: "objective",
        value: name.into(),
        reason: format!(
            "trains {} models, not {} models",
            kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(" and "),
            net.kind().name()
        ),
    })
}

/// A noise-conditional model can only be trained by a denoising objective (the only ones that give it σ).
pub(crate) fn unconditioned(name: &str, net: &Network) -> Result<(), ModelError> {
    if net.noise_conditional() {
        return Err(ModelError::BadParameter {
            param: "objective",
            value: name.into(),
            reason: "cannot train a noise-conditional model (it gives the network no σ): use dsm or ncsn"
                .into(),
        });
    }
    Ok(())
}

/// The mean loss over `rows` rows and its gradient in the network's parameters (then in `extra`), from
/// `loss(tape, params, extra, lo, hi)` — the mean over rows `lo..hi`, recorded on its own tape — over shards
/// of rows in parallel ([`crate::shard`]). The result does not depend on the thread count.
pub fn sharded<'a>(
    net: &Network,
    extra: &[Tensor],
    rows: usize,
    loss: impl for<'t> Fn(&'t Tape, &[TVar<'t>], &[TVar<'t>], usize, usize) -> Var<'t> + Sync + 'a,
) -> Gradient {
    let params = net.params();
    let (loss, grads) = crate::shard::sharded(rows, |lo, hi| {
        stein_autodiff::with_tape(|tape| {
            let p: Vec<TVar> = params.iter().map(|w| tape.tensor(w)).collect();
            let e: Vec<TVar> = extra.iter().map(|w| tape.tensor(w)).collect();
            let l = loss(tape, &p, &e, lo, hi);
            let all: Vec<TVar> = p.iter().chain(&e).copied().collect();
            (l.value(), tape.grad_tensors(l, &all))
        })
    });
    Gradient { loss, grads }
}

/// `b` rows drawn uniformly with replacement.
pub fn sample_rows<R: Rng + ?Sized>(data: &Tensor, b: usize, rng: &mut R) -> Tensor {
    let (n, d) = data.shape();
    let mut out = Vec::with_capacity(b * d);
    for _ in 0..b {
        let i = rng.random_range(0..n);
        out.extend_from_slice(data.row_slice(i));
    }
    Tensor::new(b, d, out).expect("b × d")
}

/// Repeat each row of `x` `m` times (row-major blocks), for several projections per point.
pub fn tile_rows(x: &Tensor, m: usize) -> Tensor {
    if m == 1 {
        return x.clone();
    }
    let mut data = Vec::with_capacity(x.len() * m);
    for _ in 0..m {
        data.extend_from_slice(x.data());
    }
    Tensor::new(x.rows() * m, x.cols(), data).expect("sizes multiply")
}

/// A `rows × cols` tensor of standard normals.
pub(crate) fn normals<R: Rng + ?Sized>(rows: usize, cols: usize, rng: &mut R) -> Tensor {
    Tensor::from_fn(rows, cols, |_, _| StandardNormal.sample(rng))
}

/// Distribution of random projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    /// ±1 entries.
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

impl Projection {
    /// A `rows × cols` tensor of projections.
    pub fn draw<R: Rng + ?Sized>(self, rows: usize, cols: usize, rng: &mut R) -> Tensor {
        Tensor::from_fn(rows, cols, |_, _| match self {
            Projection::Rademacher => {
                if rng.random::<bool>() {
                    1.0
                } else {
                    -1.0
                }
            }
            Projection::Gaussian => StandardNormal.sample(rng),
        })
    }

    /// `rademacher` or `gaussian`.
    pub fn name(self) -> &'static str {
        match self {
            Projection::Rademacher => "rademacher",
            Projection::Gaussian => "gaussian",
        }
    }

    /// The law named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rademacher" => Some(Projection::Rademacher),
            "gaussian" => Some(Projection::Gaussian),
            _ => None,
        }
    }
}

/// The most projections per point the sliced and Hutchinson objectives accept.
pub const MAX_PROJECTIONS: usize = 1024;

/// Check a count of projections.
pub(crate) fn check_projections(projections: usize) -> Result<usize, ModelError> {
    if (1..=MAX_PROJECTIONS).contains(&projections) {
        Ok(projections)
    } else {
        Err(ModelError::BadParameter {
            param: "projections",
            value: projections.to_string(),
            reason: format!("need 1 to {MAX_PROJECTIONS} per point"),
        })
    }
}

/// A positive, finite number, or an error naming it.
pub(crate) fn positive(param: &'static str, v: f64) -> Result<f64, ModelError> {
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(ModelError::BadParameter {
            param,
            value: v.to_string(),
            reason: "must be positive and finite".into(),
        })
    }
}

/// A geometric ladder of `n` noise levels from `max` down to `min` (NCSN).
///
/// An error unless 0 < `min` ≤ `max` < ∞ and 1 ≤ `n` ≤ [`crate::nn::limits::MAX_SIGMAS`].
pub fn geometric_sigmas(max: f64, min: f64, n: usize) -> Result<Vec<f64>, ModelError> {
    if !(min > 0.0 && min <= max && max.is_finite()) {
        return Err(ModelError::BadParameter {
            param: "max/min",
            value: format!("{max}/{min}"),
            reason: "need 0 < min ≤ max < ∞".into(),
        });
    }
    if !(1..=crate::nn::limits::MAX_SIGMAS).contains(&n) {
        return Err(ModelError::BadParameter {
            param: "n",
            value: n.to_string(),
            reason: format!("need 1 to {} levels", crate::nn::limits::MAX_SIGMAS),
        });
    }
    if n == 1 {
        return Ok(vec![max]);
    }
    Ok((0..n)
        .map(|i| max * (min / max).powf(i as f64 / (n - 1) as f64))
        .collect())
}

/// Σᵢ ∂sᵢ/∂xᵢ per row (`B × 1`), exact: one recorded sweep per dimension (for users' own derivative losses;
/// the objectives here use Taylor mode, [`crate::nn::jet`]).
pub fn trace_jacobian<'t>(tape: &'t Tape, s: TVar<'t>, x: TVar<'t>) -> TVar<'t> {
    let d = x.cols();
    let mut tr: Option<TVar> = None;
    for i in 0..d {
        let gi = tape.grad_graph_tensors(s.slice_cols(i, 1).sum(), &[x])[0].slice_cols(i, 1);
        tr = Some(match tr {
            None => gi,
            Some(t) => t + gi,
        });
    }
    tr.expect("d ≥ 1")
}

/// The sum of a non-empty list of tensors.
pub(crate) fn sum_of<'t>(terms: impl Iterator<Item = TVar<'t>>) -> TVar<'t> {
    terms.reduce(|a, b| a + b).expect("at least one term")
}
