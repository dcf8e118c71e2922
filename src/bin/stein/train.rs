//! `stein train`: check every flag and load the data, claim the run folder, train, sample, evaluate, and
//! write the model, samples, pictures and summary. Nothing is created before the flags are known good.

use crate::args::{LossArg, SamplerArg, TrainArgs};
use crate::data::{data_and_reference, default_sigmas};
use crate::error::CliError;
use crate::output::{check_run_dir, write_csv, write_text, Stdout};
use crate::pictures::{Pictures, ANIMATION_FRAMES};
use crate::resume;
use crate::staging::Staging;
use crate::summary;
use clap::parser::ValueSource;
use clap::ArgMatches;
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::Standardization;
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::optim::Schedule;
use stein::models::train::{TrainConfig, Trainer};
use stein::run::{evaluate_with, sample_model_with, uniform_init, SampleOptions, SamplerKind};
use stein::scores::plot::padded_range;

use crate::lifecycle::Dest;

/// A run whose every input has been checked: nothing has been written yet.
struct Plan {
    trainer: Trainer,
    config: TrainConfig,
    data: Tensor,
    reference: Tensor,
    sampler: SamplerKind,
    dest: Dest,
}

impl Plan {
    fn new(a: &TrainArgs, m: &ArgMatches) -> Result<Plan, CliError> {
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        if let Some(flag) = ["sde", "t_min"].into_iter().find(|f| given(f)) {
            return Err(CliError::Usage(format!(
                "--{} applies to --model diffusion only",
                flag.replace('_', "-")
            )));
        }
        let sampler = a.sampler.map(SamplerArg::kind).transpose();
        let sampler = sampler.map_err(CliError::Usage)?;
        let model_kind = a
            .model
            .kind()
            .expect("diffusion runs are trained by `diffuse`");
        // a fresh run reads its data once (the standardisation and σ ladder are fitted to it); a resumed
        // one reads the data its checkpoint names
        let (trainer, config, dest, loaded) = match &a.resume {
            Some(dir) => {
                let (trainer, config, dest) = Self::resumed(a, dir, &given)?;
                (trainer, config, dest, None)
            }
            None => {
                let (data, reference) = data_and_reference(&a.data, a.seed, a.samples)?;
                let standardization = (!a.no_standardize).then(|| Standardization::fit(&data));
                let mut z = data.clone();
                if let Some(st) = &standardization {
                    st.to_model(&mut z);
                }
                let loss = a.loss.loss(&default_sigmas(&z));
                let conditioning = if a.loss == LossArg::Ncsn {
                    Conditioning::InputAndScale
                } else {
                    Conditioning::None
                };
                let mut rng = rand::rngs::SmallRng::seed_from_u64(a.seed);
                let mut model = Model::build(
                    model_kind,
                    conditioning,
                    z.cols(),
                    &[128, 128],
                    Activation::Silu,
                    &mut rng,
                );
                model.standardization = standardization;
                loss.check_model(&model).map_err(|r| {
                    CliError::Usage(format!("--loss {}: {r}: use --model energy", a.loss.name()))
                })?;
                let mut trainer = Trainer::new(model);
                trainer.data = a.data.clone();
                let mut config = TrainConfig::new(loss, a.steps);
                config.batch = a.batch;
                config.lr = a.lr;
                config.seed = a.seed;
                config.schedule = Schedule::Cosine {
                    total: a.steps,
                    min_factor: 0.05,
                };
                let dest = match &a.out {
                    Some(o) => {
                        check_run_dir(o, a.force)?;
                        Dest::Out(o.clone())
                    }
                    None => Dest::New(a.data.replace(['/', '.', '\\'], "_")),
                };
                (trainer, config, dest, Some((data, reference)))
            }
        };
        let mut config = config;
        if a.resume.is_none() {
            config.steps = a.steps;
        }
        config.progress = !a.quiet;
        config.checkpoint_every = 500;
        let sampler = sampler.unwrap_or_else(|| SamplerKind::default_for(&trainer.model));
        sampler.check(&trainer.model)?;
        let (data, reference) = match loaded {
            Some(both) => both,
            None => data_and_reference(&trainer.data, config.seed, a.samples)?,
        };
        Ok(Plan {
            trainer,
            config,
            data,
            reference,
            sampler,
            dest,
        })
    }

    /// A run continued from `dir`'s checkpoint; flags that would change it are refused.
    fn resumed(
        a: &TrainArgs,
        dir: &Path,
        given: &dyn Fn(&str) -> bool,
    ) -> Result<(Trainer, TrainConfig, Dest), CliError> {
        let ck = resume::checkpoint_of(dir)?;
        let (mut trainer, saved) = Trainer::resume(&ck)?;
        if trainer.data.is_empty() {
            trainer.data = a.data.clone();
        }
        let config = saved.ok_or_else(|| {
            CliError::Usage(format!(
                "{}: a version 1 checkpoint keeps no training settings (loss, batch, seed), so it cannot be resumed exactly; sample its model, or start a new run",
                ck.display()
            ))
        })?;
        let loss_name = config.loss.name();
        if given("loss") && a.loss.name() != loss_name {
            return Err(resume::refusal(dir, "loss", a.loss.name(), loss_name));
        }
        let kind = |k: Kind| if k == Kind::Energy { "energy" } else { "score" };
        if given("model") && a.model.kind() != Some(trainer.model.kind) {
            let asked = a.model.kind().map_or("diffusion", kind);
            return Err(resume::refusal(
                dir,
                "model",
                asked,
                kind(trainer.model.kind),
            ));
        }
        let kept = resume::Kept {
            data: &trainer.data,
            batch: config.batch,
            lr: config.lr,
            seed: config.seed,
            standardized: trainer.model.standardization.is_some(),
            step: trainer.step,
            target: trainer.target_steps,
        };
        resume::refuse_changes(a, given, dir, &kept)?;
        let mut config = config;
        config.steps = resume::total_steps(a, given, dir, &kept)?;
        Ok((trainer, config, Dest::Resume(dir.to_path_buf())))
    }
}

pub fn run(a: &TrainArgs, m: &ArgMatches, out: &mut Stdout) -> Result<(), CliError> {
    if a.precision.is_some() {
        return Err(CliError::Usage(format!(
            "--precision applies to --model diffusion; --model {} trains on the f64 tape",
            a.model.name()
        )));
    }
    let Plan {
        mut trainer,
        mut config,
        data,
        reference,
        sampler,
        dest,
    } = Plan::new(a, m)?;
    let claimed = crate::lifecycle::Claimed::new(dest)?;
    let dir = claimed.dir.clone();
    config.out = Some(dir.clone());
    let from_step = trainer.step;
    let report = trainer
        .fit(&data, &config)
        .map_err(|e| claimed.training_failed(e.into()))?;
    trainer.to_file(false).save(dir.join("model.json"))?;
    let losses = stein::models::io::RunFolder::losses(&dir)?;
    let done = Trained {
        trainer: &trainer,
        config: &config,
        data: &data,
        reference: &reference,
        sampler,
        losses: &losses,
        train_seconds: report.seconds,
    };
    let lines = finish(&done, a, &dir).map_err(|e| claimed.finishing_failed(e, trainer.step))?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(crate::lifecycle::steps_line(
        from_step,
        trainer.step,
        report.seconds,
    ))?;
    for l in lines {
        out.line(l)?;
    }
    Ok(())
}

/// A model whose training is done, with what its samples and pictures need.
struct Trained<'a> {
    trainer: &'a Trainer,
    config: &'a TrainConfig,
    data: &'a Tensor,
    reference: &'a Tensor,
    sampler: SamplerKind,
    /// The loss curve of the whole run (across resumptions).
    losses: &'a [(usize, f64)],
    train_seconds: f64,
}

/// Sample the trained model, measure the samples and write them, the pictures and the summary, all at once
/// at the end (nothing is written when any of it fails). Returns the lines to print.
fn finish(t: &Trained<'_>, a: &TrainArgs, dir: &Path) -> Result<Vec<String>, CliError> {
    let (data, reference, sampler) = (t.data, t.reference, t.sampler);
    // sample from points spread over the data's range, framed in model coordinates (where a standardised
    // model lives: data at 10¹⁵ are at scale 1 there) and mapped back
    let dim = data.cols();
    let model = &t.trainer.model;
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
    let mut init = uniform_init(&frame, a.samples, t.config.seed ^ 0x5EED);
    if let Some(st) = &model.standardization {
        st.to_data(&mut init);
    }
    let t0 = Instant::now();
    let opts = SampleOptions {
        progress: !a.quiet,
        frames: if dim >= 2 { ANIMATION_FRAMES } else { 0 },
    };
    let sampled = sample_model_with(model, sampler, &init, t.config.seed, opts)?;
    let samples = &sampled.samples;
    let acceptance = sampled.run.acceptance();
    let sample_seconds = t0.elapsed().as_secs_f64();
    let eval = evaluate_with(model, samples, reference, !a.quiet)?;
    let mut stage = Staging::new(dir)?;
    write_csv(&stage.path("samples.csv"), samples)?;
    let pictures = Pictures {
        model,
        view: a.view,
        name: &t.trainer.data,
    };
    let mut written = Vec::new();
    let mut skipped = None;
    let draw = |stage: &mut Staging, written: &mut Vec<&str>| -> Result<(), CliError> {
        pictures.samples(&stage.path("samples.png"), samples, Some(reference))?;
        written.push("samples.png");
        if pictures.score_field(&stage.path("score_field.png"), reference)? {
            written.push("score_field.png");
        }
        let gif = stage.path("samples.gif");
        if pictures.animation(&gif, &sampled.frames, reference, sampler.name())? {
            written.push("samples.gif");
        }
        Ok(())
    };
    crate::error::unless_undrawable(draw(&mut stage, &mut written).map(|_| true), &mut skipped)?;
    if crate::lifecycle::loss_chart(
        &stage.path("loss.png"),
        &format!("training loss ({})", t.config.loss.name()),
        t.losses,
    )? {
        written.push("loss.png");
    }
    let final_loss = crate::lifecycle::final_loss(t.losses);
    let text = summary::text(&summary::Facts {
        trainer: t.trainer,
        loss: t.config.loss.name(),
        final_loss: final_loss.clone(),
        train_seconds: t.train_seconds,
        sampler: sampler.name(),
        samples: a.samples,
        acceptance,
        sample_seconds,
        eval: &eval,
    });
    write_text(&stage.path("summary.txt"), &text)?;
    stage.commit()?;
    Ok(vec![
        format!("final loss   {final_loss}"),
        format!(
            "samples      {} with {} in {sample_seconds:.1} s, {}",
            a.samples,
            sampler.name(),
            summary::verdict(&eval)
        ),
        crate::lifecycle::pictures_line(&written, skipped.as_deref(), "metrics.jsonl, "),
    ])
}
