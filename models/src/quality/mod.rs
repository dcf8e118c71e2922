//! Readouts of a generative model that cannot be fooled: each says what it measured and how sure it is.
//!
//! - [`PointMean`]: a mean over points (an NLL, a KL) with its standard error, its median, a trimmed mean,
//!   the points farthest out, and whether a few of them decide it ([`PointMean::dominated`]).
//! - [`kl_readout`]: KL(data ‖ model) = E_data[log p − log q] where the data's density p is known (the
//!   built-in sets, [`crate::data::Toy::density`]).
//! - [`Outside`]: the fraction of a model's samples where the data almost never are — below the data's
//!   1st-percentile density (ideal 0.01; 0 off a support with edges, such as the checkerboard's).
//! - [`sample_test`] and [`Verdict`]: the aggregated MMD two-sample test of samples against held-out data
//!   ([`stein_scores::gof::MmdAggTest`]) and the one-line verdict built from it and the KL, which never says
//!   "match" for samples the test tells apart, for a KL above [`KL_MATCH`], or from too few points to
//!   have power.
//! - [`ais`]: log Z of an energy model by annealed importance sampling, so energy models get a held-out NLL
//!   and a KL too.
//!
//! ```
//! use stein_models::quality::PointMean;
//! let mut nll = vec![2.0; 999];
//! nll.push(5000.0); // one point the model cannot reach
//! let m = PointMean::of("NLL", &nll).unwrap();
//! assert!(m.dominated());
//! assert_eq!(m.median, 2.0);
//! assert!((m.trimmed_mean - 2.0).abs() < 1e-12);
//! assert_eq!(m.extremes[0], (999, 5000.0));
//! ```

pub mod ais;
mod verdict;

pub use verdict::{sample_test, Verdict, KL_MATCH, MIN_TEST_POINTS, TEST_POINTS};

use crate::ModelError;

/// How many of the farthest points a [`PointMean`] lists.
pub const EXTREMES: usize = 5;

/// A mean over points of a quantity where larger is worse (an NLL, log p − log q), with what could make it
/// misleading.
#[derive(Clone, Debug, PartialEq)]
pub struct PointMean {
    /// Points.
    pub n: usize,
    /// The mean.
    pub mean: f64,
    /// Its standard error, sd / √n.
    pub se: f64,
    /// The median.
    pub median: f64,
    /// The mean without the worst 1% of the points (the largest values; at least one point once there are
    /// 20): what the mean would be if those few were not there.
    pub trimmed_mean: f64,
    /// The trimmed mean's standard error.
    pub trimmed_se: f64,
    /// The points with the largest values, as (index, value), largest first (up to [`EXTREMES`]).
    pub extremes: Vec<(usize, f64)>,
}

impl PointMean {
    /// The readout of `values` (larger is worse), named `what` in errors. An error when there are none or
    /// one is not finite (NaN and ±∞ never come back inside `Ok`).
    pub fn of(what: &'static str, values: &[f64]) -> Result<Self, ModelError> {
        let n = values.len();
        if n == 0 {
            return Err(ModelError::BadParameter {
                param: what,
                value: "no points".into(),
                reason: "a mean needs at least one".into(),
            });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::BadParameter {
                param: what,
                value: format!("{} at point {i}", values[i]),
                reason: "every point's value must be finite".into(),
            });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let (mean, se) = mean_se(values.iter().copied());
        let median = {
            let (a, b) = (order[(n - 1) / 2], order[n / 2]);
            0.5 * (values[a] + values[b])
        };
        let cut = if n >= 20 { (n / 100).max(1) } else { 0 };
        let (trimmed_mean, trimmed_se) = mean_se(order[cut..].iter().map(|&i| values[i]));
        let extremes = order
            .iter()
            .take(EXTREMES)
            .map(|&i| (i, values[i]))
            .collect();
        Ok(PointMean {
            n,
            mean,
            se,
            median,
            trimmed_mean,
            trimmed_se,
            extremes,
        })
    }

    /// Whether a few points decide the mean: dropping the worst 1% moves it by more than three of the
    /// trimmed mean's standard errors and by more than 0.01. A dominated mean is not a figure of the model
    /// on typical points; print the median and the trimmed mean beside it, and the points.
    pub fn dominated(&self) -> bool {
        let gap = self.mean - self.trimmed_mean;
        gap > 3.0 * self.trimmed_se && gap > 0.01
    }

    /// "2.3456 ± 0.0123", or, when [`PointMean::dominated`], the mean with its median, trimmed mean and the
    /// points that decide it said in words.
    pub fn words(&self, unit: &str) -> String {
        if !self.dominated() {
            return format!("{:.4} ± {:.4} {unit}", self.mean, self.se);
        }
        let worst: Vec<String> = self
            .extremes
            .iter()
            .map(|(i, v)| format!("point {i}: {}", figure(*v)))
            .collect();
        format!(
            "median {:.4} {unit}, mean without the worst 1% {:.4} ± {:.4}; the mean over all {} points ({}) is decided by a few of them ({})",
            self.median,
            self.trimmed_mean,
            self.trimmed_se,
            self.n,
            figure(self.mean),
            worst.join(", ")
        )
    }

    /// The figure to quote for the typical point: the mean, or the trimmed mean when a few points decide
    /// the mean.
    pub fn typical(&self) -> f64 {
        if self.dominated() {
            self.trimmed_mean
        } else {
            self.mean
        }
    }
}

/// A value with four decimals, or in scientific notation beyond a million.
fn figure(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

/// Mean and standard error of the mean.
fn mean_se(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// KL(data ‖ model) = E_data[log p − log q] from the data's exact log-densities `log_p` and the model's
/// `log_q` at the same points (nats). An error for lengths that differ, no points, or a non-finite value
/// (a point off the data's support has no business in a sample of the data).
pub fn kl_readout(log_p: &[f64], log_q: &[f64]) -> Result<PointMean, ModelError> {
    if log_p.len() != log_q.len() {
        return Err(ModelError::BadParameter {
            param: "log_q",
            value: format!("{} values", log_q.len()),
            reason: format!("log_p has {}", log_p.len()),
        });
    }
    let d: Vec<f64> = log_p.iter().zip(log_q).map(|(p, q)| p - q).collect();
    PointMean::of("log p − log q", &d)
}

/// The fraction of samples where the data almost never are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outside {
    /// Fraction of the samples whose data density is below `threshold`.
    pub fraction: f64,
    /// Its binomial standard error.
    pub se: f64,
    /// The data's 1st-percentile log-density (over the reference points).
    pub threshold: f64,
    /// Samples counted.
    pub samples: usize,
}

impl Outside {
    /// The fraction of samples (their data log-densities `samples_log_p`) below the 1st percentile of the
    /// reference points' (`data_log_p`, fresh draws of the data). For exact samples it is about 0.01; for a
    /// density that is flat on its support (the checkerboard) it counts the samples off the support, 0 for
    /// exact ones. An error for fewer than 100 reference points, no samples, or a NaN.
    pub fn of(data_log_p: &[f64], samples_log_p: &[f64]) -> Result<Self, ModelError> {
        if data_log_p.len() < 100 || samples_log_p.is_empty() {
            return Err(ModelError::BadParameter {
                param: "outside fraction",
                value: format!(
                    "{} reference points, {} samples",
                    data_log_p.len(),
                    samples_log_p.len()
                ),
                reason: "need at least 100 reference points and one sample".into(),
            });
        }
        if data_log_p.iter().chain(samples_log_p).any(|v| v.is_nan()) {
            return Err(ModelError::BadParameter {
                param: "outside fraction",
                value: "NaN".into(),
                reason: "a log-density came out NaN".into(),
            });
        }
        let mut sorted = data_log_p.to_vec();
        sorted.sort_by(f64::total_cmp);
        let threshold = sorted[sorted.len() / 100];
        let n = samples_log_p.len() as f64;
        let fraction = samples_log_p.iter().filter(|&&v| v < threshold).count() as f64 / n;
        Ok(Outside {
            fraction,
            se: (fraction * (1.0 - fraction) / n).sqrt(),
            threshold,
            samples: samples_log_p.len(),
        })
    }
}
