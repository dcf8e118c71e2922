//! Geweke's joint-distribution test (Geweke 2004, "Getting it right"). Two simulators of the joint p(θ, y)
//! of an [`SbcModel`]: the **marginal-conditional** one draws θ from the prior and y from the model,
//! independently each time; the **successive-conditional** one alternates a transition of the kernel on the
//! posterior p(θ | y) with a fresh y from the model given θ. Both have the joint as their distribution only
//! when the kernel leaves every posterior invariant and the log posterior matches the prior and simulator;
//! the test compares the means of test functions g(θ, y) with a z-score whose successive-conditional
//! standard error comes from the chains' ESS.
//!
//! Cheaper than SBC (one kernel transition per draw instead of a warmed-up run per simulation) but slower
//! to mix when the data are informative: the report gives each probe's ESS.
//!
//! ```
//! use rand::{Rng, RngExt};
//! use rand_distr::StandardNormal;
//! use stein_autodiff::Real;
//! use stein_models::calibration::{geweke, sbc::SbcModel, Probe};
//! use stein_models::sample::mala;
//!
//! /// μ ~ N(0, 1), one y ~ N(μ, 1).
//! struct Mean;
//! impl SbcModel for Mean {
//!     type Data = f64;
//!     fn dim(&self) -> usize { 1 }
//!     fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> { vec![rng.sample(StandardNormal)] }
//!     fn simulate<R: Rng + ?Sized>(&self, t: &[f64], rng: &mut R) -> f64 {
//!         t[0] + rng.sample::<f64, _>(StandardNormal)
//!     }
//!     fn log_posterior<S: Real>(&self, t: &[S], y: &f64) -> S {
//!         -(t[0] * t[0]) * 0.5 - (t[0] - *y).powi(2) * 0.5
//!     }
//! }
//! let opts = geweke::Options::default().draws(2000);
//! let report = geweke::geweke::<mala::Mala, _>(&Mean, &mala::Params::new(0.6), &Probe::standard(1), &opts)
//!     .unwrap();
//! report.assert_consistent(0.001);
//! ```

use super::kernel_test::transition;
use super::sbc::{Posterior, SbcModel};
use super::{at_least, finite, replication_rng, CalibrationError, Probe};
use crate::sample::diagnostics::{ess_mean, mcse_mean};
use crate::sample::{Autodiff, Kernel, State};
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};
use std::fmt;
use std::time::Instant;

/// The budget of Geweke's test.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Draws of each simulator (5,000; the successive-conditional ones split over the chains).
    pub draws: usize,
    /// Successive-conditional chains run in parallel (4).
    pub chains: usize,
    /// Kernel transitions on θ between two fresh data sets (1).
    pub steps: usize,
    /// Seed (each chain and each marginal draw has its own stream).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            draws: 5000,
            chains: 4,
            steps: 1,
            seed: 0,
        }
    }
}

impl Options {
    /// Set [`Options::draws`].
    pub fn draws(mut self, n: usize) -> Self {
        self.draws = n;
        self
    }
    /// Set [`Options::chains`].
    pub fn chains(mut self, n: usize) -> Self {
        self.chains = n;
        self
    }
    /// Set [`Options::steps`].
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = n;
        self
    }
    /// Set [`Options::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// One test function's comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The probe or test quantity.
    pub name: String,
    /// Its mean under the marginal-conditional simulator.
    pub marginal: f64,
    /// Its mean under the successive-conditional simulator.
    pub successive: f64,
    /// The standard error of the difference.
    pub se: f64,
    /// The successive-conditional chains' ESS for it.
    pub ess: f64,
    /// (successive − marginal) / se.
    pub z: f64,
    /// Two-sided normal p-value of z.
    pub p_value: f64,
}

/// The result of [`geweke`].
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// One comparison per probe and test quantity.
    pub items: Vec<Comparison>,
    /// For the whole: the Bonferroni bound min(1, k · min pᵢ).
    pub p_value: f64,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Report {
    /// `Err` naming every comparison that fails at level `alpha` after the Bonferroni correction.
    pub fn check(&self, alpha: f64) -> Result<(), String> {
        let k = self.items.len() as f64;
        let bad: Vec<String> = self
            .items
            .iter()
            .filter(|c| k * c.p_value < alpha)
            .map(|c| {
                let side = if c.z > 0.0 { "higher" } else { "lower" };
                format!(
                    "  {}: p = {:.2e} (× {k}), the successive-conditional mean is {side} ({:.4} vs {:.4} ± {:.4})",
                    c.name, c.p_value, c.successive, c.marginal, c.se
                )
            })
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "Geweke's test rejects at α = {alpha}:\n{}",
                bad.join("\n")
            ))
        }
    }

    /// Panic with [`Report::check`]'s message when the test rejects at level `alpha`.
    ///
    /// # Panics
    /// When it rejects.
    #[track_caller]
    pub fn assert_consistent(&self, alpha: f64) {
        if let Err(msg) = self.check(alpha) {
            panic!("{msg}\n{self}");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Geweke's test: p = {:.3} over {} functions ({:.1} s)",
            self.p_value,
            self.items.len(),
            self.seconds
        )?;
        writeln!(
            f,
            "  {:12} {:>10} {:>10} {:>9} {:>7} {:>8} {:>8}",
            "function", "marginal", "successive", "se", "ESS", "z", "p"
        )?;
        for c in &self.items {
            writeln!(
                f,
                "  {:12} {:>10.4} {:>10.4} {:>9.4} {:>7.0} {:>+8.2} {:>8.3}",
                c.name, c.marginal, c.successive, c.se, c.ess, c.z, c.p_value
            )?;
        }
        Ok(())
    }
}

/// Geweke's test of kernel `K` with fixed `params` on the posteriors of `model`, comparing the means of
/// `probes` (functions of θ) and of the model's test quantities. Errors when the options are out of range,
/// a posterior is not finite at the current θ, or a value is not finite.
pub fn geweke<K: Kernel, M: SbcModel>(
    model: &M,
    params: &K::Params,
    probes: &[Probe],
    opts: &Options,
) -> Result<Report, CalibrationError> {
    at_least("chains", opts.chains, 1)?;
    at_least("steps", opts.steps, 1)?;
    at_least("draws", opts.draws, 10 * opts.chains)?;
    K::validate(params, model.dim()).map_err(|reason| CalibrationError::BadParameter {
        param: "params",
        reason,
    })?;
    let t0 = Instant::now();
    let values = |theta: &[f64], data: &M::Data| {
        let mut v: Vec<f64> = probes.iter().map(|p| p.eval(theta)).collect();
        v.extend(model.quantities(theta, data));
        v
    };
    let marginal = (0..opts.draws)
        .into_par_iter()
        .map(|i| {
            let mut rng = replication_rng(opts.seed ^ 0x0047_E7E3, i);
            let theta = model.prior_draw(&mut rng);
            let data = model.simulate(&theta, &mut rng);
            let v = values(&theta, &data);
            finite(&v, "a test function (marginal-conditional)", i)?;
            Ok(v)
        })
        .collect::<Result<Vec<_>, CalibrationError>>()?;
    let per_chain = opts.draws / opts.chains;
    let chains = (0..opts.chains)
        .into_par_iter()
        .map(|c| {
            let mut rng = replication_rng(opts.seed, c);
            let mut theta = model.prior_draw(&mut rng);
            let mut data = model.simulate(&theta, &mut rng);
            let (mut w, mut score) = (K::work(model.dim()), vec![0.0; model.dim()]);
            let mut out = Vec::with_capacity(per_chain);
            for _ in 0..per_chain {
                let target = Autodiff(&Posterior { model, data: &data });
                let mut state =
                    State::new(&target, theta).map_err(|e| CalibrationError::NonFinite {
                        replication: c,
                        what: format!("the posterior at the chain's θ ({e})"),
                    })?;
                for _ in 0..opts.steps {
                    transition::<K, _, _>(
                        &mut w, &mut state, &target, params, &mut score, &mut rng,
                    );
                }
                theta = state.x;
                data = model.simulate(&theta, &mut rng);
                let v = values(&theta, &data);
                finite(&v, "a test function (successive-conditional)", c)?;
                out.push(v);
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, CalibrationError>>()?;
    let mut names: Vec<String> = probes.iter().map(|p| p.name().to_string()).collect();
    names.extend(model.quantity_names());
    let normal = Normal::standard();
    let items = names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            let m: Vec<f64> = marginal.iter().map(|v| v[k]).collect();
            let n = m.len() as f64;
            let mean = m.iter().sum::<f64>() / n;
            let var = m.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let s: Vec<Vec<f64>> = chains
                .iter()
                .map(|ch| ch.iter().map(|v| v[k]).collect())
                .collect();
            let successive = s.iter().flatten().sum::<f64>() / (per_chain * opts.chains) as f64;
            let moved = |ch: &Vec<f64>| ch.iter().any(|v| *v != ch[0]);
            let constant = var == 0.0 && s.iter().flatten().all(|v| *v == mean);
            let se = if constant {
                0.0
            } else if let Some(c) = s.iter().position(|ch| !moved(ch)) {
                return Err(CalibrationError::Undefined {
                    item: name,
                    reason: format!(
                        "it never changed along successive-conditional chain {c} ({per_chain} draws of \
                         {} transitions each): the kernel does not move, so the chains have no \
                         standard error (check its step size)",
                        opts.steps
                    ),
                });
            } else {
                (var / n + mcse_mean(&s).powi(2)).sqrt()
            };
            if !se.is_finite() {
                return Err(CalibrationError::Undefined {
                    item: name,
                    reason: format!("its standard error is {se} (the values are too large or too few)"),
                });
            }
            let z = match (successive - mean, se) {
                (0.0, _) => 0.0,
                (d, 0.0) => d.signum() * f64::INFINITY,
                (d, se) => d / se,
            };
            Ok(Comparison {
                name,
                marginal: mean,
                successive,
                se,
                ess: ess_mean(&s),
                z,
                p_value: 2.0 * normal.cdf(-z.abs()),
            })
        })
        .collect::<Result<Vec<Comparison>, CalibrationError>>()?;
    let k = items.len() as f64;
    let p_value = items
        .iter()
        .map(|c| (k * c.p_value).min(1.0))
        .fold(1.0, f64::min);
    Ok(Report {
        items,
        p_value,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
