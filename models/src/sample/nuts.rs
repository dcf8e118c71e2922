//! The No-U-Turn Sampler with multinomial sampling and the generalised U-turn criterion, as in Stan
//! (Hoffman & Gelman 2014; Betancourt 2017): the trajectory doubles in a random direction until its ends
//! turn back (p♯₋·ρ ≤ 0 or p♯₊·ρ ≤ 0, ρ the summed momenta, p♯ = M⁻¹p), checked on every subtree and, as
//! in Stan since 2.26, across the two halves of every merge ([`UTurn::Endpoints`] gives NumPyro's and
//! BlackJAX's variant); the new state is drawn from the trajectory with
//! weights e^{−H} (uniformly within subtrees, biased towards the newer subtree at the top). An energy error
//! above `max_energy_error`, or a non-finite log p or score, is a divergence: the subtree is discarded.
//!
//! The doubling is written iteratively (a stack of completed sub-subtrees, merged like a binary counter), so
//! each leapfrog step is one evaluation request of the [`Kernel`] machine.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::sample::{nuts, Exact, State};
//! use stein_scores::MultivariateNormal;
//!
//! let g = MultivariateNormal::isotropic(vec![0.0; 10], 1.0).unwrap();
//! let mut s = State::new(&Exact(&g), vec![0.5; 10]).unwrap();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
//! let info = nuts::step(&mut s, &Exact(&g), &nuts::Params::new(0.5), &mut rng);
//! assert!(info.depth >= 1 && info.n_grad as usize >= 1 << (info.depth - 1));
//! ```

use super::kernel::{self, Eval, Info, Kernel, Phase, Progress, State, Tunable};
use super::metric::Metric;
use super::target::Target;
use super::ula::positive_step;
use rand::{Rng, RngExt};
use stein_autodiff::special::logaddexp;

/// Which U-turn checks end a trajectory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UTurn {
    /// Stan's (since 2.26): ρ the summed momentum, checked between the ends of every merged pair of subtrees
    /// and across the pair (each half's inner end with the other's outer one).
    Stan,
    /// NumPyro's and BlackJAX's: only the ends of every merged pair, with the trapezoid sum
    /// ρ − (p₋ + p₊)/2. Trajectories run a little longer.
    Endpoints,
}

/// Settings of NUTS.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The leapfrog step ε.
    pub step: f64,
    /// The inverse mass matrix.
    pub metric: Metric,
    /// At most this many doublings (2^max_depth − 1 leapfrog steps).
    pub max_depth: u32,
    /// The energy error counted as a divergence.
    pub max_energy_error: f64,
    /// The U-turn checks.
    pub uturn: UTurn,
}

impl Params {
    /// ε, identity metric, depth ≤ 10, divergence at an energy error of 1000, Stan's U-turn checks (Stan's
    /// defaults).
    pub fn new(step: f64) -> Self {
        Params {
            step,
            metric: Metric::Identity,
            max_depth: 10,
            max_energy_error: 1000.0,
            uturn: UTurn::Stan,
        }
    }
}

impl Default for Params {
    /// ε = 0.1 (warm-up searches and adapts it).
    fn default() -> Self {
        Params::new(0.1)
    }
}

impl Tunable for Params {
    type Kernel = Nuts;
    fn step_size(&self) -> f64 {
        self.step
    }
    fn set_step_size(&mut self, step: f64) {
        self.step = step;
    }
    fn metric(&self) -> &Metric {
        &self.metric
    }
    fn set_metric(&mut self, m: Metric) {
        self.metric = m;
    }
}

/// A candidate draw: a point with its score, log p and energy.
struct Sample {
    x: Vec<f64>,
    score: Vec<f64>,
    log_p: f64,
    energy: f64,
}

impl Sample {
    fn new(d: usize) -> Self {
        Sample {
            x: vec![0.0; d],
            score: vec![0.0; d],
            log_p: 0.0,
            energy: 0.0,
        }
    }
    fn set(&mut self, z: &Phase, energy: f64) {
        self.x.copy_from_slice(&z.x);
        self.score.copy_from_slice(&z.score);
        self.log_p = z.log_p;
        self.energy = energy;
    }
}

/// A completed subtree, in build order: its summed momentum, the momenta and velocities at its first and
/// last leaves, its log weight and its candidate draw.
struct Span {
    rho: Vec<f64>,
    p_beg: Vec<f64>,
    v_beg: Vec<f64>,
    p_end: Vec<f64>,
    v_end: Vec<f64>,
    log_w: f64,
    sample: Sample,
    leaves: usize,
}

impl Span {
    fn new(d: usize) -> Self {
        Span {
            rho: vec![0.0; d],
            p_beg: vec![0.0; d],
            v_beg: vec![0.0; d],
            p_end: vec![0.0; d],
            v_end: vec![0.0; d],
            log_w: 0.0,
            sample: Sample::new(d),
            leaves: 0,
        }
    }
    fn leaf(&mut self, z: &Phase, energy: f64, log_w: f64) {
        self.rho.copy_from_slice(&z.p);
        self.p_beg.copy_from_slice(&z.p);
        self.v_beg.copy_from_slice(&z.v);
        self.p_end.copy_from_slice(&z.p);
        self.v_end.copy_from_slice(&z.v);
        self.log_w = log_w;
        self.sample.set(z, energy);
        self.leaves = 1;
    }
}

/// No U-turn while both ends still move along ρ: p♯₋·ρ > 0 and p♯₊·ρ > 0.
fn no_uturn(v_minus: &[f64], v_plus: &[f64], rho: &[f64]) -> bool {
    let dot = |a: &[f64]| a.iter().zip(rho).map(|(x, y)| x * y).sum::<f64>();
    dot(v_minus) > 0.0 && dot(v_plus) > 0.0
}

/// The ends of a span of the trajectory in build order (`beg` built first) and its summed momentum.
struct Ends<'a> {
    rho: &'a [f64],
    p_beg: &'a [f64],
    v_beg: &'a [f64],
    p_end: &'a [f64],
    v_end: &'a [f64],
}

/// Whether the span `a` followed (in build order) by the adjacent span `b` has not turned: the checks of a
/// merge inside a subtree and of a subtree joining the trajectory are the same.
fn spans_continue(c: UTurn, a: Ends<'_>, b: Ends<'_>, ext: &mut [f64]) -> bool {
    let sum = |ext: &mut [f64], x: &[f64], y: &[f64]| {
        for ((o, p), q) in ext.iter_mut().zip(x).zip(y) {
            *o = p + q;
        }
    };
    match c {
        UTurn::Stan => {
            sum(ext, a.rho, b.rho);
            let mut ok = no_uturn(a.v_beg, b.v_end, ext);
            sum(ext, a.rho, b.p_beg);
            ok &= no_uturn(a.v_beg, b.v_beg, ext);
            sum(ext, b.rho, a.p_end);
            ok && no_uturn(a.v_end, b.v_end, ext)
        }
        UTurn::Endpoints => {
            for ((((o, x), y), p), q) in ext
                .iter_mut()
                .zip(a.rho)
                .zip(b.rho)
                .zip(a.p_beg)
                .zip(b.p_end)
            {
                *o = x + y - 0.5 * (p + q);
            }
            no_uturn(a.v_beg, b.v_end, ext)
        }
    }
}

impl Span {
    fn ends(&self) -> Ends<'_> {
        Ends {
            rho: &self.rho,
            p_beg: &self.p_beg,
            v_beg: &self.v_beg,
            p_end: &self.p_end,
            v_end: &self.v_end,
        }
    }
}

/// The trajectory being built.
pub struct Work {
    /// The integrator's point, extending the trajectory in direction `dir`.
    z: Phase,
    /// The trajectory's backward and forward ends.
    left: Phase,
    right: Phase,
    h0: f64,
    /// The whole trajectory so far: summed momentum, log weight, candidate draw.
    rho: Vec<f64>,
    log_w: f64,
    sample: Sample,
    moved: bool,
    /// Completed sub-subtrees of the subtree being built (`len` in use).
    stack: Vec<Span>,
    len: usize,
    ext: Vec<f64>,
    dir: f64,
    depth: u32,
    max_depth: u32,
    leaves_built: usize,
    n_leapfrog: u32,
    sum_accept: f64,
    divergent: bool,
}

/// The NUTS kernel (see the module documentation).
pub struct Nuts;

impl Nuts {
    /// Start a new subtree of 2^depth leaves in a random direction from the matching end.
    fn start_subtree<R: Rng + ?Sized>(w: &mut Work, p: &Params, rng: &mut R) -> Progress {
        w.dir = if rng.random::<bool>() { 1.0 } else { -1.0 };
        if w.dir > 0.0 {
            w.z.assign(&w.right);
        } else {
            w.z.assign(&w.left);
        }
        w.len = 0;
        w.leaves_built = 0;
        w.z.leapfrog_begin(w.dir * p.step, &p.metric);
        Progress::Eval
    }

    /// Merge the top of the stack into the entry below it (build order: below = older); false on a U-turn.
    fn merge_top<R: Rng + ?Sized>(w: &mut Work, uturn: UTurn, rng: &mut R) -> bool {
        let (lower, upper) = w.stack.split_at_mut(w.len - 1);
        let (old, new) = (&mut lower[w.len - 2], &mut upper[0]);
        let ok = spans_continue(uturn, old.ends(), new.ends(), &mut w.ext);
        // uniform multinomial choice within the subtree
        let log_w = logaddexp(old.log_w, new.log_w);
        if new.log_w > log_w || rng.random::<f64>() < (new.log_w - log_w).exp() {
            std::mem::swap(&mut old.sample, &mut new.sample);
        }
        old.log_w = log_w;
        for (a, b) in old.rho.iter_mut().zip(&new.rho) {
            *a += b;
        }
        std::mem::swap(&mut old.p_end, &mut new.p_end);
        std::mem::swap(&mut old.v_end, &mut new.v_end);
        old.leaves += new.leaves;
        w.len -= 1;
        ok
    }

    /// Join the completed subtree (stack[0]) to the trajectory; false when the trajectory turns. In build
    /// order the trajectory runs from `far` (the end away from the subtree) to `near` (the end it grew from),
    /// then the subtree: the same checks as a merge.
    fn join<R: Rng + ?Sized>(w: &mut Work, uturn: UTurn, rng: &mut R) -> bool {
        let Work {
            z,
            left,
            right,
            rho,
            log_w,
            sample,
            moved,
            stack,
            ext,
            dir,
            ..
        } = w;
        let sub = &mut stack[0];
        // biased progressive sampling: prefer the new subtree
        if sub.log_w > *log_w || rng.random::<f64>() < (sub.log_w - *log_w).exp() {
            std::mem::swap(sample, &mut sub.sample);
            *moved = true;
        }
        *log_w = logaddexp(*log_w, sub.log_w);
        let (near, far) = if *dir > 0.0 {
            (right, &*left)
        } else {
            (left, &*right)
        };
        let trajectory = Ends {
            rho,
            p_beg: &far.p,
            v_beg: &far.v,
            p_end: &near.p,
            v_end: &near.v,
        };
        let ok = spans_continue(uturn, trajectory, sub.ends(), ext);
        near.assign(z);
        ok
    }

    fn finish(w: &Work, s: &mut State) -> Progress {
        if w.moved {
            s.x.copy_from_slice(&w.sample.x);
            s.score.copy_from_slice(&w.sample.score);
            s.log_p = Some(w.sample.log_p);
        }
        Progress::Done(Info {
            accept_prob: w.sum_accept / f64::from(w.n_leapfrog.max(1)),
            accepted: w.moved,
            divergent: w.divergent,
            energy: w.sample.energy,
            depth: w.depth,
            n_grad: w.n_leapfrog,
            max_depth: w.depth >= w.max_depth,
        })
    }
}

impl Kernel for Nuts {
    type Params = Params;
    type Work = Work;
    const NAME: &'static str = "NUTS";
    const NEEDS_LOG_DENSITY: bool = true;
    const TARGET_ACCEPT: Option<f64> = Some(0.8);

    fn work(d: usize) -> Work {
        Work {
            z: Phase::new(d),
            left: Phase::new(d),
            right: Phase::new(d),
            h0: 0.0,
            rho: vec![0.0; d],
            log_w: 0.0,
            sample: Sample::new(d),
            moved: false,
            stack: Vec::new(),
            len: 0,
            ext: vec![0.0; d],
            dir: 1.0,
            depth: 0,
            max_depth: 0,
            leaves_built: 0,
            n_leapfrog: 0,
            sum_accept: 0.0,
            divergent: false,
        }
    }

    fn validate(p: &Params, dim: usize) -> Result<(), String> {
        positive_step(p.step)?;
        if !(1..=30).contains(&p.max_depth) {
            return Err(format!("max_depth {}: need 1 to 30", p.max_depth));
        }
        if p.max_energy_error.is_nan() || p.max_energy_error <= 0.0 {
            return Err("max_energy_error must be positive".into());
        }
        p.metric.validate(dim)
    }

    fn begin<R: Rng + ?Sized>(w: &mut Work, s: &State, p: &Params, rng: &mut R) -> Progress {
        let d = s.x.len();
        while w.stack.len() < p.max_depth as usize + 1 {
            w.stack.push(Span::new(d));
        }
        w.left.start(s, &p.metric, rng);
        w.h0 = w.left.energy();
        w.right.assign(&w.left);
        w.rho.copy_from_slice(&w.left.p);
        w.log_w = 0.0;
        w.sample.set(&w.left, w.h0);
        w.moved = false;
        w.depth = 0;
        w.max_depth = p.max_depth;
        w.n_leapfrog = 0;
        w.sum_accept = 0.0;
        w.divergent = false;
        Self::start_subtree(w, p, rng)
    }

    fn point(w: &Work) -> &[f64] {
        &w.z.x
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        p: &Params,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let finite = w.z.leapfrog_end(w.dir * p.step, &p.metric, e);
        w.n_leapfrog += 1;
        let h = if finite { w.z.energy() } else { f64::INFINITY };
        let h = if h.is_nan() { f64::INFINITY } else { h };
        let gain = w.h0 - h;
        w.sum_accept += if gain > 0.0 { 1.0 } else { gain.exp() };
        if h - w.h0 > p.max_energy_error {
            w.divergent = true;
            return Self::finish(w, s);
        }
        // the new leaf, then merges while the two top subtrees are of equal size
        w.stack[w.len].leaf(&w.z, h, gain);
        w.len += 1;
        w.leaves_built += 1;
        while w.len >= 2 && w.stack[w.len - 1].leaves == w.stack[w.len - 2].leaves {
            if !Self::merge_top(w, p.uturn, rng) {
                return Self::finish(w, s); // a U-turn inside the new subtree: it is discarded
            }
        }
        if w.leaves_built < 1 << w.depth {
            w.z.leapfrog_begin(w.dir * p.step, &p.metric);
            return Progress::Eval;
        }
        let keep_going = Self::join(w, p.uturn, rng);
        for (a, b) in w.rho.iter_mut().zip(&w.stack[0].rho) {
            *a += b;
        }
        w.depth += 1;
        if keep_going && w.depth < p.max_depth {
            Self::start_subtree(w, p, rng)
        } else {
            Self::finish(w, s)
        }
    }
}

/// One NUTS transition (see [`kernel::step`]).
pub fn step<T: Target + ?Sized, R: Rng + ?Sized>(
    state: &mut State,
    target: &T,
    params: &Params,
    rng: &mut R,
) -> Info {
    kernel::step::<Nuts, _, _>(state, target, params, rng)
}
