//! The exact rank test of a Markov kernel (Gandy & Scott 2020, "Unit testing for MCMC and other Monte Carlo
//! methods"). Draw X from the target exactly and a position M uniform on 0 … L − 1; run the kernel M steps
//! "backward" and L − 1 − M steps forward from X. For a kernel reversible with respect to the target (MALA,
//! HMC, NUTS: every Metropolis-adjusted kernel here), backward is forward, and the L states are a stationary
//! chain whose law does not depend on M — so the rank of f(X) among the L values of a probe f is uniform on
//! 0 … L − 1 exactly when the kernel leaves the target invariant. A kernel that does not (a missing
//! Metropolis correction, a wrong momentum, a wrong selection in a tree) drifts away from the target on both
//! sides of X, and the ranks of a probe that sees the drift pile up at the ends or in the middle.
//!
//! The test needs an exact sampler of the target (a Gaussian, a mixture, any density in the catalogue with
//! [`stein_scores::Sample`], or a transformation of independent draws) and fixed kernel parameters: give the
//! tuned step size and metric of a warm-up run, not warm-up itself (adaptation is not a Markov kernel).
//! Unadjusted kernels (ULA, SGLD, annealed Langevin) fail it by design at steps where their bias is
//! visible at the budget; [`rank_test_with`] takes any transition as a closure.
//!
//! ```
//! use stein_models::calibration::{kernel_test, Probe};
//! use stein_models::sample::{nuts, Exact};
//! use stein_scores::{MultivariateNormal, Sample};
//!
//! let target = MultivariateNormal::new(vec![1.0, -1.0], vec![vec![1.0, 0.9], vec![0.9, 1.0]]).unwrap();
//! let opts = kernel_test::Options::default().replications(200).chain_length(10);
//! let report = kernel_test::rank_test::<nuts::Nuts, _>(
//!     &Exact(&target), &nuts::Params::new(0.4), |rng| target.sample_n(rng, 1).remove(0), &Probe::standard(2), &opts,
//! ).unwrap();
//! assert!(report.p_value > 0.001, "{report}");
//! ```

use super::{at_least, finite, rank_of, replication_rng, CalibrationError, Probe, RankReport};
use crate::sample::{Eval, Kernel, Progress, State, Target};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt};
use rayon::prelude::*;
use std::time::Instant;
use stein_scores::ranks;

/// The budget of a kernel rank test.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Independent replications, each giving one rank per probe (1,000).
    pub replications: usize,
    /// States per chain, L (20): ranks lie in 0 … L − 1.
    pub chain_length: usize,
    /// Kernel transitions between successive chain states (1); more make the test see slower drifts.
    pub thin: usize,
    /// Seed: replication r uses its own stream (seed, r), so the result does not depend on the threads.
    pub seed: u64,
    /// How the ranks are tested.
    pub ranks: ranks::Options,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            replications: 1000,
            chain_length: 20,
            thin: 1,
            seed: 0,
            ranks: ranks::Options::default(),
        }
    }
}

impl Options {
    /// Set [`Options::replications`].
    pub fn replications(mut self, n: usize) -> Self {
        self.replications = n;
        self
    }
    /// Set [`Options::chain_length`].
    pub fn chain_length(mut self, n: usize) -> Self {
        self.chain_length = n;
        self
    }
    /// Set [`Options::thin`].
    pub fn thin(mut self, n: usize) -> Self {
        self.thin = n;
        self
    }
    /// Set [`Options::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn validate(&self) -> Result<(), CalibrationError> {
        at_least("replications", self.replications, 10)?;
        at_least("chain_length", self.chain_length, 2)?;
        at_least("thin", self.thin, 1)
    }
}

/// The exact rank test of Stein's kernel `K` with fixed `params` on `target`, starting each replication from
/// `exact(rng)`, an exact draw of the target. See the module documentation.
///
/// Errors when the parameters or options are out of range, when `probes` is empty, or when an exact draw
/// is not a finite point of the target.
pub fn rank_test<K: Kernel, T: Target + ?Sized>(
    target: &T,
    params: &K::Params,
    exact: impl Fn(&mut SmallRng) -> Vec<f64> + Sync,
    probes: &[Probe],
    opts: &Options,
) -> Result<RankReport, CalibrationError> {
    let dim = target.dim();
    K::validate(params, dim).map_err(|reason| CalibrationError::BadParameter {
        param: "params",
        reason,
    })?;
    if K::NEEDS_LOG_DENSITY && !target.has_log_density() {
        return Err(CalibrationError::BadParameter {
            param: "target",
            reason: format!(
                "{} needs a log-density and this target has only a score",
                K::NAME
            ),
        });
    }
    let test = format!("kernel rank test of {}", K::NAME);
    run(&test, exact, probes, opts, |r| {
        let mut w = K::work(dim);
        let mut score = vec![0.0; dim];
        move |x: &mut Vec<f64>, rng: &mut SmallRng| {
            let mut state =
                State::new(target, std::mem::take(x)).map_err(|e| CalibrationError::NonFinite {
                    replication: r,
                    what: format!("the target at an exact draw ({e})"),
                })?;
            transition::<K, T, SmallRng>(&mut w, &mut state, target, params, &mut score, rng);
            *x = state.x;
            Ok(())
        }
    })
}

/// The exact rank test of any transition `step(x, rng)` that should leave the target of `exact` invariant
/// (for example SGLD's step, or a user's own kernel). The transition must be reversible with respect to the
/// target for the test to be exact.
pub fn rank_test_with(
    exact: impl Fn(&mut SmallRng) -> Vec<f64> + Sync,
    step: impl Fn(&mut Vec<f64>, &mut SmallRng) + Sync,
    probes: &[Probe],
    opts: &Options,
) -> Result<RankReport, CalibrationError> {
    run("rank test", exact, probes, opts, |_| {
        |x: &mut Vec<f64>, rng: &mut SmallRng| {
            step(x, rng);
            Ok(())
        }
    })
}

/// One transition of `K`, evaluating each request at once, with the caller's scratch (also Geweke's).
pub(super) fn transition<K: Kernel, T: Target + ?Sized, R: Rng>(
    w: &mut K::Work,
    state: &mut State,
    target: &T,
    params: &K::Params,
    score: &mut [f64],
    rng: &mut R,
) {
    let mut progress = K::begin(w, state, params, rng);
    while let Progress::Eval = progress {
        let log_p = target.eval_at(K::point(w), K::noise(w, params), score);
        let eval = Eval { log_p, score };
        progress = K::resume(w, state, params, eval, rng);
    }
}

/// The replications: `make(r)` builds replication r's transition (with its own scratch).
fn run<Step>(
    test: &str,
    exact: impl Fn(&mut SmallRng) -> Vec<f64> + Sync,
    probes: &[Probe],
    opts: &Options,
    make: impl Fn(usize) -> Step + Sync,
) -> Result<RankReport, CalibrationError>
where
    Step: FnMut(&mut Vec<f64>, &mut SmallRng) -> Result<(), CalibrationError>,
{
    opts.validate()?;
    at_least("probes", probes.len(), 1)?;
    let t0 = Instant::now();
    let l = opts.chain_length;
    let per_replication = (0..opts.replications)
        .into_par_iter()
        .map(|r| {
            let mut rng = replication_rng(opts.seed, r);
            let start = exact(&mut rng);
            finite(&start, "the exact draw", r)?;
            let m = rng.random_range(0..l);
            let mut step = make(r);
            let values = |x: &[f64]| probes.iter().map(|p| p.eval(x)).collect::<Vec<f64>>();
            let mut chain = vec![Vec::new(); l];
            chain[m] = values(&start);
            for (range, backward) in [(0..m, true), (m + 1..l, false)] {
                let mut x = start.clone();
                let order: Vec<usize> = if backward {
                    range.rev().collect()
                } else {
                    range.collect()
                };
                for j in order {
                    for _ in 0..opts.thin {
                        step(&mut x, &mut rng)?;
                    }
                    chain[j] = values(&x);
                    finite(&chain[j], "a probe", r)?;
                }
            }
            Ok((0..probes.len())
                .map(|k| {
                    let others = chain.iter().enumerate().filter(|&(j, _)| j != m);
                    rank_of(chain[m][k], others.map(|(_, v)| v[k]), &mut rng)
                })
                .collect::<Vec<usize>>())
        })
        .collect::<Result<Vec<_>, CalibrationError>>()?;
    let ranks = (0..probes.len())
        .map(|k| per_replication.iter().map(|r| r[k]).collect())
        .collect();
    let names = probes.iter().map(|p| p.name().to_string()).collect();
    RankReport::new(
        test,
        names,
        ranks,
        l - 1,
        &opts.ranks,
        t0.elapsed().as_secs_f64(),
        vec![],
    )
}
