//! Pictures (feature `plot`, on by default): score fields as arrows over a log-density heat map, 1-D
//! log-density and score curves, samples over a density. SVG or PNG, chosen by the file extension; pure Rust
//! (plotters with an embedded DejaVu font), no system packages.

use crate::density::{LogDensity, Score};
use crate::error::ScoreError;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// A rectangle of the plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// x range.
    pub x: (f64, f64),
    /// y range.
    pub y: (f64, f64),
}

impl Bounds {
    /// The square [−r, r]².
    pub fn square(r: f64) -> Self {
        Bounds {
            x: (-r, r),
            y: (-r, r),
        }
    }
}

/// Options of a 2-D picture.
#[derive(Clone, Debug)]
pub struct FieldOptions {
    /// Title above the picture.
    pub title: String,
    /// Arrows per side.
    pub arrows: usize,
    /// Heat-map cells per side.
    pub cells: usize,
    /// Picture size in pixels.
    pub size: (u32, u32),
}

impl Default for FieldOptions {
    fn default() -> Self {
        FieldOptions {
            title: String::new(),
            arrows: 21,
            cells: 120,
            size: (640, 640),
        }
    }
}

/// One curve of a 1-D picture.
pub struct Curve<'a> {
    /// Legend label.
    pub label: String,
    /// log p(x) (any additive constant).
    pub log_density: Box<dyn Fn(f64) -> f64 + 'a>,
    /// d/dx log p(x).
    pub score: Box<dyn Fn(f64) -> f64 + 'a>,
}

impl<'a> Curve<'a> {
    /// The curve of a 1-D density and score (e.g. an analytic distribution: `Curve::of("p", &d, &d)`).
    pub fn of<D: LogDensity, S: Score>(label: &str, density: &'a D, score: &'a S) -> Self {
        Curve {
            label: label.to_string(),
            log_density: Box::new(move |x| density.log_prob(&[x])),
            score: Box::new(move |x| score.score(&[x])[0]),
        }
    }
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // DejaVu Sans, embedded: PNG text needs no system fonts.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> ScoreError {
    ScoreError::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Run a drawing on an SVG or PNG canvas according to the extension of the path. The picture is drawn in
/// memory and written atomically ([`crate::files`]): a failed drawing or write leaves no partial file.
macro_rules! on_canvas {
    ($path:expr, $size:expr, |$root:ident| $body:expr) => {{
        let path: &Path = $path.as_ref();
        register_font();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (w, h): (u32, u32) = $size;
        let bytes: Result<Vec<u8>, String> = match ext.as_str() {
            "svg" => {
                let mut svg = String::new();
                let r = {
                    let $root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                    let r: Result<(), String> = $body;
                    r.and_then(|_| $root.present().map_err(|e| e.to_string()))
                };
                r.map(|_| svg.into_bytes())
            }
            "png" => {
                let mut rgb = vec![0u8; 3 * w as usize * h as usize];
                let r = {
                    let $root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                    let r: Result<(), String> = $body;
                    r.and_then(|_| $root.present().map_err(|e| e.to_string()))
                };
                r.and_then(|_| encode_png(&rgb, w, h))
            }
            other => Err(format!(
                "unsupported extension `{other}` (use .svg or .png)"
            )),
        };
        bytes
            .and_then(|b| {
                crate::files::write_atomic(path, &b).map_err(|e| crate::files::describe(&e))
            })
            .map_err(|e| plot_err(path, e))
    }};
}

/// Encode an RGB buffer as PNG.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Line and marker colours on white (matplotlib's tab10, first six).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Light colours that stay visible over the dark end of the heat map.
const ON_HEAT: [RGBColor; 6] = [
    RGBColor(255, 255, 255),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
    RGBColor(255, 187, 120),
    RGBColor(247, 182, 210),
];

/// Viridis-like colour ramp, t ∈ [0, 1].
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = t * (STOPS.len() - 1) as f64;
    let i = (s.floor() as usize).min(STOPS.len() - 2);
    let f = s - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |u: f64, v: f64| (u + (v - u) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Heat-map values log p on a grid, mapped to [0, 1] with the bottom clipped at max − 12 (six "σ" of a
/// Gaussian), so the interesting region keeps the colour range.
fn heat<D: LogDensity>(density: &D, b: Bounds, cells: usize) -> Vec<Vec<f64>> {
    heat_fn(&|x: &[f64]| density.log_prob(x), b, cells)
}

fn heat_fn(log_density: &dyn Fn(&[f64]) -> f64, b: Bounds, cells: usize) -> Vec<Vec<f64>> {
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
    let max = vals
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let lo = max - 12.0;
    vals.into_iter()
        .map(|row| row.into_iter().map(|v| (v - lo) / (max - lo)).collect())
        .collect()
}

/// A white canvas with axes over `bounds` and the log-density heat map drawn: the base of every 2-D picture.
fn heat_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    heat_vals: &[Vec<f64>],
    bounds: Bounds,
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    String,
> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(bounds.x.0..bounds.x.1, bounds.y.0..bounds.y.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    draw_heat(&mut chart, heat_vals, bounds)?;
    Ok(chart)
}

fn draw_heat<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    values: &[Vec<f64>],
    b: Bounds,
) -> Result<(), String> {
    let cells = values.len();
    let (dx, dy) = (
        (b.x.1 - b.x.0) / cells as f64,
        (b.y.1 - b.y.0) / cells as f64,
    );
    chart
        .draw_series(values.iter().enumerate().flat_map(|(i, row)| {
            row.iter().enumerate().map(move |(j, &t)| {
                let (x0, y0) = (b.x.0 + i as f64 * dx, b.y.0 + j as f64 * dy);
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], ramp(t).filled())
            })
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A 2-D score field: arrows s(x) over the heat map of log p. Arrow lengths are proportional to ‖s‖ up to the
/// 90th percentile over the grid (longer ones are capped, so one steep region does not shrink the rest).
///
/// ```no_run
/// use stein_scores::plot::{score_field, Bounds, FieldOptions};
/// use stein_scores::{GaussianMixture, MultivariateNormal};
/// let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.0], 0.7).unwrap();
/// let gmm = GaussianMixture::new(vec![0.3, 0.7], vec![c(-2.0), c(2.0)]).unwrap();
/// score_field("gmm_score.png", &gmm, &gmm, Bounds::square(5.0), &FieldOptions::default()).unwrap();
/// ```
pub fn score_field<D: LogDensity, S: Score + ?Sized>(
    path: impl AsRef<Path>,
    density: &D,
    score: &S,
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    score_field_fn(path, &|x: &[f64]| density.log_prob(x), score, bounds, opts)
}

/// [`score_field`] with the log-density given as a plain function (e.g. a trained energy network's −E).
pub fn score_field_fn<S: Score + ?Sized>(
    path: impl AsRef<Path>,
    log_density: &dyn Fn(&[f64]) -> f64,
    score: &S,
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    let heat_vals = heat_fn(log_density, bounds, opts.cells);
    let n = opts.arrows.max(2);
    let (sx, sy) = (
        (bounds.x.1 - bounds.x.0) / n as f64,
        (bounds.y.1 - bounds.y.0) / n as f64,
    );
    let mut arrows = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let p = [
                bounds.x.0 + (i as f64 + 0.5) * sx,
                bounds.y.0 + (j as f64 + 0.5) * sy,
            ];
            arrows.push((p, score.score(&p)));
        }
    }
    let mut norms: Vec<f64> = arrows
        .iter()
        .map(|(_, s)| s[0].hypot(s[1]))
        .filter(|v| v.is_finite())
        .collect();
    norms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let cap = norms
        .get(norms.len() * 9 / 10)
        .copied()
        .unwrap_or(1.0)
        .max(1e-12);
    let cell = sx.min(sy) * 0.9;
    on_canvas!(path, opts.size, |root| {
        (|| -> Result<(), String> {
            let mut chart = heat_chart(&root, &opts.title, &heat_vals, bounds)?;
            for (p, s) in &arrows {
                let norm = s[0].hypot(s[1]);
                if !norm.is_finite() || norm == 0.0 {
                    continue;
                }
                let len = cell * norm.min(cap) / cap;
                let (ux, uy) = (s[0] / norm, s[1] / norm);
                let tip = (p[0] + ux * len, p[1] + uy * len);
                let head = len * 0.3;
                let left = (
                    tip.0 - head * (ux * 0.87 - uy * 0.5),
                    tip.1 - head * (uy * 0.87 + ux * 0.5),
                );
                let right = (
                    tip.0 - head * (ux * 0.87 + uy * 0.5),
                    tip.1 - head * (uy * 0.87 - ux * 0.5),
                );
                let style = WHITE.stroke_width(1);
                chart
                    .draw_series([
                        PathElement::new(vec![(p[0], p[1]), tip], style),
                        PathElement::new(vec![left, tip, right], style),
                    ])
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })()
    })
}

/// 1-D curves: log p (top panel) and its score (bottom panel) for each curve, on [x₀, x₁].
pub fn curves_1d(
    path: impl AsRef<Path>,
    title: &str,
    range: (f64, f64),
    curves: &[Curve<'_>],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    const COLORS: [RGBColor; 6] = PALETTE;
    let n = 400;
    let xs: Vec<f64> = (0..=n)
        .map(|i| range.0 + (range.1 - range.0) * i as f64 / n as f64)
        .collect();
    let series: Vec<(Vec<f64>, Vec<f64>)> = curves
        .iter()
        .map(|c| {
            (
                xs.iter().map(|&x| (c.log_density)(x)).collect(),
                xs.iter().map(|&x| (c.score)(x)).collect(),
            )
        })
        .collect();
    let (ly, sy) = (
        span(series.iter().map(|s| &s.0)),
        span(series.iter().map(|s| &s.1)),
    );
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let root = root
                .titled(title, ("sans-serif", 20))
                .map_err(|e| e.to_string())?;
            let panels = root.split_evenly((2, 1));
            for (k, panel) in panels.iter().enumerate() {
                let (yr, name) = if k == 0 {
                    (ly, "log p(x)")
                } else {
                    (sy, "score d/dx log p(x)")
                };
                let mut chart = ChartBuilder::on(panel)
                    .margin(10)
                    .x_label_area_size(25)
                    .y_label_area_size(50)
                    .caption(name, ("sans-serif", 15))
                    .build_cartesian_2d(range.0..range.1, yr.0..yr.1)
                    .map_err(|e| e.to_string())?;
                chart.configure_mesh().draw().map_err(|e| e.to_string())?;
                for (i, (c, s)) in curves.iter().zip(&series).enumerate() {
                    let ys = if k == 0 { &s.0 } else { &s.1 };
                    let color = COLORS[i % COLORS.len()];
                    chart
                        .draw_series(LineSeries::new(
                            xs.iter()
                                .zip(ys)
                                .filter(|(_, y)| y.is_finite())
                                .map(|(&x, &y)| (x, y)),
                            color.stroke_width(2),
                        ))
                        .map_err(|e| e.to_string())?
                        .label(c.label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2))
                        });
                }
                // log-densities peak in the middle, scores fall from left to right: keep the legend clear
                let corner = if k == 0 {
                    SeriesLabelPosition::LowerMiddle
                } else {
                    SeriesLabelPosition::UpperRight
                };
                chart
                    .configure_series_labels()
                    .position(corner)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })()
    })
}

/// The padded range of the finite values of several series.
fn span<'a>(series: impl Iterator<Item = &'a Vec<f64>>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in series.flatten().filter(|v| v.is_finite()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if lo < hi {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0) // a constant series
    } else {
        (-1.0, 1.0) // nothing finite to show
    }
}

/// Samples as dots over the heat map of log p.
pub fn samples_over_density<D: LogDensity>(
    path: impl AsRef<Path>,
    density: &D,
    samples: &[Vec<f64>],
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    let heat_vals = heat(density, bounds, opts.cells);
    on_canvas!(path, opts.size, |root| {
        (|| -> Result<(), String> {
            let mut chart = heat_chart(&root, &opts.title, &heat_vals, bounds)?;
            chart
                .draw_series(
                    samples
                        .iter()
                        .filter(|p| p.len() >= 2)
                        .map(|p| Circle::new((p[0], p[1]), 2, WHITE.mix(0.7).filled())),
                )
                .map_err(|e| e.to_string())?;
            Ok(())
        })()
    })
}

/// Sampler trajectories as polylines over the heat map of log p (each path a list of 2-D points; a dot marks
/// where it starts).
pub fn trajectories<D: LogDensity>(
    path: impl AsRef<Path>,
    density: &D,
    paths: &[Vec<Vec<f64>>],
    bounds: Bounds,
    opts: &FieldOptions,
) -> Result<(), ScoreError> {
    const COLORS: [RGBColor; 6] = ON_HEAT;
    let heat_vals = heat(density, bounds, opts.cells);
    on_canvas!(path, opts.size, |root| {
        (|| -> Result<(), String> {
            let mut chart = heat_chart(&root, &opts.title, &heat_vals, bounds)?;
            for (k, p) in paths.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let pts: Vec<(f64, f64)> = p
                    .iter()
                    .filter(|x| x.len() >= 2)
                    .map(|x| (x[0], x[1]))
                    .collect();
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        pts.clone(),
                        color.mix(0.8).stroke_width(1),
                    )))
                    .map_err(|e| e.to_string())?;
                if let Some(&first) = pts.first() {
                    chart
                        .draw_series(std::iter::once(Circle::new(first, 4, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })()
    })
}

/// Two point sets over each other, e.g. held-out data (grey) and generated samples (orange).
pub fn scatter_compare(
    path: impl AsRef<Path>,
    title: &str,
    sets: &[(&str, &[Vec<f64>])],
    bounds: Bounds,
    size: (u32, u32),
) -> Result<(), ScoreError> {
    const COLORS: [RGBColor; 3] = [RGBColor(150, 150, 150), PALETTE[1], PALETTE[0]];
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(bounds.x.0..bounds.x.1, bounds.y.0..bounds.y.1)
                .map_err(|e| e.to_string())?;
            chart.configure_mesh().draw().map_err(|e| e.to_string())?;
            for (k, (label, pts)) in sets.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                chart
                    .draw_series(
                        pts.iter()
                            .filter(|p| p.len() >= 2)
                            .map(|p| Circle::new((p[0], p[1]), 2, color.mix(0.6).filled())),
                    )
                    .map_err(|e| e.to_string())?
                    .label(label.to_string())
                    .legend(move |(x, y)| Circle::new((x + 7, y), 4, color.filled()));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
            Ok(())
        })()
    })
}

/// A line chart of (x, y) series, e.g. the training loss against the step.
pub fn line_chart(
    path: impl AsRef<Path>,
    title: &str,
    axis: (&str, &str),
    series: &[(&str, &[(f64, f64)])],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.1.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.0), a.1.max(p.0))
    });
    let ys: Vec<f64> = pts().map(|p| p.1).collect();
    let (y0, y1) = span(std::iter::once(&ys));
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (0.0, 1.0) };
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(axis.0)
                .y_desc(axis.1)
                .draw()
                .map_err(|e| e.to_string())?;
            for (k, (_, s)) in series.iter().enumerate() {
                let color = if k == 0 {
                    RGBColor(31, 119, 180)
                } else {
                    RGBColor(255, 127, 14)
                };
                chart
                    .draw_series(LineSeries::new(
                        s.iter().copied().filter(|p| p.1.is_finite()),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })()
    })
}
