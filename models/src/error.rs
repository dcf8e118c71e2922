//! Errors of the models crate.

/// What went wrong, naming the file, line, step or parameter.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A CSV file has a bad value or row (line 0: the file as a whole; column 0: the whole line).
    #[error("{path}: {}{reason}", csv_place(*line, *column))]
    Csv {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (0: the whole line).
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// A model file is not a valid Stein model.
    #[error("{path}: not a valid model file: {reason}")]
    BadModelFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An unknown built-in data set.
    #[error("unknown dataset `{name}` (built-in: {known}; or give a CSV path)")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The names known.
        known: String,
    },
    /// A parameter is out of its domain.
    #[error("parameter `{param}` = {value}: {reason}")]
    BadParameter {
        /// The parameter (or the field of a model or file).
        param: &'static str,
        /// Its value, as given.
        value: String,
        /// What is wrong, or what it must be.
        reason: String,
    },
    /// Training produced a non-finite loss or gradient.
    #[error("training diverged at step {step}: loss = {loss}{}{}", checkpoint.as_ref().map(|c| format!("; last good checkpoint kept at {c}")).unwrap_or_default(), hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Diverged {
        /// The step that broke.
        step: usize,
        /// Its loss.
        loss: f64,
        /// The checkpoint left in place.
        checkpoint: Option<String>,
        /// A likely cause, when one is visible (e.g. data far from scale 1 that were not standardised).
        hint: Option<String>,
    },
    /// An error from the scores crate.
    #[error(transparent)]
    Score(#[from] stein_scores::ScoreError),
}

fn csv_place(line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, 0) => format!("line {l}: "),
        (l, c) => format!("line {l}, column {c}: "),
    }
}
