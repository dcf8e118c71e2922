//! Compiled tensor functions: the value equals the tape's bit for bit and the gradient to rounding, on random
//! inputs of sizes around the block length, for every path (slices, broadcasts, constants, divisions, fused
//! and generic backward rules, linear and nonlinear tails, several shapes); what is outside the contract is
//! an error that names it.

use proptest::prelude::*;
use stein_autodiff::prelude::Float;
use stein_autodiff::{compile_tensor, TVar, Tape, Tensor, TensorWorkspace, TraceError, Var};

/// −Σ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)² over the columns (slices of the input, a linear tail).
fn rosenbrock(x: TVar<'_>) -> Var<'_> {
    let d = x.cols();
    let (a, b) = (x.slice_cols(0, d - 1), x.slice_cols(1, d - 1));
    let (t, u) = (b - a * a, 1.0 - a);
    -(t * t * 100.0 + u * u).sum()
}

/// Constants broadcast along rows and columns, a division by a computed tensor, a mean.
fn scaled(x: TVar<'_>) -> Var<'_> {
    let (r, c) = x.shape();
    let tape = x.tape();
    let mu = tape.tensor_const(&Tensor::row(
        &(0..c).map(|j| 0.1 * j as f64 - 0.3).collect::<Vec<_>>(),
    ));
    let prec = tape
        .tensor_const(&Tensor::new(r, 1, (0..r).map(|i| 1.0 + 0.5 * i as f64).collect()).unwrap());
    let z = (x - mu) * prec;
    let q = z / (z * z + 1.0);
    (q * x).mean() * 3.0 - (z * z).sum() * 0.5
}

/// Every unary op with a fused rule, several with the generic one, softplus and SiLU (kept with their σ),
/// and a nonlinear tail (log-sum-exp of sums, a product of sums).
fn unary_mix(x: TVar<'_>) -> Var<'_> {
    let s1 = (x.exp() * 0.1).sum();
    let s2 = (x.tanh() + x.sigmoid() - x.square() / 4.0).sum();
    let s3 = (x.sin() * x.cos() + (x * x + 1.0).ln() + x.erf()).sum();
    let s4 = ((x * 0.5).softplus_free() - (2.0 - x).powi(3) / 50.0 + x.softplus() * 0.3 - x.silu())
        .sum();
    (s1.exp() + s2.exp()).ln() + s3 * s4 * 0.01
}

/// Two shapes: sums over a slice of rows and over the whole input, combined by `dot_add`.
fn two_groups(x: TVar<'_>) -> Var<'_> {
    let r = x.rows();
    let top = x.slice_rows(0, r.div_ceil(2));
    let inner = x.slice_cols(1, x.cols() - 2);
    let (a, b) = ((top * top).sum(), (inner.abs() + 1.0).ln().sum());
    // a linear combination with a constant term (a `Lin` node with its recipe)
    let lin = <Var as stein_autodiff::Real>::dot_add(
        Var::constant(0.25),
        &[0.5, 1.0, 3.0],
        &[a, b, Var::constant(2.0)],
    );
    lin - x.sum().powi(2) * 1e-3
}

/// An adjoint passed on by `+`/`−` first and added to by another rule later (a shared block written as
/// itself plus the rule's result).
fn fan_out(x: TVar<'_>) -> Var<'_> {
    let e = x.exp() * 0.1;
    let p = (e * 2.0).sin(); // a rule on e, recorded before ...
    let s = p + e; // ... the sum that passes its adjoint on to e
    let q = (x * 3.0).tanh();
    let t = q - s * q; // the same for q through a difference
    (s * s).sum() + (t / (e + 1.0)).sum()
}

trait NoSoftplus<'t> {
    /// ln(1 + eˣ) built from elementwise ops (the tensor `softplus` is outside the contract).
    fn softplus_free(self) -> TVar<'t>;
}

impl<'t> NoSoftplus<'t> for TVar<'t> {
    fn softplus_free(self) -> TVar<'t> {
        self.exp().ln_1p()
    }
}

/// A bare sum as the output (no tail).
fn sum_of_squares(x: TVar<'_>) -> Var<'_> {
    (x * x).sum()
}

type F = for<'t> fn(TVar<'t>) -> Var<'t>;

/// Compile `f` at `x`, call it, and compare with the tape: the value bit for bit, the gradient to rounding.
fn check(f: F, x: &Tensor) {
    let c = compile_tensor(f, x).expect("compiles");
    let (mut g, mut ws) = (Tensor::zeros(1, 1), TensorWorkspace::default());
    let tape = Tape::new();
    let xv = tape.tensor(x);
    let y = f(xv);
    let tg = tape.grad_tensors(y, &[xv]).remove(0);
    // twice: the workspace's second use starts from the first's leftovers
    for _ in 0..2 {
        let v = c.value_grad(x, &mut g, &mut ws);
        assert_eq!(
            v.to_bits(),
            y.value().to_bits(),
            "value {v} vs the tape's {}",
            y.value()
        );
        assert_eq!((g.rows(), g.cols()), (x.rows(), x.cols()));
        let scale = tg.data().iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (k, (a, b)) in g.data().iter().zip(tg.data()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-13 * scale,
                "entry {k}: compiled {a}, tape {b} (scale {scale})"
            );
        }
    }
}

fn tensor(rows: usize, cols: usize, seed: u64) -> Tensor {
    // a small LCG: reproducible values in (−1.5, 1.5)
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data = (0..rows * cols)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 3.0
        })
        .collect();
    Tensor::new(rows, cols, data).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rows_of_any_length_match_the_tape(d in 2usize..700, seed in any::<u64>()) {
        check(rosenbrock, &tensor(1, d, seed));
    }

    #[test]
    fn matrices_match_the_tape(r in 1usize..40, c in 3usize..40, seed in any::<u64>()) {
        let x = tensor(r, c, seed);
        check(scaled, &x);
        check(unary_mix, &x);
        check(two_groups, &x);
        check(fan_out, &x);
    }
}

#[test]
fn block_edges_match_the_tape() {
    for d in [2, 3, 255, 256, 257, 258, 512, 513, 1000] {
        check(rosenbrock, &tensor(1, d, d as u64));
        check(unary_mix, &tensor(1, d, 7));
        check(fan_out, &tensor(1, d, 8));
        check(sum_of_squares, &tensor(1, d, 9));
    }
    // rows longer than a block, and columns narrower than one: runs cross rows
    for (r, c) in [(3, 300), (300, 3), (17, 31), (1, 1)] {
        if c >= 3 {
            check(scaled, &tensor(r, c, 11));
            check(two_groups, &tensor(r, c, 12));
        }
        check(unary_mix, &tensor(r, c, 13));
    }
}

#[test]
fn rosenbrock_has_the_reference_values() {
    // BENCHMARKS.md: T1 d = 10 at xᵢ = 0.5 + 0.01 i
    let x = Tensor::row(&(0..10).map(|i| 0.5 + 0.01 * i as f64).collect::<Vec<_>>());
    let c = compile_tensor(rosenbrock, &x).unwrap();
    let (mut g, mut ws) = (Tensor::zeros(1, 10), TensorWorkspace::default());
    let v = c.value_grad(&x, &mut g, &mut ws);
    assert!((v - -61.698372).abs() < 1e-9, "{v}");
    assert!((g.data()[0] - 53.0).abs() < 1e-9, "{}", g.data()[0]);
    assert!((g.data()[1] - 1.9996).abs() < 1e-9, "{}", g.data()[1]);
}

#[test]
fn empty_shapes_sum_to_the_tapes_zero() {
    check(sum_of_squares, &Tensor::zeros(1, 0));
    check(sum_of_squares, &Tensor::zeros(0, 3));
    // one column: rosenbrock's slices are empty
    check(rosenbrock, &tensor(1, 1, 4));
}

#[test]
fn a_constant_output_has_a_zero_gradient() {
    let x = tensor(2, 3, 1);
    let c = compile_tensor(|_x| Var::constant(2.5), &x).unwrap();
    assert!(c.is_empty());
    let (mut g, mut ws) = (Tensor::zeros(1, 1), TensorWorkspace::default());
    assert_eq!(c.value_grad(&x, &mut g, &mut ws), 2.5);
    assert_eq!(g, Tensor::zeros(2, 3));
}

#[test]
fn what_is_outside_the_contract_is_named() {
    let x = tensor(3, 4, 2);
    let unsupported = |e: TraceError, needle: &str| match e {
        TraceError::Unsupported { what } => assert!(what.contains(needle), "{what}"),
        e => panic!("expected Unsupported ({needle}), got {e:?}"),
    };
    let e = compile_tensor(|x| x.slice_cols(0, 3).matmul(x).sum(), &x).unwrap_err();
    unsupported(e, "matrix products");
    let e = compile_tensor(|x| (x * x).slice_cols(0, 2).sum(), &x).unwrap_err();
    unsupported(e, "slice of a computed tensor");
    let e = compile_tensor(|x| (x.slice_rows(0, 1).exp() * x).sum(), &x).unwrap_err();
    unsupported(e, "broadcasting a computed tensor");
    let e = compile_tensor(|x| x.sum_axis(0).sum(), &x).unwrap_err();
    unsupported(e, "sums along an axis");
    let e = compile_tensor(|x| x.get(0, 0) * 2.0, &x).unwrap_err();
    unsupported(e, "get");
    let e = compile_tensor(
        |x| {
            let s = x.sum();
            if s > Var::constant(0.0) {
                s
            } else {
                -s
            }
        },
        &x,
    )
    .unwrap_err();
    unsupported(e, "decision");
    // a raw read: what f does with the number is invisible to a replay
    let e = compile_tensor(|x| (x * x.value().get(0, 0)).sum(), &x).unwrap_err();
    assert!(matches!(e, TraceError::ValueRead { .. }), "{e:?}");
}

#[test]
#[should_panic(expected = "the trace's input is 1×5; x is 2×5")]
fn another_shape_is_a_programmer_error() {
    let c = compile_tensor(rosenbrock, &tensor(1, 5, 0)).unwrap();
    let (mut g, mut ws) = (Tensor::zeros(1, 1), TensorWorkspace::default());
    c.value_grad(&tensor(2, 5, 0), &mut g, &mut ws);
}
