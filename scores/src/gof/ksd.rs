//! The kernel Stein discrepancy test (Liu, Lee & Jordan 2016; Chwialkowski, Strathmann & Gretton 2016): does a
//! sample follow the density whose score is given? The U-statistic KSD² with an IMQ or Gaussian kernel, and a
//! wild-bootstrap p-value (independent or Markov-chain signs).

use super::{check_draws, check_replicates, p_value, replicate_rng, Bootstrap, TestResult};
use crate::density::Score;
use crate::error::ScoreError;
use rayon::prelude::*;

/// The most draws a KSD test holds (its n × n Stein-kernel matrix is 8 n² bytes: 200 MB at the limit); thin or
/// subsample larger sets.
pub const MAX_KSD_DRAWS: usize = 5_000;

/// The kernel of a kernel Stein discrepancy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KsdKernel {
    /// Inverse multi-quadric (c² + ‖x − y‖²)^β, β ∈ (−1, 0): detects non-convergence (Gorham & Mackey 2017).
    /// The default is c = 1, β = −½.
    Imq {
        /// Scale c > 0.
        c: f64,
        /// Exponent β ∈ (−1, 0).
        beta: f64,
    },
    /// Gaussian exp(−‖x − y‖² / (2h²)) with h² the median heuristic of the draws (`None`) or given.
    Rbf {
        /// h², or `None` for the median of the pairwise squared distances.
        bandwidth2: Option<f64>,
    },
}

impl Default for KsdKernel {
    fn default() -> Self {
        KsdKernel::Imq { c: 1.0, beta: -0.5 }
    }
}

/// The Stein kernel h_p(x, y) = s(x)·s(y) k + s(x)·∇_y k + s(y)·∇_x k + tr ∇_x∇_y k of a radial kernel, at
/// draws x, y with scores sx, sy; `h2` is the Gaussian kernel's h² (unused by IMQ). With r = x − y, ρ = ‖r‖²:
/// IMQ (u = c² + ρ): s(x)·s(y) uᵝ + 2β u^{β−1} (s(y) − s(x))·r − 2βd u^{β−1} − 4β(β − 1) u^{β−2} ρ;
/// Gaussian: k [s(x)·s(y) + (s(x) − s(y))·r / h² + d / h² − ρ / h⁴].
pub(crate) fn stein_kernel(
    kernel: &KsdKernel,
    h2: f64,
    x: &[f64],
    sx: &[f64],
    y: &[f64],
    sy: &[f64],
) -> f64 {
    let d = x.len() as f64;
    let (mut rho, mut ss, mut dr) = (0.0, 0.0, 0.0);
    for k in 0..x.len() {
        let r = x[k] - y[k];
        rho += r * r;
        ss += sx[k] * sy[k];
        dr += (sy[k] - sx[k]) * r;
    }
    match *kernel {
        KsdKernel::Imq { c, beta } => {
            let u = c * c + rho;
            let ub = u.powf(beta);
            let ub1 = ub / u;
            let ub2 = ub1 / u;
            ss * ub + 2.0 * beta * ub1 * dr
                - 2.0 * beta * d * ub1
                - 4.0 * beta * (beta - 1.0) * ub2 * rho
        }
        KsdKernel::Rbf { .. } => {
            let k = (-rho / (2.0 * h2)).exp();
            k * (ss - dr / h2 + d / h2 - rho / (h2 * h2))
        }
    }
}

/// A KSD goodness-of-fit test, configured by its builder methods.
///
/// ```
/// use rand::SeedableRng;
/// use stein_scores::gof::{KsdKernel, KsdTest};
/// use stein_scores::{Normal, Sample};
///
/// let p = Normal::new(0.0, 1.0).unwrap();
/// let draws = p.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(3), 300);
/// let r = KsdTest::default().kernel(KsdKernel::Rbf { bandwidth2: None }).run(&p, &draws).unwrap();
/// assert!(r.p_value > 0.01 && r.n == 300);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsdTest {
    /// The kernel (IMQ, c = 1, β = −½).
    pub kernel: KsdKernel,
    /// How the bootstrap draws its signs (independent: [`Bootstrap::Rademacher`]).
    pub bootstrap: Bootstrap,
    /// Bootstrap replicates (500).
    pub replicates: usize,
    /// Keep every `thin`-th draw (1).
    pub thin: usize,
    /// Seed of the bootstrap (0).
    pub seed: u64,
}

impl Default for KsdTest {
    fn default() -> Self {
        KsdTest {
            kernel: KsdKernel::default(),
            bootstrap: Bootstrap::Rademacher,
            replicates: 500,
            thin: 1,
            seed: 0,
        }
    }
}

impl KsdTest {
    /// Use this kernel.
    pub fn kernel(mut self, kernel: KsdKernel) -> Self {
        self.kernel = kernel;
        self
    }
    /// Draw the bootstrap's signs this way.
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = bootstrap;
        self
    }
    /// Bootstrap replicates.
    pub fn replicates(mut self, replicates: usize) -> Self {
        self.replicates = replicates;
        self
    }
    /// Keep every `thin`-th draw.
    pub fn thin(mut self, thin: usize) -> Self {
        self.thin = thin;
        self
    }
    /// Seed of the bootstrap.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn check(&self) -> Result<(), ScoreError> {
        check_replicates("KsdTest::replicates", self.replicates)?;
        if self.thin == 0 {
            return Err(ScoreError::BadParameter {
                param: "KsdTest::thin",
                requirement: "at least 1",
                value: 0.0,
            });
        }
        self.bootstrap.check()?;
        match self.kernel {
            KsdKernel::Imq { c, beta }
                if !(c > 0.0 && c.is_finite() && beta > -1.0 && beta < 0.0) =>
            {
                Err(ScoreError::BadParameter {
                    param: "KsdKernel::Imq",
                    requirement: "c > 0 and β in (−1, 0)",
                    value: if c > 0.0 { beta } else { c },
                })
            }
            KsdKernel::Rbf {
                bandwidth2: Some(h2),
            } if !(h2 > 0.0 && h2.is_finite()) => Err(ScoreError::BadParameter {
                param: "KsdKernel::Rbf::bandwidth2",
                requirement: "positive and finite",
                value: h2,
            }),
            _ => Ok(()),
        }
    }

    /// Test whether `draws` (in order, for a Markov bootstrap) follow the density with this `score`. The
    /// statistic is the unbiased KSD²; the p-value counts the bootstrap replicates (1/(n(n−1))) Σ_{i≠j} wᵢwⱼ h(xᵢ, xⱼ)
    /// at least as large. O(n²) Stein-kernel evaluations (in parallel), then O(R n²) for R replicates.
    pub fn run<S: Score + ?Sized>(
        &self,
        score: &S,
        draws: &[Vec<f64>],
    ) -> Result<TestResult, ScoreError> {
        self.check()?;
        let d = score.score_dim();
        check_draws("KSD test draws", draws, d, 2)?;
        let kept: Vec<&Vec<f64>> = draws.iter().step_by(self.thin).collect();
        let n = kept.len();
        if n < 2 {
            return Err(ScoreError::TooFewSamples {
                what: "KSD test draws after thinning",
                need: 2,
                got: n,
            });
        }
        if n > MAX_KSD_DRAWS {
            return Err(ScoreError::Dimension {
                param: "KSD test draws",
                expected: format!("at most {MAX_KSD_DRAWS} draws (thin them with KsdTest::thin)"),
                got: format!("{n} draws"),
            });
        }
        let scores: Vec<Vec<f64>> = kept.par_iter().map(|x| score.score(x)).collect();
        if let Some((i, v)) = scores
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.iter().find(|v| !v.is_finite()).map(|v| (i, *v)))
        {
            return Err(ScoreError::NonFinite {
                what: "score at a KSD test draw",
                index: i,
                value: v,
            });
        }
        let h2 = match self.kernel {
            KsdKernel::Rbf {
                bandwidth2: Some(h2),
            } => h2,
            KsdKernel::Rbf { bandwidth2: None } => super::median_bandwidth2(&kept),
            KsdKernel::Imq { .. } => 1.0,
        };
        // the Stein-kernel matrix, diagonal zero (the U-statistic leaves it out)
        let h: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            0.0
                        } else {
                            stein_kernel(&self.kernel, h2, kept[i], &scores[i], kept[j], &scores[j])
                        }
                    })
                    .collect()
            })
            .collect();
        let pairs = (n * (n - 1)) as f64;
        let quadratic = |w: &[f64]| -> f64 {
            h.iter()
                .zip(w)
                .map(|(row, wi)| wi * row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>())
                .sum::<f64>()
                / pairs
        };
        let ones = vec![1.0; n];
        let statistic = quadratic(&ones);
        let replicates: Vec<f64> = (0..self.replicates)
            .into_par_iter()
            .map(|b| {
                let mut rng = replicate_rng(self.seed, b);
                quadratic(&self.bootstrap.signs(n, &mut rng))
            })
            .collect();
        Ok(TestResult {
            statistic,
            p_value: p_value(statistic, &replicates),
            n,
            replicates: self.replicates,
        })
    }
}
