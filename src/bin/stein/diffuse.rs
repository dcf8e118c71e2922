//! Diffusion models on the command line: `stein train --model diffusion`, `stein sample` of a diffusion model
//! file, `stein likelihood`. The training data, folders, pictures and words are the other runs' own.

use crate::args::{precision_of, PrecisionArg, SampleArgs, SamplerArg, SdeArg, TrainArgs};
use crate::data::data_and_reference;
use crate::error::CliError;
use crate::lifecycle::{final_loss, loss_chart, steps_line, Claimed, Dest};
use crate::output::{check_run_dir, write_csv, write_text, Stdout};
use crate::pictures::ANIMATION_FRAMES;
use crate::pictures::{animate_over_data, samples_picture};
use crate::resume;
use crate::staging::Staging;
use clap::parser::ValueSource;
use clap::ArgMatches;
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::Standardization;
use stein::models::diffusion::file::{DiffusionFile, DiffusionTraining};
use stein::models::diffusion::net::{Output, TimeModel};
use stein::models::diffusion::train::{fit_from, DiffusionConfig, FitState};
use stein::models::diffusion::Sde;
use stein::run::diffusion::{likelihood, sample_diffusion, ReverseKind};
use stein::run::subsample_rows;

/// Held-out points whose likelihood the summary reports.
const LIKELIHOOD_POINTS: usize = 500;

/// VE's σ_max: the largest distance between two of (at most 500 of) the points, at least 10 (Song & Ermon's
/// rule: the prior must cover every pair of data points).
fn ve_sigma_max(z: &Tensor) -> f64 {
    let pts = subsample_rows(z, 500);
    let mut far = 0.0f64;
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            far = far.max(
                a.iter()
                    .zip(b)
                    .map(|(u, v)| (u - v).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            );
        }
    }
    far.max(10.0)
}

/// A diffusion run ready to train: fresh, or continued from a checkpoint.
struct Start {
    model: TimeModel,
    standardization: Option<Standardization>,
    data_name: String,
    /// The training data in model coordinates, and held-out reference points.
    z: Tensor,
    reference: Tensor,
    cfg: DiffusionConfig,
    state: FitState,
    dest: Dest,
}

/// The checkpoint of a run folder is a diffusion run's (its parsed `format` field says so).
pub fn is_diffusion_run(dir: &Path) -> bool {
    stein::models::io::file_kind(&dir.join("checkpoint.json"))
        == Some(stein::models::io::FileKind::Diffusion)
}

/// A run continued from `dir`'s checkpoint; flags that would change it are refused.
fn resumed(a: &TrainArgs, dir: &Path, given: &dyn Fn(&str) -> bool) -> Result<Start, CliError> {
    let ck = resume::checkpoint_of(dir)?;
    if !is_diffusion_run(dir) {
        return Err(CliError::Usage(format!(
            "--model diffusion cannot continue the run in {}: it is a score or energy run (leave --model out to continue it)",
            dir.display()
        )));
    }
    let file = DiffusionFile::load(&ck)?;
    let Some(tr) = file.training else {
        return Err(CliError::Usage(format!(
            "{} keeps no training state: sample its model, or start a new run",
            ck.display()
        )));
    };
    if let Some(p) = a.precision.map(PrecisionArg::precision) {
        if p != tr.config.precision {
            let kept = tr.config.precision.name();
            return Err(resume::refusal(dir, "precision", p.name(), kept));
        }
    }
    for flag in ["sde", "t_min"] {
        if given(flag) {
            return Err(CliError::Usage(format!(
                "--{} cannot change the run in {}: its model keeps its own (leave it out to continue)",
                flag.replace('_', "-"),
                dir.display()
            )));
        }
    }
    let kept = resume::Kept {
        data: &file.data,
        batch: tr.config.batch,
        lr: tr.config.lr,
        seed: tr.config.seed,
        standardized: file.standardization.is_some(),
        step: tr.state.step,
        target: Some(tr.config.steps),
    };
    resume::refuse_changes(a, given, dir, &kept)?;
    let total = resume::total_steps(a, given, dir, &kept)?;
    let (mut z, reference) = data_and_reference(&file.data, tr.config.seed, a.samples)?;
    if z.cols() != file.model.dim {
        return Err(CliError::Usage(format!(
            "--resume {}: its data {} now have {} columns; the run was trained on {} (restore the file, or start a new run)",
            dir.display(),
            file.data,
            z.cols(),
            file.model.dim
        )));
    }
    if let Some(st) = &file.standardization {
        st.to_model(&mut z);
    }
    let mut cfg = tr.config;
    cfg.steps = total;
    Ok(Start {
        model: file.model,
        standardization: file.standardization,
        data_name: file.data,
        z,
        reference,
        cfg,
        state: tr.state,
        dest: Dest::Resume(dir.to_path_buf()),
    })
}

/// A new run from the flags.
fn fresh(a: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<Start, CliError> {
    if let Some(o) = &a.out {
        check_run_dir(o, a.force)?;
    }
    let (data, reference) = data_and_reference(&a.data, a.seed, a.samples)?;
    let standardization = (!a.no_standardize).then(|| Standardization::fit(&data));
    let mut z = data;
    if let Some(st) = &standardization {
        st.to_model(&mut z);
    }
    let sde = match a.sde {
        SdeArg::Vp => Sde::vp(0.1, 20.0)?,
        SdeArg::Subvp => Sde::sub_vp(0.1, 20.0)?,
        SdeArg::Ve => Sde::ve(0.01, ve_sigma_max(&z))?,
    };
    let output = if a.sde == SdeArg::Ve {
        Output::Denoised
    } else {
        Output::Noise
    };
    let mut model = TimeModel::new(
        z.cols(),
        &[128, 128],
        output,
        sde,
        &mut rand::rngs::SmallRng::seed_from_u64(a.seed),
    )?;
    if let Some(t) = a.t_min {
        model = model.with_t_min(t)?;
    }
    let defaults = DiffusionConfig::default();
    let cfg = DiffusionConfig {
        batch: if given("batch") {
            a.batch
        } else {
            defaults.batch
        },
        lr: if given("lr") { a.lr } else { defaults.lr },
        seed: a.seed,
        precision: precision_of(a.precision),
        ..defaults
    };
    Ok(Start {
        model,
        standardization,
        data_name: a.data.clone(),
        z,
        reference,
        cfg,
        state: FitState::default(),
        dest: match &a.out {
            Some(o) => Dest::Out(o.clone()),
            None => Dest::New(a.data.replace(['/', '.', '\\'], "_")),
        },
    })
}

pub fn train(a: &TrainArgs, m: &ArgMatches, out: &mut Stdout) -> Result<(), CliError> {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    if given("loss") {
        return Err(CliError::Usage(
            "--loss does not apply to --model diffusion: it trains by denoising score matching over t".into(),
        ));
    }
    let kind = a.sampler.map_or(Ok(ReverseKind::Sde), SamplerArg::reverse);
    // checked before any folder is claimed
    kind.map_err(CliError::Usage)?;
    let Start {
        mut model,
        standardization,
        data_name,
        z,
        reference,
        mut cfg,
        mut state,
        dest,
    } = match &a.resume {
        Some(dir) => resumed(a, dir, &given)?,
        None => fresh(a, &given)?,
    };
    if a.resume.is_none() {
        cfg.steps = a.steps;
    }
    cfg.progress = !a.quiet;
    // every input is known good: claim the folder
    let claimed = Claimed::new(dest)?;
    let dir = claimed.dir.clone();
    let t0 = Instant::now();
    let from_step = state.step;
    // checkpoints at the start, every 500 steps and at the end: an interrupted run continues with --resume
    let ck = dir.join("checkpoint.json");
    fit_from(&mut model, &z, &cfg, &mut state, &mut |m, s| {
        let mut f = DiffusionFile::new(m.clone(), standardization.clone(), &data_name);
        f.training = Some(DiffusionTraining {
            config: cfg,
            state: s.clone(),
        });
        f.save(&ck)
    })
    .map_err(|e| claimed.training_failed(e.into()))?;
    let train_s = t0.elapsed().as_secs_f64();
    let file = DiffusionFile::new(model, standardization, &data_name);
    file.save(dir.join("model.json"))?;
    let lines = finish(&file, a, &cfg, &state.losses, &reference, train_s, &dir)
        .map_err(|e| claimed.finishing_failed(e, state.step))?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(steps_line(from_step, state.step, train_s))?;
    for l in lines {
        out.line(l)?;
    }
    Ok(())
}

/// Sample a trained diffusion model, measure the samples and write them, the pictures and the summary, all
/// at once at the end (nothing is written when any of it fails). Returns the lines to print.
fn finish(
    file: &DiffusionFile,
    a: &TrainArgs,
    cfg: &DiffusionConfig,
    losses: &[(usize, f64)],
    reference: &Tensor,
    train_s: f64,
    dir: &Path,
) -> Result<Vec<String>, CliError> {
    let kind = a.sampler.map_or(Ok(ReverseKind::Sde), SamplerArg::reverse);
    let kind = kind.map_err(CliError::Usage)?;
    let d = file.model.dim;
    let t1 = Instant::now();
    let frames = if d >= 2 { ANIMATION_FRAMES } else { 0 };
    let (samples, snaps) = sample_diffusion(
        file,
        kind,
        a.samples,
        cfg.seed ^ 0x5EED,
        frames,
        cfg.precision,
    )?;
    let sample_s = t1.elapsed().as_secs_f64();
    let (sv, rv) = (
        subsample_rows(&samples, 5000),
        subsample_rows(reference, 5000),
    );
    let mmd2 = stein::scores::mmd(&sv, &rv)?;
    let held: Vec<f64> = subsample_rows(reference, LIKELIHOOD_POINTS).concat();
    let held = Tensor::new(held.len() / d, d, held).expect("whole rows");
    let ll = likelihood(file, &held, cfg.seed)?;
    let nll = -ll.mean_nats();
    let bits = ll.bits_per_dim.iter().sum::<f64>() / ll.bits_per_dim.len().max(1) as f64;
    let mut stage = Staging::new(dir)?;
    write_csv(&stage.path("samples.csv"), &samples)?;
    let mut skipped = None;
    let mut written = match crate::diffuse_pictures::pictures(
        &mut stage, file, a.view, &samples, reference, &snaps, cfg.seed,
    ) {
        Err(CliError::Undrawable(why)) => {
            skipped = Some(why);
            Vec::new()
        }
        other => other?,
    };
    if loss_chart(
        &stage.path("loss.png"),
        "training loss (denoising score matching over t)",
        losses,
    )? {
        written.push("loss.png");
    }
    let verdict = crate::summary::verdict_of(mmd2);
    let text = [
        format!("data            {} ({} dimensions)", file.data, d),
        format!("model           diffusion, {} SDE, output read as {}, {} parameters", sde_words(&file.model.sde), output_words(file.model.output), file.model.net.num_params()),
        format!("training        {} steps of denoising score matching, final loss {}", cfg.steps, final_loss(losses)),
        format!("sampler         {} ({} samples)", kind.name(), a.samples),
        format!("MMD²            {mmd2:.5} to held-out data (Gaussian kernel, median heuristic; {} vs {} points)", sv.len(), rv.len()),
        "                an unbiased estimate: values slightly below 0 are noise around a match".into(),
        format!("NLL             {nll:.4} nats ({bits:.4} bits/dim) of {} held-out points, by the probability-flow ODE", held.rows()),
        format!("verdict         {verdict}"),
        format!("train time      {train_s:.1} s ({} passes)", cfg.precision.name()),
        format!("sample time     {sample_s:.1} s"),
    ]
    .join("\n")
        + "\n";
    write_text(&stage.path("summary.txt"), &text)?;
    stage.commit()?;
    Ok(vec![
        format!(
            "samples      {} with {} in {sample_s:.1} s, {verdict}; NLL {nll:.4} nats",
            a.samples,
            kind.name()
        ),
        crate::lifecycle::pictures_line(&written, skipped.as_deref(), ""),
    ])
}

/// The SDE in words, for the summary (no Rust `Debug` text).
fn sde_words(sde: &Sde) -> String {
    use stein::models::diffusion::Schedule;
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
    }
}

/// What the network's output stands for, in words.
fn output_words(o: Output) -> &'static str {
    match o {
        Output::Score => "the score",
        Output::Noise => "the noise ε",
        Output::Denoised => "the denoised x₀ (EDM)",
    }
}

pub fn sample(a: &SampleArgs, out: &mut Stdout) -> Result<(), CliError> {
    let file = DiffusionFile::load(&a.model)?;
    let kind = a.sampler.map_or(Ok(ReverseKind::Sde), SamplerArg::reverse);
    let kind = kind.map_err(CliError::Usage)?;
    if a.animate && file.model.dim < 2 {
        return Err(CliError::Usage(format!(
            "--animate draws particles in a plane: the model has {} dimension",
            file.model.dim
        )));
    }
    let (csv, png, gif) = (
        &a.out,
        a.out.with_extension("png"),
        a.out.with_extension("gif"),
    );
    let frames = if a.animate { ANIMATION_FRAMES } else { 0 };
    let precision = precision_of(a.precision);
    let (samples, snaps) = sample_diffusion(&file, kind, a.n, a.seed, frames, precision)?;
    let curve = crate::diffuse_pictures::curve_1d(&file, &samples, a.seed)?;
    // the CSV and the pictures appear together, or none of them
    let mut stage = Staging::beside(csv)?;
    write_csv(&stage.path_for(csv), &samples)?;
    samples_picture(
        &stage.path_for(&png),
        &file.data,
        a.view,
        &samples,
        None,
        curve,
    )?;
    let mut written = vec![csv.display().to_string(), png.display().to_string()];
    if a.animate {
        let title = |k: usize, n: usize| {
            format!(
                "{}: {:.0}% of the reverse process",
                kind.name(),
                100.0 * k as f64 / (n - 1).max(1) as f64
            )
        };
        if animate_over_data(&stage.path_for(&gif), &snaps, &samples, a.view, &title)? {
            written.push(gif.display().to_string());
        }
    }
    stage.commit()?;
    out.line(format!(
        "wrote {} samples of {} dimensions ({}): {}",
        a.n,
        file.model.dim,
        kind.name(),
        written.join(", ")
    ))
}
