//! A training run's folder from the user's side: claimed only when every input is known good, holding a
//! checkpoint from its first moment, finished all at once. Every state a failure or a kill can leave is
//! continued by `stein train --resume DIR`, or — for a fresh run that learned nothing — removed, so the same
//! command can simply be run again.

use crate::error::CliError;
use crate::output::{claim_new_dir, io_err};
use std::path::{Path, PathBuf};
use stein::models::ModelError;
use stein::scores::plot;

/// Where a run goes.
pub enum Dest {
    /// Continue the run in this folder.
    Resume(PathBuf),
    /// A folder named with `--out` (checked: absent, empty, or `--force`).
    Out(PathBuf),
    /// A new folder `runs/<stem>-<date>-<time>`.
    New(String),
}

/// A run folder this command writes into.
pub struct Claimed {
    /// The folder.
    pub dir: PathBuf,
    /// Whether this command created it.
    created: bool,
    /// Whether the run starts here (not `--resume`).
    fresh: bool,
}

impl Claimed {
    /// Claim the destination: create it when needed, and clear what killed processes left in it.
    pub fn new(dest: Dest) -> Result<Claimed, CliError> {
        let (dir, created, fresh) = match dest {
            Dest::Resume(d) => (d, false, false),
            Dest::Out(d) => {
                let created = !d.exists();
                std::fs::create_dir_all(&d).map_err(|e| io_err(&d, &e))?;
                (d, created, true)
            }
            Dest::New(stem) => (claim_new_dir(Path::new("runs"), &stem)?, true, true),
        };
        crate::staging::clean_leftovers(&dir);
        Ok(Claimed {
            dir,
            created,
            fresh,
        })
    }

    /// The error of a training that stopped. A fresh run whose only checkpoint is the one of step 0 kept
    /// nothing it learned: its files are removed (and its folder, if this command made it), so running the
    /// command again — with a lower learning rate, say — needs nothing else. Otherwise the last checkpoint
    /// stays, and the error names it.
    pub fn training_failed(&self, e: CliError) -> CliError {
        let checkpointed = stein::models::io::checkpoint_step(&self.dir.join("checkpoint.json"));
        if !(self.fresh && checkpointed.unwrap_or(0) == 0) {
            return e;
        }
        for f in crate::output::RUN_FILES {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        let removed = self.created && std::fs::remove_dir(&self.dir).is_ok();
        let reason = match e {
            // the checkpoint it names was the step-0 one, now removed
            CliError::Run(stein::run::RunError::Model(ModelError::Diverged {
                step,
                loss,
                hint,
                ..
            })) => ModelError::Diverged {
                step,
                loss,
                checkpoint: None,
                hint,
            }
            .to_string(),
            other => other.to_string(),
        };
        CliError::Usage(if removed {
            format!(
                "{reason}; nothing was learned, so {} was removed",
                self.dir.display()
            )
        } else {
            format!(
                "{reason}; nothing was learned, so the run's files in {} were removed",
                self.dir.display()
            )
        })
    }

    /// The error of a run whose training finished at `step` (its model saved) but whose samples, pictures or
    /// summary failed: none of those were written, and the message says how to finish.
    pub fn finishing_failed(&self, e: CliError, step: usize) -> CliError {
        let d = self.dir.display();
        CliError::Usage(format!(
            "{e} — training is done (step {step}, model in {}), but nothing else was written; finish the run with `stein train --resume {d}`, or sample the model with `stein sample --model {}`",
            self.dir.join("model.json").display(),
            self.dir.join("model.json").display()
        ))
    }
}

/// The line that reports training: steps done in this command, or that a finished run was only completed.
pub fn steps_line(from: usize, to: usize, seconds: f64) -> String {
    if from == to {
        format!("steps        {to} (trained already; samples, pictures and summary made now)")
    } else if from > 0 {
        format!("steps        {from} → {to} in {seconds:.1} s (resumed)")
    } else {
        format!("steps        {to} in {seconds:.1} s")
    }
}

/// The mean of the last 10 logged losses, as words ("none logged" when there are none).
pub fn final_loss(losses: &[(usize, f64)]) -> String {
    let tail = &losses[losses.len().saturating_sub(10)..];
    if tail.is_empty() {
        return "none logged".into();
    }
    format!(
        "{:.5}",
        tail.iter().map(|l| l.1).sum::<f64>() / tail.len() as f64
    )
}

/// The loss curve with its moving average of 25, when there is one; whether it was drawn.
pub fn loss_chart(path: &Path, title: &str, losses: &[(usize, f64)]) -> Result<bool, CliError> {
    if losses.is_empty() {
        return Ok(false);
    }
    let pts: Vec<(f64, f64)> = losses.iter().map(|(s, l)| (*s as f64, *l)).collect();
    let smooth: Vec<(f64, f64)> = (0..pts.len())
        .map(|i| {
            let w = &pts[i.saturating_sub(24)..=i];
            (
                pts[i].0,
                w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
            )
        })
        .collect();
    plot::line_chart(
        path,
        title,
        ("step", "loss"),
        &[("loss", &pts), ("moving average of 25", &smooth)],
        (720, 400),
    )?;
    Ok(true)
}

/// The line listing a run's files: the pictures drawn (or why there are none) and the others.
pub fn pictures_line(written: &[&str], skipped: Option<&str>) -> String {
    let pictures = match skipped {
        Some(why) if written.is_empty() => format!("none ({why})"),
        Some(why) => format!("{} (the others skipped: {why})", written.join(", ")),
        None => written.join(", "),
    };
    format!("pictures     {pictures}; summary.txt, model.json, metrics.jsonl, samples.csv")
}
