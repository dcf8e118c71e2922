//! Write an energy, get its score, check it: the three things a user does first. Then the same in tensor
//! form for a 1,000-dimensional energy, compiled once and replayed.
//!
//! Run: `cargo run --release --example custom_energy`

use std::time::Instant;
use stein::autodiff::{compile_tensor, gradcheck, Real, TVar, Tape, Tensor, TensorWorkspace, Var};
use stein::scores::testing::assert_score_matches;
use stein::scores::{
    score, AutodiffScore, Energy, EnergyFunction, LogDensity, MultivariateNormal, Score,
};

/// A double well in x₀ with a Gaussian in x₁: E(x) = (x₀² − 1)² · h + x₁² / 2.
struct DoubleWell {
    height: f64,
}

impl EnergyFunction for DoubleWell {
    fn dim(&self) -> usize {
        2
    }
    fn energy<S: Real>(&self, x: &[S]) -> S {
        (x[0] * x[0] - 1.0).powi(2) * self.height + x[1] * x[1] * 0.5
    }
}

/// The same idea as a plain generic function (no struct needed for a one-off).
fn log_p<S: Real>(x: &[S]) -> S {
    -(x[0] * x[0]).rsub(1.0).powi(2) * 2.0 - x[1] * x[1] * 0.5
}

/// log p of a chain of 1-D double wells, each coupled to its neighbour, in tensor form (x is 1 × d):
/// −2 Σ (xᵢ² − 1)² − ½ Σ (xᵢ₊₁ − xᵢ)².
fn chain_log_p(x: TVar<'_>) -> Var<'_> {
    let d = x.cols();
    let (a, b) = (x.slice_cols(0, d - 1), x.slice_cols(1, d - 1));
    -((x * x - 1.0).square().sum() * 2.0 + (b - a).square().sum() * 0.5)
}

fn main() {
    let well = Energy(DoubleWell { height: 2.0 });
    let x = [0.5, -1.0];

    // 1. the score, by autodiff: s = −∇E = (−4h x₀ (x₀² − 1), −x₁)
    let s = score(&well, &x);
    println!("score at {x:?}: {s:?}");
    println!(
        "by hand:        {:?}",
        [-4.0 * 2.0 * 0.5 * (0.25 - 1.0), 1.0]
    );

    // 2. check the tape against finite differences
    let report = gradcheck(|v| well.log_prob(v), &x, 1e-6, 1e-7).expect("gradient check");
    println!("gradcheck: max relative error {:.2e}", report.max_rel_err);

    // 3. the generic-function form gives the same score
    let g = stein::autodiff::grad(|v| log_p(v), &x);
    println!("generic fn score: {g:?}");

    // 4. compare an autodiff score with an analytic one (here a Gaussian written by hand vs the catalogue)
    struct MyGaussian;
    impl LogDensity for MyGaussian {
        fn dim(&self) -> usize {
            2
        }
        fn log_prob<S: Real>(&self, x: &[S]) -> S {
            -((x[0] - 1.0).powi(2) / 0.5 + x[1].powi(2) / 2.0) * 0.5
        }
    }
    let reference = MultivariateNormal::diagonal(vec![1.0, 0.0], vec![0.5, 2.0]).unwrap();
    let points: Vec<Vec<f64>> = (0..50)
        .map(|i| vec![(i as f64 * 0.37).sin() * 3.0, (i as f64 * 0.61).cos() * 3.0])
        .collect();
    assert_score_matches(&AutodiffScore(&MyGaussian), &reference, &points, 1e-12);
    println!(
        "MyGaussian's autodiff score matches MultivariateNormal's analytic score at 50 points"
    );
    println!("reference score at x: {:?}", reference.score(&x));

    // 5. a 1,000-d energy in tensor form, compiled: recorded once, its elementwise ops fused into blocks
    let x0 = Tensor::row(
        &(0..1000)
            .map(|i| (i as f64 * 0.1).sin())
            .collect::<Vec<_>>(),
    );
    let compiled =
        compile_tensor(chain_log_p, &x0).expect("elementwise ops, slices and sums compile");
    let (mut g, mut ws) = (Tensor::zeros(1, 1000), TensorWorkspace::default());
    let lp = compiled.value_grad(&x0, &mut g, &mut ws);
    let mut tape = Tape::new();
    let xv = tape.tensor(&x0);
    let y = chain_log_p(xv);
    let tape_grad = tape.grad_tensors(y, &[xv]).remove(0);
    let err = g
        .data()
        .iter()
        .zip(tape_grad.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "tensor form, d = 1000: log p {lp:.6} (tape {:.6}), largest gradient difference {err:.1e}",
        y.value()
    );
    let calls = 20_000;
    let t0 = Instant::now();
    for _ in 0..calls {
        compiled.value_grad(&x0, &mut g, &mut ws);
    }
    let compiled_us = t0.elapsed().as_secs_f64() * 1e6 / calls as f64;
    let t0 = Instant::now();
    for _ in 0..calls {
        tape.clear();
        let xv = tape.tensor(&x0);
        let y = chain_log_p(xv);
        tape.grad_tensors_into(y, &[xv], std::slice::from_mut(&mut g));
    }
    let tape_us = t0.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("value + gradient: compiled {compiled_us:.2} µs, tape {tape_us:.2} µs per call");
}
