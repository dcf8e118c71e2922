//! `stein sample`: draw from a saved model into a CSV file, with a picture of the samples beside it and,
//! on `--animate`, a GIF of the chains moving along the model's score field.

use crate::args::{SampleArgs, SamplerArg};
use crate::error::CliError;
use crate::output::{check_output, write_csv, Stdout};
use crate::pictures::{Pictures, ANIMATION_FRAMES};
use crate::staging::Staging;
use stein::models::diffusion::net::TimeModel;
use stein::models::io::ModelFile;
use stein::models::network::Network;
use stein::run::{sample_model_with, uniform_init, SampleOptions, SamplerKind};

pub fn run(a: &SampleArgs, out: &mut Stdout) -> Result<(), CliError> {
    let csv = &a.out;
    let png = csv.with_extension("png");
    let gif = csv.with_extension("gif");
    if csv == &png || csv == &gif {
        return Err(CliError::Usage(format!(
            "--out {} names the CSV file of samples; the pictures are written beside it (use --out {})",
            csv.display(),
            csv.with_extension("csv").display()
        )));
    }
    check_output(csv, a.force)?;
    check_output(&png, a.force)?;
    if a.animate {
        check_output(&gif, a.force)?;
    }
    let f = ModelFile::load(&a.model)?;
    let model = match f.network {
        Network::Model(m) => m,
        Network::Diffusion(m) => return diffusion(a, &m, &f.data, out),
    };
    if a.precision.is_some() {
        return Err(CliError::Usage(format!(
            "--precision applies to diffusion models; {} is a score or energy model (sampled in f64)",
            a.model.display()
        )));
    }
    if let Some(n) = a.steps {
        return Err(CliError::Usage(format!(
            "--steps {n} sets a diffusion sampler's steps; {} is a score or energy model (its samplers run \
             their own schedules)",
            a.model.display()
        )));
    }
    if a.animate && model.dim < 2 {
        return Err(CliError::Usage(format!(
            "--animate draws chains in a plane: the model has {} dimension (its samples picture shows the density and score)",
            model.dim
        )));
    }
    let sampler = match a.sampler {
        Some(s) => s.kind().map_err(CliError::Usage)?,
        None => SamplerKind::default_for(&model),
    };
    sampler.check(&model)?;
    // start uniform on (−2, 2)ᵈ in model coordinates, mapped to the data's
    let mut init = uniform_init(&vec![(-2.0, 2.0); model.dim], a.n, a.seed);
    if let Some(st) = &model.standardization {
        st.to_data(&mut init);
    }
    let opts = SampleOptions {
        progress: !a.quiet,
        frames: if a.animate { ANIMATION_FRAMES } else { 0 },
    };
    let sampled = sample_model_with(&model, sampler, &init, a.seed, opts)?;
    let acc = sampled.run.acceptance();
    // the CSV and the pictures appear together, or none of them
    let mut stage = Staging::beside(csv)?;
    write_csv(&stage.path_for(csv), &sampled.samples)?;
    let name = a.model.display().to_string();
    let pictures = Pictures {
        model: &model,
        view: a.view,
        name: &name,
    };
    pictures.samples(&stage.path_for(&png), &sampled.samples, None)?;
    let mut written = vec![csv.display().to_string(), png.display().to_string()];
    if a.animate
        && pictures.animation(
            &stage.path_for(&gif),
            &sampled.frames,
            &sampled.samples,
            sampler.name(),
        )?
    {
        written.push(gif.display().to_string());
    }
    stage.commit()?;
    out.line(format!(
        "wrote {} samples of {} dimensions ({}, acceptance {acc:.3}): {}",
        a.n,
        model.dim,
        sampler.name(),
        written.join(", ")
    ))
}

/// `stein sample` of a diffusion model: a reverse-time sampler from the prior.
fn diffusion(
    a: &SampleArgs,
    model: &TimeModel,
    data: &str,
    out: &mut Stdout,
) -> Result<(), CliError> {
    use crate::pictures::{animate_over_data, samples_picture};
    use stein::run::diffusion::{sample_diffusion, ReverseKind};
    let kind = a.sampler.map_or(
        Ok(ReverseKind::default_for(&model.sde)),
        SamplerArg::reverse,
    );
    let kind = kind.map_err(CliError::Usage)?;
    let method = kind.method_with(a.steps)?;
    if a.animate && model.dim < 2 {
        return Err(CliError::Usage(format!(
            "--animate draws particles in a plane: the model has {} dimension",
            model.dim
        )));
    }
    let (csv, png, gif) = (
        &a.out,
        a.out.with_extension("png"),
        a.out.with_extension("gif"),
    );
    let frames = if a.animate { ANIMATION_FRAMES } else { 0 };
    let precision = crate::args::precision_of(a.precision);
    let (samples, snaps) = sample_diffusion(model, &method, a.n, a.seed, frames, precision)?;
    let curve = crate::diffuse_pictures::curve_1d(model, &samples, a.seed)?;
    // the CSV and the pictures appear together, or none of them
    let mut stage = Staging::beside(csv)?;
    write_csv(&stage.path_for(csv), &samples)?;
    samples_picture(&stage.path_for(&png), data, a.view, &samples, None, curve)?;
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
        model.dim,
        kind.name(),
        written.join(", ")
    ))
}
