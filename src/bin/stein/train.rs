//! `stein train`: check every flag and load the data, claim the run folder, train, sample, evaluate, and
//! write the model, samples, pictures and summary. Nothing is created before the flags are known good.

use crate::args::{LossArg, SamplerArg, TrainArgs};
use crate::data::{data_and_reference, default_sigmas};
use crate::error::CliError;
use crate::output::{check_run_dir, claim_new_dir, write_csv, write_text, Stdout};
use crate::pictures::{Pictures, ANIMATION_FRAMES};
use crate::resume;
use crate::summary;
use clap::parser::ValueSource;
use clap::ArgMatches;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::Standardization;
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::optim::Schedule;
use stein::models::train::{TrainConfig, Trainer};
use stein::run::{evaluate_with, sample_model_with, uniform_init, SampleOptions, SamplerKind};
use stein::scores::plot::{self, padded_range};

/// Where the run goes.
enum Dest {
    Resume(PathBuf),
    Out(PathBuf),
    New(String),
}

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
        config.steps = a.steps;
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
        resume::refuse_changes(
            a,
            given,
            dir,
            &resume::Kept {
                data: &trainer.data,
                batch: config.batch,
                lr: config.lr,
                seed: config.seed,
                standardized: trainer.model.standardization.is_some(),
                step: trainer.step,
            },
        )?;
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
    let dir = match dest {
        Dest::Resume(d) => d,
        Dest::Out(d) => {
            std::fs::create_dir_all(&d).map_err(|e| crate::output::io_err(&d, &e))?;
            d
        }
        Dest::New(stem) => claim_new_dir(Path::new("runs"), &stem)?,
    };
    config.out = Some(dir.clone());
    let report = trainer.fit(&data, &config)?;
    trainer.to_file(false).save(dir.join("model.json"))?;

    // sample from points spread over the data's range
    let dim = data.cols();
    let frame: Vec<(f64, f64)> = (0..dim)
        .map(|j| padded_range((0..data.rows()).map(|i| data.get(i, j))))
        .collect::<Option<_>>()
        .ok_or_else(|| CliError::Usage("the data are too far out to sample from".into()))?;
    let init = uniform_init(&frame, a.samples, config.seed ^ 0x5EED);
    let t0 = Instant::now();
    let opts = SampleOptions {
        progress: !a.quiet,
        frames: if dim >= 2 { ANIMATION_FRAMES } else { 0 },
    };
    let sampled = sample_model_with(&trainer.model, sampler, &init, config.seed, opts)?;
    let samples = &sampled.samples;
    let acceptance = sampled.run.acceptance();
    let sample_seconds = t0.elapsed().as_secs_f64();
    let eval = evaluate_with(&trainer.model, samples, &reference, !a.quiet)?;
    write_csv(&dir.join("samples.csv"), samples)?;

    // pictures
    let model = &trainer.model;
    let pictures = Pictures {
        model,
        view: a.view,
        name: &trainer.data,
    };
    let mut written = vec!["samples.png"];
    pictures.samples(&dir.join("samples.png"), samples, Some(&reference))?;
    if pictures.score_field(&dir.join("score_field.png"), &reference)? {
        written.push("score_field.png");
    }
    if pictures.animation(
        &dir.join("samples.gif"),
        &sampled.frames,
        &reference,
        sampler.name(),
    )? {
        written.push("samples.gif");
    }
    let losses: Vec<(f64, f64)> = report.losses.iter().map(|(s, l)| (*s as f64, *l)).collect();
    let smooth: Vec<(f64, f64)> = (0..losses.len())
        .map(|i| {
            let w = &losses[i.saturating_sub(24)..=i];
            (
                losses[i].0,
                w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
            )
        })
        .collect();
    if !losses.is_empty() {
        plot::line_chart(
            dir.join("loss.png"),
            &format!("training loss ({})", config.loss.name()),
            ("step", "loss"),
            &[("loss", &losses), ("moving average of 25", &smooth)],
            (720, 400),
        )?;
        written.push("loss.png");
    }
    let text = summary::text(&summary::Facts {
        trainer: &trainer,
        loss: config.loss.name(),
        final_loss: report.final_loss(10),
        train_seconds: report.seconds,
        sampler: sampler.name(),
        samples: a.samples,
        acceptance,
        sample_seconds,
        eval: &eval,
    });
    write_text(&dir.join("summary.txt"), &text)?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(format!(
        "steps        {} in {:.1} s, final loss {:.4}",
        trainer.step,
        report.seconds,
        report.final_loss(10)
    ))?;
    out.line(format!(
        "samples      {} with {} in {sample_seconds:.1} s, {}",
        a.samples,
        sampler.name(),
        summary::verdict(&eval)
    ))?;
    out.line(format!(
        "pictures     {}; summary.txt, model.json, metrics.jsonl, samples.csv",
        written.join(", ")
    ))
}
