//! Is a set of ranks uniform? The question behind simulation-based calibration and the exact rank tests of
//! Markov kernels: each replication ranks a true value among L draws, giving a rank in {0, …, L}; when the
//! draws come from the right distribution the ranks are uniform on that set.
//!
//! [`rank_uniformity`] answers with two tests and a diagnosis:
//! - the **ECDF test** of Säilynoja, Paananen & Vehtari (2022): the ranks' empirical CDF against the uniform
//!   one at every rank, each point's deviation measured by its binomial tail probability, the smallest of
//!   them as the statistic; its null distribution (and the simultaneous band of the picture) comes from
//!   simulated uniform ranks of the same size, so the test is exact for discrete ranks;
//! - **Pearson's χ²** on the ranks grouped into bins of ≈ 10 expected counts;
//! - the **shape**: z-scores of the mean fractional rank (a shift: the draws sit below or above the truth)
//!   and of its mean squared distance from ½ (∪-shaped ranks: draws too narrow; ∩-shaped: too wide), each
//!   against its exact null mean and variance; these directed tests see the common miscalibrations with
//!   fewer ranks than the omnibus ones, and say which way a failure goes;
//! - the combined p-value is the Bonferroni bound 4 · min of the four.
//!
//! ```
//! use stein_scores::ranks::{rank_uniformity, Options};
//! use rand::{RngExt, SeedableRng};
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let fair: Vec<usize> = (0..500).map(|_| rng.random_range(0..=19)).collect();
//! let u = rank_uniformity(&fair, 19, &Options::default()).unwrap();
//! assert!(u.p_value > 0.01, "{u}");
//! // the truth ranked against draws that are too narrow: ranks pile up at both ends
//! let narrow: Vec<usize> = fair.iter().map(|&r| if r % 3 == 0 { 19 * (r % 2) } else { r }).collect();
//! let u = rank_uniformity(&narrow, 19, &Options::default()).unwrap();
//! assert!(u.p_value < 0.01 && u.shape() == stein_scores::ranks::Shape::UShaped, "{u}");
//! ```

use crate::error::ScoreError;
use rand::{RngExt, SeedableRng};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use std::fmt;

/// How [`rank_uniformity`] tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Simulated uniform rank sets that calibrate the ECDF test and its band (2,000; the p-value is at least
    /// 1 / (simulations + 1)).
    pub simulations: usize,
    /// The level of the simultaneous band drawn in pictures (0.05).
    pub band_alpha: f64,
    /// Seed of the simulations (0): the p-values are a fixed function of the ranks.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            simulations: 2000,
            band_alpha: 0.05,
            seed: 0,
        }
    }
}

/// Which way ranks depart from uniform (read from their mean and spread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// No departure large enough to name (|z| < 2 for both the shift and the spread).
    Flat,
    /// The truth tends to rank high: the draws sit too low (a bias downwards).
    DrawsTooLow,
    /// The truth tends to rank low: the draws sit too high.
    DrawsTooHigh,
    /// Ranks pile up at both ends: the draws are under-dispersed (too narrow, over-confident).
    UShaped,
    /// Ranks pile up in the middle: the draws are over-dispersed (too wide).
    Humped,
}

impl Shape {
    /// A sentence for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Flat => "no clear shift or spread",
            Shape::DrawsTooLow => "the truth ranks high: the draws are biased low",
            Shape::DrawsTooHigh => "the truth ranks low: the draws are biased high",
            Shape::UShaped => {
                "ranks pile up at both ends: the draws are under-dispersed (too narrow)"
            }
            Shape::Humped => "ranks pile up in the middle: the draws are over-dispersed (too wide)",
        }
    }
}

/// The simultaneous band of the rank ECDF at level 1 − `alpha` (Säilynoja et al. 2022), on fractional ranks.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// The evaluation points (k + 1)/(L + 1), k = 0 … L − 1: the uniform CDF there.
    pub z: Vec<f64>,
    /// The ranks' ECDF at each point.
    pub ecdf: Vec<f64>,
    /// The band's lower edge at each point.
    pub lower: Vec<f64>,
    /// The band's upper edge at each point.
    pub upper: Vec<f64>,
    /// Its level: the whole ECDF of uniform ranks stays inside with probability 1 − `alpha`.
    pub alpha: f64,
}

/// The verdict of [`rank_uniformity`].
#[derive(Clone, Debug, PartialEq)]
pub struct Uniformity {
    /// Number of ranks.
    pub n: usize,
    /// The largest possible rank L (ranks lie in 0 … L).
    pub max_rank: usize,
    /// The four tests together: min(1, 4 · min(`p_ecdf`, `p_chi2`, `p_shift`, `p_spread`)).
    pub p_value: f64,
    /// The ECDF test's p-value (by simulation; at least 1 / (simulations + 1)).
    pub p_ecdf: f64,
    /// Pearson's χ² on binned ranks.
    pub chi2: f64,
    /// Its bins (degrees of freedom + 1).
    pub bins: usize,
    /// Its p-value.
    pub p_chi2: f64,
    /// z-score of the mean fractional rank (positive: the truth ranks high, the draws sit low).
    pub shift_z: f64,
    /// Its two-sided normal p-value.
    pub p_shift: f64,
    /// z-score of the mean squared distance of the fractional ranks from ½ (positive: ∪-shaped).
    pub spread_z: f64,
    /// Its two-sided normal p-value.
    pub p_spread: f64,
    /// The ECDF with its simultaneous band, for pictures.
    pub band: Band,
}

impl Uniformity {
    /// The larger of the two departures when it is clear (|z| ≥ 2), else [`Shape::Flat`].
    pub fn shape(&self) -> Shape {
        let (s, d) = (self.shift_z, self.spread_z);
        if s.abs().max(d.abs()) < 2.0 {
            Shape::Flat
        } else if s.abs() >= d.abs() {
            if s > 0.0 {
                Shape::DrawsTooLow
            } else {
                Shape::DrawsTooHigh
            }
        } else if d > 0.0 {
            Shape::UShaped
        } else {
            Shape::Humped
        }
    }
}

impl fmt::Display for Uniformity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ranks in 0..={}: p = {:.3} (ECDF {:.3}, χ² {:.1} on {} bins {:.3}, shift z = {:+.2}, spread z = {:+.2}): {}",
            self.n,
            self.max_rank,
            self.p_value,
            self.p_ecdf,
            self.chi2,
            self.bins,
            self.p_chi2,
            self.shift_z,
            self.spread_z,
            self.shape().describe()
        )
    }
}

/// Test whether `ranks` (each in 0 ..= `max_rank`) are uniform; see the module documentation.
///
/// Errors when fewer than 10 ranks are given, `max_rank` is 0, a rank exceeds `max_rank`, or the options are
/// out of range (fewer than 100 simulations, `band_alpha` outside (0, 1)).
pub fn rank_uniformity(
    ranks: &[usize],
    max_rank: usize,
    opts: &Options,
) -> Result<Uniformity, ScoreError> {
    validate(ranks, max_rank, opts)?;
    let (n, m) = (ranks.len(), max_rank + 1);
    let counts = histogram(ranks.iter().copied(), m);
    let table = BinomialTails::new(n, m);
    let observed = table.statistic(&counts);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(opts.seed ^ 0x5AD1_E0B5);
    let mut null: Vec<f64> = (0..opts.simulations)
        .map(|_| table.statistic(&histogram((0..n).map(|_| rng.random_range(0..m)), m)))
        .collect();
    null.sort_by(f64::total_cmp);
    let as_extreme = null.partition_point(|&s| s <= observed);
    let p_ecdf = (1 + as_extreme) as f64 / (opts.simulations + 1) as f64;
    let gamma = null[((opts.band_alpha * opts.simulations as f64) as usize).min(null.len() - 1)];
    let (chi2, bins) = chi_square(&counts, n);
    let p_chi2 = ChiSquared::new((bins - 1) as f64)
        .map(|d| d.sf(chi2))
        .unwrap_or(f64::NAN);
    let (shift_z, spread_z) = shape_scores(&counts, n);
    let normal = Normal::standard();
    let (p_shift, p_spread) = (
        2.0 * normal.cdf(-shift_z.abs()),
        2.0 * normal.cdf(-spread_z.abs()),
    );
    let mut cum = 0;
    let ecdf = counts[..m - 1]
        .iter()
        .map(|c| {
            cum += c;
            cum as f64 / n as f64
        })
        .collect();
    let (lower, upper) = table.band(gamma);
    Ok(Uniformity {
        n,
        max_rank,
        p_value: (4.0 * p_ecdf.min(p_chi2).min(p_shift).min(p_spread)).min(1.0),
        p_ecdf,
        chi2,
        bins,
        p_chi2,
        shift_z,
        p_shift,
        spread_z,
        p_spread,
        band: Band {
            z: (1..m).map(|k| k as f64 / m as f64).collect(),
            ecdf,
            lower,
            upper,
            alpha: opts.band_alpha,
        },
    })
}

fn validate(ranks: &[usize], max_rank: usize, opts: &Options) -> Result<(), ScoreError> {
    if ranks.len() < 10 {
        return Err(ScoreError::TooFewSamples {
            what: "rank uniformity",
            need: 10,
            got: ranks.len(),
        });
    }
    let bad = |param, requirement, value| ScoreError::BadParameter {
        param,
        requirement,
        value,
    };
    if max_rank == 0 {
        return Err(bad("max_rank", "at least 1", 0.0));
    }
    if let Some(&r) = ranks.iter().find(|&&r| r > max_rank) {
        return Err(bad("ranks", "at most max_rank", r as f64));
    }
    if opts.simulations < 100 {
        return Err(bad("simulations", "at least 100", opts.simulations as f64));
    }
    if !(opts.band_alpha > 0.0 && opts.band_alpha < 1.0) {
        return Err(bad("band_alpha", "in (0, 1)", opts.band_alpha));
    }
    Ok(())
}

fn histogram(ranks: impl Iterator<Item = usize>, m: usize) -> Vec<usize> {
    let mut counts = vec![0; m];
    for r in ranks {
        counts[r] += 1;
    }
    counts
}

/// Pearson's χ² with bins of about 10 expected ranks (at most m, at least 2), rank values split evenly.
fn chi_square(counts: &[usize], n: usize) -> (f64, usize) {
    let m = counts.len();
    let bins = (n / 10).clamp(2, m.clamp(2, 50)).min(m);
    let mut chi2 = 0.0;
    for b in 0..bins {
        let (lo, hi) = (b * m / bins, (b + 1) * m / bins);
        let observed: usize = counts[lo..hi].iter().sum();
        let expected = n as f64 * (hi - lo) as f64 / m as f64;
        chi2 += (observed as f64 - expected).powi(2) / expected;
    }
    (chi2, bins)
}

/// z-scores of the shift and spread of the fractional ranks u = (r + ½)/m against their exact moments under
/// the discrete uniform.
fn shape_scores(counts: &[usize], n: usize) -> (f64, f64) {
    let m = counts.len() as f64;
    let u = |r: usize| (r as f64 + 0.5) / m - 0.5;
    let (mut v, mut k4) = (0.0, 0.0);
    for r in 0..counts.len() {
        v += u(r).powi(2) / m;
        k4 += u(r).powi(4) / m;
    }
    let (mut mean, mut sq) = (0.0, 0.0);
    for (r, &c) in counts.iter().enumerate() {
        mean += c as f64 * u(r) / n as f64;
        sq += c as f64 * u(r).powi(2) / n as f64;
    }
    let nf = n as f64;
    (
        mean / (v / nf).sqrt(),
        (sq - v) / ((k4 - v * v) / nf).sqrt(),
    )
}

/// The binomial tails of n·ECDF at the m − 1 interior rank points, tabulated once.
struct BinomialTails {
    n: usize,
    /// For each point k, P(X ≤ c) for c = 0 … n (X ~ Binomial(n, (k + 1)/m)).
    below: Vec<Vec<f64>>,
    /// For each point k, P(X ≥ c).
    above: Vec<Vec<f64>>,
}

impl BinomialTails {
    fn new(n: usize, m: usize) -> Self {
        let ln_fact: Vec<f64> = (0..=n)
            .map(|v| stein_autodiff::special::lgamma(v as f64 + 1.0))
            .collect();
        let lg = |v: usize| ln_fact[v];
        let (mut below, mut above) = (Vec::with_capacity(m - 1), Vec::with_capacity(m - 1));
        for k in 1..m {
            let z = k as f64 / m as f64;
            let pmf: Vec<f64> = (0..=n)
                .map(|c| {
                    (lg(n) - lg(c) - lg(n - c) + c as f64 * z.ln() + (n - c) as f64 * (-z).ln_1p())
                        .exp()
                })
                .collect();
            let mut acc = 0.0;
            below.push(
                pmf.iter()
                    .map(|p| {
                        acc += p;
                        acc.min(1.0)
                    })
                    .collect(),
            );
            acc = 0.0;
            let mut up: Vec<f64> = pmf
                .iter()
                .rev()
                .map(|p| {
                    acc += p;
                    acc.min(1.0)
                })
                .collect();
            up.reverse();
            above.push(up);
        }
        BinomialTails { n, below, above }
    }

    /// min over the points of the two-sided tail probability 2 · min(P(X ≤ c), P(X ≥ c)) of the counts.
    fn statistic(&self, counts: &[usize]) -> f64 {
        let mut cum = 0;
        let mut worst = 1.0f64;
        for (k, c) in counts[..counts.len() - 1].iter().enumerate() {
            cum += c;
            worst = worst.min(2.0 * self.below[k][cum].min(self.above[k][cum]));
        }
        worst
    }

    /// The ECDF values whose two-sided tail is above `gamma` at each point: the band's edges.
    fn band(&self, gamma: f64) -> (Vec<f64>, Vec<f64>) {
        let n = self.n as f64;
        (0..self.below.len())
            .map(|k| {
                let lo = (0..=self.n).find(|&c| 2.0 * self.below[k][c] > gamma);
                let hi = (0..=self.n).rev().find(|&c| 2.0 * self.above[k][c] > gamma);
                (lo.unwrap_or(0) as f64 / n, hi.unwrap_or(self.n) as f64 / n)
            })
            .unzip()
    }
}
