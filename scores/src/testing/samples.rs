//! Assertions on draws for users' tests: the draws come from a density (KSD test), two sets of draws come
//! from one law (MMD test). A failure names the statistic, the p-value and the worst coordinate.

use crate::density::Score;
use crate::gof::{KsdTest, MmdTest, TestResult};
use crate::properties::expected_score;

/// The coordinate whose mean score is furthest from 0 (E_p[s(x)] = 0 under p), as "E[s_j(x)] = m ± se
/// (z = …), expected 0".
fn worst_score_coordinate<S: Score + ?Sized>(score: &S, draws: &[Vec<f64>]) -> String {
    match expected_score(score, draws) {
        Ok(mc) => {
            let (j, z) = mc
                .mean
                .iter()
                .zip(&mc.std_err)
                .map(|(m, s)| (m / s).abs())
                .enumerate()
                .fold(
                    (0, 0.0),
                    |a, (j, z)| if z > a.1 || z.is_nan() { (j, z) } else { a },
                );
            format!(
                "E[s_{j}(x)] = {:.4} ± {:.4} (z = {z:.1}), expected 0",
                mc.mean[j], mc.std_err[j]
            )
        }
        Err(e) => format!("(no moment: {e})"),
    }
}

/// The coordinate whose means differ most between two sets, in standard errors.
fn worst_mean_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> String {
    let d = a.first().map_or(0, Vec::len);
    let stats = |s: &[Vec<f64>], j: usize| {
        let n = s.len() as f64;
        let m = s.iter().map(|x| x[j]).sum::<f64>() / n;
        let v = s.iter().map(|x| (x[j] - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (m, v / n)
    };
    let worst = (0..d)
        .map(|j| {
            let ((ma, va), (mb, vb)) = (stats(a, j), stats(b, j));
            (j, ma, mb, (ma - mb).abs() / (va + vb).sqrt().max(1e-300))
        })
        .fold(None, |w: Option<(usize, f64, f64, f64)>, c| match w {
            Some(w) if w.3 >= c.3 => Some(w),
            _ => Some(c),
        });
    match worst {
        Some((j, ma, mb, z)) => format!("coordinate {j}: means {ma:.4} vs {mb:.4} (z = {z:.1})"),
        None => "no coordinates".into(),
    }
}

/// Panic unless `draws` (independent) pass the KSD test of [`KsdTest::default`] (IMQ kernel, Rademacher wild
/// bootstrap, 500 replicates, seed 0) at level `alpha`: the p-value must be at least `alpha`. The message names
/// KSD², the p-value, n and the coordinate of the worst mean score. For the draws of a Markov chain use
/// [`assert_samples_from_with`] and [`Bootstrap::for_chain`](crate::gof::Bootstrap::for_chain).
///
/// ```
/// use rand::SeedableRng;
/// use stein_scores::testing::assert_samples_from;
/// use stein_scores::{MultivariateNormal, Sample};
///
/// let p = MultivariateNormal::isotropic(vec![0.0, 2.0], 1.5).unwrap();
/// let draws = p.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(0), 500);
/// assert_samples_from(&p, &draws, 0.01);
/// ```
///
/// # Panics
/// When the test rejects, or cannot run (wrong dimensions, too few draws, a non-finite score).
pub fn assert_samples_from<S: Score + ?Sized>(
    score: &S,
    draws: &[Vec<f64>],
    alpha: f64,
) -> TestResult {
    assert_samples_from_with(&KsdTest::default(), score, draws, alpha)
}

/// [`assert_samples_from`] with a configured [`KsdTest`] (kernel, bootstrap, replicates, thinning, seed).
///
/// # Panics
/// When the test rejects or cannot run.
pub fn assert_samples_from_with<S: Score + ?Sized>(
    test: &KsdTest,
    score: &S,
    draws: &[Vec<f64>],
    alpha: f64,
) -> TestResult {
    let r = test
        .run(score, draws)
        .unwrap_or_else(|e| panic!("assert_samples_from: the KSD test cannot run: {e}"));
    if r.rejects(alpha) {
        panic!(
            "draws do not follow the score: KSD² = {:.3e} over n = {} draws, p-value {:.4} < α = {alpha} ({} bootstrap replicates); worst coordinate: {}",
            r.statistic,
            r.n,
            r.p_value,
            r.replicates,
            worst_score_coordinate(score, draws)
        );
    }
    r
}

/// Panic unless `a` and `b` pass the MMD two-sample test of [`MmdTest::default`] (Gaussian kernel, median
/// heuristic, 500 permutations, seed 0) at level `alpha`. The message names MMD², the p-value, both sizes and
/// the coordinate whose means differ most.
///
/// ```
/// use rand::SeedableRng;
/// use stein_scores::testing::assert_same_distribution;
/// use stein_scores::{Normal, Sample};
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
/// let p = Normal::new(1.0, 2.0).unwrap();
/// assert_same_distribution(&p.sample_n(&mut rng, 300), &p.sample_n(&mut rng, 300), 0.01);
/// ```
///
/// # Panics
/// When the test rejects or cannot run.
pub fn assert_same_distribution(a: &[Vec<f64>], b: &[Vec<f64>], alpha: f64) -> TestResult {
    let r = MmdTest::default()
        .run(a, b)
        .unwrap_or_else(|e| panic!("assert_same_distribution: the MMD test cannot run: {e}"));
    if r.rejects(alpha) {
        panic!(
            "the two sets differ: MMD² = {:.3e} ({} vs {} draws), p-value {:.4} < α = {alpha} ({} permutations); largest mean difference at {}",
            r.statistic,
            a.len(),
            b.len(),
            r.p_value,
            r.replicates,
            worst_mean_difference(a, b)
        );
    }
    r
}
