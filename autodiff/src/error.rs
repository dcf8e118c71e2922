//! Errors that user input can trigger.

/// What went wrong, named precisely enough to act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdError {
    /// An input coordinate is NaN or infinite.
    #[error("input x[{index}] is not finite ({value})")]
    NonFiniteInput {
        /// Position of the first non-finite input.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The function's value is NaN or infinite.
    #[error("function value{at} is not finite ({value})", at = index.map(|i| format!("[{i}]")).unwrap_or_default())]
    NonFiniteValue {
        /// Output component, for vector-valued functions.
        index: Option<usize>,
        /// The value.
        value: f64,
    },
    /// A derivative is NaN or infinite.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFiniteDerivative {
        /// Which derivative ("gradient", "hessian row 2", …).
        what: String,
        /// Position of the first non-finite entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Sizes that must agree do not.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Where.
        what: &'static str,
        /// What was needed.
        expected: String,
        /// What was given.
        got: String,
    },
    /// [`gradcheck`](crate::gradcheck) found autodiff and finite differences apart.
    #[error(
        "gradient check failed at x[{index}]: autodiff {autodiff:e}, finite difference {finite_difference:e} \
         (relative error {rel_err:.3e} > rtol {rtol:.1e})"
    )]
    GradCheck {
        /// Coordinate with the largest relative error.
        index: usize,
        /// The tape's derivative.
        autodiff: f64,
        /// The central finite difference.
        finite_difference: f64,
        /// |autodiff − fd| / max(1, |autodiff|, |fd|).
        rel_err: f64,
        /// The tolerance that was exceeded.
        rtol: f64,
    },
    /// A higher-order check ([`hesscheck`](crate::hesscheck), [`gradgradcheck`](crate::gradgradcheck),
    /// [`check_orders`](crate::check_orders)) found the tape and finite differences of its lower order apart.
    #[error(
        "order-{order} derivative check failed at {at}: autodiff {autodiff:e}, finite difference \
         {finite_difference:e} (relative error {rel_err:.3e} > rtol {rtol:.1e})"
    )]
    DerivativeCheck {
        /// The order of the derivative checked.
        order: usize,
        /// Which entry (`H[1][2]`, `(H v)[0]`, `D^3 f[e0, …, e0]`, …).
        at: String,
        /// The tape's derivative.
        autodiff: f64,
        /// The central finite difference of the tape's derivative of one order less.
        finite_difference: f64,
        /// |autodiff − fd| / max(1, |autodiff|, |fd|).
        rel_err: f64,
        /// The tolerance that was exceeded.
        rtol: f64,
    },
    /// The tape's Hessian is not symmetric.
    #[error("the Hessian is not symmetric: H[{i}][{j}] = {hij:e} but H[{j}][{i}] = {hji:e}")]
    Asymmetric {
        /// Row.
        i: usize,
        /// Column.
        j: usize,
        /// `H[i][j]`.
        hij: f64,
        /// `H[j][i]`.
        hji: f64,
    },
}

pub(crate) fn check_finite(what: &str, xs: &[f64]) -> Result<(), AdError> {
    match xs.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(AdError::NonFiniteDerivative {
            what: what.to_string(),
            index,
            value: xs[index],
        }),
    }
}

pub(crate) fn check_inputs(xs: &[f64]) -> Result<(), AdError> {
    match xs.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(AdError::NonFiniteInput {
            index,
            value: xs[index],
        }),
    }
}

pub(crate) fn check_value(value: f64, index: Option<usize>) -> Result<(), AdError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(AdError::NonFiniteValue { index, value })
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), AdError> {
    if expected == got {
        Ok(())
    } else {
        Err(AdError::Shape {
            what,
            expected: format!("length {expected}"),
            got: format!("length {got}"),
        })
    }
}
