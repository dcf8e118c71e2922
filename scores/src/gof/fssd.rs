//! The finite-set Stein discrepancy test (Jitkrittum, Xu, Szabó, Fukumizu & Gretton 2017): a linear-time
//! goodness-of-fit test for large samples. The Stein witness is evaluated at J test locations; its unbiased
//! squared norm has a null distribution Σ ωᵢ (Zᵢ² − 1), simulated here from the features' covariance.

use super::{check_draws, check_replicates, p_value, replicate_rng, TestResult};
use crate::density::Score;
use crate::error::ScoreError;
use crate::linalg::cholesky;
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// An FSSD goodness-of-fit test with random test locations ("FSSD-rand": drawn from a Gaussian with the
/// draws' per-coordinate mean and spread) and a Gaussian kernel of the median heuristic.
///
/// ```
/// use rand::SeedableRng;
/// use stein_scores::gof::FssdTest;
/// use stein_scores::{Normal, Sample};
///
/// let p = Normal::new(0.0, 1.0).unwrap();
/// let draws = p.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(2), 5_000);
/// let shifted: Vec<Vec<f64>> = draws.iter().map(|x| vec![x[0] + 0.3]).collect();
/// assert!(FssdTest::default().run(&p, &draws).unwrap().p_value > 0.01);
/// assert!(FssdTest::default().run(&p, &shifted).unwrap().p_value < 0.01);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FssdTest {
    /// Test locations J (5).
    pub locations: usize,
    /// Draws of the simulated null distribution (2,000).
    pub simulations: usize,
    /// Seed of the locations and the simulation (0).
    pub seed: u64,
}

impl Default for FssdTest {
    fn default() -> Self {
        FssdTest {
            locations: 5,
            simulations: 2000,
            seed: 0,
        }
    }
}

impl FssdTest {
    /// Test locations.
    pub fn locations(mut self, j: usize) -> Self {
        self.locations = j;
        self
    }
    /// Draws of the simulated null distribution.
    pub fn simulations(mut self, s: usize) -> Self {
        self.simulations = s;
        self
    }
    /// Seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Test whether `draws` (independent) follow the density with this `score`. The statistic is the unbiased
    /// FSSD² = (‖Σ τᵢ‖² − Σ ‖τᵢ‖²) / (n(n−1)) of the features τ(x) = [k(x, v)(s(x) − (x − v)/h²)]_v / √(dJ); n ×
    /// FSSD² is compared with draws of ‖Z‖² − tr Σ̂, Z ~ N(0, Σ̂), Σ̂ the features' covariance. O(n d J + (dJ)³).
    pub fn run<S: Score + ?Sized>(
        &self,
        score: &S,
        draws: &[Vec<f64>],
    ) -> Result<TestResult, ScoreError> {
        check_replicates("FssdTest::simulations", self.simulations)?;
        if self.locations == 0 || self.locations > 100 {
            return Err(ScoreError::BadParameter {
                param: "FssdTest::locations",
                requirement: "from 1 to 100",
                value: self.locations as f64,
            });
        }
        let d = score.score_dim();
        check_draws("FSSD test draws", draws, d, 4)?;
        let n = draws.len();
        let dj = d * self.locations;
        if dj > 2000 {
            return Err(ScoreError::Dimension {
                param: "FSSD test",
                expected: "at most 2,000 features (dimension × locations)".into(),
                got: format!("{d} × {}", self.locations),
            });
        }
        // every length in coordinates rescaled by a power of two (scores by its inverse): no overflow at any
        // scale; in native units the features are 2⁻ᵏ times these and FSSD² 2⁻²ᵏ times
        let refs: Vec<&Vec<f64>> = draws.iter().collect();
        let (frame, points, scores) = super::framed("score at an FSSD test draw", score, &refs)?;
        let mut rng = replicate_rng(self.seed, usize::MAX);
        let mean: Vec<f64> = (0..d)
            .map(|j| points.iter().map(|x| x[j]).sum::<f64>() / n as f64)
            .collect();
        let sd: Vec<f64> = (0..d)
            .map(|j| {
                (points.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1) as f64)
                    .sqrt()
            })
            .collect();
        let locations: Vec<Vec<f64>> = (0..self.locations)
            .map(|_| {
                (0..d)
                    .map(|j| mean[j] + sd[j] * rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect();
        let h2 = super::median_bandwidth2(&points.iter().collect::<Vec<_>>());
        let scale = 1.0 / (dj as f64).sqrt();
        let features: Vec<Vec<f64>> = points
            .par_iter()
            .zip(&scores)
            .map(|(x, s)| {
                let mut tau = Vec::with_capacity(dj);
                for v in &locations {
                    let rho: f64 = x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                    let k = super::gaussian(rho, h2);
                    tau.extend((0..d).map(|j| scale * k * (s[j] - (x[j] - v[j]) / h2)));
                }
                tau
            })
            .collect();
        if let Some(i) = features
            .iter()
            .position(|t| t.iter().any(|v| !v.is_finite()))
        {
            return Err(ScoreError::NonFinite {
                what: "FSSD features (score) at a draw",
                index: i,
                value: f64::NAN,
            });
        }
        let sum: Vec<f64> = (0..dj)
            .map(|a| features.iter().map(|t| t[a]).sum())
            .collect();
        let norms: f64 = features
            .iter()
            .map(|t| t.iter().map(|v| v * v).sum::<f64>())
            .sum();
        let statistic = crate::error::finite_result(
            "FSSD² (in the draws' frame)",
            (sum.iter().map(|v| v * v).sum::<f64>() - norms) / (n * (n - 1)) as f64,
        )?;
        // the features' covariance, its Cholesky factor (jittered until positive definite)
        let mu: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let mut cov = vec![0.0; dj * dj];
        for t in &features {
            for a in 0..dj {
                let ta = t[a] - mu[a];
                for b in 0..=a {
                    cov[a * dj + b] += ta * (t[b] - mu[b]) / (n - 1) as f64;
                }
            }
        }
        for a in 0..dj {
            for b in 0..a {
                cov[b * dj + a] = cov[a * dj + b];
            }
        }
        let trace: f64 = (0..dj).map(|a| cov[a * dj + a]).sum();
        let mut jitter = 1e-12 * trace.max(1e-300);
        let l = loop {
            let mut c = cov.clone();
            (0..dj).for_each(|a| c[a * dj + a] += jitter);
            match cholesky(&c, dj) {
                Ok(l) => break l,
                Err(_) if jitter < trace => jitter *= 10.0,
                Err(_) => {
                    return Err(ScoreError::NonFinite {
                        what: "FSSD feature covariance",
                        index: 0,
                        value: trace,
                    })
                }
            }
        };
        let null: Vec<f64> = (0..self.simulations)
            .into_par_iter()
            .map(|b| {
                let mut rng = replicate_rng(self.seed, b);
                let e: Vec<f64> = (0..dj)
                    .map(|_| rng.sample::<f64, _>(StandardNormal))
                    .collect();
                let z2: f64 = (0..dj)
                    .map(|a| {
                        let z: f64 = (0..=a).map(|c| l[a * dj + c] * e[c]).sum();
                        z * z
                    })
                    .sum();
                z2 - trace
            })
            .collect();
        Ok(TestResult {
            statistic: crate::error::finite_result(
                "FSSD²",
                super::ldexp(statistic, -2 * frame.log2 as i64),
            )?,
            p_value: p_value(n as f64 * statistic, &null),
            n,
            replicates: self.simulations,
        })
    }
}
