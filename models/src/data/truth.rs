//! The exact, normalised log-density of every built-in set ([`Toy::density`]), the law `Toy::sample` draws:
//! closed forms for 8gaussians, rings and checkerboard; a quadrature over the curve parameter for the noisy
//! curves (two-moons, swiss-roll, spirals: N(x; c(t), s²I) averaged over the parameter's law on a trapezoid
//! grid fine beside s); a root search with the change-of-variables Jacobian for the pinwheel. They agree with
//! `../shared/peers/toy_truth.py` (tests/data/toy_truth.json) and integrate to 1.
//!
//! Each is a [`LogDensity`] generic over [`Real`], so its score comes from the tape: the quadrature's terms
//! are recorded for the grid nodes that matter at the point (within e⁻⁵⁰ of the largest), and the pinwheel's
//! root, found in f64, takes one Newton step in the point's arithmetic, which gives the root's derivative by
//! the implicit function theorem.

use super::Toy;
use rayon::prelude::*;
use std::f64::consts::{LN_2, PI};
use stein_autodiff::{Real, Tensor};
use stein_scores::LogDensity;

const TWO_PI: f64 = 2.0 * PI;
/// Terms below the largest by more than this (in log) are left out of a quadrature: e⁻⁵⁰ relative.
const PRUNE: f64 = 50.0;

/// A noisy curve: Σⱼ wⱼ N(x; cⱼ, s² I) over quadrature nodes.
#[derive(Clone, Debug)]
struct Curve {
    cx: Vec<f64>,
    cy: Vec<f64>,
    log_w: Vec<f64>,
    s: f64,
}

impl Curve {
    /// The curve c(t) on a trapezoid grid of `m` nodes over [lo, hi], with the parameter's density `density`
    /// and overall weight `weight`.
    fn new(
        (lo, hi): (f64, f64),
        m: usize,
        density: impl Fn(f64) -> f64,
        weight: f64,
        c: impl Fn(f64) -> (f64, f64),
        s: f64,
    ) -> Curve {
        let h = (hi - lo) / (m - 1) as f64;
        let (mut cx, mut cy, mut log_w) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..m {
            let t = lo + h * j as f64;
            let end = if j == 0 || j == m - 1 { 0.5 } else { 1.0 };
            let w = weight * density(t) * h * end;
            let (x, y) = c(t);
            cx.push(x);
            cy.push(y);
            log_w.push(w.ln());
        }
        Curve { cx, cy, log_w, s }
    }

    /// The nodes whose terms matter at (x, y), and their largest term (f64).
    fn nodes(&self, x: f64, y: f64) -> (Vec<usize>, f64) {
        let k = 0.5 / (self.s * self.s);
        let term =
            |j: usize| self.log_w[j] - k * ((x - self.cx[j]).powi(2) + (y - self.cy[j]).powi(2));
        let top = (0..self.cx.len())
            .map(term)
            .fold(f64::NEG_INFINITY, f64::max);
        let keep = (0..self.cx.len())
            .filter(|&j| term(j) > top - PRUNE)
            .collect();
        (keep, top)
    }

    /// log Σⱼ wⱼ N(x; cⱼ, s² I), generic.
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        let (x0, y0) = (
            x[0].to_f64().unwrap_or(f64::NAN),
            x[1].to_f64().unwrap_or(f64::NAN),
        );
        if !(x0.is_finite() && y0.is_finite()) {
            return S::cst(if x0.is_nan() || y0.is_nan() {
                f64::NAN
            } else {
                f64::NEG_INFINITY
            });
        }
        let (keep, _) = self.nodes(x0, y0);
        let k = 0.5 / (self.s * self.s);
        let terms: Vec<S> = keep
            .iter()
            .map(|&j| {
                let (dx, dy) = (x[0] - self.cx[j], x[1] - self.cy[j]);
                (dx * dx + dy * dy) * (-k) + self.log_w[j]
            })
            .collect();
        S::logsumexp(&terms) - (TWO_PI * self.s * self.s).ln()
    }
}

/// The exact, normalised density of a built-in set ([`Toy::density`]).
///
/// ```
/// use stein_models::data::Toy;
/// use stein_scores::LogDensity;
///
/// let p = Toy::Checkerboard.density();
/// assert_eq!(p.log_prob(&[0.5, 0.5]), -(32f64).ln());          // on a filled square
/// assert_eq!(p.log_prob(&[-1.5, 0.5]), f64::NEG_INFINITY);      // an empty one
/// let moons = Toy::TwoMoons.density();
/// assert!(moons.log_prob(&[0.0, 1.0]) > moons.log_prob(&[0.0, 0.0]));
/// ```
#[derive(Clone, Debug)]
pub struct ToyDensity {
    toy: Toy,
    curves: Vec<Curve>,
}

impl Toy {
    /// The exact, normalised log-density of the law [`Toy::sample`] draws.
    pub fn density(self) -> ToyDensity {
        let curves = match self {
            Toy::TwoMoons => vec![
                Curve::new(
                    (0.0, PI),
                    8001,
                    |_| 1.0 / PI,
                    0.5,
                    |t| (t.cos(), t.sin()),
                    0.05,
                ),
                Curve::new(
                    (0.0, PI),
                    8001,
                    |_| 1.0 / PI,
                    0.5,
                    |t| (1.0 - t.cos(), 0.5 - t.sin()),
                    0.05,
                ),
            ],
            Toy::SwissRoll => {
                let (lo, hi) = (1.5 * PI, 4.5 * PI);
                vec![Curve::new(
                    (lo, hi),
                    12001,
                    |_| 1.0 / (hi - lo),
                    1.0,
                    |t| (t * t.cos() / 3.5, t * t.sin() / 3.5),
                    0.1,
                )]
            }
            Toy::Spirals => {
                let hi = 3.0 * PI;
                let arm = |sign: f64| {
                    Curve::new(
                        (0.0, hi),
                        12001,
                        |t| 2.0 * t / (hi * hi),
                        0.5,
                        move |t| (sign * t * t.cos() / 2.5, sign * t * t.sin() / 2.5),
                        0.1,
                    )
                };
                vec![arm(1.0), arm(-1.0)]
            }
            _ => Vec::new(),
        };
        ToyDensity { toy: self, curves }
    }
}

/// log N(v; μ, s²).
fn log_normal<S: Real>(v: S, mu: f64, s: f64) -> S {
    let z = (v - mu) / s;
    -(z * z) * 0.5 - (s * (TWO_PI).sqrt()).ln()
}

impl ToyDensity {
    /// The set it is the density of.
    pub fn toy(&self) -> Toy {
        self.toy
    }

    /// log p at each row of `points` (`n × 2`), in parallel.
    pub fn log_pdf_rows(&self, points: &Tensor) -> Vec<f64> {
        (0..points.rows())
            .into_par_iter()
            .map(|i| self.log_prob(points.row_slice(i)))
            .collect()
    }

    fn rings<S: Real>(x: &[S]) -> S {
        let rho = (x[0] * x[0] + x[1] * x[1]).sqrt().max(S::cst(1e-300));
        let ring = |r: f64| {
            // the radius r + 0.25 z folded onto ρ ≥ 0, spread over the circle of radius ρ
            let folded = S::logsumexp(&[log_normal(rho, r, 0.25), log_normal(-rho, r, 0.25)]);
            folded - (rho * TWO_PI).ln() - LN_2
        };
        S::logsumexp(&[ring(1.5), ring(3.5)])
    }

    fn eight_gaussians<S: Real>(x: &[S]) -> S {
        let terms: Vec<S> = (0..8)
            .map(|k| {
                let a = TWO_PI * k as f64 / 8.0;
                let (dx, dy) = (x[0] - 4.0 * a.cos(), x[1] - 4.0 * a.sin());
                -(dx * dx + dy * dy) * 2.0
            })
            .collect();
        S::logsumexp(&terms) - (TWO_PI * 0.25).ln() - 8f64.ln()
    }

    fn checkerboard<S: Real>(x: &[S]) -> S {
        let (a, b) = (
            x[0].to_f64().unwrap_or(f64::NAN),
            x[1].to_f64().unwrap_or(f64::NAN),
        );
        if a.is_nan() || b.is_nan() {
            return S::cst(f64::NAN);
        }
        let inside = a.abs() < 4.0 && b.abs() < 4.0;
        let (col, row) = (
            ((a + 4.0) / 2.0).floor() as i64,
            ((b + 4.0) / 2.0).floor() as i64,
        );
        S::cst(if inside && row % 2 == col % 2 {
            -(32f64.ln())
        } else {
            f64::NEG_INFINITY
        })
    }

    /// (x, y) = 2 R(a(u)) (u, v), a(u) = 2πk/5 + eᵘ/4, u ~ N(1, 0.3²), v ~ N(0, 0.05²), k uniform of 5: for
    /// each k, every root u of h(u) = [R(−a(u)) x/2]₀ − u (sign changes on a grid of 4,001 values over
    /// 1 ± 2.1, then bisection), v = [R(−a(u)) x/2]₁, and the density N(u) N(v) / |det|, det = 4 (1 − a′(u) v).
    fn pinwheel<S: Real>(x: &[S]) -> S {
        let (px, py) = (
            x[0].to_f64().unwrap_or(f64::NAN),
            x[1].to_f64().unwrap_or(f64::NAN),
        );
        if px.is_nan() || py.is_nan() {
            return S::cst(f64::NAN);
        }
        let m = 4001;
        let grid = |i: usize| 1.0 - 2.1 + 4.2 * i as f64 / (m - 1) as f64;
        let mut terms: Vec<S> = Vec::new();
        for k in 0..5 {
            let base = TWO_PI * k as f64 / 5.0;
            let h = |u: f64| {
                let a = base + 0.25 * u.exp();
                0.5 * (a.cos() * px + a.sin() * py) - u
            };
            let mut prev = h(grid(0));
            for i in 1..m {
                let next = h(grid(i));
                if prev.is_sign_negative() != next.is_sign_negative() {
                    let (mut lo, mut hi, mut hl) = (grid(i - 1), grid(i), prev);
                    for _ in 0..55 {
                        let mid = 0.5 * (lo + hi);
                        let hm = h(mid);
                        if hm.is_sign_negative() == hl.is_sign_negative() {
                            (lo, hl) = (mid, hm);
                        } else {
                            hi = mid;
                        }
                    }
                    let u0 = 0.5 * (lo + hi);
                    // one Newton step in the point's arithmetic: the root's value, and its derivative in x
                    let (a0, da) = (base + 0.25 * u0.exp(), 0.25 * u0.exp());
                    let h0 = (x[0] * a0.cos() + x[1] * a0.sin()) * 0.5 - u0;
                    let hu = (x[1] * a0.cos() - x[0] * a0.sin()) * (0.5 * da) - 1.0;
                    let u = -(h0 / hu) + u0;
                    let a = (u.exp() * 0.25) + base;
                    let v = (x[1] * a.cos() - x[0] * a.sin()) * 0.5;
                    let det = ((u.exp() * 0.25 * v).rsub(1.0) * 4.0).abs();
                    terms.push(
                        log_normal(u, 1.0, 0.3) + log_normal(v, 0.0, 0.05) - det.ln() - 5f64.ln(),
                    );
                }
                prev = next;
            }
        }
        if terms.is_empty() {
            S::cst(f64::NEG_INFINITY)
        } else {
            S::logsumexp(&terms)
        }
    }
}

impl LogDensity for ToyDensity {
    fn dim(&self) -> usize {
        2
    }

    /// The normalised log-density (−∞ off the support: the checkerboard's empty squares and the region
    /// outside [−4, 4]², a pinwheel point that no arm reaches).
    ///
    /// # Panics
    /// When `x` does not have 2 coordinates (naming both lengths).
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        stein_scores::check_point_len("ToyDensity::log_prob", x.len(), 2);
        match self.toy {
            Toy::EightGaussians => Self::eight_gaussians(x),
            Toy::Rings => Self::rings(x),
            Toy::Checkerboard => Self::checkerboard(x),
            Toy::Pinwheel => Self::pinwheel(x),
            Toy::TwoMoons | Toy::SwissRoll | Toy::Spirals => {
                let parts: Vec<S> = self.curves.iter().map(|c| c.log_prob(x)).collect();
                S::logsumexp(&parts)
            }
        }
    }
}
