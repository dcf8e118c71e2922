//! Planes through data of any dimension, for pictures: coordinates 0 and 1, or the principal plane; the
//! model's score restricted to a plane; a KDE of points in a plane.

use crate::args::ViewArg;
use crate::error::CliError;
use stein::autodiff::Tensor;
use stein::run::subsample_rows;
use stein::scores::linalg::principal_axes;
use stein::scores::Score;

/// Points drawn per set (larger sets are subsampled evenly).
pub const MAX_DRAWN: usize = 20_000;

/// A plane through the space of the data: x = mean + u₀ a₀ + u₁ a₁.
pub struct Plane {
    mean: Vec<f64>,
    axes: [Vec<f64>; 2],
    /// What the two axes are, for titles.
    pub names: [String; 2],
}

impl Plane {
    /// Coordinates 0 and 1 (for 2-D data, and for `--view pairs` animations), or the principal plane of the
    /// reference points (`--view pca`) for d > 2.
    pub fn of(view: ViewArg, reference: &Tensor) -> Result<Plane, CliError> {
        let d = reference.cols();
        if d < 2 {
            return Err(CliError::Usage(
                "a plane needs data of 2 dimensions or more".into(),
            ));
        }
        let unit = |i: usize| {
            (0..d)
                .map(|j| f64::from(u8::from(i == j)))
                .collect::<Vec<f64>>()
        };
        if d == 2 || view == ViewArg::Pairs {
            return Ok(Plane {
                mean: vec![0.0; d],
                axes: [unit(0), unit(1)],
                names: ["x₀".into(), "x₁".into()],
            });
        }
        let pts = subsample_rows(reference, MAX_DRAWN);
        let (mean, mut axes) = principal_axes(&pts, 2)?;
        let a1 = axes.pop().expect("two axes");
        let a0 = axes.pop().expect("two axes");
        Ok(Plane {
            mean,
            axes: [a0, a1],
            names: ["PC1".into(), "PC2".into()],
        })
    }

    /// The plane coordinates of each row (subsampled to the rows drawn).
    pub fn project(&self, t: &Tensor) -> Vec<Vec<f64>> {
        subsample_rows(t, MAX_DRAWN)
            .iter()
            .map(|x| {
                self.axes
                    .iter()
                    .map(|a| {
                        a.iter()
                            .zip(x)
                            .zip(&self.mean)
                            .map(|((a, x), m)| a * (x - m))
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }

    /// The point of the space at plane coordinates u.
    pub fn lift(&self, u: &[f64]) -> Vec<f64> {
        let mut x = self.mean.clone();
        for (a, &w) in self.axes.iter().zip(u) {
            x.iter_mut().zip(a).for_each(|(x, a)| *x += w * a);
        }
        x
    }

    pub fn is_identity(&self) -> bool {
        self.mean.len() == 2 && self.names[0] == "x₀"
    }
}

/// The model's score restricted to a plane: Aᵀ s(mean + A u).
pub struct PlaneScore<'a> {
    pub plane: &'a Plane,
    pub score: &'a dyn Score,
}

impl Score for PlaneScore<'_> {
    fn score_dim(&self) -> usize {
        2
    }
    fn score_into(&self, u: &[f64], out: &mut [f64]) {
        let s = self.score.score(&self.plane.lift(u));
        for (o, a) in out.iter_mut().zip(&self.plane.axes) {
            *o = a.iter().zip(&s).map(|(a, s)| a * s).sum();
        }
    }
}

/// A Gaussian kernel density estimate of 2-D points (Scott's bandwidth), for the background of pictures of
/// models that have no log-density (score networks).
pub struct Kde {
    pts: Vec<Vec<f64>>,
    h2: [f64; 2],
}

impl Kde {
    pub fn new(points: &[Vec<f64>]) -> Kde {
        let n = points.len().max(2) as f64;
        let sd = |j: usize| {
            let m = points.iter().map(|p| p[j]).sum::<f64>() / n;
            (points.iter().map(|p| (p[j] - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        let f = n.powf(-1.0 / 6.0);
        let pts: Vec<Vec<f64>> = points
            .iter()
            .step_by((points.len() / 2000).max(1))
            .cloned()
            .collect();
        Kde {
            pts,
            h2: [
                (f * sd(0)).powi(2).max(1e-12),
                (f * sd(1)).powi(2).max(1e-12),
            ],
        }
    }

    pub fn log_density(&self, x: &[f64]) -> f64 {
        let terms: Vec<f64> = self
            .pts
            .iter()
            .map(|p| {
                -(p[0] - x[0]).powi(2) / (2.0 * self.h2[0])
                    - (p[1] - x[1]).powi(2) / (2.0 * self.h2[1])
            })
            .collect();
        stein::autodiff::special::logsumexp(&terms)
    }
}
