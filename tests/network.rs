//! Derivatives through a network: the gradient w.r.t. the weights of quantities built from the network's
//! input-gradient (second order) and from its input-Hessian trace (third order), against finite differences.
//! These are what implicit, sliced and energy-based denoising score matching need.

use stein::autodiff::prelude::*;
use stein::autodiff::with_tape;

/// Energy net E(x) = softplus(softplus(x W1 + b1) W2) w3, summed over the batch. Returns E's tape node.
fn energy<'t>(x: TVar<'t>, p: &[TVar<'t>]) -> Var<'t> {
    let h = (x.matmul(p[0]) + p[1]).softplus();
    let h = h.matmul(p[2]).silu();
    h.matmul(p[3]).sum()
}

fn params(width: usize) -> Vec<Tensor> {
    let w = |r: usize, c: usize, s: f64| {
        Tensor::from_fn(r, c, |i, j| ((i * 31 + j * 17) as f64 * s).sin() * 0.4)
    };
    vec![
        w(2, width, 0.7),
        w(1, width, 1.3),
        w(width, width, 0.37),
        w(width, 1, 0.91),
    ]
}

fn batch(n: usize) -> Tensor {
    Tensor::from_fn(n, 2, |i, j| ((i * 2 + j) as f64 * 0.61).cos() * 1.5)
}

/// L₂ = ½ mean ‖∇ₓE‖² (second order in the weights' gradient).
fn score_norm<'t>(t: &'t Tape, x: TVar<'t>, p: &[TVar<'t>]) -> Var<'t> {
    let s = t.grad_graph_tensors(energy(x, p), &[x])[0];
    s.square().mean() * 0.5
}

/// L₃ = Σ over the batch of tr ∇ₓ² E (exact, d = 2): third order in the weights' gradient.
fn hessian_trace<'t>(t: &'t Tape, x: TVar<'t>, p: &[TVar<'t>]) -> Var<'t> {
    let s = t.grad_graph_tensors(energy(x, p), &[x])[0];
    let mut tr = Var::constant(0.0);
    for i in 0..2 {
        let col = s.slice_cols(i, 1).sum();
        let d = t.grad_graph_tensors(col, &[x])[0];
        tr += d.slice_cols(i, 1).sum();
    }
    tr
}

fn check(loss: for<'t> fn(&'t Tape, TVar<'t>, &[TVar<'t>]) -> Var<'t>, width: usize, n: usize) {
    let (ps, xb) = (params(width), batch(n));
    let value = |ps: &[Tensor]| {
        with_tape(|t| {
            let x = t.tensor(&xb);
            let p: Vec<TVar> = ps.iter().map(|w| t.tensor(w)).collect();
            loss(t, x, &p).value()
        })
    };
    let grads = with_tape(|t| {
        let x = t.tensor(&xb);
        let p: Vec<TVar> = ps.iter().map(|w| t.tensor(w)).collect();
        t.grad_tensors(loss(t, x, &p), &p)
    });
    let mut checked = 0;
    for (k, w) in ps.iter().enumerate() {
        // every entry of the small tensors, a spread of entries of the big one
        let step = (w.len() / 40).max(1);
        for e in (0..w.len()).step_by(step) {
            let f = |s: f64| {
                let mut q = ps.clone();
                q[k].data_mut()[e] = s;
                value(&q)
            };
            let x0 = w.data()[e];
            let h = 1e-3;
            let d = |h: f64| (f(x0 + h) - f(x0 - h)) / (2.0 * h);
            let fd = (4.0 * d(h / 2.0) - d(h)) / 3.0;
            let ad = grads[k].data()[e];
            assert!(
                (ad - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "param {k}[{e}]: tape {ad} vs fd {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked > 40);
}

#[test]
fn weight_gradient_of_input_gradient_matches_finite_differences() {
    check(score_norm, 8, 5);
}

#[test]
fn weight_gradient_of_input_hessian_trace_matches_finite_differences() {
    check(hessian_trace, 8, 5);
}

#[test]
fn large_layers_through_the_gemm_kernel() {
    // 40 × 48 · 48 × 48 products go through matrixmultiply rather than the small-product loop
    check(score_norm, 48, 40);
    check(hessian_trace, 48, 40);
}
