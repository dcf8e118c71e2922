//! Score-matching losses on batches. Each function records the loss on a tape from lifted parameters and
//! explicit noise (so it is deterministic and testable); [`Loss`] draws the noise for training.
//!
//! Notation: a batch `x` is `B × d`; s(x) the model's score; means are over the batch.

use crate::nn::jet::Direction;
use crate::nn::{Kind, Model};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// Σᵢ ∂sᵢ/∂xᵢ per row (`B × 1`), exact: one recorded sweep per dimension.
pub fn trace_jacobian<'t>(tape: &'t Tape, s: TVar<'t>, x: TVar<'t>) -> TVar<'t> {
    let d = x.cols();
    let mut tr: Option<TVar> = None;
    for i in 0..d {
        let gi = tape.grad_graph_tensors(s.slice_cols(i, 1).sum(), &[x])[0].slice_cols(i, 1);
        tr = Some(match tr {
            None => gi,
            Some(t) => t + gi,
        });
    }
    tr.expect("d ≥ 1")
}

/// Explicit score matching (the target score is known): ½ mean ‖s(x) − target(x)‖².
pub fn explicit<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    target: &Tensor,
) -> Var<'t> {
    let xv = tape.tensor(x);
    let s = model.score(tape, p, xv, None);
    (s - tape.tensor_const(target)).square().sum() * (0.5 / x.rows() as f64)
}

/// Implicit score matching (Hyvärinen 2005) with the exact trace: mean [tr ∇ₓs(x) + ½ ‖s(x)‖²]. It equals
/// the explicit loss up to a constant independent of the model, with no target needed.
///
/// Computed in Taylor mode ([`crate::nn::jet`]): the network's derivatives along the d axes (and, for an
/// energy network, its Laplacian: tr ∇ₓs = −ΔE) ride forward beside its value — d + 2 streams through each
/// layer and one backward pass in the parameters, instead of d reverse sweeps over a reverse sweep.
pub fn implicit<'t>(model: &Model, tape: &'t Tape, p: &[TVar<'t>], x: &Tensor) -> Var<'t> {
    let xv = tape.tensor(x);
    let axes: Vec<Direction> = (0..x.cols()).map(Direction::Axis).collect();
    let all: Vec<usize> = (0..axes.len()).collect();
    let per_row = match model.kind {
        Kind::Energy => {
            // s = −∇E: tr ∇s = −ΔE, ‖s‖² = Σₖ (∂ₖE)²
            let jet = model.jet(p, xv, None, &axes, &all);
            let sq = sum_of(jet.tangents.iter().map(|t| t.square()));
            sq * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Score => {
            // tr ∇s = Σₖ ∂ₖsₖ
            let jet = model.jet(p, xv, None, &axes, &[]);
            let tr = sum_of(
                jet.tangents
                    .iter()
                    .enumerate()
                    .map(|(k, t)| t.slice_cols(k, 1)),
            );
            tr + jet.value.square().sum_axis(1) * 0.5
        }
    };
    per_row.sum() / x.rows() as f64
}

/// The sum of a non-empty list of tensors.
fn sum_of<'t>(terms: impl Iterator<Item = TVar<'t>>) -> TVar<'t> {
    terms.reduce(|a, b| a + b).expect("at least one term")
}

/// Implicit score matching with Hutchinson's trace estimator: tr ∇ₓs ≈ vᵀ ∇ₓ(vᵀs) for projections v with
/// E[v vᵀ] = I. `v` has the shape of `x` (tile the batch for several projections per point). This is the same
/// estimator as variance-reduced sliced score matching (Song et al. 2019, §3), so it is computed by [`sliced`].
pub fn implicit_hutchinson<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    v: &Tensor,
) -> Var<'t> {
    sliced(model, tape, p, x, v, true)
}

/// Sliced score matching (Song et al. 2019): mean [vᵀ ∇ₓs v + ½ (vᵀs)²], or with `variance_reduced` the
/// form mean [vᵀ ∇ₓs v + ½ ‖s‖²] (exact second term for E\[vvᵀ\] = I).
///
/// Computed in Taylor mode ([`crate::nn::jet`]) along v: for a score network ∇ₓs v is the tangent along v;
/// for an energy network vᵀ∇ₓs v = −vᵀ∇²E v is the second derivative along v and vᵀs = −∂ᵥE (the
/// variance-reduced form also carries the d axes for ‖s‖²).
pub fn sliced<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    v: &Tensor,
    variance_reduced: bool,
) -> Var<'t> {
    let xv = tape.tensor(x);
    let vv = tape.tensor_const(v);
    let along = Direction::Rows(vv);
    let per_row = match model.kind {
        Kind::Energy if variance_reduced => {
            let mut dirs: Vec<Direction> = (0..x.cols()).map(Direction::Axis).collect();
            dirs.push(along);
            let jet = model.jet(p, xv, None, &dirs, &[x.cols()]);
            let sq = sum_of(jet.tangents[..x.cols()].iter().map(|t| t.square()));
            sq * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Energy => {
            let jet = model.jet(p, xv, None, &[along], &[0]);
            jet.tangents[0].square() * 0.5 - jet.second.expect("second derivatives asked")
        }
        Kind::Score => {
            let jet = model.jet(p, xv, None, &[along], &[]);
            let vjv = (jet.tangents[0] * vv).sum_axis(1);
            let second = if variance_reduced {
                jet.value.square().sum_axis(1)
            } else {
                (jet.value * vv).sum_axis(1).square()
            };
            vjv + second * 0.5
        }
    };
    per_row.sum() / x.rows() as f64
}

/// Denoising score matching (Vincent 2011) with per-row noise levels `sigma` (`B × 1`) and standard normal
/// `z`: x̃ = x + σz, loss = mean ½ σ² ‖s(x̃, σ) + z/σ‖² (the weighting λ(σ) = σ² of NCSN; with one σ it is
/// the single-noise loss of BENCHMARKS T5). Works for score and energy networks.
pub fn denoising<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    z: &Tensor,
    sigma: &Tensor,
) -> Var<'t> {
    let noisy = Tensor::new(
        x.rows(),
        x.cols(),
        x.data()
            .iter()
            .zip(z.data())
            .enumerate()
            .map(|(i, (a, b))| a + sigma.data()[i / x.cols()] * b)
            .collect(),
    )
    .expect("shapes of x and z agree");
    let xv = tape.tensor(&noisy);
    let sg = tape.tensor_const(sigma);
    let s = model.score(tape, p, xv, Some(sg));
    // σ² ‖s + z/σ‖² = ‖σ s + z‖²
    (s * sg + tape.tensor_const(z)).square().sum() * (0.5 / x.rows() as f64)
}

/// Noise-contrastive estimation (Gutmann & Hyvärinen 2010) for an energy model with a learned log Z:
/// G(x) = −E(x) − log Z − log q(x), loss = −mean log σ(G(x_data)) − mean log σ(−G(x_noise)), with the noise
/// law q fitted to the data (`log_q_data`, `log_q_noise` are log q at the two batches).
#[allow(clippy::too_many_arguments)]
pub fn nce<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    log_z: TVar<'t>,
    x_data: &Tensor,
    x_noise: &Tensor,
    log_q_data: &Tensor,
    log_q_noise: &Tensor,
) -> Var<'t> {
    assert_eq!(model.kind, Kind::Energy, "NCE needs an energy model");
    let g = |x: &Tensor, lq: &Tensor| {
        let e = model.energy_of(p, tape.tensor_const(x), None);
        -e - log_z - tape.tensor_const(lq)
    };
    let (gd, gn) = (g(x_data, log_q_data), g(x_noise, log_q_noise));
    -(gd.log_sigmoid().mean() + (-gn).log_sigmoid().mean())
}

/// Contrastive divergence for an energy model: mean E(x_data) − mean E(x_neg) + α (mean E(x_data)² +
/// mean E(x_neg)²). The negatives come from a sampler (e.g. [`langevin_negatives`]) and are constants; the
/// α term keeps the energies from drifting (Du & Mordatch 2019).
pub fn contrastive_divergence<'t>(
    model: &Model,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x_data: &Tensor,
    x_neg: &Tensor,
    alpha: f64,
) -> Var<'t> {
    let ed = model.energy_of(p, tape.tensor_const(x_data), None);
    let en = model.energy_of(p, tape.tensor_const(x_neg), None);
    ed.mean() - en.mean() + (ed.square().mean() + en.square().mean()) * alpha
}

/// `steps` unadjusted Langevin steps x ← x + (ε/2) s(x) + √ε z from every row of `x0` under the model's
/// current score (negatives for contrastive divergence): the ULA kernel on the batched driver, one chain per
/// row, seeded from `rng`. Returns the moved batch; an error when the score is not finite at a start.
pub fn langevin_negatives<R: Rng + ?Sized>(
    model: &Model,
    x0: &Tensor,
    steps: usize,
    eps: f64,
    rng: &mut R,
) -> Result<Tensor, crate::sample::SampleError> {
    use crate::sample::{sample_batched, ula, Config, Init};
    let (n, d) = x0.shape();
    let starts = x0.to_rows();
    let cfg = Config::new(ula::Params::new(eps))
        .chains(n)
        .warmup(steps.saturating_sub(1))
        .draws(1)
        .seed(rng.random())
        .init(Init::Points(starts));
    let draws = sample_batched(model, &cfg)?;
    let mut out = Tensor::zeros(n, d);
    for (i, c) in draws.chains.iter().enumerate() {
        out.data_mut()[i * d..(i + 1) * d].copy_from_slice(&c.draws[0]);
    }
    Ok(out)
}

/// Distribution of random projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    /// ±1 entries.
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

impl Projection {
    /// A `rows × cols` tensor of projections.
    pub fn draw<R: Rng + ?Sized>(self, rows: usize, cols: usize, rng: &mut R) -> Tensor {
        Tensor::from_fn(rows, cols, |_, _| match self {
            Projection::Rademacher => {
                if rng.random::<bool>() {
                    1.0
                } else {
                    -1.0
                }
            }
            Projection::Gaussian => StandardNormal.sample(rng),
        })
    }
}

/// A geometric ladder of `n` noise levels from `max` down to `min` (NCSN).
///
/// An error unless 0 < `min` ≤ `max` < ∞ and 1 ≤ `n` ≤ [`crate::nn::limits::MAX_SIGMAS`].
pub fn geometric_sigmas(max: f64, min: f64, n: usize) -> Result<Vec<f64>, crate::ModelError> {
    let bad = |param, reason: String| Err(crate::ModelError::BadParameter { param, reason });
    if !(min > 0.0 && min <= max && max.is_finite()) {
        return bad(
            "max/min",
            format!("need 0 < min ≤ max < ∞, got max {max} and min {min}"),
        );
    }
    if !(1..=crate::nn::limits::MAX_SIGMAS).contains(&n) {
        return bad(
            "n",
            format!("{n} levels; need 1 to {}", crate::nn::limits::MAX_SIGMAS),
        );
    }
    if n == 1 {
        return Ok(vec![max]);
    }
    Ok((0..n)
        .map(|i| max * (min / max).powf(i as f64 / (n - 1) as f64))
        .collect())
}

/// A training objective, with what it needs to draw its noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// Denoising score matching at one noise level.
    Dsm {
        /// σ.
        sigma: f64,
    },
    /// Multi-noise denoising (NCSN): each row gets a level drawn uniformly from the ladder.
    Ncsn {
        /// The σ ladder (largest first).
        sigmas: Vec<f64>,
    },
    /// Sliced score matching with `projections` per point.
    Ssm {
        /// Projections per point.
        projections: usize,
        /// Use the variance-reduced form.
        variance_reduced: bool,
        /// Projection law.
        projection: Projection,
    },
    /// Implicit score matching with the exact trace.
    Ism,
    /// Implicit score matching with Hutchinson's estimator.
    IsmHutchinson {
        /// Projections per point.
        projections: usize,
    },
    /// Noise-contrastive estimation (energy models; adds a learned log Z).
    Nce,
    /// (Persistent) contrastive divergence with Langevin negatives (energy models).
    Cd {
        /// Langevin steps per update.
        steps: usize,
        /// Langevin step size ε.
        step_size: f64,
        /// Energy-magnitude regulariser α.
        alpha: f64,
    },
}

/// The most projections per point the sliced and Hutchinson losses accept.
pub const MAX_PROJECTIONS: usize = 1024;
/// The most Langevin steps per update contrastive divergence accepts.
pub const MAX_CD_STEPS: usize = 1_000;

impl Loss {
    /// Check the settings: σ positive and finite, a valid ladder ([`crate::nn::validate_ladder`]),
    /// 1 to [`MAX_PROJECTIONS`] projections, 1 to [`MAX_CD_STEPS`] Langevin steps with a positive step size
    /// and a non-negative α.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!(
                    "{}: {name} = {v}; must be positive and finite",
                    self.name()
                ))
            }
        };
        match self {
            Loss::Dsm { sigma } => positive("σ", *sigma),
            Loss::Ncsn { sigmas } => crate::nn::validate_ladder(sigmas),
            Loss::Ssm { projections, .. } | Loss::IsmHutchinson { projections } => {
                if (1..=MAX_PROJECTIONS).contains(projections) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: {projections} projections; need 1 to {MAX_PROJECTIONS}",
                        self.name()
                    ))
                }
            }
            Loss::Ism | Loss::Nce => Ok(()),
            Loss::Cd {
                steps,
                step_size,
                alpha,
            } => {
                if !(1..=MAX_CD_STEPS).contains(steps) {
                    return Err(format!(
                        "cd: {steps} Langevin steps; need 1 to {MAX_CD_STEPS}"
                    ));
                }
                positive("step size", *step_size)?;
                if !(*alpha >= 0.0 && alpha.is_finite()) {
                    return Err(format!("cd: α = {alpha}; must be non-negative and finite"));
                }
                Ok(())
            }
        }
    }

    /// Whether this loss can train `model`: NCE and contrastive divergence need an energy model (they read
    /// E(x)); a noise-conditional model needs a denoising loss (`dsm` or `ncsn`), the only ones that give it σ.
    pub fn check_model(&self, model: &Model) -> Result<(), String> {
        if matches!(self, Loss::Nce | Loss::Cd { .. }) && model.kind != Kind::Energy {
            return Err(format!("{} needs an energy model", self.name()));
        }
        if model.conditioning != crate::nn::Conditioning::None
            && !matches!(self, Loss::Dsm { .. } | Loss::Ncsn { .. })
        {
            return Err(format!(
                "{} cannot train a noise-conditional model (it gives the network no σ): use dsm or ncsn",
                self.name()
            ));
        }
        Ok(())
    }

    /// A short name (`dsm`, `ncsn`, `ssm`, `ssm-vr`, `ism`, `ism-hutchinson`, `nce`, `cd`).
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Dsm { .. } => "dsm",
            Loss::Ncsn { .. } => "ncsn",
            Loss::Ssm {
                variance_reduced: true,
                ..
            } => "ssm-vr",
            Loss::Ssm { .. } => "ssm",
            Loss::Ism => "ism",
            Loss::IsmHutchinson { .. } => "ism-hutchinson",
            Loss::Nce => "nce",
            Loss::Cd { .. } => "cd",
        }
    }
}

/// Repeat each row of `x` `m` times (row-major blocks), for several projections per point.
pub fn tile_rows(x: &Tensor, m: usize) -> Tensor {
    if m == 1 {
        return x.clone();
    }
    let mut data = Vec::with_capacity(x.len() * m);
    for _ in 0..m {
        data.extend_from_slice(x.data());
    }
    Tensor::new(x.rows() * m, x.cols(), data).expect("sizes multiply")
}
