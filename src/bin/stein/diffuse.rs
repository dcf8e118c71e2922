//! Diffusion models on the command line: `stein train --model diffusion`, `stein sample` of a diffusion model
//! file, `stein likelihood`. The training data, folders, pictures and words are the other runs' own.

use crate::args::{precision_of, PrecisionArg, SampleArgs, SamplerArg, SdeArg, TrainArgs};
use crate::data::data_and_reference;
use crate::error::CliError;
use crate::output::{check_run_dir, claim_new_dir, write_csv, write_text, Stdout};
use crate::pictures::ANIMATION_FRAMES;
use crate::pictures::{animate_over_data, samples_picture};
use crate::resume;
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
use stein::scores::plot;

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
    dir: Option<std::path::PathBuf>,
}

/// The checkpoint of a run folder is a diffusion run's (its first field names the format).
pub fn is_diffusion_run(dir: &Path) -> bool {
    let mut head = [0u8; 64];
    std::fs::File::open(dir.join("checkpoint.json"))
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map(|n| String::from_utf8_lossy(&head[..n]).contains(r#""format":"stein-diffusion""#))
        .unwrap_or(false)
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
    resume::refuse_changes(
        a,
        given,
        dir,
        &resume::Kept {
            data: &file.data,
            batch: tr.config.batch,
            lr: tr.config.lr,
            seed: tr.config.seed,
            standardized: file.standardization.is_some(),
            step: tr.state.step,
        },
    )?;
    let (mut z, reference) = data_and_reference(&file.data, tr.config.seed, a.samples)?;
    if let Some(st) = &file.standardization {
        st.to_model(&mut z);
    }
    Ok(Start {
        model: file.model,
        standardization: file.standardization,
        data_name: file.data,
        z,
        reference,
        cfg: tr.config,
        state: tr.state,
        dir: Some(dir.to_path_buf()),
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
        dir: a.out.clone(),
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
    let kind = kind.map_err(CliError::Usage)?;
    let Start {
        mut model,
        standardization,
        data_name,
        z,
        reference,
        mut cfg,
        mut state,
        dir,
    } = match &a.resume {
        Some(dir) => resumed(a, dir, &given)?,
        None => fresh(a, &given)?,
    };
    cfg.steps = a.steps;
    cfg.progress = !a.quiet;
    // every input is known good: claim the folder
    let dir = match dir {
        Some(o) => {
            std::fs::create_dir_all(&o).map_err(|e| crate::output::io_err(&o, &e))?;
            o
        }
        None => claim_new_dir(Path::new("runs"), &data_name.replace(['/', '.', '\\'], "_"))?,
    };
    let t0 = Instant::now();
    let from_step = state.step;
    // checkpoints every 500 steps and at the end: an interrupted run continues with --resume
    let ck = dir.join("checkpoint.json");
    fit_from(&mut model, &z, &cfg, &mut state, &mut |m, s| {
        let mut f = DiffusionFile::new(m.clone(), standardization.clone(), &data_name);
        f.training = Some(DiffusionTraining {
            config: cfg,
            state: s.clone(),
        });
        f.save(&ck)
    })?;
    let losses = state.losses;
    let train_s = t0.elapsed().as_secs_f64();
    let file = DiffusionFile::new(model, standardization, &data_name);
    file.save(dir.join("model.json"))?;
    let t1 = Instant::now();
    let frames = if z.cols() >= 2 { ANIMATION_FRAMES } else { 0 };
    let (samples, snaps) = sample_diffusion(
        &file,
        kind,
        a.samples,
        cfg.seed ^ 0x5EED,
        frames,
        cfg.precision,
    )?;
    let sample_s = t1.elapsed().as_secs_f64();
    write_csv(&dir.join("samples.csv"), &samples)?;
    let (sv, rv) = (
        subsample_rows(&samples, 5000),
        subsample_rows(&reference, 5000),
    );
    let mmd2 = stein::scores::mmd(&sv, &rv)?;
    let held: Vec<f64> = subsample_rows(&reference, LIKELIHOOD_POINTS).concat();
    let held = Tensor::new(held.len() / z.cols(), z.cols(), held).expect("whole rows");
    let ll = likelihood(&file, &held, cfg.seed)?;
    let nll = -ll.mean_nats();
    let bits = ll.bits_per_dim.iter().sum::<f64>() / ll.bits_per_dim.len().max(1) as f64;
    let mut written = crate::diffuse_pictures::pictures(
        &dir, &file, a.view, &samples, &reference, &snaps, cfg.seed,
    )?;
    let pts: Vec<(f64, f64)> = losses.iter().map(|(s, l)| (*s as f64, *l)).collect();
    plot::line_chart(
        dir.join("loss.png"),
        "training loss (denoising score matching over t)",
        ("step", "loss"),
        &[("loss", &pts)],
        (720, 400),
    )?;
    written.push("loss.png");
    let verdict = crate::summary::verdict_of(mmd2);
    let text = [
        format!("data            {} ({} dimensions)", data_name, z.cols()),
        format!("model           diffusion, {:?} SDE, output read as {:?}, {} parameters", file.model.sde, file.model.output, file.model.net.num_params()),
        format!("training        {} steps of denoising score matching, final loss {:.5}", a.steps, losses.last().map_or(f64::NAN, |l| l.1)),
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
    write_text(&dir.join("summary.txt"), &text)?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(if from_step > 0 {
        format!(
            "steps        {from_step} → {} in {train_s:.1} s (resumed)",
            a.steps
        )
    } else {
        format!("steps        {} in {train_s:.1} s", a.steps)
    })?;
    out.line(format!(
        "samples      {} with {} in {sample_s:.1} s, {verdict}; NLL {nll:.4} nats",
        a.samples,
        kind.name()
    ))?;
    out.line(format!(
        "pictures     {}; summary.txt, model.json, samples.csv",
        written.join(", ")
    ))
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
    write_csv(csv, &samples)?;
    let curve = crate::diffuse_pictures::curve_1d(&file, &samples, a.seed)?;
    samples_picture(&png, &file.data, a.view, &samples, None, curve)?;
    let mut written = vec![csv.display().to_string(), png.display().to_string()];
    if a.animate {
        let title = |k: usize, n: usize| {
            format!(
                "{}: {:.0}% of the reverse process",
                kind.name(),
                100.0 * k as f64 / (n - 1).max(1) as f64
            )
        };
        if animate_over_data(&gif, &snaps, &samples, a.view, &title)? {
            written.push(gif.display().to_string());
        }
    }
    out.line(format!(
        "wrote {} samples of {} dimensions ({}): {}",
        a.n,
        file.model.dim,
        kind.name(),
        written.join(", ")
    ))
}
