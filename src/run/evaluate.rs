//! Measuring a model's samples: MMD² to held-out data and KSD² under the model's own score.

use super::RunError;
use crate::autodiff::Tensor;
use crate::models::nn::Model;
use crate::models::sample::BatchTarget;
use crate::scores::{kernel_stein_discrepancy, mmd, Statistic};

/// log p(x) of an energy model at a point in data coordinates (up to a constant), at its smallest σ;
/// `None` for a score network (which has no log-density).
pub fn model_log_density(model: &Model, x: &[f64]) -> Option<f64> {
    let mut t = Tensor::row(x);
    if let Some(st) = &model.standardization {
        st.to_model(&mut t);
    }
    let mut s = Tensor::zeros(1, model.dim);
    let lp = model.eval_batch(&t, model.smallest_sigma(), &mut s)?;
    let log_det = model
        .standardization
        .as_ref()
        .map_or(0.0, |st| st.log_det());
    Some(lp[0] - log_det)
}

/// The most points of each set that [`evaluate`] uses: MMD and KSD cost O(n²), so larger sets are
/// subsampled (evenly spaced rows) to keep an evaluation within seconds.
pub const MAX_EVAL_POINTS: usize = 5_000;

/// How well samples match: MMD² to reference data and KSD² under the model's own score.
#[derive(Clone, Copy, Debug)]
pub struct Evaluation {
    /// Unbiased squared MMD between the samples and the reference (Gaussian kernel, median heuristic).
    /// An unbiased estimate: it can be slightly negative when the two sets match.
    pub mmd2: f64,
    /// Unbiased squared KSD (IMQ kernel) of the samples under the model's score at its smallest σ, in the
    /// model's own (standardised) coordinates: how well the sampler followed the model, whatever the model
    /// learnt. Can be slightly negative too.
    pub ksd2: f64,
    /// Samples used (at most [`MAX_EVAL_POINTS`]).
    pub samples_used: usize,
    /// Reference points used (at most [`MAX_EVAL_POINTS`]).
    pub reference_used: usize,
}

/// Rows of `t` as vectors: all of them, or `max` evenly spaced ones when there are more.
pub fn subsample_rows(t: &Tensor, max: usize) -> Vec<Vec<f64>> {
    let n = t.rows();
    let k = n.min(max);
    (0..k).map(|i| t.row_slice(i * n / k).to_vec()).collect()
}

/// Measure `samples` against `reference` (both data coordinates), each subsampled to
/// [`MAX_EVAL_POINTS`] (the KSD to a tenth of that: it evaluates the network at every point).
pub fn evaluate(
    model: &Model,
    samples: &Tensor,
    reference: &Tensor,
) -> Result<Evaluation, RunError> {
    evaluate_with(model, samples, reference, false)
}

/// [`evaluate`] with a progress bar over its two statistics on a terminal (`progress`).
pub fn evaluate_with(
    model: &Model,
    samples: &Tensor,
    reference: &Tensor,
    progress: bool,
) -> Result<Evaluation, RunError> {
    let bar = crate::models::progress::Progress::new(progress, 2, 0, "statistics");
    bar.message("MMD² to the reference".into());
    let sv = subsample_rows(samples, MAX_EVAL_POINTS);
    let rv = subsample_rows(reference, MAX_EVAL_POINTS);
    let mmd2 = mmd(&sv, &rv).inspect_err(|_| bar.abandon())?;
    bar.set(1);
    bar.message("KSD² under the model's score".into());
    // in the model's own coordinates: where it was trained, at scale 1 (a score in data coordinates at
    // scales far from 1 leaves f64)
    let mut z = samples.clone();
    let mut own = model.clone();
    if let Some(st) = own.standardization.take() {
        st.to_model(&mut z);
    }
    let kv = subsample_rows(&z, MAX_EVAL_POINTS / 10);
    let ksd2 = kernel_stein_discrepancy(&own.as_score(None), &kv, Statistic::U)
        .inspect_err(|_| bar.abandon())?;
    bar.finish();
    Ok(Evaluation {
        mmd2,
        ksd2,
        samples_used: sv.len(),
        reference_used: rv.len(),
    })
}
