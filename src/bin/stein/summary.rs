//! The words of a training run: `summary.txt` and the verdict printed at the end.

use stein::models::train::Trainer;
use stein::run::{Evaluation, MAX_EVAL_POINTS};

/// What the summary reports.
pub struct Facts<'a> {
    pub trainer: &'a Trainer,
    pub loss: &'a str,
    pub final_loss: String,
    pub train_seconds: f64,
    pub sampler: &'a str,
    pub samples: usize,
    pub acceptance: f64,
    pub sample_seconds: f64,
    pub eval: &'a Evaluation,
}

/// One line: whether the samples match held-out data, with the MMD² that says so.
pub fn verdict(e: &Evaluation) -> String {
    verdict_of(e.mmd2)
}

/// [`verdict`] from the MMD² alone.
pub fn verdict_of(mmd2: f64) -> String {
    let words = if mmd2 < 0.002 {
        "samples match held-out data"
    } else if mmd2 < 0.02 {
        "samples roughly match held-out data"
    } else {
        "samples do not match held-out data yet (train longer, or try another loss or sampler)"
    };
    format!("{words}: MMD² {mmd2:.5}")
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// The text of `summary.txt`.
pub fn text(f: &Facts<'_>) -> String {
    let model = &f.trainer.model;
    let standardized = match &model.standardization {
        Some(st) => format!(
            "mean {:?}, scale {:?}",
            st.mean.iter().map(|v| round4(*v)).collect::<Vec<_>>(),
            st.scale.iter().map(|v| round4(*v)).collect::<Vec<_>>()
        ),
        None => "no (--no-standardize)".into(),
    };
    let e = f.eval;
    let lines = [
        format!("data            {} ({} dimensions)", f.trainer.data, model.dim),
        format!("standardised    {standardized}"),
        format!(
            "model           {:?} ({:?}), {} parameters",
            model.kind,
            model.conditioning,
            model.net.num_params()
        ),
        format!("loss            {} (final, mean of last 10 logs) = {}", f.loss, f.final_loss),
        format!("steps           {}", f.trainer.step),
        format!("sampler         {} ({} samples), acceptance {:.3}", f.sampler, f.samples, f.acceptance),
        format!(
            "MMD²            {:.5} to held-out data (Gaussian kernel, median heuristic; {} samples vs {} points)",
            e.mmd2, e.samples_used, e.reference_used
        ),
        format!(
            "KSD²            {:.5} of the samples under the learned score (IMQ kernel, in the model's standardised coordinates; {} samples)",
            e.ksd2,
            e.samples_used.min(MAX_EVAL_POINTS / 10)
        ),
        "                both are unbiased estimates of quantities that are 0 when the distributions match,".into(),
        "                so values slightly below 0 are noise around a match".into(),
        format!("verdict         {}", verdict(e)),
        format!("train time      {:.1} s", f.train_seconds),
        format!("sample time     {:.1} s", f.sample_seconds),
    ];
    lines.join("\n") + "\n"
}
