//! The first-order sweep's fused accumulations. When nothing is recorded (`grad`, `grad_tensors`: the
//! backward rules run eagerly), an elementwise rule and the addition of its result into the parent's adjoint
//! run as one pass: adj[p] ← adj[p] + f(x, y), instead of one pass writing f into a temporary and another
//! adding it. The same operations in the same order as the general path (`vjp` in `ops/tensor_vjp.rs`, then
//! `accumulate_tensor`), so the same bits — tests/tensor_ops.rs compares the two sweeps bit for bit.

use crate::ops::kernels as k;
use crate::ops::tensor::TOp;
use crate::ops::unary::{self, UnOp};
use crate::tape::{Tape, NONE};
use crate::tensor::TVar;

/// adj[p] ← adj[p] + f(x, y) elementwise (or f(x, y) when p has no adjoint yet) in one pass. `false` when the
/// sweep records (its rules must stay differentiable) or a shape differs from p's (a broadcast rule): the
/// caller takes the general path.
pub(crate) fn fused<'t>(
    tape: &'t Tape,
    tadj: &mut [u32],
    p: TVar<'t>,
    x: TVar<'t>,
    y: TVar<'t>,
    f: impl Fn(f64, f64) -> f64 + Sync,
) -> bool {
    let shape = p.shape();
    if !tape.with(|t| t.no_record) || x.shape() != shape || y.shape() != shape {
        return false;
    }
    let (mx, my) = (tape.meta(x.slot), tape.meta(y.slot));
    let (r, c) = shape;
    let slot = &mut tadj[p.slot as usize];
    let d = if *slot == NONE {
        tape.push_tensor(TOp::Const, NONE, NONE, r, c, [0; 2], 0.0, |old, _, out| {
            k::zip_broadcast(
                &old[mx.range()],
                shape,
                &old[my.range()],
                shape,
                out,
                shape,
                &f,
            )
        })
    } else {
        let me = tape.meta(tape.tvar_at(*slot).slot);
        tape.push_tensor(TOp::Const, NONE, NONE, r, c, [0; 2], 0.0, |old, _, out| {
            k::zip3(
                &old[me.range()],
                &old[mx.range()],
                &old[my.range()],
                out,
                |e, a, b| e + f(a, b),
            )
        })
    };
    *slot = d.idx;
    true
}

/// Which value besides g an elementwise backward rule reads (x, y = op(x), or nothing more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    G,
    X,
    Y,
}

/// The backward rules of the elementwise ops that read only g and one of x, y = op(x), as closures
/// `rule(g, v)` the compiler can vectorise: evaluates `$body` with `$reads` (a [`Reads`]) and `$f` bound for
/// `op` (constant `c`), or `$other` when `op` is not one of them. Each closure is the rule of `unary::vjp`
/// written with the same operations in the same order; tests/tensor_ops.rs holds them to its bits. (Calling
/// `unary::vjp` at f64 inside the loop instead — one place for each rule — kept the loop from vectorising:
/// an ISM step 2.4–2.9 → 2.9–3.2 ms, alternated.) Used by the fast sweep ([`unary_rule`]) and by compiled
/// tensor functions.
macro_rules! unary_rules {
    ($op:expr, $c:expr, |$reads:ident, $f:ident| $body:expr, $other:expr) => {{
        use $crate::ops::accumulate::Reads;
        use $crate::ops::unary::UnOp::*;
        let c: f64 = $c;
        match $op {
            Neg | CSub => {
                let ($reads, $f) = (Reads::G, |g: f64, _: f64| -g);
                $body
            }
            MulC => {
                let ($reads, $f) = (Reads::G, move |g: f64, _: f64| g * c);
                $body
            }
            DivC => {
                let ($reads, $f) = (Reads::G, move |g: f64, _: f64| g / c);
                $body
            }
            Exp => {
                let ($reads, $f) = (Reads::Y, |g: f64, y: f64| g * y);
                $body
            }
            Sigmoid => {
                let ($reads, $f) = (Reads::Y, |g: f64, y: f64| g * y * (1.0 - y));
                $body
            }
            Tanh => {
                let ($reads, $f) = (Reads::Y, |g: f64, y: f64| g * (1.0 - y * y));
                $body
            }
            // x²'s rule g · x¹ · 2 (powi(x, 1) is x)
            Powi if c == 2.0 => {
                let ($reads, $f) = (Reads::X, |g: f64, x: f64| g * x * 2.0);
                $body
            }
            _ => $other,
        }
    }};
}
pub(crate) use unary_rules;

/// The fused form of the backward rules of [`unary_rules`]: adj[x] += rule(g, ·) in one pass. `false`: not
/// one of them, or not fusable here (see [`fused`]).
pub(crate) fn unary_rule<'t>(
    tape: &'t Tape,
    tadj: &mut [u32],
    op: UnOp,
    c: f64,
    x: TVar<'t>,
    y: TVar<'t>,
    g: TVar<'t>,
) -> bool {
    unary_rules!(
        op,
        c,
        |reads, f| {
            let v = match reads {
                Reads::G => g,
                Reads::X => x,
                Reads::Y => y,
            };
            fused(tape, tadj, x, g, v, f)
        },
        false
    )
}

/// adj[p] ← adj[p] + pad(g), for the block `g` of p at `start` along `axis`, in one pass (copying adj[p],
/// adding g into its block) instead of zeros, a copy of g and a full addition. `false` when the sweep records
/// or p has no adjoint yet (then the padded g itself is the adjoint).
pub(crate) fn placed<'t>(
    tape: &'t Tape,
    tadj: &mut [u32],
    p: TVar<'t>,
    g: TVar<'t>,
    axis: usize,
    start: usize,
) -> bool {
    let slot = &mut tadj[p.slot as usize];
    if *slot == NONE || !tape.with(|t| t.no_record) {
        return false;
    }
    let (me, mg) = (tape.meta(tape.tvar_at(*slot).slot), tape.meta(g.slot));
    let ((r, c), (gr, gc)) = (p.shape(), g.shape());
    let d = tape.push_tensor(TOp::Const, NONE, NONE, r, c, [0; 2], 0.0, |old, _, out| {
        // e + 0 outside the block, as the sum with zeros gives (−0 + 0 is +0), and e + g inside
        let (e, g) = (&old[me.range()], &old[mg.range()]);
        let total = if axis == 0 { r } else { c };
        k::block_runs((gr, gc), axis, start, total, |run, from| {
            let (o, e) = (&mut out[run.clone()], &e[run.clone()]);
            match from {
                Some(at) => {
                    let g = &g[at..at + run.len()];
                    let n = (1, run.len());
                    k::zip_broadcast(e, n, g, n, o, n, |e, v| e + v)
                }
                None => unary::eval_slice(UnOp::AddC, 0.0, e, o),
            }
        });
    });
    *slot = d.idx;
    true
}
