//! Taylor mode in f32: the network's value, its tangents along m directions and the sum of its second
//! derivatives along some of them, carried forward layer by layer — the streams of [`crate::nn::jet`] without
//! the tape — and the backward pass that gives a loss's gradient in the parameters from its gradients in the
//! streams. Score-matching losses that need ∇ₓ and second derivatives of an energy network (implicit, sliced,
//! denoising on −∇E) then train in f32 as the diffusion models do: the streams here, the loss's own small
//! head on the tape ([`crate::objective`]).
//!
//! For a layer `a = h W + b` followed by `y = σ(a)`, with tangents ȧⱼ and the second stream ä:
//!
//! * forward: ẏⱼ = σ′ ⊙ ȧⱼ, ÿ = σ″ ⊙ Q + σ′ ⊙ ä with Q = Σⱼ∈S ȧⱼ²; then ȧ = ẏ W, ä = ÿ W (no bias);
//! * backward, from the adjoints ȳ, ẏ̄ⱼ, ÿ̄: ǟ = σ′ ⊙ ÿ̄, ǡⱼ = σ′ ⊙ ẏ̄ⱼ + [j ∈ S] 2 σ″ ⊙ ÿ̄ ⊙ ȧⱼ, and
//!   ā = σ′ ⊙ ȳ + σ″ ⊙ (Σⱼ ẏ̄ⱼ ⊙ ȧⱼ + ÿ̄ ⊙ ä) + σ‴ ⊙ ÿ̄ ⊙ Q; W̄ = hᵀā + Σⱼ ẏⱼᵀǡⱼ + ÿᵀǟ.
//!
//! All m tangents go through each layer as one stacked matrix (one GEMM). Checked against the tape's
//! [`Mlp::jet`](crate::nn::Mlp::jet) and its parameter gradients for every activation (tests below).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::nn::single::{jet::{JetWork, Streams}, Mlp32};
//! use stein_models::nn::{Activation, Mlp};
//!
//! let net = Mlp::new(&[2, 16, 1], Activation::Softplus, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! let fast = Mlp32::new(&net);
//! let x = [0.5f32, -1.0]; // one row
//! let axes = [1.0f32, 0.0, 0.0, 1.0]; // e₀ then e₁, one block of one row each
//! let (mut s, mut work) = (Streams::default(), JetWork::default());
//! fast.jet(&x, &axes, 2, &[0, 1], &mut s, &mut work);
//! // ∂E/∂x₀, ∂E/∂x₁ and the Laplacian ΔE
//! assert_eq!((s.tangents.len(), s.second.len()), (2, 1));
//! // the gradient of the Laplacian in the parameters: its adjoint is 1, the other streams' 0
//! let adjoint = Streams { value: vec![0.0], tangents: vec![0.0; 2], second: vec![1.0] };
//! let mut grads = Vec::new();
//! fast.jet_backward(&x, &axes, &adjoint, &mut work, &mut grads);
//! assert_eq!(grads.len(), 4);
//! ```

use super::{product, resize, sgemm, sgemm_beta, Mlp32};
use crate::nn::vmath32::all_derivatives;

/// The streams of a Taylor-mode pass, or their adjoints (the same layout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Streams {
    /// f(x): rows × out.
    pub value: Vec<f32>,
    /// J(x) uⱼ: m blocks of rows × out (direction j of row r at `(j·rows + r)·out`).
    pub tangents: Vec<f32>,
    /// Σⱼ∈S uⱼᵀ ∇²f(x) uⱼ: rows × out (empty when no direction was chosen).
    pub second: Vec<f32>,
}

/// What a Taylor-mode pass keeps for its backward pass, and the backward pass's buffers (reused from call to
/// call, one per thread).
#[derive(Debug, Default)]
pub struct JetWork {
    rows: usize,
    m: usize,
    cols: usize,
    /// Whether each direction enters the second stream (empty: no second stream).
    chosen: Vec<bool>,
    /// Per hidden layer: σ, σ′, σ″, σ‴ of its pre-activations (σ is the layer's output).
    d: Vec<[Vec<f32>; 4]>,
    /// Per hidden layer: the tangents of its pre-activations and of its outputs (m·rows × width).
    da: Vec<Vec<f32>>,
    dh: Vec<Vec<f32>>,
    /// Per hidden layer: the second stream before and after the activation (rows × width).
    dda: Vec<Vec<f32>>,
    ddh: Vec<Vec<f32>>,
    /// Scratch: a layer's pre-activations; the adjoints flowing back (value, tangents, second) and their next
    /// values; ∂/∂σ′ and ∂/∂σ″.
    z: Vec<f32>,
    g: [Vec<f32>; 2],
    gt: [Vec<f32>; 2],
    gs: [Vec<f32>; 2],
    gd: [Vec<f32>; 2],
}

impl Mlp32 {
    /// The Taylor-mode streams of the network at the rows of `x` (all `widths[0]` columns) along m
    /// directions: `dirs` holds m blocks of `rows × cols` values (direction j of row r at
    /// `(j·rows + r)·cols`; the inputs past `cols` held still), `second` the indices of the directions whose
    /// second derivatives are summed (none: no second stream). Keeps what [`Mlp32::jet_backward`] needs.
    ///
    /// Panics if `x` is not whole rows, `cols` is 0 or past the input width with directions given, `dirs`
    /// is not whole blocks, or an index in `second` is past m (programmer errors).
    pub fn jet(
        &self,
        x: &[f32],
        dirs: &[f32],
        cols: usize,
        second: &[usize],
        out: &mut Streams,
        work: &mut JetWork,
    ) {
        let w = &self.widths;
        let (w0, last) = (w[0], w.len() - 1);
        assert!(
            x.len().is_multiple_of(w0) && cols >= 1 && cols <= w0,
            "Mlp32::jet: {} inputs for input width {w0}, directions over {cols} columns",
            x.len()
        );
        let rows = x.len() / w0;
        let m = if rows == 0 {
            0
        } else {
            dirs.len() / (rows * cols)
        };
        assert!(
            dirs.len() == m * rows * cols && second.iter().all(|&j| j < m),
            "Mlp32::jet: {} direction values for {rows} rows of {cols}, second derivatives along {second:?}",
            dirs.len()
        );
        let want2 = !second.is_empty();
        work.rows = rows;
        work.m = m;
        work.cols = cols;
        work.chosen = if want2 {
            (0..m).map(|j| second.contains(&j)).collect()
        } else {
            Vec::new()
        };
        work.d.resize_with(last - 1, Default::default);
        for v in [&mut work.da, &mut work.dh, &mut work.dda, &mut work.ddh] {
            v.resize_with(last - 1, Vec::new);
        }
        for l in 0..last {
            let (k, n) = (w[l], w[l + 1]);
            let t = &self.transposed[l];
            let b = (&self.weights[l][..], n, 1);
            let bt = (!t.is_empty()).then_some((&t[..], k));
            let top = l + 1 == last;
            // the value: a = h W + b
            let z = if top { &mut out.value } else { &mut work.z };
            resize(z, rows * n);
            let h_in: &[f32] = if l == 0 { x } else { &work.d[l - 1][0] };
            product((rows, k, n), h_in, b, bt, z);
            for r in z.chunks_exact_mut(n) {
                r.iter_mut().zip(&self.biases[l]).for_each(|(o, b)| *o += b);
            }
            // the tangents: ȧ = ḣ W (on the first layer, the directions times W's first `cols` rows)
            let mut da = std::mem::take(if top {
                &mut out.tangents
            } else {
                &mut work.da[l]
            });
            resize(&mut da, m * rows * n);
            if m > 0 {
                let (kk, input): (usize, &[f32]) = if l == 0 {
                    (cols, dirs)
                } else {
                    (k, &work.dh[l - 1])
                };
                product((m * rows, kk, n), input, b, bt, &mut da);
            }
            // the second stream: ä = ḧ W (none on the first layer)
            let mut dda = std::mem::take(if top {
                &mut out.second
            } else {
                &mut work.dda[l]
            });
            if want2 {
                resize(&mut dda, rows * n);
                if l == 0 {
                    dda.fill(0.0);
                } else {
                    product((rows, k, n), &work.ddh[l - 1], b, bt, &mut dda);
                }
            } else {
                dda.clear();
            }
            if top {
                out.tangents = da;
                out.second = dda;
                break;
            }
            // through the activation
            let d = &mut work.d[l];
            for v in d.iter_mut() {
                resize(v, rows * n);
            }
            let [s0, s1, s2, s3] = d;
            all_derivatives(self.activation, &work.z, [s0, s1, s2, s3]);
            let (d1, d2) = (&work.d[l][1], &work.d[l][2]);
            let dh = &mut work.dh[l];
            resize(dh, m * rows * n);
            for (o, t) in dh.chunks_exact_mut(rows * n).zip(da.chunks_exact(rows * n)) {
                o.iter_mut()
                    .zip(t)
                    .zip(d1)
                    .for_each(|((o, t), s)| *o = s * t);
            }
            let ddh = &mut work.ddh[l];
            if want2 {
                // ÿ = σ″ Q + σ′ ä
                resize(ddh, rows * n);
                ddh.iter_mut()
                    .zip(&dda)
                    .zip(d1)
                    .for_each(|((o, a), s)| *o = s * a);
                for (j, t) in da.chunks_exact(rows * n).enumerate() {
                    if work.chosen[j] {
                        ddh.iter_mut()
                            .zip(t)
                            .zip(d2)
                            .for_each(|((o, t), s)| *o += s * t * t);
                    }
                }
            }
            work.da[l] = da;
            work.dda[l] = dda;
        }
    }

    /// The gradient in the parameters of a loss whose gradients in the streams of the last [`Mlp32::jet`]
    /// (on the same `x` and `dirs`) are `adjoint` — the value's, every tangent's, and the second stream's
    /// when there is one: one vector per parameter, in the order of [`crate::nn::Mlp::params`], overwritten.
    ///
    /// Panics if the shapes differ from that pass's (a programmer error).
    pub fn jet_backward(
        &self,
        x: &[f32],
        dirs: &[f32],
        adjoint: &Streams,
        work: &mut JetWork,
        grads: &mut Vec<Vec<f32>>,
    ) {
        let w = &self.widths;
        let last = w.len() - 1;
        let (rows, m, cols, want2) = (work.rows, work.m, work.cols, !work.chosen.is_empty());
        let n_out = w[last];
        assert!(
            x.len() == rows * w[0]
                && dirs.len() == m * rows * cols
                && adjoint.value.len() == rows * n_out
                && adjoint.tangents.len() == m * rows * n_out
                && adjoint.second.len() == if want2 { rows * n_out } else { 0 },
            "Mlp32::jet_backward: shapes differ from the pass's ({rows} rows, {m} directions, {})",
            if want2 {
                "a second stream"
            } else {
                "no second stream"
            }
        );
        grads.resize_with(2 * last, Vec::new);
        let (mut g, mut gt, mut gs, mut gd) = (
            std::mem::take(&mut work.g),
            std::mem::take(&mut work.gt),
            std::mem::take(&mut work.gs),
            std::mem::take(&mut work.gd),
        );
        g[0].clone_from(&adjoint.value);
        gt[0].clone_from(&adjoint.tangents);
        gs[0].clone_from(&adjoint.second);
        for l in (0..last).rev() {
            let (k, n) = (w[l], w[l + 1]);
            // W̄ = hᵀ ā + Σⱼ ḣⱼᵀ ǡⱼ + ḧᵀ ǟ, b̄ = Σ_rows ā
            let gw = &mut grads[2 * l];
            resize(gw, k * n);
            let h_in: &[f32] = if l == 0 { x } else { &work.d[l - 1][0] };
            sgemm(k, rows, n, (h_in, 1, k), (&g[0], n, 1), gw);
            if m > 0 && rows > 0 {
                let (kk, input): (usize, &[f32]) = if l == 0 {
                    (cols, dirs)
                } else {
                    (k, &work.dh[l - 1])
                };
                let part = &mut gw[..kk * n];
                sgemm_beta(kk, m * rows, n, (input, 1, kk), (&gt[0], n, 1), part, 1.0);
            }
            if want2 && l > 0 && rows > 0 {
                let input = &work.ddh[l - 1];
                sgemm_beta(k, rows, n, (input, 1, k), (&gs[0], n, 1), gw, 1.0);
            }
            let db = &mut grads[2 * l + 1];
            db.clear();
            db.resize(n, 0.0);
            for r in g[0].chunks_exact(n) {
                db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
            }
            if l == 0 {
                break;
            }
            // the adjoints of the layer's inputs: ·Wᵀ (the stored Wᵀ's rows for a narrow layer)
            let (t, wl) = (&self.transposed[l], &self.weights[l][..]);
            let b = if t.is_empty() {
                (wl, 1, n)
            } else {
                (&t[..], k, 1)
            };
            let bt = Some((wl, n));
            let [g0, g1] = &mut g;
            resize(g1, rows * k);
            product((rows, n, k), g0, b, bt, g1);
            let [t0, t1] = &mut gt;
            resize(t1, m * rows * k);
            if m > 0 {
                product((m * rows, n, k), t0, b, bt, t1);
            }
            let [s0, s1] = &mut gs;
            if want2 {
                resize(s1, rows * k);
                product((rows, n, k), s0, b, bt, s1);
            }
            // through the activation of hidden layer i = l − 1
            let i = l - 1;
            let [_, d1, d2, d3] = &work.d[i];
            let (da, dda) = (&work.da[i], &work.dda[i]);
            let [gd1, gd2] = &mut gd;
            resize(gd1, rows * k);
            gd1.fill(0.0);
            let size = rows * k;
            for (j, (tb, ab)) in t1
                .chunks_exact_mut(size)
                .zip(da.chunks_exact(size))
                .enumerate()
            {
                // σ′'s adjoint gathers ẏ̄ⱼ ⊙ ȧⱼ; ǡⱼ = σ′ ẏ̄ⱼ (+ 2 σ″ ÿ̄ ȧⱼ for a chosen direction)
                let each = gd1.iter_mut().zip(tb.iter_mut()).zip(ab).zip(d1.iter());
                if want2 && work.chosen[j] {
                    for ((((g, t), &a), &c1), (&y2, &c2)) in each.zip(s1.iter().zip(d2.iter())) {
                        *g += *t * a;
                        *t = *t * c1 + 2.0 * y2 * c2 * a;
                    }
                } else {
                    for (((g, t), &a), &c1) in each {
                        *g += *t * a;
                        *t *= c1;
                    }
                }
            }
            if want2 {
                // σ′'s adjoint gathers ÿ̄ ⊙ ä, σ″'s ÿ̄ ⊙ Q; ǟ = σ′ ÿ̄
                resize(gd2, size);
                gd2.fill(0.0);
                for (j, ab) in da.chunks_exact(size).enumerate() {
                    if work.chosen[j] {
                        gd2.iter_mut().zip(ab).for_each(|(q, a)| *q += a * a);
                    }
                }
                let each = g1
                    .iter_mut()
                    .zip(gd1.iter())
                    .zip(gd2.iter())
                    .zip(s1.iter_mut());
                for ((((g, &p1), &q), s), (((&a, &c1), &c2), &c3)) in
                    each.zip(dda.iter().zip(d1.iter()).zip(d2.iter()).zip(d3.iter()))
                {
                    // ā = σ′ ȳ + σ″ (Σⱼ ẏ̄ⱼ ȧⱼ + ÿ̄ ä) + σ‴ ÿ̄ Q
                    let p1 = p1 + *s * a;
                    *g = *g * c1 + p1 * c2 + *s * q * c3;
                    *s *= c1;
                }
            } else {
                for (((g, &p1), &c1), &c2) in
                    g1.iter_mut().zip(gd1.iter()).zip(d1.iter()).zip(d2.iter())
                {
                    *g = *g * c1 + p1 * c2;
                }
            }
            g.swap(0, 1);
            gt.swap(0, 1);
            gs.swap(0, 1);
        }
        (work.g, work.gt, work.gs, work.gd) = (g, gt, gs, gd);
    }
}
