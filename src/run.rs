//! Jobs on trained models, as library calls (the `stein` command line and the examples use them): draw
//! samples from a model in data coordinates, and measure samples against held-out data.
//!
//! ```
//! use rand::SeedableRng;
//! use stein::autodiff::Tensor;
//! use stein::models::nn::{Activation, Model};
//! use stein::run::{evaluate, sample_model, uniform_init, SamplerKind};
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
//! let model = Model::energy(2, &[16], Activation::Silu, &mut rng);   // untrained: any energy will do
//! let init = uniform_init(&[(-3.0, 3.0), (-3.0, 3.0)], 50, 1);
//! let (draws, run) = sample_model(&model, SamplerKind::Mala, &init, 7).unwrap();
//! assert_eq!(draws.shape(), (50, 2));
//! assert!(run.acceptance() > 0.0);
//! let e = evaluate(&model, &draws, &init).unwrap();
//! assert!(e.mmd2.is_finite() && e.ksd2.is_finite());
//! ```

use crate::autodiff::Tensor;
use crate::models::nn::{Conditioning, Kind, Model};
use crate::models::sample::{
    annealed, hmc, mala, nuts, sample_batched, ula, BatchTarget, Config, Draws, Init, SampleError,
    Tunable,
};
use crate::models::ModelError;
use crate::scores::{kernel_stein_discrepancy, mmd, ScoreError, Statistic};
use rand::{RngExt, SeedableRng};

/// Everything a job can fail with, each naming what went wrong in one line.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// From models, data or files.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// From scores, statistics or pictures.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// From a sampler.
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// A request that cannot be served (a sampler the model cannot run, an empty request).
    #[error("{0}")]
    Usage(String),
}

/// Which sampler draws from a trained model. Each chain starts at one row of the starting points and keeps
/// its final state; kernels with an acceptance statistic adapt their step size and a diagonal metric in the
/// warm-up (Stan's windows, per chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    /// Unadjusted Langevin, ε = 10⁻³ (in model coordinates), 1,000 steps.
    Ula,
    /// Metropolis-adjusted Langevin: 1,000 transitions, the first 999 adapting h towards acceptance 0.574.
    Mala,
    /// Hamiltonian Monte Carlo, 10 jittered leapfrog steps: 1,000 transitions, the first 999 adapting ε
    /// towards acceptance 0.8 (energy models).
    Hmc,
    /// NUTS: 300 transitions, the first 299 adapting ε towards acceptance 0.8 (energy models).
    Nuts,
    /// Annealed Langevin over the model's σ ladder, 100 steps per level with ε = σ_L²/20, so the last level
    /// relaxes in about 20 steps (noise-conditional models).
    Annealed,
}

impl SamplerKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Ula => "ula",
            SamplerKind::Mala => "mala",
            SamplerKind::Hmc => "hmc",
            SamplerKind::Nuts => "nuts",
            SamplerKind::Annealed => "annealed",
        }
    }

    /// Whether `model` can be sampled this way; the error says what to use instead.
    pub fn check(self, model: &Model) -> Result<(), RunError> {
        let conditioned = model.conditioning != Conditioning::None;
        match self {
            SamplerKind::Annealed if !conditioned => Err(RunError::Usage(
                "annealed Langevin needs a noise-conditional model: train with --loss ncsn, or pick --sampler ula|mala|hmc|nuts".into(),
            )),
            SamplerKind::Mala | SamplerKind::Hmc | SamplerKind::Nuts if model.kind == Kind::Score => Err(RunError::Usage(
                "MALA, HMC and NUTS need an energy model (a log-density): use --model energy or --sampler ula".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// `n` points uniform on the box `frame` (one `(lo, hi)` per coordinate), seeded: starting points spread
/// over the data's range.
pub fn uniform_init(frame: &[(f64, f64)], n: usize, seed: u64) -> Tensor {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    Tensor::from_fn(n, frame.len(), |_, j| {
        let (lo, hi) = frame[j];
        lo + (hi - lo) * rng.random::<f64>()
    })
}

/// Draw one sample per row of `init` (data coordinates) from `model` with `sampler`, one chain per row on the
/// batched driver; returns the draws in data coordinates and the run (acceptance, divergences, diagnostics).
/// Annealed Langevin starts from its own N(0, σ₁² I) in model coordinates and uses only the number of rows
/// of `init`.
pub fn sample_model(
    model: &Model,
    sampler: SamplerKind,
    init: &Tensor,
    seed: u64,
) -> Result<(Tensor, Draws), RunError> {
    sampler.check(model)?;
    if init.rows() == 0 {
        return Err(RunError::Usage("no points requested".into()));
    }
    if init.cols() != model.dim {
        return Err(RunError::Usage(format!(
            "starting points of dimension {}, the model has {}",
            init.cols(),
            model.dim
        )));
    }
    let mut z = init.clone();
    if let Some(st) = &model.standardization {
        st.to_model(&mut z);
    }
    let n = z.rows();
    let starts = Init::Points((0..n).map(|i| z.row_slice(i).to_vec()).collect());
    // every chain keeps its last state: `transitions − 1` warm-up transitions, one draw
    let run = |transitions: usize| (transitions - 1, seed, starts.clone());
    let draws = match sampler {
        SamplerKind::Annealed => {
            let smallest = model
                .smallest_sigma()
                .ok_or(RunError::Usage("the model has no σ ladder".into()))?;
            let p = annealed::Params::new(model.sigmas.clone(), 100, smallest.powi(2) / 20.0);
            let own_start = Init::Normal {
                scale: model.sigmas[0],
            };
            batched(model, Config::new(p), (0, seed, own_start), n)?
        }
        SamplerKind::Ula => batched(model, Config::new(ula::Params::new(1e-3)), run(1000), n)?,
        SamplerKind::Mala => batched(model, Config::new(mala::Params::new(2e-3)), run(1000), n)?,
        SamplerKind::Hmc => batched(model, Config::new(hmc::Params::new(0.02, 10)), run(1000), n)?,
        SamplerKind::Nuts => batched(model, Config::new(nuts::Params::new(0.02)), run(300), n)?,
    };
    let mut out = Tensor::zeros(n, model.dim);
    for (i, c) in draws.chains.iter().enumerate() {
        out.data_mut()[i * model.dim..(i + 1) * model.dim].copy_from_slice(&c.draws[0]);
    }
    if let Some(st) = &model.standardization {
        st.to_data(&mut out);
    }
    Ok((out, draws))
}

/// `n` chains of `cfg` on the model, `(warm-up, seed, init)` as given, one draw each.
fn batched<P: Tunable>(
    model: &Model,
    cfg: Config<P>,
    (warmup, seed, init): (usize, u64, Init),
    n: usize,
) -> Result<Draws, SampleError> {
    sample_batched(
        model,
        &cfg.chains(n).warmup(warmup).draws(1).seed(seed).init(init),
    )
}

/// log p(x) of an energy model at a point in data coordinates (up to a constant), at its smallest σ;
/// `None` for a score network (which has no log-density).
pub fn model_log_density(model: &Model, x: &[f64]) -> Option<f64> {
    let mut t = Tensor::row(x);
    if let Some(st) = &model.standardization {
        st.to_model(&mut t);
    }
    let mut s = Tensor::zeros(1, model.dim);
    let lp = model.eval_batch(&t, model.smallest_sigma(), &mut s)?;
    let log_det = model
        .standardization
        .as_ref()
        .map_or(0.0, |st| st.log_det());
    Some(lp[0] - log_det)
}

/// The most points of each set that [`evaluate`] uses: MMD and KSD cost O(n²), so larger sets are
/// subsampled (evenly spaced rows) to keep an evaluation within seconds.
pub const MAX_EVAL_POINTS: usize = 5_000;

/// How well samples match: MMD² to reference data and KSD² under the model's own score.
#[derive(Clone, Copy, Debug)]
pub struct Evaluation {
    /// Unbiased squared MMD between the samples and the reference (Gaussian kernel, median heuristic).
    /// An unbiased estimate: it can be slightly negative when the two sets match.
    pub mmd2: f64,
    /// Unbiased squared KSD (IMQ kernel) of the samples under the model's score at its smallest σ: how
    /// well the sampler followed the model, whatever the model learnt. Can be slightly negative too.
    pub ksd2: f64,
    /// Samples used (at most [`MAX_EVAL_POINTS`]).
    pub samples_used: usize,
    /// Reference points used (at most [`MAX_EVAL_POINTS`]).
    pub reference_used: usize,
}

/// Rows of `t` as vectors: all of them, or `max` evenly spaced ones when there are more.
pub fn subsample_rows(t: &Tensor, max: usize) -> Vec<Vec<f64>> {
    let n = t.rows();
    let k = n.min(max);
    (0..k).map(|i| t.row_slice(i * n / k).to_vec()).collect()
}

/// Measure `samples` against `reference` (both data coordinates), each subsampled to
/// [`MAX_EVAL_POINTS`] (the KSD to a tenth of that: it evaluates the network at every point).
pub fn evaluate(
    model: &Model,
    samples: &Tensor,
    reference: &Tensor,
) -> Result<Evaluation, RunError> {
    let sv = subsample_rows(samples, MAX_EVAL_POINTS);
    let rv = subsample_rows(reference, MAX_EVAL_POINTS);
    let mmd2 = mmd(&sv, &rv)?;
    let kv = subsample_rows(samples, MAX_EVAL_POINTS / 10);
    let ksd2 = kernel_stein_discrepancy(&model.as_score(None), &kv, Statistic::U)?;
    Ok(Evaluation {
        mmd2,
        ksd2,
        samples_used: sv.len(),
        reference_used: rv.len(),
    })
}
