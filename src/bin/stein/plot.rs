//! `stein plot score|density --target NAME [--animate sigma|temperature]`: pictures of the analytic
//! catalogue, still or animated.

use crate::args::{AnimateArg, PlotArgs, PlotTarget, PlotWhat};
use crate::error::CliError;
use crate::output::{check_output, Stdout};
use std::path::{Path, PathBuf};
use stein::scores::plot::{self, Bounds, Curve, FieldFrame, FieldOptions};
use stein::scores::*;

/// Delay between the frames of an animation.
const FRAME_MS: u32 = 150;

pub fn run(a: &PlotArgs, out: &mut Stdout) -> Result<(), CliError> {
    let what = match a.what {
        PlotWhat::Score => "score",
        PlotWhat::Density => "density",
    };
    let target_name = clap::ValueEnum::to_possible_value(&a.target)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let ext = if a.animate.is_some() { "gif" } else { "png" };
    let path = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{target_name}-{what}.{ext}")));
    let is_gif = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    if is_gif != a.animate.is_some() {
        return Err(CliError::Usage(if is_gif {
            format!(
                "--out {}: a GIF is an animation; add --animate sigma or --animate temperature",
                path.display()
            )
        } else {
            format!("--out {}: --animate writes a .gif", path.display())
        }));
    }
    check_output(&path, a.force)?;
    match (a.animate, flat(a.target)?) {
        (None, Some((t, b, label))) => with_target!(&t, |d| still(&path, a.what, d, b, label))?,
        (None, None) => one_d(&path, a.target)?,
        (Some(_), None) => {
            return Err(CliError::Usage(format!(
                "--animate draws 2-D targets; {target_name} is 1-D (gmm-2d, banana, funnel, ring, 8gaussians, rings are 2-D)"
            )))
        }
        (Some(sweep), Some((t, b, label))) => animate(&path, a, sweep, &t, b, label)?,
    }
    if a.quiet {
        return Ok(());
    }
    out.line(format!("wrote {}", path.display()))
}

/// The 2-D targets, by family.
enum Flat {
    Gmm(GaussianMixture),
    Banana(Banana),
    Funnel(Funnel),
    Ring(Ring),
    Rings(Mixture<Ring>),
}

/// Run `$body` with `$d` bound to the target of whatever family.
macro_rules! with_target {
    ($t:expr, |$d:ident| $body:expr) => {
        match $t {
            Flat::Gmm($d) => $body,
            Flat::Banana($d) => $body,
            Flat::Funnel($d) => $body,
            Flat::Ring($d) => $body,
            Flat::Rings($d) => $body,
        }
    };
}
use with_target;

/// A 2-D target with its frame and name, or `None` for the 1-D ones.
fn flat(target: PlotTarget) -> Result<Option<(Flat, Bounds, &'static str)>, CliError> {
    let iso = |m: Vec<f64>, s: f64| MultivariateNormal::isotropic(m, s);
    let wide = |x, y| Bounds { x, y };
    Ok(Some(match target {
        PlotTarget::Gmm2d => (
            Flat::Gmm(GaussianMixture::new(
                vec![0.4, 0.35, 0.25],
                vec![
                    iso(vec![-2.0, -1.0], 0.7)?,
                    iso(vec![2.0, -1.5], 0.6)?,
                    iso(vec![0.0, 2.2], 0.8)?,
                ],
            )?),
            Bounds::square(5.0),
            "Gaussian mixture",
        ),
        PlotTarget::Banana => (
            Flat::Banana(Banana::new(1.0, 0.8)?),
            wide((-4.0, 4.0), (-3.0, 8.0)),
            "banana",
        ),
        PlotTarget::Funnel => (
            Flat::Funnel(Funnel::new(2, 3.0)?),
            wide((-8.0, 6.0), (-10.0, 10.0)),
            "Neal's funnel (v, x₁)",
        ),
        PlotTarget::Ring => (
            Flat::Ring(Ring::new(2.5, 0.3)?),
            Bounds::square(4.0),
            "ring",
        ),
        PlotTarget::EightGaussians => (
            Flat::Gmm(stein::models::data::eight_gaussians_density()),
            Bounds::square(6.5),
            "8 Gaussians",
        ),
        PlotTarget::Rings => (
            Flat::Rings(stein::models::data::rings_density()),
            Bounds::square(5.0),
            "two rings",
        ),
        PlotTarget::Gmm1d | PlotTarget::Laplace | PlotTarget::StudentT => return Ok(None),
    }))
}

/// Field options: arrows for score pictures, none for density pictures.
fn options(what: PlotWhat, title: String) -> FieldOptions {
    let mut opts = FieldOptions {
        title,
        ..Default::default()
    };
    if what == PlotWhat::Density {
        opts.arrows = 0;
    }
    opts
}

fn still<D: Analytic>(
    path: &Path,
    what: PlotWhat,
    d: &D,
    b: Bounds,
    label: &str,
) -> Result<(), CliError> {
    let title = match what {
        PlotWhat::Score => format!("{label}: score field over log p"),
        PlotWhat::Density => format!("{label}: log-density"),
    };
    plot::score_field(path, d, d, b, &options(what, title))?;
    Ok(())
}

/// Geometric sweep from `lo` to `hi` in `n` values.
fn sweep(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |k| lo * (hi / lo).powf(k as f64 / (n - 1).max(1) as f64))
}

fn animate(
    path: &Path,
    a: &PlotArgs,
    what: AnimateArg,
    t: &Flat,
    b: Bounds,
    label: &str,
) -> Result<(), CliError> {
    let frames: Vec<FieldFrame> = match (what, t) {
        (AnimateArg::Sigma, Flat::Gmm(g)) => sweep(0.05, 3.0, a.frames)
            .map(|sigma| {
                let p = NoisePerturbed::new(g.clone(), sigma)?;
                Ok(frame(format!("{label} ∗ N(0, σ²I), σ = {sigma:.2}"), p))
            })
            .collect::<Result<_, ScoreError>>()?,
        (AnimateArg::Sigma, _) => {
            return Err(CliError::Usage(format!(
                "--animate sigma needs a target whose noise-perturbed density is exact (Gaussian mixtures: gmm-2d, 8gaussians); {label} is not one (--animate temperature works for every 2-D target)"
            )))
        }
        (AnimateArg::Temperature, t) => with_target!(t, |d| sweep(0.25, 8.0, a.frames)
            .map(|temp| Ok(frame(format!("{label}, tempered: p^(1/T), T = {temp:.2}"), Tempered::new(d.clone(), temp)?)))
            .collect::<Result<_, ScoreError>>()?),
    };
    let mut opts = options(a.what, String::new());
    (opts.cells, opts.size) = (90, (640, 560));
    plot::animate_score_field(path, &frames, b, &opts, FRAME_MS)?;
    Ok(())
}

/// One frame of an analytic density.
fn frame<'a, D: Analytic + Clone + 'a>(title: String, d: D) -> FieldFrame<'a> {
    let q = d.clone();
    FieldFrame {
        title,
        log_density: Box::new(move |x: &[f64]| q.log_prob(x)),
        score: Box::new(d),
    }
}

fn one_d(path: &Path, target: PlotTarget) -> Result<(), CliError> {
    let iso = |m: Vec<f64>, s: f64| MultivariateNormal::isotropic(m, s);
    let draw = |c: Curve, range: (f64, f64)| -> Result<(), CliError> {
        let title = format!("{}: log-density and score", c.label);
        Ok(plot::curves_1d(path, &title, range, &[c], (720, 640))?)
    };
    match target {
        PlotTarget::Gmm1d => {
            let g = GaussianMixture::new(
                vec![0.3, 0.7],
                vec![iso(vec![-2.0], 0.6)?, iso(vec![1.5], 0.9)?],
            )?;
            draw(
                Curve::of("0.3 N(-2, 0.6²) + 0.7 N(1.5, 0.9²)", &g, &g),
                (-5.0, 5.0),
            )
        }
        PlotTarget::Laplace => {
            let l = Laplace::new(vec![0.0], 1.0)?;
            draw(Curve::of("Laplace(0, 1)", &l, &l), (-4.0, 4.0))
        }
        PlotTarget::StudentT => {
            let t = StudentT::new(0.0, 1.0, 3.0)?;
            draw(Curve::of("Student t, ν = 3", &t, &t), (-8.0, 8.0))
        }
        _ => unreachable!("the 2-D targets are drawn by `still`"),
    }
}
