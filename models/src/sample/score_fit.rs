//! Mass matrices fitted to the draws *and their scores* (nutpie's adaptation; Seyboldt, Carlson & Carpenter
//! 2026): for a Gaussian target N(μ, Σ) the score is −Σ⁻¹(x − μ), so Cov(s) = Σ⁻¹ and the inverse mass
//! matrix M⁻¹ that solves M⁻¹ Cov(s) M⁻¹ = Cov(x) is Σ itself, read off a few draws where the draws' variance
//! alone needs many. It is the minimiser of the Fisher divergence between the target and the Gaussian
//! approximations of the metric's family.
//!
//! - **Diagonal**: M⁻¹ᵢ = √(Var xᵢ / Var sᵢ).
//! - **Dense**: M⁻¹ = Cov(s)^{-1/2} (Cov(s)^{1/2} Cov(x) Cov(s)^{1/2})^{1/2} Cov(s)^{-1/2}, the geometric mean
//!   of Cov(x) and Cov(s)⁻¹, computed in the coordinates the diagonal fit scales to unit size, with the
//!   correlations multiplied by n/(n + 0.01) so that fewer draws than dimensions still give a matrix.
//! - **Low-rank + diagonal** (nutpie's low-rank metric): the dense fit in the scaled coordinates, whose
//!   eigenvalues are near 1 where the diagonal is right, kept only along the eigenvectors whose eigenvalue
//!   lies outside [1/2, 2]: M⁻¹ = D (I + U (Λ − I) Uᵀ) D with D² the diagonal fit. Products cost O(d k); the
//!   fit is refreshed at each switch of the schedule only (the dense one also every 10 transitions), and
//!   above 50 dimensions the early phase uses the diagonal fit (its switches come every 10 transitions).
//!
//! **Schedule** (nutpie's): every warm-up transition updates the metric from a running estimate; a second
//! estimate runs in the background and replaces the first every 10 transitions in the first 30% of warm-up,
//! then in windows of 80 growing by 1.5× each; the last 15% keeps the metric and tunes the step size only.
//! Transitions that did not move are not counted. Before the first fit M⁻¹ᵢ = 1/|sᵢ| at the start.
//!
//! ```
//! use stein_models::sample::score_fit::{Moments, Shape};
//! use stein_models::sample::Metric;
//! // draws of N(0, diag(4, 0.25)) and their scores −x/σ²
//! let mut m = Moments::new(2, Shape::Diagonal);
//! for i in 0..200 {
//!     let z = [((i * 7919) % 200) as f64 / 100.0 - 1.0, ((i * 104729) % 200) as f64 / 100.0 - 1.0];
//!     let x = [2.0 * z[0], 0.5 * z[1]];
//!     m.add(&x, &[-x[0] / 4.0, -x[1] / 0.25]);
//! }
//! let Some(Metric::Diagonal(v)) = m.fit() else { panic!() };
//! assert!((v[0] - 4.0).abs() < 1e-9 && (v[1] - 0.25).abs() < 1e-9);
//! ```

use super::adapt::Welford;
use super::metric::{DenseMetric, LowRankMetric, Metric};
use nalgebra::{DMatrix, SymmetricEigen};

/// Which family of M⁻¹ is fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Diagonal.
    Diagonal,
    /// Dense.
    Dense,
    /// Low-rank + diagonal.
    LowRank,
}

/// Running means and (co)variances of draws and of their scores: one [`Welford`] each.
#[derive(Clone, Debug)]
pub struct Moments {
    x: Welford,
    s: Welford,
    shape: Shape,
}

/// Directions whose eigenvalue in the scaled coordinates lies within [1/CUTOFF, CUTOFF] are left to the
/// diagonal by the low-rank fit (nutpie's cutoff).
const CUTOFF: f64 = 2.0;

/// A dense fit needs Cov(s) with every eigenvalue above this fraction of the largest (else: the diagonal).
const CONDITION: f64 = 1e-12;
/// γ: the dense fit's correlations are multiplied by n/(n + γ), which keeps the covariances of fewer draws
/// than dimensions invertible (the early windows of 10 draws) and leaves those of many draws as they are. On
/// T10b (d = 25) γ = 0.001…0.1 all give 6.9 leapfrog steps per draw; γ = 3 gives 7.0 and 35% less ESS;
/// γ = 10, 14 steps (shrinking the correlations of collinear columns widens their narrow directions).
const SHRINK: f64 = 0.01;
/// Entries of a fitted M⁻¹ are kept within [1e-20, 1e20] (nutpie's limits).
const LIMITS: (f64, f64) = (1e-20, 1e20);

impl Moments {
    /// Empty, for dimension `d` and a fit of `shape` (dense and low-rank fits keep the full covariances).
    pub fn new(d: usize, shape: Shape) -> Self {
        let dense = shape != Shape::Diagonal;
        Moments {
            x: Welford::new(d, dense),
            s: Welford::new(d, dense),
            shape,
        }
    }

    /// Draws counted.
    pub fn count(&self) -> usize {
        self.x.count()
    }

    /// Add a draw `x` and its score `s`.
    pub fn add(&mut self, x: &[f64], s: &[f64]) {
        self.x.add(x);
        self.s.add(s);
    }

    fn dim(&self) -> usize {
        self.x.dim()
    }

    /// The variances of coordinate `i` of the draws and of the scores (scaled by n − 1).
    fn vars(&self, i: usize) -> (f64, f64) {
        (self.x.sum_sq(i, i), self.s.sum_sq(i, i))
    }

    /// The diagonal fit √(Var x / Var s), each entry within the limits (an entry with no spread in its
    /// draws or scores: 1).
    fn diagonal(&self) -> Vec<f64> {
        (0..self.dim())
            .map(|i| {
                let (vx, vs) = self.vars(i);
                let v = (vx / vs).sqrt();
                if v.is_finite() && v > 0.0 {
                    v.clamp(LIMITS.0, LIMITS.1)
                } else {
                    1.0
                }
            })
            .collect()
    }

    /// The fitted M⁻¹ (see the module documentation); `None` before 3 draws. A dense or low-rank fit whose
    /// covariance of scores is singular to 1e-12 falls back to the diagonal one.
    pub fn fit(&self) -> Option<Metric> {
        self.fit_as(self.shape)
    }

    /// The fit of `shape` (a dense one only when these moments keep the full covariances).
    fn fit_as(&self, shape: Shape) -> Option<Metric> {
        if self.count() < 3 {
            return None;
        }
        let diag = self.diagonal();
        if shape == Shape::Diagonal || !self.x.is_dense() {
            return Some(Metric::Diagonal(diag));
        }
        let d = diag.len();
        // in the coordinates x' = x/√diag, s' = s·√diag both covariances have the diagonal √(Var x · Var s)
        let root: Vec<f64> = diag.iter().map(|v| v.sqrt()).collect();
        let n = self.count() as f64;
        let keep = n / (n + SHRINK);
        let scaled = |w: &Welford, f: &dyn Fn(usize) -> f64| {
            DMatrix::from_fn(d, d, |i, j| {
                let c = w.sum_sq(i, j) * f(i) * f(j);
                if i == j {
                    c
                } else {
                    keep * c
                }
            })
        };
        let cx = scaled(&self.x, &|i| 1.0 / root[i]);
        let cs = scaled(&self.s, &|i| root[i]);
        let Some(sigma) = geometric_mean(cx, cs) else {
            return Some(Metric::Diagonal(diag));
        };
        if shape == Shape::LowRank {
            return Some(low_rank(sigma, root).unwrap_or(Metric::Diagonal(diag)));
        }
        let full: Vec<f64> = (0..d * d)
            .map(|k| sigma[(k / d, k % d)] * root[k / d] * root[k % d])
            .collect();
        Some(match DenseMetric::new(&full, d) {
            Some(m) if full.iter().all(|v| v.is_finite()) => Metric::Dense(m),
            _ => Metric::Diagonal(diag),
        })
    }
}

/// The low-rank + diagonal metric D (I + U (Λ − I) Uᵀ) D from the dense fit `sigma` in the coordinates
/// scaled by D = diag(`root`): the eigenpairs of `sigma` outside [1/CUTOFF, CUTOFF].
fn low_rank(sigma: DMatrix<f64>, root: Vec<f64>) -> Option<Metric> {
    let e = SymmetricEigen::new(sigma);
    let (mut vecs, mut vals) = (Vec::new(), Vec::new());
    for (a, &l) in e.eigenvalues.iter().enumerate() {
        if !(CUTOFF.recip()..=CUTOFF).contains(&l) {
            vals.push(l);
            vecs.extend(e.eigenvectors.column(a).iter());
        }
    }
    LowRankMetric::new(root, vecs, vals).map(Metric::LowRank)
}

/// Σ with Σ Cs Σ = Cx: Cs^{-1/2} (Cs^{1/2} Cx Cs^{1/2})^{1/2} Cs^{-1/2}; `None` when Cs is not positive
/// definite to [`CONDITION`]. (The common factor n − 1 of both sums cancels.)
fn geometric_mean(cx: DMatrix<f64>, cs: DMatrix<f64>) -> Option<DMatrix<f64>> {
    let e = SymmetricEigen::new(cs);
    let top = e.eigenvalues.max();
    if !top.is_finite()
        || e.eigenvalues
            .iter()
            .any(|&l| l.is_nan() || l <= CONDITION * top)
    {
        return None;
    }
    let power = |e: &SymmetricEigen<f64, nalgebra::Dyn>, p: f64| {
        let u = &e.eigenvectors;
        let l = DMatrix::from_diagonal(&e.eigenvalues.map(|v| v.max(0.0).powf(p)));
        u * l * u.transpose()
    };
    let half = power(&e, 0.5);
    let inv_half = power(&e, -0.5);
    let inner = &half * cx * &half;
    let inner = (&inner + inner.transpose()) * 0.5;
    let root = power(&SymmetricEigen::new(inner), 0.5);
    let s = &inv_half * root * &inv_half;
    Some((&s + s.transpose()) * 0.5)
}

/// nutpie's schedule of the two running estimates (see the module documentation).
#[derive(Clone, Debug)]
pub struct Schedule {
    early_end: usize,
    final_start: usize,
    window: usize,
    first: bool,
    fore: Moments,
    back: Moments,
}

/// Transitions between switches in the early phase.
const EARLY_SWITCH: usize = 10;
/// The first window after it, and its growth.
const FIRST_WINDOW: usize = 80;
const GROWTH: f64 = 1.5;
/// A dense fit is recomputed every this many transitions (and at each switch).
const DENSE_EVERY: usize = 10;
/// Up to this dimension the low-rank fit is refitted at every early switch too (every 10 transitions); above
/// it the early phase uses the diagonal fit. Measured (T10, one run): on the collinear 25-d T10b early
/// low-rank fits take warm-up from 1.89 s to 0.71 s (the diagonal needs ~126 leapfrog steps per draw there);
/// on the 100-d T10a, where the diagonal is exact, they take it from 0.064 s to 0.25 s (four
/// eigendecompositions of 100 × 100 per fit, 30 fits per chain).
const EARLY_LOW_RANK_DIM: usize = 50;

impl Schedule {
    /// For `warmup` transitions in dimension `d`, fitting an M⁻¹ of `shape`.
    pub fn new(warmup: usize, d: usize, shape: Shape) -> Self {
        Schedule {
            early_end: (0.3 * warmup as f64) as usize,
            final_start: warmup - (0.15 * warmup as f64) as usize,
            window: FIRST_WINDOW,
            first: true,
            fore: Moments::new(d, shape),
            back: Moments::new(d, shape),
        }
    }

    /// The metric before any draw: M⁻¹ᵢ = 1/|sᵢ| at the start `score`, within the limits (1 where the score
    /// is 0 or not finite: it says nothing of the scale).
    pub fn initial(score: &[f64]) -> Metric {
        Metric::Diagonal(
            score
                .iter()
                .map(|s| {
                    if s.is_finite() && *s != 0.0 {
                        1.0 / s.abs().clamp(LIMITS.0, LIMITS.1)
                    } else {
                        1.0
                    }
                })
                .collect(),
        )
    }

    /// Learn from warm-up transition `k` (its state `x`, `score`, and whether it moved); the new metric when
    /// it changes. The second element is true for the first fit (the step size is searched again there).
    pub fn learn(
        &mut self,
        k: usize,
        x: &[f64],
        score: &[f64],
        moved: bool,
    ) -> (Option<Metric>, bool) {
        if k >= self.final_start {
            return (None, false);
        }
        let early = k < self.early_end;
        if k == self.early_end {
            self.window = self.window.max(self.back.count());
        }
        if moved {
            self.fore.add(x, score);
            self.back.add(x, score);
        }
        let switch_at = if early { EARLY_SWITCH } else { self.window };
        let next = if early {
            EARLY_SWITCH
        } else {
            (self.window + 1).max((self.window as f64 * GROWTH).round() as usize)
        };
        let late = k + next > self.final_start;
        let mut switched = false;
        if self.back.count() >= switch_at && !late {
            let fresh = Moments::new(self.back.dim(), self.back.shape);
            self.fore = std::mem::replace(&mut self.back, fresh);
            if !early {
                self.window = next;
            }
            switched = true;
        }
        // a dense fit (eigendecompositions) is refreshed every 10 transitions and at each switch; a low-rank
        // one at each switch only, and above EARLY_LOW_RANK_DIM dimensions the early phase (a switch every 10
        // transitions) uses the diagonal fit
        let fit = match self.fore.shape {
            Shape::Dense if !switched && !self.first && !k.is_multiple_of(DENSE_EVERY) => {
                return (None, false);
            }
            Shape::LowRank if early && self.fore.dim() > EARLY_LOW_RANK_DIM => {
                self.fore.fit_as(Shape::Diagonal)
            }
            Shape::LowRank if !switched && !self.first => return (None, false),
            _ => self.fore.fit(),
        };
        match fit {
            Some(m) => {
                let first = std::mem::take(&mut self.first);
                (Some(m), first)
            }
            None => (None, false),
        }
    }
}
