//! `stein plot score|density --target NAME`: pictures of the analytic catalogue.

use crate::args::{PlotArgs, PlotTarget, PlotWhat};
use crate::error::CliError;
use crate::output::{check_output, Stdout};
use std::path::{Path, PathBuf};
use stein::scores::plot::{self, Bounds, Curve, FieldOptions};
use stein::scores::*;

pub fn run(a: &PlotArgs, out: &mut Stdout) -> Result<(), CliError> {
    let what = match a.what {
        PlotWhat::Score => "score",
        PlotWhat::Density => "density",
    };
    let target_name = clap::ValueEnum::to_possible_value(&a.target)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let path = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{target_name}-{what}.png")));
    check_output(&path, a.force)?;
    draw(a.what, a.target, &path)?;
    out.line(format!("wrote {}", path.display()))
}

/// A score that draws no arrows (density-only pictures).
struct NoArrows;
impl Score for NoArrows {
    fn score_dim(&self) -> usize {
        2
    }
    fn score_into(&self, _x: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
    }
}

fn one_d(
    path: &Path,
    d: &dyn Fn(f64) -> f64,
    s: &dyn Fn(f64) -> f64,
    label: &str,
    range: (f64, f64),
) -> Result<(), CliError> {
    let c = Curve {
        label: label.into(),
        log_density: Box::new(d),
        score: Box::new(s),
    };
    plot::curves_1d(
        path,
        &format!("{label}: log-density and score"),
        range,
        &[c],
        (720, 640),
    )?;
    Ok(())
}

fn two_d(
    path: &Path,
    what: PlotWhat,
    ld: &dyn Fn(&[f64]) -> f64,
    s: &dyn Score,
    b: Bounds,
    label: &str,
) -> Result<(), CliError> {
    let (score, title, arrows): (&dyn Score, String, Option<usize>) = match what {
        PlotWhat::Score => (s, format!("{label}: score field over log p"), None),
        PlotWhat::Density => (&NoArrows, format!("{label}: log-density"), Some(0)),
    };
    let mut opts = FieldOptions {
        title,
        ..Default::default()
    };
    if let Some(n) = arrows {
        opts.arrows = n;
    }
    plot::score_field_fn(path, ld, score, b, &opts)?;
    Ok(())
}

fn draw(what: PlotWhat, target: PlotTarget, path: &Path) -> Result<(), CliError> {
    let iso = |m: Vec<f64>, s: f64| MultivariateNormal::isotropic(m, s);
    match target {
        PlotTarget::Gmm1d => {
            let g = GaussianMixture::new(
                vec![0.3, 0.7],
                vec![iso(vec![-2.0], 0.6)?, iso(vec![1.5], 0.9)?],
            )?;
            one_d(
                path,
                &|x| g.log_prob(&[x]),
                &|x| g.score(&[x])[0],
                "0.3 N(-2, 0.6²) + 0.7 N(1.5, 0.9²)",
                (-5.0, 5.0),
            )
        }
        PlotTarget::Laplace => {
            let l = Laplace::new(vec![0.0], 1.0)?;
            one_d(
                path,
                &|x| l.log_prob(&[x]),
                &|x| l.score(&[x])[0],
                "Laplace(0, 1)",
                (-4.0, 4.0),
            )
        }
        PlotTarget::StudentT => {
            let t = StudentT::new(0.0, 1.0, 3.0)?;
            one_d(
                path,
                &|x| t.log_prob(&[x]),
                &|x| t.score(&[x])[0],
                "Student t, ν = 3",
                (-8.0, 8.0),
            )
        }
        PlotTarget::Gmm2d => {
            let g = GaussianMixture::new(
                vec![0.4, 0.35, 0.25],
                vec![
                    iso(vec![-2.0, -1.0], 0.7)?,
                    iso(vec![2.0, -1.5], 0.6)?,
                    iso(vec![0.0, 2.2], 0.8)?,
                ],
            )?;
            two_d(
                path,
                what,
                &|x| g.log_prob(x),
                &g,
                Bounds::square(5.0),
                "Gaussian mixture",
            )
        }
        PlotTarget::Banana => {
            let b = Banana::new(1.0, 0.8)?;
            let frame = Bounds {
                x: (-4.0, 4.0),
                y: (-3.0, 8.0),
            };
            two_d(path, what, &|x| b.log_prob(x), &b, frame, "banana")
        }
        PlotTarget::Funnel => {
            let f = Funnel::new(2, 3.0)?;
            let frame = Bounds {
                x: (-8.0, 6.0),
                y: (-10.0, 10.0),
            };
            two_d(
                path,
                what,
                &|x| f.log_prob(x),
                &f,
                frame,
                "Neal's funnel (v, x₁)",
            )
        }
        PlotTarget::Ring => {
            let r = Ring::new(2.5, 0.3)?;
            two_d(
                path,
                what,
                &|x| r.log_prob(x),
                &r,
                Bounds::square(4.0),
                "ring",
            )
        }
        PlotTarget::EightGaussians => {
            let g = stein::models::data::eight_gaussians_density();
            two_d(
                path,
                what,
                &|x| g.log_prob(x),
                &g,
                Bounds::square(6.5),
                "8 Gaussians",
            )
        }
        PlotTarget::Rings => {
            let g = stein::models::data::rings_density();
            two_d(
                path,
                what,
                &|x| g.log_prob(x),
                &g,
                Bounds::square(5.0),
                "two rings",
            )
        }
    }
}
