//! The training loop: minibatches from a data set, any [`Loss`], Adam with clipping and a schedule, a progress
//! bar, metrics as JSON lines, periodic atomic checkpoints, exact resume, and a stop on a non-finite loss that
//! keeps the last good checkpoint.
//!
//! Randomness: step k draws everything (batch, noise, projections) from an RNG seeded by (seed, k), so a run
//! resumed from a checkpoint continues exactly as the uninterrupted run would have.

use crate::error::ModelError;
use crate::io::{ModelFile, TrainingState};
use crate::loss::{self, tile_rows, Loss};
use crate::nn::{Kind, Model};
use crate::optim::{clip_grad_norm, Adam, Optimizer, Schedule};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use stein_autodiff::{TVar, Tape, Tensor};
use stein_scores::{Analytic, MultivariateNormal, Sample};

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
    /// Write a metrics line every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (and at the end), when `out` is set.
    pub checkpoint_every: usize,
    /// Folder for `checkpoint.json` and `metrics.jsonl`; `None` keeps everything in memory.
    pub out: Option<PathBuf>,
    /// Show a progress bar (only drawn when stderr is a terminal).
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
            out: None,
            progress: false,
        }
    }
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
    pub checkpoint: Option<PathBuf>,
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
    /// Free-form description saved with checkpoints.
    pub meta: serde_json::Value,
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
            meta: serde_json::Value::Null,
        }
    }

    /// Resume from a checkpoint written by [`Trainer::fit`].
    pub fn resume(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let f = ModelFile::load(path.as_ref())?;
        let state = f.training.ok_or_else(|| ModelError::BadModelFile {
            path: path.as_ref().display().to_string(),
            reason: "a model file without training state (not a checkpoint)".into(),
        })?;
        Ok(Trainer {
            model: f.model,
            optimizer: state.optimizer,
            step: state.step,
            extra: f.extra,
            extra_optimizer: state.extra_optimizer,
            buffer: state.buffer,
            meta: f.meta,
        })
    }

    /// The model file of the current state (a checkpoint when `with_state`).
    pub fn to_file(&self, with_state: bool) -> ModelFile {
        let mut f = ModelFile::new(self.model.clone());
        f.extra = self.extra.clone();
        f.meta = self.meta.clone();
        if with_state {
            f.training = Some(TrainingState {
                step: self.step,
                optimizer: self.optimizer.clone(),
                extra_optimizer: self.extra_optimizer.clone(),
                buffer: self.buffer.clone(),
            });
        }
        f
    }

    /// Train on `data` (`n × dim`) until `config.steps` steps are done in total. The loop runs on a worker of
    /// rayon's pool ([`stein_autodiff::on_pool`]), so the tensor kernels' parallel splits are cheap.
    pub fn fit(&mut self, data: &Tensor, config: &TrainConfig) -> Result<TrainReport, ModelError> {
        stein_autodiff::on_pool(|| self.fit_here(data, config))
    }

    fn fit_here(&mut self, data: &Tensor, config: &TrainConfig) -> Result<TrainReport, ModelError> {
        if data.cols() != self.model.dim {
            return Err(ModelError::BadParameter {
                param: "data",
                reason: format!(
                    "points of dimension {}, the model expects {}",
                    data.cols(),
                    self.model.dim
                ),
            });
        }
        if data.rows() < 2 {
            return Err(ModelError::BadParameter {
                param: "data",
                reason: format!("{} points; need at least 2", data.rows()),
            });
        }
        if matches!(config.loss, Loss::Nce | Loss::Cd { .. }) && self.model.kind != Kind::Energy {
            return Err(ModelError::BadParameter {
                param: "loss",
                reason: format!("{} needs an energy model", config.loss.name()),
            });
        }
        let ctx = Context::new(data, config)?;
        let mut metrics = match &config.out {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| ModelError::Io {
                    path: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
                let p = dir.join("metrics.jsonl");
                Some((
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&p)
                        .map_err(|e| ModelError::Io {
                            path: p.display().to_string(),
                            reason: e.to_string(),
                        })?,
                    p,
                ))
            }
            None => None,
        };
        let ckpt_path = config.out.as_ref().map(|d| d.join("checkpoint.json"));
        let mut last_ckpt: Option<PathBuf> = ckpt_path.as_ref().filter(|p| p.exists()).cloned();
        let bar = progress_bar(config, self.step);
        let t0 = Instant::now();
        let mut tape = Tape::new();
        let mut grads: Vec<Tensor> = Vec::new();
        let mut losses = Vec::new();
        while self.step < config.steps {
            let mut rng = step_rng(config.seed, self.step);
            let lr = config.schedule.rate(config.lr, self.step);
            let value = self.step_once(&mut tape, &ctx, config, &mut rng, &mut grads);
            let norm_ok = grads.iter().all(|g| g.data().iter().all(|v| v.is_finite()));
            if !value.is_finite() || !norm_ok {
                bar.abandon();
                return Err(ModelError::Diverged {
                    step: self.step,
                    loss: value,
                    checkpoint: last_ckpt.map(|p| p.display().to_string()),
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
            if self.step % config.log_every.max(1) == 0 || self.step == config.steps {
                losses.push((self.step, value));
                if let Some((f, p)) = metrics.as_mut() {
                    let line = serde_json::json!({
                        "step": self.step, "loss": value, "lr": lr, "grad_norm": norm,
                        "seconds": t0.elapsed().as_secs_f64(), "loss_name": config.loss.name(),
                    });
                    writeln!(f, "{line}").map_err(|e| ModelError::Io {
                        path: p.display().to_string(),
                        reason: e.to_string(),
                    })?;
                }
                bar.set_message(format!("loss {value:.4}"));
            }
            bar.set_position(self.step as u64);
            if let Some(p) = &ckpt_path {
                if self.step % config.checkpoint_every.max(1) == 0 || self.step == config.steps {
                    self.to_file(true).save(p)?;
                    last_ckpt = Some(p.clone());
                }
            }
        }
        bar.finish_and_clear();
        Ok(TrainReport {
            steps: self.step,
            losses,
            seconds: t0.elapsed().as_secs_f64(),
            checkpoint: last_ckpt,
        })
    }

    /// One loss and gradient evaluation; returns the loss, gradients in `grads` (network, then extras).
    fn step_once(
        &mut self,
        tape: &mut Tape,
        ctx: &Context,
        config: &TrainConfig,
        rng: &mut SmallRng,
        grads: &mut Vec<Tensor>,
    ) -> f64 {
        let b = config.batch;
        let x = sample_rows(ctx.data, b, rng);
        let model = &self.model;
        // draws that depend on the loss (taken before recording, so the tape holds the computation only)
        let negatives = if let Loss::Cd {
            steps, step_size, ..
        } = &config.loss
        {
            let buf = self.buffer.get_or_insert_with(|| ctx.uniform(b, rng));
            // persistent chains, 5% restarted from noise each step
            let d = buf.cols();
            for i in 0..buf.rows() {
                if rng.random::<f64>() < 0.05 {
                    let fresh = ctx.uniform(1, rng);
                    buf.data_mut()[i * d..(i + 1) * d].copy_from_slice(fresh.data());
                }
            }
            let moved = loss::langevin_negatives(model, buf, *steps, *step_size, rng);
            *buf = moved.clone();
            Some(moved)
        } else {
            None
        };
        if matches!(config.loss, Loss::Nce) && self.extra.is_empty() {
            self.extra.push(("log_z".into(), Tensor::zeros(1, 1)));
        }
        tape.clear();
        let model = &self.model;
        let p = model.net.lift(tape);
        let extra: Vec<TVar> = self.extra.iter().map(|e| tape.tensor(&e.1)).collect();
        let normal = |r: usize, c: usize, rng: &mut SmallRng| {
            Tensor::from_fn(r, c, |_, _| StandardNormal.sample(rng))
        };
        let l = match &config.loss {
            Loss::Dsm { sigma } => {
                let z = normal(b, model.dim, rng);
                loss::denoising(model, tape, &p, &x, &z, &Tensor::full(b, 1, *sigma))
            }
            Loss::Ncsn { sigmas } => {
                let z = normal(b, model.dim, rng);
                let s = Tensor::from_fn(b, 1, |_, _| sigmas[rng.random_range(0..sigmas.len())]);
                loss::denoising(model, tape, &p, &x, &z, &s)
            }
            Loss::Ssm {
                projections,
                variance_reduced,
                projection,
            } => {
                let xt = tile_rows(&x, *projections);
                let v = projection.draw(xt.rows(), xt.cols(), rng);
                loss::sliced(model, tape, &p, &xt, &v, *variance_reduced)
            }
            Loss::Ism => loss::implicit(model, tape, &p, &x),
            Loss::IsmHutchinson { projections } => {
                let xt = tile_rows(&x, *projections);
                let v = crate::loss::Projection::Rademacher.draw(xt.rows(), xt.cols(), rng);
                loss::implicit_hutchinson(model, tape, &p, &xt, &v)
            }
            Loss::Nce => {
                let q = ctx.noise.as_ref().expect("fitted for NCE");
                let xn = Tensor::new(b, model.dim, q.sample_n(rng, b).concat()).expect("b × dim");
                let lq = |t: &Tensor| {
                    Tensor::from_fn(t.rows(), 1, |i, _| {
                        q.log_pdf(t.row_slice(i)).expect("Gaussian")
                    })
                };
                loss::nce(model, tape, &p, extra[0], &x, &xn, &lq(&x), &lq(&xn))
            }
            Loss::Cd { alpha, .. } => loss::contrastive_divergence(
                model,
                tape,
                &p,
                &x,
                negatives.as_ref().expect("drawn"),
                *alpha,
            ),
        };
        let all: Vec<TVar> = p.iter().chain(&extra).copied().collect();
        if grads.len() != all.len() {
            *grads = all
                .iter()
                .map(|t| Tensor::zeros(t.rows(), t.cols()))
                .collect();
        }
        tape.grad_tensors_into(l, &all, grads);
        l.value()
    }
}

/// What a run computes once: the data, and the fitted noise law for NCE.
struct Context<'a> {
    data: &'a Tensor,
    noise: Option<MultivariateNormal>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl<'a> Context<'a> {
    fn new(data: &'a Tensor, config: &TrainConfig) -> Result<Self, ModelError> {
        let (n, d) = data.shape();
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for i in 0..n {
            for (j, &v) in data.row_slice(i).iter().enumerate() {
                lo[j] = lo[j].min(v);
                hi[j] = hi[j].max(v);
            }
        }
        let noise = if matches!(config.loss, Loss::Nce) {
            // a Gaussian fitted to the data (mean and covariance, slightly inflated)
            let mean: Vec<f64> = (0..d)
                .map(|j| (0..n).map(|i| data.get(i, j)).sum::<f64>() / n as f64)
                .collect();
            let cov: Vec<Vec<f64>> = (0..d)
                .map(|a| {
                    (0..d)
                        .map(|b| {
                            let c = (0..n)
                                .map(|i| (data.get(i, a) - mean[a]) * (data.get(i, b) - mean[b]))
                                .sum::<f64>()
                                / (n - 1) as f64;
                            c * 1.2 + if a == b { 1e-6 } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            Some(MultivariateNormal::new(mean, cov)?)
        } else {
            None
        };
        Ok(Context {
            data,
            noise,
            lo,
            hi,
        })
    }

    /// Points uniform on the data's bounding box, widened by 20% (initial/restarted negatives).
    fn uniform(&self, n: usize, rng: &mut SmallRng) -> Tensor {
        Tensor::from_fn(n, self.lo.len(), |_, j| {
            let w = self.hi[j] - self.lo[j];
            self.lo[j] - 0.1 * w + rng.random::<f64>() * 1.2 * w
        })
    }
}

/// `b` rows drawn uniformly with replacement.
pub fn sample_rows<R: Rng + ?Sized>(data: &Tensor, b: usize, rng: &mut R) -> Tensor {
    let (n, d) = data.shape();
    let mut out = Vec::with_capacity(b * d);
    for _ in 0..b {
        let i = rng.random_range(0..n);
        out.extend_from_slice(data.row_slice(i));
    }
    Tensor::new(b, d, out).expect("b × d")
}

fn progress_bar(config: &TrainConfig, start: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !config.progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(config.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps  {msg}  ({eta} left)",
        )
        .expect("valid template"),
    );
    bar.set_position(start as u64);
    bar
}
