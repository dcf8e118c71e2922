//! The pictures of a model and its samples, for data of any dimension: d = 1 a density over histograms with
//! the score below; d = 2 points in the plane and the score field; d > 2 a pair-plot grid or the plane of the
//! first two principal components, and the score field on that plane through the data's mean. Animations
//! show chains moving in the same plane.

use crate::args::ViewArg;
use crate::error::CliError;
use crate::plane::{Kde, Plane, PlaneScore};
use std::path::Path;
use stein::autodiff::Tensor;
use stein::models::nn::{Kind, Model};
use stein::run::{model_log_density, subsample_rows};
use stein::scores::plot::{self, Bounds, Curve, FieldOptions, LogDensityFn};
use stein::scores::Score;

use crate::plane::MAX_DRAWN;

/// Snapshots of a sampling run in an animation (`samples.gif`, `--animate`).
pub const ANIMATION_FRAMES: usize = 40;
/// Coordinates of a pair-plot grid.
const PAIR_COORDS: usize = 4;

/// The pictures of one model.
pub struct Pictures<'a> {
    /// The model, in data coordinates through its standardisation.
    pub model: &'a Model,
    /// How d > 2 is drawn.
    pub view: ViewArg,
    /// What the data are called, for titles.
    pub name: &'a str,
}

impl Pictures<'_> {
    /// log p of the model on the plane (energy models), or a KDE of the projected reference points.
    fn background<'b>(
        &'b self,
        plane: &'b Plane,
        reference: &[Vec<f64>],
    ) -> (LogDensityFn<'b>, &'static str) {
        if self.model.kind == Kind::Energy {
            let f =
                move |u: &[f64]| model_log_density(self.model, &plane.lift(u)).unwrap_or(f64::NAN);
            (Box::new(f), "the learned log-density −E")
        } else {
            let kde = Kde::new(reference);
            (
                Box::new(move |u: &[f64]| kde.log_density(u)),
                "a KDE of the data",
            )
        }
    }

    /// Samples over reference points (grey; none for `stein sample`): d = 1 with the model's density and
    /// score, d = 2 in the plane, d > 2 as `--view` says.
    pub fn samples(
        &self,
        path: &Path,
        samples: &Tensor,
        reference: Option<&Tensor>,
    ) -> Result<(), CliError> {
        let curve = (samples.cols() == 1).then(|| {
            let score = self.model.as_score(None);
            Curve {
                label: "model".into(),
                log_density: Box::new(|x| model_log_density(self.model, &[x]).unwrap_or(f64::NAN)),
                score: Box::new(move |x| score.score(&[x])[0]),
            }
        });
        samples_picture(path, self.name, self.view, samples, reference, curve)
    }

    /// The score field over the log-density (energy) or a KDE of the data (score networks), in the plane
    /// (d = 2) or on the principal plane through the data's mean (d > 2). Nothing for d = 1: the samples
    /// picture holds the score curve.
    pub fn score_field(&self, path: &Path, reference: &Tensor) -> Result<bool, CliError> {
        if reference.cols() < 2 {
            return Ok(false);
        }
        let view = if reference.cols() > 2 {
            ViewArg::Pca
        } else {
            self.view
        };
        let plane = Plane::of(view, reference)?;
        let projected = plane.project(reference);
        let frame = Bounds::around(&projected).ok_or_else(far_out)?;
        let (log_density, what) = self.background(&plane, &projected);
        let score = self.model.as_score(None);
        let on_plane = PlaneScore {
            plane: &plane,
            score: &score,
        };
        let title = if plane.is_identity() {
            format!("learned score over {what}")
        } else {
            format!(
                "learned score on the PC1–PC2 plane through the mean, over {}",
                what.trim_start_matches("the learned log-density ")
            )
        };
        let opts = FieldOptions {
            title,
            ..Default::default()
        };
        plot::score_field_fn(path, &log_density, &on_plane, frame, &opts)?;
        Ok(true)
    }

    /// An animated GIF of `frames` (snapshots of all chains) in the plane of the reference points, over
    /// the model's score field there. Nothing for d = 1.
    pub fn animation(
        &self,
        path: &Path,
        frames: &[Tensor],
        reference: &Tensor,
        sampler: &str,
    ) -> Result<bool, CliError> {
        if reference.cols() < 2 || frames.is_empty() {
            return Ok(false);
        }
        let plane = Plane::of(self.view, reference)?;
        let projected = plane.project(reference);
        let frame = Bounds::around(&projected).ok_or_else(far_out)?;
        let score = self.model.as_score(None);
        let on_plane = PlaneScore {
            plane: &plane,
            score: &score,
        };
        // in the plane of 2-D data: the model's field; for d > 2 a slice of the model would mislead about
        // a cloud projected from all of the space, so the background is a KDE of the projected data
        let (log_density, arrows): (LogDensityFn<'_>, Option<&dyn Score>) = if reference.cols() == 2
        {
            (self.background(&plane, &projected).0, Some(&on_plane))
        } else {
            let kde = Kde::new(&projected);
            (Box::new(move |u: &[f64]| kde.log_density(u)), None)
        };
        let n = frames.len();
        let shots: Vec<(String, Vec<Vec<f64>>)> = frames
            .iter()
            .enumerate()
            .map(|(k, f)| {
                (
                    format!("{}: {sampler}, {} of the run", self.name, percent(k, n)),
                    plane.project(f),
                )
            })
            .collect();
        let opts = FieldOptions {
            cells: 80,
            arrows: 17,
            size: (600, 520),
            ..Default::default()
        };
        plot::animate_points(path, &log_density, arrows, &shots, frame, &opts, 120)?;
        Ok(true)
    }
}

/// "40%" of a run at snapshot k of n.
fn percent(k: usize, n: usize) -> String {
    format!("{:.0}%", 100.0 * k as f64 / (n - 1).max(1) as f64)
}

/// The error for points that cannot be framed.
pub fn far_out() -> CliError {
    CliError::Undrawable(
        "the points are not finite or reach beyond ±1e15, which pictures cannot show".into(),
    )
}

/// Samples over reference points (grey; none for `stein sample`): d = 1 with `curve` (the model's density and
/// score; required then), d = 2 in the plane, d > 2 as `view` says.
pub fn samples_picture(
    path: &Path,
    name: &str,
    view: ViewArg,
    samples: &Tensor,
    reference: Option<&Tensor>,
    curve: Option<Curve<'_>>,
) -> Result<(), CliError> {
    let frame_source = reference.unwrap_or(samples);
    let mut sets: Vec<(&str, &Tensor)> = Vec::new();
    if let Some(r) = reference {
        sets.push(("data", r));
    }
    sets.push(("samples", samples));
    let title = match reference {
        Some(_) => format!("{}: samples (orange) over held-out data (grey)", name),
        None => format!("{}: samples", name),
    };
    let d = samples.cols();
    if d == 1 {
        let col = |t: &Tensor| (0..t.rows()).map(|i| t.get(i, 0)).collect::<Vec<f64>>();
        let values: Vec<Vec<f64>> = sets.iter().map(|(_, t)| col(t)).collect();
        let range = plot::padded_range(col(frame_source).into_iter()).ok_or_else(far_out)?;
        let labelled: Vec<(&str, &[f64])> = sets
            .iter()
            .zip(&values)
            .map(|((l, _), v)| (*l, &v[..]))
            .collect();
        let curve = curve.expect("a 1-D picture is given the model's curve");
        return Ok(plot::density_1d(
            path,
            &title,
            range,
            &curve,
            &labelled,
            (720, 640),
        )?);
    }
    if d > 2 && view == ViewArg::Pairs {
        let rows: Vec<Vec<Vec<f64>>> = sets
            .iter()
            .map(|(_, t)| subsample_rows(t, MAX_DRAWN))
            .collect();
        let labelled: Vec<(&str, &[Vec<f64>])> = sets
            .iter()
            .zip(&rows)
            .map(|((l, _), r)| (*l, &r[..]))
            .collect();
        let title = format!("{title}: coordinates 0–{} of {d}", PAIR_COORDS.min(d) - 1);
        return Ok(plot::pair_grid(
            path,
            &title,
            &labelled,
            PAIR_COORDS,
            (760, 760),
        )?);
    }
    let plane = Plane::of(view, frame_source)?;
    let rows: Vec<Vec<Vec<f64>>> = sets.iter().map(|(_, t)| plane.project(t)).collect();
    let frame = Bounds::around(&plane.project(frame_source)).ok_or_else(far_out)?;
    let labelled: Vec<(&str, &[Vec<f64>])> = sets
        .iter()
        .zip(&rows)
        .map(|((l, _), r)| (*l, &r[..]))
        .collect();
    let title = if plane.is_identity() {
        title
    } else {
        format!("{title} ({}, {})", plane.names[0], plane.names[1])
    };
    Ok(plot::scatter_compare(
        path,
        &title,
        &labelled,
        frame,
        (640, 640),
    )?)
}

/// An animated GIF of snapshots (one row per particle) in the plane of the reference points, over a KDE of
/// the projected reference; frame k titled `title(k, frames)`. Nothing for d = 1 or no snapshots.
pub fn animate_over_data(
    path: &Path,
    frames: &[Tensor],
    reference: &Tensor,
    view: ViewArg,
    title: &dyn Fn(usize, usize) -> String,
) -> Result<bool, CliError> {
    if reference.cols() < 2 || frames.is_empty() {
        return Ok(false);
    }
    let plane = Plane::of(view, reference)?;
    let projected = plane.project(reference);
    let frame = Bounds::around(&projected).ok_or_else(far_out)?;
    let kde = Kde::new(&projected);
    let n = frames.len();
    let shots: Vec<(String, Vec<Vec<f64>>)> = frames
        .iter()
        .enumerate()
        .map(|(k, f)| (title(k, n), plane.project(f)))
        .collect();
    let opts = FieldOptions {
        cells: 80,
        size: (600, 520),
        ..Default::default()
    };
    plot::animate_points(
        path,
        &|u: &[f64]| kde.log_density(u),
        None,
        &shots,
        frame,
        &opts,
        120,
    )?;
    Ok(true)
}
