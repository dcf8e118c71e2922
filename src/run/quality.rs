//! How good a trained model is, measured against held-out data (and the data's exact density where it is
//! known): the aggregated MMD two-sample test of its samples, its held-out NLL (diffusion models by the
//! probability-flow ODE, energy models with log Z by annealed importance sampling), KL(data ‖ model) and
//! the `outside` fraction on the built-in sets, and the verdict built from them ([`Verdict`]).

use super::RunError;
use crate::autodiff::Tensor;
use crate::models::data::ToyDensity;
use crate::models::diffusion::net::TimeModel;
use crate::models::nn::{Kind, Model, Precision};
use crate::models::quality::ais::{self, Ais, LogZ};
use crate::models::quality::{kl_readout, sample_test, Outside, PointMean, Verdict};
use crate::scores::gof::AggregatedResult;

/// The most held-out points whose likelihood a readout computes (evenly spaced rows).
pub const LIKELIHOOD_POINTS: usize = 1000;

/// What a model's readouts are measured against.
#[derive(Clone, Copy)]
pub struct Against<'a> {
    /// Held-out points of the data (data coordinates), never trained on.
    pub reference: &'a Tensor,
    /// The data's exact density, when known (the built-in sets: [`crate::models::data::Toy::density`]).
    pub truth: Option<&'a ToyDensity>,
    /// Seed of the test's permutations, AIS and Hutchinson's probes.
    pub seed: u64,
}

/// The readouts of a trained model.
#[derive(Clone, Debug)]
pub struct Quality {
    /// The two-sample test of the samples against the held-out points (`None`: too few of either).
    pub test: Option<AggregatedResult>,
    /// Held-out points available.
    pub reference_points: usize,
    /// The held-out NLL per point, summarised (`None`: a score network, which has no density, or an energy
    /// model whose log Z by AIS is not [`LogZ::reliable`]).
    pub nll: Option<PointMean>,
    /// log Z of an energy model by AIS.
    pub log_z: Option<LogZ>,
    /// KL(data ‖ model) where the data's density is known and the model has one (read as `nll`).
    pub kl: Option<PointMean>,
    /// The fraction of samples where the data almost never are, where the data's density is known.
    pub outside: Option<Outside>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Evenly spaced rows of `t`, at most `max`, as a tensor.
fn held_rows(t: &Tensor, max: usize) -> Tensor {
    let rows: Vec<f64> = super::subsample_rows(t, max).concat();
    Tensor::new(rows.len() / t.cols().max(1), t.cols(), rows).expect("whole rows")
}

/// log q of each row of `x` (data coordinates) under an energy model, normalised by log Z from AIS
/// ([`ais::log_z`], default settings, its base fitted to `samples` of the model), and the estimate of
/// log Z itself (in model coordinates). An error for a score network.
///
/// ```
/// use rand::SeedableRng;
/// use stein::autodiff::Tensor;
/// use stein::models::nn::{Activation, Model};
/// use stein::run::quality::energy_log_likelihood;
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let model = Model::energy(2, &[8], Activation::Silu, &mut rng);
/// let samples = Tensor::from_fn(300, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
/// let (lq, z) = energy_log_likelihood(&model, &samples, &samples, 0).unwrap();
/// assert!(lq.iter().all(|v| v.is_finite()) && z.se.is_finite());
/// ```
pub fn energy_log_likelihood(
    model: &Model,
    x: &Tensor,
    samples: &Tensor,
    seed: u64,
) -> Result<(Vec<f64>, LogZ), RunError> {
    if model.kind != Kind::Energy {
        return Err(RunError::Usage(
            "a score network has no log-density: only energy and diffusion models have a likelihood"
                .into(),
        ));
    }
    let mut z = samples.clone();
    if let Some(st) = &model.standardization {
        st.to_model(&mut z);
    }
    let base = ais::base_for(&z)?;
    let opts = Ais {
        seed,
        ..Ais::default()
    };
    let log_z =
        crate::autodiff::on_pool(|| ais::log_z(model, model.smallest_sigma(), &base, &opts))?;
    let lq: Vec<f64> = (0..x.rows())
        .map(|i| {
            super::model_log_density(model, x.row_slice(i)).map_or(f64::NAN, |l| l - log_z.log_z)
        })
        .collect();
    if let Some(i) = lq.iter().position(|v| !v.is_finite()) {
        return Err(RunError::Usage(format!(
            "the model's log-density at held-out point {i} is not finite: it lies beyond what the model can score"
        )));
    }
    Ok((lq, log_z))
}

/// The readouts of a score or energy model from its `samples` (data coordinates).
pub fn quality_of_model(
    model: &Model,
    samples: &Tensor,
    against: &Against<'_>,
) -> Result<Quality, RunError> {
    let held = held_rows(against.reference, LIKELIHOOD_POINTS);
    let (log_q, log_z) = if model.kind == Kind::Energy {
        let (lq, z) = energy_log_likelihood(model, &held, samples, against.seed)?;
        (Some(lq), Some(z))
    } else {
        (None, None)
    };
    assemble(samples, &held, log_q, log_z, against)
}

/// The readouts of a diffusion model from its `samples` (data coordinates).
#[cfg(feature = "io")]
pub fn quality_of_diffusion(
    model: &TimeModel,
    samples: &Tensor,
    against: &Against<'_>,
    precision: Precision,
) -> Result<Quality, RunError> {
    let held = held_rows(against.reference, LIKELIHOOD_POINTS);
    let ll = super::diffusion::likelihood(model, &held, against.seed, precision)?;
    assemble(samples, &held, Some(ll.nats), None, against)
}

fn assemble(
    samples: &Tensor,
    held: &Tensor,
    log_q: Option<Vec<f64>>,
    log_z: Option<LogZ>,
    against: &Against<'_>,
) -> Result<Quality, RunError> {
    let test = sample_test(samples, against.reference, against.seed)?;
    // a log Z whose effective sample size is too low makes every log q unreadable: no NLL, no KL
    let log_q = log_q.filter(|_| log_z.as_ref().is_none_or(LogZ::reliable));
    let nll = match &log_q {
        Some(lq) => Some(PointMean::of(
            "NLL",
            &lq.iter().map(|v| -v).collect::<Vec<_>>(),
        )?),
        None => None,
    };
    let (kl, outside) = match against.truth {
        Some(truth) => {
            let lp = truth.log_pdf_rows(held);
            let kl = match &log_q {
                Some(lq) => Some(kl_readout(&lp, lq)?),
                None => None,
            };
            let reference_lp = truth.log_pdf_rows(against.reference);
            let outside = Outside::of(&reference_lp, &truth.log_pdf_rows(samples)).ok();
            (kl, outside)
        }
        None => (None, None),
    };
    let verdict = Verdict::new(test.as_ref(), against.reference.rows(), kl.as_ref());
    Ok(Quality {
        test,
        reference_points: against.reference.rows(),
        nll,
        log_z,
        kl,
        outside,
        verdict,
    })
}
