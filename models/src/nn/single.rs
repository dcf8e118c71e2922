//! An [`Mlp`] in single precision, for the hot loops of diffusion models: sampling (the forward pass over
//! thousands of particles a step) and training (forward and backward of a minibatch, the parameters kept in
//! f64 by the optimiser). f32 halves the bytes and doubles the lanes of every GEMM and activation — the
//! same trade PyTorch's and JAX's default dtype makes.
//!
//! The passes are fused by hand rather than recorded on the tape (which is f64): a layer is one GEMM
//! (`matrixmultiply`) and one pass of bias-add and activation ([`act32`](super::act32)); the backward pass is
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

use super::act32::{bias_act, times_slope};
use super::{Activation, Mlp};

/// An [`Mlp`]'s parameters in f32, laid out as the f64 ones (`Wₗ` is `in × out`, row-major).
#[derive(Clone, Debug)]
pub struct Mlp32 {
    widths: Vec<usize>,
    activation: Activation,
    weights: Vec<Vec<f32>>,
    /// Each Wₗᵀ (`out × in`), for the products with few columns or few terms.
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
    // (checked above), c holds m × n values with row stride n and aliases neither, and β = 0 only writes c.
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
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Products with at most this many terms (k) or columns (n) skip the GEMM: packing whole operands for them
/// cost as much as the product (the first layer of a sampler's network has k = d, the last n = d).
const NARROW: usize = 4;

/// `c (m × n) = a (m × k) · b (k × n)`, all row-major and contiguous; `bt` is bᵀ (`n × k`) in rows of
/// `ldbt ≥ k` values.
#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    (bt, ldbt): (&[f32], usize),
    c: &mut [f32],
) {
    if k <= NARROW || n <= NARROW {
        assert!(
            a.len() >= m * k
                && b.len() >= k * n
                && ldbt >= k
                && bt.len() >= (n - 1) * ldbt + k
                && c.len() >= m * n,
            "product: operands of {}, {}, {} and {} values for {m} × {k} × {n}",
            a.len(),
            b.len(),
            bt.len(),
            c.len()
        );
        let c = &mut c[..m * n];
        pulp::Arch::new().dispatch(Narrow {
            k,
            n,
            a,
            b,
            bt,
            ldbt,
            c,
        });
    } else {
        sgemm(m, k, n, (a, k, 1), (b, n, 1), c);
    }
}

/// [`product`]'s narrow cases, compiled per instruction set: few terms as row updates (vectorised along the
/// row of c), few columns as dot products (vectorised along k, 16 partial sums in a fixed order).
struct Narrow<'a> {
    k: usize,
    n: usize,
    a: &'a [f32],
    b: &'a [f32],
    bt: &'a [f32],
    ldbt: usize,
    c: &'a mut [f32],
}

impl pulp::WithSimd for Narrow<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Narrow {
            k,
            n,
            a,
            b,
            bt,
            ldbt,
            c,
        } = self;
        let rows = c.len() / n;
        if k <= NARROW {
            for (i, row) in c.chunks_exact_mut(n).enumerate().take(rows) {
                row.fill(0.0);
                for (p, &ap) in a[i * k..(i + 1) * k].iter().enumerate() {
                    for (o, &bv) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                        *o = ap.mul_add(bv, *o);
                    }
                }
            }
        } else {
            for (i, row) in c.chunks_exact_mut(n).enumerate().take(rows) {
                let ar = &a[i * k..(i + 1) * k];
                for (j, o) in row.iter_mut().enumerate() {
                    let br = &bt[j * ldbt..j * ldbt + k];
                    let mut acc = [0.0f32; 16];
                    let (ac, bc) = (ar.chunks_exact(16), br.chunks_exact(16));
                    let tail = ac.len() * 16;
                    for (x, y) in ac.zip(bc) {
                        for l in 0..16 {
                            acc[l] = x[l].mul_add(y[l], acc[l]);
                        }
                    }
                    // pairwise: shuffles and vector adds rather than 15 dependent scalar adds
                    for w in [8, 4, 2, 1] {
                        for l in 0..w {
                            acc[l] += acc[l + w];
                        }
                    }
                    let mut sum = acc[0];
                    for (x, y) in ar[tail..].iter().zip(&br[tail..]) {
                        sum = x.mul_add(*y, sum);
                    }
                    *o = sum;
                }
            }
        }
    }
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
            transposed: (0..layers).map(|l| f32s(2 * l)).collect(),
            biases: (0..layers).map(|l| f32s(2 * l + 1)).collect(),
        };
        me.transpose();
        me
    }

    fn transpose(&mut self) {
        for (l, (w, t)) in self.weights.iter().zip(&mut self.transposed).enumerate() {
            let (k, n) = (self.widths[l], self.widths[l + 1]);
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
            let (w, wt) = (&self.weights[l][..k * n], (&self.transposed[l][..], w[l]));
            if l + 1 == last {
                product(rows, k, n, input, w, wt, out);
                out.chunks_exact_mut(n)
                    .for_each(|r| r.iter_mut().zip(bias).for_each(|(o, b)| *o += b));
            } else {
                let mut z = std::mem::take(&mut work.z[l]);
                product(rows, k, n, input, w, wt, &mut z);
                bias_act(self.activation, bias, &mut z, &mut work.h[l]);
                work.z[l] = z;
            }
        }
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
                product(
                    rows,
                    n,
                    k,
                    cur,
                    &self.transposed[l],
                    (&self.weights[l], n),
                    next,
                );
                times_slope(self.activation, &mut work.z[l - 1], next);
                g.swap(0, 1);
            }
        }
        work.g = g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use stein_autodiff::{with_tape, Tensor};

    /// Forward and backward in f32 agree with the tape's f64 values and gradients to f32 accuracy, for
    /// every activation, with the inputs folded into the bias too.
    #[test]
    fn passes_match_the_tape() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for act in [
            Activation::Silu,
            Activation::Softplus,
            Activation::Tanh,
            Activation::Elu,
            Activation::Relu,
        ] {
            let net = Mlp::new(&[5, 24, 16, 3], act, &mut rng);
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
            let mut fast = Mlp32::new(&Mlp::new(&[5, 24, 16, 3], act, &mut rng));
            fast.refresh(&net);
            let x32: Vec<f32> = x.data().iter().map(|&v| v as f32).collect();
            let c32: Vec<f32> = c.data().iter().map(|&v| v as f32).collect();
            let (mut out, mut work, mut g) = (vec![0.0; rows * 3], Work::default(), Vec::new());
            fast.forward(&x32, 5, None, &mut out, &mut work);
            fast.backward(&x32, &c32, &mut work, &mut g);
            let close = |a: &[f32], b: &[f64], what: &str| {
                let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (*u as f64 - v).abs() < 2e-5 * scale,
                        "{act:?} {what}: {u} vs {v}"
                    );
                }
            };
            close(&out, want.data(), "output");
            for (l, (mine, theirs)) in g.iter().zip(&grads).enumerate() {
                close(mine, theirs.data(), &format!("gradient {l}"));
            }
            // the last two inputs folded into the first bias
            let (w0, b0) = fast.first_layer();
            let bias: Vec<f32> = (0..24)
                .map(|o| b0[o] + (3..5).map(|i| x32[i] * w0[i * 24 + o]).sum::<f32>())
                .collect();
            let mut first = vec![0.0; 3];
            fast.forward(&x32[..3], 3, Some(&bias), &mut first, &mut work);
            close(&first, &want.data()[..3], "folded");
        }
    }
}
