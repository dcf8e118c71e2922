//! The training loop: minibatches from a data set, any [`Loss`], Adam with clipping and a schedule, a progress
//! bar (feature `progress`), and with feature `io` metrics as JSON lines, periodic atomic checkpoints, exact
//! resume, and a stop on a non-finite loss that keeps the last good checkpoint.
//!
//! Randomness: step k draws everything (batch, noise, projections) from an RNG seeded by (seed, k), so a run
//! resumed from a checkpoint continues exactly as the uninterrupted run would have.

mod step;

pub use step::sample_rows;
use step::Context;

use crate::error::ModelError;
use crate::loss::Loss;
use crate::nn::{Conditioning, Model};
use crate::optim::{clip_grad_norm, Adam, Optimizer, Schedule};
use crate::progress::Progress;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use stein_autodiff::Tensor;

/// The largest minibatch (rows, after tiling for several projections) a run accepts.
pub const MAX_BATCH: usize = 1 << 20;
/// The most optimiser steps a run (or a checkpoint) may count.
pub const MAX_STEPS: usize = 1 << 40;

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Total optimiser steps.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Clip the global gradient norm to this.
    pub clip: Option<f64>,
    /// Seed of every random draw.
    pub seed: u64,
    /// The objective.
    pub loss: Loss,
    /// Record the loss every this many steps (0 counts as 1).
    pub log_every: usize,
    /// Write a checkpoint every this many steps (and at the end), when `out` is set (0 counts as 1).
    pub checkpoint_every: usize,
    /// Folder for `checkpoint.json` and `metrics.jsonl` ([`crate::io::RunFolder`]); `None` keeps everything
    /// in memory.
    #[cfg(feature = "io")]
    pub out: Option<std::path::PathBuf>,
    /// Show a progress bar (feature `progress`; drawn only when stderr is a terminal).
    pub progress: bool,
}

impl TrainConfig {
    /// Defaults: Adam lr 1e-3, batch 128, constant schedule, clip 10, log every 10 steps, checkpoint every 500.
    pub fn new(loss: Loss, steps: usize) -> Self {
        TrainConfig {
            steps,
            batch: 128,
            lr: 1e-3,
            schedule: Schedule::Constant,
            clip: Some(10.0),
            seed: 0,
            loss,
            log_every: 10,
            checkpoint_every: 500,
            #[cfg(feature = "io")]
            out: None,
            progress: false,
        }
    }

    /// The settings a checkpoint keeps.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            loss: self.loss.clone(),
            batch: self.batch,
            lr: self.lr,
            schedule: self.schedule,
            clip: self.clip,
            seed: self.seed,
        }
    }

    /// A configuration that continues a run with these settings until `steps` steps in total.
    pub fn from_settings(settings: &RunSettings, steps: usize) -> Self {
        TrainConfig {
            batch: settings.batch,
            lr: settings.lr,
            schedule: settings.schedule,
            clip: settings.clip,
            seed: settings.seed,
            ..TrainConfig::new(settings.loss.clone(), steps)
        }
    }

    /// Check every setting; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad =
            |param: &'static str, reason: String| Err(ModelError::BadParameter { param, reason });
        if self.steps > MAX_STEPS {
            return bad("steps", format!("{} is more than {MAX_STEPS}", self.steps));
        }
        self.settings()
            .validate()
            .map_err(|reason| ModelError::BadParameter {
                param: "config",
                reason,
            })
    }
}

/// The settings of the steps a model has taken, kept in checkpoints: a run resumed from one continues
/// exactly as it would have gone on, and a loss that cannot continue it is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The objective.
    pub loss: Loss,
    /// Minibatch size.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Gradient-norm clip.
    pub clip: Option<f64>,
    /// Seed.
    pub seed: u64,
}

impl RunSettings {
    /// Check: a valid loss, a batch of 1 to [`MAX_BATCH`] rows (projections included), a positive finite
    /// learning rate and clip, a schedule with finite factors.
    pub fn validate(&self) -> Result<(), String> {
        self.loss.validate()?;
        let per_point = match self.loss {
            Loss::Ssm { projections, .. } | Loss::IsmHutchinson { projections } => projections,
            _ => 1,
        };
        if self.batch == 0 || self.batch.saturating_mul(per_point) > MAX_BATCH {
            return Err(format!(
                "batch {} (× {per_point} projections); need 1 to {MAX_BATCH} rows",
                self.batch
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!(
                "learning rate {}; must be positive and finite",
                self.lr
            ));
        }
        if let Some(c) = self.clip {
            if !(c > 0.0 && c.is_finite()) {
                return Err(format!("clip {c}; must be positive and finite"));
            }
        }
        match self.schedule {
            Schedule::Constant => Ok(()),
            Schedule::Cosine { min_factor: f, .. } | Schedule::Step { gamma: f, .. }
                if f.is_finite() && f >= 0.0 =>
            {
                Ok(())
            }
            s => Err(format!("schedule {s:?}: factors must be finite and ≥ 0")),
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
    /// The loss's name.
    pub loss_name: String,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// Steps completed in total (including those before a resume).
    pub steps: usize,
    /// (step, loss) at every logged step.
    pub losses: Vec<(usize, f64)>,
    /// Wall time of this run in seconds.
    pub seconds: f64,
    /// The path of the last checkpoint written, if any.
    pub checkpoint: Option<std::path::PathBuf>,
}

impl TrainReport {
    /// Mean of the last `k` logged losses.
    pub fn final_loss(&self, k: usize) -> f64 {
        let tail = &self.losses[self.losses.len().saturating_sub(k)..];
        tail.iter().map(|l| l.1).sum::<f64>() / tail.len().max(1) as f64
    }
}

/// A model being trained, with its optimiser state and the extra parameters some losses learn.
pub struct Trainer {
    /// The model.
    pub model: Model,
    /// Adam's state.
    pub optimizer: Adam,
    /// Steps completed.
    pub step: usize,
    /// Extra learned tensors (NCE's log Z).
    pub extra: Vec<(String, Tensor)>,
    /// Adam's state for the extra tensors.
    pub extra_optimizer: Adam,
    /// Persistent negatives for contrastive divergence.
    pub buffer: Option<Tensor>,
    /// The settings of the steps taken so far (`None` before the first step); a later run must use the same
    /// loss.
    pub settings: Option<RunSettings>,
    /// The training data's name or path, kept in model files for the record.
    pub data: String,
    /// The total of steps the run was last asked for (kept in checkpoints).
    pub target_steps: Option<usize>,
}

/// The RNG of step `k`: a stream that depends only on (seed, k).
pub fn step_rng(seed: u64, step: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed ^ (step as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17),
    )
}

impl Trainer {
    /// Start training `model` from scratch.
    pub fn new(model: Model) -> Self {
        Trainer {
            model,
            optimizer: Adam::new(),
            step: 0,
            extra: Vec::new(),
            extra_optimizer: Adam::new(),
            buffer: None,
            settings: None,
            data: String::new(),
            target_steps: None,
        }
    }

    /// Resume from a checkpoint written by [`Trainer::fit`]: the trainer and the configuration that
    /// continues the run (its saved settings; `steps` is the step reached, so set the new total). A version 1
    /// checkpoint has no saved settings: the configuration is then `None` and the caller supplies one.
    #[cfg(feature = "io")]
    pub fn resume(
        path: impl AsRef<std::path::Path>,
    ) -> Result<(Self, Option<TrainConfig>), ModelError> {
        let f = crate::io::ModelFile::load(path.as_ref())?;
        let state = f.training.ok_or_else(|| ModelError::BadModelFile {
            path: path.as_ref().display().to_string(),
            reason: "a model file without training state (not a checkpoint)".into(),
        })?;
        let config = state
            .settings
            .as_ref()
            .map(|s| TrainConfig::from_settings(s, state.step));
        Ok((
            Trainer {
                model: f.model,
                optimizer: state.optimizer,
                step: state.step,
                extra: f.extra,
                extra_optimizer: state.extra_optimizer,
                buffer: state.buffer,
                settings: state.settings,
                data: f.data,
                target_steps: state.target_steps,
            },
            config,
        ))
    }

    /// The model file of the current state (a checkpoint when `with_state`).
    #[cfg(feature = "io")]
    pub fn to_file(&self, with_state: bool) -> crate::io::ModelFile {
        let mut f = crate::io::ModelFile::new(self.model.clone());
        f.extra = self.extra.clone();
        f.data = self.data.clone();
        if with_state {
            f.training = Some(crate::io::TrainingState {
                step: self.step,
                optimizer: self.optimizer.clone(),
                extra_optimizer: self.extra_optimizer.clone(),
                buffer: self.buffer.clone(),
                settings: self.settings.clone(),
                target_steps: self.target_steps,
            });
        }
        f
    }

    /// Train on `data` (`n × dim`, data coordinates) until `config.steps` steps are done in total. When the
    /// model has a [`standardization`](Model::standardization), the data are mapped to model coordinates first.
    /// The loop runs on a worker of rayon's pool ([`stein_autodiff::on_pool`]), so the tensor kernels'
    /// parallel splits are cheap.
    ///
    /// Errors (before any step): a configuration out of range, a loss that cannot train this model or that
    /// differs from the loss of the steps already taken, data of the wrong dimension or with fewer than 2
    /// points. During the run: a non-finite loss or gradient stops it at that step, before the update.
    pub fn fit(&mut self, data: &Tensor, config: &TrainConfig) -> Result<TrainReport, ModelError> {
        stein_autodiff::on_pool(|| self.fit_here(data, config))
    }

    /// Every check `fit` makes before its first step; also records the loss's σ ladder on a
    /// noise-conditional model.
    fn prepare(&mut self, data: &Tensor, config: &TrainConfig) -> Result<(), ModelError> {
        let bad = |param: &'static str, reason: String| ModelError::BadParameter { param, reason };
        config.validate()?;
        config
            .loss
            .check_model(&self.model)
            .map_err(|r| bad("loss", r))?;
        if let Some(prev) = &self.settings {
            if prev.loss.name() != config.loss.name() {
                return Err(bad(
                    "loss",
                    format!(
                        "the model was trained with {} so far; {} cannot continue it (start a new model to change the loss)",
                        prev.loss.name(),
                        config.loss.name()
                    ),
                ));
            }
        }
        if data.cols() != self.model.dim {
            return Err(bad(
                "data",
                format!(
                    "points of dimension {}, the model expects {}",
                    data.cols(),
                    self.model.dim
                ),
            ));
        }
        if data.rows() < 2 {
            return Err(bad(
                "data",
                format!("{} points; need at least 2", data.rows()),
            ));
        }
        if matches!(config.loss, Loss::Nce)
            && !(self.extra.is_empty()
                || (self.extra.len() == 1 && self.extra[0].1.shape() == (1, 1)))
        {
            return Err(bad(
                "extra",
                "NCE learns one 1×1 tensor (log Z); the trainer holds others".into(),
            ));
        }
        if self.model.conditioning != Conditioning::None {
            let ladder = match &config.loss {
                Loss::Ncsn { sigmas } => sigmas.clone(),
                Loss::Dsm { sigma } => vec![*sigma],
                _ => unreachable!("check_model admits only denoising losses"),
            };
            if self.model.sigmas.is_empty() {
                self.model.sigmas = ladder;
            } else if self.model.sigmas != ladder {
                return Err(bad(
                    "loss",
                    "its σ ladder differs from the one the model was trained on".into(),
                ));
            }
        }
        self.settings = Some(config.settings());
        self.target_steps = Some(config.steps);
        Ok(())
    }

    fn fit_here(&mut self, data: &Tensor, config: &TrainConfig) -> Result<TrainReport, ModelError> {
        self.prepare(data, config)?;
        let standardized;
        let data = match &self.model.standardization {
            Some(st) => {
                let mut z = data.clone();
                st.to_model(&mut z);
                standardized = z;
                &standardized
            }
            None => data,
        };
        let ctx = Context::new(data, config)?;
        #[cfg(feature = "io")]
        let mut folder = match &config.out {
            Some(dir) => Some(crate::io::RunFolder::open(dir, self.step)?),
            None => None,
        };
        // a run folder holds a checkpoint from the start, so a run killed before its first periodic one
        // continues (from step 0) with the same command as any other
        #[cfg(feature = "io")]
        if let Some(f) = folder.as_mut().filter(|f| f.last_checkpoint().is_none()) {
            f.checkpoint(&self.to_file(true))?;
        }
        #[cfg(feature = "io")]
        let last_checkpoint = |f: &Option<crate::io::RunFolder>| {
            f.as_ref()
                .and_then(|f| f.last_checkpoint().map(|p| p.to_path_buf()))
        };
        #[cfg(not(feature = "io"))]
        let last_checkpoint = |_: &Option<()>| None::<std::path::PathBuf>;
        #[cfg(not(feature = "io"))]
        let folder: Option<()> = None;
        let bar = Progress::new(config.progress, config.steps, self.step, "steps");
        let t0 = Instant::now();
        let mut grads: Vec<Tensor> = Vec::new();
        let mut losses = Vec::new();
        while self.step < config.steps {
            let mut rng = step_rng(config.seed, self.step);
            let lr = config.schedule.rate(config.lr, self.step);
            let value = self.step_once(&ctx, config, &mut rng, &mut grads);
            let norm_ok = grads.iter().all(|g| g.data().iter().all(|v| v.is_finite()));
            if !value.is_finite() || !norm_ok {
                bar.abandon();
                return Err(ModelError::Diverged {
                    step: self.step,
                    loss: value,
                    checkpoint: last_checkpoint(&folder).map(|p| p.display().to_string()),
                    hint: scale_hint(data, self.model.standardization.is_some()),
                });
            }
            let norm = match config.clip {
                Some(c) => clip_grad_norm(&mut grads, c),
                None => grads
                    .iter()
                    .flat_map(|g| g.data())
                    .map(|v| v * v)
                    .sum::<f64>()
                    .sqrt(),
            };
            let n_net = self.model.net.params.len();
            self.optimizer
                .step(&mut self.model.net.params, &grads[..n_net], lr);
            if !self.extra.is_empty() {
                let mut extra: Vec<Tensor> = self.extra.iter().map(|e| e.1.clone()).collect();
                self.extra_optimizer.step(&mut extra, &grads[n_net..], lr);
                for (e, v) in self.extra.iter_mut().zip(extra) {
                    e.1 = v;
                }
            }
            self.step += 1;
            if self.step.is_multiple_of(config.log_every.max(1)) || self.step == config.steps {
                losses.push((self.step, value));
                #[cfg(feature = "io")]
                if let Some(f) = folder.as_mut() {
                    f.log(&LogRecord {
                        step: self.step,
                        loss: value,
                        lr,
                        grad_norm: norm,
                        seconds: t0.elapsed().as_secs_f64(),
                        loss_name: config.loss.name().into(),
                    })?;
                }
                let _ = norm;
                bar.message(format!("loss {value:.4}"));
            }
            bar.set(self.step);
            #[cfg(feature = "io")]
            if let Some(f) = folder.as_mut() {
                if self.step.is_multiple_of(config.checkpoint_every.max(1))
                    || self.step == config.steps
                {
                    f.checkpoint(&self.to_file(true))?;
                }
            }
        }
        bar.finish();
        Ok(TrainReport {
            steps: self.step,
            losses,
            seconds: t0.elapsed().as_secs_f64(),
            checkpoint: last_checkpoint(&folder),
        })
    }
}

/// When a run diverges on data far from scale 1 without standardisation, say so.
fn scale_hint(data: &Tensor, standardized: bool) -> Option<String> {
    if standardized {
        return None;
    }
    let st = crate::data::Standardization::fit(data);
    let far = st.mean.iter().any(|m| m.abs() > 10.0)
        || st.scale.iter().any(|s| !(0.05..=20.0).contains(s));
    far.then(|| {
        let m = st.mean.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let (lo, hi) = st
            .scale
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
        format!(
            "the data are far from scale 1 (|mean| up to {m:.3}, sd {lo:.3} to {hi:.3}) and were not standardised: the likely cause; standardise them (the command line does unless --no-standardize)"
        )
    })
}
