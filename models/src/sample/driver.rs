//! The two drivers over the kernels: [`sample`] runs each chain on its own (rayon, one chain per task) and
//! evaluates each request at once; [`sample_batched`] advances blocks of chains together and evaluates a
//! block's requests as the rows of one tensor (one network pass per round and block). Both run the same chain machine with the
//! same per-chain RNG streams, so they give bit-identical draws for the same seed whatever the thread count.

use super::adapt::MetricKind;
use super::chain::{start_point, ChainRun};
use super::draws::Draws;
use super::kernel::{Eval, Kernel, Tunable};
use super::nuts;
use super::pathfinder;
use super::target::{BatchTarget, Target};
use super::{adapt::WarmupOptions, SampleError};
use crate::progress::Progress;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use stein_autodiff::Tensor;

/// Where chains start.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Uniform on (−radius, radius) in every coordinate (Stan's default, radius 2): overdispersed starts,
    /// so that R-hat can see chains that have not mixed. A start where the target is not finite is redrawn
    /// (up to 100 times).
    Uniform {
        /// The half-width.
        radius: f64,
    },
    /// N(0, scale² I), redrawn like [`Init::Uniform`].
    Normal {
        /// The scale.
        scale: f64,
    },
    /// These points, cycled over the chains (a non-finite target there is an error).
    Points(Vec<Vec<f64>>),
    /// Starts in the typical set: one [Pathfinder](super::pathfinder) path per chain from a uniform start on
    /// (−2, 2)ᵈ, the chains' starts drawn from the pooled paths by importance resampling. For [`sample`]
    /// (which evaluates one point at a time); [`sample_batched`] refuses it.
    Pathfinder,
}

impl Default for Init {
    /// Uniform on (−2, 2)ᵈ.
    fn default() -> Self {
        Init::Uniform { radius: 2.0 }
    }
}

/// Settings of a sampling run: the kernel's parameters (which pick the kernel), the chains, warm-up and the
/// draws. [`Config::default`] is NUTS with Stan's defaults.
///
/// ```
/// use stein_models::sample::{mala, Config};
/// let cfg = Config::new(mala::Params::new(0.1)).chains(2).warmup(200).draws(500).seed(7);
/// assert_eq!((cfg.chains, cfg.warmup, cfg.draws), (2, 200, 500));
/// ```
#[derive(Clone, Debug)]
pub struct Config<P = nuts::Params> {
    /// The kernel's parameters (the initial step size and metric when warm-up adapts them).
    pub params: P,
    /// Number of chains (4).
    pub chains: usize,
    /// Warm-up transitions (1,000): adaptation happens here; they are not kept.
    pub warmup: usize,
    /// Draws kept per chain (1,000).
    pub draws: usize,
    /// Keep every `thin`-th state of the sampling phase (1).
    pub thin: usize,
    /// Seed; chain c uses the stream (seed, c).
    pub seed: u64,
    /// Starting points (uniform on (−2, 2)ᵈ).
    pub init: Init,
    /// How warm-up adapts the step size and metric (Stan's windows; kernels without an acceptance
    /// statistic, ULA and annealed Langevin, adapt nothing).
    pub adapt: WarmupOptions,
    /// Record the state every this many transitions (warm-up included), for pictures of trajectories.
    pub record_every: Option<usize>,
    /// Draw a progress bar on a terminal (feature `progress`).
    pub progress: bool,
}

impl<P: Tunable> Config<P> {
    /// `params` with Stan's defaults: 4 chains, 1,000 warm-up transitions, 1,000 draws, no thinning, seed 0,
    /// starts uniform on (−2, 2)ᵈ (or the kernel's own, see [`Tunable::default_init`]); the metric the kernel
    /// adapts by default ([`Tunable::default_metric`]: fitted to scores, Stan's windows for HMC).
    pub fn new(params: P) -> Self {
        let init = params.default_init();
        let mut c = Config::with_init(params, init);
        c.adapt.metric = P::default_metric();
        c
    }

    /// Check every setting against the target's dimension: the kernel's parameters, then the run's.
    pub fn validate(&self, dim: usize) -> Result<(), SampleError> {
        if let Err(reason) = P::Kernel::validate(&self.params, dim) {
            return Err(SampleError::BadParameter {
                param: "params",
                reason,
            });
        }
        self.validate_run(dim).map(|_| ())
    }
}

impl<P> Config<P> {
    /// `params` starting at `init`, with the run defaults of [`Config::new`] (the one place they are stated).
    pub fn with_init(params: P, init: Init) -> Self {
        Config {
            params,
            chains: 4,
            warmup: 1000,
            draws: 1000,
            thin: 1,
            seed: 0,
            init,
            adapt: WarmupOptions::default(),
            record_every: None,
            progress: false,
        }
    }

    /// Check the run's settings (not the kernel's parameters) against the dimension; returns the number of
    /// transitions per chain.
    pub fn validate_run(&self, dim: usize) -> Result<usize, SampleError> {
        let bad = |param, reason: String| SampleError::BadParameter { param, reason };
        if self.chains == 0 || self.thin == 0 {
            return Err(bad("chains/thin", "must be at least 1".into()));
        }
        let total = self
            .draws
            .checked_mul(self.thin)
            .and_then(|n| n.checked_add(self.warmup))
            .filter(|&t| t <= 1 << 40);
        let Some(total) = total.filter(|_| self.chains <= 1 << 24) else {
            return Err(bad("draws", "too many transitions requested".into()));
        };
        // the kept draws are held in memory: refuse a request that cannot be, before allocating any of it
        let stored = self
            .chains
            .saturating_mul(self.draws)
            .saturating_mul(dim.saturating_add(1));
        if stored > MAX_STORED_VALUES {
            return Err(bad(
                "draws",
                format!(
                    "{} chains × {} draws × {dim} coordinates: more than {MAX_STORED_VALUES} values to keep (thin, or take fewer draws)",
                    self.chains, self.draws
                ),
            ));
        }
        if let Some(r) = self.record_every.filter(|r| *r == 0) {
            return Err(bad("record_every", format!("{r}: must be at least 1")));
        }
        match &self.init {
            Init::Uniform { radius: s } | Init::Normal { scale: s }
                if !(s.is_finite() && *s >= 0.0) =>
            {
                Err(bad(
                    "init",
                    format!("{s}: the scale must be finite and not negative"),
                ))
            }
            Init::Points(p) if p.is_empty() || p.iter().any(|x| x.len() != dim) => {
                Err(bad("init", format!("needs points of dimension {dim}")))
            }
            _ => Ok(()),
        }?;
        if let Some(a) = self.adapt.target_accept.filter(|a| !(*a > 0.0 && *a < 1.0)) {
            return Err(bad("target_accept", format!("{a}: must be in (0, 1)")));
        }
        Ok(total)
    }

    /// Set the number of chains.
    pub fn chains(mut self, n: usize) -> Self {
        self.chains = n;
        self
    }
    /// Set the warm-up length.
    pub fn warmup(mut self, n: usize) -> Self {
        self.warmup = n;
        self
    }
    /// Set the draws per chain.
    pub fn draws(mut self, n: usize) -> Self {
        self.draws = n;
        self
    }
    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Set the starting points.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Keep every `n`-th state of the sampling phase.
    pub fn thin(mut self, n: usize) -> Self {
        self.thin = n;
        self
    }
    /// Set the metric warm-up estimates ([`MetricKind::ScoreDense`] for strongly correlated posteriors of
    /// moderate dimension; [`MetricKind::Fixed`] keeps the kernel's own).
    pub fn metric(mut self, kind: MetricKind) -> Self {
        self.adapt.metric = kind;
        self
    }
    /// Set the acceptance statistic warm-up aims at (0.8 for HMC and NUTS by default; raise it towards 0.95
    /// when the summary reports divergences).
    ///
    /// ```
    /// use stein_models::sample::{adapt::MetricKind, Config};
    /// let cfg = Config::default().target_accept(0.95).metric(MetricKind::ScoreDense).thin(2);
    /// assert_eq!((cfg.adapt.target_accept, cfg.adapt.metric, cfg.thin), (Some(0.95), MetricKind::ScoreDense, 2));
    /// ```
    pub fn target_accept(mut self, a: f64) -> Self {
        self.adapt.target_accept = Some(a);
        self
    }
}

impl Default for Config<nuts::Params> {
    /// NUTS with Stan's defaults (see [`Config::new`]).
    fn default() -> Self {
        Config::new(nuts::Params::default())
    }
}

/// The most values a run keeps (chains × draws × (dimension + 1)): 2²⁸, 2 GiB of draws.
pub const MAX_STORED_VALUES: usize = 1 << 28;

/// The RNG of chain `c`.
pub fn chain_rng(seed: u64, c: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
            ^ (c as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

fn check_target<K: Kernel>(has_log_density: bool) -> Result<(), SampleError> {
    if K::NEEDS_LOG_DENSITY && !has_log_density {
        return Err(SampleError::NeedsLogDensity { method: K::NAME });
    }
    Ok(())
}

/// Run the chains of `cfg` on `target`, each chain on its own (in parallel).
///
/// ```
/// use stein_models::sample::{sample, Config, Exact};
/// use stein_scores::MultivariateNormal;
///
/// let target = MultivariateNormal::isotropic(vec![1.0, -1.0], 0.5).unwrap();
/// let draws = sample(&Exact(&target), &Config::default().warmup(300).draws(300)).unwrap(); // NUTS
/// assert!((draws.mean()[0] - 1.0).abs() < 0.15 && draws.divergences() == 0);
/// ```
pub fn sample<P: Tunable, T: Target + ?Sized>(
    target: &T,
    cfg: &Config<P>,
) -> Result<Draws, SampleError> {
    let dim = target.dim();
    cfg.validate(dim)?;
    check_target::<P::Kernel>(target.has_log_density())?;
    let t0 = Instant::now();
    let resolved;
    let cfg = if let Init::Pathfinder = cfg.init {
        let starts: Vec<Vec<f64>> = (0..cfg.chains)
            .map(|c| start_point(&Init::default(), c, dim, &mut chain_rng(cfg.seed, c)))
            .collect();
        let opts = pathfinder::Options::default();
        let points = pathfinder::multi_path(target, &starts, &opts, cfg.chains, cfg.seed)?.points;
        resolved = Config {
            init: Init::Points(points),
            ..cfg.clone()
        };
        &resolved
    } else {
        cfg
    };
    let bar = Progress::new(cfg.progress, transitions(cfg), 0, "transitions");
    let done = AtomicUsize::new(0);
    let chains = (0..cfg.chains)
        .into_par_iter()
        .map_with(vec![0.0; dim], |score, c| {
            let mut run = ChainRun::<P::Kernel>::new(cfg, c, dim);
            let mut reported = 0;
            while !run.is_done() {
                let log_p = target.eval_at(run.point(), run.noise(), score);
                run.resume(Eval {
                    log_p,
                    score: &score[..],
                })?;
                if run.transitions() >= reported + 1024 || run.is_done() {
                    let now = done.fetch_add(run.transitions() - reported, Ordering::Relaxed);
                    bar.set(now + run.transitions() - reported);
                    reported = run.transitions();
                }
            }
            Ok(run.into_chain())
        })
        .collect::<Result<Vec<_>, SampleError>>();
    finish(
        chains,
        cfg,
        dim,
        t0,
        &bar,
        target.note().into_iter().collect(),
    )
}

/// Chains per block of [`sample_batched`]: a block gathers, evaluates and resumes its own chains round after
/// round, blocks in parallel — no barrier between rounds, and a block's points, scores and chain states stay
/// in cache. Large enough for a network's batched pass to run at its GEMM speed.
const BLOCK: usize = 512;

/// Run the chains of `cfg` on `target` together: chains go in blocks of 512, and every round of a block
/// gathers the point each of its unfinished chains wants into one `n × dim` tensor and evaluates it in one
/// call (a network's batched forward and backward pass); blocks run in parallel. Gives the same draws as
/// [`sample`] on the same target (see [`super::Rows`]), whatever the thread count.
pub fn sample_batched<P: Tunable, T: BatchTarget + ?Sized>(
    target: &T,
    cfg: &Config<P>,
) -> Result<Draws, SampleError> {
    let dim = target.dim();
    cfg.validate(dim)?;
    check_target::<P::Kernel>(target.has_log_density())?;
    if let Init::Pathfinder = cfg.init {
        return Err(SampleError::BadParameter {
            param: "init",
            reason: "Pathfinder evaluates points one at a time: use `sample` with a `Target`"
                .into(),
        });
    }
    let t0 = Instant::now();
    let bar = Progress::new(cfg.progress, transitions(cfg), 0, "transitions");
    let done = AtomicUsize::new(0);
    let result = stein_autodiff::on_pool(|| {
        let mut runs: Vec<ChainRun<P::Kernel>> = (0..cfg.chains)
            .into_par_iter()
            .map(|c| ChainRun::new(cfg, c, dim))
            .collect();
        runs.par_chunks_mut(BLOCK)
            .try_for_each(|block| run_block(target, block, dim, &done, &bar))?;
        Ok(runs.into_iter().map(ChainRun::into_chain).collect())
    });
    finish(result, cfg, dim, t0, &bar, Vec::new())
}

/// The rounds of one block of [`sample_batched`] until each of its chains is done.
fn run_block<K: Kernel, T: BatchTarget + ?Sized>(
    target: &T,
    runs: &mut [ChainRun<K>],
    dim: usize,
    done: &AtomicUsize,
    bar: &Progress,
) -> Result<(), SampleError> {
    let (mut x, mut s) = (Tensor::zeros(0, dim), Tensor::zeros(0, dim));
    let mut active: Vec<usize> = (0..runs.len()).collect();
    let mut group: Vec<usize> = Vec::with_capacity(runs.len());
    let (mut rounds, mut reported) = (0usize, 0usize);
    while !active.is_empty() {
        // chains asking for the same noise level are evaluated together (usually all of them)
        let noise = runs[active[0]].noise();
        group.clear();
        group.extend(active.iter().copied().filter(|&c| runs[c].noise() == noise));
        x.set_zeros(group.len(), dim);
        for (row, &c) in group.iter().enumerate() {
            x.data_mut()[row * dim..(row + 1) * dim].copy_from_slice(runs[c].point());
        }
        let lp = target.eval_batch(&x, noise, &mut s);
        for (row, &c) in group.iter().enumerate() {
            runs[c].resume(Eval {
                log_p: lp.as_ref().map(|l| l[row]),
                score: s.row_slice(row),
            })?;
        }
        active.retain(|&c| !runs[c].is_done());
        rounds += 1;
        if rounds.is_multiple_of(16) || active.is_empty() {
            let now: usize = runs.iter().map(ChainRun::transitions).sum();
            bar.set(done.fetch_add(now - reported, Ordering::Relaxed) + now - reported);
            reported = now;
        }
    }
    Ok(())
}

/// Transitions of the whole run (for the progress bar).
fn transitions<P>(cfg: &Config<P>) -> usize {
    cfg.chains * (cfg.warmup + cfg.draws * cfg.thin)
}

fn finish<P: Tunable>(
    chains: Result<Vec<super::Chain>, SampleError>,
    cfg: &Config<P>,
    dim: usize,
    t0: Instant,
    bar: &Progress,
    notes: Vec<String>,
) -> Result<Draws, SampleError> {
    match chains {
        Ok(chains) => {
            bar.finish();
            Ok(Draws {
                dim,
                kernel: P::Kernel::NAME,
                chains,
                seconds: t0.elapsed().as_secs_f64(),
                warmup: cfg.warmup,
                notes,
            })
        }
        Err(e) => {
            bar.abandon();
            Err(e)
        }
    }
}
