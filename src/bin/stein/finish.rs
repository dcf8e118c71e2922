//! What a training run does after training: sample the model, measure the samples, and write the samples,
//! pictures and summary into the run folder — all at once ([`Staging`]): nothing of it is written when any of
//! it fails. Score and energy models are sampled by a Markov chain, diffusion models by a reverse-time sampler.

use crate::args::{SamplerArg, ViewArg};
use crate::error::{unless_undrawable, CliError};
use crate::lifecycle::{final_loss, loss_chart, pictures_line};
use crate::output::{write_csv, write_text};
use crate::pictures::{Pictures, ANIMATION_FRAMES};
use crate::staging::Staging;
use crate::summary;
use std::path::Path;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::diffusion::net::TimeModel;
use stein::models::fit::Trainer;
use stein::models::network::Network;
use stein::models::nn::Model;
use stein::run::diffusion::{sample_diffusion, ReverseKind};
use stein::run::quality::{quality_of_diffusion, quality_of_model, Against};
use stein::run::{evaluate_with, sample_model_with, uniform_init};
use stein::run::{SampleOptions, SamplerKind};
use stein::scores::plot::padded_range;

/// How a trained model is sampled.
#[derive(Clone, Copy, Debug)]
pub enum Sampler {
    /// A Markov chain (score and energy models).
    Chain(SamplerKind),
    /// A reverse-time sampler (diffusion models).
    Reverse(ReverseKind),
}

impl Sampler {
    /// The `--sampler` flag's sampler for `net`, or the network's default; an error when it does not fit.
    pub fn for_network(flag: Option<SamplerArg>, net: &Network) -> Result<Sampler, CliError> {
        Ok(match net {
            Network::Diffusion(m) => Sampler::Reverse(
                flag.map_or(Ok(ReverseKind::default_for(&m.sde)), SamplerArg::reverse)
                    .map_err(CliError::Usage)?,
            ),
            Network::Model(m) => {
                let k = match flag {
                    Some(s) => s.kind().map_err(CliError::Usage)?,
                    None => SamplerKind::default_for(m),
                };
                k.check(m)?;
                Sampler::Chain(k)
            }
        })
    }
}

/// A trained model with what its samples, pictures and summary need.
pub struct Trained<'a> {
    pub trainer: &'a Trainer,
    pub data: &'a Tensor,
    pub reference: &'a Tensor,
    pub sampler: Sampler,
    /// The loss curve of the whole run (across resumptions).
    pub losses: &'a [(usize, f64)],
    pub train_seconds: f64,
    pub samples: usize,
    pub view: ViewArg,
    pub progress: bool,
}

/// Sample, measure and write everything; returns the lines to print.
pub fn finish(t: &Trained<'_>, dir: &Path) -> Result<Vec<String>, CliError> {
    // the model the run stands for: the parameters' moving average when the run keeps one
    match (&t.trainer.averaged(), t.sampler) {
        (Network::Model(m), Sampler::Chain(k)) => chains(t, m, k, dir),
        (Network::Diffusion(m), Sampler::Reverse(k)) => reverse(t, m, k, dir),
        _ => unreachable!("Sampler::for_network matched the sampler to the network"),
    }
}

/// A score or energy model, sampled by chains started uniformly over the data's range (framed in model
/// coordinates, where a standardised model lives, and mapped back).
fn chains(
    t: &Trained<'_>,
    model: &Model,
    sampler: SamplerKind,
    dir: &Path,
) -> Result<Vec<String>, CliError> {
    let (data, reference) = (t.data, t.reference);
    let dim = data.cols();
    let mut z = data.clone();
    if let Some(st) = &model.standardization {
        st.to_model(&mut z);
    }
    let frame: Vec<(f64, f64)> = (0..dim)
        .map(|j| padded_range((0..z.rows()).map(|i| z.get(i, j))))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            CliError::Usage("the data are too far out to sample from (standardise them: leave out --no-standardize)".into())
        })?;
    let seed = t.trainer.settings.seed;
    let mut init = uniform_init(&frame, t.samples, seed ^ 0x5EED);
    if let Some(st) = &model.standardization {
        st.to_data(&mut init);
    }
    let t0 = Instant::now();
    let opts = SampleOptions {
        progress: t.progress,
        frames: if dim >= 2 { ANIMATION_FRAMES } else { 0 },
    };
    let sampled = sample_model_with(model, sampler, &init, seed, opts)?;
    let samples = &sampled.samples;
    let acceptance = sampled.run.acceptance();
    let sample_seconds = t0.elapsed().as_secs_f64();
    let eval = evaluate_with(model, samples, reference, t.progress)?;
    let truth = crate::data::truth_of(&t.trainer.data);
    let quality = quality_of_model(
        model,
        samples,
        &Against {
            reference,
            truth: truth.as_ref(),
            seed,
        },
    )?;
    let mut stage = Staging::new(dir)?;
    write_csv(&stage.path("samples.csv"), samples)?;
    let pictures = Pictures {
        model,
        view: t.view,
        name: &t.trainer.data,
    };
    let (mut written, mut skipped) = (Vec::new(), None);
    let draw = |stage: &mut Staging, written: &mut Vec<&str>| -> Result<bool, CliError> {
        pictures.samples(&stage.path("samples.png"), samples, Some(reference))?;
        written.push("samples.png");
        if pictures.score_field(&stage.path("score_field.png"), reference)? {
            written.push("score_field.png");
        }
        let gif = stage.path("samples.gif");
        if pictures.animation(&gif, &sampled.frames, reference, sampler.name())? {
            written.push("samples.gif");
        }
        Ok(true)
    };
    unless_undrawable(draw(&mut stage, &mut written), &mut skipped)?;
    let objective = t.trainer.objective.name();
    let title = format!("training loss ({objective})");
    if loss_chart(&stage.path("loss.png"), &title, t.losses)? {
        written.push("loss.png");
    }
    let final_loss = final_loss(t.losses);
    let text = summary::text(&summary::Facts {
        trainer: t.trainer,
        model,
        final_loss: final_loss.clone(),
        train_seconds: t.train_seconds,
        sampler: sampler.name(),
        samples: t.samples,
        acceptance,
        sample_seconds,
        eval: &eval,
        quality: &quality,
    });
    write_text(&stage.path("summary.txt"), &text)?;
    stage.commit()?;
    Ok(vec![
        format!("final loss   {final_loss}"),
        format!(
            "samples      {} with {} in {sample_seconds:.1} s, {}",
            t.samples,
            sampler.name(),
            quality.verdict.words
        ),
        pictures_line(&written, skipped.as_deref()),
    ])
}

/// A diffusion model, sampled from its prior by a reverse-time sampler; its held-out likelihood too.
fn reverse(
    t: &Trained<'_>,
    model: &TimeModel,
    kind: ReverseKind,
    dir: &Path,
) -> Result<Vec<String>, CliError> {
    let reference = t.reference;
    let d = model.dim;
    let settings = &t.trainer.settings;
    let t1 = Instant::now();
    let frames = if d >= 2 { ANIMATION_FRAMES } else { 0 };
    let (samples, snaps) = sample_diffusion(
        model,
        &kind.method(),
        t.samples,
        settings.seed ^ 0x5EED,
        frames,
        settings.precision,
    )?;
    let sample_s = t1.elapsed().as_secs_f64();
    let truth = crate::data::truth_of(&t.trainer.data);
    let quality = quality_of_diffusion(
        model,
        &samples,
        &Against {
            reference,
            truth: truth.as_ref(),
            seed: settings.seed,
        },
        settings.precision,
    )?;
    let mut stage = Staging::new(dir)?;
    write_csv(&stage.path("samples.csv"), &samples)?;
    let mut skipped = None;
    let name = &t.trainer.data;
    let pictures = crate::diffuse_pictures::pictures(
        &mut stage,
        model,
        name,
        t.view,
        &samples,
        reference,
        &snaps,
        settings.seed,
    );
    let mut written = match pictures {
        Err(CliError::Undrawable(why)) => {
            skipped = Some(why);
            Vec::new()
        }
        other => other?,
    };
    let title = "training loss (denoising score matching over t)";
    if loss_chart(&stage.path("loss.png"), title, t.losses)? {
        written.push("loss.png");
    }
    let text = summary::diffusion_text(&summary::DiffusionFacts {
        trainer: t.trainer,
        model,
        final_loss: final_loss(t.losses),
        sampler: kind.name(),
        samples: t.samples,
        quality: &quality,
        train_seconds: t.train_seconds,
        sample_seconds: sample_s,
    });
    write_text(&stage.path("summary.txt"), &text)?;
    stage.commit()?;
    Ok(vec![
        format!(
            "samples      {} with {} in {sample_s:.1} s, {}",
            t.samples,
            kind.name(),
            quality.verdict.words
        ),
        format!(
            "NLL          {} of held-out points",
            quality
                .nll
                .as_ref()
                .expect("a diffusion model's NLL")
                .words("nats")
        ),
        pictures_line(&written, skipped.as_deref()),
    ])
}
