//! Errors from user parameters and data.

/// What went wrong, naming the parameter or input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// A scalar parameter is out of its domain.
    #[error("parameter `{param}` must be {requirement}, got {value}")]
    BadParameter {
        /// The parameter's name.
        param: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// What it was.
        value: f64,
    },
    /// Sizes that must agree do not.
    #[error("parameter `{param}`: expected {expected}, got {got}")]
    Dimension {
        /// The parameter's name.
        param: &'static str,
        /// What was needed.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A covariance (or scale) matrix is not symmetric positive-definite.
    #[error("parameter `{param}` is not a symmetric positive-definite matrix: {reason}")]
    NotPositiveDefinite {
        /// The parameter's name.
        param: &'static str,
        /// Which check failed.
        reason: String,
    },
    /// A value that must be finite is not.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the first non-finite entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Too few samples for a statistic.
    #[error("{what}: needs at least {need} samples, got {got}")]
    TooFewSamples {
        /// The statistic.
        what: &'static str,
        /// Minimum.
        need: usize,
        /// Given.
        got: usize,
    },
    /// A value lies outside the set a transform maps onto.
    #[error("{what} is not in the support of the {transform} transform: {reason}")]
    OutOfSupport {
        /// Which value (a parameter's name).
        what: String,
        /// The transform.
        transform: String,
        /// Why.
        reason: String,
    },
    /// Writing a picture failed.
    #[error("plot `{path}`: {reason}")]
    Plot {
        /// The output file.
        path: String,
        /// What failed.
        reason: String,
    },
}

pub(crate) fn positive(param: &'static str, value: f64) -> Result<f64, ScoreError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(ScoreError::BadParameter {
            param,
            requirement: "positive and finite",
            value,
        })
    }
}

pub(crate) fn finite_all(what: &'static str, xs: &[f64]) -> Result<(), ScoreError> {
    match xs.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(ScoreError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
    }
}

pub(crate) fn dim_eq(param: &'static str, expected: usize, got: usize) -> Result<(), ScoreError> {
    if expected == got {
        Ok(())
    } else {
        Err(ScoreError::Dimension {
            param,
            expected: format!("length {expected}"),
            got: format!("length {got}"),
        })
    }
}
