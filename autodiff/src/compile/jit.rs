//! [`Jit`]: traces kept per function, shared by threads, each thread replaying with its own scratch memory.

use super::program::{Program, Workspace};
use super::{compile, TraceError};
use crate::functional::with_tape;
use crate::var::Var;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Most traces one [`Jit`] keeps; a function with more branch patterns than this runs on the tape for the
/// inputs no trace fits.
pub const MAX_TRACES: usize = 8;

/// Per-thread entries kept (one per [`Jit`] in use on the thread; the oldest goes first).
const LOCAL_ENTRIES: usize = 16;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

struct Local {
    id: u64,
    seen: usize,
    programs: Vec<Arc<Program>>,
    ws: Workspace,
}

thread_local! {
    static LOCAL: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Shared {
    programs: Vec<Arc<Program>>,
    error: Option<TraceError>,
}

/// How a [`Jit`] has been answering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Traces recorded.
    pub traces: u64,
    /// Calls no kept trace fitted (their guards failed).
    pub misses: u64,
    /// Calls answered by the tape (no trace possible, or [`MAX_TRACES`] reached).
    pub tape_calls: u64,
}

/// A function compiled on first use: value and gradient by replaying a trace when one fits the input, by
/// tracing again when none does (up to [`MAX_TRACES`]), and by the tape otherwise. Always the tape's answer
/// (to rounding, see [`compile`](super) for the contract); never a replay of the wrong branch.
///
/// `Jit` is `Sync`: threads share its traces and replay them with their own scratch memory.
///
/// ```
/// use stein_autodiff::{Jit, Real};
/// fn rosenbrock<S: Real>(x: &[S]) -> S {
///     x.windows(2).map(|w| (w[1] - w[0] * w[0]).powi(2) * 100.0 + w[0].rsub(1.0).powi(2)).sum()
/// }
/// let jit = Jit::new(|x| rosenbrock(x));
/// let mut g = vec![0.0; 3];
/// let v = jit.value_grad(&[1.0, 1.0, 1.0], &mut g); // the minimum
/// assert_eq!((v, g.clone()), (0.0, vec![0.0, 0.0, 0.0]));
/// jit.value_grad(&[0.5, 0.2, -0.1], &mut g);        // a replay
/// assert_eq!(jit.stats().traces, 1);
/// assert!(jit.error().is_none());
/// ```
pub struct Jit<F> {
    f: F,
    id: u64,
    version: AtomicUsize,
    shared: Mutex<Shared>,
    traces: AtomicU64,
    misses: AtomicU64,
    tape_calls: AtomicU64,
}

impl<F> std::fmt::Debug for Jit<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit")
            .field("stats", &self.stats())
            .field("error", &self.error())
            .finish()
    }
}

impl<F> Jit<F> {
    /// The error that keeps this function on the tape, if tracing failed.
    pub fn error(&self) -> Option<TraceError> {
        self.shared.lock().map(|s| s.error.clone()).unwrap_or(None)
    }

    /// Counts of traces, misses and tape calls so far.
    pub fn stats(&self) -> JitStats {
        JitStats {
            traces: self.traces.load(Relaxed),
            misses: self.misses.load(Relaxed),
            tape_calls: self.tape_calls.load(Relaxed),
        }
    }
}

impl<F> Jit<F>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t> + Sync,
{
    /// A function to compile on first use.
    pub fn new(f: F) -> Self {
        Jit {
            f,
            id: NEXT_ID.fetch_add(1, Relaxed),
            version: AtomicUsize::new(0),
            shared: Mutex::new(Shared::default()),
            traces: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            tape_calls: AtomicU64::new(0),
        }
    }

    /// f(x), with ∇f(x) written into `grad`.
    ///
    /// # Panics
    /// When `grad` and `x` differ in length, or a trace's input count differs from `x`'s (a programmer error:
    /// one `Jit` serves one dimension).
    pub fn value_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        assert_eq!(
            x.len(),
            grad.len(),
            "Jit::value_grad: x has {} entries, grad has {}",
            x.len(),
            grad.len()
        );
        let hit = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let k = self.local(&mut l);
            let e = &mut l[k];
            for (j, p) in e.programs.iter().enumerate() {
                assert_eq!(
                    p.n_in,
                    x.len(),
                    "Jit::value_grad: traced with {} inputs, called with {}",
                    p.n_in,
                    x.len()
                );
                if let Some(v) = p.value_grad(x, grad, &mut e.ws) {
                    if j > 0 {
                        e.programs.swap(0, j); // the branch taken last is tried first
                    }
                    return Some(v);
                }
            }
            if !e.programs.is_empty() {
                self.misses.fetch_add(1, Relaxed);
            }
            None
        });
        if let Some(v) = hit {
            return v;
        }
        self.trace_or_tape(x, grad)
    }

    /// This thread's entry for this `Jit`, refreshed when another thread added a trace.
    fn local(&self, l: &mut Vec<Local>) -> usize {
        let k = match l.iter().position(|e| e.id == self.id) {
            Some(k) => k,
            None => {
                if l.len() == LOCAL_ENTRIES {
                    l.remove(0);
                }
                l.push(Local {
                    id: self.id,
                    seen: usize::MAX,
                    programs: Vec::new(),
                    ws: Workspace::default(),
                });
                l.len() - 1
            }
        };
        let v = self.version.load(Relaxed);
        if l[k].seen != v {
            if let Ok(s) = self.shared.lock() {
                l[k].programs = s.programs.clone();
            }
            l[k].seen = v;
        }
        k
    }

    fn trace_or_tape(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let traced = {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            if s.error.is_some() || s.programs.len() >= MAX_TRACES {
                None
            } else {
                match compile(&self.f, x) {
                    Ok(c) => {
                        let p = Arc::new(c.prog);
                        s.programs.push(p.clone());
                        self.traces.fetch_add(1, Relaxed);
                        self.version.fetch_add(1, Relaxed);
                        Some(p)
                    }
                    Err(e) => {
                        s.error = Some(e);
                        self.version.fetch_add(1, Relaxed);
                        None
                    }
                }
            }
        };
        if let Some(p) = traced {
            let v = LOCAL.with(|l| {
                let mut l = l.borrow_mut();
                let k = self.local(&mut l);
                p.value_grad(x, grad, &mut l[k].ws)
            });
            // a trace's own guards hold at the point it was traced
            if let Some(v) = v {
                return v;
            }
        }
        self.tape_calls.fetch_add(1, Relaxed);
        with_tape(|t| {
            let xs = t.vars(x);
            let y = (self.f)(&xs);
            t.grad_into(y, &xs, grad);
            y.val
        })
    }
}
