//! # stein-autodiff
//!
//! Reverse-mode automatic differentiation to any order, for scalar code written once over a number trait
//! and for tensor code (networks), on one arena tape.
//!
//! ## Write once, run plain or differentiated
//! ```
//! use stein_autodiff::{grad, hessian, laplacian, value_and_grad, Real};
//!
//! fn banana<S: Real>(x: &[S]) -> S {               // an unnormalised log-density
//!     let (a, b) = (x[0], x[1]);
//!     -(a * a) * 0.5 - (b - a * a).powi(2) * 0.5
//! }
//! let x = [0.3, -1.2];
//! let s = grad(|x| banana(x), &x);                  // the score ∇ log p
//! let (lp, _) = value_and_grad(|x| banana(x), &x);
//! let lap = laplacian(|x| banana(x), &x);           // tr ∇² log p, exact
//! let plain: f64 = banana(&x);                      // same code, no tape
//! assert_eq!(lp, plain);
//! let h = hessian(|x| banana(x), &x);
//! assert!((lap - (h[0][0] + h[1][1])).abs() < 1e-12);
//! # let _ = s;
//! ```
//!
//! ## Any order
//! Every op's backward rule is written in the same differentiable ops, so a gradient recorded with
//! [`Tape::grad_graph`] is itself a function on the tape:
//! ```
//! use stein_autodiff::prelude::*; // the types and the number traits (x.sin() on a concrete Var)
//! let tape = Tape::new();
//! let x = tape.var(0.5);
//! let y = x.sin();
//! let d1 = tape.grad_graph(y, &[x])[0];   //  cos x
//! let d2 = tape.grad_graph(d1, &[x])[0];  // −sin x
//! let d3 = tape.grad(d2, &[x])[0];        // −cos x
//! assert!((d3 + 0.5f64.cos()).abs() < 1e-15);
//! ```
//!
//! ## Tensors on the same tape
//! ```
//! use stein_autodiff::{Tape, Tensor};
//! let tape = Tape::new();
//! let x = tape.tensor(&Tensor::new(3, 2, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap());
//! let w = tape.tensor_const(&Tensor::full(2, 4, 0.5));
//! let energy = x.matmul(w).softplus().sum();              // E(x), summed over the batch
//! let score = -tape.grad_graph_tensors(energy, &[x])[0];  // −∇ₓE, still on the tape
//! assert_eq!(score.shape(), (3, 2));
//! ```
//!
//! ## What is here
//! - [`prelude`]: `use stein_autodiff::prelude::*;` for the types, the functional API and the number traits.
//! - [`Real`]: the number trait (`f64` and [`Var`]); [`Var`], [`TVar`], [`Tensor`], [`Tape`].
//! - Functional API: [`grad`], [`value_and_grad`], [`jacobian`], [`vjp`], [`jvp`], [`hvp`], [`hessian`],
//!   [`laplacian`], [`divergence`], and checked `try_` variants returning [`AdError`].
//! - Tape API: [`Tape::grad`], [`Tape::grad_graph`], [`Tape::grad_tensors`], [`Tape::grad_graph_tensors`],
//!   [`Tape::clear`], [`Tape::mark`] / [`Tape::truncate`].
//! - Compiled gradients: [`compile()`] (trace once, replay value and gradient, guarded) and [`Jit`] (traces
//!   kept per function, traced again on another branch, the tape when a function cannot be traced).
//! - Checks: [`gradcheck`], [`hesscheck`], [`gradgradcheck`], [`check_orders`] (any order, as Stan's
//!   `expect_ad`) with [`CheckOptions`], [`central_differences`].
//! - [`special`]: the special functions behind [`Real`] (sigmoid, softplus, digamma, polygamma, …).
//!
//! ## Panics
//! Tensor shape mismatches and mixing variables of two tapes are programmer errors: they panic with both
//! shapes (or the reason) in the message. Everything input data can trigger is reported through
//! [`AdError`] by the `try_` functions; the plain ones let NaN and ∞ propagate as IEEE values.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod backward;
pub mod compile;
mod error;
mod functional;
mod gradcheck;
mod ops;
mod real;
pub mod special;
mod tape;
mod tensor;
mod trace;
mod var;

pub use compile::{
    compile, compile_tensor, Compiled, CompiledTensor, Jit, JitStats, TensorWorkspace, TraceError,
    Workspace,
};
pub use error::AdError;
pub use functional::{
    divergence, grad, hessian, hvp, jacobian, jvp, laplacian, on_pool, try_divergence, try_grad,
    try_hessian, try_hvp, try_jacobian, try_laplacian, try_value_and_grad, try_vjp, value_and_grad,
    vjp, with_tape,
};
pub use gradcheck::{
    central_differences, check_orders, gradcheck, gradgradcheck, hesscheck, CheckOptions,
    GradCheck, HessCheck,
};
pub use real::Real;
pub use tape::{Mark, Tape};
pub use tensor::{Kept, TVar, Tensor, MAX_TENSOR_ENTRIES};
pub use var::Var;

/// Everything a user file needs: `use stein_autodiff::prelude::*;` brings the types and the number traits
/// (`Real`, and `num_traits::Float`/`FloatConst`, whose methods `x.sin()`, `x.exp()`, … are then callable on a
/// concrete [`Var`]).
pub mod prelude {
    pub use crate::{
        divergence, grad, gradcheck, hessian, hvp, jacobian, jvp, laplacian, value_and_grad, vjp,
        Real, TVar, Tape, Tensor, Var,
    };
    pub use num_traits::{Float, FloatConst};
}
