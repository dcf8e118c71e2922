//! Dense runs: a run whose instructions read operands at consecutive slots (a loop over a vector in the
//! traced code: `x[i + 1] − x[i]²` for every i) computes with slice loops the compiler vectorises, and its
//! edges are laid out one operand at a time so the backward pass is a slice loop too.
//!
//! A run is dense when it is plain (every operand has an edge), of a kind below, at least [`MIN_DENSE`]
//! long, and each operand's slots and adjoints step by one from instruction to instruction, all computed
//! before the run (so no instruction of it reads another's output).
//!
//! A *chain* is the running sum or product of a loop (`lp += term`): instruction j's first operand is
//! instruction j − 1's output, its second steps by one. The value is carried in a register (the same adds
//! in the same order), and the backward pass carries the adjoint down the chain the same way.

use super::program::{Kind, Program};
use crate::ops::binary::BinOp;
use crate::ops::unary::UnOp;

/// The shortest run worth a slice loop.
pub(crate) const MIN_DENSE: usize = 8;

/// Where a dense run's operands start: slots and adjoints of operands 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dense {
    pub slot: [u32; 2],
    pub adj: [u32; 2],
    /// Operand 0 is the previous instruction's output (from the second instruction on).
    pub chain: bool,
}

/// The kinds with a dense form.
pub(crate) fn has_dense_form(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Bin(BinOp::Add | BinOp::Sub | BinOp::Mul)
            | Kind::Square
            | Kind::Un(UnOp::AddC | UnOp::MulC | UnOp::CSub)
    )
}

/// Values of run `ins` (first output slot `out`) and its partials into `part` (operand 0's block, then
/// operand 1's).
pub(crate) fn forward(
    prog: &Program,
    ins: std::ops::Range<usize>,
    d: Dense,
    out: usize,
    vals: &mut [f64],
    part: &mut [f64],
) {
    let n = ins.len();
    let kind = prog.ins[ins.start].kind;
    if d.chain {
        return chain_forward(kind, d, out, n, vals, part);
    }
    let (lo, hi) = vals.split_at_mut(out);
    let y = &mut hi[..n];
    let a = &lo[d.slot[0] as usize..d.slot[0] as usize + n];
    let (p0, p1) = part.split_at_mut(n);
    let k = &prog.ks[ins];
    match kind {
        Kind::Bin(op) => {
            let b = &lo[d.slot[1] as usize..d.slot[1] as usize + n];
            let p1 = &mut p1[..n];
            match op {
                BinOp::Add => {
                    y.iter_mut()
                        .zip(a.iter().zip(b))
                        .for_each(|(y, (a, b))| *y = a + b);
                    p0.fill(1.0);
                    p1.fill(1.0);
                }
                BinOp::Sub => {
                    y.iter_mut()
                        .zip(a.iter().zip(b))
                        .for_each(|(y, (a, b))| *y = a - b);
                    p0.fill(1.0);
                    p1.fill(-1.0);
                }
                _ => {
                    y.iter_mut()
                        .zip(a.iter().zip(b))
                        .for_each(|(y, (a, b))| *y = a * b);
                    p0.copy_from_slice(b);
                    p1.copy_from_slice(a);
                }
            }
        }
        Kind::Square => {
            y.iter_mut().zip(a).for_each(|(y, a)| *y = a * a);
            p0.iter_mut().zip(a).for_each(|(p, a)| *p = a + a);
        }
        Kind::Un(UnOp::AddC) => {
            y.iter_mut()
                .zip(a.iter().zip(k))
                .for_each(|(y, (a, k))| *y = a + k);
            p0.fill(1.0);
        }
        Kind::Un(UnOp::MulC) => {
            y.iter_mut()
                .zip(a.iter().zip(k))
                .for_each(|(y, (a, k))| *y = a * k);
            p0.copy_from_slice(k);
        }
        _ => {
            // CSub
            y.iter_mut()
                .zip(a.iter().zip(k))
                .for_each(|(y, (a, k))| *y = k - a);
            p0.fill(-1.0);
        }
    }
}

/// A chain's values, carried in a register, and partials.
fn chain_forward(kind: Kind, d: Dense, out: usize, n: usize, vals: &mut [f64], part: &mut [f64]) {
    let (lo, hi) = vals.split_at_mut(out);
    let y = &mut hi[..n];
    let b = &lo[d.slot[1] as usize..d.slot[1] as usize + n];
    let (p0, p1) = part.split_at_mut(n);
    let mut acc = lo[d.slot[0] as usize];
    match kind {
        Kind::Bin(BinOp::Add) => {
            for (y, b) in y.iter_mut().zip(b) {
                acc += b;
                *y = acc;
            }
            p0.fill(1.0);
            p1.fill(1.0);
        }
        Kind::Bin(BinOp::Sub) => {
            for (y, b) in y.iter_mut().zip(b) {
                acc -= b;
                *y = acc;
            }
            p0.fill(1.0);
            p1.fill(-1.0);
        }
        _ => {
            // Mul: ∂/∂acc = b, ∂/∂b = acc before the product
            for (j, (y, b)) in y.iter_mut().zip(b).enumerate() {
                p1[j] = acc;
                acc *= b;
                *y = acc;
            }
            p0.copy_from_slice(b);
        }
    }
}

/// Adjoints of a dense run's operands: `adj[in] += adj[out] · partial`, one operand's block at a time.
/// `first` is the run's first adjoint; its operands' adjoints all lie below it.
pub(crate) fn backward(d: Dense, m: usize, n: usize, first: usize, adj: &mut [f64], part: &[f64]) {
    let (lo, hi) = adj.split_at_mut(first);
    if d.chain {
        // down the chain: each output's adjoint is complete once the next one has passed its share on
        let (p0, p1) = part.split_at(n);
        let b = d.adj[1] as usize;
        let mut carry = 0.0;
        for j in (0..n).rev() {
            let g = hi[j] + carry;
            lo[b + j] += g * p1[j];
            carry = g * p0[j];
        }
        lo[d.adj[0] as usize] += carry;
        return;
    }
    let g = &hi[..n];
    for q in 0..m {
        let p = &part[q * n..(q + 1) * n];
        let dst = &mut lo[d.adj[q] as usize..d.adj[q] as usize + n];
        dst.iter_mut()
            .zip(g.iter().zip(p))
            .for_each(|(a, (g, p))| *a += g * p);
    }
}
