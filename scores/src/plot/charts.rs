//! Pictures on plain axes: 1-D log-density and score curves, a 1-D density over histograms of samples, and
//! line charts (the training loss), and the rank-ECDF picture of calibration.

use super::canvas::{on_canvas, span, txt, PALETTE, SETS};
use super::Curve;
use crate::error::ScoreError;
use crate::ranks::Uniformity;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::path::Path;

/// Points of a curve on its range.
const CURVE_POINTS: usize = 400;

fn grid(range: (f64, f64)) -> Vec<f64> {
    (0..=CURVE_POINTS)
        .map(|i| range.0 + (range.1 - range.0) * i as f64 / CURVE_POINTS as f64)
        .collect()
}

/// Draw labelled lines, each `(label, xs, ys)` (non-finite points skipped), on a chart.
fn lines<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    series: &[(&str, &[f64], &[f64])],
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (label, xs, ys)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                xs.iter()
                    .zip(ys.iter())
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|(&x, &y)| (x, y)),
                color.stroke_width(2),
            ))
            .map_err(txt)?
            .label(label.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2))
            });
    }
    Ok(())
}

/// A legend box in `corner`.
fn legend<'a, DB: DrawingBackend + 'a, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    corner: SeriesLabelPosition,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(txt)
}

/// 1-D curves: log p (top panel) and its score (bottom panel) for each curve, on [x₀, x₁].
pub fn curves_1d(
    path: impl AsRef<Path>,
    title: &str,
    range: (f64, f64),
    curves: &[Curve<'_>],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let xs = grid(range);
    let lps: Vec<Vec<f64>> = curves
        .iter()
        .map(|c| xs.iter().map(|&x| (c.log_density)(x)).collect())
        .collect();
    let scores: Vec<Vec<f64>> = curves
        .iter()
        .map(|c| xs.iter().map(|&x| (c.score)(x)).collect())
        .collect();
    let labelled = |v: &'_ [Vec<f64>]| -> Vec<(String, Vec<f64>)> {
        curves
            .iter()
            .map(|c| c.label.clone())
            .zip(v.iter().cloned())
            .collect()
    };
    let (top, bottom) = (labelled(&lps), labelled(&scores));
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let root = root.titled(title, ("sans-serif", 20)).map_err(txt)?;
            let panels = root.split_evenly((2, 1));
            // log-densities peak in the middle, scores fall from left to right: keep the legend clear
            let rows = [
                (&top, "log p(x)", SeriesLabelPosition::LowerMiddle),
                (
                    &bottom,
                    "score d/dx log p(x)",
                    SeriesLabelPosition::UpperRight,
                ),
            ];
            for (panel, (series, name, corner)) in panels.iter().zip(rows) {
                let yr = span(series.iter().map(|s| &s.1));
                let mut chart = ChartBuilder::on(panel)
                    .margin(10)
                    .x_label_area_size(25)
                    .y_label_area_size(50)
                    .caption(name, ("sans-serif", 15))
                    .build_cartesian_2d(range.0..range.1, yr.0..yr.1)
                    .map_err(txt)?;
                chart.configure_mesh().draw().map_err(txt)?;
                let ys: Vec<(&str, &[f64], &[f64])> = series
                    .iter()
                    .map(|(l, v)| (l.as_str(), &xs[..], &v[..]))
                    .collect();
                lines(&mut chart, &ys)?;
                legend(&mut chart, corner)?;
            }
            Ok(())
        })()
    })
}

/// Bins of a histogram of 1-D values on `range`, as densities (area 1 over the values inside the range).
pub(crate) fn histogram(values: &[f64], range: (f64, f64), bins: usize) -> Vec<f64> {
    let mut counts = vec![0usize; bins];
    let width = (range.1 - range.0) / bins as f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        if v >= range.0 && v < range.1 {
            counts[(((v - range.0) / width) as usize).min(bins - 1)] += 1;
        }
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|&c| c as f64 / (total * width)).collect()
}

/// A 1-D model against data: the model's density (exp of its log-density, normalised on the range by the
/// trapezoid rule) over histograms of point sets (e.g. held-out data grey, samples orange) in the top panel,
/// and the model's score in the bottom one. Values outside the range are not drawn.
pub fn density_1d(
    path: impl AsRef<Path>,
    title: &str,
    range: (f64, f64),
    model: &Curve<'_>,
    sets: &[(&str, &[f64])],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    const BINS: usize = 40;
    let xs = grid(range);
    let lp: Vec<f64> = xs.iter().map(|&x| (model.log_density)(x)).collect();
    let top = lp
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let un: Vec<f64> = lp
        .iter()
        .map(|v| if v.is_finite() { (v - top).exp() } else { 0.0 })
        .collect();
    let dx = (range.1 - range.0) / CURVE_POINTS as f64;
    let z = un
        .windows(2)
        .map(|w| 0.5 * (w[0] + w[1]) * dx)
        .sum::<f64>()
        .max(1e-300);
    let density: Vec<f64> = un.iter().map(|u| u / z).collect();
    let score: Vec<f64> = xs.iter().map(|&x| (model.score)(x)).collect();
    let hists: Vec<Vec<f64>> = sets
        .iter()
        .map(|(_, v)| histogram(v, range, BINS))
        .collect();
    let ymax = hists
        .iter()
        .flatten()
        .chain(&density)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-12)
        * 1.08;
    let score_range = span(std::iter::once(&score));
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let root = root.titled(title, ("sans-serif", 20)).map_err(txt)?;
            let panels = root.split_evenly((2, 1));
            let mut chart = ChartBuilder::on(&panels[0])
                .margin(10)
                .x_label_area_size(25)
                .y_label_area_size(50)
                .caption("density", ("sans-serif", 15))
                .build_cartesian_2d(range.0..range.1, 0.0..ymax)
                .map_err(txt)?;
            chart.configure_mesh().draw().map_err(txt)?;
            let w = (range.1 - range.0) / BINS as f64;
            for (k, ((label, _), h)) in sets.iter().zip(&hists).enumerate() {
                let color = SETS[k % SETS.len()];
                chart
                    .draw_series(h.iter().enumerate().map(|(i, &v)| {
                        let x0 = range.0 + i as f64 * w;
                        Rectangle::new([(x0, 0.0), (x0 + w, v)], color.mix(0.4).filled())
                    }))
                    .map_err(txt)?
                    .label(label.to_string())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 12, y + 4)], color.mix(0.6).filled())
                    });
            }
            lines(&mut chart, &[(model.label.as_str(), &xs, &density)])?;
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            let mut chart = ChartBuilder::on(&panels[1])
                .margin(10)
                .x_label_area_size(25)
                .y_label_area_size(50)
                .caption("score d/dx log p(x)", ("sans-serif", 15))
                .build_cartesian_2d(range.0..range.1, score_range.0..score_range.1)
                .map_err(txt)?;
            chart.configure_mesh().draw().map_err(txt)?;
            lines(&mut chart, &[(model.label.as_str(), &xs, &score)])?;
            Ok(())
        })()
    })
}

/// Axis labels: whole numbers without a decimal point ("500", not "500.0"), others to six significant digits
/// ("0.3", not the tick's "0.30000000000000004").
fn number(v: &f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", *v as i64)
    } else if *v == 0.0 || !v.is_finite() {
        format!("{v}")
    } else {
        let digits = 5 - v.abs().log10().floor() as i32;
        let scale = 10f64.powi(digits.clamp(-300, 300));
        format!("{}", (v * scale).round() / scale)
    }
}

/// A line chart of (x, y) series, e.g. the training loss against the step. Whole-number x values are
/// labelled as integers; when every y is positive and they span more than two decades the y axis is
/// logarithmic (and says so).
pub fn line_chart(
    path: impl AsRef<Path>,
    title: &str,
    axis: (&str, &str),
    series: &[(&str, &[(f64, f64)])],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.1.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let (x0, x1) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.0), a.1.max(p.0))
    });
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (0.0, 1.0) };
    let ys: Vec<f64> = finite().map(|p| p.1).collect();
    let (lo, hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, &y| {
        (a.0.min(y), a.1.max(y))
    });
    let log = lo > 0.0 && hi / lo > 100.0;
    let xs_of = |s: &[(f64, f64)]| s.iter().map(|p| p.0).collect::<Vec<f64>>();
    let ys_of = |s: &[(f64, f64)]| s.iter().map(|p| p.1).collect::<Vec<f64>>();
    let columns: Vec<(Vec<f64>, Vec<f64>)> =
        series.iter().map(|(_, s)| (xs_of(s), ys_of(s))).collect();
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let mut chart = ChartBuilder::on(&root);
            chart
                .caption(
                    super::canvas::fitted(&root, title, 20.0),
                    ("sans-serif", 20),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60);
            if log {
                let y_desc = format!("{} (log scale)", axis.1);
                draw_line_chart(
                    chart,
                    (x0..x1, (lo / 1.2..hi * 1.2).log_scale()),
                    (axis.0, &y_desc),
                    series,
                    &columns,
                )
            } else {
                let (y0, y1) = span(std::iter::once(&ys));
                draw_line_chart(chart, (x0..x1, y0..y1), axis, series, &columns)
            }
        })()
    })
}

/// The body of [`line_chart`] on a linear or logarithmic y axis.
fn draw_line_chart<'a, 'b, DB: DrawingBackend + 'a, Y>(
    mut builder: ChartBuilder<'a, 'b, DB>,
    (x, y): (std::ops::Range<f64>, Y),
    axis: (&str, &str),
    series: &[(&str, &[(f64, f64)])],
    columns: &[(Vec<f64>, Vec<f64>)],
) -> Result<(), String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = builder.build_cartesian_2d(x, y).map_err(txt)?;
    chart
        .configure_mesh()
        .x_desc(axis.0)
        .y_desc(axis.1)
        .x_label_formatter(&number)
        .draw()
        .map_err(txt)?;
    let labelled: Vec<(&str, &[f64], &[f64])> = series
        .iter()
        .zip(columns)
        .map(|((label, _), (xs, ys))| (*label, &xs[..], &ys[..]))
        .collect();
    lines(&mut chart, &labelled)?;
    if series.len() > 1 {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// The rank-ECDF difference picture of simulation-based calibration (Säilynoja et al. 2022): for each named
/// rank set, its ECDF minus the uniform CDF against the fractional rank, over the grey simultaneous band
/// inside which the whole curve of uniform ranks stays with probability 1 − α. A curve leaving the band is a
/// miscalibration: ∩ above zero, draws biased high; below, biased low; a falling-then-rising S, too narrow.
/// Every set must come from the same number of ranks and the same largest rank (one band serves all).
///
/// ```no_run
/// use stein_scores::ranks::{rank_uniformity, Options};
/// let ranks: Vec<usize> = (0..200).map(|i| (i * 7) % 20).collect();
/// let u = rank_uniformity(&ranks, 19, &Options::default()).unwrap();
/// stein_scores::plot::rank_ecdf("ranks.svg", "SBC ranks", &[("θ", &u)], (720, 480)).unwrap();
/// ```
pub fn rank_ecdf(
    path: impl AsRef<Path>,
    title: &str,
    series: &[(&str, &Uniformity)],
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let Some((_, first)) = series.first() else {
        return Err(ScoreError::TooFewSamples {
            what: "rank_ecdf series",
            need: 1,
            got: 0,
        });
    };
    if let Some((name, u)) = series
        .iter()
        .find(|(_, u)| (u.n, u.max_rank) != (first.n, first.max_rank))
    {
        return Err(ScoreError::Dimension {
            param: "series",
            expected: format!("{} ranks in 0..={} for every set", first.n, first.max_rank),
            got: format!("{} ranks in 0..={} for `{name}`", u.n, u.max_rank),
        });
    }
    let band = &first.band;
    let ends = |v: &[f64]| {
        let mut out = vec![(0.0, 0.0)];
        out.extend(band.z.iter().zip(v).map(|(z, e)| (*z, e - z)));
        out.push((1.0, 0.0));
        out
    };
    let mut outline = ends(&band.upper);
    outline.extend(ends(&band.lower).into_iter().rev());
    let columns: Vec<(Vec<f64>, Vec<f64>)> = series
        .iter()
        .map(|(_, u)| ends(&u.band.ecdf).into_iter().unzip())
        .collect();
    let lim = outline
        .iter()
        .map(|p| p.1.abs())
        .chain(columns.iter().flat_map(|c| c.1.iter().map(|y| y.abs())))
        .fold(0.0f64, f64::max)
        * 1.1;
    let caption = format!(
        "{title} ({:.0}% simultaneous band)",
        100.0 * (1.0 - band.alpha)
    );
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    super::canvas::fitted(&root, &caption, 20.0),
                    ("sans-serif", 20),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..1.0, -lim..lim)
                .map_err(txt)?;
            chart
                .configure_mesh()
                .x_desc("fractional rank")
                .y_desc("ECDF − uniform")
                .draw()
                .map_err(txt)?;
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline.clone(),
                    BLACK.mix(0.12).filled(),
                )))
                .map_err(txt)?;
            let labelled: Vec<(&str, &[f64], &[f64])> = series
                .iter()
                .zip(&columns)
                .map(|((label, _), (xs, ys))| (*label, &xs[..], &ys[..]))
                .collect();
            lines(&mut chart, &labelled)?;
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        })()
    })
}
