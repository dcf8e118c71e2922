//! Warm-up: the step size by dual averaging, the metric fitted to draws and scores on nutpie's schedule (the
//! default) or to draws in Stan's windows (Stan Reference Manual, §15.2; BlackJAX's `window_adaptation`), with
//! its options as structs with `Default`, in the manner of nuts-rs' `DualAverageOptions`.
//!
//! - **Step size** by Nesterov dual averaging (Hoffman & Gelman 2014, §3.2) towards a target acceptance
//!   statistic, every warm-up transition; sampling uses the averaged step exp(x̄).
//! - **Metric fitted to scores** ([`MetricKind::ScoreDiagonal`], the default, [`MetricKind::ScoreDense`] and
//!   [`MetricKind::ScoreLowRank`]):
//!   M⁻¹ from the draws' and their scores' (co)variances, refreshed every transition, on nutpie's schedule
//!   (see [`super::score_fit`]); the step size is searched at the start and after the first fit. On T10a (a
//!   100-d Gaussian of scales 0.01…10) it takes 7.0 leapfrog steps per draw where Stan's windows take 9.0,
//!   for 40% more ESS; on the collinear T10b the dense fit takes 6.9 where Stan's diagonal takes 147.
//! - **Metric in Stan's windows** ([`MetricKind::Diagonal`], [`MetricKind::Dense`]): memoryless windows, an
//!   initial fast buffer (75 transitions, step size only), slow windows of 25, 50, 100, … transitions whose
//!   draws estimate M⁻¹ (the last stretched to the terminal buffer), and a terminal fast buffer (50). At each
//!   window's end M⁻¹ = n/(n+5)·Σ̂ + 5/(n+5)·10⁻³·I, the step size is searched again and the dual averaging
//!   restarts at μ = log(10 ε).
//! - **Initial step-size search** (Stan's `init_stepsize`): one-leapfrog probes, doubling or halving ε until
//!   the acceptance crosses 0.8.
//!
//! ```
//! use stein_models::sample::adapt::{MetricKind, WarmupOptions, Windows};
//! let stan = WarmupOptions { metric: MetricKind::Diagonal, ..Default::default() };
//! let w = Windows::new(1000, &stan);
//! assert_eq!(w.ends(), vec![99, 149, 249, 449, 949]);   // Stan's schedule for 1,000 warm-up transitions
//! // the default fits the metric to scores, on its own schedule: no Stan windows
//! assert!(Windows::new(1000, &WarmupOptions::default()).ends().is_empty());
//! ```

use super::kernel::{Eval, Phase, Progress, State, Tunable};
use super::metric::{DenseMetric, Metric};
use super::score_fit::{Schedule, Shape};
use rand::Rng;

/// Dual-averaging settings (Stan's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DualAverageOptions {
    /// γ, the adaptation regularisation scale (0.05).
    pub gamma: f64,
    /// t₀, the adaptation iteration offset (10).
    pub t0: f64,
    /// κ, the relaxation exponent of the averaged iterate (0.75).
    pub kappa: f64,
}

impl Default for DualAverageOptions {
    fn default() -> Self {
        DualAverageOptions {
            gamma: 0.05,
            t0: 10.0,
            kappa: 0.75,
        }
    }
}

/// Nesterov dual averaging of log ε towards a target acceptance statistic δ.
#[derive(Clone, Debug)]
pub struct DualAveraging {
    opts: DualAverageOptions,
    delta: f64,
    mu: f64,
    s_bar: f64,
    x_bar: f64,
    count: f64,
}

impl DualAveraging {
    /// Start at ε₀: μ = log(10 ε₀).
    pub fn new(opts: DualAverageOptions, delta: f64, eps0: f64) -> Self {
        DualAveraging {
            opts,
            delta,
            mu: (10.0 * eps0).ln(),
            s_bar: 0.0,
            x_bar: 0.0,
            count: 0.0,
        }
    }

    /// Restart the averages around ε₀.
    pub fn restart(&mut self, eps0: f64) {
        *self = DualAveraging::new(self.opts, self.delta, eps0);
    }

    /// Learn from one transition's acceptance statistic; returns the next ε.
    pub fn update(&mut self, accept: f64) -> f64 {
        let a = if accept.is_nan() {
            0.0
        } else {
            accept.min(1.0)
        };
        self.count += 1.0;
        let eta = 1.0 / (self.count + self.opts.t0);
        self.s_bar = (1.0 - eta) * self.s_bar + eta * (self.delta - a);
        let x = self.mu - self.s_bar * self.count.sqrt() / self.opts.gamma;
        let w = self.count.powf(-self.opts.kappa);
        self.x_bar = (1.0 - w) * self.x_bar + w * x;
        x.exp()
    }

    /// The averaged step exp(x̄), used after warm-up.
    pub fn averaged(&self) -> f64 {
        self.x_bar.exp()
    }
}

/// Which inverse mass matrix warm-up estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Keep the metric given (step size only).
    Fixed,
    /// A diagonal M⁻¹: the draws' per-coordinate variances in Stan's windows.
    Diagonal,
    /// A dense M⁻¹: the draws' covariance in Stan's windows.
    Dense,
    /// A diagonal M⁻¹ fitted to the draws and their scores, √(Var x / Var s), on nutpie's schedule
    /// ([`super::score_fit`]).
    ScoreDiagonal,
    /// A dense M⁻¹ fitted to the draws and their scores (the geometric mean of Cov(x) and Cov(s)⁻¹), on
    /// nutpie's schedule ([`super::score_fit`]).
    ScoreDense,
    /// A low-rank + diagonal M⁻¹ fitted to the draws and their scores: the dense fit kept along the
    /// directions where it departs from the diagonal by more than 2× ([`super::score_fit`]); leapfrog
    /// steps cost O(d k) for k such directions.
    ScoreLowRank,
}

impl MetricKind {
    /// The family of M⁻¹ a score fit estimates (diagonal for the kinds that do not fit scores).
    fn shape(self) -> Shape {
        match self {
            MetricKind::ScoreDense => Shape::Dense,
            MetricKind::ScoreLowRank => Shape::LowRank,
            _ => Shape::Diagonal,
        }
    }

    /// Whether the metric is fitted to scores on nutpie's schedule rather than to draws in Stan's windows.
    pub fn fits_scores(self) -> bool {
        matches!(
            self,
            MetricKind::ScoreDiagonal | MetricKind::ScoreDense | MetricKind::ScoreLowRank
        )
    }
}

/// Warm-up settings: Stan's step-size defaults, the metric fitted to scores (nutpie's default); the window
/// sizes apply to Stan's windows ([`MetricKind::Diagonal`], [`MetricKind::Dense`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmupOptions {
    /// Adapt the step size (dual averaging, and the searches); `false` keeps the step given.
    pub adapt_step: bool,
    /// The acceptance statistic to aim at (`None`: the kernel's own, 0.8 for HMC/NUTS, 0.574 for MALA).
    pub target_accept: Option<f64>,
    /// Dual averaging.
    pub dual_averaging: DualAverageOptions,
    /// The metric to estimate.
    pub metric: MetricKind,
    /// Transitions before the first metric window (75).
    pub initial_buffer: usize,
    /// The first slow window (25; each next one doubles).
    pub first_window: usize,
    /// Transitions after the last metric window (50).
    pub terminal_buffer: usize,
    /// Search the step size at the start and after each metric window (Stan's `init_stepsize`).
    pub step_search: bool,
}

impl Default for WarmupOptions {
    fn default() -> Self {
        WarmupOptions {
            adapt_step: true,
            target_accept: None,
            dual_averaging: DualAverageOptions::default(),
            metric: MetricKind::ScoreDiagonal,
            initial_buffer: 75,
            first_window: 25,
            terminal_buffer: 50,
            step_search: true,
        }
    }
}

impl WarmupOptions {
    /// Adapt nothing: warm-up transitions are a burn-in with the step and metric given.
    pub fn none() -> Self {
        WarmupOptions {
            adapt_step: false,
            metric: MetricKind::Fixed,
            ..Default::default()
        }
    }
}

/// Stan's window schedule for `n` warm-up transitions: the ends (0-based transition indices) of the slow
/// windows. Fewer than 20 transitions: no metric windows. Too few for the buffers: 15% / 75% / 10%.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    start: usize,
    ends: Vec<usize>,
}

impl Windows {
    /// The schedule for `n` transitions, as Stan's `windowed_adaptation` counts it: a window ends at
    /// `next`; the next one is twice as long, and is stretched to the end of the slow phase when the one after
    /// it would not fit.
    pub fn new(n: usize, o: &WarmupOptions) -> Self {
        if n < 20 || matches!(o.metric, MetricKind::Fixed) || o.metric.fits_scores() {
            return Windows {
                start: n,
                ends: Vec::new(),
            };
        }
        let (mut init, mut term, mut base) = (o.initial_buffer, o.terminal_buffer, o.first_window);
        if init + base + term > n {
            init = (0.15 * n as f64) as usize;
            term = (0.1 * n as f64) as usize;
            base = n - (init + term);
        }
        let last = n - term - 1; // the last transition of the slow phase
        let (mut size, mut next) = (base, init + base - 1);
        let mut ends = vec![next];
        while next < last {
            size *= 2;
            next += size;
            if next + 2 * size > last {
                next = last;
            }
            ends.push(next);
        }
        Windows { start: init, ends }
    }

    /// The last transition of each slow window.
    pub fn ends(&self) -> Vec<usize> {
        self.ends.clone()
    }

    /// Whether transition `k` belongs to a slow window (its draw enters the metric estimate).
    pub fn in_window(&self, k: usize) -> bool {
        k >= self.start && self.ends.last().is_some_and(|&e| k <= e)
    }

    /// Whether transition `k` ends a slow window.
    pub fn is_end(&self, k: usize) -> bool {
        self.ends.contains(&k)
    }
}

/// Welford's running mean and (co)variance of the draws of one window.
#[derive(Clone, Debug)]
pub struct Welford {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    dense: bool,
    delta: Vec<f64>,
}

impl Welford {
    /// For dimension `d`; `dense` keeps the full covariance.
    pub fn new(d: usize, dense: bool) -> Self {
        Welford {
            n: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; if dense { d * d } else { d }],
            dense,
            delta: vec![0.0; d],
        }
    }

    /// Add a draw.
    #[allow(clippy::needless_range_loop)] // the indices of the formulas
    pub fn add(&mut self, x: &[f64]) {
        self.n += 1.0;
        let d = self.mean.len();
        for i in 0..d {
            self.delta[i] = x[i] - self.mean[i];
            self.mean[i] += self.delta[i] / self.n;
        }
        if self.dense {
            for i in 0..d {
                for j in 0..d {
                    self.m2[i * d + j] += self.delta[i] * (x[j] - self.mean[j]);
                }
            }
        } else {
            for i in 0..d {
                self.m2[i] += self.delta[i] * (x[i] - self.mean[i]);
            }
        }
    }

    /// Draws added since the last [`Welford::finish`].
    pub fn count(&self) -> usize {
        self.n as usize
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Whether it keeps the full covariance.
    pub fn is_dense(&self) -> bool {
        self.dense
    }

    /// Σ (xᵢ − x̄ᵢ)(xⱼ − x̄ⱼ) over the draws (the covariance times n − 1); off the diagonal only when dense.
    ///
    /// # Panics
    /// When `i ≠ j` and the estimate is diagonal.
    pub fn sum_sq(&self, i: usize, j: usize) -> f64 {
        if self.dense {
            self.m2[i * self.mean.len() + j]
        } else {
            assert_eq!(i, j, "Welford::sum_sq({i}, {j}) of a diagonal estimate");
            self.m2[i]
        }
    }

    /// Stan's regularised estimate n/(n+5)·Σ̂ + 5/(n+5)·10⁻³·I, and a fresh start. A dense estimate that is
    /// not positive-definite falls back to its diagonal.
    pub fn finish(&mut self) -> Metric {
        let d = self.mean.len();
        let n = self.n;
        let (a, b) = (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0));
        let var = |m2: f64| a * m2 / (n - 1.0).max(1.0) + b;
        let metric = if self.dense {
            let mut m: Vec<f64> = self.m2.iter().map(|v| a * v / (n - 1.0).max(1.0)).collect();
            for i in 0..d {
                m[i * d + i] += b;
            }
            match DenseMetric::new(&m, d) {
                Some(dm) => Metric::Dense(dm),
                None => Metric::Diagonal((0..d).map(|i| var(self.m2[i * d + i])).collect()),
            }
        } else {
            Metric::Diagonal(self.m2.iter().map(|v| var(*v)).collect())
        };
        *self = Welford::new(d, self.dense);
        metric
    }
}

/// Stan's `init_stepsize` as a machine: one-leapfrog probes from a fixed point, with a fresh momentum each,
/// doubling ε while the acceptance exceeds 0.8 (or halving while it falls short) until it crosses.
pub struct StepSearch {
    z: Phase,
    eps: f64,
    h0: f64,
    direction: i8,
    probes: u32,
}

/// The most probes one search makes (ε moves by at most 2⁶⁰).
const MAX_PROBES: u32 = 60;

impl StepSearch {
    /// Scratch for dimension `d`.
    pub fn new(d: usize) -> Self {
        StepSearch {
            z: Phase::new(d),
            eps: 0.0,
            h0: 0.0,
            direction: 0,
            probes: 0,
        }
    }

    /// Start from `s` with leapfrog step `eps`.
    pub fn begin<R: Rng + ?Sized>(&mut self, s: &State, m: &Metric, eps: f64, rng: &mut R) {
        self.eps = eps;
        self.direction = 0;
        self.probes = 0;
        self.probe(s, m, rng);
    }

    fn probe<R: Rng + ?Sized>(&mut self, s: &State, m: &Metric, rng: &mut R) {
        self.z.start(s, m, rng);
        self.h0 = self.z.energy();
        self.z.leapfrog_begin(self.eps, m);
    }

    /// The point to evaluate.
    pub fn point(&self) -> &[f64] {
        &self.z.x
    }

    /// The probe's result; `Progress::Eval` for another probe, `Done` when the step is found (read it with
    /// [`StepSearch::step`]).
    pub fn resume<R: Rng + ?Sized>(
        &mut self,
        s: &State,
        m: &Metric,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let finite = self.z.leapfrog_end(self.eps, m, e);
        let h = if finite {
            self.z.energy()
        } else {
            f64::INFINITY
        };
        let delta = self.h0 - if h.is_nan() { f64::INFINITY } else { h };
        let good = delta > 0.8f64.ln();
        self.probes += 1;
        let stop = match self.direction {
            0 => {
                self.direction = if good { 1 } else { -1 };
                false // Stan probes once more at the same ε before scaling
            }
            1 => !good,
            _ => good,
        };
        if stop || self.probes >= MAX_PROBES || !(1e-12..1e7).contains(&self.eps) {
            return Progress::Done(Default::default());
        }
        if self.probes > 1 {
            self.eps *= if self.direction == 1 { 2.0 } else { 0.5 };
        }
        self.probe(s, m, rng);
        Progress::Eval
    }

    /// The step found.
    pub fn step(&self) -> f64 {
        self.eps
    }
}

/// The warm-up of one chain: dual averaging of the step size, the metric windows and their estimator.
/// [`super::chain`] drives it; the step-size searches it asks for run as evaluation requests there.
#[derive(Clone, Debug)]
pub(crate) struct Adaptation {
    da: Option<DualAveraging>,
    windows: Windows,
    welford: Welford,
    scores: Option<Schedule>,
    metric: MetricKind,
    /// Search the step size at the start and after each metric window.
    pub search: bool,
    warmup: usize,
}

impl Adaptation {
    /// Warm-up of `warmup` transitions in dimension `dim`, steering the acceptance statistic to `target`
    /// (`None`: no step-size adaptation).
    pub fn new(o: &WarmupOptions, target: Option<f64>, warmup: usize, dim: usize) -> Self {
        let target = o.target_accept.or(target).filter(|_| o.adapt_step);
        Adaptation {
            da: target.map(|t| DualAveraging::new(o.dual_averaging, t, 1.0)),
            windows: Windows::new(warmup, o),
            welford: Welford::new(dim, o.metric == MetricKind::Dense),
            scores: (o.metric.fits_scores() && warmup >= 20)
                .then(|| Schedule::new(warmup, dim, o.metric.shape())),
            metric: o.metric,
            search: o.step_search && target.is_some(),
            warmup,
        }
    }

    /// The chain's starting state is known: a metric fitted to scores starts at M⁻¹ᵢ = 1/|sᵢ|.
    pub fn start<P: Tunable>(&self, s: &State, params: &mut P) {
        if self.scores.is_some() {
            params.set_metric(Schedule::initial(&s.score));
        }
    }

    /// Restart the step-size averages around the leapfrog step `eps` (after a search).
    pub fn restart(&mut self, eps: f64) {
        if let Some(da) = &mut self.da {
            da.restart(eps);
        }
    }

    /// Learn from warm-up transition `k` (its acceptance statistic, the state `s` it reached, whether it
    /// moved) and tune `params`. Returns true when the step size should be searched again (a Stan window
    /// closed, or the first fit to scores).
    pub fn learn<P: Tunable>(
        &mut self,
        k: usize,
        accept: f64,
        s: &State,
        moved: bool,
        params: &mut P,
    ) -> bool {
        if let Some(da) = &mut self.da {
            let eps = da.update(accept);
            params.set_step_size(P::from_leapfrog(eps));
        }
        let mut closed = false;
        if let Some(fit) = &mut self.scores {
            let (metric, first) = fit.learn(k, &s.x, &s.score, moved);
            if let Some(m) = metric {
                params.set_metric(m);
            }
            closed = first;
        } else if self.metric != MetricKind::Fixed && self.windows.in_window(k) {
            self.welford.add(&s.x);
            if self.windows.is_end(k) {
                params.set_metric(self.welford.finish());
                closed = true;
                if !self.search {
                    self.restart(P::to_leapfrog(params.step_size()));
                }
            }
        }
        if k + 1 == self.warmup {
            if let Some(da) = &self.da {
                params.set_step_size(P::from_leapfrog(da.averaged()));
            }
            return false;
        }
        closed && self.search
    }
}
