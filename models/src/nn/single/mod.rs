//! An [`Mlp`] in single precision, for the hot loops of diffusion models: sampling (the forward pass over
//! thousands of particles a step) and training (forward and backward of a minibatch, the parameters kept in
//! f64 by the optimiser). f32 halves the bytes and doubles the lanes of every GEMM and activation — the
//! same trade PyTorch's and JAX's default dtype makes.
//!
//! The passes are fused by hand rather than recorded on the tape (which is f64): a layer is one GEMM
//! (`matrixmultiply`) and one pass of bias-add and activation (`nn/vmath32.rs`); the backward pass is
//! two GEMMs, a column sum and a pass of the activation's slope per layer. Both are checked against the
//! tape's f64 derivatives (tests below).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::nn::{single::{Mlp32, Work}, Activation, Mlp};
//!
//! let net = Mlp::new(&[2, 16, 1], Activation::Silu, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! let fast = Mlp32::new(&net);
//! let x = [0.5f32, -1.0, 2.0, 0.25]; // two rows
//! let mut out = [0.0f32; 2];
//! fast.forward(&x, 2, None, &mut out, &mut Work::default());
//! assert!(out.iter().all(|v| v.is_finite()));
//! ```

pub mod grad;
pub mod jet;

use super::vmath32::{bias_act, bias_act_in_place, times_slope};
use super::{Activation, Mlp};

/// An [`Mlp`]'s parameters in f32, laid out as the f64 ones (`Wₗ` is `in × out`, row-major).
#[derive(Clone, Debug)]
pub struct Mlp32 {
    widths: Vec<usize>,
    activation: Activation,
    weights: Vec<Vec<f32>>,
    /// Wₗᵀ (`out × in`) of each layer with at most [`NARROW`] outputs (empty for the others), for the
    /// dot-product path of its forward and the row-update path of its backward.
    transposed: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
}

/// Buffers of the passes, reused from call to call (one per thread).
#[derive(Default, Debug)]
pub struct Work {
    /// Pre-activations of each hidden layer (rows × width).
    z: Vec<Vec<f32>>,
    /// Activations of each hidden layer.
    h: Vec<Vec<f32>>,
    /// The gradient flowing back, and its next value.
    g: [Vec<f32>; 2],
    /// Tangents flowing forward ([`Mlp32::jvp`]), and their next value.
    dz: [Vec<f32>; 2],
    rows: usize,
}

/// `c (m × n) = a (m × k) · b (k × n)` with row and column strides of a and b; c row-major.
fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    c: &mut [f32],
) {
    sgemm_beta(m, k, n, a, b, c, 0.0)
}

/// `c = a · b + β c` (β = 0: c is only written), as [`sgemm`].
fn sgemm_beta(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    c: &mut [f32],
    beta: f32,
) {
    let last = |(s, rs, cs): (&[f32], usize, usize), r: usize, q: usize| {
        assert!(
            r == 0 || q == 0 || (r - 1) * rs + (q - 1) * cs < s.len(),
            "sgemm: operand too short"
        );
    };
    last(a, m, k);
    last(b, k, n);
    assert!(
        c.len() >= m * n,
        "sgemm: output of {} for {m} × {n}",
        c.len()
    );
    // SAFETY: every index the product reads, (i rs + p cs) for i < rows and p < cols, is within the slices
    // (checked above), and c holds m × n initialised values with row stride n and aliases neither.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Products with at most this many terms (k) or columns (n) skip the GEMM: packing whole operands for them
/// cost as much as the product (the first layer of a sampler's network has k = d, the last n = d).
const NARROW: usize = 4;

/// `c (m × n) = a (m × k) · b (k × n)`: a and c row-major and contiguous, b as (values, row stride, column
/// stride); `bt`, when given, is bᵀ (`n × k`) in rows of its stride ≥ k. Few terms take the row-update path
/// when b's rows are contiguous, few columns the dot-product path when bᵀ is given; the rest is a GEMM.
fn product(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: (&[f32], usize, usize),
    bt: Option<(&[f32], usize)>,
    c: &mut [f32],
) {
    let few = k <= NARROW && b.2 == 1;
    let thin = n <= NARROW && bt.is_some();
    if !(few || thin) {
        return sgemm(m, k, n, (a, k, 1), b, c);
    }
    let (bt, ldbt) = bt.unwrap_or((&[], 0));
    assert!(
        a.len() >= m * k
            && (!few || b.0.len() >= (k - 1) * b.1 + n)
            && (few || (ldbt >= k && bt.len() >= (n - 1) * ldbt + k))
            && c.len() >= m * n,
        "product: operands of {}, {}, {} and {} values for {m} × {k} × {n}",
        a.len(),
        b.0.len(),
        bt.len(),
        c.len()
    );
    let c = &mut c[..m * n];
    pulp::Arch::new().dispatch(Narrow {
        k,
        n,
        a,
        b: (b.0, b.1),
        bt: if few { None } else { Some((bt, ldbt)) },
        c,
    });
}

/// [`product`]'s narrow cases, compiled per instruction set: few terms as row updates (vectorised along the
/// row of c), few columns as dot products (vectorised along k, 16 partial sums in a fixed order).
struct Narrow<'a> {
    k: usize,
    n: usize,
    a: &'a [f32],
    /// b with its row stride (rows contiguous).
    b: (&'a [f32], usize),
    /// bᵀ with its row stride: the dot-product path; `None`: the row-update path.
    bt: Option<(&'a [f32], usize)>,
    c: &'a mut [f32],
}

impl pulp::WithSimd for Narrow<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Narrow { k, n, a, b, bt, c } = self;
        let rows = c.len() / n;
        let Some((bt, ldbt)) = bt else {
            for (i, row) in c.chunks_exact_mut(n).enumerate().take(rows) {
                // the first term initialises the row (a·b rounds as 0 + a·b fused would)
                for (p, &ap) in a[i * k..(i + 1) * k].iter().enumerate() {
                    let br = &b.0[p * b.1..p * b.1 + n];
                    if p == 0 {
                        row.iter_mut().zip(br).for_each(|(o, &bv)| *o = ap * bv);
                    } else {
                        row.iter_mut()
                            .zip(br)
                            .for_each(|(o, &bv)| *o = ap.mul_add(bv, *o));
                    }
                }
            }
            return;
        };
        // four rows at a time: four independent chains in flight; each row's sum runs in one order whatever
        // its neighbours (one accumulator, then the tail), so blocks do not change results
        let mut quads = c.chunks_exact_mut(4 * n);
        for (q, out) in quads.by_ref().enumerate() {
            let ar: [&[f32]; 4] = std::array::from_fn(|r| &a[(4 * q + r) * k..(4 * q + r + 1) * k]);
            for j in 0..n {
                let sums = dots(simd, ar, &bt[j * ldbt..j * ldbt + k]);
                for (r, s) in sums.into_iter().enumerate() {
                    out[r * n + j] = s;
                }
            }
        }
        let done = rows - rows % 4;
        for (i, out) in quads.into_remainder().chunks_exact_mut(n).enumerate() {
            let ar = [&a[(done + i) * k..(done + i + 1) * k]];
            for (j, o) in out.iter_mut().enumerate() {
                *o = dots(simd, ar, &bt[j * ldbt..j * ldbt + k])[0];
            }
        }
    }
}

/// The dot products of R rows with `b`, each in one fixed order: a vector accumulator over the SIMD-wide
/// head, reduced, then the tail.
#[inline(always)]
fn dots<S: pulp::Simd, const R: usize>(simd: S, rows: [&[f32]; R], b: &[f32]) -> [f32; R] {
    let (bh, btail) = S::as_simd_f32s(b);
    let heads: [&[S::f32s]; R] = std::array::from_fn(|r| S::as_simd_f32s(rows[r]).0);
    let mut acc = [simd.splat_f32s(0.0); R];
    for (q, y) in bh.iter().enumerate() {
        for r in 0..R {
            acc[r] = simd.mul_add_e_f32s(heads[r][q], *y, acc[r]);
        }
    }
    std::array::from_fn(|r| {
        let mut sum = simd.reduce_sum_f32s(acc[r]);
        let tail = &rows[r][rows[r].len() - btail.len()..];
        for (x, y) in tail.iter().zip(btail) {
            sum += x * y;
        }
        sum
    })
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

impl Mlp32 {
    /// The network's parameters rounded to f32.
    pub fn new(net: &Mlp) -> Self {
        let layers = net.widths.len() - 1;
        let f32s = |l: usize| net.params[l].data().iter().map(|&v| v as f32).collect();
        let mut me = Mlp32 {
            widths: net.widths.clone(),
            activation: net.activation,
            weights: (0..layers).map(|l| f32s(2 * l)).collect(),
            transposed: (0..layers)
                .map(|l| {
                    if net.widths[l + 1] <= NARROW {
                        f32s(2 * l)
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            biases: (0..layers).map(|l| f32s(2 * l + 1)).collect(),
        };
        me.transpose();
        me
    }

    fn transpose(&mut self) {
        for (l, (w, t)) in self.weights.iter().zip(&mut self.transposed).enumerate() {
            let (k, n) = (self.widths[l], self.widths[l + 1]);
            if t.is_empty() {
                continue;
            }
            for (p, row) in w.chunks_exact(n).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    t[j * k + p] = v;
                }
            }
        }
    }

    /// Copy the parameters of `net` (after an optimiser step). Panics if its widths differ (a programmer
    /// error).
    pub fn refresh(&mut self, net: &Mlp) {
        assert_eq!(self.widths, net.widths, "Mlp32::refresh: widths differ");
        let all = self
            .weights
            .iter_mut()
            .zip(&mut self.biases)
            .flat_map(|(w, b)| [w, b]);
        for (mine, p) in all.zip(&net.params) {
            mine.iter_mut()
                .zip(p.data())
                .for_each(|(m, &v)| *m = v as f32);
        }
        self.transpose();
    }

    /// Layer widths, input first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// The first layer's weights (`widths[0] × widths[1]`, row-major) and bias.
    pub fn first_layer(&self) -> (&[f32], &[f32]) {
        (&self.weights[0], &self.biases[0])
    }

    fn hidden(&self, work: &mut Work, rows: usize) {
        let layers = self.widths.len() - 1;
        work.z.resize_with(layers - 1, Vec::new);
        work.h.resize_with(layers - 1, Vec::new);
        for l in 0..layers - 1 {
            resize(&mut work.z[l], rows * self.widths[l + 1]);
            resize(&mut work.h[l], rows * self.widths[l + 1]);
        }
        work.rows = rows;
    }

    /// The forward pass of the rows of `x` (`cols` values each) into `out` (`widths[L]` values a row). With
    /// `cols < widths[0]` the rows meet only the first `cols` rows of W₀ — the other inputs are constant
    /// and folded into `bias0` by the caller; `bias0` replaces b₀ when given. Keeps each hidden layer's
    /// pre-activations in `work` for [`Mlp32::backward`].
    ///
    /// Panics if `cols` is 0 or above `widths[0]`, `x` is not whole rows, `out` does not fit them, or
    /// `bias0` is not `widths[1]` long (programmer errors).
    pub fn forward(
        &self,
        x: &[f32],
        cols: usize,
        bias0: Option<&[f32]>,
        out: &mut [f32],
        work: &mut Work,
    ) {
        self.run(x, cols, bias0, out, work, true)
    }

    /// [`Mlp32::forward`] without keeping the pre-activations (each activation is applied in place): for
    /// evaluation only, not followed by [`Mlp32::backward`]. The same values as `forward`, bit for bit.
    pub fn predict(
        &self,
        x: &[f32],
        cols: usize,
        bias0: Option<&[f32]>,
        out: &mut [f32],
        work: &mut Work,
    ) {
        self.run(x, cols, bias0, out, work, false)
    }

    fn run(
        &self,
        x: &[f32],
        cols: usize,
        bias0: Option<&[f32]>,
        out: &mut [f32],
        work: &mut Work,
        keep: bool,
    ) {
        let w = &self.widths;
        assert!(
            cols > 0 && cols <= w[0] && x.len().is_multiple_of(cols),
            "Mlp32::forward: {} inputs in rows of {cols} for input width {}",
            x.len(),
            w[0]
        );
        let rows = x.len() / cols;
        let last = w.len() - 1;
        assert_eq!(
            out.len(),
            rows * w[last],
            "Mlp32::forward: output for {rows} rows of {}",
            w[last]
        );
        let bias0 = bias0.unwrap_or(&self.biases[0]);
        assert_eq!(bias0.len(), w[1], "Mlp32::forward: first bias");
        self.hidden(work, rows);
        for l in 0..last {
            let (n, bias) = (w[l + 1], if l == 0 { bias0 } else { &self.biases[l] });
            let (k, input): (usize, &[f32]) = if l == 0 {
                (cols, x)
            } else {
                (w[l], &work.h[l - 1])
            };
            let t = &self.transposed[l];
            let (b, bt) = (
                (&self.weights[l][..], n, 1),
                (!t.is_empty()).then_some((&t[..], w[l])),
            );
            if l + 1 == last {
                product((rows, k, n), input, b, bt, out);
                out.chunks_exact_mut(n)
                    .for_each(|r| r.iter_mut().zip(bias).for_each(|(o, b)| *o += b));
            } else {
                let mut z = std::mem::take(&mut work.z[l]);
                product((rows, k, n), input, b, bt, &mut z);
                if keep {
                    bias_act(self.activation, bias, &mut z, &mut work.h[l]);
                } else {
                    // the activations land in z's buffer, which becomes h's
                    bias_act_in_place(self.activation, bias, &mut z);
                    std::mem::swap(&mut z, &mut work.h[l]);
                }
                work.z[l] = z;
            }
        }
    }

    /// The forward pass of [`Mlp32::forward`] and, beside it, the network's derivative along `m` directions:
    /// `dirs` holds m blocks of `rows × cols` values (direction j of row r at `dirs[(j·rows + r)·cols..]`,
    /// the inputs past `cols` held still), and `tangents` receives m blocks of `rows × widths[L]`: J(xᵣ) uⱼᵣ.
    /// Forward mode, all directions as one stacked matrix: ȧ = u W₀ on the first layer, ȧ = (σ′(z) ⊙ ȧ) Wₗ
    /// after — m + 1 forward passes' worth of products, no tape.
    ///
    /// Panics as [`Mlp32::forward`] does, or if `dirs` and `tangents` are not m whole blocks (programmer
    /// errors).
    #[allow(clippy::too_many_arguments)]
    pub fn jvp(
        &self,
        x: &[f32],
        cols: usize,
        bias0: Option<&[f32]>,
        dirs: &[f32],
        out: &mut [f32],
        tangents: &mut [f32],
        work: &mut Work,
    ) {
        self.run(x, cols, bias0, out, work, true);
        let w = &self.widths;
        let (rows, last) = (work.rows, w.len() - 1);
        let m = if rows == 0 {
            0
        } else {
            dirs.len() / (rows * cols)
        };
        assert!(
            dirs.len() == m * rows * cols && tangents.len() == m * rows * w[last],
            "Mlp32::jvp: {} direction values and {} tangent values for {rows} rows of {cols} inputs",
            dirs.len(),
            tangents.len()
        );
        if m == 0 {
            return;
        }
        let mut dz = std::mem::take(&mut work.dz);
        for l in 0..last {
            let (k, n, t) = (
                if l == 0 { cols } else { w[l] },
                w[l + 1],
                &self.transposed[l],
            );
            let (b, bt) = (
                (&self.weights[l][..], n, 1),
                (!t.is_empty()).then_some((&t[..], w[l])),
            );
            let [cur, next] = &mut dz;
            let input: &[f32] = if l == 0 { dirs } else { cur };
            if l + 1 == last {
                product((m * rows, k, n), input, b, bt, tangents);
            } else {
                resize(next, m * rows * n);
                product((m * rows, k, n), input, b, bt, next);
                for chunk in next.chunks_exact_mut(rows * n) {
                    times_slope(self.activation, &mut work.z[l], chunk);
                }
                dz.swap(0, 1);
            }
        }
        work.dz = dz;
    }

    /// The gradient of a loss with respect to the parameters, given its gradient `d_out` with respect to the
    /// output of the last [`Mlp32::forward`] on the rows `x` (all `widths[0]` columns): one vector per
    /// parameter, in the order of [`Mlp::params`], overwritten.
    ///
    /// Panics if the shapes do not match that forward pass (a programmer error).
    pub fn backward(&self, x: &[f32], d_out: &[f32], work: &mut Work, grads: &mut Vec<Vec<f32>>) {
        let w = &self.widths;
        let (rows, last) = (work.rows, w.len() - 1);
        assert!(
            x.len() == rows * w[0] && d_out.len() == rows * w[last],
            "Mlp32::backward: {} inputs and {} output gradients for {rows} rows of {w:?}",
            x.len(),
            d_out.len()
        );
        grads.resize_with(2 * last, Vec::new);
        let mut g = std::mem::take(&mut work.g);
        resize(&mut g[0], d_out.len());
        g[0].copy_from_slice(d_out);
        for l in (0..last).rev() {
            let (k, n) = (w[l], w[l + 1]);
            let input: &[f32] = if l == 0 { x } else { &work.h[l - 1] };
            // ∂W = inputᵀ g, ∂b = Σ_rows g
            resize(&mut grads[2 * l], k * n);
            sgemm(k, rows, n, (input, 1, k), (&g[0], n, 1), &mut grads[2 * l]);
            let db = &mut grads[2 * l + 1];
            db.clear();
            db.resize(n, 0.0);
            for r in g[0].chunks_exact(n) {
                db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
            }
            if l > 0 {
                // ∂h = g Wᵀ, then through the activation
                let [cur, next] = &mut g;
                resize(next, rows * k);
                // b = Wᵀ: its rows are the stored Wᵀ's for a narrow layer, W's columns otherwise
                let (t, wl) = (&self.transposed[l], &self.weights[l][..]);
                let b = if t.is_empty() {
                    (wl, 1, n)
                } else {
                    (&t[..], k, 1)
                };
                product((rows, n, k), cur, b, Some((wl, n)), next);
                times_slope(self.activation, &mut work.z[l - 1], next);
                g.swap(0, 1);
            }
        }
        work.g = g;
    }
}

#[cfg(test)]
mod tests;
