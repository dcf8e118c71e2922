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
    /// Points a picture cannot frame (beyond ±10¹⁵, or not finite): the picture is skipped, not the job.
    #[error("{0}")]
    Undrawable(String),
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

/// A picture that may be skipped: `Ok(Some(drawn))`, or `Ok(None)` with the reason kept in `skipped` when its
/// points cannot be framed; other errors pass.
pub fn unless_undrawable(
    r: Result<bool, CliError>,
    skipped: &mut Option<String>,
) -> Result<bool, CliError> {
    match r {
        Err(CliError::Undrawable(why)) => {
            *skipped = Some(why);
            Ok(false)
        }
        other => other,
    }
}

/// A file that could not be read or written, as one line.
pub fn io_err(path: &std::path::Path, e: &std::io::Error) -> CliError {
    CliError::Io {
        path: path.display().to_string(),
        reason: stein::scores::files::describe(e),
    }
}
