//! Goodness-of-fit tests with p-values, for users' own test suites: do these draws come from the density whose
//! score I have ([`KsdTest`], [`FssdTest`]), and do two sets of draws come from one law ([`MmdTest`] at one bandwidth, [`MmdAggTest`] at five)?
//!
//! Each test returns a [`TestResult`]: the statistic, its p-value, and the number of draws used. The p-values
//! are calibrated: under the null hypothesis they are uniform, so a test at level α rejects exact draws with
//! probability α (measured in this crate's tests: 200 tests each of KSD, MMD and FSSD on exact draws). Draws
//! of a Markov chain are dependent: give the KSD test [`Bootstrap::for_chain`], which keeps the
//! bootstrap's signs correlated over the chain's autocorrelation time, or thin the chain.
//!
//! A user's own sampler, tested in ten lines (the assertions are in `stein_scores::testing`, feature `testing`):
//!
//! ```
//! use rand::SeedableRng;
//! use stein_scores::gof::{Bootstrap, KsdTest};
//! use stein_scores::{MultivariateNormal, Sample};
//!
//! let target = MultivariateNormal::isotropic(vec![1.0, -1.0], 0.5).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let good = target.sample_n(&mut rng, 400);                           // your sampler's draws
//! let bad: Vec<Vec<f64>> = good.iter().map(|x| vec![x[0] + 0.3, x[1]]).collect();
//! let test = KsdTest::default().bootstrap(Bootstrap::Rademacher).seed(7);
//! assert!(test.run(&target, &good).unwrap().p_value > 0.01);
//! assert!(test.run(&target, &bad).unwrap().p_value < 0.01);
//! ```

mod frame;
mod fssd;
mod ksd;
mod mmd;
mod mmd_agg;

pub(crate) use frame::{ldexp, scale_pow2, Frame};
pub use fssd::FssdTest;
pub(crate) use ksd::{framed, SteinKernel};
pub use ksd::{KsdKernel, KsdTest};
pub use mmd::MmdTest;
pub(crate) use mmd::{dist2, gaussian, median_bandwidth2};
pub use mmd_agg::{AggregatedResult, BandwidthTest, MmdAggTest, AGG_BANDWIDTHS, MAX_AGG_DRAWS};

use crate::error::ScoreError;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// The outcome of a goodness-of-fit test.
#[derive(Clone, Debug, PartialEq)]
pub struct TestResult {
    /// The test statistic (KSD², MMD² or FSSD², unbiased: it can be slightly negative under the null).
    pub statistic: f64,
    /// The probability, under the null hypothesis, of a statistic at least as large: reject at level α when
    /// `p_value < α`. Estimated from replicates, so it is at least 1 / (replicates + 1).
    pub p_value: f64,
    /// Draws used (after thinning).
    pub n: usize,
    /// Bootstrap, permutation or simulation replicates behind the p-value.
    pub replicates: usize,
}

impl TestResult {
    /// Whether the null hypothesis is rejected at level `alpha`.
    pub fn rejects(&self, alpha: f64) -> bool {
        self.p_value < alpha
    }
}

/// How the KSD test's wild bootstrap draws its signs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bootstrap {
    /// Independent ±1 signs: for independent draws (Liu, Lee & Jordan 2016; Chwialkowski et al. 2016).
    Rademacher,
    /// Signs that flip with probability `flip` from one draw to the next (a Markov chain of signs;
    /// Chwialkowski, Strathmann & Gretton 2016, §4.1): for the draws of a Markov chain, in chain order, whose
    /// dependence an independent-sign bootstrap ignores (and so rejects exact chains too often).
    Markov {
        /// Probability of a sign change between consecutive draws, in (0, 0.5]; 0.5 is [`Bootstrap::Rademacher`].
        flip: f64,
    },
}

impl Bootstrap {
    /// A Markov bootstrap for the draws of one chain (in order): signs stay together over about twice the
    /// chain's integrated autocorrelation time τ (largest over coordinates; Sokal's window), so
    /// flip = 1 / (2τ), at most 0.5. An error for draws of different lengths or with a non-finite value.
    pub fn for_chain(draws: &[Vec<f64>]) -> Result<Bootstrap, ScoreError> {
        let tau = autocorrelation_time(draws)?;
        Ok(Bootstrap::Markov {
            flip: (0.5 / tau).clamp(1.0 / draws.len().max(2) as f64, 0.5),
        })
    }

    fn check(&self) -> Result<(), ScoreError> {
        match *self {
            Bootstrap::Markov { flip } if !(flip > 0.0 && flip <= 0.5) => {
                Err(ScoreError::BadParameter {
                    param: "Bootstrap::Markov::flip",
                    requirement: "in (0, 0.5]",
                    value: flip,
                })
            }
            _ => Ok(()),
        }
    }

    /// n signs of replicate b.
    fn signs(&self, n: usize, rng: &mut SmallRng) -> Vec<f64> {
        let flip = match *self {
            Bootstrap::Rademacher => 0.5,
            Bootstrap::Markov { flip } => flip,
        };
        let mut w = if rng.random::<bool>() { 1.0 } else { -1.0 };
        (0..n)
            .map(|i| {
                if i > 0 && rng.random::<f64>() < flip {
                    w = -w;
                }
                w
            })
            .collect()
    }
}

/// The integrated autocorrelation time of a chain's draws, the largest over coordinates: τ = 1 + 2 Σ ρ_k over
/// lags k < M, with Sokal's window (the smallest M ≥ 5τ(M)); 1 for fewer than 4 draws. Each coordinate is
/// rescaled by a power of two first, so draws at any scale give the same τ. An error for draws of different
/// lengths or with a non-finite value.
pub fn autocorrelation_time(draws: &[Vec<f64>]) -> Result<f64, ScoreError> {
    let n = draws.len();
    let d = draws.first().map_or(0, Vec::len);
    check_draws("autocorrelation_time draws", draws, d, 0)?;
    if n < 4 {
        return Ok(1.0);
    }
    let tau = (0..d)
        .map(|j| {
            let column: Vec<f64> = draws.iter().map(|x| x[j]).collect();
            let frame = Frame::of(column.iter().map(std::slice::from_ref));
            let column: Vec<f64> = column.iter().map(|v| frame.point(&[*v])[0]).collect();
            let mean = column.iter().sum::<f64>() / n as f64;
            let c: Vec<f64> = column.iter().map(|x| x - mean).collect();
            let var = c.iter().map(|v| v * v).sum::<f64>() / n as f64;
            if var <= 0.0 {
                return 1.0;
            }
            let mut tau = 1.0;
            for k in 1..n / 2 {
                let rho = c[..n - k]
                    .iter()
                    .zip(&c[k..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / (n as f64 * var);
                tau += 2.0 * rho;
                if (k as f64) >= 5.0 * tau {
                    break;
                }
            }
            tau.max(1.0)
        })
        .fold(1.0, f64::max);
    Ok(tau)
}

/// The p-value of `stat` against `replicates` of its null distribution: (1 + #{r ≥ stat}) / (1 + R).
fn p_value(stat: f64, replicates: &[f64]) -> f64 {
    let above = replicates.iter().filter(|&&r| r >= stat).count();
    (1 + above) as f64 / (1 + replicates.len()) as f64
}

/// The random stream of replicate `b` of a test seeded `seed` (independent of the thread that runs it).
fn replicate_rng(seed: u64, b: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed ^ (b as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// Check draws: at least `need`, all of dimension `d` (as every property checks them), all finite.
pub(crate) fn check_draws(
    what: &'static str,
    draws: &[Vec<f64>],
    d: usize,
    need: usize,
) -> Result<(), ScoreError> {
    crate::error::need(what, need, draws.len())?;
    crate::error::check_dims(what, d, draws)?;
    for (i, x) in draws.iter().enumerate() {
        if let Some(v) = x.iter().find(|v| !v.is_finite()) {
            return Err(ScoreError::NonFinite {
                what,
                index: i,
                value: *v,
            });
        }
    }
    Ok(())
}

/// Check the two samples of a two-sample test (`what`: "MMD test", …): two draws of each at least, one
/// dimension, finite, at most `max` together. Returns their sizes.
fn check_two_samples(
    what: [&'static str; 3],
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    max: usize,
) -> Result<(usize, usize), ScoreError> {
    let d = x.first().map_or(0, Vec::len);
    check_draws(what[0], x, d, 2)?;
    check_draws(what[1], y, d, 2)?;
    let (n, m) = (x.len(), y.len());
    if n + m > max {
        return Err(ScoreError::Dimension {
            param: what[2],
            expected: format!("at most {max} draws together (subsample them)"),
            got: format!("{n} + {m}"),
        });
    }
    Ok((n, m))
}

/// Refuse a replicate count of 0 or above a million.
fn check_replicates(param: &'static str, r: usize) -> Result<(), ScoreError> {
    if r == 0 || r > 1_000_000 {
        return Err(ScoreError::BadParameter {
            param,
            requirement: "from 1 to 1,000,000",
            value: r as f64,
        });
    }
    Ok(())
}
