//! The backward rules of the tensor ops (and of the scalar nodes that read a tensor), written in the tensor
//! ops themselves so the recorded sweep can differentiate them again; the fast sweep fuses the elementwise
//! ones with their accumulation (ops/accumulate.rs).

use crate::backward::Adjoint;
use crate::ops::accumulate;
use crate::ops::kernels as k;
use crate::ops::tensor::TOp;
use crate::ops::unary::{self, UnOp};
use crate::real::Elem;
use crate::tape::{Node, Op, Tape, NONE};
use crate::tensor::TVar;

/// Backward rule of tensor node `me` (op `op`) given its adjoint `g`: accumulate into the parents.
pub(crate) fn vjp<'t, S: Adjoint<'t>>(
    tape: &'t Tape,
    op: TOp,
    n: Node,
    me: TVar<'t>,
    g: TVar<'t>,
    adj: &mut [S],
    tadj: &mut [u32],
) {
    let pa = || tape.tvar_at(n.a);
    let pb = || tape.tvar_at(n.b);
    // a constant input (data placed with `tensor_const`) takes no adjoint: skip computing it
    let live = |p: TVar<'t>| !matches!(tape.node(p.idx).op, crate::tape::Op::T(TOp::Const));
    let m = me.meta();
    match op {
        TOp::Leaf | TOp::Const => {}
        TOp::Un(u) => {
            let x = pa();
            if accumulate::unary_rule(tape, tadj, u, m.c, x, me, g) {
                return;
            }
            if let Some(d) = unary::vjp(u, x, me, g, m.c) {
                accumulate_tensor(tape, tadj, x, d)
            }
        }
        TOp::Mul if n.a == n.b => {
            // a ⊙ a: one product and one accumulation, 2(g ⊙ a) — the same bits as g⊙a + g⊙a (doubling is
            // exact), at half the passes
            let a = pa();
            if live(a) && !accumulate::fused(tape, tadj, a, g, a, |g, a| g * a * 2.0) {
                accumulate_tensor(tape, tadj, a, (g * a * 2.0).sum_to(a.rows(), a.cols()));
            }
        }
        TOp::Add | TOp::Sub | TOp::Mul | TOp::Div => {
            let (a, b) = (pa(), pb());
            // the fast sweep adds a rule's result into an adjoint in the same pass (ops/accumulate.rs)
            let fa = live(a)
                && match op {
                    TOp::Mul => accumulate::fused(tape, tadj, a, g, b, |g, b| g * b),
                    TOp::Div => accumulate::fused(tape, tadj, a, g, b, |g, b| g / b),
                    _ => false,
                };
            if live(a) && !fa {
                let da = match op {
                    TOp::Add | TOp::Sub => g,
                    TOp::Mul => g * b,
                    _ => g / b,
                };
                accumulate_tensor(tape, tadj, a, da.sum_to(a.rows(), a.cols()));
            }
            let fb = live(b)
                && match op {
                    TOp::Sub => accumulate::fused(tape, tadj, b, g, g, |g, _| -g),
                    TOp::Mul => accumulate::fused(tape, tadj, b, g, a, |g, a| g * a),
                    _ => false,
                };
            if live(b) && !fb {
                let db = match op {
                    TOp::Add => g,
                    TOp::Sub => -g,
                    TOp::Mul => g * a,
                    _ => -(g * me / b), // ∂(a/b)/∂b = −(a/b)/b
                };
                accumulate_tensor(tape, tadj, b, db.sum_to(b.rows(), b.cols()));
            }
        }
        TOp::MatMul => {
            let (a, b) = (pa(), pb());
            let (ta, tb) = (m.p[0] != 0, m.p[1] != 0);
            // C = op(A) op(B); e.g. for C = A B: dA = G Bᵀ, dB = Aᵀ G.
            if live(a) {
                accumulate_tensor(
                    tape,
                    tadj,
                    a,
                    match (ta, tb) {
                        (false, false) => g.matmul_t(b, false, true),
                        (true, false) => b.matmul_t(g, false, true),
                        (false, true) => g.matmul_t(b, false, false),
                        (true, true) => b.matmul_t(g, true, true),
                    },
                );
            }
            if live(b) {
                accumulate_tensor(
                    tape,
                    tadj,
                    b,
                    match (ta, tb) {
                        (false, false) => a.matmul_t(g, true, false),
                        (true, false) => a.matmul_t(g, false, false),
                        (false, true) => g.matmul_t(a, true, false),
                        (true, true) => g.matmul_t(a, true, true),
                    },
                );
            }
        }
        // d softplus(x)/dx = σ(x), kept as parent b (itself differentiable: higher orders go through it)
        TOp::SoftplusCached => accumulate_tensor(tape, tadj, pa(), g * pb()),
        TOp::SiluCached => {
            let (x, s) = (pa(), pb());
            let d = if tape.with(|t| t.no_record) {
                // the same operations in the same order as the recorded form below: the same bits
                let (mg, mx, ms) = (g.meta(), x.meta(), s.meta());
                let (r, c) = x.shape();
                tape.push_tensor(TOp::Const, NONE, NONE, r, c, [0; 2], 0.0, |old, _, out| {
                    k::zip3(
                        &old[mg.range()],
                        &old[mx.range()],
                        &old[ms.range()],
                        out,
                        silu_rule,
                    )
                })
            } else {
                g * s * (x * s.un(UnOp::CSub, 1.0) + 1.0)
            };
            accumulate_tensor(tape, tadj, x, d)
        }
        TOp::Transpose => accumulate_tensor(tape, tadj, pa(), g.t()),
        TOp::Reshape => {
            let a = pa();
            accumulate_tensor(tape, tadj, a, g.reshape(a.rows(), a.cols()))
        }
        TOp::SumTo => {
            let a = pa();
            accumulate_tensor(tape, tadj, a, g.broadcast_to(a.rows(), a.cols()))
        }
        TOp::BroadcastTo => {
            let a = pa();
            accumulate_tensor(tape, tadj, a, g.sum_to(a.rows(), a.cols()))
        }
        TOp::Slice => {
            let a = pa();
            let (axis, start) = (m.p[0] as usize, m.p[1] as usize);
            if !accumulate::placed(tape, tadj, a, g, axis, start) {
                let total = if axis == 0 { a.rows() } else { a.cols() };
                accumulate_tensor(tape, tadj, a, g.pad(axis, start, total))
            }
        }
        TOp::Pad => {
            let a = pa();
            let axis = m.p[0] as usize;
            let len = if axis == 0 { a.rows() } else { a.cols() };
            accumulate_tensor(tape, tadj, a, g.slice(axis, m.p[1] as usize, len))
        }
        TOp::Concat => {
            let (a, b) = (pa(), pb());
            let axis = m.p[0] as usize;
            let (la, lb) = if axis == 0 {
                (a.rows(), b.rows())
            } else {
                (a.cols(), b.cols())
            };
            accumulate_tensor(tape, tadj, a, g.slice(axis, 0, la));
            accumulate_tensor(tape, tadj, b, g.slice(axis, la, lb));
        }
        TOp::Gather => {
            let a = pa();
            accumulate_tensor(
                tape,
                tadj,
                a,
                g.scatter_raw(m.p[0], m.p[1] as usize, a.cols()),
            )
        }
        TOp::Scatter => accumulate_tensor(tape, tadj, pa(), g.gather_raw(m.p[0], m.p[1] as usize)),
        TOp::Fill => {
            let d = S::sum_of(g);
            S::accumulate(&mut adj[n.a as usize], d);
        }
    }
}

/// SiLU's backward rule from its kept σ: g σ (1 + x (1 − σ)), for the sweep that does not record and for
/// compiled tensor functions (the recorded sweep writes the same operations in tensor ops, above).
#[inline(always)]
pub(crate) fn silu_rule(g: f64, x: f64, s: f64) -> f64 {
    g * s * (x * (1.0 - s) + 1.0)
}

/// Backward rules of the scalar nodes that read a tensor (`TSum`, `TGet`): the tensor adjoint of the parent.
pub(crate) fn bridge_vjp<'t, S: Adjoint<'t>>(tape: &'t Tape, n: Node, g: S, tadj: &mut [u32]) {
    let a = tape.tvar_at(n.a);
    let d = match n.op {
        Op::TSum => g.fill(tape, a.rows(), a.cols()),
        Op::TGet => {
            let (i, j) = (n.b as usize / a.cols(), n.b as usize % a.cols());
            g.fill(tape, 1, 1).pad(1, j, a.cols()).pad(0, i, a.rows())
        }
        _ => unreachable!("bridge_vjp on {:?}", n.op),
    };
    accumulate_tensor(tape, tadj, a, d);
}

/// `tadj[p] += d`, where `tadj` holds the node index of each tensor slot's adjoint (or `NONE`).
fn accumulate_tensor<'t>(tape: &'t Tape, tadj: &mut [u32], p: TVar<'t>, d: TVar<'t>) {
    let s = &mut tadj[p.slot as usize];
    *s = if *s == NONE {
        d.idx
    } else {
        (tape.tvar_at(*s) + d).idx
    };
}
