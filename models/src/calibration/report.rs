//! The report of a rank-based test ([`super::sbc`], [`super::kernel_test`]): one uniformity verdict per
//! parameter or probe, a p-value for the whole, an assertion and a picture.

use super::CalibrationError;
use std::fmt;
use stein_scores::ranks::{rank_uniformity, Options, Uniformity};

/// Ranks of a calibration test and their verdicts.
#[derive(Clone, Debug)]
pub struct RankReport {
    /// Which test ("SBC", "kernel rank test").
    pub test: String,
    /// Per parameter, test quantity or probe: its name and the uniformity of its ranks.
    pub items: Vec<(String, Uniformity)>,
    /// The ranks themselves, one list per item, in replication order.
    pub ranks: Vec<Vec<usize>>,
    /// For the whole: the Bonferroni bound min(1, k · min pᵢ) over the k items.
    pub p_value: f64,
    /// Replications (simulations) run.
    pub replications: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// SBC: simulations whose draws kept an ESS below L after the longer run (0 for other tests).
    pub correlated: usize,
    /// What a reader should know beside the p-values (e.g. simulations whose draws were not thinned to
    /// near-independence).
    pub notes: Vec<String>,
}

impl RankReport {
    /// Test each item's ranks (in 0 ..= `max_rank`) and combine.
    pub(crate) fn new(
        test: impl Into<String>,
        names: Vec<String>,
        ranks: Vec<Vec<usize>>,
        max_rank: usize,
        opts: &Options,
        seconds: f64,
        notes: Vec<String>,
    ) -> Result<Self, CalibrationError> {
        let items = names
            .into_iter()
            .zip(&ranks)
            .map(|(name, r)| Ok((name, rank_uniformity(r, max_rank, opts)?)))
            .collect::<Result<Vec<_>, CalibrationError>>()?;
        let k = items.len() as f64;
        let p_value = items
            .iter()
            .map(|(_, u)| (k * u.p_value).min(1.0))
            .fold(1.0, f64::min);
        Ok(RankReport {
            test: test.into(),
            replications: ranks.first().map_or(0, Vec::len),
            items,
            ranks,
            p_value,
            seconds,
            correlated: 0,
            notes,
        })
    }

    /// The items that fail at level `alpha` after the Bonferroni correction (k · pᵢ < α).
    pub fn failures(&self, alpha: f64) -> Vec<&(String, Uniformity)> {
        let k = self.items.len() as f64;
        self.items
            .iter()
            .filter(|(_, u)| k * u.p_value < alpha)
            .collect()
    }

    /// `Err` with a message naming every failing item, its p-value and the direction of its departure, when
    /// the test rejects at level `alpha`.
    pub fn check(&self, alpha: f64) -> Result<(), String> {
        let bad = self.failures(alpha);
        if bad.is_empty() {
            return Ok(());
        }
        let k = self.items.len();
        let lines: Vec<String> = bad
            .iter()
            .map(|(name, u)| {
                format!(
                    "  {name}: p = {:.2e} (× {k} items), {}",
                    u.p_value,
                    u.shape().describe()
                )
            })
            .collect();
        Err(format!(
            "{} rejects at α = {alpha} over {} replications:\n{}",
            self.test,
            self.replications,
            lines.join("\n")
        ))
    }

    /// Panic with [`RankReport::check`]'s message when the test rejects at level `alpha` (for test suites).
    ///
    /// # Panics
    /// When it rejects.
    #[track_caller]
    pub fn assert_calibrated(&self, alpha: f64) {
        if let Err(msg) = self.check(alpha) {
            panic!("{msg}\n{self}");
        }
    }

    /// The rank-ECDF picture of every item with the simultaneous band (SVG or PNG by the extension).
    #[cfg(feature = "plot")]
    pub fn plot(&self, path: impl AsRef<std::path::Path>) -> Result<(), stein_scores::ScoreError> {
        let series: Vec<(&str, &Uniformity)> =
            self.items.iter().map(|(n, u)| (n.as_str(), u)).collect();
        let title = format!("{}: {} replications", self.test, self.replications);
        stein_scores::plot::rank_ecdf(path, &title, &series, (760, 480))
    }
}

impl fmt::Display for RankReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max_rank = self.items.first().map_or(0, |(_, u)| u.max_rank);
        writeln!(
            f,
            "{}: {} replications, ranks in 0..={max_rank}, p = {:.3} over {} items ({:.1} s)",
            self.test,
            self.replications,
            self.p_value,
            self.items.len(),
            self.seconds
        )?;
        let width = self
            .items
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            f,
            "  {:width$}  {:>8} {:>8} {:>8} {:>7} {:>7}  shape",
            "item", "p", "p ECDF", "p χ²", "shift", "spread"
        )?;
        for (name, u) in &self.items {
            writeln!(
                f,
                "  {name:width$}  {:>8.3} {:>8.3} {:>8.3} {:>+7.2} {:>+7.2}  {}",
                u.p_value,
                u.p_ecdf,
                u.p_chi2,
                u.shift_z,
                u.spread_z,
                u.shape().describe()
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}
