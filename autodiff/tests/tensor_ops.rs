//! Every tensor op against central finite differences: the gradient entry by entry (first order) and a
//! Hessian-vector product in a random direction (second order, through the recorded backward pass). The fast
//! sweep's gradient (its rules fused with their accumulations, ops/accumulate.rs) equals the recorded sweep's
//! bit for bit.

mod fd;
use fd::{close, richardson};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use stein_autodiff::prelude::*;
use stein_autodiff::with_tape;

fn tensors(shapes: &[(usize, usize)], vals: &[f64]) -> Vec<Tensor> {
    let mut k = 0;
    shapes
        .iter()
        .map(|&(r, c)| {
            let t = Tensor::new(r, c, vals[k..k + r * c].to_vec()).unwrap();
            k += r * c;
            t
        })
        .collect()
}

fn value<F>(f: &F, xs: &[Tensor]) -> f64
where
    F: for<'t> Fn(&[TVar<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let v: Vec<TVar> = xs.iter().map(|x| t.tensor_const(x)).collect();
        f(&v).value()
    })
}

fn gradient<F>(f: &F, xs: &[Tensor]) -> Vec<Tensor>
where
    F: for<'t> Fn(&[TVar<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let v: Vec<TVar> = xs.iter().map(|x| t.tensor(x)).collect();
        t.grad_tensors(f(&v), &v)
    })
}

/// The gradient by the recorded sweep (every rule a tape op, nothing fused), read as values.
fn gradient_recorded<F>(f: &F, xs: &[Tensor]) -> Vec<Tensor>
where
    F: for<'t> Fn(&[TVar<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let v: Vec<TVar> = xs.iter().map(|x| t.tensor(x)).collect();
        let g = t.grad_graph_tensors(f(&v), &v);
        g.iter().map(|g| g.value()).collect()
    })
}

/// H·dir through the recorded gradient: ∇ₓ Σₖ ⟨∇ₖ f, dirₖ⟩.
fn hvp<F>(f: &F, xs: &[Tensor], dir: &[Tensor]) -> Vec<Tensor>
where
    F: for<'t> Fn(&[TVar<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let v: Vec<TVar> = xs.iter().map(|x| t.tensor(x)).collect();
        let g = t.grad_graph_tensors(f(&v), &v);
        let s: Var = g
            .iter()
            .zip(dir)
            .map(|(gi, d)| gi.dot(t.tensor_const(d)))
            .sum();
        t.grad_tensors(s, &v)
    })
}

fn check<F>(
    f: F,
    shapes: &[(usize, usize)],
    vals: &[f64],
    dirs: &[f64],
) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&[TVar<'t>]) -> Var<'t>,
{
    let xs = tensors(shapes, vals);
    let dir = tensors(shapes, dirs);
    let g = gradient(&f, &xs);
    for (k, (a, b)) in g.iter().zip(gradient_recorded(&f, &xs)).enumerate() {
        let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(
            bits(a),
            bits(&b),
            "x{}: fast {:?} vs recorded {:?}",
            k,
            a.data(),
            b.data()
        );
    }
    for (k, x) in xs.iter().enumerate() {
        for e in 0..x.len() {
            let fd = richardson(
                |s| {
                    let mut p = xs.clone();
                    p[k].data_mut()[e] = s;
                    value(&f, &p)
                },
                x.data()[e],
            );
            close(&format!("d/dx{k}[{e}]"), g[k].data()[e], fd, 1e-6)?;
        }
    }
    let hv = hvp(&f, &xs, &dir);
    // d/ds ∇f(x + s·dir) at s = 0
    let along = |s: f64, k: usize, e: usize| {
        let p: Vec<Tensor> = xs
            .iter()
            .zip(&dir)
            .map(|(x, d)| {
                Tensor::new(
                    x.rows(),
                    x.cols(),
                    x.data()
                        .iter()
                        .zip(d.data())
                        .map(|(a, b)| a + s * b)
                        .collect(),
                )
                .unwrap()
            })
            .collect();
        gradient(&f, &p)[k].data()[e]
    };
    for (k, x) in xs.iter().enumerate() {
        for e in 0..x.len() {
            let fd = richardson(|s| along(s, k, e), 0.0);
            close(&format!("(H·v) for x{k}[{e}]"), hv[k].data()[e], fd, 1e-6)?;
        }
    }
    Ok(())
}

macro_rules! tcase {
    ($name:ident, [$(($r:expr, $c:expr)),+], $lo:literal..$hi:literal, |$x:ident| $body:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(12))]
            #[test]
            fn $name(vals in prop::collection::vec($lo..$hi, 64), dirs in prop::collection::vec(-1.0f64..1.0, 64)) {
                check(|$x: &[TVar]| $body, &[$(($r, $c)),+], &vals, &dirs)?;
            }
        }
    };
}

// A smooth nonlinear read-out, so linear ops get a non-trivial second derivative and a non-uniform cotangent.
fn out(t: TVar<'_>) -> Var<'_> {
    t.sin().sum()
}

// elementwise
tcase!(exp, [(2, 3)], -2.0..2.0, |x| out(x[0].exp()));
tcase!(ln, [(2, 3)], 0.3..3.0, |x| out(x[0].ln()));
tcase!(ln_1p, [(2, 3)], -0.5..3.0, |x| out(x[0].ln_1p()));
tcase!(sqrt, [(2, 3)], 0.3..3.0, |x| out(x[0].sqrt()));
tcase!(recip, [(2, 3)], 0.3..3.0, |x| out(x[0].recip()));
tcase!(sin, [(2, 3)], -3.0..3.0, |x| out(x[0].sin()));
tcase!(cos, [(2, 3)], -3.0..3.0, |x| out(x[0].cos()));
tcase!(tanh, [(2, 3)], -2.0..2.0, |x| out(x[0].tanh()));
tcase!(sigmoid, [(2, 3)], -4.0..4.0, |x| out(x[0].sigmoid()));
tcase!(softplus, [(2, 3)], -4.0..4.0, |x| out(x[0].softplus()));
tcase!(
    log_sigmoid,
    [(2, 3)],
    -4.0..4.0,
    |x| out(x[0].log_sigmoid())
);
tcase!(silu, [(2, 3)], -4.0..4.0, |x| out(x[0].silu()));
tcase!(elu_pos, [(2, 3)], 0.1..3.0, |x| out(x[0].elu() * x[0]));
tcase!(elu_neg, [(2, 3)], -3.0..-0.1, |x| out(x[0].elu()));
tcase!(relu_pos, [(2, 3)], 0.1..3.0, |x| out(x[0].relu() * x[0]));
tcase!(relu_neg, [(2, 3)], -3.0..-0.1, |x| out(x[0].relu() + x[0]));
tcase!(step_pos, [(2, 3)], 0.1..3.0, |x| out(
    x[0].step() * x[0].exp()
));
tcase!(step_neg, [(2, 3)], -3.0..-0.1, |x| out(x[0].step() + x[0]));
tcase!(abs, [(2, 3)], 0.1..3.0, |x| out(x[0].abs() * x[0]));
tcase!(erf, [(2, 3)], -2.0..2.0, |x| out(x[0].erf()));
tcase!(square, [(2, 3)], -2.0..2.0, |x| out(x[0].square()));
// a product of a node with itself takes its own backward rule (2 g ⊙ a)
tcase!(self_product, [(2, 3)], -2.0..2.0, |x| {
    let s = x[0].sin();
    out(s * s + x[0] * x[0] * 0.5)
});
tcase!(powi, [(2, 3)], -2.0..2.0, |x| out(x[0].powi(3) * 0.3));
tcase!(powf, [(2, 3)], 0.3..2.0, |x| out(x[0].powf(1.7)));
tcase!(neg, [(2, 3)], -2.0..2.0, |x| out(-x[0]));
tcase!(scalar_consts, [(2, 3)], 0.3..2.0, |x| out((x[0] * 0.7
    + 1.0)
    / 1.3
    - 0.2
    + (2.0 - x[0])
    + 1.5 / x[0]
    + 2.0 * x[0]));

// broadcasting binary ops
tcase!(add_same, [(3, 4), (3, 4)], -2.0..2.0, |x| out(x[0] + x[1]));
tcase!(add_row, [(3, 4), (1, 4)], -2.0..2.0, |x| out(x[0] + x[1]));
tcase!(sub_col, [(3, 4), (3, 1)], -2.0..2.0, |x| out(x[0] - x[1]));
tcase!(sub_scalar_left, [(1, 1), (3, 4)], -2.0..2.0, |x| out(
    x[0] - x[1]
));
tcase!(mul_outer, [(3, 1), (1, 4)], -2.0..2.0, |x| out(x[0] * x[1]));
tcase!(mul_same, [(3, 4), (3, 4)], -2.0..2.0, |x| out(x[0] * x[1]));
tcase!(div_row, [(3, 4), (1, 4)], 0.5..2.0, |x| out(x[0] / x[1]));
tcase!(div_col_left, [(3, 1), (3, 4)], 0.5..2.0, |x| out(
    x[0] / x[1]
));

// linear algebra and shapes
tcase!(matmul, [(3, 4), (4, 2)], -1.5..1.5, |x| out(
    x[0].matmul(x[1])
));
tcase!(matmul_tn, [(4, 3), (4, 2)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], true, false)
));
tcase!(matmul_nt, [(3, 4), (2, 4)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], false, true)
));
tcase!(matmul_tt, [(4, 3), (2, 4)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], true, true)
));
// matrix–vector shapes take the direct dot/axpy path (k = 11: eight-wide blocks and a remainder)
tcase!(matvec, [(4, 11), (11, 1)], -1.5..1.5, |x| out(
    x[0].matmul(x[1])
));
tcase!(matvec_six_rows, [(6, 7), (7, 1)], -1.5..1.5, |x| out(
    x[0].matmul(x[1])
));
tcase!(matvec_tn, [(11, 4), (11, 1)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], true, false)
));
tcase!(matvec_nt, [(4, 11), (1, 11)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], false, true)
));
tcase!(vecmat, [(1, 11), (11, 3)], -1.5..1.5, |x| out(
    x[0].matmul(x[1])
));
tcase!(vecmat_nt, [(1, 11), (3, 11)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], false, true)
));
tcase!(vecmat_tt, [(11, 1), (3, 11)], -1.5..1.5, |x| out(
    x[0].matmul_t(x[1], true, true)
));
tcase!(matmul_square_same, [(3, 3)], -1.5..1.5, |x| out(
    x[0].matmul(x[0])
));
tcase!(transpose, [(3, 4), (4, 3)], -2.0..2.0, |x| out(
    x[0].t() * x[1]
));
tcase!(reshape, [(3, 4), (2, 6)], -2.0..2.0, |x| out(x[0]
    .reshape(2, 6)
    * x[1]));
tcase!(sum_axis0, [(3, 4)], -2.0..2.0, |x| out(
    x[0].sum_axis(0) * x[0].sum_axis(0)
));
tcase!(sum_axis1, [(3, 4)], -2.0..2.0, |x| out(
    x[0].sum_axis(1) * 0.5
));
tcase!(mean_axis, [(3, 4)], -2.0..2.0, |x| out(
    x[0].mean_axis(0) + x[0].mean_axis(1)
));
tcase!(broadcast_to, [(1, 4), (3, 1)], -2.0..2.0, |x| out(x[0]
    .broadcast_to(3, 4)
    * x[1].broadcast_to(3, 4)));
tcase!(sum_to, [(3, 4)], -2.0..2.0, |x| out(
    x[0].sum_to(1, 1) * x[0]
));
tcase!(mean_scalar, [(3, 4)], -2.0..2.0, |x| x[0].mean()
    * x[0].sin().sum());
tcase!(slice_rows, [(4, 3)], -2.0..2.0, |x| out(x[0]
    .slice_rows(1, 2)
    * x[0].slice_rows(0, 2)));
tcase!(slice_cols, [(3, 5)], -2.0..2.0, |x| out(x[0]
    .slice_cols(2, 3)
    * x[0].slice_cols(0, 3)));
tcase!(concat_rows, [(2, 3), (1, 3)], -2.0..2.0, |x| out(
    TVar::concat(&[x[0], x[1], x[0]], 0) * 0.7
));
tcase!(concat_cols, [(3, 2), (3, 1)], -2.0..2.0, |x| out(
    TVar::concat(&[x[0], x[1]], 1).square()
));
tcase!(gather_cols, [(3, 4)], -2.0..2.0, |x| out(x[0]
    .gather_cols(&[3, 0, 3, 1])
    * x[0].slice_cols(0, 4)));

// scalar ↔ tensor bridges
tcase!(get, [(3, 4)], -2.0..2.0, |x| x[0].get(1, 2)
    * x[0].get(2, 3)
    + x[0].get(1, 2).sin());
tcase!(scale_by_var, [(3, 4)], -2.0..2.0, |x| out(
    x[0].scale(x[0].get(0, 1))
));
tcase!(broadcast_var, [(2, 2)], -2.0..2.0, |x| {
    let s = x[0].sum();
    out(s.broadcast(x[0].tape(), 2, 3) * 0.3)
});
tcase!(dot, [(3, 4), (3, 4)], -2.0..2.0, |x| x[0].dot(x[1]).sin());

// a small network: tanh MLP energy, read out with a nonlinearity
tcase!(mlp, [(5, 2), (2, 4), (1, 4), (4, 1)], -1.0..1.0, |x| {
    let h = (x[0].matmul(x[1]) + x[2]).softplus();
    out(h.matmul(x[3]))
});

/// The fused SiLU and softplus VJPs of an unrecorded sweep give the same bits as the recorded (composed) form,
/// on values of both signs and large magnitude.
#[test]
fn fused_activation_vjps_match_the_recorded_form_bit_for_bit() {
    let x = Tensor::from_fn(40, 7, |i, j| ((i * 7 + j) as f64 * 0.37).sin() * 30.0);
    let w = Tensor::from_fn(40, 7, |i, j| ((i + 3 * j) as f64 * 0.11).cos());
    for softplus in [false, true] {
        let tape = Tape::new();
        let xv = tape.tensor(&x);
        let a = if softplus { xv.softplus() } else { xv.silu() };
        let y = (a * tape.tensor_const(&w)).sum();
        let fused = tape.grad_tensors(y, &[xv]).remove(0);
        let recorded = tape.grad_graph_tensors(y, &[xv])[0].value();
        assert_eq!(fused.shape(), recorded.shape());
        for (u, v) in fused.data().iter().zip(recorded.data()) {
            assert_eq!(u.to_bits(), v.to_bits(), "softplus {softplus}: {u} vs {v}");
        }
    }
}

#[test]
fn step_is_one_above_zero_only() {
    let tape = Tape::new();
    let x = tape.tensor(&Tensor::row(&[-1.5, -0.0, 0.0, 1e-300, 2.0]));
    assert_eq!(x.step().value().data(), &[0.0, 0.0, 0.0, 1.0, 1.0]);
}
