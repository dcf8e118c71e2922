//! Training a time-conditional model by continuous-time denoising score matching (Song et al. 2021, eq. 7):
//! t ~ U(ε, T), x_t = α(t) x₀ + σ(t) z, loss λ(t) ‖s_θ(x_t, t) + z/σ(t)‖² with λ = σ² (the "simple" ε loss of
//! DDPM) or λ = g² (the likelihood weighting, which bounds the negative log-likelihood). Adam with a cosine
//! schedule, gradients clipped; and the per-t Fisher divergence to an exact truth.

use super::net::TimeModel;
use super::TimeScore;
use crate::nn::Precision;
use crate::optim::{clip_grad_norm, Adam, Optimizer, Schedule};
use crate::shard::rows_of;
use crate::ModelError;
use rand::RngExt;
use rand_distr::StandardNormal;
use stein_autodiff::{TVar, Tape, Tensor};

/// The loss weighting λ(t).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Weighting {
    /// λ = σ(t)²: ‖σ s + z‖², the ε-prediction loss.
    Simple,
    /// λ = g(t)²: the likelihood weighting, with t uniform (the weight g²/σ² varies by orders of magnitude
    /// over t, so the gradient is noisy).
    Likelihood,
    /// λ = g(t)² with t drawn with density ∝ g(t)²/σ(t)² (importance sampling, Song, Durkan, Murray & Ermon
    /// 2021): the same objective up to a constant, each draw weighted equally, so the gradient's variance
    /// drops.
    LikelihoodImportance,
}

impl Weighting {
    /// The weight w(t) of ‖σ s + z‖² (λ(t)/σ(t)²; draws of t by importance already carry it).
    pub fn weight(self, sde: &super::Sde, t: f64) -> f64 {
        match self {
            Weighting::Simple | Weighting::LikelihoodImportance => 1.0,
            Weighting::Likelihood => (sde.diffusion(t) / sde.sigma(t)).powi(2),
        }
    }
}

/// The noised rows x_t = α(t) x₀ + σ(t) z, one time per row, and each row's (α, σ).
pub(crate) fn noised(
    sde: &super::Sde,
    x0: &Tensor,
    t: &[f64],
    z: &Tensor,
) -> (Tensor, Vec<(f64, f64)>) {
    let (b, d) = x0.shape();
    let coefficients: Vec<(f64, f64)> = t.iter().map(|&t| (sde.alpha(t), sde.sigma(t))).collect();
    let mut xt = x0.clone();
    let rows = xt
        .data_mut()
        .chunks_exact_mut(d.max(1))
        .zip(z.data().chunks_exact(d.max(1)));
    for ((row, zr), (a, s)) in rows.zip(&coefficients).take(b) {
        row.iter_mut()
            .zip(zr)
            .for_each(|(x, z)| *x = a * *x + s * z);
    }
    (xt, coefficients)
}

/// Draws of t ∈ [ε, T] with density ∝ g(t)²/σ(t)², by inverting its CDF tabulated on 4,096 cells (the
/// weight is integrable: it behaves like 1/t near 0 only at exactly t = 0, which [ε, T] excludes).
struct ImportanceTimes {
    grid: Vec<f64>,
    cdf: Vec<f64>,
}

impl ImportanceTimes {
    fn new(sde: &super::Sde, (eps, big_t): (f64, f64)) -> Self {
        let n = 4096;
        // cells uniform in log t: the weight changes fastest near ε
        let grid: Vec<f64> = (0..=n)
            .map(|k| eps * (big_t / eps).powf(k as f64 / n as f64))
            .collect();
        let w = |t: f64| (sde.diffusion(t) / sde.sigma(t)).powi(2);
        let mut cdf = vec![0.0];
        for k in 0..n {
            let (a, b) = (grid[k], grid[k + 1]);
            cdf.push(cdf[k] + 0.5 * (w(a) + w(b)) * (b - a));
        }
        let total = cdf[n];
        cdf.iter_mut().for_each(|c| *c /= total);
        ImportanceTimes { grid, cdf }
    }

    fn draw(&self, u: f64) -> f64 {
        let k = self
            .cdf
            .partition_point(|&c| c < u)
            .clamp(1, self.cdf.len() - 1);
        let (c0, c1) = (self.cdf[k - 1], self.cdf[k]);
        let f = if c1 > c0 { (u - c0) / (c1 - c0) } else { 0.5 };
        self.grid[k - 1] + f * (self.grid[k] - self.grid[k - 1])
    }
}

/// Settings of [`fit`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiffusionConfig {
    /// Optimiser steps (4,000).
    pub steps: usize,
    /// Minibatch size (512).
    pub batch: usize,
    /// Peak learning rate (4·10⁻³), cosine-decayed to 5%.
    pub lr: f64,
    /// The weighting λ(t) (simple).
    pub weighting: Weighting,
    /// Seed of the minibatches, times and noise (0).
    pub seed: u64,
    /// The arithmetic of the forward and backward passes (f64); with f32 the parameters and the optimiser
    /// stay f64 ([`super::single`]).
    #[serde(default)]
    pub precision: Precision,
    /// Hand the state to [`fit_from`]'s callback every this many steps (500; 0: at the end only).
    #[serde(skip, default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Draw a progress bar on a terminal (feature `progress`).
    #[serde(skip)]
    pub progress: bool,
}

fn default_checkpoint_every() -> usize {
    500
}

/// Where a training run stands: the steps done, the optimiser's moments and the losses logged so far. Every
/// step draws from its own stream ([`crate::train::step_rng`]), so a run continued from a state makes the
/// same draws, and ends with the same bits, as one never interrupted.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FitState {
    /// Steps completed.
    pub step: usize,
    /// Adam's moments.
    pub optimizer: Adam,
    /// (step, loss) every 10 steps.
    pub losses: Vec<(usize, f64)>,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        DiffusionConfig {
            steps: 4000,
            batch: 512,
            lr: 4e-3,
            weighting: Weighting::Simple,
            seed: 0,
            precision: Precision::F64,
            checkpoint_every: default_checkpoint_every(),
            progress: false,
        }
    }
}

/// The denoising loss of a batch of data rows `x0` at times `t` with noise `z` (rows), on the tape.
pub fn denoising_loss<'t>(
    model: &TimeModel,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x0: &Tensor,
    t: &[f64],
    z: &Tensor,
    weighting: Weighting,
) -> stein_autodiff::Var<'t> {
    let sde = &model.sde;
    let b = x0.rows();
    let (xt, coefficients) = noised(sde, x0, t, z);
    let s = model.score(tape, p, tape.tensor_const(&xt), t);
    // λ ‖s + z/σ‖² = (λ/σ²) ‖σ s + z‖²
    let sigma = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| coefficients[i].1));
    let weight = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| weighting.weight(sde, t[i])));
    let r = s * sigma + tape.tensor_const(z);
    (r.square() * weight).sum() / b as f64
}

/// Train `model` on the rows of `data` (model coordinates) for `cfg.steps` steps; returns (step, loss) every
/// 10 steps. The loop runs on a worker of rayon's pool ([`stein_autodiff::on_pool`]).
pub fn fit(
    model: &mut TimeModel,
    data: &Tensor,
    cfg: &DiffusionConfig,
) -> Result<Vec<(usize, f64)>, ModelError> {
    let mut state = FitState::default();
    fit_from(model, data, cfg, &mut state, &mut |_, _| Ok(()))?;
    Ok(state.losses)
}

/// [`fit`] from `state` to `cfg.steps` in total, handing the model and state to `checkpoint` at the start of a
/// fresh run (step 0), every `cfg.checkpoint_every` steps and at the end (a run interrupted after a checkpoint continues from it with
/// the same bits). The learning rate follows the cosine schedule over `cfg.steps`.
///
/// ```
/// use rand::SeedableRng;
/// use stein_autodiff::Tensor;
/// use stein_models::diffusion::net::{Output, TimeModel};
/// use stein_models::diffusion::train::{fit_from, DiffusionConfig, FitState};
/// use stein_models::diffusion::Sde;
///
/// let data = Tensor::from_fn(64, 2, |i, j| ((i * 2 + j) as f64).sin());
/// let mut model = TimeModel::new(2, &[8], Output::Noise, Sde::vp(0.1, 20.0).unwrap(),
///                                &mut rand::rngs::SmallRng::seed_from_u64(1)).unwrap();
/// let cfg = DiffusionConfig { steps: 30, batch: 16, checkpoint_every: 10, ..Default::default() };
/// let mut at_10 = None; // what a checkpoint file would keep
/// let mut state = FitState::default();
/// fit_from(&mut model, &data, &cfg, &mut state, &mut |m, s| {
///     if s.step == 10 { at_10 = Some((m.clone(), s.clone())); }
///     Ok(())
/// }).unwrap();
/// // continued from step 10, the run ends with the same bits
/// let (mut again, mut from) = at_10.unwrap();
/// fit_from(&mut again, &data, &cfg, &mut from, &mut |_, _| Ok(())).unwrap();
/// assert_eq!(again, model);
/// ```
///
/// # Errors
/// Bad data or settings, a state ahead of `cfg.steps` or whose moments do not fit the model, a diverged
/// loss, or the callback's own error.
pub fn fit_from(
    model: &mut TimeModel,
    data: &Tensor,
    cfg: &DiffusionConfig,
    state: &mut FitState,
    checkpoint: &mut (dyn FnMut(&TimeModel, &FitState) -> Result<(), ModelError> + Send),
) -> Result<(), ModelError> {
    stein_autodiff::on_pool(|| fit_here(model, data, cfg, state, checkpoint))
}

fn fit_here(
    model: &mut TimeModel,
    data: &Tensor,
    cfg: &DiffusionConfig,
    state: &mut FitState,
    checkpoint: &mut (dyn FnMut(&TimeModel, &FitState) -> Result<(), ModelError> + Send),
) -> Result<(), ModelError> {
    let bad = |param, reason: String| Err(ModelError::BadParameter { param, reason });
    if data.rows() < 2 || data.cols() != model.dim {
        return bad(
            "data",
            format!(
                "{} rows of {} columns for a model of dimension {}",
                data.rows(),
                data.cols(),
                model.dim
            ),
        );
    }
    if cfg.steps == 0
        || cfg.batch == 0
        || cfg.batch > 1 << 20
        || !(cfg.lr > 0.0 && cfg.lr.is_finite())
    {
        return bad(
            "config",
            format!(
                "steps {}, batch {}, lr {}: need ≥ 1, 1 to 2²⁰, positive",
                cfg.steps, cfg.batch, cfg.lr
            ),
        );
    }
    if state.step > cfg.steps {
        return bad(
            "state",
            format!("at step {} of a run of {} steps", state.step, cfg.steps),
        );
    }
    if let Err(reason) = state.optimizer.validate(&model.net.params) {
        return bad("state", format!("the optimiser's moments: {reason}"));
    }
    let schedule = Schedule::Cosine {
        total: cfg.steps,
        min_factor: 0.05,
    };
    let (eps, big_t) = super::time_span(model, &model.sde);
    let importance = (cfg.weighting == Weighting::LikelihoodImportance)
        .then(|| ImportanceTimes::new(&model.sde, (eps, big_t)));
    let bar = crate::progress::Progress::new(cfg.progress, cfg.steps, state.step, "steps");
    let (b, d) = (cfg.batch, model.dim);
    let mut single =
        (cfg.precision == Precision::F32).then(|| super::single::TimeModel32::new(model));
    // f32 passes do half the work per row: shards twice as large
    let most = match cfg.precision {
        Precision::F64 => crate::shard::SHARD_ROWS,
        Precision::F32 => 2 * crate::shard::SHARD_ROWS,
    };
    let shard = crate::shard::shard_rows_up_to(b, most);
    if state.step == 0 {
        // a fresh run hands its state over at once, so a run folder holds a checkpoint from the start
        checkpoint(model, state)?;
    }
    while state.step < cfg.steps {
        let step = state.step;
        let mut rng = crate::train::step_rng(cfg.seed, step);
        let x0 = Tensor::from_fn(b, d, {
            let rows: Vec<usize> = (0..b).map(|_| rng.random_range(0..data.rows())).collect();
            move |i, j| data.get(rows[i], j)
        });
        let t: Vec<f64> = (0..b)
            .map(|_| match &importance {
                Some(it) => it.draw(rng.random::<f64>()),
                None => eps + (big_t - eps) * rng.random::<f64>(),
            })
            .collect();
        let z = Tensor::from_fn(b, d, |_, _| rng.sample(StandardNormal));
        // data-parallel over shards of rows (crate::shard)
        if let Some(single) = &mut single {
            single.refresh(model);
        }
        let (loss, mut grads) = crate::shard::sharded_by(b, shard, |lo, hi| {
            let (x0, z) = (rows_of(&x0, lo, hi), rows_of(&z, lo, hi));
            if let Some(single) = &single {
                return single.denoising_loss_grad(&x0, &t[lo..hi], &z, cfg.weighting);
            }
            stein_autodiff::with_tape(|tape| {
                let p = model.net.lift(tape);
                let l = denoising_loss(model, tape, &p, &x0, &t[lo..hi], &z, cfg.weighting);
                (l.value(), tape.grad_tensors(l, &p))
            })
        });
        if !loss.is_finite() {
            bar.abandon();
            return Err(ModelError::Diverged {
                step,
                loss,
                checkpoint: None,
                hint: Some("lower the learning rate".into()),
            });
        }
        clip_grad_norm(&mut grads, 1.0);
        state
            .optimizer
            .step(&mut model.net.params, &grads, schedule.rate(cfg.lr, step));
        state.step += 1;
        if step.is_multiple_of(10) || step + 1 == cfg.steps {
            state.losses.push((step, loss));
            bar.set(step + 1);
            bar.message(format!("loss {loss:.4}"));
        }
        let every = cfg.checkpoint_every;
        if (every > 0 && state.step.is_multiple_of(every)) || state.step == cfg.steps {
            if let Err(e) = checkpoint(model, state) {
                bar.abandon();
                return Err(e);
            }
        }
    }
    bar.finish();
    Ok(())
}

/// The Fisher divergence E_{x ~ p_t} ‖s(x, t) − s*(x, t)‖² between two time scores at time t over draws of
/// p_t (rows of `x`).
pub fn fisher_divergence_at<A: TimeScore + ?Sized, B: TimeScore + ?Sized>(
    a: &A,
    b: &B,
    x: &Tensor,
    t: f64,
) -> f64 {
    let (mut sa, mut sb) = (Tensor::zeros(0, 0), Tensor::zeros(0, 0));
    a.score_at(x, t, &mut sa);
    b.score_at(x, t, &mut sb);
    sa.data()
        .iter()
        .zip(sb.data())
        .map(|(u, v)| (u - v).powi(2))
        .sum::<f64>()
        / x.rows().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The importance draws have the mean of the density ∝ g²/σ² (a fine trapezoid rule on a log grid).
    #[test]
    fn importance_times_follow_their_density() {
        for sde in [
            super::super::Sde::vp(0.1, 20.0).unwrap(),
            super::super::Sde::sub_vp(0.1, 20.0).unwrap(),
        ] {
            let (eps, big_t) = sde.time_range();
            let it = ImportanceTimes::new(&sde, (eps, big_t));
            let w = |t: f64| (sde.diffusion(t) / sde.sigma(t)).powi(2);
            let n = 200_000;
            let grid: Vec<f64> = (0..=n)
                .map(|k| eps * (big_t / eps).powf(k as f64 / n as f64))
                .collect();
            let (mut z, mut m) = (0.0, 0.0);
            for k in 0..n {
                let (a, b) = (grid[k], grid[k + 1]);
                z += 0.5 * (w(a) + w(b)) * (b - a);
                m += 0.5 * (a * w(a) + b * w(b)) * (b - a);
            }
            let want = m / z;
            let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
            let draws: Vec<f64> = (0..100_000).map(|_| it.draw(rng.random::<f64>())).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let sd =
                (draws.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / draws.len() as f64).sqrt();
            let se = sd / (draws.len() as f64).sqrt();
            assert!(
                (mean - want).abs() < 4.0 * se + 1e-4,
                "{sde:?}: mean {mean} vs {want} ± {se}"
            );
            assert!(draws.iter().all(|t| (eps..=big_t).contains(t)));
        }
    }
}
