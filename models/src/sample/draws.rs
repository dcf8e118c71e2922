//! The output of a run: every chain's draws and transition statistics, with moments and diagnostics.

use super::diagnostics::{ebfmi, ess_bulk, ess_tail, split_rhat};
use super::kernel::Info;
use super::metric::Metric;
use super::summary::Summary;

/// One chain's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Kept draws.
    pub draws: Vec<Vec<f64>>,
    /// What the transition that produced each kept draw did (acceptance statistic, energy, tree depth, …).
    pub infos: Vec<Info>,
    /// Transitions of the sampling phase (kept or thinned away).
    pub transitions: usize,
    /// Transitions of the sampling phase that moved the chain.
    pub accepted: usize,
    /// Divergent transitions of the sampling phase: the diagnostic to act on (each is a region the
    /// integrator could not follow; its draws are biased away from it).
    pub divergences: usize,
    /// Divergent transitions during warm-up (expected while the step size adapts).
    pub warmup_divergences: usize,
    /// Sampling transitions of NUTS that stopped at the maximum tree depth.
    pub max_depth_hits: usize,
    /// Evaluations of the target over the whole run (warm-up and step-size searches included).
    pub n_grad: u64,
    /// Evaluations of the target by the sampling phase's transitions, kept or thinned away.
    pub sampling_grads: u64,
    /// Recorded states (when `record_every` is set).
    pub trajectory: Vec<Vec<f64>>,
    /// The step size used after warm-up.
    pub step_size: f64,
    /// The metric (inverse mass matrix) used after warm-up.
    pub metric: Metric,
}

impl Chain {
    /// An empty chain with room for `draws` draws; `step_size` and `metric` until warm-up sets them.
    pub fn new(draws: usize, step_size: f64, metric: Metric) -> Self {
        Chain {
            draws: Vec::with_capacity(draws),
            infos: Vec::with_capacity(draws),
            transitions: 0,
            accepted: 0,
            divergences: 0,
            warmup_divergences: 0,
            max_depth_hits: 0,
            n_grad: 0,
            sampling_grads: 0,
            trajectory: Vec::new(),
            step_size,
            metric,
        }
    }

    /// Count a finished transition that reached `x`: in warm-up only its divergence; in the sampling phase
    /// every statistic, and `x` with its `info` when `keep` (thinning).
    pub fn record(&mut self, info: Info, x: &[f64], warmup: bool, keep: bool) {
        if warmup {
            self.warmup_divergences += usize::from(info.divergent);
            return;
        }
        self.transitions += 1;
        self.sampling_grads += u64::from(info.n_grad);
        self.accepted += usize::from(info.accepted);
        self.divergences += usize::from(info.divergent);
        self.max_depth_hits += usize::from(info.max_depth);
        if keep {
            self.draws.push(x.to_vec());
            self.infos.push(info);
        }
    }

    /// Fraction of sampling transitions that moved (1 when there were none).
    pub fn acceptance(&self) -> f64 {
        if self.transitions == 0 {
            1.0
        } else {
            self.accepted as f64 / self.transitions as f64
        }
    }

    /// Mean acceptance statistic of the kept transitions (what step-size adaptation steers).
    pub fn mean_accept_prob(&self) -> f64 {
        self.infos.iter().map(|i| i.accept_prob).sum::<f64>() / self.infos.len().max(1) as f64
    }

    /// E-BFMI of the chain's energies (HMC and NUTS).
    pub fn ebfmi(&self) -> f64 {
        ebfmi(&self.infos.iter().map(|i| i.energy).collect::<Vec<_>>())
    }

    /// Mean tree depth of the kept transitions (NUTS).
    pub fn mean_depth(&self) -> f64 {
        self.infos.iter().map(|i| f64::from(i.depth)).sum::<f64>() / self.infos.len().max(1) as f64
    }

    /// Gradient evaluations of the sampling phase per kept draw, thinned-away transitions included
    /// (leapfrog steps per draw for HMC and NUTS; 4 for MALA thinned by 4).
    pub fn grads_per_draw(&self) -> f64 {
        self.sampling_grads as f64 / self.draws.len().max(1) as f64
    }

    /// True when the chain never moved in its sampling phase (of more than one transition).
    pub fn is_stuck(&self) -> bool {
        self.transitions > 1 && self.accepted == 0
    }
}

/// The output of a run.
#[derive(Clone, Debug)]
pub struct Draws {
    /// Dimension of a draw.
    pub dim: usize,
    /// The kernel's name.
    pub kernel: &'static str,
    /// Every chain.
    pub chains: Vec<Chain>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Warm-up transitions per chain.
    pub warmup: usize,
    /// What the run should tell its reader beside the diagnostics (a compiled log-density that fell back
    /// to the tape, and why); printed by the summary as `note:` lines.
    pub notes: Vec<String>,
}

impl Draws {
    /// Every kept draw, chain after chain.
    pub fn pooled(&self) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .flat_map(|c| c.draws.iter().cloned())
            .collect()
    }

    /// The same run with every draw replaced by `f(draw)` (a derived quantity, or constrained
    /// parameters); transition statistics are kept. `f` must return vectors of one length.
    ///
    /// # Panics
    /// When `f` returns vectors of different lengths (naming both).
    pub fn map(&self, f: impl Fn(&[f64]) -> Vec<f64>) -> Draws {
        let mut dim = None;
        let chains = self
            .chains
            .iter()
            .map(|c| {
                let draws = c
                    .draws
                    .iter()
                    .map(|x| {
                        let y = f(x);
                        let d = *dim.get_or_insert(y.len());
                        assert_eq!(
                            d,
                            y.len(),
                            "Draws::map: f returned {} then {} values",
                            d,
                            y.len()
                        );
                        y
                    })
                    .collect();
                Chain {
                    draws,
                    trajectory: Vec::new(),
                    ..c.clone()
                }
            })
            .collect();
        Draws {
            dim: dim.unwrap_or(0),
            chains,
            ..self.clone()
        }
    }

    /// Fraction of sampling transitions that moved, over all chains (1 for ULA).
    pub fn acceptance(&self) -> f64 {
        let (a, t) = self
            .chains
            .iter()
            .fold((0, 0), |(a, t), c| (a + c.accepted, t + c.transitions));
        if t == 0 {
            1.0
        } else {
            a as f64 / t as f64
        }
    }

    /// Divergent transitions after warm-up, over all chains.
    pub fn divergences(&self) -> usize {
        self.chains.iter().map(|c| c.divergences).sum()
    }

    /// Gradient evaluations over the whole run, every chain.
    pub fn n_grad(&self) -> u64 {
        self.chains.iter().map(|c| c.n_grad).sum()
    }

    /// Gradient evaluations of the sampling phase per kept draw, over all chains, thinned-away transitions
    /// included (leapfrog steps per draw for HMC/NUTS).
    pub fn grads_per_draw(&self) -> f64 {
        let n: usize = self.chains.iter().map(|c| c.draws.len()).sum();
        let g: u64 = self.chains.iter().map(|c| c.sampling_grads).sum();
        g as f64 / n.max(1) as f64
    }

    /// Coordinate `i` of every chain: `[chain][t]`.
    pub fn coordinate(&self, i: usize) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .map(|c| c.draws.iter().map(|x| x[i]).collect())
            .collect()
    }

    /// Per-coordinate draws of every chain: `coord[i][chain][t]`.
    pub fn by_coordinate(&self) -> Vec<Vec<Vec<f64>>> {
        (0..self.dim).map(|i| self.coordinate(i)).collect()
    }

    /// Sample mean.
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dim];
        let mut n = 0.0;
        for x in self.chains.iter().flat_map(|c| &c.draws) {
            n += 1.0;
            m.iter_mut().zip(x).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    /// Sample covariance.
    pub fn covariance(&self) -> Vec<Vec<f64>> {
        let mu = self.mean();
        let d = self.dim;
        let mut c = vec![vec![0.0; d]; d];
        let mut n = 0.0;
        for x in self.chains.iter().flat_map(|c| &c.draws) {
            n += 1.0;
            for i in 0..d {
                for j in 0..d {
                    c[i][j] += (x[i] - mu[i]) * (x[j] - mu[j]);
                }
            }
        }
        c.iter_mut().flatten().for_each(|v| *v /= n - 1.0);
        c
    }

    /// Bulk ESS per coordinate (rank-normalised, split chains; NaN with fewer than 4 draws per chain).
    pub fn ess(&self) -> Vec<f64> {
        (0..self.dim)
            .map(|i| ess_bulk(&self.coordinate(i)))
            .collect()
    }

    /// Tail ESS per coordinate (the 5% and 95% quantiles).
    pub fn ess_tail(&self) -> Vec<f64> {
        (0..self.dim)
            .map(|i| ess_tail(&self.coordinate(i)))
            .collect()
    }

    /// Rank-normalised split R-hat per coordinate.
    pub fn rhat(&self) -> Vec<f64> {
        (0..self.dim)
            .map(|i| split_rhat(&self.coordinate(i)))
            .collect()
    }

    /// E-BFMI of each chain (HMC and NUTS; NaN for kernels without an energy).
    pub fn ebfmi(&self) -> Vec<f64> {
        self.chains.iter().map(Chain::ebfmi).collect()
    }

    /// The summary table of the coordinates, named `x[0]`, `x[1]`, …
    pub fn summary(&self) -> Summary {
        let names: Vec<String> = (0..self.dim).map(|i| format!("x[{i}]")).collect();
        Summary::new(self, &names)
    }

    /// The summary table of the coordinates named from 1 (`x[1]`, `x[2]`, …), as Stan and R count.
    pub fn summary_one_based(&self) -> Summary {
        let names: Vec<String> = (1..=self.dim).map(|i| format!("x[{i}]")).collect();
        Summary::new(self, &names)
    }

    /// The summary table with these names for the coordinates (a shorter list names the first ones):
    /// `&["mu", "tau"]`, or a model's [`Constrained::names`](stein_scores::transform::Constrained::names) /
    /// `names_one_based()` for draws mapped to its constrained values.
    pub fn summary_named<N: AsRef<str>>(&self, names: &[N]) -> Summary {
        let names: Vec<String> = (0..self.dim)
            .map(|i| {
                names
                    .get(i)
                    .map_or(format!("x[{i}]"), |s| s.as_ref().to_string())
            })
            .collect();
        Summary::new(self, &names)
    }

    /// Squared kernel Stein discrepancy (IMQ, U-statistic) of the pooled draws under `score`, on at most
    /// `max_points` of them (evenly thinned; the statistic costs O(n²)). Near 0 when the draws follow the target.
    pub fn ksd<S: stein_scores::Score + ?Sized>(
        &self,
        score: &S,
        max_points: usize,
    ) -> Result<f64, stein_scores::ScoreError> {
        let all = self.pooled();
        let sub: Vec<Vec<f64>> = all
            .iter()
            .step_by((all.len() / max_points.max(2)).max(1))
            .cloned()
            .collect();
        stein_scores::kernel_stein_discrepancy(score, &sub, stein_scores::Statistic::U)
    }
}
