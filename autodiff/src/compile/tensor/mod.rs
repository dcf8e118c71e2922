//! Compiled tensor functions: record a function of one tensor once, replay its value and gradient with the
//! elementwise work fused into blocks.
//!
//! On the tape every tensor op is a pass over memory, forward and backward: the Rosenbrock density in
//! tensor form is some twenty passes over its d-vector. [`compile_tensor`] records the function once and
//! groups its elementwise ops by shape; a call then runs every op of a group over one block of 256 entries
//! at a time (values and adjoints stay in the L1 cache) and adds each block's part of the sums and of the
//! gradient before the next. Slices of the input are views (no copy), and the input and constants
//! broadcast along an axis of size 1.
//!
//! ```
//! use stein_autodiff::{compile_tensor, Tape, TVar, Tensor, TensorWorkspace, Var};
//!
//! // −Σ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²
//! fn rosenbrock(x: TVar<'_>) -> Var<'_> {
//!     let d = x.cols();
//!     let (a, b) = (x.slice_cols(0, d - 1), x.slice_cols(1, d - 1));
//!     let (t, u) = (b - a * a, 1.0 - a);
//!     -(t * t * 100.0 + u * u).sum()
//! }
//! let x = Tensor::row(&[0.5, 0.7, 1.2, -0.3]);
//! let f = compile_tensor(rosenbrock, &x).unwrap();
//! let (mut g, mut ws) = (Tensor::zeros(1, 4), TensorWorkspace::default());
//! let v = f.value_grad(&x, &mut g, &mut ws);
//! // the tape's value, bit for bit, and its gradient to rounding
//! let tape = Tape::new();
//! let xv = tape.tensor(&x);
//! let y = rosenbrock(xv);
//! assert_eq!(v, y.value());
//! let tg = tape.grad_tensors(y, &[xv]);
//! for (a, b) in g.data().iter().zip(tg[0].data()) {
//!     assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0));
//! }
//! ```
//!
//! # The contract
//! - **f runs once**, at [`compile_tensor`], on a tape; whatever it reads from its environment is a
//!   constant of the program. The input's shape is fixed: calls with another shape are a programmer error.
//! - **What compiles**: elementwise maps of tensors (every op of [`TVar`]'s `Real`-like methods except the
//!   piecewise-constant `step`/`sign` of a computed tensor), `+ − × ÷` of tensors
//!   of one shape (the input, constants and their slices may broadcast along an axis of size 1), slices of
//!   the input and of constants, `sum`/`mean`, and any scalar code on the sums without branches. Matrix
//!   products, transposes, reshapes, axis sums, gathers, `get`, comparisons and raw reads (`value()`) give a
//!   [`TraceError`] that names them.
//! - **Numbers**: the value is bit-identical to the tape's (the same operations, sums with the same eight
//!   running totals). The gradient equals the tape's to rounding (the same rules; an adjoint that gathers
//!   several contributions may add them in another order).
//! - **First order only**, one thread per call (calls on separate workspaces may run in parallel).

mod build;
mod program;
mod run;

pub use program::TensorWorkspace;

use super::TraceError;
use crate::functional::with_tape;
use crate::tensor::{TVar, Tensor};
use crate::var::Var;
use program::Program;

/// A tensor function compiled by [`compile_tensor`].
#[derive(Clone, Debug)]
pub struct CompiledTensor {
    prog: Program,
}

/// Record `f` at `x` and compile it (see the [module docs](self) for the contract).
///
/// # Errors
/// [`TraceError`] when `f` reads raw values, branches on a value, uses an op outside the contract, or returns
/// a variable of another tape.
pub fn compile_tensor<F>(f: F, x: &Tensor) -> Result<CompiledTensor, TraceError>
where
    F: for<'t> Fn(TVar<'t>) -> Var<'t>,
{
    with_tape(|t| {
        t.begin_trace();
        let xv = t.tensor(x);
        let y = f(xv);
        let log = t.end_trace();
        let root = match y.tape {
            None => None,
            Some(u) if std::ptr::eq(u, t) => Some(y.idx),
            Some(_) => return Err(TraceError::ForeignOutput),
        };
        let prog = t.with(|inner| build::build(inner, log, xv.idx, root, y.val))?;
        Ok(CompiledTensor { prog })
    })
}

impl CompiledTensor {
    /// The input's shape.
    pub fn shape(&self) -> (usize, usize) {
        (self.prog.rows, self.prog.cols)
    }

    /// Elementwise instructions of the program (loads of views included).
    pub fn len(&self) -> usize {
        self.prog.groups.iter().map(|g| g.ins.len()).sum()
    }

    /// True for a program with no elementwise instruction (f returned a constant).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// f(x), with ∇f(x) written into `grad` (made `x`'s shape, reusing its allocation). `ws` is scratch memory,
    /// reused across calls.
    ///
    /// # Panics
    /// When `x` does not have the traced input's shape (a programmer error; both shapes named).
    pub fn value_grad(&self, x: &Tensor, grad: &mut Tensor, ws: &mut TensorWorkspace) -> f64 {
        let (r, c) = self.shape();
        assert!(
            (x.rows(), x.cols()) == (r, c),
            "CompiledTensor::value_grad: the trace's input is {r}×{c}; x is {}×{}",
            x.rows(),
            x.cols()
        );
        grad.set_zeros(r, c);
        self.prog.value_grad(x.data(), grad.data_mut(), ws)
    }
}
