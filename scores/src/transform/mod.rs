//! Constraint transforms: bijections from unconstrained coordinates u ∈ ℝⁿ onto a constrained set, with
//! the log-absolute-determinant of their Jacobian, written generically so they record on the tape (Stan
//! Reference Manual, ch. 10 "Constraint transforms"). A sampler works on ℝⁿ; [`Constrained`] turns a density
//! written on constrained parameters into the density of u, log p(u) = log p(x(u)) + log|det J(u)|, and maps
//! draws back.
//!
//! | transform | constrained value | from u | log\|det J\| |
//! |---|---|---|---|
//! | [`Transform::Real`] | x ∈ ℝⁿ | x = u | 0 |
//! | [`Transform::Positive`] | x > 0 | x = eᵘ | Σ u |
//! | [`Transform::Lower`] | x > a | x = a + eᵘ | Σ u |
//! | [`Transform::Upper`] | x < b | x = b − eᵘ | Σ u |
//! | [`Transform::Interval`] | a < x < b | x = a + (b − a) σ(u) | Σ log(b − a) + log σ(u) + log σ(−u) |
//! | [`Transform::Simplex`] | xᵢ > 0, Σ xᵢ = 1 (K values) | stick-breaking of K − 1 values | see [`Transform::Simplex`] |
//! | [`Transform::Ordered`] | x₁ < … < x_K | x₁ = u₁, xᵢ = xᵢ₋₁ + e^{uᵢ} | Σᵢ₌₂ uᵢ |
//! | [`Transform::PositiveOrdered`] | 0 < x₁ < … < x_K | x₁ = e^{u₁}, xᵢ = xᵢ₋₁ + e^{uᵢ} | Σ uᵢ |
//! | [`Transform::CorrCholesky`] | Cholesky factor L of a K × K correlation matrix | tanh and a norm-preserving fill, K(K−1)/2 values | see [`Transform::CorrCholesky`] |
//!
//! Bounds computed from other parameters: [`interval_of`], [`lower_of`], [`upper_of`] (see their module).
//!
//! For the simplex and the correlation Cholesky factor the constrained value has more entries than u; the
//! Jacobian is that of the map onto the free entries (the first K − 1 of the simplex, the strictly lower
//! triangle of L), as in Stan.
//!
//! ```
//! use stein_scores::transform::Transform;
//! let t = Transform::simplex(3).unwrap();
//! let mut x = Vec::new();
//! let log_det: f64 = t.constrain(&[0.2, -0.4], &mut x);
//! assert!((x.iter().sum::<f64>() - 1.0).abs() < 1e-15 && x.iter().all(|v| *v > 0.0));
//! let back = t.unconstrain(&x).unwrap();
//! assert!((back[0] - 0.2).abs() < 1e-12 && (back[1] + 0.4).abs() < 1e-12);
//! # let _ = log_det;
//! ```

mod bijectors;
mod constrained;
mod varying;

pub use constrained::{Blocks, Constrained, ConstrainedDensity, Param};
pub use varying::{interval_of, lower_of, upper_of};

use crate::error::ScoreError;
use stein_autodiff::Real;

/// A bijection from unconstrained coordinates onto a constrained set (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub enum Transform {
    /// n unconstrained values.
    Real {
        /// How many.
        n: usize,
    },
    /// n positive values, x = eᵘ.
    Positive {
        /// How many.
        n: usize,
    },
    /// n values above `lower`, x = lower + eᵘ.
    Lower {
        /// The bound.
        lower: f64,
        /// How many.
        n: usize,
    },
    /// n values below `upper`, x = upper − eᵘ.
    Upper {
        /// The bound.
        upper: f64,
        /// How many.
        n: usize,
    },
    /// n values in (lower, upper), x = lower + (upper − lower) σ(u).
    Interval {
        /// The lower bound.
        lower: f64,
        /// The upper bound.
        upper: f64,
        /// How many.
        n: usize,
    },
    /// A point of the K-simplex by stick-breaking (Stan's): for k < K, zₖ = σ(uₖ − log(K − k)) (1-based k),
    /// xₖ = zₖ (1 − Σ_{j<k} xⱼ), x_K = 1 − Σ_{j<K} xⱼ; the offsets make u = 0 the centre (1/K, …, 1/K).
    /// log|det J| = Σₖ log(1 − Σ_{j<k} xⱼ) + log zₖ + log(1 − zₖ).
    Simplex {
        /// K, the number of components (K − 1 unconstrained values).
        k: usize,
    },
    /// K increasing values.
    Ordered {
        /// K.
        k: usize,
    },
    /// K increasing positive values (Stan's `positive_ordered`).
    PositiveOrdered {
        /// K.
        k: usize,
    },
    /// The Cholesky factor L (K × K, row-major, lower triangular, rows of unit norm) of a correlation
    /// matrix, from K(K−1)/2 values (Stan's): z = tanh(u) are canonical partial correlations, L₀₀ = 1,
    /// Lᵢ₀ = z, Lᵢⱼ = z (1 − Σ_{l<j} Lᵢₗ²)^{1/2}, Lᵢᵢ = (1 − Σ_{l<i} Lᵢₗ²)^{1/2}.
    /// log|det J| = Σ log(1 − z²) + Σ_{i, 0<j<i} ½ log(1 − Σ_{l<j} Lᵢₗ²).
    CorrCholesky {
        /// K.
        k: usize,
    },
}

/// The largest block a transform accepts (a bound on what a mistaken size can allocate).
pub const MAX_LEN: usize = 1 << 24;

fn size(what: &'static str, n: usize, min: usize) -> Result<usize, ScoreError> {
    if n < min || n > MAX_LEN {
        return Err(ScoreError::Dimension {
            param: what,
            expected: format!("{min} to {MAX_LEN}"),
            got: n.to_string(),
        });
    }
    Ok(n)
}

fn finite(param: &'static str, v: f64) -> Result<f64, ScoreError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ScoreError::BadParameter {
            param,
            requirement: "finite",
            value: v,
        })
    }
}

impl Transform {
    /// n unconstrained values.
    pub fn real(n: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Real {
            n: size("n", n, 1)?,
        })
    }
    /// n positive values.
    pub fn positive(n: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Positive {
            n: size("n", n, 1)?,
        })
    }
    /// n values above `lower` (finite).
    pub fn lower(lower: f64, n: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Lower {
            lower: finite("lower", lower)?,
            n: size("n", n, 1)?,
        })
    }
    /// n values below `upper` (finite).
    pub fn upper(upper: f64, n: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Upper {
            upper: finite("upper", upper)?,
            n: size("n", n, 1)?,
        })
    }
    /// n values in (lower, upper), both finite, lower < upper, and the width upper − lower a finite normal
    /// number (so x = lower + (upper − lower) σ(u) and its log-Jacobian stay finite).
    pub fn interval(lower: f64, upper: f64, n: usize) -> Result<Self, ScoreError> {
        finite("lower", lower)?;
        if finite("upper", upper)? <= lower {
            return Err(ScoreError::BadParameter {
                param: "upper",
                requirement: "above `lower`",
                value: upper,
            });
        }
        if !(upper - lower).is_normal() {
            return Err(ScoreError::BadParameter {
                param: "upper",
                requirement: "such that upper − lower is a finite normal number (at most 1.8e308)",
                value: upper,
            });
        }
        Ok(Transform::Interval {
            lower,
            upper,
            n: size("n", n, 1)?,
        })
    }
    /// A point of the K-simplex, K ≥ 2.
    pub fn simplex(k: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Simplex {
            k: size("k", k, 2)?,
        })
    }
    /// K increasing values, K ≥ 1.
    pub fn ordered(k: usize) -> Result<Self, ScoreError> {
        Ok(Transform::Ordered {
            k: size("k", k, 1)?,
        })
    }
    /// K increasing positive values, K ≥ 1.
    pub fn positive_ordered(k: usize) -> Result<Self, ScoreError> {
        Ok(Transform::PositiveOrdered {
            k: size("k", k, 1)?,
        })
    }
    /// The Cholesky factor of a K × K correlation matrix, K ≥ 2 (and K² ≤ [`MAX_LEN`]).
    pub fn corr_cholesky(k: usize) -> Result<Self, ScoreError> {
        size("k * k", k.saturating_mul(k), 4)?;
        Ok(Transform::CorrCholesky { k })
    }

    /// The number of unconstrained values.
    pub fn unconstrained_len(&self) -> usize {
        match *self {
            Transform::Real { n }
            | Transform::Positive { n }
            | Transform::Lower { n, .. }
            | Transform::Upper { n, .. }
            | Transform::Interval { n, .. } => n,
            Transform::Simplex { k } => k - 1,
            Transform::Ordered { k } | Transform::PositiveOrdered { k } => k,
            Transform::CorrCholesky { k } => k * (k - 1) / 2,
        }
    }

    /// The number of constrained values (K² for the correlation Cholesky factor, stored row-major).
    pub fn constrained_len(&self) -> usize {
        match *self {
            Transform::Simplex { k } => k,
            Transform::CorrCholesky { k } => k * k,
            _ => self.unconstrained_len(),
        }
    }

    /// A short name for messages ("simplex(3)").
    pub fn name(&self) -> String {
        match self {
            Transform::Real { n } => format!("real({n})"),
            Transform::Positive { n } => format!("positive({n})"),
            Transform::Lower { lower, n } => format!("lower({lower}, {n})"),
            Transform::Upper { upper, n } => format!("upper({upper}, {n})"),
            Transform::Interval { lower, upper, n } => format!("interval({lower}, {upper}, {n})"),
            Transform::Simplex { k } => format!("simplex({k})"),
            Transform::Ordered { k } => format!("ordered({k})"),
            Transform::PositiveOrdered { k } => format!("positive_ordered({k})"),
            Transform::CorrCholesky { k } => format!("corr_cholesky({k})"),
        }
    }

    /// Append the constrained value of `u` to `out` and return log|det J(u)|, generic (on the tape when
    /// `S` is a variable).
    ///
    /// # Panics
    /// When `u` does not have [`Transform::unconstrained_len`] values (naming both lengths).
    pub fn constrain<S: Real>(&self, u: &[S], out: &mut Vec<S>) -> S {
        assert_eq!(
            u.len(),
            self.unconstrained_len(),
            "{}: {} unconstrained values given, {} needed",
            self.name(),
            u.len(),
            self.unconstrained_len()
        );
        bijectors::constrain(self, u, out)
    }

    /// The unconstrained coordinates of a constrained value; an error when `x` is not strictly inside the
    /// set (or has the wrong length).
    pub fn unconstrain(&self, x: &[f64]) -> Result<Vec<f64>, ScoreError> {
        if x.len() != self.constrained_len() {
            return Err(ScoreError::Dimension {
                param: "x",
                expected: format!("{} values for {}", self.constrained_len(), self.name()),
                got: x.len().to_string(),
            });
        }
        bijectors::unconstrain(self, x).map_err(|reason| ScoreError::OutOfSupport {
            what: "x".into(),
            transform: self.name(),
            reason,
        })
    }
}
