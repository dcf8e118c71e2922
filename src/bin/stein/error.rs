//! The command line's errors: each is one line of words.

use stein::models::sample::SampleError;
use stein::models::ModelError;
use stein::run::RunError;
use stein::scores::ScoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Run(#[from] RunError),
    /// A flag out of range or a bad combination.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// Standard output is closed (`stein … | head`) or full.
    #[error("could not write to standard output: {0}")]
    Stdout(String),
}

impl From<ModelError> for CliError {
    fn from(e: ModelError) -> Self {
        CliError::Run(e.into())
    }
}

impl From<ScoreError> for CliError {
    fn from(e: ScoreError) -> Self {
        CliError::Run(e.into())
    }
}

impl From<SampleError> for CliError {
    fn from(e: SampleError) -> Self {
        CliError::Run(e.into())
    }
}
