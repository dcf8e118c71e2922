//! Sampling a trained model in data coordinates, with a progress bar and snapshots for animations.

use super::{RunError, SamplerKind};
use crate::autodiff::Tensor;
use crate::models::nn::Model;
use crate::models::sample::{
    annealed, hmc, mala, nuts, sample_batched, ula, Config, Draws, Init, SampleError, Tunable,
};
use rand::{RngExt, SeedableRng};

/// How a sampling job runs beyond its sampler: a progress bar, and frames for an animation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleOptions {
    /// Draw a progress bar on a terminal (hidden elsewhere; feature `progress`).
    pub progress: bool,
    /// Keep about this many snapshots of all chains along the run (0: none), for an animation.
    pub frames: usize,
}

/// What [`sample_model_with`] returns.
pub struct Sampled {
    /// One draw per chain, in data coordinates.
    pub samples: Tensor,
    /// The run: acceptance, divergences, diagnostics (model coordinates).
    pub run: Draws,
    /// Snapshots of every chain's state (data coordinates, one row per chain), from the start to the end,
    /// evenly spaced in transitions: `frames + 1` of them at most (none when no frames were asked for).
    pub frames: Vec<Tensor>,
}

/// Draw one sample per row of `init` (data coordinates) from `model` with `sampler`, one chain per row on the
/// batched driver; returns the draws in data coordinates and the run (acceptance, divergences, diagnostics).
/// Annealed Langevin starts from its own N(0, σ₁² I) in model coordinates and uses only the number of rows
/// of `init`. [`sample_model_with`] adds a progress bar and snapshots for an animation.
pub fn sample_model(
    model: &Model,
    sampler: SamplerKind,
    init: &Tensor,
    seed: u64,
) -> Result<(Tensor, Draws), RunError> {
    let s = sample_model_with(model, sampler, init, seed, SampleOptions::default())?;
    Ok((s.samples, s.run))
}

/// [`sample_model`] with a progress bar and snapshots of the chains ([`SampleOptions`]).
///
/// ```
/// use rand::SeedableRng;
/// use stein::models::nn::{Activation, Model};
/// use stein::run::{sample_model_with, uniform_init, SampleOptions, SamplerKind};
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let model = Model::energy(3, &[8], Activation::Silu, &mut rng);
/// let init = uniform_init(&[(-1.0, 1.0); 3], 20, 1);
/// let opts = SampleOptions { frames: 10, ..Default::default() };
/// let s = sample_model_with(&model, SamplerKind::Ula, &init, 7, opts).unwrap();
/// assert_eq!(s.frames.len(), 11); // the start and ten snapshots
/// assert_eq!(s.frames[0], init);   // in data coordinates, as given
/// assert_eq!(s.frames[10], s.samples);
/// ```
pub fn sample_model_with(
    model: &Model,
    sampler: SamplerKind,
    init: &Tensor,
    seed: u64,
    opts: SampleOptions,
) -> Result<Sampled, RunError> {
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
    let starts = Init::Points(z.to_rows());
    // every chain keeps its last state: `transitions − 1` warm-up transitions, one draw
    let run = |transitions: usize| Job {
        transitions,
        seed,
        init: starts.clone(),
        chains: n,
        opts,
    };
    let (draws, snapshots) = match sampler {
        SamplerKind::Annealed => annealed_run(model, n, seed, opts)?,
        SamplerKind::Ula => run(1000).run(model, Config::new(ula::Params::new(1e-3)))?,
        SamplerKind::Mala => run(1000).run(model, Config::new(mala::Params::new(2e-3)))?,
        SamplerKind::Hmc => run(1000).run(model, Config::new(hmc::Params::new(0.02, 10)))?,
        SamplerKind::Nuts => run(300).run(model, Config::new(nuts::Params::new(0.02)))?,
    };
    let to_data = |rows: &[Vec<f64>]| {
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        let mut t =
            Tensor::new(rows.len(), model.dim, flat).expect("rows of the model's dimension");
        if let Some(st) = &model.standardization {
            st.to_data(&mut t);
        }
        t
    };
    let last: Vec<Vec<f64>> = draws.chains.iter().map(|c| c.draws[0].clone()).collect();
    let samples = to_data(&last);
    if let Some(i) = samples.data().iter().position(|v| !v.is_finite()) {
        return Err(RunError::Usage(format!(
            "chain {} ended at a non-finite point in data coordinates (the sampler diverged, or the model's standardisation maps it beyond f64)",
            i / model.dim.max(1)
        )));
    }
    Ok(Sampled {
        samples,
        run: draws,
        frames: snapshots.iter().map(|f| to_data(f)).collect(),
    })
}

/// Snapshots of all chains: `frames[k][c]` is chain c's state in snapshot k (model coordinates).
type Snapshots = Vec<Vec<Vec<f64>>>;

/// The snapshots a run recorded in its chains' trajectories.
fn recorded(draws: &Draws) -> Snapshots {
    let k = draws
        .chains
        .iter()
        .map(|c| c.trajectory.len())
        .min()
        .unwrap_or(0);
    (0..k)
        .map(|i| {
            draws
                .chains
                .iter()
                .map(|c| c.trajectory[i].clone())
                .collect()
        })
        .collect()
}

/// Annealed Langevin over the model's ladder, 100 steps per level, ε = σ_L²/20, from N(0, σ₁² I), ending
/// with Tweedie's denoising step (on Q2's seven sets it took the samples off the data from 2.6–12% to
/// 0.2–5.3%, at the same or lower MMD² in four of five sets: ARCHITECTURE.md). One
/// transition walks the whole ladder, so for snapshots the ladder is walked in segments (each level in
/// five, with α of the level as in the whole walk, and the same number of moves): the same dynamics on
/// other random streams; the run returned is then the last segment's.
fn annealed_run(
    model: &Model,
    chains: usize,
    seed: u64,
    opts: SampleOptions,
) -> Result<(Draws, Snapshots), RunError> {
    const STEPS: usize = 100;
    let smallest = model
        .smallest_sigma()
        .ok_or(RunError::Usage("the model has no σ ladder".into()))?;
    let eps = smallest.powi(2) / 20.0;
    // `end`: the walk ends here, with the denoising step
    let job = |sigmas: Vec<f64>, steps: usize, eps: f64, seed: u64, init: Init, end: bool| {
        let params = annealed::Params::new(sigmas, steps, eps);
        let mut cfg = Config::new(if end { params.denoised() } else { params })
            .chains(chains)
            .warmup(0)
            .draws(1)
            .seed(seed)
            .init(init);
        cfg.progress = end && opts.frames == 0 && opts.progress;
        sample_batched(model, &cfg)
    };
    if opts.frames == 0 {
        let start = Init::Normal {
            scale: model.sigmas[0],
        };
        let draws = job(model.sigmas.clone(), STEPS, eps, seed, start, true)?;
        return Ok((draws, Vec::new()));
    }
    const PIECES: usize = 5;
    let segments: Vec<f64> = model
        .sigmas
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, PIECES))
        .collect();
    let bar = crate::models::progress::Progress::new(opts.progress, segments.len(), 0, "segments");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let first: Vec<Vec<f64>> = (0..chains)
        .map(|_| {
            (0..model.dim)
                .map(|_| model.sigmas[0] * rng.sample::<f64, _>(rand_distr::StandardNormal))
                .collect()
        })
        .collect();
    let mut snaps: Snapshots = vec![first];
    let mut draws = None;
    for (k, &sigma) in segments.iter().enumerate() {
        let at = Init::Points(snaps.last().expect("the start").clone());
        let alpha = eps * (sigma / smallest).powi(2);
        let seg_seed = seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let end = k + 1 == segments.len();
        let d = job(vec![sigma], STEPS / PIECES, alpha, seg_seed, at, end)?;
        snaps.push(d.chains.iter().map(|c| c.draws[0].clone()).collect());
        draws = Some(d);
        bar.set(k + 1);
    }
    bar.finish();
    let draws = draws.expect("a model's ladder has a level");
    Ok((draws, thin_snapshots(snaps, opts.frames)))
}

/// At most `frames + 1` snapshots, evenly spaced, the first and the last kept.
fn thin_snapshots(snaps: Snapshots, frames: usize) -> Snapshots {
    let n = snaps.len();
    if n <= frames + 1 {
        return snaps;
    }
    let keep: Vec<usize> = (0..=frames).map(|i| i * (n - 1) / frames).collect();
    snaps
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, s)| s)
        .collect()
}

/// One batched sampling job: `chains` chains of `transitions` transitions each, keeping the last state.
struct Job {
    transitions: usize,
    seed: u64,
    init: Init,
    chains: usize,
    opts: SampleOptions,
}

impl Job {
    /// Run `cfg`'s kernel: `transitions − 1` warm-up transitions and one draw; the snapshots recorded.
    fn run<P: Tunable>(
        self,
        model: &Model,
        cfg: Config<P>,
    ) -> Result<(Draws, Snapshots), SampleError> {
        let mut cfg = cfg
            .chains(self.chains)
            .warmup(self.transitions - 1)
            .draws(1)
            .seed(self.seed)
            .init(self.init);
        cfg.progress = self.opts.progress;
        if self.opts.frames > 0 {
            cfg.record_every = Some(self.transitions.div_ceil(self.opts.frames).max(1));
        }
        let draws = sample_batched(model, &cfg)?;
        let snaps = recorded(&draws);
        Ok((draws, snaps))
    }
}
