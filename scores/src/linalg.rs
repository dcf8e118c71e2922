//! The little dense linear algebra the Gaussian families need (Cholesky factors and triangular solves) and
//! the principal axes of point sets (for pictures of data of more than two dimensions).
//! Covariances are never inverted explicitly.
// Triangular algebra reads best with the indices of its formulas.
#![allow(clippy::needless_range_loop)]

use crate::error::ScoreError;
use stein_autodiff::Real;

/// A lower-triangular Cholesky factor L (row-major d × d) with Σ = L Lᵀ.
#[derive(Clone, Debug, PartialEq)]
pub struct Cholesky {
    l: Vec<f64>,
    /// −L row by row (the weights of the forward substitution as one linear combination per row).
    neg_l: Vec<f64>,
    /// 1/Lᵢᵢ² when L is diagonal (the solves are then one product per coordinate).
    inv_diag_sq: Option<Vec<f64>>,
    d: usize,
}

impl Cholesky {
    /// Factor a symmetric positive-definite matrix given row by row; errors name `param`.
    pub fn new(param: &'static str, cov: &[Vec<f64>]) -> Result<Self, ScoreError> {
        let d = cov.len();
        if d == 0 {
            return Err(ScoreError::Dimension {
                param,
                expected: "a non-empty square matrix".into(),
                got: "0 rows".into(),
            });
        }
        for (i, row) in cov.iter().enumerate() {
            if row.len() != d {
                return Err(ScoreError::Dimension {
                    param,
                    expected: format!("{d} columns in every row"),
                    got: format!("{} in row {i}", row.len()),
                });
            }
            crate::error::finite_all(param, row)?;
        }
        for i in 0..d {
            for j in 0..i {
                let (a, b) = (cov[i][j], cov[j][i]);
                if (a - b).abs() > 1e-10 * (1.0 + a.abs().max(b.abs())) {
                    return Err(ScoreError::NotPositiveDefinite {
                        param,
                        reason: format!("not symmetric: [{i}][{j}] = {a} but [{j}][{i}] = {b}"),
                    });
                }
            }
        }
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let s = cov[i][j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
                if i == j {
                    // a subnormal pivot would make 1/Lᵢᵢ² (the precision) infinite
                    if !(s >= f64::MIN_POSITIVE && s.is_finite() && (1.0 / s).is_finite()) {
                        return Err(ScoreError::NotPositiveDefinite {
                            param,
                            reason: format!("pivot {i} is {s:e} (not a positive normal number)"),
                        });
                    }
                    l[i * d + i] = s.sqrt();
                } else {
                    l[i * d + j] = s / l[j * d + j];
                }
            }
        }
        Ok(Self::from_factor(l, d))
    }

    fn from_factor(l: Vec<f64>, d: usize) -> Self {
        let neg_l = l.iter().map(|v| -v).collect();
        let diagonal = (0..d).all(|i| (0..i).all(|j| l[i * d + j] == 0.0));
        let inv_diag_sq = diagonal.then(|| {
            (0..d)
                .map(|i| 1.0 / (l[i * d + i] * l[i * d + i]))
                .collect()
        });
        Cholesky {
            l,
            neg_l,
            inv_diag_sq,
            d,
        }
    }

    /// Diagonal covariance diag(var).
    pub(crate) fn diagonal(var: &[f64]) -> Self {
        let d = var.len();
        let mut l = vec![0.0; d * d];
        for (i, v) in var.iter().enumerate() {
            l[i * d + i] = v.sqrt();
        }
        Self::from_factor(l, d)
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Entry (i, j) of L.
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.l[i * self.d + j]
    }

    /// log det Σ = 2 Σ log Lᵢᵢ.
    pub fn log_det(&self) -> f64 {
        2.0 * (0..self.d).map(|i| self.at(i, i).ln()).sum::<f64>()
    }

    /// The covariance L Lᵀ.
    pub fn covariance(&self) -> Vec<Vec<f64>> {
        let d = self.d;
        (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| (0..d).map(|k| self.at(i, k) * self.at(j, k)).sum())
                    .collect()
            })
            .collect()
    }

    /// z = L⁻¹ r by forward substitution, generic (recorded on a tape when `S` is a variable: one
    /// linear-combination node per row, see [`Real::dot_add`]).
    pub fn solve_lower<S: Real>(&self, r: &[S], z: &mut [S]) {
        let d = self.d;
        for i in 0..d {
            let row = &self.neg_l[i * d..i * d + i];
            let acc = if row.iter().all(|&v| v == 0.0) {
                r[i]
            } else {
                S::dot_add(r[i], row, &z[..i])
            };
            z[i] = acc / self.l[i * d + i];
        }
    }

    /// v = L⁻ᵀ z by back substitution.
    pub fn solve_upper(&self, z: &[f64], v: &mut [f64]) {
        let d = self.d;
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|j| self.l[j * d + i] * v[j]).sum();
            v[i] = (z[i] - s) / self.l[i * d + i];
        }
    }

    /// r ← Σ⁻¹ r in place (forward then back substitution), no allocation. Returns ‖L⁻¹ r‖², the quadratic
    /// form rᵀ Σ⁻¹ r, computed on the way.
    pub fn solve_in_place(&self, r: &mut [f64]) -> f64 {
        if let Some(w) = &self.inv_diag_sq {
            let mut q = 0.0;
            for (ri, wi) in r.iter_mut().zip(w) {
                q += *ri * *ri * wi;
                *ri *= wi;
            }
            return q;
        }
        let d = self.d;
        let mut q = 0.0;
        for i in 0..d {
            let mut acc = r[i];
            for j in 0..i {
                acc -= self.l[i * d + j] * r[j];
            }
            r[i] = acc / self.l[i * d + i];
            q += r[i] * r[i];
        }
        for i in (0..d).rev() {
            let mut acc = r[i];
            for j in i + 1..d {
                acc -= self.l[j * d + i] * r[j];
            }
            r[i] = acc / self.l[i * d + i];
        }
        q
    }

    /// Σ⁻¹ r (two triangular solves).
    pub fn solve(&self, r: &[f64]) -> Vec<f64> {
        let mut z = vec![0.0; self.d];
        self.solve_lower(r, &mut z);
        let mut v = vec![0.0; self.d];
        self.solve_upper(&z, &mut v);
        v
    }

    /// tr Σ⁻¹ = ‖L⁻¹‖²_F, column by column.
    pub fn trace_inverse(&self) -> f64 {
        let d = self.d;
        let mut e = vec![0.0; d];
        let mut z = vec![0.0; d];
        let mut t = 0.0;
        for j in 0..d {
            e.iter_mut().for_each(|v| *v = 0.0);
            e[j] = 1.0;
            self.solve_lower(&e, &mut z);
            t += z.iter().map(|v| v * v).sum::<f64>();
        }
        t
    }

    /// L z (to sample N(0, Σ) from z ~ N(0, I)).
    pub fn mul_lower(&self, z: &[f64], out: &mut [f64]) {
        let d = self.d;
        for i in 0..d {
            out[i] = (0..=i).map(|j| self.l[i * d + j] * z[j]).sum();
        }
    }
}

/// A matrix that [`cholesky`] could not factor: the first pivot that is not positive and finite.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("not positive-definite: pivot {pivot} is {value}")]
pub struct NotPositiveDefinite {
    /// The row of the pivot (0-based).
    pub pivot: usize,
    /// Its value (Aᵢᵢ less the squares of the row's earlier factor entries).
    pub value: f64,
}

impl NotPositiveDefinite {
    /// The log-density a model returns at parameters whose matrix is not positive-definite: −∞, which
    /// every sampler treats as a rejected proposal (a divergence for HMC and NUTS) — Stan's reject.
    pub fn log_density<S: Real>(&self) -> S {
        S::cst(f64::NEG_INFINITY)
    }
}

/// The Cholesky factor L (row-major, lower triangular) of a symmetric positive-definite `n × n` matrix `a`
/// (row-major), generic: on a tape the factorisation records, so the covariance can be a parameter. An
/// error naming the first pivot that is not positive (checked on the values).
///
/// **The rule for models**: a matrix built from parameters (a covariance, a kernel matrix) that is not
/// positive-definite at the current point has no density there: return −∞, as
/// [`NotPositiveDefinite::log_density`] does (or use [`crate::lpdf::multi_normal`], which factors its
/// covariance itself).
///
/// ```
/// use stein_autodiff::Real;
/// use stein_scores::{linalg, lpdf};
///
/// // y ~ N(0, K(ρ)) with K(ρ) = [[1, ρ], [ρ, 1]]: no density for |ρ| ≥ 1
/// fn log_lik<S: Real>(rho: S) -> S {
///     let k = [S::cst(1.0), rho, rho, S::cst(1.0)];
///     let l = match linalg::cholesky(&k, 2) {
///         Ok(l) => l,
///         Err(e) => return e.log_density(),
///     };
///     lpdf::multi_normal_cholesky(&[S::cst(0.5), S::cst(-0.2)], &[S::cst(0.0); 2], &l)
/// }
/// assert!(log_lik(0.3).is_finite());
/// assert_eq!(log_lik(1.5), f64::NEG_INFINITY);
/// assert_eq!(linalg::cholesky(&[1.0, 1.5, 1.5, 1.0], 2).unwrap_err().pivot, 1);
/// ```
///
/// # Panics
/// When `a` does not have n² entries (naming both).
pub fn cholesky<S: Real>(a: &[S], n: usize) -> Result<Vec<S>, NotPositiveDefinite> {
    assert_eq!(
        a.len(),
        n * n,
        "cholesky: {} entries for a {n} × {n} matrix",
        a.len()
    );
    let mut l = vec![S::cst(0.0); n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !(s > S::cst(0.0) && s.is_finite()) {
                    return Err(NotPositiveDefinite {
                        pivot: i,
                        value: s.value(),
                    });
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// The squared-exponential covariance of points `x` (Stan's `gp_exp_quad_cov`): Kᵢⱼ = α² exp(−(xᵢ − xⱼ)²/(2ρ²)),
/// `n × n` row-major, generic so that α and ρ can be parameters.
///
/// ```
/// use stein_scores::linalg::gp_exp_quad_cov;
/// let k: Vec<f64> = gp_exp_quad_cov(&[0.0, 1.0], 2.0, 0.5);
/// assert_eq!(k[0], 4.0);
/// assert!((k[1] - 4.0 * (-2.0f64).exp()).abs() < 1e-15 && k[1] == k[2]);
/// ```
pub fn gp_exp_quad_cov<S: Real>(x: &[f64], alpha: S, rho: S) -> Vec<S> {
    let (a2, scale) = (alpha * alpha, (rho * rho).recip() * -0.5);
    x.iter()
        .flat_map(|&xi| {
            x.iter()
                .map(move |&xj| a2 * (scale * ((xi - xj) * (xi - xj))).exp())
        })
        .collect()
}

/// z = L⁻¹ b by forward substitution, L lower triangular (row-major, n = `b.len()`), generic.
///
/// # Panics
/// When `l` does not have n² entries (naming both).
pub fn solve_lower_tri<S: Real>(l: &[S], b: &[S]) -> Vec<S> {
    let n = b.len();
    assert_eq!(
        l.len(),
        n * n,
        "solve_lower_tri: L has {} entries for {n} right-hand values",
        l.len()
    );
    let mut z: Vec<S> = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z.push(s / l[i * n + i]);
    }
    z
}

/// Principal axes of points: their mean and the `k` leading eigenvectors of their sample covariance (unit
/// length, by decreasing variance), found by power iteration with deflation (at most 1,000 iterations per
/// axis). Used to picture data of more than two dimensions in the plane of most variance.
///
/// ```
/// use stein_scores::linalg::principal_axes;
/// // points spread along (1, 1)/√2, little across it
/// let pts: Vec<Vec<f64>> = (0..50).map(|i| {
///     let t = i as f64 / 10.0 - 2.5;
///     vec![t + 0.01 * (i % 3) as f64, t]
/// }).collect();
/// let (mean, axes) = principal_axes(&pts, 1).unwrap();
/// assert!(mean[0].abs() < 0.1);
/// assert!((axes[0][0].abs() - 0.5f64.sqrt()).abs() < 1e-2);
/// ```
pub fn principal_axes(
    points: &[Vec<f64>],
    k: usize,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), ScoreError> {
    let n = points.len();
    if n < 2 {
        return Err(ScoreError::TooFewSamples {
            what: "principal axes",
            need: 2,
            got: n,
        });
    }
    let d = points[0].len();
    if let Some(p) = points.iter().find(|p| p.len() != d) {
        return Err(ScoreError::Dimension {
            param: "points",
            expected: format!("every point of dimension {d}"),
            got: format!("a point of dimension {}", p.len()),
        });
    }
    for (i, v) in points.iter().flatten().enumerate() {
        if !v.is_finite() {
            return Err(ScoreError::NonFinite {
                what: "points",
                index: i,
                value: *v,
            });
        }
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| points.iter().map(|p| p[j]).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![0.0; d * d];
    for p in points {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (p[a] - mean[a]) * (p[b] - mean[b]) / (n - 1) as f64;
            }
        }
    }
    let mut axes: Vec<Vec<f64>> = Vec::new();
    for a in 0..k.min(d) {
        // start off every earlier axis, on a fixed non-symmetric vector
        let mut v: Vec<f64> = (0..d).map(|j| 1.0 + ((j + a) % 7) as f64 * 0.1).collect();
        for _ in 0..1000 {
            for u in &axes {
                let dot: f64 = v.iter().zip(u).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let w: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break; // no variance left: keep v, an axis orthogonal to the earlier ones
            }
            let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
            let change: f64 = next.iter().zip(&v).map(|(x, y)| (x - y).abs()).sum();
            v = next;
            if change < 1e-12 {
                break;
            }
        }
        for u in &axes {
            let dot: f64 = v.iter().zip(u).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        v.iter_mut().for_each(|x| *x /= norm);
        axes.push(v);
    }
    Ok((mean, axes))
}
