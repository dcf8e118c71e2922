//! `stein train`: check every flag and load the data, claim the run folder, train, sample, evaluate, and
//! write the model, samples, pictures and summary. Nothing is created before the flags are known good.

use crate::args::{LossArg, TrainArgs};
use crate::error::CliError;
use crate::output::{check_run_dir, claim_new_dir, write_csv, write_text, Stdout};
use crate::sample::frame_of;
use clap::parser::ValueSource;
use clap::ArgMatches;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::{load_csv, Standardization, Toy};
use stein::models::loss::geometric_sigmas;
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::optim::Schedule;
use stein::models::train::{TrainConfig, Trainer};
use stein::run::{
    evaluate, model_log_density, sample_model, subsample_rows, uniform_init, SamplerKind,
};
use stein::scores::plot::{self, FieldOptions};

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

/// Points of the training set (toy sets) and the seed offset of the held-out draw.
const TOY_POINTS: usize = 4000;
const HELD_OUT_SEED: u64 = 1_000_003;

/// The NCSN ladder for data in model coordinates: 10 levels from the data's largest spread down to 2% of it.
fn default_sigmas(data: &Tensor) -> Vec<f64> {
    let st = Standardization::fit(data);
    let top = st.scale.iter().fold(0.1f64, |a, s| a.max(*s));
    geometric_sigmas(top, 0.02 * top, 10)
}

/// A built-in set (seeded) or a CSV file.
fn load_data(name: &str, n: usize, seed: u64) -> Result<Tensor, CliError> {
    if name.ends_with(".csv") || Path::new(name).exists() {
        return Ok(load_csv(name)?);
    }
    let toy = Toy::parse(name)?;
    Ok(toy.sample(n, &mut rand::rngs::SmallRng::seed_from_u64(seed)))
}

/// Training data and reference data: a toy set's fresh draw of `samples` points, or a tenth of the rows of a
/// CSV file of at least 200 rows, picked by a hash of the row number so that no period in the file decides
/// (the rest trains); a smaller file is its own reference.
fn data_and_reference(name: &str, seed: u64, samples: usize) -> Result<(Tensor, Tensor), CliError> {
    let data = load_data(name, TOY_POINTS, seed)?;
    if data.cols() != 2 {
        return Err(CliError::Usage(format!(
            "{name}: the command line trains 2-D data, this has {} columns",
            data.cols()
        )));
    }
    if Toy::parse(name).is_ok() && !Path::new(name).exists() {
        let held = load_data(name, samples, seed.wrapping_add(HELD_OUT_SEED))?;
        return Ok((data, held));
    }
    if data.rows() < 200 {
        return Ok((data.clone(), data));
    }
    let held = |i: usize| {
        // SplitMix64 of the row number
        let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).is_multiple_of(10)
    };
    let pick = |keep: bool| {
        let rows: Vec<f64> = (0..data.rows())
            .filter(|&i| held(i) == keep)
            .flat_map(|i| data.row_slice(i).to_vec())
            .collect();
        Tensor::new(rows.len() / 2, 2, rows).expect("2 columns")
    };
    Ok((pick(false), pick(true)))
}

impl Plan {
    fn new(a: &TrainArgs, m: &ArgMatches) -> Result<Plan, CliError> {
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let sampler = a.sampler.kind();
        let (trainer, config, dest) = match &a.resume {
            Some(dir) => Self::resumed(a, dir, &given)?,
            None => {
                let (data, _) = data_and_reference(&a.data, a.seed, 2)?;
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
                    a.model.kind(),
                    conditioning,
                    2,
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
                (trainer, config, dest)
            }
        };
        let mut config = config;
        if a.resume.is_some() && a.steps <= trainer.step {
            return Err(CliError::Usage(format!(
                "--steps {}: the run is at step {} already; give a larger total to continue it (or sample its model with `stein sample`)",
                a.steps, trainer.step
            )));
        }
        config.steps = a.steps;
        config.progress = !a.quiet;
        config.checkpoint_every = 500;
        sampler.check(&trainer.model)?;
        let (data, reference) = data_and_reference(&trainer.data, config.seed, a.samples)?;
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
        let ck = dir.join("checkpoint.json");
        if !ck.is_file() {
            return Err(CliError::Usage(format!(
                "{} holds no checkpoint.json to resume",
                dir.display()
            )));
        }
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
        let refuse = |flag: &str, given_value: String, run_value: String| {
            CliError::Usage(format!(
                "--{flag} {given_value} cannot continue the run in {}: it was trained with --{flag} {run_value} (leave --{flag} out to continue it, or start a new run with --out)",
                dir.display()
            ))
        };
        let loss_name = config.loss.name();
        if given("loss") && a.loss.name() != loss_name {
            return Err(refuse("loss", a.loss.name().into(), loss_name.into()));
        }
        let kind = |k: Kind| if k == Kind::Energy { "energy" } else { "score" };
        if given("model") && a.model.kind() != trainer.model.kind {
            return Err(refuse(
                "model",
                kind(a.model.kind()).into(),
                kind(trainer.model.kind).into(),
            ));
        }
        if given("data") && a.data != trainer.data {
            return Err(refuse("data", a.data.clone(), trainer.data.clone()));
        }
        if given("batch") && a.batch != config.batch {
            return Err(refuse(
                "batch",
                a.batch.to_string(),
                config.batch.to_string(),
            ));
        }
        if given("lr") && a.lr != config.lr {
            return Err(refuse("lr", a.lr.to_string(), config.lr.to_string()));
        }
        if given("seed") && a.seed != config.seed {
            return Err(refuse("seed", a.seed.to_string(), config.seed.to_string()));
        }
        if a.no_standardize && trainer.model.standardization.is_some() {
            return Err(CliError::Usage(format!(
                "--no-standardize cannot continue the run in {}: it was trained on standardised data",
                dir.display()
            )));
        }
        Ok((trainer, config, Dest::Resume(dir.to_path_buf())))
    }
}

pub fn run(a: &TrainArgs, m: &ArgMatches, out: &mut Stdout) -> Result<(), CliError> {
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

    // sample from points spread over the data's frame
    let frame = frame_of(&data)
        .ok_or_else(|| CliError::Usage("the data are too far out to draw".into()))?;
    let init = uniform_init(&[frame.x, frame.y], a.samples, config.seed ^ 0x5EED);
    let t0 = Instant::now();
    let (samples, run) = sample_model(&trainer.model, sampler, &init, config.seed)?;
    let acceptance = run.acceptance();
    let sample_seconds = t0.elapsed().as_secs_f64();
    let eval = evaluate(&trainer.model, &samples, &reference)?;
    write_csv(&dir.join("samples.csv"), &samples)?;

    // pictures
    let model = &trainer.model;
    let (sv, rv) = (
        subsample_rows(&samples, 20_000),
        subsample_rows(&reference, 20_000),
    );
    plot::scatter_compare(
        dir.join("samples.png"),
        &format!(
            "{}: samples (orange) over held-out data (grey)",
            trainer.data
        ),
        &[("data", &rv), ("samples", &sv)],
        frame,
        (640, 640),
    )?;
    let kde_pts = subsample_rows(&reference, 2000);
    let log_density =
        |x: &[f64]| model_log_density(model, x).unwrap_or_else(|| kde_log_density(&kde_pts, x));
    let title = if model.kind == Kind::Energy {
        "learned score over the learned log-density −E"
    } else {
        "learned score over a KDE of the data"
    };
    let opts = FieldOptions {
        title: title.into(),
        ..Default::default()
    };
    plot::score_field_fn(
        dir.join("score_field.png"),
        &log_density,
        &model.as_score(None),
        frame,
        &opts,
    )?;
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
            &format!(
                "training loss ({}; orange: moving average)",
                config.loss.name()
            ),
            ("step", "loss"),
            &[("loss", &losses), ("moving average", &smooth)],
            (720, 400),
        )?;
    }

    let standardized = match &model.standardization {
        Some(st) => format!(
            "mean {:?}, scale {:?}",
            st.mean.iter().map(|v| round4(*v)).collect::<Vec<_>>(),
            st.scale.iter().map(|v| round4(*v)).collect::<Vec<_>>()
        ),
        None => "no (--no-standardize)".into(),
    };
    let verdict = if eval.mmd2 < 0.002 {
        "samples match the held-out data"
    } else if eval.mmd2 < 0.02 {
        "samples roughly match the held-out data"
    } else {
        "samples do not match the held-out data yet (train longer, or try another loss or sampler)"
    };
    let text = format!(
        "data            {}\nstandardised    {standardized}\nmodel           {:?} ({:?}), {} parameters\nloss            {} (final, mean of last 10 logs) = {:.5}\nsteps           {}\nsampler         {} ({} samples), acceptance {acceptance:.3}\nMMD² to held-out data (Gaussian kernel, median heuristic; {} samples vs {} points) = {:.5}\nKSD² of the samples under the learned score (IMQ; {} samples) = {:.5}\n                (both are unbiased estimates: values slightly below 0 mean a match)\nverdict         {verdict}: MMD² {:.4}\ntrain time      {:.1} s\nsample time     {sample_seconds:.1} s\n",
        trainer.data, model.kind, model.conditioning, model.net.num_params(), config.loss.name(), report.final_loss(10), trainer.step,
        sampler.name(), a.samples, eval.samples_used, eval.reference_used, eval.mmd2, eval.samples_used.min(stein::run::MAX_EVAL_POINTS / 10), eval.ksd2, eval.mmd2, report.seconds
    );
    write_text(&dir.join("summary.txt"), &text)?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(format!(
        "steps        {} in {:.1} s, final loss {:.4}",
        trainer.step,
        report.seconds,
        report.final_loss(10)
    ))?;
    out.line(format!(
        "samples      {} with {} in {sample_seconds:.1} s, MMD² to held-out data {:.5}",
        a.samples,
        sampler.name(),
        eval.mmd2
    ))?;
    out.line("pictures     samples.png, score_field.png, loss.png; summary.txt, model.json, metrics.jsonl")
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// A Gaussian KDE of points, for the background of score-network pictures.
fn kde_log_density(pts: &[Vec<f64>], x: &[f64]) -> f64 {
    let h2 = 0.05;
    let terms: Vec<f64> = pts
        .iter()
        .map(|p| -((p[0] - x[0]).powi(2) + (p[1] - x[1]).powi(2)) / (2.0 * h2))
        .collect();
    stein::autodiff::special::logsumexp(&terms)
}
