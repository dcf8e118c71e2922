//! The functional API against closed forms, and its error paths.

use stein_autodiff::prelude::*;
use stein_autodiff::{
    try_divergence, try_grad, try_hessian, try_hvp, try_laplacian, try_value_and_grad, try_vjp,
    AdError,
};

// f(x, y) = x² y + sin(y): ∇f = (2xy, x² + cos y); H = [[2y, 2x], [2x, −sin y]]
fn f<S: Real>(v: &[S]) -> S {
    v[0] * v[0] * v[1] + v[1].sin()
}

fn field<S: Real>(v: &[S]) -> Vec<S> {
    // F(x, y) = (x² y, x + y³): div F = 2xy + 3y², J = [[2xy, x²], [1, 3y²]]
    vec![v[0] * v[0] * v[1], v[0] + v[1].powi(3)]
}

const X: [f64; 2] = [0.7, -1.3];

#[test]
fn gradient_and_value_match_closed_form() {
    let (x, y) = (X[0], X[1]);
    let (v, g) = value_and_grad(|v| f(v), &X);
    assert_eq!(v, f(&X));
    assert!((g[0] - 2.0 * x * y).abs() < 1e-15);
    assert!((g[1] - (x * x + y.cos())).abs() < 1e-15);
}

#[test]
fn hessian_hvp_laplacian_match_closed_form() {
    let (x, y) = (X[0], X[1]);
    let exact = [[2.0 * y, 2.0 * x], [2.0 * x, -y.sin()]];
    let h = hessian(|v| f(v), &X);
    for i in 0..2 {
        for j in 0..2 {
            assert!((h[i][j] - exact[i][j]).abs() < 1e-14, "H[{i}][{j}]");
        }
    }
    let v = [0.3, -2.0];
    let hv = hvp(|x| f(x), &X, &v);
    for i in 0..2 {
        let e = exact[i][0] * v[0] + exact[i][1] * v[1];
        assert!((hv[i] - e).abs() < 1e-14);
    }
    let lap = laplacian(|v| f(v), &X);
    assert!((lap - (2.0 * y - y.sin())).abs() < 1e-14);
}

#[test]
fn jacobian_jvp_vjp_divergence_match_closed_form() {
    let (x, y) = (X[0], X[1]);
    let exact = [[2.0 * x * y, x * x], [1.0, 3.0 * y * y]];
    let j = jacobian(|v| field(v), &X);
    let u = [1.5, -0.5];
    let (val, ut_j) = vjp(|v| field(v), &X, &u);
    let (_, j_u) = jvp(|v| field(v), &X, &u);
    // compare with a runtime f64 evaluation (a compile-time constant fold of powi may round differently)
    assert_eq!(val, field(&std::hint::black_box(X)));
    for r in 0..2 {
        for c in 0..2 {
            assert!((j[r][c] - exact[r][c]).abs() < 1e-14);
        }
        let e_vjp = u[0] * exact[0][r] + u[1] * exact[1][r];
        let e_jvp = exact[r][0] * u[0] + exact[r][1] * u[1];
        assert!((ut_j[r] - e_vjp).abs() < 1e-14);
        assert!((j_u[r] - e_jvp).abs() < 1e-14);
    }
    let div = divergence(|v| field(v), &X);
    assert!((div - (2.0 * x * y + 3.0 * y * y)).abs() < 1e-14);
}

#[test]
fn checked_variants_name_the_first_non_finite_entry() {
    let e = try_grad(|v| f(v), &[0.1, f64::NAN]).unwrap_err();
    assert!(matches!(e, AdError::NonFiniteInput { index: 1, .. }), "{e}");
    assert_eq!(e.to_string(), "input x[1] is not finite (NaN)");
    // log of a negative number: value is NaN
    let e = try_value_and_grad(|v| v[0].ln(), &[-1.0]).unwrap_err();
    assert!(matches!(e, AdError::NonFiniteValue { .. }), "{e}");
    // √x at 0: value finite, gradient infinite
    let e = try_grad(|v| v[1] + v[0].sqrt(), &[0.0, 1.0]).unwrap_err();
    assert_eq!(e.to_string(), "gradient[0] is not finite (inf)");
    let e = try_hessian(|v| v[0].powf(Var::constant(1.5)), &[0.0]).unwrap_err();
    assert!(
        e.to_string().starts_with("hessian row 0[0] is not finite"),
        "{e}"
    );
    let e = try_laplacian(|v| v[0].ln(), &[f64::INFINITY]).unwrap_err();
    assert!(matches!(e, AdError::NonFiniteInput { index: 0, .. }));
    let e = try_hvp(|v| f(v), &X, &[1.0]).unwrap_err();
    assert_eq!(e.to_string(), "hvp vector: expected length 2, got length 1");
    let e = try_divergence(|v| vec![v[0]], &X).unwrap_err();
    assert!(matches!(e, AdError::Shape { .. }));
    assert!(try_grad(|v| f(v), &X).is_ok());
    let e = try_vjp(|v| field(v), &X, &[1.0]).unwrap_err();
    assert_eq!(e.to_string(), "vjp vector: expected length 2, got length 1");
    let (y, g) = try_vjp(|v| field(v), &X, &[1.0, -0.5]).unwrap();
    assert_eq!((y.len(), g.len()), (2, 2));
}

#[test]
fn gradcheck_passes_on_correct_code_and_names_the_bad_coordinate() {
    let ok = gradcheck(|v| f(v), &X, 1e-6, 1e-7).unwrap();
    assert!(ok.max_rel_err < 1e-7);
    // A function whose tape derivative is deliberately wrong in x[1]: floor() is a constant on the tape but
    // jumps inside the finite-difference stencil at an integer.
    let e = gradcheck(
        |v| v[0] * 2.0 + v[1].floor() * 1000.0,
        &[0.3, 2.0],
        1e-6,
        1e-6,
    )
    .unwrap_err();
    match e {
        AdError::GradCheck { index, .. } => assert_eq!(index, 1),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn constants_never_touch_the_tape() {
    let tape = Tape::new();
    let c = Var::constant(2.0) * 3.0 + Var::constant(1.0).exp();
    assert!(c.is_constant());
    let x = tape.var(1.0);
    let n = tape.len();
    let _ = <Var as num_traits::Zero>::zero() + <Var as num_traits::One>::one();
    assert_eq!(tape.len(), n, "constant arithmetic recorded nodes");
    let y = x * c;
    assert_eq!(tape.grad(y, &[x])[0], c.value());
}

#[test]
#[should_panic(expected = "two different tapes")]
fn mixing_tapes_panics_with_a_reason() {
    let (a, b) = (Tape::new(), Tape::new());
    let _ = a.var(1.0) + b.var(2.0);
}

#[test]
#[should_panic(expected = "grad: input 1 is a variable of another tape")]
fn grad_with_an_input_of_another_tape_panics() {
    let (a, b) = (Tape::new(), Tape::new());
    let (x, z) = (a.var(1.0), b.var(2.0));
    let y = x * x;
    let _ = a.grad(y, &[x, z]);
}

#[test]
#[should_panic(expected = "grad_graph: input 0 is a variable of another tape")]
fn grad_graph_with_an_input_of_another_tape_panics() {
    let (a, b) = (Tape::new(), Tape::new());
    let (x, z) = (a.var(1.0), b.var(2.0));
    let _ = a.grad_graph(x * x, &[z]);
}

#[test]
#[should_panic(expected = "grad_tensors: input 0 is a variable of another tape")]
fn grad_tensors_with_an_input_of_another_tape_panics() {
    let (a, b) = (Tape::new(), Tape::new());
    let x = a.tensor(&Tensor::zeros(1, 2));
    let z = b.tensor(&Tensor::zeros(1, 2));
    let _ = a.grad_tensors(x.sum(), &[z]);
}

#[test]
#[should_panic(expected = "matmul: shapes 2×3 and 2×3 do not match")]
fn matmul_shape_mismatch_names_both_shapes() {
    let t = Tape::new();
    let a = t.tensor(&Tensor::zeros(2, 3));
    let _ = a.matmul(a);
}

#[test]
#[should_panic(expected = "add: shapes 2×3 and 3×2 do not broadcast")]
fn broadcast_mismatch_names_both_shapes() {
    let t = Tape::new();
    let _ = t.tensor(&Tensor::zeros(2, 3)) + t.tensor(&Tensor::zeros(3, 2));
}

#[test]
fn mark_and_truncate_rewind_the_tape() {
    let mut tape = Tape::new();
    let x = tape.var(2.0);
    let m = tape.mark();
    let y = x * x;
    assert_eq!(tape.grad(y, &[x])[0], 4.0);
    let before = tape.len();
    tape.truncate(m);
    assert!(tape.len() < before);
    assert_eq!(tape.len(), 1);
}

#[test]
fn nested_functional_calls_use_their_own_tapes() {
    // the gradient of a function that itself calls `grad` on plain numbers
    let g = grad(
        |v| {
            let inner = grad(|w| w[0] * w[0], &[3.0])[0]; // 6, a plain number
            v[0] * inner
        },
        &[1.0],
    );
    assert_eq!(g[0], 6.0);
}

#[test]
fn large_tensors_take_the_parallel_kernels_with_the_same_values() {
    // 300 × 200 = 60,000 entries: above the threshold where elementwise kernels split over threads
    let t = Tape::new();
    let a = Tensor::from_fn(300, 200, |i, j| ((i * 7 + j * 13) % 17) as f64 / 8.0 - 1.0);
    let b = Tensor::from_fn(300, 200, |i, j| ((i * 3 + j * 5) % 11) as f64 / 4.0 + 0.5);
    let (x, y) = (t.tensor(&a), t.tensor(&b));
    let z = (x.softplus() * y).value();
    // the same bits as the serial kernel on a small tensor (one row), and within a few ulp of libm
    for i in [0, 137, 299] {
        let row = |m: &Tensor| Tensor::row(m.row_slice(i));
        let small = (t.tensor(&row(&a)).softplus() * t.tensor(&row(&b))).value();
        for j in 0..200 {
            let (v, w) = (z.get(i, j), small.get(0, j));
            assert_eq!(v.to_bits(), w.to_bits(), "entry ({i}, {j})");
            let e = stein_autodiff::special::softplus(a.get(i, j)) * b.get(i, j);
            assert!(
                (v - e).abs() <= 1e-15 * e.abs(),
                "entry ({i}, {j}): {v} vs {e}"
            );
        }
    }
    // and a product large enough to be split over threads: (300 × 200)(200 × 300)
    let p = x.matmul_t(y, false, true).value();
    let mut e = 0.0;
    for k in 0..200 {
        e += a.get(7, k) * b.get(11, k);
    }
    assert!((p.get(7, 11) - e).abs() < 1e-12 * (1.0 + e.abs()));
}

#[test]
#[should_panic(expected = "kept tensor 0 is no longer on the tape")]
fn a_kept_tensor_is_gone_after_a_clear() {
    let mut tape = Tape::new();
    let k = tape.tensor_const(&Tensor::full(2, 2, 1.0)).keep();
    tape.clear();
    let _ = tape.kept(k);
}
