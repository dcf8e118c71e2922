//! The MMD two-sample test (Gretton et al. 2012): do two samples come from one law? The unbiased MMD² with a
//! Gaussian kernel (median heuristic) and a permutation p-value.

use super::frame::Frame;
use super::{check_replicates, check_two_samples, p_value, replicate_rng, TestResult};
use crate::error::ScoreError;
use rand::seq::SliceRandom;
use rayon::prelude::*;

/// The most draws of both samples together an MMD test holds (its pooled kernel matrix is 8 N² bytes:
/// 200 MB at the limit); subsample larger sets.
pub const MAX_MMD_DRAWS: usize = 5_000;

/// The median heuristic h² of a Gaussian kernel: the median squared distance between pairs of the points (at
/// most 500 of them, evenly spaced), at least 10⁻¹².
pub(crate) fn median_bandwidth2(points: &[&Vec<f64>]) -> f64 {
    let step = (points.len() / 500).max(1);
    let sub: Vec<&Vec<f64>> = points.iter().step_by(step).copied().collect();
    let mut ds: Vec<f64> = Vec::with_capacity(sub.len() * sub.len() / 2);
    for i in 0..sub.len() {
        for j in i + 1..sub.len() {
            ds.push(dist2(sub[i], sub[j]));
        }
    }
    ds.sort_by(f64::total_cmp);
    ds.get(ds.len() / 2).copied().unwrap_or(1.0).max(1e-12)
}

/// The Gaussian kernel exp(−ρ / (2h²)) of a squared distance ρ; with h² = 0 (a bandwidth that underflowed in
/// its frame) only coincident points see each other.
pub(crate) fn gaussian(rho: f64, h2: f64) -> f64 {
    if h2 == 0.0 {
        return if rho == 0.0 { 1.0 } else { 0.0 };
    }
    (-rho / (2.0 * h2)).exp()
}

pub(crate) fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum()
}

/// An MMD two-sample test.
///
/// ```
/// use rand::SeedableRng;
/// use stein_scores::gof::MmdTest;
/// use stein_scores::{Normal, Sample};
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
/// let a = Normal::new(0.0, 1.0).unwrap().sample_n(&mut rng, 200);
/// let b = Normal::new(0.0, 1.0).unwrap().sample_n(&mut rng, 200);
/// let c = Normal::new(0.6, 1.0).unwrap().sample_n(&mut rng, 200);
/// let test = MmdTest::default();
/// assert!(test.run(&a, &b).unwrap().p_value > 0.01);
/// assert!(test.run(&a, &c).unwrap().p_value < 0.01);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MmdTest {
    /// Permutations (500).
    pub permutations: usize,
    /// Seed of the permutations (0).
    pub seed: u64,
}

impl Default for MmdTest {
    fn default() -> Self {
        MmdTest {
            permutations: 500,
            seed: 0,
        }
    }
}

impl MmdTest {
    /// Permutations.
    pub fn permutations(mut self, permutations: usize) -> Self {
        self.permutations = permutations;
        self
    }
    /// Seed of the permutations.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Test whether `x` and `y` come from one law. The statistic is the unbiased MMD² with the Gaussian kernel
    /// of the pooled median heuristic (computed in coordinates rescaled by a power of two, so it is the same at
    /// every scale from 10⁻¹⁵⁰ to 10¹⁵⁰); the p-value counts the relabellings of the pooled draws (x and y sizes
    /// kept) whose MMD² is at least as large. O(N²) kernel evaluations, then O(P N²) for P permutations.
    pub fn run(&self, x: &[Vec<f64>], y: &[Vec<f64>]) -> Result<TestResult, ScoreError> {
        check_replicates("MmdTest::permutations", self.permutations)?;
        let (n, m) = check_two_samples(
            [
                "MMD test first sample",
                "MMD test second sample",
                "MMD test samples",
            ],
            x,
            y,
            MAX_MMD_DRAWS,
        )?;
        // in coordinates rescaled by a power of two: the same kernel values at every scale
        let pool = Frame::of(x.iter().chain(y).map(|p| p.as_slice()))
            .points(x.iter().chain(y).map(|p| p.as_slice()));
        let h2 = median_bandwidth2(&pool.iter().collect::<Vec<_>>());
        let k: Vec<Vec<f64>> = pool
            .par_iter()
            .map(|a| pool.iter().map(|b| gaussian(dist2(a, b), h2)).collect())
            .collect();
        let labels: Vec<bool> = (0..n + m).map(|i| i < n).collect();
        let statistic = crate::error::finite_result("MMD²", mmd2(&k, &labels, n, m))?;
        let replicates: Vec<f64> = (0..self.permutations)
            .into_par_iter()
            .map(|b| {
                let mut l = labels.clone();
                l.shuffle(&mut replicate_rng(self.seed, b));
                mmd2(&k, &l, n, m)
            })
            .collect();
        Ok(TestResult {
            statistic,
            p_value: p_value(statistic, &replicates),
            n: n + m,
            replicates: self.permutations,
        })
    }
}

/// The unbiased MMD² of the pooled kernel matrix `k` with the draws labelled `true` (n of them) as the first
/// sample: S_xx / (n(n−1)) + S_yy / (m(m−1)) − 2 S_xy / (nm), diagonals left out.
fn mmd2(k: &[Vec<f64>], labels: &[bool], n: usize, m: usize) -> f64 {
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (i, row) in k.iter().enumerate() {
        let (mut to_x, mut to_y) = (0.0, 0.0);
        for (j, (&v, &lj)) in row.iter().zip(labels).enumerate() {
            if i != j {
                if lj {
                    to_x += v;
                } else {
                    to_y += v;
                }
            }
        }
        if labels[i] {
            sxx += to_x;
            sxy += to_y;
        } else {
            syy += to_y;
        }
    }
    sxx / (n * (n - 1)) as f64 + syy / (m * (m - 1)) as f64 - 2.0 * sxy / (n * m) as f64
}
