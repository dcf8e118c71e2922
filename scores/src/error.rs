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
    /// A result that must be a finite number is not: NaN from the inputs, or a value beyond f64's range.
    #[error("{what} is not a finite number ({value}): {reason}")]
    NonFiniteResult {
        /// The quantity.
        what: &'static str,
        /// What it came out as.
        value: f64,
        /// The likely cause.
        reason: &'static str,
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

/// A scale parameter σ (a standard deviation, a width): positive and finite, with σ² and 1/σ² finite and
/// normal numbers (about 1.5·10⁻¹⁵⁴ ≤ σ ≤ 1.3·10¹⁵⁴), so a density's log-normaliser and score stay finite.
pub(crate) fn scale(param: &'static str, value: f64) -> Result<f64, ScoreError> {
    let sq = value * value;
    if value > 0.0 && sq.is_normal() && (1.0 / sq).is_normal() {
        Ok(value)
    } else {
        Err(ScoreError::BadParameter {
            param,
            requirement: "positive, with its square and the square's reciprocal finite normal numbers (1.5e-154 to 1.3e154)",
            value,
        })
    }
}

/// A positive parameter whose reciprocal is used too (a variance, a temperature): a positive normal number
/// with a finite, normal reciprocal.
pub(crate) fn positive_normal(param: &'static str, value: f64) -> Result<f64, ScoreError> {
    if value > 0.0 && value.is_normal() && (1.0 / value).is_normal() {
        Ok(value)
    } else {
        Err(ScoreError::BadParameter {
            param,
            requirement:
                "positive, with it and its reciprocal finite normal numbers (2.3e-308 to 4.5e307)",
            value,
        })
    }
}

/// `value` if it is finite, else [`ScoreError::NonFiniteResult`] naming `what`.
pub(crate) fn finite_result(what: &'static str, value: f64) -> Result<f64, ScoreError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ScoreError::NonFiniteResult {
            what,
            value,
            reason: if value.is_nan() {
                "a score or density returned NaN at one of the points"
            } else {
                "the inputs put it beyond the range of f64 (rescale them)"
            },
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

/// At least `need` samples for `what`.
pub(crate) fn need(what: &'static str, need: usize, got: usize) -> Result<(), ScoreError> {
    if got >= need {
        Ok(())
    } else {
        Err(ScoreError::TooFewSamples { what, need, got })
    }
}

/// Every sample has `d` coordinates.
pub(crate) fn check_dims(
    what: &'static str,
    d: usize,
    samples: &[Vec<f64>],
) -> Result<(), ScoreError> {
    for (i, x) in samples.iter().enumerate() {
        if x.len() != d {
            return Err(ScoreError::Dimension {
                param: what,
                expected: format!("points of dimension {d}"),
                got: format!("point {i} of dimension {}", x.len()),
            });
        }
    }
    Ok(())
}
