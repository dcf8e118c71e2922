//! Toy 2-D data sets (seeded) and the exact density of each ([`Toy::density`]), per-coordinate
//! standardisation, and CSV loading (feature `io`).

mod truth;

pub use truth::ToyDensity;

use crate::error::ModelError;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use stein_autodiff::Tensor;
use stein_scores::{GaussianMixture, Mixture, MultivariateNormal, Ring};

/// A built-in toy data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toy {
    /// Two interleaved half circles (noise 0.05).
    TwoMoons,
    /// Eight Gaussians (std 0.5) with means on a circle of radius 4; true density known.
    EightGaussians,
    /// A 2-D swiss roll, scaled to about [−4, 4]².
    SwissRoll,
    /// A 4 × 4 checkerboard on [−4, 4]², every other square filled.
    Checkerboard,
    /// Two concentric rings (radii 1.5 and 3.5, width 0.25); true density known.
    Rings,
    /// Five curved arms (the pinwheel of Johnson et al. 2016).
    Pinwheel,
    /// Two interleaved spirals.
    Spirals,
}

impl Toy {
    /// Every built-in set.
    pub const ALL: [Toy; 7] = [
        Toy::TwoMoons,
        Toy::EightGaussians,
        Toy::SwissRoll,
        Toy::Checkerboard,
        Toy::Rings,
        Toy::Pinwheel,
        Toy::Spirals,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Toy::TwoMoons => "two-moons",
            Toy::EightGaussians => "8gaussians",
            Toy::SwissRoll => "swiss-roll",
            Toy::Checkerboard => "checkerboard",
            Toy::Rings => "rings",
            Toy::Pinwheel => "pinwheel",
            Toy::Spirals => "spirals",
        }
    }

    /// Look a set up by name (`two-moons`, `8gaussians`, …; `_` and `-` are interchangeable).
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        let n = name.to_ascii_lowercase().replace('_', "-");
        Toy::ALL
            .into_iter()
            .find(|t| {
                t.name() == n
                    || (n == "moons" && *t == Toy::TwoMoons)
                    || (n == "8-gaussians" && *t == Toy::EightGaussians)
            })
            .ok_or_else(|| ModelError::UnknownDataset {
                name: name.to_string(),
                known: Toy::ALL
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// `n` points as an `n × 2` tensor.
    ///
    /// # Panics
    /// When `2n` exceeds [`stein_autodiff::MAX_TENSOR_ENTRIES`] (the message names `n`).
    pub fn sample<R: Rng + ?Sized>(self, n: usize, rng: &mut R) -> Tensor {
        assert!(
            n <= stein_autodiff::MAX_TENSOR_ENTRIES / 2,
            "Toy::sample: {n} points exceed the limit of {}",
            stein_autodiff::MAX_TENSOR_ENTRIES / 2
        );
        let mut data = Vec::with_capacity(2 * n);
        let mut g = || -> f64 { StandardNormal.sample(rng) };
        for i in 0..n {
            let (x, y) = match self {
                Toy::TwoMoons => {
                    let t = rng_uniform(&mut g) * PI;
                    let (x, y) = if i % 2 == 0 {
                        (t.cos(), t.sin())
                    } else {
                        (1.0 - t.cos(), 0.5 - t.sin())
                    };
                    (x + 0.05 * g(), y + 0.05 * g())
                }
                Toy::EightGaussians => {
                    let k = (rng_uniform(&mut g) * 8.0).floor().min(7.0);
                    let a = 2.0 * PI * k / 8.0;
                    (4.0 * a.cos() + 0.5 * g(), 4.0 * a.sin() + 0.5 * g())
                }
                Toy::SwissRoll => {
                    let t = 1.5 * PI * (1.0 + 2.0 * rng_uniform(&mut g));
                    (t * t.cos() / 3.5 + 0.1 * g(), t * t.sin() / 3.5 + 0.1 * g())
                }
                Toy::Checkerboard => {
                    let x = rng_uniform(&mut g) * 8.0 - 4.0;
                    let col = ((x + 4.0) / 2.0).floor() as i64;
                    let row = (rng_uniform(&mut g) * 2.0).floor() as i64 * 2 + (col % 2);
                    (x, row as f64 * 2.0 - 4.0 + rng_uniform(&mut g) * 2.0)
                }
                Toy::Rings => {
                    let r = if i % 2 == 0 { 1.5 } else { 3.5 };
                    let a = rng_uniform(&mut g) * 2.0 * PI;
                    let rho = r + 0.25 * g();
                    (rho * a.cos(), rho * a.sin())
                }
                Toy::Pinwheel => {
                    let k = (rng_uniform(&mut g) * 5.0).floor().min(4.0);
                    let (u, v) = (1.0 + 0.3 * g(), 0.05 * g());
                    let a = 2.0 * PI * k / 5.0 + 0.25 * u.exp();
                    (
                        2.0 * (u * a.cos() - v * a.sin()),
                        2.0 * (u * a.sin() + v * a.cos()),
                    )
                }
                Toy::Spirals => {
                    let t = rng_uniform(&mut g).sqrt() * 3.0 * PI;
                    let sgn = if i % 2 == 0 { 1.0 } else { -1.0 };
                    (
                        sgn * t * t.cos() / 2.5 + 0.1 * g(),
                        sgn * t * t.sin() / 2.5 + 0.1 * g(),
                    )
                }
            };
            data.push(x);
            data.push(y);
        }
        Tensor::new(n, 2, data).expect("2 values per point")
    }
}

// A uniform draw from the normal stream (keeps one RNG borrow in the closure above).
fn rng_uniform(g: &mut impl FnMut() -> f64) -> f64 {
    // Φ(z) for a standard normal z is uniform on (0, 1).
    0.5 * (1.0 + stein_autodiff::special::erf(g() / std::f64::consts::SQRT_2))
}

/// The true density of the eight-Gaussians set.
pub fn eight_gaussians_density() -> GaussianMixture {
    let comps = (0..8)
        .map(|k| {
            let a = 2.0 * PI * k as f64 / 8.0;
            MultivariateNormal::isotropic(vec![4.0 * a.cos(), 4.0 * a.sin()], 0.5).expect("valid")
        })
        .collect();
    GaussianMixture::new(vec![1.0; 8], comps).expect("valid")
}

/// The true density of the rings set: an equal mixture of two normalised rings.
pub fn rings_density() -> Mixture<Ring> {
    Mixture::new(
        vec![1.0, 1.0],
        vec![
            Ring::new(1.5, 0.25).expect("valid"),
            Ring::new(3.5, 0.25).expect("valid"),
        ],
    )
    .expect("valid")
}

/// Per-coordinate standardisation z = (x − mean) / scale: the map from data to model coordinates.
///
/// Networks train best on data of scale about 1 near the origin; data centred at (100, −50) or spread over
/// 10⁴ would otherwise need other step sizes, σ ladders and initialisations. A model keeps its
/// standardisation ([`Model::standardization`](crate::nn::Model::standardization)), so samples and scores are
/// mapped back: x = mean + scale · z, and s_x(x) = s_z(z) / scale (log p_x = log p_z − Σ log scale).
///
/// ```
/// use stein_autodiff::Tensor;
/// use stein_models::data::Standardization;
/// let data = Tensor::new(3, 2, vec![100.0, -50.0, 102.0, -50.0, 104.0, -50.0]).unwrap();
/// let st = Standardization::fit(&data);
/// assert_eq!(st.mean, vec![102.0, -50.0]);
/// assert_eq!(st.scale[1], 1.0);                    // a constant column keeps scale 1
/// let mut z = data.clone();
/// st.to_model(&mut z);
/// assert!(z.get(0, 0) < 0.0 && z.get(1, 0) == 0.0);
/// st.to_data(&mut z);
/// assert!((z.get(2, 0) - 104.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// Per-coordinate shift (the data's mean).
    pub mean: Vec<f64>,
    /// Per-coordinate scale (the data's standard deviation; 1 for a constant coordinate).
    pub scale: Vec<f64>,
}

impl Standardization {
    /// The mean and standard deviation of each column of `data` (`n × d`). A column with zero or non-finite
    /// spread gets scale 1.
    pub fn fit(data: &Tensor) -> Self {
        let (n, d) = data.shape();
        let cols = |j: usize| (0..n).map(move |i| data.get(i, j));
        let mut mean = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        for j in 0..d {
            // mean and spread of each column scaled by its largest magnitude, so that neither the sum nor the
            // squares overflow for data anywhere in the range of f64
            let big = cols(j).fold(0.0f64, |a, v| a.max(v.abs()));
            let big = if big > 0.0 && big.is_finite() {
                big
            } else {
                1.0
            };
            let m = cols(j).map(|v| v / big).sum::<f64>() / n.max(1) as f64;
            let var = cols(j).map(|v| (v / big - m).powi(2)).sum::<f64>() / n.max(1) as f64;
            let sd = var.sqrt() * big;
            mean.push(m * big);
            scale.push(if sd > 0.0 && sd.is_finite() { sd } else { 1.0 });
        }
        Standardization { mean, scale }
    }

    /// Check against a model of dimension `dim`: lengths, finite shifts, positive finite scales.
    pub fn validate(&self, dim: usize) -> Result<(), ModelError> {
        let bad = |value: String, reason: &str| ModelError::BadParameter {
            param: "standardization",
            value,
            reason: reason.into(),
        };
        if self.mean.len() != dim || self.scale.len() != dim {
            return Err(bad(
                format!("{} shifts and {} scales", self.mean.len(), self.scale.len()),
                &format!("the model has dimension {dim}"),
            ));
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            return Err(bad(format!("shift {m}"), "shifts must be finite"));
        }
        if let Some(s) = self.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(bad(
                format!("scale {s}"),
                "scales must be positive and finite",
            ));
        }
        Ok(())
    }

    /// Data to model coordinates, in place: z = (x − mean) / scale for every row.
    pub fn to_model(&self, x: &mut Tensor) {
        self.map_rows(x, |v, m, s| (v - m) / s);
    }

    /// Model to data coordinates, in place: x = mean + scale · z for every row.
    pub fn to_data(&self, z: &mut Tensor) {
        self.map_rows(z, |v, m, s| m + s * v);
    }

    /// A score in model coordinates to data coordinates, in place: s_x = s_z / scale.
    pub fn score_to_data(&self, s: &mut [f64]) {
        for (v, c) in s.iter_mut().zip(self.scale.iter().cycle()) {
            *v /= c;
        }
    }

    /// log |det| of the map from model to data coordinates, Σ log scale: log p_x(x) = log p_z(z) − this.
    pub fn log_det(&self) -> f64 {
        self.scale.iter().map(|s| s.ln()).sum()
    }

    fn map_rows(&self, x: &mut Tensor, f: impl Fn(f64, f64, f64) -> f64) {
        let d = self.mean.len();
        assert_eq!(
            x.cols(),
            d,
            "Standardization: points of {} coordinates, standardisation of {d}",
            x.cols()
        );
        for row in x.data_mut().chunks_mut(d.max(1)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = f(*v, *m, *s);
            }
        }
    }
}

/// The most values [`load_csv`] reads (2²⁷ numbers, 1 GiB as `f64`): a larger file is refused with an error
/// before it is read whole.
pub const MAX_CSV_VALUES: usize = 1 << 27;
/// The most columns [`load_csv`] accepts.
pub const MAX_CSV_COLUMNS: usize = 1 << 14;

/// Load points from a CSV file: one point per line, comma-separated numbers, an optional header line (a
/// first line that does not parse as numbers). Errors name the file, line and column. Files with more than
/// [`MAX_CSV_VALUES`] numbers or [`MAX_CSV_COLUMNS`] columns are refused.
#[cfg(feature = "io")]
pub fn load_csv(path: impl AsRef<std::path::Path>) -> Result<Tensor, ModelError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| ModelError::Io {
            path: file.clone(),
            reason: e.to_string(),
        })?;
    let mut data = Vec::new();
    let mut dim = None;
    for (i, rec) in reader.records().enumerate() {
        let line = i + 1;
        let rec = rec.map_err(|e| ModelError::Csv {
            path: file.clone(),
            line,
            column: 0,
            reason: e.to_string(),
        })?;
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let parsed: Vec<Result<f64, _>> = rec.iter().map(|f| f.parse::<f64>()).collect();
        if line == 1 && dim.is_none() && parsed.iter().all(|p| p.is_err()) {
            continue; // a header
        }
        if parsed.len() > MAX_CSV_COLUMNS {
            return Err(ModelError::Csv {
                path: file,
                line,
                column: 0,
                reason: format!(
                    "{} columns; at most {MAX_CSV_COLUMNS} are read",
                    parsed.len()
                ),
            });
        }
        if data.len() + parsed.len() > MAX_CSV_VALUES {
            return Err(ModelError::Csv {
                path: file,
                line,
                column: 0,
                reason: format!("more than {MAX_CSV_VALUES} values; subsample the file"),
            });
        }
        let mut row = Vec::with_capacity(parsed.len());
        for (j, (p, raw)) in parsed.into_iter().zip(rec.iter()).enumerate() {
            match p {
                Ok(v) if v.is_finite() => row.push(v),
                Ok(v) => {
                    return Err(ModelError::Csv {
                        path: file,
                        line,
                        column: j + 1,
                        reason: format!("value {v} is not finite"),
                    })
                }
                Err(_) => {
                    return Err(ModelError::Csv {
                        path: file,
                        line,
                        column: j + 1,
                        reason: format!("`{raw}` is not a number"),
                    })
                }
            }
        }
        match dim {
            None => dim = Some(row.len()),
            Some(d) if d != row.len() => {
                return Err(ModelError::Csv {
                    path: file,
                    line,
                    column: row.len().min(d) + 1,
                    reason: format!("{} values, but earlier lines have {d}", row.len()),
                })
            }
            _ => {}
        }
        data.extend(row);
    }
    let d = dim.ok_or_else(|| ModelError::Csv {
        path: file.clone(),
        line: 0,
        column: 0,
        reason: "no data rows".into(),
    })?;
    Ok(Tensor::new(data.len() / d, d, data).expect("rows of equal length"))
}
