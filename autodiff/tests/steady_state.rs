//! A record / backward / clear loop reaches a steady state with no allocation per cycle.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use stein_autodiff::prelude::*;
use stein_autodiff::Jit;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only this test's thread is counted (the harness allocates on its own threads).
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if TRACKED.with(|t| t.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn energy<S: Real>(x: &[S]) -> S {
    let mut s = S::cst(0.0);
    for w in x.windows(2) {
        s += (w[1] - w[0] * w[0]).powi(2) * 100.0 + w[0].rsub(1.0).powi(2);
    }
    S::dot_add(s, &[0.5, -0.25, 0.125], x).softplus()
}

fn cycle(tape: &mut Tape, x: &[f64; 6], w: &Tensor, g: &mut [f64; 6], gw: &mut [Tensor; 1]) -> f64 {
    tape.clear();
    let xs: [Var; 6] = std::array::from_fn(|i| tape.var(x[i]));
    let wt = tape.tensor(w);
    // a small product (direct kernel); large products allocate a packing buffer inside matrixmultiply
    let net = wt.matmul(wt.t()).tanh().sum();
    let y = energy(&xs) + net;
    tape.grad_into(y, &xs, g);
    tape.grad_tensors_into(y, &[wt], gw);
    y.value()
}

#[test]
fn hundred_thousand_cycles_allocate_nothing_after_warm_up() {
    let mut tape = Tape::new();
    let x = [0.1, 0.2, -0.3, 0.4, 0.5, 0.6];
    let w = Tensor::from_fn(3, 4, |i, j| (i as f64 - j as f64) * 0.1);
    let (mut g, mut gw) = ([0.0; 6], [Tensor::zeros(3, 4)]);
    for _ in 0..10 {
        cycle(&mut tape, &x, &w, &mut g, &mut gw);
    }
    let cap = tape.capacity_bytes();
    let before = ALLOCS.load(Ordering::Relaxed);
    TRACKED.with(|t| t.set(true));
    let mut acc = 0.0;
    for _ in 0..100_000 {
        acc += cycle(&mut tape, &x, &w, &mut g, &mut gw);
    }
    TRACKED.with(|t| t.set(false));
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(acc.is_finite());
    assert_eq!(after - before, 0, "allocations in steady state");
    assert_eq!(tape.capacity_bytes(), cap, "the arena grew");
}

#[test]
fn compiled_replays_allocate_nothing_after_warm_up() {
    let jit = Jit::new(|x| energy(x));
    let x = [0.1, 0.2, -0.3, 0.4, 0.5, 0.6];
    let mut g = [0.0; 6];
    for _ in 0..10 {
        jit.value_grad(&x, &mut g);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    TRACKED.with(|t| t.set(true));
    let mut acc = 0.0;
    for k in 0..100_000 {
        let mut y = x;
        y[k % 6] += 1e-6 * (k % 7) as f64;
        acc += jit.value_grad(&y, &mut g);
    }
    TRACKED.with(|t| t.set(false));
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(acc.is_finite());
    assert_eq!(after - before, 0, "allocations in steady state");
    assert_eq!(jit.stats().traces, 1);
}
