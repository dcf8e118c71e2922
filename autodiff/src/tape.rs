//! The arena tape.
//!
//! Nodes are appended in creation order, which is a topological order: the backward sweep walks the arena
//! from the end and never sorts, hashes or recurses. Storage is a handful of flat `Vec`s:
//!
//! | vec      | one entry per            | holds                                                     |
//! |----------|--------------------------|-----------------------------------------------------------|
//! | `nodes`  | node (24 bytes)          | scalar value, op code, parents, tensor slot or constant   |
//! | `tmeta`  | tensor node              | shape, offset into `tdata`, op parameters                 |
//! | `tdata`  | tensor element           | every tensor's values, row-major, back to back            |
//! | `ibuf`   | gather index             | column indices of gathers/scatters                        |
//!
//! `clear` truncates all of them and keeps their capacity, so a loop that records the same computation each
//! step stops allocating after the first.

use crate::ops::binary::BinOp;
use crate::ops::tensor::TOp;
use crate::ops::unary::UnOp;
use crate::tensor::TVar;
use crate::var::Var;
use std::cell::UnsafeCell;

/// Index meaning "no parent".
pub(crate) const NONE: u32 = u32::MAX;

/// What a node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// A scalar input (differentiable).
    Leaf,
    /// A scalar constant that had to be placed on the tape (a constant operand of a rare binary op).
    Const,
    /// Scalar elementwise op of parent `a`; its constant (if any) is stored in `b` (low bits) and `c`.
    Un(UnOp),
    /// Scalar binary op of `a` and `b`.
    Bin(BinOp),
    /// Scalar sum of the tensor node `a`.
    TSum,
    /// Scalar element `b` (flat, row-major) of the tensor node `a`.
    TGet,
    /// base + Σ wₖ xₖ over `b` terms stored at `lin[a..a + b]` as (parent, weight) pairs (the base is a
    /// constant folded into the value, or the first term with weight 1).
    Lin,
    /// A tensor node; its metadata is `tmeta[c]`.
    T(TOp),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// The scalar value (unused for tensor nodes).
    pub val: f64,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub op: Op,
}

/// Shape, storage and parameters of a tensor node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TMeta {
    pub off: usize,
    pub rows: u32,
    pub cols: u32,
    pub p: [u32; 2],
    pub c: f64,
}

impl Node {
    /// The constant of a scalar elementwise node.
    #[inline(always)]
    pub(crate) fn konst(&self) -> f64 {
        f64::from_bits(self.b as u64 | ((self.c as u64) << 32))
    }
}

impl TMeta {
    pub(crate) fn len(&self) -> usize {
        self.rows as usize * self.cols as usize
    }
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.off..self.off + self.len()
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub nodes: Vec<Node>,
    pub tmeta: Vec<TMeta>,
    pub tdata: Vec<f64>,
    /// The tensor elements in use: `tdata` keeps its length after a truncation, so a new tensor reuses the
    /// memory without zeroing it (every kernel writes all of its output).
    pub tlen: usize,
    pub ibuf: Vec<u32>,
    /// (parent, weight) terms of `Lin` nodes.
    pub lin: Vec<(u32, f64)>,
    /// When false, tensor ops store their value only (no parents): used by the first-order sweep, whose
    /// tensor adjoints are computed with the same ops and then dropped by truncation.
    pub no_record: bool,
    /// Scratch adjoints of the first-order sweep, kept for their capacity.
    pub adj: Vec<f64>,
    /// Scratch tensor adjoints (node index per tensor slot) of the first-order sweep.
    pub tadj: Vec<u32>,
    /// The decisions and raw reads of a function being traced (`None` when not tracing).
    pub trace: Option<Box<crate::trace::TraceLog>>,
}

impl Inner {
    /// Record the metadata and node of a tensor whose values start at `off` in `tdata` (no-record mode
    /// keeps the value only).
    #[allow(clippy::too_many_arguments)]
    fn push_tensor_meta(
        &mut self,
        op: TOp,
        a: u32,
        b: u32,
        off: usize,
        rows: usize,
        cols: usize,
        p: [u32; 2],
        c: f64,
    ) -> (u32, u32) {
        let (op, a, b) = if self.no_record && !matches!(op, TOp::Leaf) {
            (TOp::Const, NONE, NONE)
        } else {
            (op, a, b)
        };
        let slot = self.tmeta.len() as u32;
        self.tmeta.push(TMeta {
            off,
            rows: rows as u32,
            cols: cols as u32,
            p,
            c,
        });
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node {
            val: 0.0,
            a,
            b,
            c: slot,
            op: Op::T(op),
        });
        (idx, slot)
    }
}

/// A position on the tape; see [`Tape::truncate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    nodes: usize,
    tmeta: usize,
    tdata: usize,
    ibuf: usize,
    lin: usize,
}

/// A reverse-mode tape: an arena of nodes that variables ([`Var`], [`TVar`]) point into.
///
/// Variables borrow the tape, so they cannot outlive it, and [`Tape::clear`] takes `&mut self`, so no variable
/// can survive a clear. A tape is not `Sync`: each thread records on its own tape.
///
/// ```
/// use stein_autodiff::Tape;
///
/// let mut tape = Tape::new();
/// for step in 0..3 {
///     let x = tape.var(1.0 + step as f64);
///     let y = x * x * x; // y = x³
///     let dy = tape.grad(y, &[x]);
///     assert_eq!(dy[0], 3.0 * x.value() * x.value());
///     tape.clear(); // memory is kept for the next step
/// }
/// ```
#[derive(Default)]
pub struct Tape {
    inner: UnsafeCell<Inner>,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with(|t| {
            f.debug_struct("Tape")
                .field("nodes", &t.nodes.len())
                .field("tensors", &t.tmeta.len())
                .field("tensor_elements", &t.tlen)
                .finish()
        })
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tape with room for `nodes` scalar nodes before it reallocates.
    pub fn with_capacity(nodes: usize) -> Self {
        let t = Self::new();
        t.with(|t| {
            t.nodes.reserve(nodes);
        });
        t
    }

    /// Run `f` on the arena. Sound because the tape is `!Sync`, the closures passed here never call back into
    /// the tape, and no reference into the arena outlives the call.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // SAFETY: see above; every caller is in this crate and passes a closure that only touches `Inner`.
        #[allow(unsafe_code)]
        unsafe {
            f(&mut *self.inner.get())
        }
    }

    /// A new scalar input.
    pub fn var(&self, value: f64) -> Var<'_> {
        let idx = self.push(Op::Leaf, NONE, NONE, value);
        Var::on(self, idx, value)
    }

    /// New scalar inputs, one per value.
    pub fn vars(&self, values: &[f64]) -> Vec<Var<'_>> {
        values.iter().map(|&v| self.var(v)).collect()
    }

    /// Number of nodes recorded (scalar and tensor).
    pub fn len(&self) -> usize {
        self.with(|t| t.nodes.len())
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes currently reserved by the arena (a steady-state loop keeps this constant).
    pub fn capacity_bytes(&self) -> usize {
        self.with(|t| {
            t.nodes.capacity() * std::mem::size_of::<Node>()
                + t.tmeta.capacity() * std::mem::size_of::<TMeta>()
                + t.tdata.capacity() * 8
                + t.ibuf.capacity() * 4
                + t.lin.capacity() * std::mem::size_of::<(u32, f64)>()
                + t.adj.capacity() * 8
                + t.tadj.capacity() * 4
        })
    }

    /// Forget every node and keep the memory.
    pub fn clear(&mut self) {
        self.truncate(Mark::default());
    }

    /// The current end of the tape.
    pub fn mark(&self) -> Mark {
        self.with(|t| Mark {
            nodes: t.nodes.len(),
            tmeta: t.tmeta.len(),
            tdata: t.tlen,
            ibuf: t.ibuf.len(),
            lin: t.lin.len(),
        })
    }

    /// Drop every node recorded after `mark` (Stan's nested recovery): a sampler can record one step, take
    /// its gradient and rewind, reusing the memory. Takes `&mut self`, so no variable of the dropped part
    /// can still be alive.
    pub fn truncate(&mut self, mark: Mark) {
        self.truncate_internal(mark)
    }

    pub(crate) fn truncate_internal(&self, m: Mark) {
        self.with(|t| {
            t.nodes.truncate(m.nodes);
            t.tmeta.truncate(m.tmeta);
            t.tlen = m.tdata;
            t.ibuf.truncate(m.ibuf);
            t.lin.truncate(m.lin);
        })
    }

    #[inline(always)]
    pub(crate) fn push(&self, op: Op, a: u32, b: u32, val: f64) -> u32 {
        self.with(|t| {
            let idx = t.nodes.len() as u32;
            t.nodes.push(Node {
                val,
                a,
                b,
                c: NONE,
                op,
            });
            idx
        })
    }

    /// Push a scalar elementwise node whose value is already known.
    #[inline(always)]
    pub(crate) fn push_un(&self, op: UnOp, a: u32, c: f64, val: f64) -> u32 {
        let bits = c.to_bits();
        self.with(|t| {
            let idx = t.nodes.len() as u32;
            t.nodes.push(Node {
                val,
                a,
                b: bits as u32,
                c: (bits >> 32) as u32,
                op: Op::Un(op),
            });
            idx
        })
    }

    /// Push a `Lin` node with the given value and (parent, weight) terms.
    pub(crate) fn push_lin(&self, terms: impl Iterator<Item = (u32, f64)>, val: f64) -> u32 {
        self.with(|t| {
            let off = t.lin.len() as u32;
            t.lin.extend(terms);
            let n = t.lin.len() as u32 - off;
            let idx = t.nodes.len() as u32;
            t.nodes.push(Node {
                val,
                a: off,
                b: n,
                c: NONE,
                op: Op::Lin,
            });
            idx
        })
    }

    #[inline(always)]
    pub(crate) fn lin_term(&self, k: u32) -> (u32, f64) {
        self.with(|t| t.lin[k as usize])
    }

    #[inline(always)]
    pub(crate) fn node(&self, i: u32) -> Node {
        self.with(|t| t.nodes[i as usize])
    }

    #[inline(always)]
    pub(crate) fn val(&self, i: u32) -> f64 {
        self.with(|t| t.nodes[i as usize].val)
    }

    pub(crate) fn meta(&self, slot: u32) -> TMeta {
        self.with(|t| t.tmeta[slot as usize])
    }

    pub(crate) fn set_no_record(&self, v: bool) -> bool {
        self.with(|t| std::mem::replace(&mut t.no_record, v))
    }

    /// Handle of an existing tensor node.
    pub(crate) fn tvar_at(&self, idx: u32) -> TVar<'_> {
        let (slot, m) = self.with(|t| {
            let s = t.nodes[idx as usize].c;
            (s, t.tmeta[s as usize])
        });
        TVar::from_raw(self, idx, slot, m.rows, m.cols)
    }

    /// Push a tensor node of shape `rows × cols`. `fill(data, out)` computes its values: `data` is every tensor
    /// already on the tape (index it with a parent's [`TMeta::range`]), then the index buffer, then `out`, the
    /// new node's storage, which may hold stale values: `fill` must write every entry.
    /// In no-record mode the node keeps its value only.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_tensor(
        &self,
        op: TOp,
        a: u32,
        b: u32,
        rows: usize,
        cols: usize,
        p: [u32; 2],
        c: f64,
        fill: impl FnOnce(&[f64], &[u32], &mut [f64]),
    ) -> TVar<'_> {
        let (idx, slot) = self.with(|t| {
            let (off, end) = (t.tlen, t.tlen + rows * cols);
            if t.tdata.len() < end {
                t.tdata.resize(end, 0.0);
            }
            t.tlen = end;
            let (old, new) = t.tdata.split_at_mut(off);
            fill(old, &t.ibuf, &mut new[..rows * cols]);
            t.push_tensor_meta(op, a, b, off, rows, cols, p, c)
        });
        TVar::from_raw(self, idx, slot, rows as u32, cols as u32)
    }

    /// Push a leaf or constant tensor node holding a copy of `data` (`rows × cols`), without zeroing first.
    pub(crate) fn push_tensor_copy(
        &self,
        op: TOp,
        rows: usize,
        cols: usize,
        data: &[f64],
    ) -> TVar<'_> {
        debug_assert_eq!(data.len(), rows * cols);
        let (idx, slot) = self.with(|t| {
            let (off, end) = (t.tlen, t.tlen + data.len());
            if t.tdata.len() < end {
                t.tdata.resize(end, 0.0);
            }
            t.tlen = end;
            t.tdata[off..end].copy_from_slice(data);
            t.push_tensor_meta(op, NONE, NONE, off, rows, cols, [0; 2], 0.0)
        });
        TVar::from_raw(self, idx, slot, rows as u32, cols as u32)
    }

    /// Append column indices to the index buffer; returns their offset.
    pub(crate) fn push_indices(&self, idx: &[usize]) -> u32 {
        self.with(|t| {
            let off = t.ibuf.len() as u32;
            t.ibuf.extend(idx.iter().map(|&i| i as u32));
            off
        })
    }
}
