//! One training loop for every network and every objective: minibatches, the objective's gradient, clipping,
//! a learning-rate schedule, Adam, finiteness checks, metrics, checkpoints, exact resume and a progress bar —
//! each rule written once, here.
//!
//! Randomness: step k draws everything (its minibatch, then the objective's noise, times, projections or
//! negatives) from an RNG seeded by (seed, k), so a run resumed from a checkpoint continues with the bits an
//! uninterrupted run would have.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::data::Toy;
//! use stein_models::fit::{FitOptions, Settings, Trainer};
//! use stein_models::nn::{Activation, Model};
//! use stein_models::objective::dsm::Dsm;
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
//! let data = Toy::EightGaussians.sample(2000, &mut rng);
//! let model = Model::score_net(2, &[64, 64], Activation::Softplus, &mut rng);
//! let mut trainer = Trainer::new(model.into(), Box::new(Dsm::new(0.5).unwrap()), Settings::default());
//! let report = trainer.fit(&data, &FitOptions::steps(50)).unwrap();
//! assert_eq!(trainer.step, 50);
//! assert!(report.losses.iter().all(|(_, l)| l.is_finite()));
//! ```

pub mod settings;

pub use settings::{LogRecord, Settings, MAX_BATCH, MAX_STEPS};

use crate::error::ModelError;
use crate::network::Network;
use crate::nn::Precision;
use crate::objective::{sample_rows, Objective, Single, Step};
use crate::optim::{clip_grad_norm, Adam};
use crate::progress::Progress;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::time::{Duration, Instant};
use stein_autodiff::Tensor;
#[cfg(feature = "io")]
use {
    crate::io::{ModelFile, TrainingState},
    std::path::Path,
};

/// What one call of [`Trainer::fit`] is asked to do.
#[derive(Clone, Debug, Default)]
pub struct FitOptions {
    /// Train until this many steps in total (counting those before a resume).
    pub steps: usize,
    /// Folder for `checkpoint.json` and `metrics.jsonl` ([`crate::io::RunFolder`], feature `io`); `None`
    /// keeps everything in memory.
    pub out: Option<std::path::PathBuf>,
    /// Draw a progress bar (feature `progress`; only on a terminal).
    pub progress: bool,
}

impl FitOptions {
    /// Train until `steps` steps in total, in memory, quietly.
    pub fn steps(steps: usize) -> Self {
        FitOptions {
            steps,
            ..Default::default()
        }
    }

    /// With a run folder for checkpoints and metrics.
    pub fn out(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.out = Some(dir.into());
        self
    }

    /// With a progress bar.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
}

/// What a call of [`Trainer::fit`] did.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Steps completed in total (including those before a resume).
    pub steps: usize,
    /// (step, loss) at every logged step of this call.
    pub losses: Vec<(usize, f64)>,
    /// Wall time of this call in seconds.
    pub seconds: f64,
    /// The path of the last checkpoint written, if any.
    pub checkpoint: Option<std::path::PathBuf>,
}

impl FitReport {
    /// Mean of the last `k` logged losses (`None` when none were logged).
    pub fn final_loss(&self, k: usize) -> Option<f64> {
        let tail = &self.losses[self.losses.len().saturating_sub(k)..];
        (!tail.is_empty()).then(|| tail.iter().map(|l| l.1).sum::<f64>() / tail.len() as f64)
    }
}

/// A network being trained by an objective, with its optimiser and where it stands.
pub struct Trainer {
    /// The network being trained (the last step's parameters). The model to sample, score or save is
    /// [`Trainer::averaged`]: the same network unless the run keeps a moving average ([`Settings::ema`]).
    pub network: Network,
    /// The objective (with its own state).
    pub objective: Box<dyn Objective>,
    /// Adam's state over the network's parameters, then the objective's own tensors.
    pub optimizer: Adam,
    /// The run's settings.
    pub settings: Settings,
    /// Steps completed.
    pub step: usize,
    /// The total of steps the run was last asked for (kept in checkpoints: a continued run goes there).
    pub target_steps: Option<usize>,
    /// The training data's name or path, kept in model files for the record.
    pub data: String,
    /// The moving average of the network's parameters ([`Settings::ema`]; `None` without one, or before
    /// the first step).
    pub average: Option<Vec<Tensor>>,
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
    /// Start training `network` with `objective` from scratch.
    pub fn new(network: Network, objective: Box<dyn Objective>, settings: Settings) -> Self {
        Trainer {
            network,
            objective,
            optimizer: Adam::new(),
            settings,
            step: 0,
            target_steps: None,
            data: String::new(),
            average: None,
        }
    }

    /// The model the run stands for: the network with its parameters' moving average when the run keeps
    /// one ([`Settings::ema`]), else the network itself.
    pub fn averaged(&self) -> Network {
        let mut net = self.network.clone();
        if let Some(avg) = self
            .average
            .as_ref()
            .filter(|_| self.settings.ema.is_some())
        {
            net.params_mut().clone_from_slice(avg);
        }
        net
    }

    /// Train on `data` (`n × dim`, data coordinates: mapped to model coordinates by the network's
    /// standardisation) until `opts.steps` steps are done in total. The loop runs on a worker of rayon's
    /// pool ([`stein_autodiff::on_pool`]).
    ///
    /// Errors before any step: settings out of range, an objective that cannot train this network in this
    /// precision, data of the wrong dimension or with fewer than 2 points, an optimiser state that does not fit
    /// the parameters. During the run: a non-finite loss or gradient stops it at that step, before the update
    /// (the last checkpoint stays); an objective's own failure (its sampler's) stops it with its message.
    pub fn fit(&mut self, data: &Tensor, opts: &FitOptions) -> Result<FitReport, ModelError> {
        stein_autodiff::on_pool(|| self.fit_here(data, opts))
    }

    /// Every check `fit` makes before its first step; returns the data in model coordinates.
    fn prepare(&mut self, data: &Tensor, opts: &FitOptions) -> Result<Tensor, ModelError> {
        let bad = |param, value: String, reason: String| ModelError::BadParameter {
            param,
            value,
            reason,
        };
        self.settings.validate()?;
        if opts.steps > MAX_STEPS {
            return Err(bad(
                "steps",
                opts.steps.to_string(),
                format!("at most {MAX_STEPS}"),
            ));
        }
        let rows = self
            .settings
            .batch
            .saturating_mul(self.objective.rows_per_point());
        if rows > MAX_BATCH {
            return Err(bad(
                "batch",
                self.settings.batch.to_string(),
                format!(
                    "× {} rows per point is more than {MAX_BATCH} rows",
                    self.objective.rows_per_point()
                ),
            ));
        }
        self.objective.check(&self.network)?;
        if data.cols() != self.network.dim() {
            return Err(bad(
                "data",
                format!("{} columns", data.cols()),
                format!("the model has dimension {}", self.network.dim()),
            ));
        }
        if data.rows() < 2 {
            return Err(bad(
                "data",
                format!("{} points", data.rows()),
                "need at least 2".into(),
            ));
        }
        if let Some(v) = data.data().iter().find(|v| !v.is_finite()) {
            return Err(bad(
                "data",
                v.to_string(),
                "every value must be finite".into(),
            ));
        }
        let shapes: Vec<(usize, usize)> = self
            .network
            .params()
            .iter()
            .chain(self.objective.extra())
            .map(Tensor::shape)
            .collect();
        self.optimizer.validate(&shapes)?;
        let mut z = data.clone();
        if let Some(st) = self.network.standardization() {
            st.to_model(&mut z);
        }
        self.objective.prepare(&mut self.network, &z)?;
        self.network.validate()?;
        self.target_steps = Some(opts.steps);
        Ok(z)
    }

    fn fit_here(&mut self, data: &Tensor, opts: &FitOptions) -> Result<FitReport, ModelError> {
        let z = self.prepare(data, opts)?;
        #[cfg(feature = "io")]
        let mut folder = match &opts.out {
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
        let s = self.settings.clone();
        let mut single = (s.precision == Precision::F32).then(|| Single::new(&self.network));
        let bar = Progress::new(opts.progress, opts.steps, self.step, "steps");
        let t0 = Instant::now();
        let mut losses = Vec::new();
        while self.step < opts.steps {
            let mut rng = step_rng(s.seed, self.step);
            let lr = s.schedule.rate(s.lr, self.step);
            let batch = sample_rows(&z, s.batch, &mut rng);
            let step = Step {
                net: &self.network,
                batch: &batch,
                rng: &mut rng,
                precision: s.precision,
                single: single.as_ref(),
            };
            let g = self
                .objective
                .gradient(step)
                .inspect_err(|_| bar.abandon())?;
            let (loss, mut grads) = (g.loss, g.grads);
            let finite = grads.iter().all(|g| g.data().iter().all(|v| v.is_finite()));
            if !loss.is_finite() || !finite {
                bar.abandon();
                return Err(ModelError::Diverged {
                    step: self.step,
                    loss,
                    checkpoint: last_checkpoint(&folder).map(|p| p.display().to_string()),
                    hint: scale_hint(&z, self.network.standardization().is_some())
                        .or_else(|| Some("lower the learning rate".into())),
                });
            }
            let norm = match s.clip {
                Some(c) => clip_grad_norm(&mut grads, c),
                None => grads
                    .iter()
                    .flat_map(|g| g.data())
                    .map(|v| v * v)
                    .sum::<f64>()
                    .sqrt(),
            };
            let params = self.network.params_mut().iter_mut();
            self.optimizer
                .step_all(params.chain(self.objective.extra_mut()), &grads, lr);
            if let Some(single) = single.as_mut() {
                single.refresh(&self.network);
            }
            self.step += 1;
            if let Some(decay) = s.ema {
                average(&mut self.average, self.network.params(), decay, self.step);
            }
            if self.step.is_multiple_of(s.log_every) || self.step == opts.steps {
                losses.push((self.step, loss));
                #[cfg(feature = "io")]
                if let Some(f) = folder.as_mut() {
                    f.log(&LogRecord {
                        step: self.step,
                        loss,
                        lr,
                        grad_norm: norm,
                        seconds: t0.elapsed().as_secs_f64(),
                        loss_name: self.objective.name().into(),
                    })?;
                }
                let _ = norm;
                bar.message(format!("loss {loss:.4}"));
            }
            bar.set(self.step);
            #[cfg(feature = "io")]
            if let Some(f) = folder.as_mut() {
                if self.step.is_multiple_of(s.checkpoint_every) || self.step == opts.steps {
                    f.checkpoint(&self.to_file(true))?;
                }
            }
        }
        bar.finish();
        Ok(FitReport {
            steps: self.step,
            losses,
            seconds: t0.elapsed().as_secs_f64(),
            checkpoint: last_checkpoint(&folder),
        })
    }

    /// How many steps fit in `budget`: the median time of three gradient evaluations on the run's first
    /// minibatch (nothing is updated), with a margin of 10%. At least 1.
    pub fn steps_in(&mut self, data: &Tensor, budget: Duration) -> Result<usize, ModelError> {
        let z = self.prepare(data, &FitOptions::steps(self.step + 1))?;
        let single =
            (self.settings.precision == Precision::F32).then(|| Single::new(&self.network));
        // a copy: a timing must not move the objective's state (chains, buffers)
        let mut objective = self.objective.clone();
        let mut times = Vec::new();
        for _ in 0..3 {
            let t0 = Instant::now();
            let mut rng = step_rng(self.settings.seed, self.step);
            let batch = sample_rows(&z, self.settings.batch, &mut rng);
            stein_autodiff::on_pool(|| {
                objective.gradient(Step {
                    net: &self.network,
                    batch: &batch,
                    rng: &mut rng,
                    precision: self.settings.precision,
                    single: single.as_ref(),
                })
            })?;
            times.push(t0.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let per_step = times[1].max(1e-6);
        Ok(((0.9 * budget.as_secs_f64() / per_step) as usize).clamp(1, MAX_STEPS))
    }
}

#[cfg(feature = "io")]
impl Trainer {
    /// The model file of the current state: the network, the objective's record, and with `with_state` the
    /// training state (a checkpoint).
    /// A finished model file holds [`Trainer::averaged`]; a checkpoint the raw network, with the average in
    /// its training state.
    pub fn to_file(&self, with_state: bool) -> ModelFile {
        ModelFile {
            network: if with_state {
                self.network.clone()
            } else {
                self.averaged()
            },
            objective: Some(self.objective.record()),
            training: with_state.then(|| TrainingState {
                step: self.step,
                optimizer: self.optimizer.clone(),
                settings: self.settings.clone(),
                target_steps: self.target_steps,
                average: self.average.clone(),
            }),
            data: self.data.clone(),
        }
    }

    /// Continue the run of a checkpoint written by [`Trainer::fit`] (any version, migrated): the network,
    /// the objective rebuilt from its record, Adam's state, the settings, the step.
    pub fn resume(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let f = ModelFile::load(path)?;
        let record = f.objective.clone().ok_or_else(|| not_checkpoint(path))?;
        let objective = crate::objective::from_record(&record)?;
        Self::from_checkpoint(path, f, objective)
    }

    /// [`Trainer::resume`] with the objective given (one no file can hold, such as explicit score matching
    /// with its target); its name must be the checkpoint's.
    pub fn resume_with(
        path: impl AsRef<Path>,
        objective: Box<dyn crate::objective::Objective>,
    ) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let f = ModelFile::load(path)?;
        let saved = f
            .objective
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        if saved != objective.name() {
            return Err(ModelError::BadParameter {
                param: "objective",
                value: objective.name().into(),
                reason: format!("{} was trained with {saved}", path.display()),
            });
        }
        Self::from_checkpoint(path, f, objective)
    }

    fn from_checkpoint(
        path: &Path,
        f: ModelFile,
        objective: Box<dyn crate::objective::Objective>,
    ) -> Result<Self, ModelError> {
        let state = f.training.ok_or_else(|| not_checkpoint(path))?;
        if let Some(avg) = &state.average {
            let fits = avg.len() == f.network.params().len()
                && avg
                    .iter()
                    .zip(f.network.params())
                    .all(|(a, p)| a.shape() == p.shape() && a.data().iter().all(|v| v.is_finite()));
            if !fits {
                return Err(ModelError::BadModelFile {
                    path: path.display().to_string(),
                    reason: "its parameters' average does not fit the network (shapes or values)"
                        .into(),
                });
            }
        }
        Ok(Trainer {
            network: f.network,
            objective,
            optimizer: state.optimizer,
            settings: state.settings,
            step: state.step,
            target_steps: state.target_steps,
            data: f.data,
            average: state.average,
        })
    }
}

#[cfg(feature = "io")]
fn not_checkpoint(path: &Path) -> ModelError {
    ModelError::BadModelFile {
        path: path.display().to_string(),
        reason: "a model file without training state (not a checkpoint)".into(),
    }
}

/// avg ← d avg + (1 − d) θ after step k (counted from 1), d = min(decay, (1 + k)/(10 + k)); the first
/// average is θ itself.
fn average(avg: &mut Option<Vec<Tensor>>, params: &[Tensor], decay: f64, k: usize) {
    let Some(avg) = avg.as_mut().filter(|a| a.len() == params.len()) else {
        *avg = Some(params.to_vec());
        return;
    };
    let d = decay.min((1.0 + k as f64) / (10.0 + k as f64));
    for (a, p) in avg.iter_mut().zip(params) {
        a.data_mut()
            .iter_mut()
            .zip(p.data())
            .for_each(|(a, &p)| *a = d * *a + (1.0 - d) * p);
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
