//! Whether a model's samples match held-out data, in one line that says what was tested and how strongly.

use super::PointMean;
use crate::ModelError;
use stein_autodiff::Tensor;
use stein_scores::gof::{AggregatedResult, MmdAggTest};

/// The largest KL(data ‖ model), in nats, a verdict calls a match.
pub const KL_MATCH: f64 = 0.25;
/// The fewest points of each set the two-sample test runs on: with fewer it has too little power for its
/// "no difference found" to mean anything (on 200 vs 200 it tells a checkerboard from its inverse).
pub const MIN_TEST_POINTS: usize = 200;
/// The most points of each set the test uses (evenly spaced rows): 1,000 vs 1,000 take about a second.
pub const TEST_POINTS: usize = 1000;
/// The level of the verdict's test.
pub const ALPHA: f64 = 0.01;

/// Evenly spaced rows of `t`, at most `max`.
fn rows(t: &Tensor, max: usize) -> Vec<Vec<f64>> {
    let n = t.rows();
    let k = n.min(max);
    (0..k).map(|i| t.row_slice(i * n / k).to_vec()).collect()
}

/// The aggregated MMD test ([`MmdAggTest`], 200 permutations seeded `seed`) of `samples` against
/// `reference`, each cut to [`TEST_POINTS`] evenly spaced rows; `None` when either has fewer than
/// [`MIN_TEST_POINTS`]. Errors are the test's (a non-finite point, dimensions that differ).
pub fn sample_test(
    samples: &Tensor,
    reference: &Tensor,
    seed: u64,
) -> Result<Option<AggregatedResult>, ModelError> {
    if samples.rows() < MIN_TEST_POINTS || reference.rows() < MIN_TEST_POINTS {
        return Ok(None);
    }
    let (x, y) = (rows(samples, TEST_POINTS), rows(reference, TEST_POINTS));
    Ok(Some(MmdAggTest::default().seed(seed).run(&x, &y)?))
}

/// A verdict on a model's samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Whether the samples match: the test ran with power, did not tell the samples from the data at level
    /// 0.01, and the KL (where known) is at most [`KL_MATCH`] and not decided by a few points.
    pub matched: bool,
    /// The verdict in words, with the figures behind it.
    pub words: String,
}

impl Verdict {
    /// The verdict of a two-sample test (`None`: it did not run, `reference_points` being too few) and,
    /// where the data's density is known, the KL.
    ///
    /// ```
    /// use stein_models::quality::{PointMean, Verdict};
    /// let kl = PointMean::of("KL", &vec![0.6; 1000]).unwrap();
    /// let v = Verdict::new(None, 150, Some(&kl));
    /// assert!(!v.matched && v.words.contains("0.6000"));
    /// let v = Verdict::new(None, 150, None);
    /// assert!(!v.matched && v.words.starts_with("no verdict"));
    /// ```
    pub fn new(
        test: Option<&AggregatedResult>,
        reference_points: usize,
        kl: Option<&PointMean>,
    ) -> Verdict {
        let tested = test.map(|t| {
            format!(
                "aggregated MMD test p = {:.3} on {} samples vs {} held-out points",
                t.p_value, t.n_x, t.n_y
            )
        });
        if let Some(kl) = kl.filter(|k| k.mean > KL_MATCH || k.dominated()) {
            return Verdict {
                matched: false,
                words: format!(
                    "samples do not match the data: KL(data ‖ model) {} (a match needs at most {KL_MATCH}){}",
                    kl.words("nats"),
                    tested.map(|t| format!("; {t}")).unwrap_or_default()
                ),
            };
        }
        let Some(t) = test else {
            return Verdict {
                matched: false,
                words: format!(
                    "no verdict: {reference_points} held-out points are too few for the two-sample test to have power (it needs {MIN_TEST_POINTS} of each set){}",
                    kl.map(|k| format!("; KL(data ‖ model) {}", k.words("nats"))).unwrap_or_default()
                ),
            };
        };
        let kl_words = kl
            .map(|k| format!("; KL(data ‖ model) {}", k.words("nats")))
            .unwrap_or_default();
        if t.rejects(ALPHA) {
            let s = t.strongest();
            return Verdict {
                matched: false,
                words: format!(
                    "samples differ from held-out data: the {} (clearest at bandwidth {:.3}){kl_words}",
                    tested.expect("a test"),
                    s.bandwidth
                ),
            };
        }
        let (lo, hi) = (
            t.bandwidths.first().map_or(0.0, |b| b.bandwidth),
            t.bandwidths.last().map_or(0.0, |b| b.bandwidth),
        );
        Verdict {
            matched: true,
            words: format!(
                "samples match held-out data as far as the two-sample test can tell: {} (no difference at level {ALPHA} at bandwidths {lo:.3} to {hi:.3}){kl_words}",
                tested.expect("a test")
            ),
        }
    }
}
