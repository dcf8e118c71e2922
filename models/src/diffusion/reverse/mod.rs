//! Reverse-time samplers: from the prior at t = T back to the data at t = ε ([`super::time_span`]), for any [`TimeScore`] (a trained
//! network or an exact truth), all particles in one batch. Each particle draws its noise from its own
//! stream (seed, particle), so results do not depend on the number of threads.
//!
//! - Euler–Maruyama on the reverse SDE dx = [a(t) x − g(t)² s(x, t)] dt + g(t) dw̄ (the last step without
//!   noise, as Song et al. do).
//! - Predictor–corrector: before each reverse-diffusion step, Langevin corrector steps whose size is set by a
//!   signal-to-noise ratio r: ε = 2 (r ‖z‖ / ‖s‖)² (batch means of the norms), scaled by 1 − β(t)Δt for VP.
//! - The probability-flow ODE dx/dt = a(t) x − ½ g(t)² s(x, t): deterministic, with Heun or RK4 in fixed
//!   steps or adaptive Dormand–Prince.
//! - DDIM with η (η = 1: DDPM's ancestral sampler) and EDM's Heun sampler on the ρ = 7 noise schedule.
//! - DPM-Solver++(2M) and UniPC: second-order multistep solvers of the probability-flow ODE in its
//!   data-prediction form, one network evaluation per step (`multistep.rs`).

mod edm;
mod multistep;

pub use multistep::LOWER_ORDER_FINAL;

use super::ode::{self, Fixed, Stats, Tolerance};
use super::{Sde, TimeScore};
use crate::ModelError;
use edm::edm_heun;
use multistep::{multistep, Solver};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use stein_autodiff::Tensor;

/// How to go from noise to data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Euler–Maruyama on the reverse SDE, `steps` equal steps.
    EulerMaruyama {
        /// Steps from T to ε.
        steps: usize,
    },
    /// Reverse-diffusion predictor with Langevin correctors (Song et al. 2021, algorithm 1 / 2).
    PredictorCorrector {
        /// Predictor steps.
        steps: usize,
        /// Corrector steps before each predictor step (1).
        corrector_steps: usize,
        /// The signal-to-noise ratio r (0.16 in Song et al.; 0.1 to 0.2 for toys).
        snr: f64,
    },
    /// The probability-flow ODE in `steps` fixed steps.
    ProbabilityFlow {
        /// Steps.
        steps: usize,
        /// Heun or RK4.
        solver: Fixed,
    },
    /// The probability-flow ODE with adaptive Dormand–Prince.
    ProbabilityFlowAdaptive(Tolerance),
    /// DDIM (Song, Meng & Ermon 2021) on the SDE's (α, σ): from the score's ε̂ = −σ_t s and x̂₀ = (x − σ_t ε̂)/α_t,
    /// x_s = α_s x̂₀ + √(σ_s² − c²) ε̂ + c z with c = η σ_s √(σ_t² − (α_t/α_s)² σ_s²) / σ_t. η = 0 is
    /// deterministic (a discretisation of the probability-flow ODE); η = 1 samples the forward process's
    /// posterior q(x_s | x_t, x̂₀): DDPM's ancestral sampler.
    Ddim {
        /// Steps.
        steps: usize,
        /// η ∈ [0, 1].
        eta: f64,
    },
    /// EDM's second-order Heun sampler (Karras et al. 2022, algorithm 1) in the VE frame x̃ = x/α,
    /// σ̃ = σ/α, with σ̃ᵢ = (σ̃_max^{1/ρ} + i/(N−1) (σ̃_min^{1/ρ} − σ̃_max^{1/ρ}))^ρ, ρ = 7, and a last Euler step
    /// to σ̃ = 0; 2N − 1 score evaluations.
    EdmHeun {
        /// N noise levels.
        steps: usize,
    },
    /// DPM-Solver++(2M) (Lu et al. 2022): `steps` steps uniform in λ = log(α/σ), one score evaluation each,
    /// the denoiser x̂₀ = (x + σ² s)/α extrapolated in λ through the last two (the last step first order below
    /// [`LOWER_ORDER_FINAL`] steps). Any SDE: it needs only α(t) and σ(t).
    DpmSolverPp {
        /// Steps (score evaluations).
        steps: usize,
    },
    /// UniPC (Zhao et al. 2023): DPM-Solver++(2M)'s step corrected by UniC with the evaluation the next step
    /// reuses; the same cost.
    UniPc {
        /// Steps (score evaluations).
        steps: usize,
    },
}

/// The noise stream of particle `i` of a run seeded `seed`.
fn particle_rng(seed: u64, i: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed.wrapping_mul(0xD129_1CE2_8C95_8C33)
            ^ (i as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// Fill `z` (n × d) with standard normals, row i from stream i.
fn gaussians(rngs: &mut [SmallRng], z: &mut Tensor) {
    let d = z.cols();
    z.data_mut()
        .par_chunks_mut(d.max(1))
        .zip(rngs.par_iter_mut())
        .for_each(|(row, rng)| row.iter_mut().for_each(|v| *v = rng.sample(StandardNormal)));
}

/// `n` samples from the data law of `score` by `method` on `sde`, seeded, starting from the prior. Returns an
/// `n × d` tensor.
pub fn sample<S: TimeScore + ?Sized>(
    score: &S,
    sde: &Sde,
    method: &Method,
    n: usize,
    seed: u64,
) -> Result<Tensor, ModelError> {
    sample_with(score, sde, method, Start::Prior(n), seed, &mut |_, _, _| {}).map(|(x, _)| x)
}

/// Where the reverse process starts at t = T.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// `n` draws of the SDE's prior N(0, s² I) (from the particles' own streams).
    Prior(usize),
    /// These points (one per row), e.g. exact draws of p_T when the data law is known. The prior differs from
    /// p_T by O(α(T)); the SDE samplers mix that difference away, the probability-flow ODE carries it to the
    /// data unchanged (a deterministic map keeps total variation).
    Points(Tensor),
}

/// The samplers' common loop: from `start` at T to ε by `method`, calling `observe(step, t, particles)` after
/// every step (for pictures and animations); returns the particles and the solver's cost. The loop runs on a
/// worker of rayon's pool ([`stein_autodiff::on_pool`]).
pub fn sample_with<S: TimeScore + ?Sized>(
    score: &S,
    sde: &Sde,
    method: &Method,
    start: Start,
    seed: u64,
    observe: &mut (dyn FnMut(usize, f64, &Tensor) + Send),
) -> Result<(Tensor, Stats), ModelError> {
    stein_autodiff::on_pool(move || {
        let d = score.dim();
        let n = match &start {
            Start::Prior(n) => *n,
            Start::Points(p) if p.cols() == d => {
                if let Some(i) = p.data().iter().position(|v| !v.is_finite()) {
                    return Err(ModelError::BadParameter {
                        param: "start",
                        value: format!("point {}", i / d.max(1)),
                        reason: "has a non-finite coordinate".into(),
                    });
                }
                p.rows()
            }
            Start::Points(p) => {
                return Err(ModelError::BadParameter {
                    param: "start",
                    value: format!("points of dimension {}", p.cols()),
                    reason: format!("the score has dimension {d}"),
                })
            }
        };
        check(method, n, d)?;
        let stochastic = match *method {
            Method::EulerMaruyama { .. } | Method::PredictorCorrector { .. } => true,
            Method::Ddim { eta, .. } => eta > 0.0,
            _ => false,
        };
        if stochastic && !sde.stochastic_sampling() {
            return Err(ModelError::BadParameter {
                param: "method",
                value: format!("{method:?}"),
                reason: "the straight path of flow matching is sampled by the deterministic samplers \
                         (the probability-flow ODE, DDIM with η = 0, EDM's Heun, DPM-Solver++, UniPC): \
                         its reverse SDE's drift is unbounded near t = 1"
                    .into(),
            });
        }
        let mut rngs: Vec<SmallRng> = (0..n).map(|i| particle_rng(seed, i)).collect();
        let mut x = match start {
            Start::Prior(_) => {
                let mut x = Tensor::zeros(n, d);
                gaussians(&mut rngs, &mut x);
                let prior = sde.prior_std();
                x.data_mut().iter_mut().for_each(|v| *v *= prior);
                x
            }
            Start::Points(p) => p,
        };
        let (eps, big_t) = super::time_span(score, sde);
        let mut s = Tensor::zeros(n, d);
        let mut z = Tensor::zeros(n, d);
        let mut stats = Stats::default();
        match *method {
            Method::EulerMaruyama { steps } | Method::PredictorCorrector { steps, .. } => {
                let dt = (big_t - eps) / steps as f64;
                for k in 0..steps {
                    let t = big_t - k as f64 * dt;
                    if let Method::PredictorCorrector {
                        corrector_steps,
                        snr,
                        ..
                    } = *method
                    {
                        for _ in 0..corrector_steps {
                            score.score_at(&x, t, &mut s);
                            gaussians(&mut rngs, &mut z);
                            let norm = |m: &Tensor| {
                                (0..n)
                                    .map(|i| {
                                        m.row_slice(i).iter().map(|v| v * v).sum::<f64>().sqrt()
                                    })
                                    .sum::<f64>()
                                    / n as f64
                            };
                            let shrink = match sde {
                                Sde::Ve { .. } => 1.0,
                                _ => (1.0 - sde.diffusion(t).powi(2) * dt).max(0.0),
                            };
                            let step =
                                2.0 * shrink * (snr * norm(&z) / norm(&s).max(1e-300)).powi(2);
                            let noise = (2.0 * step).sqrt();
                            for ((xv, sv), zv) in
                                x.data_mut().iter_mut().zip(s.data()).zip(z.data())
                            {
                                *xv += step * sv + noise * zv;
                            }
                            stats.evaluations += 1;
                        }
                    }
                    score.score_at(&x, t, &mut s);
                    let (a, g) = (sde.drift(t), sde.diffusion(t));
                    let last = k + 1 == steps;
                    if !last {
                        gaussians(&mut rngs, &mut z);
                    }
                    let noise = if last { 0.0 } else { g * dt.sqrt() };
                    for ((xv, sv), zv) in x.data_mut().iter_mut().zip(s.data()).zip(z.data()) {
                        *xv -= (a * *xv - g * g * sv) * dt;
                        *xv += noise * zv;
                    }
                    stats.evaluations += 1;
                    stats.accepted += 1;
                    observe(k + 1, t - dt, &x);
                }
            }
            Method::ProbabilityFlow { steps, solver } => {
                let mut rhs = flow(score, sde, n, d);
                let mut y = x.data().to_vec();
                stats = ode::fixed(
                    &mut rhs,
                    &mut y,
                    (big_t, eps),
                    steps,
                    solver,
                    &mut |k, t, y| observe(k, t, &Tensor::new(n, d, y.to_vec()).expect("n × d")),
                )?;
                x = Tensor::new(n, d, y).expect("n × d");
            }
            Method::Ddim { steps, eta } => {
                let dt = (big_t - eps) / steps as f64;
                for k in 0..steps {
                    let (t, s_time) = (big_t - k as f64 * dt, big_t - (k + 1) as f64 * dt);
                    score.score_at(&x, t, &mut s);
                    let (at, st, asx, ss) = (
                        sde.alpha(t),
                        sde.sigma(t),
                        sde.alpha(s_time),
                        sde.sigma(s_time),
                    );
                    let tau2 = (st * st - (at / asx).powi(2) * ss * ss).max(0.0);
                    let c = eta * ss * tau2.sqrt() / st;
                    let keep = (ss * ss - c * c).max(0.0).sqrt();
                    if c > 0.0 {
                        gaussians(&mut rngs, &mut z);
                    }
                    for ((xv, sv), zv) in x.data_mut().iter_mut().zip(s.data()).zip(z.data()) {
                        let e = -st * sv;
                        let x0 = (*xv - st * e) / at;
                        *xv = asx * x0 + keep * e + if c > 0.0 { c * zv } else { 0.0 };
                    }
                    stats.evaluations += 1;
                    stats.accepted += 1;
                    observe(k + 1, s_time, &x);
                }
            }
            Method::EdmHeun { steps } => {
                stats = edm_heun(score, sde, (eps, big_t), &mut x, steps, observe);
            }
            Method::DpmSolverPp { steps } | Method::UniPc { steps } => {
                let solver = match method {
                    Method::UniPc { .. } => Solver::UniPc,
                    _ => Solver::DpmSolverPp,
                };
                stats = multistep(score, sde, (eps, big_t), &mut x, steps, solver, observe);
            }
            Method::ProbabilityFlowAdaptive(tol) => {
                let mut rhs = flow(score, sde, n, d);
                let mut y = x.data().to_vec();
                stats = ode::dopri5(&mut rhs, &mut y, (big_t, eps), &tol)?;
                x = Tensor::new(n, d, y).expect("n × d");
                observe(stats.accepted, eps, &x);
            }
        }
        if let Some(i) = x.data().iter().position(|v| !v.is_finite()) {
            return Err(ModelError::BadParameter {
                param: "method",
                value: format!("particle {}", i / d.max(1)),
                reason: "left the finite numbers: use more steps or a smaller snr".into(),
            });
        }
        Ok((x, stats))
    })
}

/// The probability-flow drift a(t) x − ½ g(t)² s(x, t) over a flat state of n particles.
fn flow<'a, S: TimeScore + ?Sized>(
    score: &'a S,
    sde: &'a Sde,
    n: usize,
    d: usize,
) -> impl FnMut(f64, &[f64], &mut [f64]) + 'a {
    let mut s = Tensor::zeros(n, d);
    move |t, y, out| {
        let x = Tensor::new(n, d, y.to_vec()).expect("n × d");
        score.score_at(&x, t, &mut s);
        flow_drift(sde, t, y, s.data(), out);
    }
}

/// The probability-flow drift a(t) x − ½ g(t)² s at time t, for points `x` with scores `s` (flat, same length).
pub(crate) fn flow_drift(sde: &Sde, t: f64, x: &[f64], s: &[f64], out: &mut [f64]) {
    let (a, g2) = (sde.drift(t), sde.diffusion(t).powi(2));
    for ((o, xv), sv) in out.iter_mut().zip(x).zip(s) {
        *o = a * xv - 0.5 * g2 * sv;
    }
}

/// The most steps (or noise levels) of a reverse sampler.
pub const MAX_STEPS: usize = 1_000_000;

/// Check a method before any allocation: every count in 1 to [`MAX_STEPS`], η in [0, 1], tolerances positive
/// and finite.
fn check(method: &Method, n: usize, d: usize) -> Result<(), ModelError> {
    let bad = |param, value: String, reason: String| {
        Err(ModelError::BadParameter {
            param,
            value,
            reason,
        })
    };
    if n == 0 || d == 0 {
        return bad(
            "n",
            format!("{n} particles of dimension {d}"),
            "need at least one of each".into(),
        );
    }
    if n.saturating_mul(d) > 1 << 28 {
        return bad(
            "n",
            format!("{n} particles × {d} dimensions"),
            "too many to hold (at most 2²⁸ values)".into(),
        );
    }
    let steps = match *method {
        Method::EulerMaruyama { steps }
        | Method::ProbabilityFlow { steps, .. }
        | Method::Ddim { steps, .. }
        | Method::EdmHeun { steps }
        | Method::DpmSolverPp { steps }
        | Method::UniPc { steps }
        | Method::PredictorCorrector { steps, .. } => Some(steps),
        Method::ProbabilityFlowAdaptive(_) => None,
    };
    if let Some(steps) = steps {
        if !(1..=MAX_STEPS).contains(&steps) {
            return bad(
                "steps",
                steps.to_string(),
                format!("must be 1 to {MAX_STEPS}"),
            );
        }
    }
    match *method {
        Method::PredictorCorrector {
            corrector_steps,
            snr,
            ..
        } => {
            if corrector_steps > 100 {
                bad(
                    "corrector_steps",
                    corrector_steps.to_string(),
                    "must be 0 to 100".into(),
                )
            } else if !(snr > 0.0 && snr.is_finite()) {
                bad("snr", snr.to_string(), "must be positive and finite".into())
            } else {
                Ok(())
            }
        }
        Method::Ddim { eta, .. } if !(0.0..=1.0).contains(&eta) => bad(
            "eta",
            eta.to_string(),
            "must be in [0, 1] (0: deterministic DDIM, 1: DDPM's ancestral sampler)".into(),
        ),
        Method::ProbabilityFlowAdaptive(t) => t.check(),
        _ => Ok(()),
    }
}
