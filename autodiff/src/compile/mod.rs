//! Compiled gradients: record a scalar function once, replay its value and gradient for new inputs.
//!
//! A sampler calls the same log-density millions of times. [`compile`] records it once on a tape (a
//! *trace*), keeps what the output needs, folds single-use intermediate results into their consumer
//! (vertex elimination: the backward pass touches one adjoint per group of up to four edges instead of one
//! per node) and returns a [`Compiled`] program that computes f(x) and ∇f(x) for any x without recording.
//! [`Jit`] manages traces for you: it traces on first use, traces again when the function takes another
//! branch, and falls back to the tape when a function cannot be traced.
//!
//! ```
//! use stein_autodiff::{compile, grad, Jit, Real, Workspace};
//!
//! fn log_p<S: Real>(x: &[S]) -> S {
//!     let r = x[0] * x[0] + x[1] * x[1];
//!     if r > S::cst(1.0) { -r.sqrt() } else { -r * 0.5 - 0.5 } // a branch on the input: guarded
//! }
//! let traced = compile(|x| log_p(x), &[0.3, 0.4]).unwrap();
//! let (mut g, mut ws) = (vec![0.0; 2], Workspace::default());
//! // the same branch: the replay answers, equal to the tape
//! let v = traced.value_grad(&[0.1, -0.2], &mut g, &mut ws).unwrap();
//! assert_eq!(v, log_p(&[0.1, -0.2]));
//! assert!((g[0] - grad(|x| log_p(x), &[0.1, -0.2])[0]).abs() < 1e-15);
//! // the other branch: the guard refuses the replay instead of differentiating the wrong code
//! assert!(traced.value_grad(&[3.0, 0.0], &mut g, &mut ws).is_none());
//!
//! // Jit traces again when a guard fails, and is never wrong
//! let jit = Jit::new(|x| log_p(x));
//! assert_eq!(jit.value_grad(&[3.0, 0.0], &mut g), -3.0);
//! assert_eq!(g, vec![-1.0, 0.0]);
//! ```
//!
//! # The contract (as `jax.jit` states its own)
//! - **f runs once per trace**, on tape variables; side effects happen at trace time only. Whatever f reads
//!   from its environment (data, parameters) is a constant of the trace: a [`Jit`] for changed data is a
//!   new `Jit`.
//! - **Branches on inputs are guarded.** Every decision f takes on a variable — `<`, `<=`, `==`,
//!   `partial_cmp`, `is_nan` and the other predicates, `floor`/`round`/`signum`/`abs_sub`, the shift of
//!   [`Real::logsumexp`](crate::Real::logsumexp) — is kept with its outcome; a replay whose decisions differ
//!   returns `None` ([`Compiled`]) or is traced again ([`Jit`]). `max`, `min`, `abs` and `%` are operations,
//!   not branches: they replay for any input.
//! - **Raw reads are refused.** A trace in which f read a number out of a variable (`value()`, `to_f64`,
//!   `integer_decode`, or a gradient recorded inside f whose rule branches) cannot be replayed: what f did
//!   with the number is invisible. [`compile`] returns [`TraceError::ValueRead`]; [`Jit`] then uses the tape
//!   for every call. Compare variables instead of reading them.
//! - **Scalar code only**: tensor operations give [`TraceError::Unsupported`] (functions of one tensor
//!   compile with [`compile_tensor`]). Variables f makes on the tape itself are constants of the trace.
//! - **Numbers**: the value is bit-identical to the tape's (the same `f64` functions, `mul_add` fused as on
//!   the tape). The gradient equals the tape's to rounding: folded partials are multiplied in another order
//!   (tested to 1e-13 relative on random inputs). First order only: higher orders stay on the tape.

mod build;
mod dense;
mod jit;
mod program;
mod schedule;
pub mod tensor;

pub use jit::{Jit, JitStats, MAX_TRACES};
pub use program::Workspace;
pub use tensor::{compile_tensor, CompiledTensor, TensorWorkspace};

use crate::functional::with_tape;
use crate::trace::Operand;
use crate::var::Var;
use program::Program;

/// Why a function cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// The function read raw values out of variables.
    #[error(
        "the function read {reads} raw value(s) out of variables (value(), to_f64, ...): a replay cannot \
         see what it did with them; compare variables instead (x < y), which the trace keeps as guards"
    )]
    ValueRead {
        /// How many reads.
        reads: u32,
    },
    /// The function used something a trace does not replay.
    #[error("a trace cannot replay {what}")]
    Unsupported {
        /// What.
        what: &'static str,
    },
    /// The function returned a variable of another tape.
    #[error("the function returned a variable that is not on its trace's tape")]
    ForeignOutput,
}

/// A traced function: value and gradient for new inputs, while the trace's guards hold.
#[derive(Clone, Debug)]
pub struct Compiled {
    prog: Program,
}

/// Trace `f` at `x` and compile it (see the [module docs](self) for the contract).
///
/// # Errors
/// [`TraceError`] when `f` read raw values, used tensor operations or returned a foreign variable.
pub fn compile<F>(f: F, x: &[f64]) -> Result<Compiled, TraceError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        t.begin_trace();
        let xs = t.vars(x);
        let y = f(&xs);
        let log = t.end_trace();
        let root = match y.tape {
            None => Operand::Const(y.val),
            Some(u) if std::ptr::eq(u, t) => Operand::Node(y.idx),
            Some(_) => return Err(TraceError::ForeignOutput),
        };
        let inputs: Vec<u32> = xs.iter().map(|v| v.idx).collect();
        let prog = t.with(|inner| build::build(&inner.nodes, &inner.lin, log, &inputs, root))?;
        Ok(Compiled { prog })
    })
}

impl Compiled {
    /// Number of inputs.
    pub fn dim(&self) -> usize {
        self.prog.n_in
    }

    /// Instructions of the program (after dead-code removal; folded nodes included).
    pub fn len(&self) -> usize {
        self.prog.ins.len()
    }

    /// True for a program with no instruction (f returned an input or a constant).
    pub fn is_empty(&self) -> bool {
        self.prog.ins.is_empty()
    }

    /// Edges of the backward pass (one per adjoint update).
    pub fn edges(&self) -> usize {
        self.prog.edges.len()
    }

    /// Decisions the replay checks.
    pub fn guards(&self) -> usize {
        self.prog.guards.len()
    }

    /// f(x), with ∇f(x) written into `grad`; `None` when a guard fails (f would take another branch at `x`;
    /// `grad` is then unspecified). `ws` is scratch memory, reused across calls.
    ///
    /// # Panics
    /// When `x` or `grad` does not have [`Compiled::dim`] entries (a programmer error; both lengths named).
    pub fn value_grad(&self, x: &[f64], grad: &mut [f64], ws: &mut Workspace) -> Option<f64> {
        assert!(
            x.len() == self.prog.n_in && grad.len() == self.prog.n_in,
            "Compiled::value_grad: the trace has {} inputs; x has {}, grad has {}",
            self.prog.n_in,
            x.len(),
            grad.len()
        );
        self.prog.value_grad(x, grad, ws)
    }
}
