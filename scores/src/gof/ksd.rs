//! The kernel Stein discrepancy test (Liu, Lee & Jordan 2016; Chwialkowski, Strathmann & Gretton 2016): does a
//! sample follow the density whose score is given? The U-statistic KSD² with an IMQ or Gaussian kernel, and a
//! wild-bootstrap p-value (independent or Markov-chain signs).

use super::frame::{ldexp, scale_pow2, Frame};
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

/// A kernel made ready for points and scores in a [`Frame`] (x̂ = (x − c)/2ᵏ, ŝ = 2ᵏ s), so no squared
/// distance or score product over- or underflows whatever the draws' scale. In native units the Stein kernel
/// is h = 2^`log2_factor` · ĥ: the IMQ kernel (c² + ‖r‖²)^β becomes 2^{2βk}(ĉ² + ‖r̂‖²)^β with ĉ = c/2ᵏ, and
/// when ĉ is large its m = 2ʲ ≈ ĉ² is factored out as well (ũ = û/m), so draws far smaller than c stay exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SteinKernel {
    /// IMQ: ũ = `c2` + ρ̂·`inv_m`.
    Imq { c2: f64, beta: f64, inv_m: f64 },
    /// Gaussian with ĥ² = `h2`.
    Rbf { h2: f64 },
}

impl SteinKernel {
    /// The kernel in `frame`, with the log₂ of the factor that turns its values into native units; `h2` is the
    /// Gaussian kernel's h² in the frame (unused by IMQ).
    pub(crate) fn new(kernel: &KsdKernel, frame: &Frame, h2: f64) -> (SteinKernel, f64) {
        let k = frame.log2 as f64;
        match *kernel {
            KsdKernel::Imq { c, beta } => {
                // log₂ ĉ without forming ĉ (which over- or underflows for extreme frames)
                let lc = c.log2() - k;
                let j = 2.0 * lc.floor().max(0.0);
                let kernel = SteinKernel::Imq {
                    c2: (2.0 * lc - j).exp2(),
                    beta,
                    inv_m: ldexp(1.0, -(j as i64)),
                };
                (kernel, (2.0 * beta - 2.0) * k + beta * j)
            }
            KsdKernel::Rbf { .. } => (SteinKernel::Rbf { h2 }, -2.0 * k),
        }
    }

    /// h_p(x, y) = s(x)·s(y) k + s(x)·∇_y k + s(y)·∇_x k + tr ∇_x∇_y k of the radial kernel at draws x, y with
    /// scores sx, sy (in the frame). With r = x − y, ρ = ‖r‖²: IMQ (u = c² + ρ):
    /// s(x)·s(y) uᵝ + 2β u^{β−1} (s(y) − s(x))·r − 2βd u^{β−1} − 4β(β − 1) u^{β−2} ρ, here divided by mᵝ;
    /// Gaussian: k [s(x)·s(y) + (s(x) − s(y))·r / h² + d / h² − ρ / h⁴].
    pub(crate) fn eval(&self, x: &[f64], sx: &[f64], y: &[f64], sy: &[f64]) -> f64 {
        let d = x.len() as f64;
        let (mut rho, mut ss, mut dr) = (0.0, 0.0, 0.0);
        for k in 0..x.len() {
            let r = x[k] - y[k];
            rho += r * r;
            ss += sx[k] * sy[k];
            dr += (sy[k] - sx[k]) * r;
        }
        match *self {
            SteinKernel::Imq { c2, beta, inv_m } => {
                let u = c2 + rho * inv_m;
                let ub = u.powf(beta);
                let ub1 = ub / u;
                let ub2 = ub1 / u;
                ss * ub + (2.0 * beta * ub1 * dr - 2.0 * beta * d * ub1) * inv_m
                    - 4.0 * beta * (beta - 1.0) * ub2 * rho * inv_m * inv_m
            }
            SteinKernel::Rbf { h2 } => {
                if h2 == 0.0 {
                    // the frame's bandwidth underflowed: only coincident draws see each other
                    return if rho == 0.0 { ss } else { 0.0 };
                }
                let k = (-rho / (2.0 * h2)).exp();
                k * (ss - dr / h2 + d / h2 - rho / (h2 * h2))
            }
        }
    }
}

/// A frame, the draws in it and their scores in it.
pub(crate) type Framed = (Frame, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Draws and their scores in a frame fitted to the draws, for the KSD statistics; errors name the first draw
/// whose score is not finite.
pub(crate) fn framed(
    what: &'static str,
    score: &(impl Score + ?Sized),
    draws: &[&Vec<f64>],
) -> Result<Framed, ScoreError> {
    let frame = Frame::of(draws.iter().map(|x| x.as_slice()));
    let scores: Vec<Vec<f64>> = draws.par_iter().map(|x| score.score(x)).collect();
    let scores = scores
        .iter()
        .enumerate()
        .map(|(i, s)| frame.score(what, i, s))
        .collect::<Result<Vec<_>, _>>()?;
    let points = frame.points(draws.iter().map(|x| x.as_slice()));
    Ok((frame, points, scores))
}

/// The Gaussian kernel's h² in the frame: the given one, rescaled, or the median heuristic of the points.
pub(crate) fn frame_bandwidth2(kernel: &KsdKernel, frame: &Frame, points: &[Vec<f64>]) -> f64 {
    match *kernel {
        KsdKernel::Rbf {
            bandwidth2: Some(h2),
        } => ldexp(h2, -2 * frame.log2 as i64),
        KsdKernel::Rbf { bandwidth2: None } => {
            super::median_bandwidth2(&points.iter().collect::<Vec<_>>())
        }
        KsdKernel::Imq { .. } => 1.0,
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
    /// statistic is the unbiased KSD² (computed in coordinates rescaled by a power of two, so draws at any
    /// scale from 10⁻¹⁵⁰ to 10¹⁵⁰ give the same p-value; an error when KSD² itself is beyond f64's range); the
    /// p-value counts the bootstrap replicates (1/(n(n−1))) Σ_{i≠j} wᵢwⱼ h(xᵢ, xⱼ)
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
        let (frame, points, scores) = framed("score at a KSD test draw", score, &kept)?;
        let h2 = frame_bandwidth2(&self.kernel, &frame, &points);
        let (kernel, log2_factor) = SteinKernel::new(&self.kernel, &frame, h2);
        // the Stein-kernel matrix in the frame, diagonal zero (the U-statistic leaves it out)
        let h: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            0.0
                        } else {
                            kernel.eval(&points[i], &scores[i], &points[j], &scores[j])
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
        let framed_statistic =
            crate::error::finite_result("KSD² (in the draws' frame)", quadratic(&ones))?;
        let replicates: Vec<f64> = (0..self.replicates)
            .into_par_iter()
            .map(|b| {
                let mut rng = replicate_rng(self.seed, b);
                quadratic(&self.bootstrap.signs(n, &mut rng))
            })
            .collect();
        Ok(TestResult {
            statistic: crate::error::finite_result(
                "KSD²",
                scale_pow2(framed_statistic, log2_factor),
            )?,
            p_value: p_value(framed_statistic, &replicates),
            n,
            replicates: self.replicates,
        })
    }
}
