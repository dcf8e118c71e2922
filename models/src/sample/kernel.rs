//! What every kernel shares: the chain's [`State`], the [`Info`] of a transition, and the [`Kernel`] trait.
//!
//! A kernel is one Markov transition in BlackJAX's shape — `step(&mut state, target, &params, rng) -> Info`
//! ([`step`]) — written once as a small state machine: [`Kernel::begin`] starts a transition and names the
//! point it wants evaluated, [`Kernel::resume`] takes the target's value there and either asks for the next
//! point or finishes. One machine serves both drivers: the per-chain driver evaluates each request at once;
//! the batched driver gathers the requests of all chains into one tensor pass. No update rule is written twice.

use super::adapt::MetricKind;
use super::driver::Init;
use super::metric::Metric;
use super::target::Target;
use rand::Rng;

/// A chain's position, with the target's log-density (when it has one) and score there.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The position x.
    pub x: Vec<f64>,
    /// log p(x) up to a constant (`None` for score-only targets).
    pub log_p: Option<f64>,
    /// ∇ₓ log p(x).
    pub score: Vec<f64>,
}

impl State {
    /// Evaluate `target` at `x`. Errors (as a message) when log p or the score is not finite there.
    pub fn new<T: Target + ?Sized>(target: &T, x: Vec<f64>) -> Result<State, String> {
        let mut score = vec![0.0; x.len()];
        let log_p = target.eval(&x, &mut score);
        let s = State { x, log_p, score };
        s.check()?;
        Ok(s)
    }

    /// An error message when log p or the score is not finite.
    pub fn check(&self) -> Result<(), String> {
        if let Some(lp) = self.log_p.filter(|v| !v.is_finite()) {
            return Err(format!("the log-density is {lp}"));
        }
        if let Some(i) = self.score.iter().position(|v| !v.is_finite()) {
            return Err(format!("score[{i}] is {}", self.score[i]));
        }
        Ok(())
    }
}

/// What a transition did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Info {
    /// The acceptance statistic: the Metropolis probability (MALA, HMC), its mean over the trajectory
    /// (NUTS), 1 for unadjusted kernels. Step-size adaptation steers it.
    pub accept_prob: f64,
    /// Whether the state moved.
    pub accepted: bool,
    /// A divergence: an energy error above the threshold, or a non-finite log-density or score at a
    /// proposal (HMC, NUTS; MALA counts non-finite proposals too). The proposal is rejected.
    pub divergent: bool,
    /// The Hamiltonian at the new state (HMC, NUTS; for E-BFMI), else −log p.
    pub energy: f64,
    /// NUTS tree depth (number of doublings); 0 for other kernels.
    pub depth: u32,
    /// Evaluations of the target (gradient evaluations) this transition made.
    pub n_grad: u32,
    /// NUTS stopped at its maximum tree depth rather than at a U-turn (the trajectory was cut short).
    pub max_depth: bool,
}

/// Where a transition is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// The kernel wants the target at [`Kernel::point`] (at noise level [`Kernel::noise`]).
    Eval,
    /// The transition is complete; the state has been updated.
    Done(Info),
}

/// The target's answer at a requested point.
#[derive(Clone, Copy, Debug)]
pub struct Eval<'a> {
    /// log p (`None` for score-only targets).
    pub log_p: Option<f64>,
    /// The score.
    pub score: &'a [f64],
}

/// A kernel's parameters, and what warm-up tunes in them: the step size and the metric.
pub trait Tunable: Clone + Send + Sync {
    /// The kernel these parameters drive.
    type Kernel: Kernel<Params = Self>;
    /// The step size in the kernel's own units (ε of HMC/NUTS, the variance h of MALA and ULA).
    fn step_size(&self) -> f64;
    /// Set it.
    fn set_step_size(&mut self, step: f64);
    /// The inverse mass matrix (the preconditioner of MALA and ULA).
    fn metric(&self) -> &Metric;
    /// Set it.
    fn set_metric(&mut self, m: Metric);
    /// Where chains start unless told otherwise (uniform on (−2, 2)ᵈ; annealed Langevin: its N(0, σ₁² I)).
    fn default_init(&self) -> Init {
        Init::default()
    }
    /// The metric warm-up estimates unless told otherwise: fitted to draws and scores
    /// ([`MetricKind::ScoreDiagonal`]); HMC keeps Stan's variance windows.
    fn default_metric() -> MetricKind {
        MetricKind::ScoreDiagonal
    }
    /// The leapfrog step equivalent to a step size (ε itself, or √h for the Langevin kernels: one leapfrog
    /// step of size ε is a Langevin step of variance ε²); the initial step-size search works in these units.
    fn to_leapfrog(step: f64) -> f64 {
        step
    }
    /// The inverse of [`Tunable::to_leapfrog`].
    fn from_leapfrog(eps: f64) -> f64 {
        eps
    }
}

/// A Markov kernel as a state machine (see the module documentation). `Work` holds the transition in
/// progress and every scratch vector, allocated once per chain.
pub trait Kernel: Send + Sync {
    /// Step size, metric and method settings.
    type Params: Tunable;
    /// The transition in progress and its scratch space.
    type Work: Send;
    /// The name in messages ("NUTS").
    const NAME: &'static str;
    /// Whether it needs log p (Metropolis-adjusted kernels do; ULA does not).
    const NEEDS_LOG_DENSITY: bool;
    /// The acceptance rate step-size adaptation aims at by default (`None`: nothing to adapt).
    const TARGET_ACCEPT: Option<f64>;
    /// Scratch for a chain of dimension `dim`.
    fn work(dim: usize) -> Self::Work;
    /// Check the parameters against the target's dimension.
    fn validate(params: &Self::Params, dim: usize) -> Result<(), String>;
    /// Start a transition from `state`.
    fn begin<R: Rng + ?Sized>(
        w: &mut Self::Work,
        state: &State,
        params: &Self::Params,
        rng: &mut R,
    ) -> Progress;
    /// The point to evaluate (after `begin` or `resume` returned [`Progress::Eval`]).
    fn point(w: &Self::Work) -> &[f64];
    /// The noise level to evaluate [`Kernel::point`] at (annealed Langevin); `None` for ordinary targets.
    fn noise(_w: &Self::Work, _params: &Self::Params) -> Option<f64> {
        None
    }
    /// The noise level at which a chain's [`State`] is evaluated (the smallest σ of annealed Langevin).
    fn state_noise(_params: &Self::Params) -> Option<f64> {
        None
    }
    /// Continue with the target's value at [`Kernel::point`].
    fn resume<R: Rng + ?Sized>(
        w: &mut Self::Work,
        state: &mut State,
        params: &Self::Params,
        eval: Eval<'_>,
        rng: &mut R,
    ) -> Progress;
}

/// One transition of kernel `K` on `target`, evaluating each request at once (BlackJAX's
/// `kernel(rng, state, ...) -> (state, info)`). Allocates `K`'s scratch; the drivers keep theirs.
///
/// ```
/// use rand::SeedableRng;
/// use stein_models::sample::{nuts, Exact, State};
/// use stein_scores::MultivariateNormal;
///
/// let target = MultivariateNormal::isotropic(vec![0.0; 3], 1.0).unwrap();
/// let mut state = State::new(&Exact(&target), vec![0.5, -0.5, 1.0]).unwrap();
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let info = nuts::step(&mut state, &Exact(&target), &nuts::Params::default(), &mut rng);
/// assert!(info.n_grad >= 1 && !info.divergent);
/// ```
pub fn step<K: Kernel, T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &K::Params,
    rng: &mut R,
) -> Info {
    let mut w = K::work(state.x.len());
    let mut score = vec![0.0; state.x.len()];
    let mut progress = K::begin(&mut w, state, params, rng);
    loop {
        match progress {
            Progress::Done(info) => return info,
            Progress::Eval => {
                let log_p = target.eval_at(K::point(&w), K::noise(&w, params), &mut score);
                let eval = Eval {
                    log_p,
                    score: &score,
                };
                progress = K::resume(&mut w, state, params, eval, rng);
            }
        }
    }
}

/// A point of phase space: position, momentum, velocity M⁻¹p, score, log p and the kinetic energy.
#[derive(Clone, Debug)]
pub(crate) struct Phase {
    pub x: Vec<f64>,
    pub p: Vec<f64>,
    pub v: Vec<f64>,
    pub score: Vec<f64>,
    pub log_p: f64,
    /// ½ pᵀM⁻¹p, kept with `v` (after [`Phase::start`] and [`Phase::leapfrog_end`]).
    kinetic: f64,
}

impl Phase {
    pub fn new(d: usize) -> Self {
        Phase {
            x: vec![0.0; d],
            p: vec![0.0; d],
            v: vec![0.0; d],
            score: vec![0.0; d],
            log_p: 0.0,
            kinetic: 0.0,
        }
    }

    /// Start from a chain state with a fresh momentum p ~ N(0, M).
    pub fn start<R: Rng + ?Sized>(&mut self, s: &State, metric: &Metric, rng: &mut R) {
        self.x.copy_from_slice(&s.x);
        self.score.copy_from_slice(&s.score);
        self.log_p = s.log_p.expect("a kernel that needs log p");
        metric.sample_momentum(rng, &mut self.p);
        self.kinetic = metric.velocity_kinetic(&self.p, &mut self.v);
    }

    /// H = −log p + ½ pᵀM⁻¹p.
    pub fn energy(&self) -> f64 {
        -self.log_p + self.kinetic
    }

    /// The first half of a leapfrog step of size `eps` (negative: backwards in time): half kick, drift.
    /// The caller evaluates the target at `self.x` and finishes with [`Phase::leapfrog_end`].
    pub fn leapfrog_begin(&mut self, eps: f64, metric: &Metric) {
        for (p, s) in self.p.iter_mut().zip(&self.score) {
            *p += 0.5 * eps * s;
        }
        metric.velocity(&self.p, &mut self.v);
        for (x, v) in self.x.iter_mut().zip(&self.v) {
            *x += eps * v;
        }
    }

    /// [`Phase::leapfrog_begin`] from the point `from`, written into `self` (the same arithmetic; nothing
    /// is copied first).
    pub fn leapfrog_begin_from(&mut self, from: &Phase, eps: f64, metric: &Metric) {
        for ((p, p0), s) in self.p.iter_mut().zip(&from.p).zip(&from.score) {
            *p = *p0 + 0.5 * eps * s;
        }
        metric.velocity(&self.p, &mut self.v);
        for ((x, x0), v) in self.x.iter_mut().zip(&from.x).zip(&self.v) {
            *x = *x0 + eps * v;
        }
    }

    /// The second half: take the target's value at the new position, half kick. Returns false when log p
    /// or the score is not finite there (a divergence).
    pub fn leapfrog_end(&mut self, eps: f64, metric: &Metric, e: Eval<'_>) -> bool {
        self.log_p = e.log_p.unwrap_or(f64::NAN);
        let mut finite = self.log_p.is_finite();
        for ((p, s), e) in self.p.iter_mut().zip(&mut self.score).zip(e.score) {
            *s = *e;
            finite &= e.is_finite();
            *p += 0.5 * eps * e;
        }
        self.kinetic = metric.velocity_kinetic(&self.p, &mut self.v);
        finite
    }

    /// Write the position, score and log p into a chain state.
    pub fn store(&self, s: &mut State) {
        s.x.copy_from_slice(&self.x);
        s.score.copy_from_slice(&self.score);
        s.log_p = Some(self.log_p);
    }
}
