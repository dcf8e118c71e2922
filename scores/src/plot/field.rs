//! 2-D pictures over a log-density heat map with a colour bar: score fields (arrows), samples (dots),
//! trajectories (lines), still or animated. Nothing outside the frame is drawn.

use super::canvas::{animate, check_frames, on_canvas, ramp, txt, Area, ON_HEAT};
use super::{Bounds, FieldOptions, LogDensityFn};
use crate::density::{LogDensity, Score};
use crate::error::ScoreError;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// How many nats below its top the heat map shows (six "σ" of a Gaussian): the interesting region keeps the
/// colour range.
const DEPTH: f64 = 12.0;

/// Width in pixels of the colour bar beside a heat map.
const BAR_WIDTH: u32 = 110;

/// log p on a grid of cells, mapped to [0, 1] between `bottom` and `top` (values in nats).
struct Heat {
    t: Vec<Vec<f64>>,
    top: f64,
    bottom: f64,
}

impl Heat {
    fn new(log_density: &dyn Fn(&[f64]) -> f64, b: Bounds, cells: usize) -> Heat {
        let cells = cells.max(1);
        let (dx, dy) = (
            (b.x.1 - b.x.0) / cells as f64,
            (b.y.1 - b.y.0) / cells as f64,
        );
        let vals: Vec<Vec<f64>> = (0..cells)
            .map(|i| {
                (0..cells)
                    .map(|j| {
                        log_density(&[b.x.0 + (i as f64 + 0.5) * dx, b.y.0 + (j as f64 + 0.5) * dy])
                    })
                    .collect()
            })
            .collect();
        let finite = || vals.iter().flatten().copied().filter(|v| v.is_finite());
        let top = finite().fold(f64::NEG_INFINITY, f64::max);
        let low = finite().fold(f64::INFINITY, f64::min);
        let (top, bottom) = if top.is_finite() {
            (top, (top - DEPTH).max(low))
        } else {
            (0.0, -DEPTH) // nothing finite: a dark picture, an honest scale
        };
        let width = (top - bottom).max(1e-12);
        let t = vals
            .into_iter()
            .map(|row| row.into_iter().map(|v| (v - bottom) / width).collect())
            .collect();
        Heat { t, top, bottom }
    }
}

/// An arrow from `at` along `dir` (unit vector) of length `len`.
struct Arrow {
    at: [f64; 2],
    dir: [f64; 2],
    len: f64,
}

/// A still background: the heat map and the arrows of a score field.
struct Scene {
    heat: Heat,
    arrows: Vec<Arrow>,
}

impl Scene {
    /// Arrow lengths are proportional to ‖s‖ up to the 90th percentile over the grid (longer ones are capped,
    /// so one steep region does not shrink the rest).
    fn new(
        log_density: &dyn Fn(&[f64]) -> f64,
        score: Option<&dyn Score>,
        b: Bounds,
        opts: &FieldOptions,
    ) -> Scene {
        let heat = Heat::new(log_density, b, opts.cells);
        let Some(score) = score.filter(|_| opts.arrows > 0) else {
            return Scene {
                heat,
                arrows: Vec::new(),
            };
        };
        let n = opts.arrows.max(2);
        let (sx, sy) = ((b.x.1 - b.x.0) / n as f64, (b.y.1 - b.y.0) / n as f64);
        let mut raw = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let p = [b.x.0 + (i as f64 + 0.5) * sx, b.y.0 + (j as f64 + 0.5) * sy];
                let s = score.score(&p);
                raw.push((p, [s[0], s[1]]));
            }
        }
        let mut norms: Vec<f64> = raw
            .iter()
            .map(|(_, s)| s[0].hypot(s[1]))
            .filter(|v| v.is_finite())
            .collect();
        norms.sort_by(f64::total_cmp);
        let cap = norms
            .get(norms.len() * 9 / 10)
            .copied()
            .unwrap_or(1.0)
            .max(1e-12);
        let cell = sx.min(sy) * 0.9;
        let arrows = raw
            .into_iter()
            .filter_map(|(at, s)| {
                let norm = s[0].hypot(s[1]);
                (norm.is_finite() && norm > 0.0).then(|| Arrow {
                    at,
                    dir: [s[0] / norm, s[1] / norm],
                    len: cell * norm.min(cap) / cap,
                })
            })
            .collect();
        Scene { heat, arrows }
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Title, heat map, colour bar and arrows on `root`; returns the chart for dots and lines on top.
fn draw_scene<'a, DB: DrawingBackend>(
    root: &'a Area<'a, DB>,
    title: &str,
    scene: &Scene,
    b: Bounds,
) -> Result<Chart<'a, DB>, String> {
    root.fill(&WHITE).map_err(txt)?;
    let (w, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(w.saturating_sub(BAR_WIDTH));
    let mut chart = ChartBuilder::on(&main)
        .caption(
            super::canvas::fitted(&main, title, 20.0),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(b.x.0..b.x.1, b.y.0..b.y.1)
        .map_err(txt)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(txt)?;
    let t = &scene.heat.t;
    let cells = t.len();
    let (dx, dy) = (
        (b.x.1 - b.x.0) / cells as f64,
        (b.y.1 - b.y.0) / cells as f64,
    );
    chart
        .draw_series(t.iter().enumerate().flat_map(|(i, row)| {
            row.iter().enumerate().map(move |(j, &v)| {
                let (x0, y0) = (b.x.0 + i as f64 * dx, b.y.0 + j as f64 * dy);
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], ramp(v).filled())
            })
        }))
        .map_err(txt)?;
    colour_bar(&bar, &scene.heat)?;
    let style = WHITE.stroke_width(1);
    for a in &scene.arrows {
        let ([px, py], [ux, uy], len) = (a.at, a.dir, a.len);
        let tip = (px + ux * len, py + uy * len);
        let head = len * 0.3;
        let left = (
            tip.0 - head * (ux * 0.87 - uy * 0.5),
            tip.1 - head * (uy * 0.87 + ux * 0.5),
        );
        let right = (
            tip.0 - head * (ux * 0.87 + uy * 0.5),
            tip.1 - head * (uy * 0.87 - ux * 0.5),
        );
        chart
            .draw_series([
                PathElement::new(vec![(px, py), tip], style),
                PathElement::new(vec![left, tip, right], style),
            ])
            .map_err(txt)?;
    }
    Ok(chart)
}

/// The colour bar: the ramp from `bottom` to `top` nats, labelled "log p".
fn colour_bar<DB: DrawingBackend>(area: &Area<'_, DB>, heat: &Heat) -> Result<(), String> {
    let (lo, hi) = (heat.bottom, heat.top.max(heat.bottom + 1e-9));
    let mut bar = ChartBuilder::on(area)
        .caption(" ", ("sans-serif", 20)) // the same top offset as the picture beside it
        .margin(10)
        .margin_left(4)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(txt)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("log p + const")
        .y_labels(7)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .draw()
        .map_err(txt)?;
    let n = 96;
    bar.draw_series((0..n).map(|k| {
        let (a, z) = (k as f64 / n as f64, (k + 1) as f64 / n as f64);
        let (y0, y1) = (lo + a * (hi - lo), lo + z * (hi - lo));
        Rectangle::new([(0.0, y0), (1.0, y1)], ramp(a).filled())
    }))
    .map_err(txt)?;
    Ok(())
}

/// Dots at the points inside the frame (points outside are not drawn).
fn draw_dots<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    b: Bounds,
    points: &[Vec<f64>],
    color: RGBColor,
) -> Result<(), String> {
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| p.len() >= 2 && b.contains(p[0], p[1]))
                .map(|p| Circle::new((p[0], p[1]), 2, color.mix(0.75).filled())),
        )
        .map_err(txt)?;
    Ok(())
}

/// A 2-D score field: arrows s(x) over the heat map of log p, with a colour bar.
///
/// ```no_run
/// use stein_scores::plot::{score_field, Bounds, FieldOptions};
/// use stein_scores::{GaussianMixture, MultivariateNormal};
/// let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.0], 0.7).unwrap();
/// let gmm = GaussianMixture::new(vec![0.3, 0.7], vec![c(-2.0), c(2.0)]).unwrap();
/// score_field("gmm_score.png", &gmm, &gmm, Bounds::square(5.0), &FieldOptions::default()).unwrap();
/// ```
pub fn score_field<D: LogDensity, S: Score>(
    path: impl AsRef<Path>,
    density: &D,
    score: &S,
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    score_field_fn(path, &|x: &[f64]| density.log_prob(x), score, bounds, opts)
}

/// [`score_field`] with the log-density given as a plain function (e.g. a trained energy network's −E).
pub fn score_field_fn(
    path: impl AsRef<Path>,
    log_density: &dyn Fn(&[f64]) -> f64,
    score: &dyn Score,
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    let scene = Scene::new(log_density, Some(score), bounds, opts);
    on_canvas!(path, opts.size, |root| draw_scene(
        &root,
        &opts.title,
        &scene,
        bounds
    )
    .map(|_| ()))
}

/// Samples as dots over the heat map of log p (points outside the frame are not drawn).
pub fn samples_over_density<D: LogDensity>(
    path: impl AsRef<Path>,
    density: &D,
    samples: &[Vec<f64>],
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    let scene = Scene::new(&|x: &[f64]| density.log_prob(x), None, bounds, opts);
    on_canvas!(path, opts.size, |root| {
        draw_scene(&root, &opts.title, &scene, bounds)
            .and_then(|mut chart| draw_dots(&mut chart, bounds, samples, RGBColor(255, 255, 255)))
    })
}

/// Sampler trajectories as polylines over the heat map of log p (each path a list of 2-D points; a dot marks
/// where it starts). A path leaving the frame is cut there and resumes where it comes back.
pub fn trajectories<D: LogDensity>(
    path: impl AsRef<Path>,
    density: &D,
    paths: &[Vec<Vec<f64>>],
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    let scene = Scene::new(&|x: &[f64]| density.log_prob(x), None, bounds, opts);
    on_canvas!(path, opts.size, |root| {
        (|| -> Result<(), String> {
            let mut chart = draw_scene(&root, &opts.title, &scene, bounds)?;
            for (k, p) in paths.iter().enumerate() {
                let color = ON_HEAT[k % ON_HEAT.len()];
                for piece in inside_runs(p, bounds) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            piece,
                            color.mix(0.8).stroke_width(1),
                        )))
                        .map_err(txt)?;
                }
                if let Some(first) = p
                    .first()
                    .filter(|x| x.len() >= 2 && bounds.contains(x[0], x[1]))
                {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            (first[0], first[1]),
                            4,
                            color.filled(),
                        )))
                        .map_err(txt)?;
                }
            }
            Ok(())
        })()
    })
}

/// The runs of consecutive in-frame points of a path.
fn inside_runs(path: &[Vec<f64>], b: Bounds) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for x in path.iter().filter(|x| x.len() >= 2) {
        if b.contains(x[0], x[1]) {
            runs.last_mut()
                .expect("one run at least")
                .push((x[0], x[1]));
        } else if !runs.last().is_some_and(Vec::is_empty) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| r.len() >= 2);
    runs
}

/// One frame of [`animate_score_field`]: a title, a log-density and its score.
pub struct FieldFrame<'a> {
    /// Title of the frame (say what changes: "σ = 0.50").
    pub title: String,
    /// log p (any additive constant).
    pub log_density: LogDensityFn<'a>,
    /// Its score.
    pub score: Box<dyn Score + 'a>,
}

/// An animated GIF of score fields, one frame each (e.g. a noise level or a temperature swept); at most
/// [`MAX_FRAMES`](super::MAX_FRAMES) frames, `delay_ms` apart, looping.
pub fn animate_score_field(
    path: impl AsRef<Path>,
    frames: &[FieldFrame<'_>],
    bounds: Bounds,
    opts: &FieldOptions,
    delay_ms: u32,
) -> Result<(), ScoreError> {
    let path = path.as_ref();
    check_frames(path, frames.len())?;
    let scenes: Vec<Scene> = frames
        .iter()
        .map(|f| Scene::new(&f.log_density, Some(&*f.score), bounds, opts))
        .collect();
    animate(path, opts.size, frames.len(), delay_ms, &|k, root| {
        draw_scene(root, &frames[k].title, &scenes[k], bounds).map(|_| ())
    })
}

/// An animated GIF of point clouds moving over one score field (e.g. chains of a sampler): frame k draws
/// `frames[k].1` (2-D points; outside the frame not drawn) under the title `frames[k].0`.
pub fn animate_points(
    path: impl AsRef<Path>,
    log_density: &dyn Fn(&[f64]) -> f64,
    score: Option<&dyn Score>,
    frames: &[(String, Vec<Vec<f64>>)],
    bounds: Bounds,
    opts: &FieldOptions,
    delay_ms: u32,
) -> Result<(), ScoreError> {
    let path = path.as_ref();
    check_frames(path, frames.len())?;
    let scene = Scene::new(log_density, score, bounds, opts);
    animate(path, opts.size, frames.len(), delay_ms, &|k, root| {
        let (title, points) = &frames[k];
        let mut chart = draw_scene(root, title, &scene, bounds)?;
        draw_dots(&mut chart, bounds, points, ON_HEAT[1])
    })
}
