//! Taylor mode through an MLP on the tape: the network's value, its first derivatives in x along a few
//! directions, and a sum of its second derivatives along some of them, carried forward layer by layer beside
//! the value (with the axes as directions, the forward Laplacian of Li et al., 2024).
//!
//! A loss that needs ∇ₓ and second derivatives of a network (implicit and sliced score matching) then takes
//! one forward pass of a few streams and one backward pass in the parameters, instead of reverse mode over
//! reverse mode: for a layer `a = h W + b` followed by `y = σ(a)`,
//!
//! * tangents: ȧ = ḣ W, ẏ = σ′(a) ⊙ ȧ;
//! * second derivatives: ä = ḧ W, ÿ = σ″(a) ⊙ Σₖ ȧₖ² + σ′(a) ⊙ ä (the sum over the chosen directions).
//!
//! Every stream is made of ordinary tape ops, so the parameter gradient of anything built from a jet is the
//! tape's (and differentiable again). On the first layer an axis direction eₖ has the tangent Wₖ (a row of
//! the weight, the same for every point) and no second derivative, so it costs no matrix product.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_autodiff::{Tape, Tensor};
//! use stein_models::nn::jet::Direction;
//! use stein_models::nn::{Activation, Mlp};
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
//! let net = Mlp::new(&[2, 16, 1], Activation::Softplus, &mut rng);
//! let tape = Tape::new();
//! let p = net.lift(&tape);
//! let x = tape.tensor(&Tensor::new(3, 2, vec![0.1, 0.2, -1.0, 0.5, 2.0, 0.0]).unwrap());
//! // ∂f/∂x₀, ∂f/∂x₁ and the Laplacian ∂²f/∂x₀² + ∂²f/∂x₁² of every row
//! let jet = net.jet(&p, x, &[Direction::Axis(0), Direction::Axis(1)], &[0, 1]);
//! let lap = jet.second.unwrap();
//! // against reverse mode: the gradient's own gradient, summed along the diagonal
//! let g = tape.grad_graph_tensors(net.forward(&p, x).sum(), &[x])[0];
//! let h0 = tape.grad_graph_tensors(g.slice_cols(0, 1).sum(), &[x])[0].slice_cols(0, 1);
//! let h1 = tape.grad_graph_tensors(g.slice_cols(1, 1).sum(), &[x])[0].slice_cols(1, 1);
//! let want = (h0 + h1).value();
//! for (a, b) in lap.value().data().iter().zip(want.data()) {
//!     assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
//! }
//! assert!((jet.tangents[1].value().data()[0] - g.value().data()[1]).abs() < 1e-12);
//! ```

use super::{Activation, Mlp};
use stein_autodiff::TVar;

/// A direction in input space along which a [`Jet`] differentiates.
#[derive(Clone, Copy, Debug)]
pub enum Direction<'t> {
    /// The k-th coordinate axis eₖ, for every point.
    Axis(usize),
    /// One direction per point: a `B × n` tensor (n ≤ the input width; the coordinates past n are 0 — a
    /// noise-conditional network's σ column, say).
    Rows(TVar<'t>),
}

/// A network's value and derivatives at a batch of points (see the module documentation). Every tensor is
/// `B × out`.
#[derive(Clone, Debug)]
pub struct Jet<'t> {
    /// f(x).
    pub value: TVar<'t>,
    /// J(x) uₖ for each direction uₖ, in the order given.
    pub tangents: Vec<TVar<'t>>,
    /// Σₖ uₖᵀ ∇²f(x) uₖ over the chosen directions (`None` when none was chosen).
    pub second: Option<TVar<'t>>,
}

impl<'t> Jet<'t> {
    /// Every stream divided by a `B × 1` (or `1 × 1`) factor that does not depend on x.
    pub fn divided(self, c: TVar<'t>) -> Self {
        Jet {
            value: self.value / c,
            tangents: self.tangents.into_iter().map(|t| t / c).collect(),
            second: self.second.map(|s| s / c),
        }
    }
}

/// σ(a), σ′(a) and, when asked, σ″(a), as tape expressions.
fn slopes<'t>(
    act: Activation,
    a: TVar<'t>,
    second: bool,
) -> (TVar<'t>, TVar<'t>, Option<TVar<'t>>) {
    match act {
        Activation::Softplus => {
            let s = a.sigmoid();
            (a.softplus(), s, second.then(|| s - s.square()))
        }
        Activation::Silu => {
            // σ′ = s + a s(1 − s), σ″ = s(1 − s)(2 + a(1 − 2s)), s the logistic sigmoid
            let s = a.sigmoid();
            let q = s - s.square();
            let d2 = second.then(|| q * (a * (1.0 - s * 2.0) + 2.0));
            (a * s, s + a * q, d2)
        }
        Activation::Tanh => {
            let t = a.tanh();
            let d1 = 1.0 - t.square();
            (t, d1, second.then(|| t * d1 * -2.0))
        }
        Activation::Elu => {
            // a > 0: (a, 1, 0); a ≤ 0: (eᵃ − 1, eᵃ, eᵃ). σ′ = e^min(a, 0), σ″ = σ′ − step(a)
            let d1 = (a - a.relu()).exp();
            (a.elu(), d1, second.then(|| d1 - a.step()))
        }
        Activation::Relu => {
            let d1 = a.step();
            (a.relu(), d1, second.then(|| d1 * 0.0))
        }
    }
}

impl Mlp {
    /// The network's [`Jet`] at the points `x` (`B × widths[0]`, on the tape) with lifted parameters `p`:
    /// its value, one tangent per direction in `dirs`, and the sum of second derivatives along the directions
    /// whose indices are in `second` (none: no second stream). Cost: one forward pass per stream.
    ///
    /// Panics (a programmer error) when an axis is past the input width, a per-point direction does not have
    /// `B` rows or is wider than the input, or an index in `second` is past `dirs`.
    pub fn jet<'t>(
        &self,
        p: &[TVar<'t>],
        x: TVar<'t>,
        dirs: &[Direction<'t>],
        second: &[usize],
    ) -> Jet<'t> {
        let (rows, width) = x.shape();
        for d in dirs {
            match *d {
                Direction::Axis(k) => {
                    assert!(k < width, "Mlp::jet: axis {k} of an input of width {width}")
                }
                Direction::Rows(u) => assert!(
                    u.rows() == rows && u.cols() <= width,
                    "Mlp::jet: a direction of shape {:?} for points of shape {:?}",
                    u.shape(),
                    x.shape()
                ),
            }
        }
        assert!(
            second.iter().all(|&k| k < dirs.len()),
            "Mlp::jet: second derivatives along {second:?} of {} directions",
            dirs.len()
        );
        let layers = p.len() / 2;
        let (w0, b0) = (p[0], p[1]);
        // the first layer: a = x W₀ + b₀, ȧ = u W₀ (an axis: a row of W₀), ä = 0
        let mut a = x.matmul(w0) + b0;
        let mut da: Vec<TVar<'t>> = dirs
            .iter()
            .map(|d| match *d {
                Direction::Axis(k) => w0.slice_rows(k, 1),
                Direction::Rows(u) => u.matmul(w0.slice_rows(0, u.cols())),
            })
            .collect();
        let mut dda: Option<TVar<'t>> = None;
        let want_second = !second.is_empty();
        for l in 1..layers {
            let (h, d1, d2) = slopes(self.activation, a, want_second);
            let dh: Vec<TVar<'t>> = da.iter().map(|&t| d1 * t).collect();
            let ddh = d2.map(|d2| {
                let sq = second
                    .iter()
                    .map(|&k| da[k].square())
                    .reduce(|s, t| s + t)
                    .expect("a direction chosen");
                let curv = d2 * sq;
                match dda {
                    Some(dda) => curv + d1 * dda,
                    None => curv,
                }
            });
            let (w, b) = (p[2 * l], p[2 * l + 1]);
            a = h.matmul(w) + b;
            da = dh.iter().map(|&t| t.matmul(w)).collect();
            dda = ddh.map(|t| t.matmul(w));
        }
        // a one-layer network with an axis direction: its tangent is the same row for every point
        let da = da
            .into_iter()
            .map(|t| t.broadcast_to(rows, t.cols()))
            .collect();
        Jet {
            value: a,
            tangents: da,
            second: want_second.then(|| dda.unwrap_or_else(|| a * 0.0)),
        }
    }
}
