//! What a run keeps: its settings (in every checkpoint) and the lines of its metrics file, and the limits
//! the loop checks them against.

use crate::error::ModelError;
use crate::nn::Precision;
use crate::optim::Schedule;
use serde::{Deserialize, Serialize};

/// The largest minibatch (rows, after tiling for several projections) a run accepts.
pub const MAX_BATCH: usize = 1 << 20;
/// The most optimiser steps a run (or a checkpoint) may count.
pub const MAX_STEPS: usize = 1 << 40;

/// The settings of a run, kept in its checkpoints: a run continued from one goes on exactly as it would have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Minibatch size (128).
    pub batch: usize,
    /// Base learning rate (10⁻³).
    pub lr: f64,
    /// Learning-rate schedule (constant).
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (10).
    pub clip: Option<f64>,
    /// Seed of every random draw (0).
    pub seed: u64,
    /// The arithmetic of the passes (f64; f32 where the objective has an f32 path).
    #[serde(default)]
    pub precision: Precision,
    /// Record the loss every this many steps (10).
    pub log_every: usize,
    /// Write a checkpoint every this many steps, and at the start and the end of a run (500).
    pub checkpoint_every: usize,
    /// Keep an exponential moving average of the parameters with this decay (none): the model a run
    /// writes, samples and scores is the average ([`crate::fit::Trainer::averaged`]); training goes on
    /// from the raw parameters. The decay of step k is min(decay, (1 + k)/(10 + k)), so early steps are not
    /// averaged over the initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch: 128,
            lr: 1e-3,
            schedule: Schedule::Constant,
            clip: Some(10.0),
            seed: 0,
            precision: Precision::F64,
            log_every: 10,
            checkpoint_every: 500,
            ema: None,
        }
    }
}

impl Settings {
    /// Check every setting; the error names the field and its value.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |param, value: String, reason: &str| {
            Err(ModelError::BadParameter {
                param,
                value,
                reason: reason.into(),
            })
        };
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad("batch", self.batch.to_string(), "need 1 to 2²⁰ rows");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", self.lr.to_string(), "must be positive and finite");
        }
        if let Some(c) = self.clip.filter(|c| !(*c > 0.0 && c.is_finite())) {
            return bad("clip", c.to_string(), "must be positive and finite");
        }
        if self.log_every == 0 || self.checkpoint_every == 0 {
            return bad(
                "log_every/checkpoint_every",
                format!("{}/{}", self.log_every, self.checkpoint_every),
                "must be at least 1",
            );
        }
        if let Some(d) = self.ema.filter(|d| !(*d > 0.0 && *d < 1.0)) {
            return bad(
                "ema",
                d.to_string(),
                "an average's decay is between 0 and 1",
            );
        }
        match self.schedule {
            Schedule::Constant => Ok(()),
            Schedule::Cosine { min_factor: f, .. } | Schedule::Step { gamma: f, .. }
                if f.is_finite() && f >= 0.0 =>
            {
                Ok(())
            }
            s => bad(
                "schedule",
                format!("{s:?}"),
                "its factors must be finite and ≥ 0",
            ),
        }
    }
}

/// One logged step, as written to `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Steps completed.
    pub step: usize,
    /// The minibatch loss of the step.
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// The gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds since this run (or resumption) started.
    pub seconds: f64,
    /// The objective's name.
    pub loss_name: String,
}
