//! Calibration: the tests the field uses when no density is known to compare draws against, one call each.
//!
//! - [`sbc`]: **simulation-based calibration** (Talts et al. 2018): draw θ̃ from the prior, data from the
//!   model, the posterior given those data with any Stein sampler; the rank of θ̃ among near-independent
//!   posterior draws is uniform exactly when the sampler and the posterior are right. Ranks per parameter
//!   and per test quantity, tested by [`stein_scores::ranks`] (ECDF band and χ²) with the direction of any
//!   miscalibration.
//! - [`kernel_test`]: the **exact rank test of a Markov kernel** (Gandy & Scott 2020): from an exact draw of
//!   the target, run a reversible kernel backward and forward; the start's rank among the chain is uniform
//!   exactly when the kernel leaves the target invariant.
//! - [`geweke`]: **Geweke's joint-distribution test** (2004): the marginal-conditional and the
//!   successive-conditional simulators of p(θ, y) must agree on the mean of every test function.
//!
//! Every test runs its replications in parallel with one random stream per replication, so results do not
//! depend on the number of threads, and returns a report whose `assert_*` form fails a user's test with a
//! message naming the parameter, the p-value and the direction.
//!
//! ```
//! use stein_models::calibration::{kernel_test, Probe};
//! use stein_models::sample::{mala, Exact};
//! use stein_scores::{MultivariateNormal, Sample};
//!
//! let target = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
//! let exact = |rng: &mut rand::rngs::SmallRng| target.sample_n(rng, 1).remove(0);
//! let opts = kernel_test::Options::default().replications(300);
//! let report = kernel_test::rank_test::<mala::Mala, _>(
//!     &Exact(&target), &mala::Params::new(0.8), exact, &Probe::standard(2), &opts,
//! ).unwrap();
//! report.assert_calibrated(0.001); // MALA leaves N(0, I) invariant
//! ```

pub mod geweke;
pub mod kernel_test;
mod report;
pub mod sbc;

pub use report::RankReport;

use super::sample::SampleError;
use rand::{Rng, RngExt};
use stein_scores::ScoreError;

/// Errors of the calibration tests.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// A setting is out of range.
    #[error("parameter `{param}`: {reason}")]
    BadParameter {
        /// The setting.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The sampler failed on one simulated data set.
    #[error("simulation {simulation}: {source}")]
    Sample {
        /// The simulation (its random stream).
        simulation: usize,
        /// What failed.
        #[source]
        source: SampleError,
    },
    /// A draw, a simulated value or a test function is not finite.
    #[error("replication {replication}: {what} is not finite")]
    NonFinite {
        /// The replication (its random stream).
        replication: usize,
        /// Which value.
        what: String,
    },
    /// A compared quantity has no standard error (a kernel that never moves its chains).
    #[error("`{item}`: {reason}")]
    Undefined {
        /// The test function or quantity.
        item: String,
        /// Why.
        reason: String,
    },
    /// The ranks could not be tested.
    #[error(transparent)]
    Ranks(#[from] ScoreError),
}

/// A function of the state, boxed.
type ProbeFn = Box<dyn Fn(&[f64]) -> f64 + Send + Sync>;

/// A named function of the state whose rank or mean a test examines.
pub struct Probe {
    name: String,
    f: ProbeFn,
}

impl Probe {
    /// A probe `f` called `name`.
    pub fn new(name: impl Into<String>, f: impl Fn(&[f64]) -> f64 + Send + Sync + 'static) -> Self {
        Probe {
            name: name.into(),
            f: Box::new(f),
        }
    }

    /// `x[0]`, …, `x[d − 1]`.
    pub fn coordinates(d: usize) -> Vec<Probe> {
        (0..d)
            .map(|i| Probe::new(format!("x[{i}]"), move |x: &[f64]| x[i]))
            .collect()
    }

    /// `x[0]²`, …, `x[d − 1]²`: these see a wrong spread that the coordinates' ranks may miss.
    pub fn squares(d: usize) -> Vec<Probe> {
        (0..d)
            .map(|i| Probe::new(format!("x[{i}]²"), move |x: &[f64]| x[i] * x[i]))
            .collect()
    }

    /// The coordinates and their squares.
    pub fn standard(d: usize) -> Vec<Probe> {
        let mut p = Probe::coordinates(d);
        p.extend(Probe::squares(d));
        p
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its value at `x`.
    pub fn eval(&self, x: &[f64]) -> f64 {
        (self.f)(x)
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Probe({})", self.name)
    }
}

/// The rank of `truth` among `draws`: the number of draws below it plus a uniform share of the ties, so it
/// is uniform on 0 ..= n when the truth and the n draws are exchangeable (ties happen: a rejected proposal
/// repeats the state).
pub fn rank_of<R: Rng + ?Sized>(
    truth: f64,
    draws: impl IntoIterator<Item = f64>,
    rng: &mut R,
) -> usize {
    let (mut below, mut ties) = (0, 0);
    for v in draws {
        if v < truth {
            below += 1;
        } else if v == truth {
            ties += 1;
        }
    }
    below + rng.random_range(0..=ties)
}

/// A stream of randomness for replication `r` of a test seeded with `seed` (the samplers' chain streams,
/// shifted so that a test's streams differ from the chains it runs).
pub(crate) fn replication_rng(seed: u64, r: usize) -> rand::rngs::SmallRng {
    super::sample::chain_rng(seed ^ 0xCA1B_2A7E_D5EE_D000, r)
}

/// Check that a count setting is at least `min`.
pub(crate) fn at_least(
    param: &'static str,
    value: usize,
    min: usize,
) -> Result<(), CalibrationError> {
    if value < min {
        return Err(CalibrationError::BadParameter {
            param,
            reason: format!("must be at least {min}, got {value}"),
        });
    }
    Ok(())
}

/// The first non-finite value of `values` as an error for `replication`.
pub(crate) fn finite(
    values: &[f64],
    what: &str,
    replication: usize,
) -> Result<(), CalibrationError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(CalibrationError::NonFinite {
            replication,
            what: format!("{what}[{i}] = {}", values[i]),
        }),
    }
}
