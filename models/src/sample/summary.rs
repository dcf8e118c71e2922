//! The summary table of a run — mean, sd, Monte Carlo standard error, 5/50/95% quantiles, bulk and tail ESS
//! and R-hat for each quantity — with per-chain statistics and a warning line for each problem a user should
//! act on (the thresholds of Vehtari et al. 2021 and Stan).
//!
//! ```
//! use stein_models::sample::{sample, Config, Exact};
//! use stein_scores::MultivariateNormal;
//!
//! let target = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
//! let draws = sample(&Exact(&target), &Config::default().warmup(500).draws(500)).unwrap();
//! // any function of a draw gets its own rows: here the radius
//! let radius = draws.map(|x| vec![x[0].hypot(x[1])]).summary_named(&["radius"]);
//! println!("{}", draws.summary());
//! assert!((radius.rows[0].mean - 1.2533).abs() < 0.1); // E|x| = √(π/2) for a 2-d standard normal
//! ```

use super::diagnostics::{ess_bulk, ess_tail, mcse_mean, quantile, sd, split_rhat};
use super::draws::Draws;
use std::fmt;

/// R-hat above this says the chains have not mixed (Vehtari et al. 2021).
pub const RHAT_LIMIT: f64 = 1.01;
/// Bulk or tail ESS below this is too few for reliable R-hat and MCSE (Vehtari et al. 2021: 100 per chain
/// for 4 chains).
pub const ESS_LIMIT: f64 = 400.0;
/// E-BFMI below this says momentum resampling explores the energy poorly (Betancourt 2016).
pub const EBFMI_LIMIT: f64 = 0.3;
/// NUTS leapfrog steps per transition above this say the metric misses the posterior's correlations (a
/// well-fitted metric takes 3–10 on the T10 and T12 posteriors; the diagonal one 94–126 on the correlated ones).
pub const LONG_TRAJECTORY: f64 = 50.0;

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The quantity's name.
    pub name: String,
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub sd: f64,
    /// Monte Carlo standard error of the mean.
    pub mcse: f64,
    /// 5%, 50% and 95% quantiles.
    pub q5: f64,
    /// Median.
    pub q50: f64,
    /// 95% quantile.
    pub q95: f64,
    /// Bulk ESS.
    pub ess_bulk: f64,
    /// Tail ESS.
    pub ess_tail: f64,
    /// Rank-normalised split R-hat.
    pub rhat: f64,
}

/// The summary of a run (see the module documentation). `Display` prints it as a table.
#[derive(Clone, Debug)]
pub struct Summary {
    /// One row per quantity.
    pub rows: Vec<Row>,
    /// One line per problem found (empty when none).
    pub warnings: Vec<String>,
    /// The run's notes ([`Draws::notes`]): how the target was evaluated, not a problem with the draws.
    pub notes: Vec<String>,
    header: String,
    per_chain: Vec<String>,
}

impl Summary {
    /// Summarise `draws`, naming its coordinates `names`.
    pub fn new(draws: &Draws, names: &[String]) -> Summary {
        let rows: Vec<Row> = (0..draws.dim)
            .map(|i| {
                let c = draws.coordinate(i);
                Row {
                    name: names[i].clone(),
                    mean: quantile_mean(&c),
                    sd: sd(&c),
                    mcse: mcse_mean(&c),
                    q5: quantile(&c, 0.05),
                    q50: quantile(&c, 0.5),
                    q95: quantile(&c, 0.95),
                    ess_bulk: ess_bulk(&c),
                    ess_tail: ess_tail(&c),
                    rhat: split_rhat(&c),
                }
            })
            .collect();
        let warnings = warnings(draws, &rows);
        let ch = &draws.chains;
        let n = ch.first().map_or(0, |c| c.draws.len());
        let mut header = format!(
            "{}: {} chains × {} draws ({} warm-up), {:.2} s, {} divergences",
            draws.kernel,
            ch.len(),
            n,
            draws.warmup,
            draws.seconds,
            draws.divergences()
        );
        if draws.kernel == "NUTS" || draws.kernel == "HMC" {
            header += &format!(", {:.1} leapfrog steps per draw", draws.grads_per_draw());
        }
        let list =
            |f: &dyn Fn(&super::Chain) -> String| ch.iter().map(f).collect::<Vec<_>>().join(" ");
        let mut per_chain = vec![
            format!("step size     {}", list(&|c| sig(c.step_size))),
            format!(
                "acceptance    {}",
                list(&|c| format!("{:.2}", c.mean_accept_prob()))
            ),
            format!("divergences   {}", list(&|c| c.divergences.to_string())),
        ];
        if draws.kernel == "NUTS" {
            per_chain.push(format!(
                "tree depth    {}",
                list(&|c| format!("{:.1}", c.mean_depth()))
            ));
        }
        if draws.kernel == "NUTS" || draws.kernel == "HMC" {
            per_chain.push(format!(
                "E-BFMI        {}",
                list(&|c| format!("{:.2}", c.ebfmi()))
            ));
        }
        Summary {
            rows,
            warnings,
            notes: draws.notes.clone(),
            header,
            per_chain,
        }
    }

    /// True when no warning was raised.
    pub fn is_ok(&self) -> bool {
        self.warnings.is_empty()
    }
}

fn quantile_mean(c: &[Vec<f64>]) -> f64 {
    let n: usize = c.iter().map(Vec::len).sum();
    c.iter().flatten().sum::<f64>() / n as f64
}

fn warnings(draws: &Draws, rows: &[Row]) -> Vec<String> {
    let mut w = Vec::new();
    let worst = |bad: Vec<&Row>, what: &str, val: &dyn Fn(&Row) -> f64, limit: &str| {
        bad.first().map(|r| {
            format!(
                "{} of {} quantities have {what} {limit} (worst: {} at {}): run longer chains, or \
                 reparameterise",
                bad.len(),
                rows.len(),
                r.name,
                sig(val(r))
            )
        })
    };
    let mut by_rhat: Vec<&Row> = rows
        .iter()
        .filter(|r| r.rhat.is_nan() || r.rhat > RHAT_LIMIT)
        .collect();
    by_rhat.sort_by(|a, b| b.rhat.total_cmp(&a.rhat));
    w.extend(worst(by_rhat, "R-hat", &|r| r.rhat, "above 1.01"));
    let low = |r: &Row| r.ess_bulk.min(r.ess_tail);
    let mut by_ess: Vec<&Row> = rows
        .iter()
        .filter(|r| low(r).is_nan() || low(r) < ESS_LIMIT)
        .collect();
    by_ess.sort_by(|a, b| low(a).total_cmp(&low(b)));
    w.extend(worst(by_ess, "a bulk or tail ESS", &low, "below 400"));
    let div = draws.divergences();
    if div > 0 {
        w.push(format!(
            "{div} divergent transitions after warm-up: the sampler could not follow the target there, \
             so the draws are biased; raise the target acceptance (`Config::target_accept(0.95)`) or \
             reparameterise"
        ));
    }
    for (i, c) in draws.chains.iter().enumerate() {
        let e = c.ebfmi();
        if e < EBFMI_LIMIT {
            w.push(format!(
                "chain {i}: E-BFMI {e:.2} is below 0.3: the energy is poorly explored (heavy tails?); \
                 reparameterise"
            ));
        }
        if c.is_stuck() {
            w.push(format!(
                "chain {i} never moved in its {} sampling transitions: it is stuck; try a smaller step, \
                 another start, or check the target",
                c.transitions
            ));
        }
    }
    // long trajectories: the metric does not fit the posterior's correlations (T10b: 126 steps per
    // transition with a diagonal metric, 6.9 with the low-rank fit)
    let transitions: usize = draws.chains.iter().map(|c| c.transitions).sum();
    let grads: u64 = draws.chains.iter().map(|c| c.sampling_grads).sum();
    let per_transition = grads as f64 / transitions.max(1) as f64;
    if draws.kernel == "NUTS" && per_transition > LONG_TRAJECTORY {
        w.push(format!(
            "NUTS took {per_transition:.0} leapfrog steps per transition: the parameters are strongly \
             correlated or scaled unevenly for the metric; with the diagonal default, a metric fitted along \
             the correlated directions (`Config::metric(MetricKind::ScoreLowRank)`, with \
             `.init(Init::Pathfinder)`) often cuts this tenfold; otherwise reparameterise"
        ));
    }
    let hits: usize = draws.chains.iter().map(|c| c.max_depth_hits).sum();
    if hits > 0 {
        w.push(format!(
            "{hits} transitions stopped at the maximum tree depth: raise max_depth or reparameterise"
        ));
    }
    w
}

/// Four significant digits, without trailing noise.
fn sig(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).max(0) as usize
    };
    format!("{v:.decimals$}")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header)?;
        let w = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "{:w$} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6}",
            "", "mean", "sd", "mcse", "5%", "50%", "95%", "ess_bulk", "ess_tail", "r_hat"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:w$} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>8.0} {:>8.0} {:>6.3}",
                r.name,
                sig(r.mean),
                sig(r.sd),
                sig(r.mcse),
                sig(r.q5),
                sig(r.q50),
                sig(r.q95),
                r.ess_bulk,
                r.ess_tail,
                r.rhat
            )?;
        }
        writeln!(f, "per chain:")?;
        for line in &self.per_chain {
            writeln!(f, "  {line}")?;
        }
        for line in &self.warnings {
            writeln!(f, "warning: {line}")?;
        }
        for line in &self.notes {
            writeln!(f, "note: {line}")?;
        }
        Ok(())
    }
}
