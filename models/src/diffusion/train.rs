//! Training a time-conditional model by continuous-time denoising score matching (Song et al. 2021, eq. 7):
//! t ~ U(ε, T), x_t = α(t) x₀ + σ(t) z, loss λ(t) ‖s_θ(x_t, t) + z/σ(t)‖² with λ = σ² (the "simple" ε loss of
//! DDPM) or λ = g² (the likelihood weighting, which bounds the negative log-likelihood). Adam with a cosine
//! schedule, gradients clipped; and the per-t Fisher divergence to an exact truth.

use super::net::TimeModel;
use super::TimeScore;
use crate::optim::{clip_grad_norm, Adam, Optimizer, Schedule};
use crate::ModelError;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use stein_autodiff::{TVar, Tape, Tensor};

/// The loss weighting λ(t).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// λ = σ(t)²: ‖σ s + z‖², the ε-prediction loss.
    Simple,
    /// λ = g(t)²: the likelihood weighting.
    Likelihood,
}

/// Settings of [`fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
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
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        DiffusionConfig {
            steps: 4000,
            batch: 512,
            lr: 4e-3,
            weighting: Weighting::Simple,
            seed: 0,
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
    let (b, d) = x0.shape();
    let xt = Tensor::from_fn(b, d, |i, j| {
        sde.alpha(t[i]) * x0.get(i, j) + sde.sigma(t[i]) * z.get(i, j)
    });
    let s = model.score(tape, p, tape.tensor_const(&xt), t);
    // λ ‖s + z/σ‖² = (λ/σ²) ‖σ s + z‖²
    let sigma = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| sde.sigma(t[i])));
    let weight = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| match weighting {
        Weighting::Simple => 1.0,
        Weighting::Likelihood => (sde.diffusion(t[i]) / sde.sigma(t[i])).powi(2),
    }));
    let r = s * sigma + tape.tensor_const(z);
    (r.square() * weight).sum() / b as f64
}

/// Train `model` on the rows of `data` (model coordinates) for `cfg.steps` steps; returns (step, loss) every
/// 10 steps.
pub fn fit(
    model: &mut TimeModel,
    data: &Tensor,
    cfg: &DiffusionConfig,
) -> Result<Vec<(usize, f64)>, ModelError> {
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
    let schedule = Schedule::Cosine {
        total: cfg.steps,
        min_factor: 0.05,
    };
    let mut opt = Adam::new();
    let (eps, big_t) = model.sde.time_range();
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let mut log = Vec::new();
    let (b, d) = (cfg.batch, model.dim);
    for step in 0..cfg.steps {
        let x0 = Tensor::from_fn(b, d, {
            let rows: Vec<usize> = (0..b).map(|_| rng.random_range(0..data.rows())).collect();
            move |i, j| data.get(rows[i], j)
        });
        let t: Vec<f64> = (0..b)
            .map(|_| eps + (big_t - eps) * rng.random::<f64>())
            .collect();
        let z = Tensor::from_fn(b, d, |_, _| rng.sample(StandardNormal));
        let (loss, mut grads) = stein_autodiff::with_tape(|tape| {
            let p = model.net.lift(tape);
            let l = denoising_loss(model, tape, &p, &x0, &t, &z, cfg.weighting);
            (l.value(), tape.grad_tensors(l, &p))
        });
        if !loss.is_finite() {
            return Err(ModelError::Diverged {
                step,
                loss,
                checkpoint: None,
                hint: Some("lower the learning rate".into()),
            });
        }
        clip_grad_norm(&mut grads, 1.0);
        opt.step(&mut model.net.params, &grads, schedule.rate(cfg.lr, step));
        if step % 10 == 0 || step + 1 == cfg.steps {
            log.push((step, loss));
        }
    }
    Ok(log)
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
