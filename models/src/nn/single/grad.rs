//! An energy network's input gradient in f32, E(x) and ∇ₓE(x), and the parameter gradient of a loss of both:
//! reverse mode over reverse mode, by hand. A denoising or explicit loss on an energy network's score
//! s = −∇ₓE needs ∇ₓE and nothing of second order in x; in d dimensions Taylor mode ([`super::jet`]) would
//! carry d tangents through every layer (3d + 3 products a layer), this pass six (two forward, four back)
//! whatever d.
//!
//! With hidden layers zᵢ = hᵢ₋₁ Wᵢ + bᵢ, hᵢ = σ(zᵢ) (h₋₁ = x) and E = h W_L + b_L:
//!
//! * the gradient: δ = W_Lᵀ (every row), then aᵢ = δᵢ ⊙ σ′(zᵢ), δᵢ₋₁ = aᵢ Wᵢᵀ, and ∇ₓE = δ₋₁;
//! * back through it from δ̄₋₁: āᵢ = δ̄ᵢ₋₁ Wᵢ, W̄ᵢ += δ̄ᵢ₋₁ᵀ aᵢ, δ̄ᵢ = āᵢ ⊙ σ′, z̄ᵢ = āᵢ ⊙ δᵢ ⊙ σ″, and
//!   W̄_L += Σ_rows δ̄ᵀ; then the forward pass's own reverse from the z̄ᵢ (and Ē).
//!
//! Checked against the tape's f64 reverse-over-reverse for every activation (tests below).

use super::{product, resize, sgemm, sgemm_beta, Mlp32};
use crate::nn::vmath32::all_derivatives;

/// What [`Mlp32::input_gradient`] keeps for its backward pass, and the backward pass's buffers (reused from
/// call to call, one per thread).
#[derive(Debug, Default)]
pub struct GradWork {
    rows: usize,
    /// Per hidden layer: σ, σ′, σ″, σ‴ of its pre-activations (σ is the layer's output).
    d: Vec<[Vec<f32>; 4]>,
    /// Per hidden layer: δᵢ (∂E/∂hᵢ) and aᵢ = δᵢ ⊙ σ′(zᵢ).
    delta: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    /// Per hidden layer: z̄ᵢ, the loss's gradient in the pre-activations through both passes.
    zbar: Vec<Vec<f32>>,
    /// Scratch: pre-activations; the δ̄ flowing up and its next value; h̄.
    z: Vec<f32>,
    dbar: [Vec<f32>; 2],
    hbar: Vec<f32>,
}

impl Mlp32 {
    /// E at the rows of `x` (all `widths[0]` columns) into `value` (one per row) and ∇ₓE into `grad`
    /// (`rows × widths[0]`), keeping what [`Mlp32::input_gradient_backward`] needs.
    ///
    /// Panics if the network's output is not scalar or `x` is not whole rows (programmer errors).
    pub fn input_gradient(
        &self,
        x: &[f32],
        value: &mut Vec<f32>,
        grad: &mut Vec<f32>,
        work: &mut GradWork,
    ) {
        let w = &self.widths;
        let last = w.len() - 1;
        assert!(
            w[last] == 1 && x.len().is_multiple_of(w[0]),
            "Mlp32::input_gradient: {} inputs for widths {w:?} (a scalar output is needed)",
            x.len()
        );
        let rows = x.len() / w[0];
        work.rows = rows;
        work.d.resize_with(last, Default::default);
        for v in [&mut work.delta, &mut work.a, &mut work.zbar] {
            v.resize_with(last, Vec::new);
        }
        for l in 0..last {
            let (k, n) = (w[l], w[l + 1]);
            let t = &self.transposed[l];
            let b = (&self.weights[l][..], n, 1);
            let bt = (!t.is_empty()).then_some((&t[..], k));
            let input: &[f32] = if l == 0 { x } else { &work.d[l - 1][0] };
            let z = if l + 1 == last {
                &mut *value
            } else {
                &mut work.z
            };
            resize(z, rows * n);
            product((rows, k, n), input, b, bt, z);
            for r in z.chunks_exact_mut(n) {
                r.iter_mut().zip(&self.biases[l]).for_each(|(o, b)| *o += b);
            }
            if l + 1 < last {
                let d = &mut work.d[l];
                for v in d.iter_mut() {
                    resize(v, rows * n);
                }
                let [s0, s1, s2, s3] = d;
                all_derivatives(self.activation, &work.z, [s0, s1, s2, s3]);
            }
        }
        // δ = W_Lᵀ on every row, then down through the hidden layers
        let top = &self.weights[last - 1];
        let mut delta: Vec<f32> = Vec::with_capacity(rows * w[last - 1]);
        (0..rows).for_each(|_| delta.extend_from_slice(top));
        for i in (0..last - 1).rev() {
            let (k, n) = (w[i], w[i + 1]);
            let a = &mut work.a[i];
            resize(a, rows * n);
            a.iter_mut()
                .zip(&delta)
                .zip(&work.d[i][1])
                .for_each(|((a, d), s)| *a = d * s);
            work.delta[i] = std::mem::take(&mut delta);
            resize(&mut delta, rows * k);
            let (t, wl) = (&self.transposed[i], &self.weights[i][..]);
            let b = if t.is_empty() {
                (wl, 1, n)
            } else {
                (&t[..], k, 1)
            };
            product((rows, n, k), &work.a[i], b, Some((wl, n)), &mut delta);
        }
        *grad = delta;
    }

    /// The gradient in the parameters of a loss whose gradients in the last [`Mlp32::input_gradient`]'s E and
    /// ∇ₓE (on the same `x`) are `value_adjoint` (one per row) and `grad_adjoint` (`rows × widths[0]`): one
    /// vector per parameter, in the order of [`crate::nn::Mlp::params`], overwritten.
    ///
    /// Panics if the shapes differ from that pass's (a programmer error).
    pub fn input_gradient_backward(
        &self,
        x: &[f32],
        value_adjoint: &[f32],
        grad_adjoint: &[f32],
        work: &mut GradWork,
        grads: &mut Vec<Vec<f32>>,
    ) {
        let w = &self.widths;
        let (last, rows) = (w.len() - 1, work.rows);
        assert!(
            x.len() == rows * w[0]
                && value_adjoint.len() == rows
                && grad_adjoint.len() == rows * w[0],
            "Mlp32::input_gradient_backward: shapes differ from the pass's ({rows} rows of {})",
            w[0]
        );
        grads.resize_with(2 * last, Vec::new);
        let [mut dbar, mut next] = std::mem::take(&mut work.dbar);
        dbar.clear();
        dbar.extend_from_slice(grad_adjoint);
        // up through the gradient pass: āᵢ = δ̄ᵢ₋₁ Wᵢ, W̄ᵢ = δ̄ᵢ₋₁ᵀ aᵢ, δ̄ᵢ = āᵢ σ′, z̄ᵢ = āᵢ δᵢ σ″
        for i in 0..last - 1 {
            let (k, n) = (w[i], w[i + 1]);
            let t = &self.transposed[i];
            let b = (&self.weights[i][..], n, 1);
            let bt = (!t.is_empty()).then_some((&t[..], k));
            resize(&mut next, rows * n);
            product((rows, k, n), &dbar, b, bt, &mut next);
            let gw = &mut grads[2 * i];
            resize(gw, k * n);
            sgemm(k, rows, n, (&dbar, 1, k), (&work.a[i], n, 1), gw);
            let zbar = &mut work.zbar[i];
            resize(zbar, rows * n);
            let [_, d1, d2, _] = &work.d[i];
            for ((((abar, zb), &delta), &s1), &s2) in next
                .iter_mut()
                .zip(zbar.iter_mut())
                .zip(&work.delta[i])
                .zip(d1)
                .zip(d2)
            {
                *zb = *abar * delta * s2;
                *abar *= s1;
            }
            std::mem::swap(&mut dbar, &mut next);
        }
        // the top layer: δ = W_Lᵀ, E = h W_L + b_L
        let k = w[last - 1];
        let h_top: &[f32] = if last == 1 { x } else { &work.d[last - 2][0] };
        let gw = &mut grads[2 * (last - 1)];
        gw.clear();
        gw.resize(k, 0.0);
        for (r, (row, &e)) in dbar.chunks_exact(k).zip(value_adjoint).enumerate() {
            let h = &h_top[r * k..(r + 1) * k];
            gw.iter_mut()
                .zip(row)
                .zip(h)
                .for_each(|((g, &d), &h)| *g += d + e * h);
        }
        grads[2 * last - 1] = vec![value_adjoint.iter().sum()];
        // the forward pass's reverse: z̄ of the top hidden layer gathers Ē W_Lᵀ σ′
        let mut hbar = std::mem::take(&mut work.hbar);
        if last >= 2 {
            let i = last - 2;
            let top = &self.weights[last - 1];
            let [_, d1, _, _] = &work.d[i];
            for (r, &e) in value_adjoint.iter().enumerate() {
                let zb = &mut work.zbar[i][r * k..(r + 1) * k];
                zb.iter_mut()
                    .zip(top)
                    .zip(&d1[r * k..(r + 1) * k])
                    .for_each(|((z, &wv), &s)| *z += e * wv * s);
            }
        }
        for i in (0..last - 1).rev() {
            let (k, n) = (w[i], w[i + 1]);
            let input: &[f32] = if i == 0 { x } else { &work.d[i - 1][0] };
            let zbar = &work.zbar[i];
            sgemm_beta(
                k,
                rows,
                n,
                (input, 1, k),
                (zbar, n, 1),
                &mut grads[2 * i],
                1.0,
            );
            let db = &mut grads[2 * i + 1];
            db.clear();
            db.resize(n, 0.0);
            for r in zbar.chunks_exact(n) {
                db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
            }
            if i > 0 {
                let (t, wl) = (&self.transposed[i], &self.weights[i][..]);
                let b = if t.is_empty() {
                    (wl, 1, n)
                } else {
                    (&t[..], k, 1)
                };
                resize(&mut hbar, rows * k);
                product((rows, n, k), zbar, b, Some((wl, n)), &mut hbar);
                let [_, d1, _, _] = &work.d[i - 1];
                work.zbar[i - 1]
                    .iter_mut()
                    .zip(&hbar)
                    .zip(d1)
                    .for_each(|((z, h), s)| *z += h * s);
            }
        }
        work.hbar = hbar;
        work.dbar = [dbar, next];
    }
}
