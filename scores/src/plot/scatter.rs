//! Point sets on plain axes: two sets over each other in the plane, and a pair-plot grid for data of more
//! than two dimensions. Points outside the frame are not drawn; the legend counts them.

use super::canvas::{on_canvas, txt, SETS};
use super::Bounds;
use crate::error::ScoreError;
use plotters::prelude::*;
use std::path::Path;

/// A legend label that says how many of the set's points fall outside the frame.
fn label_with_outside(label: &str, outside: usize) -> String {
    match outside {
        0 => label.to_string(),
        n => format!("{label} ({n} outside the frame)"),
    }
}

/// Two (or three) point sets over each other, e.g. held-out data (grey) and generated samples (orange), in
/// the plane of coordinates 0 and 1. Points outside `bounds` are not drawn; the legend says how many.
pub fn scatter_compare(
    path: impl AsRef<Path>,
    title: &str,
    sets: &[(&str, &[Vec<f64>])],
    bounds: Bounds,
    size: (u32, u32),
) -> Result<(), ScoreError> {
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    super::canvas::fitted(&root, title, 20.0),
                    ("sans-serif", 20),
                )
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(bounds.x.0..bounds.x.1, bounds.y.0..bounds.y.1)
                .map_err(txt)?;
            chart.configure_mesh().draw().map_err(txt)?;
            for (k, (label, pts)) in sets.iter().enumerate() {
                let color = SETS[k % SETS.len()];
                let inside = |p: &&Vec<f64>| p.len() >= 2 && bounds.contains(p[0], p[1]);
                let outside =
                    pts.iter().filter(|p| p.len() >= 2).count() - pts.iter().filter(inside).count();
                chart
                    .draw_series(
                        pts.iter()
                            .filter(inside)
                            .map(|p| Circle::new((p[0], p[1]), 2, color.mix(0.6).filled())),
                    )
                    .map_err(txt)?
                    .label(label_with_outside(label, outside))
                    .legend(move |(x, y)| Circle::new((x + 7, y), 4, color.filled()));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(txt)?;
            Ok(())
        })()
    })
}

/// The most coordinates of a [`pair_grid`].
pub const MAX_PAIR_COORDS: usize = 6;

/// A pair-plot grid of the first `coords` coordinates (at most [`MAX_PAIR_COORDS`]) of point sets: scatter
/// plots of coordinate j against i off the diagonal, histograms of coordinate i on it. Each coordinate's
/// range is the first set's (the reference) with a 15% margin; points outside are not drawn.
pub fn pair_grid(
    path: impl AsRef<Path>,
    title: &str,
    sets: &[(&str, &[Vec<f64>])],
    coords: usize,
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let path = path.as_ref();
    let dim = sets
        .iter()
        .flat_map(|(_, p)| p.iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    let k = coords.min(dim).min(MAX_PAIR_COORDS);
    if k == 0 {
        return Err(super::canvas::plot_err(path, "no coordinates to draw"));
    }
    let reference = sets.first().map(|s| s.1).unwrap_or(&[]);
    let ranges: Vec<(f64, f64)> = (0..k)
        .map(|i| super::padded_range(reference.iter().map(|p| p[i])).unwrap_or((-1.0, 1.0)))
        .collect();
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let root = root.titled(title, ("sans-serif", 18)).map_err(txt)?;
            let cells = root.split_evenly((k, k));
            for (c, cell) in cells.iter().enumerate() {
                let (i, j) = (c / k, c % k); // row i (y coordinate), column j (x coordinate)
                let axis_label = |row: bool| if row { 18 } else { 0 };
                let mut b = ChartBuilder::on(cell);
                b.margin(4)
                    .x_label_area_size(axis_label(i + 1 == k))
                    .y_label_area_size(axis_label(j == 0) * 2);
                if i == j {
                    draw_histograms(b, sets, i, ranges[i])?;
                } else {
                    let frame = Bounds {
                        x: ranges[j],
                        y: ranges[i],
                    };
                    let mut chart = b
                        .build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1)
                        .map_err(txt)?;
                    chart
                        .configure_mesh()
                        .disable_mesh()
                        .x_labels(3)
                        .y_labels(3)
                        .label_style(("sans-serif", 10))
                        .draw()
                        .map_err(txt)?;
                    for (s, (_, pts)) in sets.iter().enumerate() {
                        let color = SETS[s % SETS.len()];
                        chart
                            .draw_series(
                                pts.iter()
                                    .filter(|p| frame.contains(p[j], p[i]))
                                    .map(|p| Circle::new((p[j], p[i]), 1, color.mix(0.5).filled())),
                            )
                            .map_err(txt)?;
                    }
                }
                if i == 0 && j + 1 == k {
                    // the legend: one line per set, in the top-right cell's corner
                    for (s, (label, _)) in sets.iter().enumerate() {
                        let color = SETS[s % SETS.len()];
                        let (w, _) = cell.dim_in_pixel();
                        let y = 8 + 14 * s as i32;
                        cell.draw(&Circle::new((w as i32 - 90, y), 4, color.filled()))
                            .map_err(txt)?;
                        cell.draw(&Text::new(
                            label.to_string(),
                            (w as i32 - 82, y - 6),
                            ("sans-serif", 11),
                        ))
                        .map_err(txt)?;
                    }
                }
            }
            Ok(())
        })()
    })
}

/// The diagonal of a [`pair_grid`]: overlaid histograms of coordinate `i` of each set, as densities.
fn draw_histograms<DB: DrawingBackend>(
    mut b: ChartBuilder<'_, '_, DB>,
    sets: &[(&str, &[Vec<f64>])],
    i: usize,
    range: (f64, f64),
) -> Result<(), String> {
    const BINS: usize = 30;
    let w = (range.1 - range.0) / BINS as f64;
    let hists: Vec<Vec<f64>> = sets
        .iter()
        .map(|(_, pts)| {
            let values: Vec<f64> = pts.iter().map(|p| p[i]).collect();
            super::charts::histogram(&values, range, BINS)
        })
        .collect();
    let top = hists
        .iter()
        .flatten()
        .fold(0.0f64, |a, &v| a.max(v))
        .max(1e-12)
        * 1.1;
    let mut chart = b
        .build_cartesian_2d(range.0..range.1, 0.0..top)
        .map_err(txt)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(3)
        .label_style(("sans-serif", 10))
        .draw()
        .map_err(txt)?;
    for (s, h) in hists.iter().enumerate() {
        let color = SETS[s % SETS.len()];
        chart
            .draw_series(h.iter().enumerate().map(|(k, &v)| {
                let x0 = range.0 + k as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, v)], color.mix(0.45).filled())
            }))
            .map_err(txt)?;
    }
    Ok(())
}

/// One panel of a [`scatter_panels`] grid: a titled point set in its own frame.
#[derive(Clone, Copy, Debug)]
pub struct Panel<'a> {
    /// The panel's title (its count of points outside the frame is added to it).
    pub title: &'a str,
    /// Points, coordinates 0 and 1 drawn.
    pub points: &'a [Vec<f64>],
    /// The frame.
    pub bounds: Bounds,
}

/// Small multiples: point sets in a grid of `columns` panels a row (data beside the samples of several
/// models, say), each with its title and frame; points outside a frame are not drawn and its title counts
/// them. An error for no panels or no columns.
///
/// ```
/// use stein_scores::plot::{scatter_panels, Bounds, Panel};
///
/// let ring: Vec<Vec<f64>> = (0..200).map(|i| { let a = i as f64 * 0.1; vec![a.cos(), a.sin()] }).collect();
/// let blob: Vec<Vec<f64>> = (0..200).map(|i| vec![0.01 * (i % 20) as f64, 0.01 * (i / 20) as f64]).collect();
/// let frame = Bounds::square(1.5);
/// let dir = tempfile::tempdir().unwrap();
/// scatter_panels(
///     dir.path().join("panels.png"),
///     "data | model",
///     &[Panel { title: "data", points: &ring, bounds: frame }, Panel { title: "model", points: &blob, bounds: frame }],
///     2,
///     (600, 320),
/// )
/// .unwrap();
/// ```
pub fn scatter_panels(
    path: impl AsRef<Path>,
    title: &str,
    panels: &[Panel<'_>],
    columns: usize,
    size: (u32, u32),
) -> Result<(), ScoreError> {
    let path = path.as_ref();
    if panels.is_empty() || columns == 0 {
        return Err(super::canvas::plot_err(
            path,
            format!("{} panels in {columns} columns", panels.len()),
        ));
    }
    let rows = panels.len().div_ceil(columns);
    on_canvas!(path, size, |root| {
        (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(txt)?;
            let root = root.titled(title, ("sans-serif", 18)).map_err(txt)?;
            let cells = root.split_evenly((rows, columns));
            for (k, (cell, panel)) in cells.iter().zip(panels).enumerate() {
                let frame = panel.bounds;
                let inside = |p: &&Vec<f64>| p.len() >= 2 && frame.contains(p[0], p[1]);
                let outside = panel.points.iter().filter(|p| p.len() >= 2).count()
                    - panel.points.iter().filter(inside).count();
                let caption = match outside {
                    0 => panel.title.to_string(),
                    n => format!("{} ({n} outside)", panel.title),
                };
                let mut chart = ChartBuilder::on(cell)
                    .caption(caption, ("sans-serif", 13))
                    .margin(4)
                    .build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1)
                    .map_err(txt)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .disable_axes()
                    .draw()
                    .map_err(txt)?;
                cell.draw(&Rectangle::new(
                    [(0, 0), {
                        let (w, h) = cell.dim_in_pixel();
                        (w as i32 - 1, h as i32 - 1)
                    }],
                    BLACK.mix(0.2),
                ))
                .map_err(txt)?;
                let color = SETS[(k % columns).min(SETS.len() - 1)];
                chart
                    .draw_series(
                        panel
                            .points
                            .iter()
                            .filter(inside)
                            .map(|p| Circle::new((p[0], p[1]), 1, color.mix(0.5).filled())),
                    )
                    .map_err(txt)?;
            }
            Ok(())
        })()
    })
}
