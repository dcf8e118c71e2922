//! Compiled gradients: replays equal the tape on random inputs, guards catch branches, raw reads and
//! tensors are refused, and `Jit` always answers as the tape does.

use proptest::prelude::*;
use rayon::prelude::*;
use stein_autodiff::compile::MAX_TRACES;
use stein_autodiff::{compile, value_and_grad, Jit, Real, TraceError, Var, Workspace};

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * (1.0 + b.abs())
}

/// A density with every kind of node: elementwise ops, constants on both sides, dot_add with constant
/// terms, mul_add, powf, max, log-sum-exp, a comparison.
fn mixed<S: Real>(x: &[S]) -> S {
    let lin = S::dot_add(S::cst(0.5), &[1.0, -2.0, 0.25], &[x[0], S::cst(3.0), x[2]]);
    let a = x[0].mul_add(x[1], x[2]).tanh() * 2.0 - x[3].rsub(1.0).powi(2);
    let b = (x[4] * x[4] + 1.0).ln() + x[1].max(x[2]) + (x[3].abs() + 0.5).powf(S::cst(1.5));
    let c = S::logsumexp(&[x[0], x[1] * 0.5, lin]);
    let d = if x[0] > x[1] { x[0].sin() } else { x[1].cos() };
    a + b - c + d + x.iter().map(|&v| v.sigmoid()).sum::<S>() / 5.0
}

fn rosenbrock<S: Real>(x: &[S]) -> S {
    let mut s = S::cst(0.0);
    for w in x.windows(2) {
        let t = w[1] - w[0] * w[0];
        let u = w[0].rsub(1.0);
        s += t * t * 100.0 + u * u;
    }
    -s
}

/// Loops over a vector: the replay's dense runs and chains (a running product and difference, pairwise
/// products, constants that change along the loop).
fn loops<S: Real>(x: &[S]) -> S {
    let mut prod = S::cst(1.0);
    let mut diff = S::cst(0.0);
    let mut lin = S::cst(0.0);
    for (i, w) in x.windows(2).enumerate() {
        prod *= (w[0] * 0.3).tanh() + 1.5;
        diff -= w[0] * w[1];
        lin += (w[1] * (i as f64 + 0.5)).rsub(0.25 * i as f64) + (w[0] + i as f64).powi(2);
    }
    prod + diff + lin
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn loops_replay_equal_tape(x in prop::collection::vec(-1.5..1.5f64, 2..60)) {
        let c = compile(|v| loops(v), &vec![0.1; x.len()]).unwrap();
        let mut g = vec![0.0; x.len()];
        let v = c.value_grad(&x, &mut g, &mut Workspace::default()).unwrap();
        let (vt, gt) = value_and_grad(|v| loops(v), &x);
        prop_assert_eq!(v.to_bits(), vt.to_bits());
        for i in 0..x.len() {
            prop_assert!(close(g[i], gt[i], 1e-12), "d/dx{}: {} vs tape {}", i, g[i], gt[i]);
        }
    }

    #[test]
    fn replay_equals_tape(x in prop::collection::vec(-2.0..2.0f64, 5), y in prop::collection::vec(-2.0..2.0f64, 5)) {
        let c = compile(|v| mixed(v), &x).unwrap();
        let (mut g, mut ws) = (vec![0.0; 5], Workspace::default());
        for p in [&x, &y] {
            let (vt, gt) = value_and_grad(|v| mixed(v), p);
            match c.value_grad(p, &mut g, &mut ws) {
                Some(v) => {
                    prop_assert!(close(v, vt, 1e-14), "value {v} vs tape {vt}");
                    for i in 0..5 {
                        prop_assert!(close(g[i], gt[i], 1e-13), "d/dx{i}: {} vs tape {}", g[i], gt[i]);
                    }
                }
                // only the other side of x0 > x1 may refuse the trace
                None => prop_assert!((p[0] > p[1]) != (x[0] > x[1])),
            }
        }
        // at its own point the value is the tape's bit for bit
        let (vt, _) = value_and_grad(|v| mixed(v), &x);
        prop_assert_eq!(c.value_grad(&x, &mut g, &mut ws).unwrap().to_bits(), vt.to_bits());
    }

    #[test]
    fn rosenbrock_replay_equals_tape(x in prop::collection::vec(-2.0..2.0f64, 1..40)) {
        let c = compile(|v| rosenbrock(v), &vec![0.5; x.len()]).unwrap();
        prop_assert_eq!(c.guards(), 0);
        let mut g = vec![0.0; x.len()];
        let v = c.value_grad(&x, &mut g, &mut Workspace::default()).unwrap();
        let (vt, gt) = value_and_grad(|v| rosenbrock(v), &x);
        prop_assert_eq!(v.to_bits(), vt.to_bits());
        for i in 0..x.len() {
            prop_assert!(close(g[i], gt[i], 1e-13));
        }
    }
}

fn branchy<S: Real>(x: &[S]) -> S {
    if x[0] > S::cst(0.0) {
        x[0] * x[0]
    } else {
        -(x[0] * x[0] * x[0])
    }
}

#[test]
fn a_guard_refuses_the_other_branch() {
    let c = compile(|x| branchy(x), &[1.0]).unwrap();
    assert_eq!(c.guards(), 1);
    let (mut g, mut ws) = (vec![0.0], Workspace::default());
    assert_eq!(c.value_grad(&[2.0], &mut g, &mut ws), Some(4.0));
    assert_eq!(g, vec![4.0]);
    // without the guard this would be x² at −2: 4 and −4 instead of 8 and −12
    assert_eq!(c.value_grad(&[-2.0], &mut g, &mut ws), None);
    let jit = Jit::new(|x| branchy(x));
    assert_eq!(jit.value_grad(&[2.0], &mut g), 4.0);
    assert_eq!(jit.value_grad(&[-2.0], &mut g), 8.0);
    assert_eq!(g, vec![-12.0]);
    assert_eq!(jit.value_grad(&[3.0], &mut g), 9.0); // the first trace again
    let s = jit.stats();
    assert_eq!((s.traces, s.misses, s.tape_calls), (2, 1, 0));
}

fn floor_times<S: Real>(x: &[S]) -> S {
    x[0] * x[0].floor()
}

fn floor_and_finite<S: Real>(x: &[S]) -> S {
    floor_times(x) + if x[1].is_finite() { x[1] } else { x[0] }
}

fn lse<S: Real>(x: &[S]) -> S {
    S::logsumexp(x)
}

fn reads_a_value<'t>(x: &[Var<'t>]) -> Var<'t> {
    if x[0].value() > 0.0 {
        x[0] * 2.0
    } else {
        x[0] * 3.0
    }
}

#[test]
fn predicates_and_piecewise_constants_are_guarded() {
    let c = compile(|x| floor_and_finite(x), &[1.5, 0.0]).unwrap();
    let (mut g, mut ws) = (vec![0.0; 2], Workspace::default());
    assert_eq!(c.value_grad(&[1.7, 2.0], &mut g, &mut ws), Some(1.7 + 2.0));
    assert_eq!(c.value_grad(&[2.5, 2.0], &mut g, &mut ws), None); // floor changed
    assert_eq!(c.value_grad(&[1.7, f64::INFINITY], &mut g, &mut ws), None);
}

#[test]
fn logsumexp_retraces_when_its_shift_goes_stale() {
    let c = compile(|x| lse(x), &[0.0, 1.0]).unwrap();
    let (mut g, mut ws) = (vec![0.0; 2], Workspace::default());
    let v = c.value_grad(&[5.0, 2.0], &mut g, &mut ws).unwrap();
    assert!(close(v, value_and_grad(|x| lse(x), &[5.0, 2.0]).0, 1e-15));
    // e^(800 − 1) overflows with the recorded shift: the guard refuses, Jit traces again
    assert_eq!(c.value_grad(&[800.0, 0.0], &mut g, &mut ws), None);
    let jit = Jit::new(|x| lse(x));
    jit.value_grad(&[0.0, 1.0], &mut g);
    assert_eq!(jit.value_grad(&[800.0, 0.0], &mut g), 800.0);
    assert_eq!(jit.stats().traces, 2);
}

#[test]
fn raw_reads_are_refused_and_the_tape_answers() {
    assert_eq!(
        compile(reads_a_value, &[1.0]).unwrap_err(),
        TraceError::ValueRead { reads: 1 }
    );
    let jit = Jit::new(reads_a_value);
    let mut g = vec![0.0];
    assert_eq!(jit.value_grad(&[1.0], &mut g), 2.0);
    assert_eq!(jit.value_grad(&[-1.0], &mut g), -3.0);
    assert_eq!(g, vec![3.0]);
    assert!(matches!(jit.error(), Some(TraceError::ValueRead { .. })));
    assert_eq!(jit.stats().tape_calls, 2);
}

#[test]
fn tensors_are_refused() {
    fn tensor_sum<'t>(x: &[Var<'t>]) -> Var<'t> {
        let v = x[0].broadcast(x[0].tape().unwrap(), 2, 2);
        (v * v).sum()
    }
    assert!(matches!(
        compile(tensor_sum, &[1.0]),
        Err(TraceError::Unsupported { .. })
    ));
}

#[test]
fn past_the_trace_limit_the_tape_answers() {
    // a new floor value at every integer: one trace each
    let jit = Jit::new(|x| floor_times(x));
    let mut g = vec![0.0];
    for k in 0..(MAX_TRACES + 3) {
        let x = k as f64 + 0.5;
        assert_eq!(jit.value_grad(&[x], &mut g), x * k as f64);
        assert_eq!(g, vec![k as f64]);
    }
    let s = jit.stats();
    assert_eq!(s.traces as usize, MAX_TRACES);
    assert_eq!(s.tape_calls, 3);
}

#[test]
fn threads_share_traces_and_get_the_same_bits() {
    let jit = Jit::new(|x| mixed(x));
    let points: Vec<Vec<f64>> = (0..200)
        .map(|i| {
            (0..5)
                .map(|j| ((i * 7 + j * 3) as f64 * 0.37).sin() * 1.5)
                .collect()
        })
        .collect();
    let serial: Vec<(u64, Vec<f64>)> = points
        .iter()
        .map(|p| {
            let mut g = vec![0.0; 5];
            (jit.value_grad(p, &mut g).to_bits(), g)
        })
        .collect();
    let parallel: Vec<(u64, Vec<f64>)> = points
        .par_iter()
        .map(|p| {
            let mut g = vec![0.0; 5];
            (jit.value_grad(p, &mut g).to_bits(), g)
        })
        .collect();
    assert_eq!(serial, parallel);
    assert!(jit.stats().traces <= 2); // the two sides of x0 > x1
}
