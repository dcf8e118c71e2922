//! Bounds that depend on other parameters (Stan's `real<lower=0, upper=1 - alpha1> alpha2;`). A
//! [`super::Transform`] has fixed bounds; for a bound computed from other parameters declare the value as
//! `Transform::real(1)` and map it inside `log_prob` with one of these functions, adding the returned
//! log-Jacobian to the log-density. Both are generic, so the derivatives with respect to the value *and* to
//! the bounds are recorded. Invalid bounds (upper ≤ lower) give a NaN log-Jacobian, which samplers treat as a
//! rejection (the `lpdf` rule).
//!
//! ```
//! use stein_autodiff::Real;
//! use stein_scores::transform::{interval_of, Blocks, ConstrainedDensity, Param, Transform};
//!
//! /// α₁ ∈ (0, 1) and α₂ ∈ (0, 1 − α₁), uniform given α₁.
//! struct Weights;
//! impl ConstrainedDensity for Weights {
//!     fn parameters(&self) -> Vec<Param> {
//!         vec![
//!             Param::new("alpha1", Transform::interval(0.0, 1.0, 1).unwrap()),
//!             Param::new("alpha2_raw", Transform::real(1).unwrap()),
//!         ]
//!     }
//!     fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
//!         let a1 = p[0][0];
//!         let (_a2, log_jacobian) = interval_of(p[1][0], S::cst(0.0), a1.rsub(1.0));
//!         log_jacobian - a1.rsub(1.0).ln() // the uniform density 1/(1 − α₁) of α₂
//!     }
//! }
//! # let _ = Weights;
//! ```

use stein_autodiff::Real;

/// x = a + (b − a) σ(u) ∈ (a, b), with log|dx/du| = log(b − a) + log σ(u) + log σ(−u).
pub fn interval_of<S: Real>(u: S, lower: S, upper: S) -> (S, S) {
    let width = upper - lower;
    (
        lower + width * u.sigmoid(),
        width.ln() + u.log_sigmoid() + (-u).log_sigmoid(),
    )
}

/// x = a + eᵘ > a, with log|dx/du| = u.
pub fn lower_of<S: Real>(u: S, lower: S) -> (S, S) {
    (lower + u.exp(), u)
}

/// x = b − eᵘ < b, with log|dx/du| = u.
pub fn upper_of<S: Real>(u: S, upper: S) -> (S, S) {
    (upper - u.exp(), u)
}
