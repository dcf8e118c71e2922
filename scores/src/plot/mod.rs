//! Pictures (feature `plot`, on by default): score fields as arrows over a log-density heat map with a colour
//! bar, 1-D log-density and score curves, a 1-D density over histograms, samples over a density, point sets
//! compared in the plane or in a pair-plot grid, line charts, the rank-ECDF band of calibration tests, and animated GIFs of score fields and moving
//! points. SVG, PNG or GIF by the file extension; pure Rust (plotters with an embedded DejaVu font, `gif`), no
//! system packages. Every file is drawn in memory and written atomically; points outside the frame are not
//! drawn.
//!
//! ```no_run
//! use stein_scores::plot::{animate_score_field, Bounds, FieldFrame, FieldOptions};
//! use stein_scores::{GaussianMixture, MultivariateNormal, NoisePerturbed, LogDensity};
//!
//! let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.0], 0.5).unwrap();
//! let gmm = GaussianMixture::new(vec![0.5, 0.5], vec![c(-2.0), c(2.0)]).unwrap();
//! // the score field of the mixture perturbed by N(0, σ² I), σ from 0.1 to 3: two basins merge into one
//! let frames: Vec<FieldFrame> = (0..20)
//!     .map(|k| {
//!         let sigma = 0.1 * 30f64.powf(k as f64 / 19.0);
//!         let p = NoisePerturbed::new(gmm.clone(), sigma).unwrap();
//!         let q = p.clone();
//!         FieldFrame {
//!             title: format!("σ = {sigma:.2}"),
//!             log_density: Box::new(move |x: &[f64]| q.log_prob(x)),
//!             score: Box::new(p),
//!         }
//!     })
//!     .collect();
//! let opts = FieldOptions::default();
//! animate_score_field("smoothing.gif", &frames, Bounds::square(5.0), &opts, 150).unwrap();
//! ```

pub(crate) mod canvas;
mod charts;
mod field;
mod scatter;

pub use canvas::MAX_FRAMES;
pub use charts::{curves_1d, density_1d, line_chart, rank_ecdf};
pub use field::{
    animate_points, animate_score_field, samples_over_density, score_field, score_field_fn,
    trajectories, FieldFrame,
};
pub use scatter::{pair_grid, scatter_compare, scatter_panels, Panel, MAX_PAIR_COORDS};

use crate::density::{LogDensity, Score};

/// A log-density as a boxed function of a point (any additive constant).
pub type LogDensityFn<'a> = Box<dyn Fn(&[f64]) -> f64 + 'a>;

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

    /// Whether (x, y) lies inside (edges included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x.0 && x <= self.x.1 && y >= self.y.0 && y <= self.y.1
    }

    /// The frame around the points' coordinates 0 and 1 with a 15% margin; `None` when a coordinate is not
    /// finite, a point has fewer than two coordinates, there are no points, or the frame would be too large
    /// to draw (beyond ±10¹⁵).
    ///
    /// ```
    /// use stein_scores::plot::Bounds;
    /// let b = Bounds::around(&[vec![0.0, 0.0], vec![1.0, 2.0]]).unwrap();
    /// assert!(b.contains(1.0, 2.0) && b.x.0 < 0.0 && b.y.1 > 2.0);
    /// assert!(Bounds::around(&[vec![f64::NAN, 0.0]]).is_none());
    /// ```
    pub fn around(points: &[Vec<f64>]) -> Option<Bounds> {
        if points.iter().any(|p| p.len() < 2) {
            return None;
        }
        Some(Bounds {
            x: padded_range(points.iter().map(|p| p[0]))?,
            y: padded_range(points.iter().map(|p| p[1]))?,
        })
    }
}

/// The range of the values with a 15% margin (a small one around a single value); `None` when there are no
/// values, one is not finite, or the range reaches beyond ±10¹⁵.
pub fn padded_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi, mut any) = (f64::INFINITY, f64::NEG_INFINITY, false);
    for v in values {
        if !v.is_finite() {
            return None;
        }
        (lo, hi, any) = (lo.min(v), hi.max(v), true);
    }
    if !any {
        return None;
    }
    let pad = 0.15 * (hi - lo).max(1e-3 * (1.0 + lo.abs().max(hi.abs())));
    let r = (lo - pad, hi + pad);
    (r.0.abs() < 1e15 && r.1.abs() < 1e15 && r.1 > r.0).then_some(r)
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
            size: (750, 640),
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
