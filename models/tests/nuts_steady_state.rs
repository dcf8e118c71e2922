//! A NUTS transition after the first few allocates nothing: the trajectory's points, subtrees and U-turn
//! checks live in the kernel's `Work` (issue: the per-step cost of a leapfrog step must be the gradient's).

use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use stein_models::sample::{hmc, nuts, Eval, Kernel, Metric, Progress, State, Target};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only this test's thread is counted (the harness allocates on its own threads).
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if TRACKED.with(|t| t.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if TRACKED.with(|t| t.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// N(0, diag(sd²)) with its score written in place (a target that allocates nothing itself).
struct Gauss(Vec<f64>);

impl Target for Gauss {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        let mut lp = 0.0;
        for ((s, x), sd) in score.iter_mut().zip(x).zip(&self.0) {
            *s = -x / (sd * sd);
            lp += 0.5 * x * *s;
        }
        Some(lp)
    }
    fn has_log_density(&self) -> bool {
        true
    }
}

/// Run `n` transitions of kernel `K` with one `Work`; the allocations of the last `n - warm` of them.
fn allocations<K: Kernel>(params: &K::Params, n: usize, warm: usize) -> (usize, u32) {
    let target = Gauss((0..20).map(|i| 0.1 + 0.1 * i as f64).collect());
    let mut state = State::new(&target, vec![0.3; 20]).unwrap();
    let mut work = K::work(20);
    let mut score = vec![0.0; 20];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let mut grads = 0;
    for k in 0..n {
        if k == warm {
            TRACKED.with(|t| t.set(true));
        }
        let mut progress = K::begin(&mut work, &state, params, &mut rng);
        while let Progress::Eval = progress {
            let log_p = target.eval(K::point(&work), &mut score);
            let e = Eval {
                log_p,
                score: &score,
            };
            progress = K::resume(&mut work, &mut state, params, e, &mut rng);
        }
        if let Progress::Done(info) = progress {
            grads += if k >= warm { info.n_grad } else { 0 };
        }
    }
    TRACKED.with(|t| t.set(false));
    (ALLOCS.swap(0, Ordering::Relaxed), grads)
}

#[test]
fn nuts_transitions_allocate_nothing_after_the_first() {
    for metric in [
        Metric::Identity,
        Metric::Diagonal((0..20).map(|i| (0.1 + 0.1 * i as f64).powi(2)).collect()),
    ] {
        for uturn in [nuts::UTurn::Stan, nuts::UTurn::Endpoints] {
            let params = nuts::Params {
                metric: metric.clone(),
                uturn,
                ..nuts::Params::new(0.1)
            };
            let (allocs, grads) = allocations::<nuts::Nuts>(&params, 300, 100);
            assert!(
                grads > 1000,
                "{grads} gradients: the trajectories are too short to test"
            );
            assert_eq!(
                allocs, 0,
                "{allocs} allocations in 200 NUTS transitions ({uturn:?})"
            );
        }
    }
}

#[test]
fn hmc_transitions_allocate_nothing() {
    let (allocs, grads) = allocations::<hmc::Hmc>(&hmc::Params::new(0.1, 20), 50, 1);
    assert!(grads > 0);
    assert_eq!(allocs, 0, "{allocs} allocations in 49 HMC transitions");
}
