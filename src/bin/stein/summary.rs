//! The words of a training run: `summary.txt` and the verdict printed at the end. No Rust `Debug` text:
//! every setting is written in words.

use stein::models::diffusion::net::{Output, TimeModel};
use stein::models::diffusion::{Schedule, Sde};
use stein::models::fit::Trainer;
use stein::models::nn::{Activation, Conditioning, Kind, Mlp, Model};
use stein::run::quality::Quality;
use stein::run::{Evaluation, MAX_EVAL_POINTS};

/// What a score or energy run's summary reports.
pub struct Facts<'a> {
    pub trainer: &'a Trainer,
    pub model: &'a Model,
    pub final_loss: String,
    pub train_seconds: f64,
    pub sampler: &'a str,
    pub samples: usize,
    pub acceptance: f64,
    pub sample_seconds: f64,
    pub eval: &'a Evaluation,
    pub quality: &'a Quality,
}

/// What a diffusion run's summary reports.
pub struct DiffusionFacts<'a> {
    pub trainer: &'a Trainer,
    pub model: &'a TimeModel,
    pub final_loss: String,
    pub sampler: &'a str,
    pub samples: usize,
    pub quality: &'a Quality,
    pub train_seconds: f64,
    pub sample_seconds: f64,
}

/// The lines of the readouts: the two-sample test, the NLL (and how it was computed), the KL and the
/// `outside` fraction where the data's density is known, and the verdict.
pub fn quality_lines(q: &Quality, data: &str, dim: usize, how: &str) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(match &q.test {
        Some(t) => {
            let (lo, hi) = (
                t.bandwidths.first().map_or(0.0, |b| b.bandwidth),
                t.bandwidths.last().map_or(0.0, |b| b.bandwidth),
            );
            format!(
                "two-sample test p = {:.3}: aggregated MMD (Gaussian kernels of bandwidth {lo:.3} to {hi:.3}, {} permutations) of {} samples vs {} held-out points",
                t.p_value, t.permutations, t.n_x, t.n_y
            )
        }
        None => format!(
            "two-sample test not run: {} held-out points are too few to have power",
            q.reference_points
        ),
    });
    if let Some(nll) = &q.nll {
        let bits = nll.typical() / (dim as f64 * std::f64::consts::LN_2);
        lines.push(format!(
            "NLL             {} ({bits:.4} bits/dim) of {} held-out points, {how}",
            nll.words("nats"),
            nll.n
        ));
    }
    if let Some(z) = &q.log_z {
        lines.push(if z.reliable() {
            format!(
                "log Z           {:.4} ± {:.4} by annealed importance sampling ({} particles, ESS {:.0}); its error makes the NLL and KL optimistic, not pessimistic",
                z.log_z, z.se, z.particles, z.ess
            )
        } else {
            format!(
                "log Z           not measured: annealed importance sampling kept an effective sample size of {:.0} of {} particles (10% needed), so no NLL or KL either; the model's density may not be normalisable (samples far from the data say so)",
                z.ess, z.particles
            )
        });
    }
    if let Some(kl) = &q.kl {
        lines.push(format!(
            "KL(data‖model) {} over {} held-out points of {data}, against its exact density",
            kl.words("nats"),
            kl.n
        ));
    }
    if let Some(o) = &q.outside {
        lines.push(format!(
            "outside         {:.4} ± {:.4} of {} samples fall below the data's 1st-percentile density (ideal 0.01; 0 off a support with edges)",
            o.fraction, o.se, o.samples
        ));
    }
    lines.push(format!("verdict         {}", q.verdict.words));
    lines
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// The network in words: "3-128-128-1, SiLU, 17,153 parameters".
fn network_words(net: &Mlp) -> String {
    let widths: Vec<String> = net.widths.iter().map(|w| w.to_string()).collect();
    let act = match net.activation {
        Activation::Silu => "SiLU",
        Activation::Softplus => "softplus",
        Activation::Tanh => "tanh",
        Activation::Elu => "ELU",
        Activation::Relu => "ReLU",
    };
    format!(
        "{}, {act}, {} parameters",
        widths.join("-"),
        net.num_params()
    )
}

/// The standardisation in words.
fn standardized_words(st: Option<&stein::models::data::Standardization>) -> String {
    match st {
        Some(st) => format!(
            "mean {:?}, scale {:?}",
            st.mean.iter().map(|v| round4(*v)).collect::<Vec<_>>(),
            st.scale.iter().map(|v| round4(*v)).collect::<Vec<_>>()
        ),
        None => "no (--no-standardize)".into(),
    }
}

/// The text of a score or energy run's `summary.txt`.
pub fn text(f: &Facts<'_>) -> String {
    let model = f.model;
    let kind = match model.kind {
        Kind::Energy => "energy network",
        Kind::Score => "score network",
    };
    let cond = match model.conditioning {
        Conditioning::None => "",
        Conditioning::InputAndScale => ", noise-conditional",
    };
    let e = f.eval;
    let lines = [
        format!("data            {} ({} dimensions)", f.trainer.data, model.dim),
        format!("standardised    {}", standardized_words(model.standardization.as_ref())),
        format!("model           {kind}{cond}: {}", network_words(&model.net)),
        format!(
            "loss            {} (final, mean of last 10 logs) = {}",
            f.trainer.objective.name(),
            f.final_loss
        ),
        format!("steps           {}{}", f.trainer.step, average_words(&f.trainer.settings)),
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
    ];
    let how = "with log Z by annealed importance sampling";
    let mut lines = lines.to_vec();
    lines.extend(quality_lines(f.quality, &f.trainer.data, model.dim, how));
    lines.push(format!(
        "train time      {:.1} s ({} passes)",
        f.train_seconds,
        f.trainer.settings.precision.name()
    ));
    lines.push(format!("sample time     {:.1} s", f.sample_seconds));
    lines.join("\n") + "\n"
}

/// What the model's parameters are, when they are not the last step's.
fn average_words(s: &stein::models::fit::Settings) -> String {
    s.ema.map_or(String::new(), |d| {
        format!("; the model is the parameters' moving average (decay {d})")
    })
}

/// The SDE in words.
fn sde_words(sde: &Sde) -> String {
    let schedule = |s: &Schedule| match *s {
        Schedule::Linear { beta_min, beta_max } => format!("β from {beta_min} to {beta_max}"),
        Schedule::Cosine { s } => format!("cosine schedule, offset {s}"),
    };
    match sde {
        Sde::Ve {
            sigma_min,
            sigma_max,
        } => format!("VE (σ from {sigma_min} to {sigma_max:.4})"),
        Sde::Vp(s) => format!("VP ({})", schedule(s)),
        Sde::SubVp(s) => format!("sub-VP ({})", schedule(s)),
        Sde::Linear => "the straight path of flow matching (x_t = (1 − t) x₀ + t z)".into(),
    }
}

/// What the network's output stands for, in words.
fn output_words(o: Output) -> &'static str {
    match o {
        Output::Score => "the score",
        Output::Noise => "the noise ε",
        Output::Denoised => "the denoised x₀ (EDM)",
        Output::Velocity => "the velocity of the probability-flow ODE",
    }
}

/// The text of a diffusion run's `summary.txt`.
pub fn diffusion_text(f: &DiffusionFacts<'_>) -> String {
    let m = f.model;
    let s = &f.trainer.settings;
    [
        format!("data            {} ({} dimensions)", f.trainer.data, m.dim),
        format!(
            "standardised    {}",
            standardized_words(m.standardization.as_ref())
        ),
        format!(
            "model           diffusion, {} SDE, output read as {}: {}",
            sde_words(&m.sde),
            output_words(m.output),
            network_words(&m.net)
        ),
        format!(
            "training        {} steps of {}, final loss {}{}",
            f.trainer.step,
            f.trainer.objective.name(),
            f.final_loss,
            average_words(s)
        ),
        format!("sampler         {} ({} samples)", f.sampler, f.samples),
    ]
    .into_iter()
    .chain(quality_lines(
        f.quality,
        &f.trainer.data,
        m.dim,
        "by the probability-flow ODE",
    ))
    .chain([
        format!(
            "train time      {:.1} s ({} passes)",
            f.train_seconds,
            s.precision.name()
        ),
        format!("sample time     {:.1} s", f.sample_seconds),
    ])
    .collect::<Vec<_>>()
    .join("\n")
        + "\n"
}
