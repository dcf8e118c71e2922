//! The f32 passes against the tape's f64 derivatives.

use super::grad::GradWork;
use super::jet::{JetWork, Streams};
use super::*;
use crate::nn::jet::Direction;
use rand::SeedableRng;
use stein_autodiff::{with_tape, Tensor};

/// f32 values equal to f64 ones within `tol` of the largest magnitude (at least 1); `what` names them.
fn near(a: &[f32], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (u, v) in a.iter().zip(b) {
        assert!((*u as f64 - v).abs() < tol * scale, "{what}: {u} vs {v}");
    }
}

/// Forward and backward in f32 agree with the tape's f64 values and gradients to f32 accuracy, for
/// every activation, with the inputs folded into the bias too.
#[test]
fn passes_match_the_tape() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    // wide layers (GEMMs), a narrow output (dot products forward, row updates backward), and a narrow
    // hidden layer (row updates forward, dot products backward)
    let shapes = Activation::ALL
        .iter()
        .map(|&a| (a, [5, 24, 16, 3]))
        .chain([(Activation::Silu, [5, 3, 16, 3])]);
    for (act, widths) in shapes {
        let net = Mlp::new(&widths, act, &mut rng);
        let rows = 37;
        let x = Tensor::from_fn(rows, 5, |i, j| ((i * 5 + j) as f64 * 0.7).sin() * 2.0);
        let c = Tensor::from_fn(rows, 3, |i, j| ((i + 3 * j) as f64).cos());
        // loss Σ c ⊙ net(x): ∂loss/∂out = c
        let (want, grads) = with_tape(|tape| {
            let p = net.lift(tape);
            let out = net.forward(&p, tape.tensor_const(&x));
            let loss = (out * tape.tensor_const(&c)).sum();
            (out.value(), tape.grad_tensors(loss, &p))
        });
        // made from another network and refreshed: every copy of the parameters follows
        let mut fast = Mlp32::new(&Mlp::new(&widths, act, &mut rng));
        fast.refresh(&net);
        let x32: Vec<f32> = x.data().iter().map(|&v| v as f32).collect();
        let c32: Vec<f32> = c.data().iter().map(|&v| v as f32).collect();
        let (mut out, mut work, mut g) = (vec![0.0; rows * 3], Work::default(), Vec::new());
        fast.forward(&x32, 5, None, &mut out, &mut work);
        fast.backward(&x32, &c32, &mut work, &mut g);
        let close = |a: &[f32], b: &[f64], what: &str| near(a, b, 2e-5, &format!("{act:?} {what}"));
        close(&out, want.data(), "output");
        let mut again = vec![0.0; rows * 3];
        fast.predict(&x32, 5, None, &mut again, &mut Work::default());
        assert_eq!(again, out, "{act:?}: predict and forward differ");
        for (l, (mine, theirs)) in g.iter().zip(&grads).enumerate() {
            close(mine, theirs.data(), &format!("gradient {l}"));
        }
        // the last two inputs folded into the first bias
        let (w0, b0) = fast.first_layer();
        let h = widths[1];
        let bias: Vec<f32> = (0..h)
            .map(|o| b0[o] + (3..5).map(|i| x32[i] * w0[i * h + o]).sum::<f32>())
            .collect();
        let mut first = vec![0.0; 3];
        fast.forward(&x32[..3], 3, Some(&bias), &mut first, &mut work);
        close(&first, &want.data()[..3], "folded");
    }
}

/// Tangents in f32 agree with the tape's f64 derivatives: cᵀ J u from `jvp` equals (Jᵀ c) · u from the
/// tape's reverse mode, for every activation, along two directions per row, with the inputs past the
/// third folded into the first bias (held still), and the values equal `forward`'s bit for bit.
#[test]
fn tangents_match_the_tape() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
    for act in Activation::ALL {
        for widths in [[5, 24, 16, 3], [5, 3, 16, 2]] {
            let net = Mlp::new(&widths, act, &mut rng);
            let (rows, out_w, cols, m) = (29, widths[3], 3, 2);
            let x = Tensor::from_fn(rows, 5, |i, j| ((i * 5 + j) as f64 * 0.7).sin() * 2.0);
            let c = Tensor::from_fn(rows, out_w, |i, j| ((i + 3 * j) as f64).cos());
            let u: Vec<f64> = (0..m * rows * cols)
                .map(|i| (i as f64 * 1.3).sin())
                .collect();
            let g = with_tape(|tape| {
                let p = net.lift(tape);
                let xv = tape.tensor(&x);
                let out = net.forward(&p, xv);
                tape.grad_tensors((out * tape.tensor_const(&c)).sum(), &[xv])
                    .remove(0)
            });
            let fast = Mlp32::new(&net);
            let x32: Vec<f32> = x.data().iter().map(|&v| v as f32).collect();
            let (w0, b0) = fast.first_layer();
            let h = widths[1];
            let (mut out, mut tangents) = (vec![0.0; rows * out_w], vec![0.0; m * rows * out_w]);
            let mut work = Work::default();
            let u32s: Vec<f32> = u.iter().map(|&v| v as f32).collect();
            for r in 0..rows {
                // one row at a time: the folded bias is the row's own
                let xr = &x32[r * 5..r * 5 + 5];
                let bias: Vec<f32> = (0..h)
                    .map(|o| b0[o] + (cols..5).map(|i| xr[i] * w0[i * h + o]).sum::<f32>())
                    .collect();
                let dirs: Vec<f32> = (0..m)
                    .flat_map(|j| u32s[(j * rows + r) * cols..(j * rows + r + 1) * cols].to_vec())
                    .collect();
                let (mut o, mut t) = (vec![0.0; out_w], vec![0.0; m * out_w]);
                fast.jvp(
                    &xr[..cols],
                    cols,
                    Some(&bias),
                    &dirs,
                    &mut o,
                    &mut t,
                    &mut work,
                );
                let mut plain = vec![0.0; out_w];
                fast.forward(
                    &xr[..cols],
                    cols,
                    Some(&bias),
                    &mut plain,
                    &mut Work::default(),
                );
                assert_eq!(o, plain, "{act:?}: jvp's values differ from forward's");
                out[r * out_w..(r + 1) * out_w].copy_from_slice(&o);
                for j in 0..m {
                    tangents[(j * rows + r) * out_w..(j * rows + r + 1) * out_w]
                        .copy_from_slice(&t[j * out_w..(j + 1) * out_w]);
                }
            }
            for r in 0..rows {
                for j in 0..m {
                    let want: f64 = (0..cols)
                        .map(|k| g.get(r, k) * u[(j * rows + r) * cols + k])
                        .sum();
                    let got: f64 = (0..out_w)
                        .map(|q| c.get(r, q) * tangents[(j * rows + r) * out_w + q] as f64)
                        .sum();
                    let scale = 1.0 + want.abs();
                    assert!(
                        (got - want).abs() < 1e-4 * scale,
                        "{act:?} {widths:?} row {r} direction {j}: {got} vs {want}"
                    );
                }
            }
            // all rows at once along every input (no folding): one direction, the same products
            let v: Vec<f32> = (0..rows * 5).map(|i| (i as f32 * 0.9).cos()).collect();
            let mut t = vec![0.0; rows * out_w];
            fast.jvp(&x32, 5, None, &v, &mut out, &mut t, &mut work);
            for r in 0..rows {
                let want: f64 = (0..5).map(|k| g.get(r, k) * v[r * 5 + k] as f64).sum();
                let got: f64 = (0..out_w)
                    .map(|q| c.get(r, q) * t[r * out_w + q] as f64)
                    .sum();
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{act:?} {widths:?} row {r}, all rows: {got} vs {want}"
                );
            }
        }
    }
}

/// The streams and the parameter gradient of Σ c·value + Σ cⱼ·tangentⱼ + Σ c₂·second equal the tape's
/// f64 jet's to f32 accuracy: every activation, axis and per-row directions, the second stream over a
/// subset, wide (GEMM) and narrow (row-update, dot-product) layers, and the directions over the first
/// columns only (a noise level's column held still).
#[test]
fn streams_and_gradients_match_the_tape() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let cases = Activation::ALL
        .iter()
        .map(|&a| (a, vec![3, 24, 16, 1]))
        .chain([
            (Activation::Silu, vec![3, 3, 16, 2]),
            (Activation::Softplus, vec![3, 20, 1]),
            (Activation::Tanh, vec![3, 2]),
        ]);
    for (act, widths) in cases {
        let net = Mlp::new(&widths, act, &mut rng);
        let (rows, cols, out_w) = (23, 2, *widths.last().unwrap());
        let x = Tensor::from_fn(rows, 3, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 1.5);
        let u = Tensor::from_fn(rows, cols, |i, j| ((i * 7 + j) as f64 * 1.1).cos());
        // directions: the axes e₀, e₁ and the per-row u; second derivatives along e₁ and u
        let m = 3;
        let second = [1usize, 2];
        let c =
            |seed: usize| Tensor::from_fn(rows, out_w, |i, j| ((i + 5 * j + seed) as f64).sin());
        let (cv, ct, c2) = (c(0), [c(1), c(2), c(3)], c(4));
        let (want, grads) = with_tape(|tape| {
            let p = net.lift(tape);
            let xv = tape.tensor_const(&x);
            let dirs = [
                Direction::Axis(0),
                Direction::Axis(1),
                Direction::Rows(tape.tensor_const(&u)),
            ];
            let jet = net.jet(&p, xv, &dirs, &second);
            let mut loss = (jet.value * tape.tensor_const(&cv)).sum()
                + (jet.second.unwrap() * tape.tensor_const(&c2)).sum();
            for (t, c) in jet.tangents.iter().zip(&ct) {
                loss += (*t * tape.tensor_const(c)).sum();
            }
            let streams = (
                jet.value.value(),
                jet.tangents.iter().map(|t| t.value()).collect::<Vec<_>>(),
                jet.second.unwrap().value(),
            );
            (streams, tape.grad_tensors(loss, &p))
        });
        let f32s = |t: &Tensor| t.data().iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let mut dirs = vec![0.0f32; m * rows * cols];
        for r in 0..rows {
            dirs[r * cols] = 1.0;
            dirs[(rows + r) * cols + 1] = 1.0;
            for k in 0..cols {
                dirs[(2 * rows + r) * cols + k] = u.get(r, k) as f32;
            }
        }
        let fast = Mlp32::new(&net);
        let x32 = f32s(&x);
        let (mut s, mut work) = (Streams::default(), JetWork::default());
        fast.jet(&x32, &dirs, cols, &second, &mut s, &mut work);
        let close = |a: &[f32], b: &[f64], what: &str| {
            near(a, b, 3e-5, &format!("{act:?} {widths:?} {what}"))
        };
        close(&s.value, want.0.data(), "value");
        let tangents: Vec<f64> = want.1.iter().flat_map(|t| t.data().to_vec()).collect();
        close(&s.tangents, &tangents, "tangents");
        close(&s.second, want.2.data(), "second");
        let adjoint = Streams {
            value: f32s(&cv),
            tangents: ct.iter().flat_map(f32s).collect(),
            second: f32s(&c2),
        };
        let mut g = Vec::new();
        fast.jet_backward(&x32, &dirs, &adjoint, &mut work, &mut g);
        assert_eq!(g.len(), grads.len());
        for (l, (mine, theirs)) in g.iter().zip(&grads).enumerate() {
            close(mine, theirs.data(), &format!("gradient {l}"));
        }
        // no directions, no second stream: the plain forward and backward
        fast.jet(&x32, &[], cols, &[], &mut s, &mut work);
        assert!(s.tangents.is_empty() && s.second.is_empty());
        let only = Streams {
            value: f32s(&cv),
            ..Streams::default()
        };
        fast.jet_backward(&x32, &[], &only, &mut work, &mut g);
        let plain = with_tape(|tape| {
            let p = net.lift(tape);
            let out = net.forward(&p, tape.tensor_const(&x));
            tape.grad_tensors((out * tape.tensor_const(&cv)).sum(), &p)
        });
        for (l, (mine, theirs)) in g.iter().zip(&plain).enumerate() {
            close(mine, theirs.data(), &format!("value-only gradient {l}"));
        }
    }
}

/// E, ∇ₓE and the parameter gradient of Σ c E + Σ C ⊙ ∇ₓE equal the tape's f64 reverse over reverse to
/// f32 accuracy: every activation, two hidden layers (wide and narrow), one, and none.
#[test]
fn values_gradients_and_parameter_gradients_match_the_tape() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(6);
    let cases = Activation::ALL
        .iter()
        .map(|&a| (a, vec![3, 24, 16, 1]))
        .chain([
            (Activation::Silu, vec![3, 3, 16, 1]),
            (Activation::Softplus, vec![3, 20, 1]),
            (Activation::Tanh, vec![3, 1]),
        ]);
    for (act, widths) in cases {
        let net = Mlp::new(&widths, act, &mut rng);
        let rows = 21;
        let x = Tensor::from_fn(rows, 3, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 1.5);
        let c = Tensor::from_fn(rows, 1, |i, _| (i as f64 * 0.3).cos());
        let cg = Tensor::from_fn(rows, 3, |i, j| ((i * 5 + j) as f64).sin());
        let ((e, g), grads) = with_tape(|tape| {
            let p = net.lift(tape);
            let xv = tape.tensor(&x);
            let e = net.forward(&p, xv);
            let g = tape.grad_graph_tensors(e.sum(), &[xv])[0];
            let loss = (e * tape.tensor_const(&c)).sum() + (g * tape.tensor_const(&cg)).sum();
            ((e.value(), g.value()), tape.grad_tensors(loss, &p))
        });
        let f32s = |t: &Tensor| t.data().iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let fast = Mlp32::new(&net);
        let x32 = f32s(&x);
        let (mut value, mut grad, mut work) = (Vec::new(), Vec::new(), GradWork::default());
        fast.input_gradient(&x32, &mut value, &mut grad, &mut work);
        let close = |a: &[f32], b: &[f64], what: &str| {
            near(a, b, 3e-5, &format!("{act:?} {widths:?} {what}"))
        };
        close(&value, e.data(), "E");
        close(&grad, g.data(), "∇E");
        let mut got = Vec::new();
        fast.input_gradient_backward(&x32, &f32s(&c), &f32s(&cg), &mut work, &mut got);
        assert_eq!(got.len(), grads.len());
        for (l, (mine, theirs)) in got.iter().zip(&grads).enumerate() {
            close(mine, theirs.data(), &format!("parameter {l}"));
        }
    }
}
