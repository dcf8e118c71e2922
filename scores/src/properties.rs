//! What users check of a score: zero expectation, Fisher information, and discrepancies between a score and
//! samples (Fisher divergence, kernel Stein discrepancy) or between two samples (MMD).

use crate::density::Score;
use crate::error::{check_dims, finite_result, need, ScoreError};
use rayon::prelude::*;

/// A Monte Carlo mean with its standard error, per coordinate.
#[derive(Clone, Debug, PartialEq)]
pub struct MonteCarlo {
    /// The sample mean.
    pub mean: Vec<f64>,
    /// The standard error of the mean (sample standard deviation / √n).
    pub std_err: Vec<f64>,
}

impl MonteCarlo {
    /// The largest |mean| / std_err: a z-score to compare with ~3–4 for "zero".
    pub fn max_z(&self) -> f64 {
        self.mean
            .iter()
            .zip(&self.std_err)
            .map(|(m, s)| (m / s).abs())
            .fold(0.0, f64::max)
    }
}

/// E_p[s(x)] by Monte Carlo over samples from p, with standard errors. Under mild conditions the expected
/// score is 0; a mean many standard errors from 0 means the samples or the score are wrong.
pub fn expected_score<S: Score + ?Sized>(
    score: &S,
    samples: &[Vec<f64>],
) -> Result<MonteCarlo, ScoreError> {
    let d = score.score_dim();
    need("expected_score", 2, samples.len())?;
    check_dims("samples", d, samples)?;
    crate::gof::check_draws("expected_score samples", samples, d, 2)?;
    let n = samples.len() as f64;
    let scores: Vec<Vec<f64>> = samples.par_iter().map(|x| score.score(x)).collect();
    let mut mean = vec![0.0; d];
    for s in &scores {
        for (m, v) in mean.iter_mut().zip(s) {
            *m += v / n;
        }
    }
    let mut var = vec![0.0; d];
    for s in &scores {
        for ((v, x), m) in var.iter_mut().zip(s).zip(&mean) {
            *v += (x - m) * (x - m) / (n - 1.0);
        }
    }
    for (m, v) in mean.iter().zip(&var) {
        finite_result("expected_score mean", *m)?;
        finite_result("expected_score variance", *v)?;
    }
    Ok(MonteCarlo {
        std_err: var.iter().map(|v| (v / n).sqrt()).collect(),
        mean,
    })
}

/// The Fisher information E_p[s sᵀ] (d × d) by Monte Carlo over samples from p. For N(μ, Σ) it is Σ⁻¹.
pub fn fisher_information<S: Score + ?Sized>(
    score: &S,
    samples: &[Vec<f64>],
) -> Result<Vec<Vec<f64>>, ScoreError> {
    let d = score.score_dim();
    crate::gof::check_draws("fisher_information samples", samples, d, 1)?;
    let n = samples.len() as f64;
    let scores: Vec<Vec<f64>> = samples.par_iter().map(|x| score.score(x)).collect();
    let mut f = vec![vec![0.0; d]; d];
    for s in &scores {
        for i in 0..d {
            for j in 0..d {
                f[i][j] += s[i] * s[j] / n;
            }
        }
    }
    for row in &f {
        for v in row {
            finite_result("fisher_information entry", *v)?;
        }
    }
    Ok(f)
}

/// The Fisher divergence ½ E_p ‖s₁(x) − s₂(x)‖² over samples from p.
pub fn fisher_divergence<A: Score + ?Sized, B: Score + ?Sized>(
    s1: &A,
    s2: &B,
    samples: &[Vec<f64>],
) -> Result<f64, ScoreError> {
    let d = s1.score_dim();
    crate::error::dim_eq("second score", d, s2.score_dim())?;
    crate::gof::check_draws("fisher_divergence samples", samples, d, 1)?;
    let total: f64 = samples
        .par_iter()
        .map(|x| {
            let (a, b) = (s1.score(x), s2.score(x));
            a.iter()
                .zip(&b)
                .map(|(u, v)| (u - v) * (u - v))
                .sum::<f64>()
        })
        .collect::<Vec<_>>()
        .iter()
        .sum();
    finite_result("fisher_divergence", 0.5 * total / samples.len() as f64)
}

/// Which estimator of a squared discrepancy over n samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// U-statistic: off-diagonal pairs only, unbiased, may be slightly negative.
    U,
    /// V-statistic: all pairs, biased upwards, never negative.
    V,
}

/// The squared kernel Stein discrepancy KSD²(q, p) between the samples' law q and the density whose score is
/// given, with the inverse multi-quadric kernel k(x, y) = (1 + ‖x − y‖²)^{−1/2} (Gorham & Mackey 2017: IMQ
/// KSD detects non-convergence). Needs only the score, so p may be unnormalised. O(n²) kernel evaluations,
/// parallel over rows with rayon; the result does not depend on the thread count.
///
/// Stein kernel (β = −½, c = 1, r = x − y, u = 1 + ‖r‖²):
/// k_p = s(x)·s(y) uᵝ + 2β u^{β−1} (s(y) − s(x))·r − 2βd u^{β−1} − 4β(β − 1) u^{β−2} ‖r‖².
pub fn kernel_stein_discrepancy<S: Score + ?Sized>(
    score: &S,
    samples: &[Vec<f64>],
    statistic: Statistic,
) -> Result<f64, ScoreError> {
    let d = score.score_dim();
    need("kernel_stein_discrepancy", 2, samples.len())?;
    check_dims("samples", d, samples)?;
    crate::gof::check_draws("kernel_stein_discrepancy samples", samples, d, 2)?;
    let n = samples.len();
    let refs: Vec<&Vec<f64>> = samples.iter().collect();
    // in coordinates rescaled by a power of two (see `gof`): no overflow at any scale
    let (frame, points, scores) =
        crate::gof::framed("score at a kernel_stein_discrepancy sample", score, &refs)?;
    let (kernel, log2_factor) =
        crate::gof::SteinKernel::new(&crate::gof::KsdKernel::default(), &frame, 1.0);
    let rows: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            (0..n)
                .filter(|&j| statistic == Statistic::V || i != j)
                .map(|j| kernel.eval(&points[i], &scores[i], &points[j], &scores[j]))
                .sum::<f64>()
        })
        .collect();
    let total: f64 = rows.iter().sum();
    let pairs = match statistic {
        Statistic::U => (n * (n - 1)) as f64,
        Statistic::V => (n * n) as f64,
    };
    finite_result(
        "kernel Stein discrepancy",
        crate::gof::scale_pow2(total / pairs, log2_factor),
    )
}

/// The squared maximum mean discrepancy between two samples (unbiased U-statistic) with a Gaussian kernel
/// exp(−‖x − y‖² / (2h²)), h the median pairwise distance of the pooled samples (the median heuristic). The
/// distances are taken in coordinates rescaled by a power of two, so the value is the same for samples at
/// any scale (10⁻¹⁵⁰ … 10¹⁵⁰); an error for fewer than two points, points of different lengths or a
/// non-finite coordinate.
pub fn mmd(x: &[Vec<f64>], y: &[Vec<f64>]) -> Result<f64, ScoreError> {
    mmd_with(x, y, None, Statistic::U)
}

/// [`mmd`] with a chosen bandwidth h (`None`: the median heuristic) and estimator: the V-statistic (every
/// pair, the diagonal too) is what many libraries report, e.g. `k(a,a).mean() + k(b,b).mean() − 2k(a,b).mean()`.
///
/// ```
/// use stein_scores::{mmd_with, Statistic};
/// let x = vec![vec![0.0], vec![1.0]];
/// let y = vec![vec![0.0], vec![1.0]];
/// // identical samples: the V-statistic is 0; the U-statistic, without the diagonal, is negative
/// assert!(mmd_with(&x, &y, Some(1.0), Statistic::V).unwrap().abs() < 1e-15);
/// assert!(mmd_with(&x, &y, Some(1.0), Statistic::U).unwrap() < 0.0);
/// ```
pub fn mmd_with(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    bandwidth: Option<f64>,
    statistic: Statistic,
) -> Result<f64, ScoreError> {
    let d = x.first().map_or(0, Vec::len);
    crate::gof::check_draws("mmd first sample", x, d, 2)?;
    crate::gof::check_draws("mmd second sample", y, d, 2)?;
    // in coordinates rescaled by a power of two (see `gof`): the same kernel values at every scale
    let frame = crate::gof::Frame::of(x.iter().chain(y).map(|p| p.as_slice()));
    let (x, y) = (
        frame.points(x.iter().map(|p| p.as_slice())),
        frame.points(y.iter().map(|p| p.as_slice())),
    );
    let h2 = match bandwidth {
        Some(h) if h > 0.0 && h.is_finite() => frame.length(h).powi(2),
        Some(h) => {
            return Err(ScoreError::BadParameter {
                param: "bandwidth",
                requirement: "positive and finite",
                value: h,
            })
        }
        None => crate::gof::median_bandwidth2(&x.iter().chain(&y).collect::<Vec<_>>()),
    };
    let k = |a: &[f64], b: &[f64]| crate::gof::gaussian(crate::gof::dist2(a, b), h2);
    let within = |s: &[Vec<f64>]| {
        let n = s.len();
        let t: f64 = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..n)
                    .filter(|&j| statistic == Statistic::V || j != i)
                    .map(|j| k(&s[i], &s[j]))
                    .sum::<f64>()
            })
            .collect::<Vec<_>>()
            .iter()
            .sum();
        t / match statistic {
            Statistic::U => (n * (n - 1)) as f64,
            Statistic::V => (n * n) as f64,
        }
    };
    let cross: f64 = x
        .par_iter()
        .map(|a| y.iter().map(|b| k(a, b)).sum::<f64>())
        .collect::<Vec<_>>()
        .iter()
        .sum::<f64>()
        / (x.len() * y.len()) as f64;
    finite_result("MMD²", within(&x) + within(&y) - 2.0 * cross)
}
