//! `--resume`: the checks every kind of run shares before it continues — the folder holds a checkpoint, no
//! flag would change the run, and the new total goes past the step the run is at.

use crate::args::TrainArgs;
use crate::error::CliError;
use std::path::{Path, PathBuf};

/// What a run was trained with, as its checkpoint keeps it.
pub struct Kept<'a> {
    pub data: &'a str,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub standardized: bool,
    /// Steps done.
    pub step: usize,
    /// The total the run was asked for, when its checkpoint keeps it.
    pub target: Option<usize>,
}

/// The checkpoint of a run folder (after removing what killed processes left there), or the error that it
/// has none, saying how to start a run there.
pub fn checkpoint_of(dir: &Path) -> Result<PathBuf, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--resume {}: no such folder",
            dir.display()
        )));
    }
    crate::staging::clean_leftovers(dir);
    let ck = dir.join("checkpoint.json");
    if ck.is_file() {
        Ok(ck)
    } else {
        Err(CliError::Usage(format!(
            "{} holds no checkpoint.json to resume (no run was started there): start one with `stein train --out {}`",
            dir.display(),
            dir.display()
        )))
    }
}

/// The total of steps a resumed run goes to: `--steps` when given, else the total the run was asked for.
/// A run whose training is done continues only to finish what is missing (samples, pictures, summary);
/// once it has its summary it is complete, and the error says what to do instead.
pub fn total_steps(
    a: &TrainArgs,
    given: &dyn Fn(&str) -> bool,
    dir: &Path,
    kept: &Kept<'_>,
) -> Result<usize, CliError> {
    let total = if given("steps") {
        a.steps
    } else {
        kept.target.unwrap_or(a.steps).max(kept.step)
    };
    if total < kept.step {
        return Err(CliError::Usage(format!(
            "--steps {total}: the run in {} is at step {} already; give a larger total to continue it (or sample its model with `stein sample --model {}`)",
            dir.display(),
            kept.step,
            dir.join("model.json").display()
        )));
    }
    if total == kept.step && dir.join("summary.txt").is_file() {
        return Err(CliError::Usage(format!(
            "the run in {} is complete (step {}): give a larger --steps to train it further, or sample its model with `stein sample --model {}`",
            dir.display(),
            kept.step,
            dir.join("model.json").display()
        )));
    }
    Ok(total)
}

/// The refusal of a flag whose value differs from the run's.
pub fn refusal(dir: &Path, flag: &str, given_value: &str, run_value: &str) -> CliError {
    CliError::Usage(format!(
        "--{flag} {given_value} cannot continue the run in {}: it was trained with --{flag} {run_value} (leave --{flag} out to continue it, or start a new run with --out)",
        dir.display()
    ))
}

/// Refuse the flags given on the command line that would change the run in `dir`.
pub fn refuse_changes(
    a: &TrainArgs,
    given: &dyn Fn(&str) -> bool,
    dir: &Path,
    kept: &Kept<'_>,
) -> Result<(), CliError> {
    if given("data") && a.data != kept.data {
        return Err(refusal(dir, "data", &a.data, kept.data));
    }
    if given("batch") && a.batch != kept.batch {
        return Err(refusal(
            dir,
            "batch",
            &a.batch.to_string(),
            &kept.batch.to_string(),
        ));
    }
    if given("lr") && a.lr != kept.lr {
        return Err(refusal(dir, "lr", &a.lr.to_string(), &kept.lr.to_string()));
    }
    if given("seed") && a.seed != kept.seed {
        return Err(refusal(
            dir,
            "seed",
            &a.seed.to_string(),
            &kept.seed.to_string(),
        ));
    }
    if a.no_standardize && kept.standardized {
        return Err(CliError::Usage(format!(
            "--no-standardize cannot continue the run in {}: it was trained on standardised data",
            dir.display()
        )));
    }
    Ok(())
}
