//! Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018). For each simulation:
//! θ̃ from the prior, y from the model given θ̃, L posterior draws given y; the rank of each parameter (and of
//! each test quantity) of θ̃ among the draws is uniform on 0 … L when the posterior and the sampler are
//! right, whatever the model. A bias shows as ranks piling to one side, a posterior too narrow as a ∪, too
//! wide as a ∩ ([`stein_scores::ranks::Shape`]).
//!
//! Write the model once ([`SbcModel`]: a prior draw, a simulator, the log posterior up to a constant in
//! generic code) and call [`sbc`] with any kernel's [`Config`]: each simulation runs the sampler with
//! warm-up, checks the bulk and tail ESS, reruns longer when it is below L, and ranks against L evenly
//! spaced draws. [`sbc_with`] takes the posterior draws from your own function (an exact posterior, a
//! variational fit).
//!
//! ```
//! use rand::{Rng, RngExt};
//! use rand_distr::StandardNormal;
//! use stein_autodiff::Real;
//! use stein_models::calibration::sbc::{self, SbcModel};
//! use stein_models::sample::{mala, Config};
//!
//! /// μ ~ N(0, 1), five y ~ N(μ, 1).
//! struct Mean;
//! impl SbcModel for Mean {
//!     type Data = Vec<f64>;
//!     fn dim(&self) -> usize { 1 }
//!     fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
//!         vec![rng.sample(StandardNormal)]
//!     }
//!     fn simulate<R: Rng + ?Sized>(&self, t: &[f64], rng: &mut R) -> Vec<f64> {
//!         (0..5).map(|_| t[0] + rng.sample::<f64, _>(StandardNormal)).collect()
//!     }
//!     fn log_posterior<S: Real>(&self, t: &[S], y: &Vec<f64>) -> S {
//!         y.iter().fold(-(t[0] * t[0]) * 0.5, |acc, &v| acc - (t[0] - v).powi(2) * 0.5)
//!     }
//! }
//! let cfg = Config::new(mala::Params::new(0.5)).chains(2).warmup(200).draws(200);
//! let report = sbc::sbc(&Mean, &cfg, &sbc::Options::default().simulations(100).ranks_against(19)).unwrap();
//! report.assert_calibrated(0.001);
//! ```

use super::{at_least, finite, rank_of, replication_rng, CalibrationError, RankReport};
use crate::progress::Progress;
use crate::sample::{sample, Autodiff, Config, Draws, Tunable};
use rand::{Rng, RngExt};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use stein_autodiff::Real;
use stein_scores::{ranks, LogDensity};

/// A Bayesian model to calibrate: a prior to draw from, a simulator, and the log posterior given data.
pub trait SbcModel: Sync {
    /// A simulated data set.
    type Data: Send + Sync;
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// Parameter names for reports (`θ[0]`, `θ[1]`, … by default).
    fn names(&self) -> Vec<String> {
        (0..self.dim()).map(|i| format!("θ[{i}]")).collect()
    }
    /// θ from the prior, in the coordinates the sampler runs in (unconstrained).
    fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64>;
    /// Data from the model given θ.
    fn simulate<R: Rng + ?Sized>(&self, theta: &[f64], rng: &mut R) -> Self::Data;
    /// log p(θ | y) up to a constant: the log prior plus the log likelihood (generic, for scores by autodiff).
    fn log_posterior<S: Real>(&self, theta: &[S], data: &Self::Data) -> S;
    /// Test quantities f(θ, y) ranked beside the parameters (none by default; the log likelihood is a
    /// sensitive choice, Modrák et al. 2023).
    fn quantities(&self, theta: &[f64], data: &Self::Data) -> Vec<f64> {
        let _ = (theta, data);
        Vec::new()
    }
    /// Names of [`SbcModel::quantities`].
    fn quantity_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The posterior of `model` given `data`, as a [`LogDensity`] for the samplers.
pub struct Posterior<'a, M: SbcModel> {
    /// The model.
    pub model: &'a M,
    /// The data.
    pub data: &'a M::Data,
}

impl<M: SbcModel> LogDensity for Posterior<'_, M> {
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        self.model.log_posterior(x, self.data)
    }
}

/// The budget of an SBC run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Simulated data sets (200).
    pub simulations: usize,
    /// Posterior draws each truth is ranked against, L (99: ranks in 0 … 99).
    pub ranks_against: usize,
    /// Seed: simulation s uses its own stream (seed, s), so the result does not depend on the threads.
    pub seed: u64,
    /// How the ranks are tested.
    pub ranks: ranks::Options,
    /// Draw a progress bar over the simulations on a terminal (feature `progress`; off by default).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            simulations: 200,
            ranks_against: 99,
            seed: 0,
            ranks: ranks::Options::default(),
            progress: false,
        }
    }
}

impl Options {
    /// Set [`Options::simulations`].
    pub fn simulations(mut self, n: usize) -> Self {
        self.simulations = n;
        self
    }
    /// Set [`Options::ranks_against`].
    pub fn ranks_against(mut self, l: usize) -> Self {
        self.ranks_against = l;
        self
    }
    /// Set [`Options::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Set [`Options::progress`].
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }
}

/// The largest factor by which a simulation's draws are multiplied when their ESS is below L.
pub const MAX_RERUN_FACTOR: usize = 8;

/// SBC of `model` with the sampler of `config` (its seed is replaced per simulation). Each simulation runs
/// the sampler; when the smaller of the bulk and tail ESS of any parameter is below L, it runs once more
/// with the draws multiplied by 2L/ESS (at least 2, at most [`MAX_RERUN_FACTOR`]), and a simulation still
/// below L is counted in the report's notes (its draws are correlated and its rank less informative).
/// Ranks come from L evenly spaced draws of the pooled chains. Errors when a simulation's sampler fails (naming the simulation), a value is not
/// finite, or when the config's chains × draws are fewer than L.
pub fn sbc<M: SbcModel, P: Tunable>(
    model: &M,
    config: &Config<P>,
    opts: &Options,
) -> Result<RankReport, CalibrationError> {
    let l = opts.ranks_against;
    if config.chains.saturating_mul(config.draws) < l {
        return Err(CalibrationError::BadParameter {
            param: "config.draws",
            reason: format!(
                "{} chains × {} draws: fewer than the {l} draws each truth is ranked against",
                config.chains, config.draws
            ),
        });
    }
    let run = |data: &M::Data, seed: u64| {
        let target = Autodiff(&Posterior { model, data });
        let mut cfg = config.clone().seed(seed);
        let mut draws = sample(&target, &cfg)?;
        let mut ess = min_ess(&draws);
        if ess < l as f64 {
            let factor =
                ((2.0 * l as f64 / ess.max(1e-9)).ceil() as usize).clamp(2, MAX_RERUN_FACTOR);
            cfg.draws *= factor;
            draws = sample(&target, &cfg)?;
            ess = min_ess(&draws);
        }
        Ok((draws.pooled(), ess >= l as f64))
    };
    let mut report = simulate(model, opts, run)?;
    report.test = format!("SBC of {}", <P::Kernel as crate::sample::Kernel>::NAME);
    Ok(report)
}

/// SBC with posterior draws from `posterior(data, seed)` (at least L of them; L evenly spaced are used):
/// an exact posterior, a variational approximation, another library's sampler.
pub fn sbc_with<M: SbcModel>(
    model: &M,
    opts: &Options,
    posterior: impl Fn(&M::Data, u64) -> Vec<Vec<f64>> + Sync,
) -> Result<RankReport, CalibrationError> {
    simulate(model, opts, |data, seed| Ok((posterior(data, seed), true)))
}

/// The smaller of the bulk and tail ESS over the parameters (0 when undefined).
fn min_ess(draws: &Draws) -> f64 {
    draws
        .ess()
        .into_iter()
        .chain(draws.ess_tail())
        .map(|e| if e.is_nan() { 0.0 } else { e })
        .fold(f64::INFINITY, f64::min)
}

fn simulate<M: SbcModel>(
    model: &M,
    opts: &Options,
    posterior: impl Fn(&M::Data, u64) -> Result<(Vec<Vec<f64>>, bool), crate::sample::SampleError>
        + Sync,
) -> Result<RankReport, CalibrationError> {
    at_least("simulations", opts.simulations, 10)?;
    at_least("ranks_against", opts.ranks_against, 1)?;
    let t0 = Instant::now();
    let (d, l) = (model.dim(), opts.ranks_against);
    let bar = Progress::new(opts.progress, opts.simulations, 0, "simulations");
    let done = AtomicUsize::new(0);
    let per_sim =
        (0..opts.simulations)
            .into_par_iter()
            .map(|s| {
                let mut rng = replication_rng(opts.seed, s);
                let truth = model.prior_draw(&mut rng);
                finite(&truth, "the prior draw", s)?;
                let data = model.simulate(&truth, &mut rng);
                let (draws, independent) =
                    posterior(&data, rng.random()).map_err(|source| CalibrationError::Sample {
                        simulation: s,
                        source,
                    })?;
                if draws.len() < l || draws.iter().any(|x| x.len() != d) {
                    return Err(CalibrationError::BadParameter {
                        param: "posterior",
                        reason: format!(
                        "simulation {s}: needs at least {l} draws of {d} values, got {} draws{}",
                        draws.len(),
                        draws.first().map_or(String::new(), |x| format!(" of {} values", x.len()))
                    ),
                    });
                }
                let kept: Vec<&Vec<f64>> = (0..l)
                    .map(|k| &draws[(2 * k + 1) * draws.len() / (2 * l)])
                    .collect();
                let values = |x: &[f64]| {
                    let mut v = x.to_vec();
                    v.extend(model.quantities(x, &data));
                    v
                };
                let true_values = values(&truth);
                let drawn: Vec<Vec<f64>> = kept.iter().map(|x| values(x)).collect();
                for x in &drawn {
                    finite(x, "a posterior draw or its test quantity", s)?;
                }
                let ranks: Vec<usize> = (0..true_values.len())
                    .map(|k| rank_of(true_values[k], drawn.iter().map(|v| v[k]), &mut rng))
                    .collect();
                bar.set(done.fetch_add(1, Ordering::Relaxed) + 1);
                Ok((ranks, independent))
            })
            .collect::<Result<Vec<_>, CalibrationError>>();
    let per_sim = match per_sim {
        Ok(p) => {
            bar.finish();
            p
        }
        Err(e) => {
            bar.abandon();
            return Err(e);
        }
    };
    let mut names = model.names();
    names.extend(model.quantity_names());
    let k = per_sim.first().map_or(0, |r| r.0.len());
    if names.len() != k {
        return Err(CalibrationError::BadParameter {
            param: "names",
            reason: format!(
                "{} names for {k} parameters and test quantities",
                names.len()
            ),
        });
    }
    let ranks = (0..k)
        .map(|i| per_sim.iter().map(|r| r.0[i]).collect())
        .collect();
    let correlated = per_sim.iter().filter(|r| !r.1).count();
    let mut notes = Vec::new();
    if correlated > 0 {
        notes.push(format!(
            "{correlated} of {} simulations kept an ESS below L = {l} even after a longer run: their draws are correlated, which makes ranks ∪-shaped; raise the sampler's draws or lower L",
            opts.simulations
        ));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let mut report = RankReport::new("SBC", names, ranks, l, &opts.ranks, seconds, notes)?;
    report.correlated = correlated;
    Ok(report)
}
