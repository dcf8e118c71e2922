//! A log-density written with tensor ops over fixed data — a regression, a likelihood of many rows — as a
//! sampling [`Target`]. The data go on a tape once per thread and stay there (a mark is taken after them);
//! each evaluation rewinds to the mark and records only what depends on θ. A logistic regression on 1,000 rows
//! spent a tenth of each gradient copying its design matrix onto a fresh tape.
//!
//! A density built from elementwise ops, slices, broadcasts and sums only (no matrix product) is compiled
//! when it is made ([`compile_tensor`](stein_autodiff::compile_tensor): its elementwise work fused into
//! blocks that stay in cache) and evaluated without a tape: the same log p to the bit, its gradient to
//! rounding. [`TensorDensity::compiled`] says which way a density runs.
//!
//! ```
//! use stein_autodiff::Tensor;
//! use stein_models::sample::{sample, Config, TensorDensity};
//!
//! // y ~ N(X β, 1) with X fixed, prior β ~ N(0, 10² I)
//! let x = Tensor::from_fn(200, 2, |i, j| if j == 0 { 1.0 } else { (i as f64 * 0.1).sin() });
//! let y = Tensor::from_fn(200, 1, |i, _| 0.5 + 2.0 * (i as f64 * 0.1).sin());
//! let post = TensorDensity::new(2, vec![x, y], |beta, d| {
//!     let r = d[0].matmul(beta) - d[1];
//!     -(r.dot(r) * 0.5) - beta.dot(beta) * 0.005
//! });
//! let draws = sample(&post, &Config::default().warmup(300).draws(300)).unwrap();
//! let m = draws.mean();
//! assert!((m[0] - 0.5).abs() < 0.05 && (m[1] - 2.0).abs() < 0.05);
//! ```

use super::target::Target;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use stein_autodiff::{
    compile_tensor, CompiledTensor, Kept, Mark, TVar, Tape, Tensor, TensorWorkspace, TraceError,
    Var,
};

/// A log-density `f(θ, data)` with θ a `dim × 1` tensor and the data fixed tensors (see the module docs).
pub struct TensorDensity<F> {
    dim: usize,
    data: Vec<Tensor>,
    f: F,
    id: u64,
    /// The compiled density, or why it runs on the tape.
    compiled: Result<CompiledTensor, TraceError>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The tape of the density last evaluated on this thread, with its data in place.
struct Cached {
    id: u64,
    tape: Tape,
    data: Vec<Kept>,
    mark: Mark,
    theta: Tensor,
    grad: Tensor,
    ws: TensorWorkspace,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

impl<F> TensorDensity<F>
where
    F: for<'t> Fn(TVar<'t>, &[TVar<'t>]) -> Var<'t> + Sync,
{
    /// log p(θ) = `f(θ, data)` for θ of dimension `dim`; `f` runs once here, to compile it (a density that
    /// cannot be compiled runs on the tape).
    pub fn new(dim: usize, data: Vec<Tensor>, f: F) -> Self {
        let compiled = compile_tensor(
            |theta| {
                let t = theta.tape();
                let d: Vec<TVar> = data.iter().map(|x| t.tensor_const(x)).collect();
                f(theta, &d)
            },
            &Tensor::zeros(dim, 1),
        );
        TensorDensity {
            dim,
            data,
            f,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            compiled,
        }
    }

    /// `Ok(())` when the density is evaluated compiled, else why it runs on the tape (a matrix product, a
    /// comparison, ...: see [`compile_tensor`](stein_autodiff::compile_tensor)).
    pub fn compiled(&self) -> Result<(), &TraceError> {
        self.compiled.as_ref().map(|_| ())
    }

    /// log p and its gradient, compiled or on `c`'s tape (data already there).
    fn run(&self, c: &mut Cached, x: &[f64], score: &mut [f64]) -> f64 {
        c.theta.data_mut().copy_from_slice(x);
        if let Ok(p) = &self.compiled {
            let lp = p.value_grad(&c.theta, &mut c.grad, &mut c.ws);
            score.copy_from_slice(c.grad.data());
            return lp;
        }
        c.tape.truncate(c.mark);
        let t = &c.tape;
        let theta = t.tensor(&c.theta);
        let data: Vec<TVar> = c.data.iter().map(|k| t.kept(*k)).collect();
        let lp = (self.f)(theta, &data);
        t.grad_tensors_into(lp, &[theta], std::slice::from_mut(&mut c.grad));
        score.copy_from_slice(c.grad.data());
        lp.value()
    }

    fn fresh(&self) -> Cached {
        let tape = Tape::new();
        // a compiled density keeps its data in its program
        let on_tape = if self.compiled.is_ok() {
            &[][..]
        } else {
            &self.data[..]
        };
        let data = on_tape
            .iter()
            .map(|d| tape.tensor_const(d).keep())
            .collect();
        let mark = tape.mark();
        Cached {
            id: self.id,
            tape,
            data,
            mark,
            theta: Tensor::zeros(self.dim, 1),
            grad: Tensor::zeros(self.dim, 1),
            ws: TensorWorkspace::default(),
        }
    }
}

impl<F> Target for TensorDensity<F>
where
    F: for<'t> Fn(TVar<'t>, &[TVar<'t>]) -> Var<'t> + Sync,
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                if slot.as_ref().is_none_or(|c| c.id != self.id) {
                    *slot = Some(self.fresh());
                }
                Some(self.run(slot.as_mut().expect("just filled"), x, score))
            }
            // evaluated from inside another density's `f`: a tape of its own
            Err(_) => Some(self.run(&mut self.fresh(), x, score)),
        })
    }
    fn has_log_density(&self) -> bool {
        true
    }
}
