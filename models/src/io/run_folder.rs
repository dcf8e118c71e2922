//! The files of a training run in a folder: `metrics.jsonl` and `checkpoint.json`.

use super::{io_error, ModelFile};
use crate::error::ModelError;
use crate::fit::settings::LogRecord;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use stein_scores::files::write_atomic_with;

/// The files of a training run in a folder: `metrics.jsonl` (one JSON line per logged step, see
/// [`LogRecord`]) and `checkpoint.json`, both written so that nothing is lost or duplicated.
///
/// Opening the folder for a run that continues from step k keeps the metric lines of steps ≤ k and drops the
/// rest (lines an interrupted run wrote after its last checkpoint, which the resumed run writes again); the
/// file is rewritten atomically, so it is a regular file even if a symbolic link stood in its place.
pub struct RunFolder {
    metrics_path: PathBuf,
    metrics: std::fs::File,
    checkpoint: PathBuf,
    last: Option<PathBuf>,
}

impl RunFolder {
    /// Open (creating) `dir` for a run whose next step is `step`.
    pub fn open(dir: &Path, step: usize) -> Result<Self, ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let metrics_path = dir.join("metrics.jsonl");
        let kept = match std::fs::File::open(&metrics_path) {
            Ok(f) => {
                let mut kept = Vec::new();
                for line in std::io::BufReader::new(f).lines() {
                    let line = line.map_err(|e| io_error(&metrics_path, &e))?;
                    let at = serde_json::from_str::<LogRecord>(&line).map(|r| r.step);
                    if matches!(at, Ok(s) if s <= step) {
                        kept.push(line);
                    }
                }
                kept
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(&metrics_path, &e)),
        };
        write_atomic_with(&metrics_path, |w| {
            kept.iter().try_for_each(|l| writeln!(w, "{l}"))
        })
        .map_err(|e| io_error(&metrics_path, &e))?;
        let metrics = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(|e| io_error(&metrics_path, &e))?;
        let checkpoint = dir.join("checkpoint.json");
        let last = checkpoint.exists().then(|| checkpoint.clone());
        Ok(RunFolder {
            metrics_path,
            metrics,
            checkpoint,
            last,
        })
    }

    /// Append one metrics line.
    pub fn log(&mut self, record: &LogRecord) -> Result<(), ModelError> {
        let line = serde_json::to_string(record).map_err(|e| ModelError::Io {
            path: self.metrics_path.display().to_string(),
            reason: e.to_string(),
        })?;
        writeln!(self.metrics, "{line}").map_err(|e| io_error(&self.metrics_path, &e))
    }

    /// The (step, loss) pairs of `dir/metrics.jsonl`, in order: the loss curve of the whole run, across
    /// resumptions. Lines that do not parse are skipped; a missing file gives none.
    pub fn losses(dir: &Path) -> Result<Vec<(usize, f64)>, ModelError> {
        let path = dir.join("metrics.jsonl");
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path, &e)),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|e| io_error(&path, &e))?;
            if let Ok(r) = serde_json::from_str::<LogRecord>(&line) {
                out.push((r.step, r.loss));
            }
        }
        Ok(out)
    }

    /// Write the checkpoint atomically.
    pub fn checkpoint(&mut self, file: &ModelFile) -> Result<(), ModelError> {
        file.save(&self.checkpoint)?;
        self.last = Some(self.checkpoint.clone());
        Ok(())
    }

    /// The last checkpoint written, or found when the folder was opened.
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last.as_deref()
    }
}
