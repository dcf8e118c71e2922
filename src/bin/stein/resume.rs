//! `--resume`: the checks every kind of run shares before it continues — the folder holds a checkpoint, no
//! flag would change the run, and the new total goes past the step the run is at.

use crate::args::TrainArgs;
use crate::error::CliError;
use std::path::{Path, PathBuf};
use stein::models::fit::Trainer;

/// What a run was trained with, as its checkpoint keeps it.
pub struct Kept<'a> {
    /// The trainer the checkpoint gives back.
    pub trainer: &'a Trainer,
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
    let total = match a.steps {
        Some(s) if given("steps") => s,
        _ => kept
            .target
            .unwrap_or(stein::models::recipe::Recipe::ebm().steps)
            .max(kept.step),
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
    let t = kept.trainer;
    let s = &t.settings;
    let (net, objective) = (&t.network, t.objective.name());
    if given("data") && a.data != t.data {
        return Err(refusal(dir, "data", &a.data, &t.data));
    }
    if given("model") && a.model.kind() != net.kind() {
        return Err(refusal(
            dir,
            "model",
            a.model.kind().name(),
            net.kind().name(),
        ));
    }
    if let Some(l) = a.loss.as_deref().filter(|l| *l != objective) {
        return Err(refusal(dir, "loss", l, objective));
    }
    if let Some(b) = a.batch.filter(|b| *b != s.batch) {
        return Err(refusal(dir, "batch", &b.to_string(), &s.batch.to_string()));
    }
    if let Some(lr) = a.lr.filter(|lr| *lr != s.lr) {
        return Err(refusal(dir, "lr", &lr.to_string(), &s.lr.to_string()));
    }
    if given("seed") && a.seed != s.seed {
        return Err(refusal(
            dir,
            "seed",
            &a.seed.to_string(),
            &s.seed.to_string(),
        ));
    }
    if let Some(p) = a
        .precision
        .map(|p| p.precision())
        .filter(|p| *p != s.precision)
    {
        return Err(refusal(dir, "precision", p.name(), s.precision.name()));
    }
    if let Some(d) = a.ema.filter(|d| Some(*d) != s.ema) {
        let kept = s.ema.map_or("none".to_string(), |e| e.to_string());
        return Err(refusal(dir, "ema", &d.to_string(), &kept));
    }
    for (flag, is_given) in [
        ("hidden", a.hidden.is_some()),
        ("activation", a.activation.is_some()),
        ("sde", a.sde.is_some()),
        ("t-min", a.t_min.is_some()),
        ("coupling", a.coupling.is_some()),
    ] {
        if is_given {
            return Err(CliError::Usage(format!(
                "--{flag} cannot change the run in {}: its model keeps its own (leave it out to continue)",
                dir.display()
            )));
        }
    }
    if a.no_standardize && net.standardization().is_some() {
        return Err(CliError::Usage(format!(
            "--no-standardize cannot continue the run in {}: it was trained on standardised data",
            dir.display()
        )));
    }
    Ok(())
}
