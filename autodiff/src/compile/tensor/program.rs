//! A compiled tensor function and its evaluation in blocks.
//!
//! The elementwise instructions of a group (one shape) run over blocks of [`BLOCK`] entries: every
//! instruction's values and adjoints for one block stay in the L1 cache, where the tape's ops each stream a
//! whole tensor through memory. When the scalar tail is linear in the sums (−Σ, Σ/n, Σ₁ + Σ₂, …) the sums'
//! adjoints are known before any value, and each block runs forward and backward in one visit; otherwise a
//! first visit computes the sums and a second recomputes the block's values and runs it backward.

use crate::ops::binary::{self, BinOp};
use crate::ops::kernels::Sum8;
use crate::ops::tensor::TOp;
use crate::ops::unary::{self, UnOp};

/// Entries per block (a multiple of 8, so a group's sums keep the bits of the tape's `sum`).
pub(crate) const BLOCK: usize = 256;

/// Where a view reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Src {
    /// The function's input.
    Input,
    /// Constant `k` of the program.
    Const(u32),
}

/// Entry (i, j) of a group read from entry (r0 + i, c0 + j) of a source (`src_cols` columns); a view
/// broadcast along an axis reads its single row (column) for every i (j).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct View {
    pub src: Src,
    pub r0: usize,
    pub c0: usize,
    pub src_cols: usize,
    pub bcast_r: bool,
    pub bcast_c: bool,
}

/// An instruction of a group; operands are earlier instructions of the same group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ins {
    Load(View),
    /// op(a) with constant c.
    Un(UnOp, f64, u32),
    /// a op b for `TOp::{Add, Sub, Mul, Div}`.
    Bin(TOp, u32, u32),
    /// softplus or SiLU (`TOp::SoftplusCached`, `TOp::SiluCached`) of a, from σ(a) computed as b.
    Cached(TOp, u32, u32),
}

/// The instructions of one shape, and the sums `(instruction, register)` that leave it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub rows: usize,
    pub cols: usize,
    pub ins: Vec<Ins>,
    /// Per instruction: true when it depends on the input (its adjoint is needed).
    pub live: Vec<bool>,
    pub sums: Vec<(u32, u32)>,
}

/// A scalar operand: register k (sums first, then the tail in order) or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reg {
    R(u32),
    Const(f64),
}

/// A scalar instruction of the tail (the part of the function after its sums).
#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    Un(UnOp, f64, Reg),
    Bin(BinOp, Reg, Reg),
    /// base + Σ wₖ xₖ, in the tape's order (constant terms folded as (Const(x·w), 1)).
    Lin(Reg, Vec<(Reg, f64)>),
}

impl Scalar {
    /// True when the instruction's partial derivatives do not depend on values.
    fn is_linear(&self) -> bool {
        match self {
            Scalar::Un(op, _, _) => matches!(
                op,
                UnOp::Neg | UnOp::AddC | UnOp::MulC | UnOp::DivC | UnOp::CSub
            ),
            Scalar::Bin(op, _, _) => matches!(op, BinOp::Add | BinOp::Sub),
            Scalar::Lin(..) => true,
        }
    }
}

/// A compiled tensor function.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub rows: usize,
    pub cols: usize,
    pub consts: Vec<(usize, usize, Vec<f64>)>,
    pub groups: Vec<Group>,
    pub n_sums: usize,
    pub tail: Vec<Scalar>,
    pub root: Reg,
}

/// Scratch memory of [`CompiledTensor`](super::CompiledTensor) calls, reused across calls (steady state
/// allocates nothing).
#[derive(Clone, Debug, Default)]
pub struct TensorWorkspace {
    pub(super) vals: Vec<f64>,
    pub(super) adjs: Vec<f64>,
    pub(super) has: Vec<bool>,
    pub(super) regs: Vec<f64>,
    pub(super) radj: Vec<f64>,
    pub(super) sums: Vec<Sum8>,
    /// Per instruction of the block being run: where a load reads its source directly (one run, no
    /// broadcast), else `None` (its values were copied into `vals`).
    pub(super) direct: Vec<Option<(Src, usize)>>,
    /// Per instruction of the block being run backward: the later instruction whose adjoint block it shares
    /// (an adjoint passed on unchanged, as `a + b` passes g to both), or `u32::MAX` (its own).
    pub(super) alias: Vec<u32>,
}

impl Program {
    /// f(x), with ∇f(x) added into `grad` (`rows · cols` entries, zero on entry).
    pub(crate) fn value_grad(&self, x: &[f64], grad: &mut [f64], ws: &mut TensorWorkspace) -> f64 {
        let width = self.groups.iter().map(|g| g.ins.len()).max().unwrap_or(0);
        ws.vals.resize(width * BLOCK, 0.0);
        ws.adjs.resize(width * BLOCK, 0.0);
        ws.has.resize(width, false);
        ws.direct.resize(width, None);
        ws.alias.resize(width, u32::MAX);
        ws.regs.clear();
        ws.regs.resize(self.n_sums + self.tail.len(), 0.0);
        ws.sums.clear();
        ws.sums.resize(self.n_sums, Sum8::default());
        if self.tail.iter().all(Scalar::is_linear) {
            // the sums' adjoints do not depend on values: one visit per block
            self.tail_backward(ws);
            let gsum = std::mem::take(&mut ws.radj);
            for g in &self.groups {
                self.run_group(g, x, grad, ws, true, Some(&gsum));
            }
            ws.radj = gsum;
            self.tail_forward(ws);
        } else {
            for g in &self.groups {
                self.run_group(g, x, grad, ws, true, None);
            }
            self.tail_forward(ws);
            self.tail_backward(ws);
            let gsum = std::mem::take(&mut ws.radj);
            for g in &self.groups {
                self.run_group(g, x, grad, ws, false, Some(&gsum));
            }
            ws.radj = gsum;
        }
        self.val(&ws.regs, self.root)
    }

    fn val(&self, regs: &[f64], r: Reg) -> f64 {
        match r {
            Reg::R(k) => regs[k as usize],
            Reg::Const(v) => v,
        }
    }

    fn tail_forward(&self, ws: &mut TensorWorkspace) {
        for (k, ins) in self.tail.iter().enumerate() {
            let regs = &ws.regs;
            let v = match ins {
                Scalar::Un(op, c, a) => unary::eval(*op, self.val(regs, *a), *c),
                Scalar::Bin(op, a, b) => binary::eval(*op, self.val(regs, *a), self.val(regs, *b)),
                Scalar::Lin(base, terms) => {
                    let mut v = self.val(regs, *base);
                    for &(x, w) in terms {
                        v += self.val(regs, x) * w;
                    }
                    v
                }
            };
            ws.regs[self.n_sums + k] = v;
        }
    }

    /// Adjoints of every register (those of the sums first in `ws.radj`), by the tape's scalar rules.
    fn tail_backward(&self, ws: &mut TensorWorkspace) {
        ws.radj.clear();
        ws.radj.resize(ws.regs.len(), 0.0);
        if let Reg::R(r) = self.root {
            ws.radj[r as usize] = 1.0;
        }
        let (regs, radj) = (&ws.regs, &mut ws.radj);
        for (k, ins) in self.tail.iter().enumerate().rev() {
            let me = self.n_sums + k;
            let g = radj[me];
            if g == 0.0 {
                continue;
            }
            match ins {
                Scalar::Un(op, c, a) => {
                    if let Some(d) = unary::vjp(*op, self.val(regs, *a), regs[me], g, *c) {
                        add(radj, *a, d);
                    }
                }
                Scalar::Bin(op, a, b) => {
                    let (x, y) = (self.val(regs, *a), self.val(regs, *b));
                    let (da, db) = binary::vjp(*op, x, y, regs[me], g);
                    if let Some(d) = da {
                        add(radj, *a, d);
                    }
                    if let Some(d) = db {
                        add(radj, *b, d);
                    }
                }
                Scalar::Lin(base, terms) => {
                    add(radj, *base, g);
                    for &(x, w) in terms {
                        add(radj, x, g * w);
                    }
                }
            }
        }
    }
}

/// radj[r] += d for a register (constants take no adjoint).
fn add(radj: &mut [f64], r: Reg, d: f64) {
    if let Reg::R(k) = r {
        radj[k as usize] += d;
    }
}
