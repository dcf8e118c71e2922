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

/// The phase points of one transition, each held by index and counted by reference: a leaf is the point the
/// integrator wrote, and the subtrees, the trajectory's ends and the candidate draws refer to it without
/// copying. Points come back to the pool when nothing refers to them; the pool only grows (to about three
/// points per tree level), so a transition after the first allocates nothing.
struct Pool {
    points: Vec<Phase>,
    refs: Vec<u32>,
    free: Vec<usize>,
    d: usize,
}

impl Pool {
    fn new(d: usize) -> Self {
        Pool {
            points: Vec::new(),
            refs: Vec::new(),
            free: Vec::new(),
            d,
        }
    }
    /// Every point back in the pool (the start of a transition).
    fn reset(&mut self) {
        self.free.clear();
        self.free.extend(0..self.points.len());
        self.refs.iter_mut().for_each(|r| *r = 0);
    }
    /// A free point, held once.
    fn take(&mut self) -> usize {
        let i = self.free.pop().unwrap_or_else(|| {
            self.points.push(Phase::new(self.d));
            self.refs.push(0);
            self.points.len() - 1
        });
        self.refs[i] = 1;
        i
    }
    fn hold(&mut self, i: usize) {
        self.refs[i] += 1;
    }
    fn drop(&mut self, i: usize) {
        self.refs[i] -= 1;
        if self.refs[i] == 0 {
            self.free.push(i);
        }
    }
    /// Point `from` to read and point `to` to write (`from != to`).
    fn pair(&mut self, from: usize, to: usize) -> (&Phase, &mut Phase) {
        debug_assert_ne!(from, to);
        if from < to {
            let (a, b) = self.points.split_at_mut(to);
            (&a[from], &mut b[0])
        } else {
            let (a, b) = self.points.split_at_mut(from);
            (&b[0], &mut a[to])
        }
    }
}

/// A candidate draw: a point of the pool and its energy.
#[derive(Clone, Copy)]
struct Pick {
    point: usize,
    energy: f64,
}

/// A completed subtree, in build order: its summed momentum, its first and last leaves (points of the pool),
/// its log weight and its candidate draw.
struct Span {
    rho: Vec<f64>,
    beg: usize,
    end: usize,
    log_w: f64,
    pick: Pick,
    leaves: usize,
}

impl Span {
    fn new(d: usize) -> Self {
        Span {
            rho: vec![0.0; d],
            beg: 0,
            end: 0,
            log_w: 0.0,
            pick: Pick {
                point: 0,
                energy: 0.0,
            },
            leaves: 0,
        }
    }
}

/// The U-turn checks between the span `a` followed (in build order) by the adjacent span `b`; each is
/// given by its summed momentum and its first and last points. The checks of a merge inside a subtree and
/// of a subtree joining the trajectory are the same: no U-turn while both ends still move along ρ,
/// p♯₋·ρ > 0 and p♯₊·ρ > 0. One pass over the coordinates, no temporaries.
fn spans_continue(
    c: UTurn,
    (a_rho, a_beg, a_end): (&[f64], &Phase, &Phase),
    (b_rho, b_beg, b_end): (&[f64], &Phase, &Phase),
) -> bool {
    let d = a_rho.len();
    match c {
        UTurn::Stan => {
            // ρ = ρa + ρb (the whole), ρa + p(b₋) (across, from a's start), ρb + p(a₊) (across, to b's end)
            let (mut whole_beg, mut whole_end) = (0.0, 0.0);
            let (mut across_a0, mut across_b0) = (0.0, 0.0);
            let (mut across_a1, mut across_b1) = (0.0, 0.0);
            for i in 0..d {
                let whole = a_rho[i] + b_rho[i];
                whole_beg += a_beg.v[i] * whole;
                whole_end += b_end.v[i] * whole;
                let left = a_rho[i] + b_beg.p[i];
                across_a0 += a_beg.v[i] * left;
                across_b0 += b_beg.v[i] * left;
                let right = b_rho[i] + a_end.p[i];
                across_a1 += a_end.v[i] * right;
                across_b1 += b_end.v[i] * right;
            }
            whole_beg > 0.0
                && whole_end > 0.0
                && across_a0 > 0.0
                && across_b0 > 0.0
                && across_a1 > 0.0
                && across_b1 > 0.0
        }
        UTurn::Endpoints => {
            let (mut beg, mut end) = (0.0, 0.0);
            for i in 0..d {
                let rho = a_rho[i] + b_rho[i] - 0.5 * (a_beg.p[i] + b_end.p[i]);
                beg += a_beg.v[i] * rho;
                end += b_end.v[i] * rho;
            }
            beg > 0.0 && end > 0.0
        }
    }
}

/// The trajectory being built.
pub struct Work {
    pool: Pool,
    /// The integrator's point (held), extending the trajectory in direction `dir`.
    z: usize,
    /// The trajectory's backward and forward ends (held).
    left: usize,
    right: usize,
    h0: f64,
    /// The whole trajectory so far: summed momentum, log weight, candidate draw (held).
    rho: Vec<f64>,
    log_w: f64,
    pick: Pick,
    moved: bool,
    /// Completed sub-subtrees of the subtree being built (`len` in use).
    stack: Vec<Span>,
    len: usize,
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
        let from = if w.dir > 0.0 { w.right } else { w.left };
        w.len = 0;
        w.leaves_built = 0;
        Self::leapfrog_from(w, from, p)
    }

    /// The first half of a leapfrog step from point `from` into a fresh point, which becomes `z`.
    fn leapfrog_from(w: &mut Work, from: usize, p: &Params) -> Progress {
        let to = w.pool.take();
        let (a, b) = w.pool.pair(from, to);
        b.leapfrog_begin_from(a, w.dir * p.step, &p.metric);
        w.pool.drop(w.z);
        w.z = to;
        Progress::Eval
    }

    /// Merge the top of the stack into the entry below it (build order: below = older); false on a U-turn.
    fn merge_top<R: Rng + ?Sized>(w: &mut Work, uturn: UTurn, rng: &mut R) -> bool {
        let (lower, upper) = w.stack.split_at_mut(w.len - 1);
        let (old, new) = (&mut lower[w.len - 2], &mut upper[0]);
        let pt = &w.pool.points;
        let ok = spans_continue(
            uturn,
            (&old.rho, &pt[old.beg], &pt[old.end]),
            (&new.rho, &pt[new.beg], &pt[new.end]),
        );
        // uniform multinomial choice within the subtree
        let log_w = logaddexp(old.log_w, new.log_w);
        if new.log_w > log_w || rng.random::<f64>() < (new.log_w - log_w).exp() {
            std::mem::swap(&mut old.pick, &mut new.pick);
        }
        w.pool.drop(new.pick.point);
        old.log_w = log_w;
        for (a, b) in old.rho.iter_mut().zip(&new.rho) {
            *a += b;
        }
        w.pool.drop(old.end);
        w.pool.drop(new.beg);
        old.end = new.end;
        old.leaves += new.leaves;
        w.len -= 1;
        ok
    }

    /// Join the completed subtree (stack[0]) to the trajectory; false when the trajectory turns. In build
    /// order the trajectory runs from `far` (the end away from the subtree) to `near` (the end it grew from),
    /// then the subtree: the same checks as a merge.
    fn join<R: Rng + ?Sized>(w: &mut Work, uturn: UTurn, rng: &mut R) -> bool {
        let sub = &w.stack[0];
        // biased progressive sampling: prefer the new subtree
        if sub.log_w > w.log_w || rng.random::<f64>() < (sub.log_w - w.log_w).exp() {
            w.pool.drop(w.pick.point);
            w.pick = sub.pick;
            w.moved = true;
        } else {
            w.pool.drop(sub.pick.point);
        }
        w.log_w = logaddexp(w.log_w, sub.log_w);
        let (near, far) = if w.dir > 0.0 {
            (w.right, w.left)
        } else {
            (w.left, w.right)
        };
        let pt = &w.pool.points;
        let ok = spans_continue(
            uturn,
            (&w.rho, &pt[far], &pt[near]),
            (&sub.rho, &pt[sub.beg], &pt[sub.end]),
        );
        let (beg, end) = (sub.beg, sub.end);
        w.pool.drop(near);
        w.pool.drop(beg);
        if w.dir > 0.0 {
            w.right = end;
        } else {
            w.left = end;
        }
        ok
    }

    fn finish(w: &Work, s: &mut State) -> Progress {
        if w.moved {
            w.pool.points[w.pick.point].store(s);
        }
        Progress::Done(Info {
            accept_prob: w.sum_accept / f64::from(w.n_leapfrog.max(1)),
            accepted: w.moved,
            divergent: w.divergent,
            energy: w.pick.energy,
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
            pool: Pool::new(d),
            z: 0,
            left: 0,
            right: 0,
            h0: 0.0,
            rho: vec![0.0; d],
            log_w: 0.0,
            pick: Pick {
                point: 0,
                energy: 0.0,
            },
            moved: false,
            stack: Vec::new(),
            len: 0,
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
        w.pool.reset();
        let start = w.pool.take();
        let z0 = &mut w.pool.points[start];
        z0.start(s, &p.metric, rng);
        w.h0 = z0.energy();
        w.rho.copy_from_slice(&z0.p);
        // the start is both ends, the candidate and the integrator's point
        for _ in 0..3 {
            w.pool.hold(start);
        }
        (w.left, w.right, w.z) = (start, start, start);
        w.pick = Pick {
            point: start,
            energy: w.h0,
        };
        w.log_w = 0.0;
        w.moved = false;
        w.depth = 0;
        w.max_depth = p.max_depth;
        w.n_leapfrog = 0;
        w.sum_accept = 0.0;
        w.divergent = false;
        Self::start_subtree(w, p, rng)
    }

    fn point(w: &Work) -> &[f64] {
        &w.pool.points[w.z].x
    }

    fn resume<R: Rng + ?Sized>(
        w: &mut Work,
        s: &mut State,
        p: &Params,
        e: Eval<'_>,
        rng: &mut R,
    ) -> Progress {
        let z = w.z;
        let leaf = &mut w.pool.points[z];
        let finite = leaf.leapfrog_end(w.dir * p.step, &p.metric, e);
        w.n_leapfrog += 1;
        let h = if finite { leaf.energy() } else { f64::INFINITY };
        let h = if h.is_nan() { f64::INFINITY } else { h };
        let gain = w.h0 - h;
        w.sum_accept += if gain > 0.0 { 1.0 } else { gain.exp() };
        if h - w.h0 > p.max_energy_error {
            w.divergent = true;
            return Self::finish(w, s);
        }
        // the new leaf (its first and last point and its candidate), then merges while the two top subtrees
        // are of equal size
        let span = &mut w.stack[w.len];
        span.rho.copy_from_slice(&leaf.p);
        (span.beg, span.end) = (z, z);
        span.pick = Pick {
            point: z,
            energy: h,
        };
        span.log_w = gain;
        span.leaves = 1;
        for _ in 0..3 {
            w.pool.hold(z);
        }
        w.len += 1;
        w.leaves_built += 1;
        while w.len >= 2 && w.stack[w.len - 1].leaves == w.stack[w.len - 2].leaves {
            if !Self::merge_top(w, p.uturn, rng) {
                return Self::finish(w, s); // a U-turn inside the new subtree: it is discarded
            }
        }
        if w.leaves_built < 1 << w.depth {
            return Self::leapfrog_from(w, z, p);
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
