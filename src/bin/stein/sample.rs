//! `stein sample`: draw from a saved model into a CSV file, with a picture of the samples beside it and,
//! on `--animate`, a GIF of the chains moving along the model's score field.

use crate::args::SampleArgs;
use crate::error::CliError;
use crate::output::{check_output, write_csv, Stdout};
use crate::pictures::{Pictures, ANIMATION_FRAMES};
use crate::staging::Staging;
use stein::models::io::ModelFile;
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
    if stein::models::io::file_kind(&a.model) == Some(stein::models::io::FileKind::Diffusion) {
        return crate::diffuse::sample(a, out);
    }
    if a.precision.is_some() {
        return Err(CliError::Usage(format!(
            "--precision applies to diffusion models; {} is a score or energy model (sampled in f64)",
            a.model.display()
        )));
    }
    let f = ModelFile::load(&a.model)?;
    let model = f.model;
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
        progress: true,
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
