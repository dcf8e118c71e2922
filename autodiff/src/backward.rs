//! The backward sweep, written once and run two ways.
//!
//! `sweep::<f64>` is the fast first-order sweep: scalar adjoints are plain `f64`s; tensor adjoints are computed
//! with the tensor ops in no-record mode (values only) and dropped afterwards by truncating the tape.
//! `sweep::<Var>` is the recorded sweep (`create_graph`): every adjoint is itself a node on the same tape, so
//! the gradient can be differentiated again — to any order.

use crate::ops::{binary, tensor, tensor_vjp, unary};
use crate::real::{Elem, Real};
use crate::tape::{Node, Op, Tape, NONE};
use crate::tensor::{TVar, Tensor};
use crate::var::Var;

/// Outputs per vector sweep in [`Tape::jacobian`].
const ROW_BLOCK: usize = 16;

/// The scalar type adjoints are computed in.
pub(crate) trait Adjoint<'t>: Real + Elem {
    /// The node's value in this type (for `Var`: the node itself, so rules using it are recorded).
    fn at(tape: &'t Tape, idx: u32) -> Self;
    /// An exact zero that needs no accumulation.
    fn is_zero_adj(&self) -> bool;
    /// `*slot += d`.
    fn accumulate(slot: &mut Self, d: Self);
    /// This scalar broadcast to a tensor (the adjoint of a sum).
    fn fill(self, tape: &'t Tape, rows: usize, cols: usize) -> TVar<'t>;
    /// The sum of a tensor in this type (the adjoint of a broadcast).
    fn sum_of(t: TVar<'t>) -> Self;
}

impl<'t> Adjoint<'t> for f64 {
    #[inline(always)]
    fn at(tape: &'t Tape, idx: u32) -> Self {
        tape.val(idx)
    }
    #[inline(always)]
    fn is_zero_adj(&self) -> bool {
        *self == 0.0
    }
    #[inline(always)]
    fn accumulate(slot: &mut Self, d: Self) {
        *slot += d
    }
    fn fill(self, tape: &'t Tape, rows: usize, cols: usize) -> TVar<'t> {
        tensor::const_full(tape, rows, cols, self)
    }
    fn sum_of(t: TVar<'t>) -> Self {
        t.sum_of_values()
    }
}

impl<'t> Adjoint<'t> for Var<'t> {
    #[inline(always)]
    fn at(tape: &'t Tape, idx: u32) -> Self {
        Var::on(tape, idx, tape.val(idx))
    }
    #[inline(always)]
    fn is_zero_adj(&self) -> bool {
        self.tape.is_none() && self.val == 0.0
    }
    #[inline(always)]
    fn accumulate(slot: &mut Self, d: Self) {
        *slot = if slot.is_zero_adj() { d } else { *slot + d }
    }
    fn fill(self, tape: &'t Tape, rows: usize, cols: usize) -> TVar<'t> {
        tensor::fill(tape, self, rows, cols)
    }
    fn sum_of(t: TVar<'t>) -> Self {
        t.sum()
    }
}

/// Walk the nodes `root, root − 1, …, 0`, applying each node's rule. `adj` and `tadj` hold the seeds on entry
/// and every adjoint on exit (`adj` indexed by node, `tadj` by tensor slot, holding adjoint node indices).
pub(crate) fn sweep<'t, S: Adjoint<'t>>(
    tape: &'t Tape,
    root: u32,
    adj: &mut [S],
    tadj: &mut [u32],
) {
    for i in (0..root + 1).rev() {
        let n = tape.node(i);
        match n.op {
            Op::Leaf | Op::Const => {}
            Op::Un(op) => {
                let g = adj[i as usize];
                if g.is_zero_adj() {
                    continue;
                }
                let (x, y) = (S::at(tape, n.a), S::at(tape, i));
                if let Some(d) = unary::vjp(op, x, y, g, n.konst()) {
                    S::accumulate(&mut adj[n.a as usize], d);
                }
            }
            Op::Bin(op) => {
                let g = adj[i as usize];
                if g.is_zero_adj() {
                    continue;
                }
                let (x, y, z) = (S::at(tape, n.a), S::at(tape, n.b), S::at(tape, i));
                let (da, db) = binary::vjp(op, x, y, z, g);
                if let Some(d) = da {
                    S::accumulate(&mut adj[n.a as usize], d);
                }
                if let Some(d) = db {
                    S::accumulate(&mut adj[n.b as usize], d);
                }
            }
            Op::Lin => {
                let g = adj[i as usize];
                if g.is_zero_adj() {
                    continue;
                }
                for k in n.a..n.a + n.b {
                    let (p, w) = tape.lin_term(k);
                    S::accumulate(&mut adj[p as usize], g * w); // ∂/∂xₖ (base + Σ wⱼ xⱼ) = wₖ
                }
            }
            _ => tensor_step(tape, i, n, adj, tadj),
        }
    }
}

/// The rule of a node that involves a tensor (a tensor node, or a scalar read from one).
fn tensor_step<'t, S: Adjoint<'t>>(
    tape: &'t Tape,
    i: u32,
    n: Node,
    adj: &mut [S],
    tadj: &mut [u32],
) {
    match n.op {
        Op::TSum | Op::TGet => {
            let g = adj[i as usize];
            if !g.is_zero_adj() {
                tensor_vjp::bridge_vjp(tape, n, g, tadj);
            }
        }
        Op::T(op) => {
            let g = tadj[n.c as usize];
            if g != NONE {
                let me = tape.tvar_at(i);
                tensor_vjp::vjp(tape, op, n, me, tape.tvar_at(g), adj, tadj);
            }
        }
        _ => unreachable!("tensor_step on {:?}", n.op),
    }
}

/// Rows of ∂yₖ/∂(every node) for a block of outputs at once, by one sweep whose adjoints are rows of width
/// `w = roots.len()`. Each rule is linear in its adjoint, so `vjp(op, x, y, 1.0)` is the local partial: one
/// rule evaluation per node, then a row update. Scalar tapes only: returns `false` at the first tensor node
/// (the caller falls back to one sweep per output).
fn sweep_rows(tape: &Tape, roots: &[Var<'_>], adj: &mut Vec<f64>) -> bool {
    let w = roots.len();
    let Some(top) = roots
        .iter()
        .filter(|r| r.tape.is_some())
        .map(|r| r.idx)
        .max()
    else {
        adj.clear();
        return true;
    };
    let n = top as usize + 1;
    adj.clear();
    adj.resize(n * w, 0.0);
    for (k, r) in roots.iter().enumerate() {
        if r.tape.is_some() {
            adj[r.idx as usize * w + k] = 1.0;
        }
    }
    tape.with(|t| {
        let nodes = &t.nodes[..n];
        for i in (0..n).rev() {
            let nd = nodes[i];
            let (lo, hi) = adj.split_at_mut(i * w);
            let g = &hi[..w];
            let mut push = |p: usize, d: f64| {
                for (a, &gk) in lo[p * w..(p + 1) * w].iter_mut().zip(g) {
                    *a += d * gk;
                }
            };
            match nd.op {
                Op::Leaf | Op::Const => {}
                Op::Un(op) => {
                    if g.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    if let Some(d) =
                        unary::vjp(op, nodes[nd.a as usize].val, nd.val, 1.0, nd.konst())
                    {
                        push(nd.a as usize, d);
                    }
                }
                Op::Bin(op) => {
                    if g.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    let (x, y) = (nodes[nd.a as usize].val, nodes[nd.b as usize].val);
                    let (da, db) = binary::vjp(op, x, y, nd.val, 1.0);
                    if let Some(d) = da {
                        push(nd.a as usize, d);
                    }
                    if let Some(d) = db {
                        push(nd.b as usize, d);
                    }
                }
                Op::Lin => {
                    if g.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    for &(p, w) in &t.lin[nd.a as usize..(nd.a + nd.b) as usize] {
                        push(p as usize, w);
                    }
                }
                _ => return false,
            }
        }
        true
    })
}

/// The first-order sweep: [`sweep`] at `S = f64`, with runs of scalar nodes handled in one pass over the
/// arena's slices (same rules, no per-node indirection). Tensor nodes leave the run and take the general path,
/// which may append (value-only) nodes.
pub(crate) fn sweep_f64(tape: &Tape, root: u32, adj: &mut [f64], tadj: &mut [u32]) {
    let mut i = root as usize + 1;
    while i > 0 {
        let stop = tape.with(|t| {
            let nodes = &t.nodes[..i];
            let t = &*t;
            while i > 0 {
                i -= 1;
                let n = nodes[i];
                match n.op {
                    Op::Leaf | Op::Const => {}
                    Op::Un(op) => {
                        let g = adj[i];
                        if g == 0.0 {
                            continue;
                        }
                        let (x, y) = (nodes[n.a as usize].val, n.val);
                        if let Some(d) = unary::vjp(op, x, y, g, n.konst()) {
                            adj[n.a as usize] += d;
                        }
                    }
                    Op::Bin(op) => {
                        let g = adj[i];
                        if g == 0.0 {
                            continue;
                        }
                        let (x, y, z) = (nodes[n.a as usize].val, nodes[n.b as usize].val, n.val);
                        let (da, db) = binary::vjp(op, x, y, z, g);
                        if let Some(d) = da {
                            adj[n.a as usize] += d;
                        }
                        if let Some(d) = db {
                            adj[n.b as usize] += d;
                        }
                    }
                    Op::Lin => {
                        let g = adj[i];
                        if g == 0.0 {
                            continue;
                        }
                        for &(p, w) in &t.lin[n.a as usize..(n.a + n.b) as usize] {
                            adj[p as usize] += g * w;
                        }
                    }
                    _ => return Some(n),
                }
            }
            None
        });
        if let Some(n) = stop {
            tensor_step::<f64>(tape, i as u32, n, adj, tadj);
        }
    }
}

/// Panic when input `i` of a gradient is a variable of another tape (its index would read this tape's
/// adjoints: a silently wrong derivative).
#[track_caller]
fn check_inputs<'a>(tape: &Tape, inputs: impl Iterator<Item = Option<&'a Tape>>, what: &str) {
    for (i, t) in inputs.enumerate() {
        if let Some(t) = t {
            assert!(
                std::ptr::eq(t, tape),
                "stein-autodiff: {what}: input {i} is a variable of another tape"
            );
        }
    }
}

impl Tape {
    /// Run the fast sweep from scalar `y` and hand the adjoints to `read` before they are dropped.
    pub(crate) fn fast_sweep<R>(&self, y: Var<'_>, read: impl FnOnce(&[f64], &[u32]) -> R) -> R {
        let Some(t) = y.tape else {
            // a constant output: every derivative is zero
            return read(&[], &[]);
        };
        assert!(
            std::ptr::eq(t, self),
            "stein-autodiff: grad of a variable of another tape"
        );
        let mark = self.mark();
        let mut adj = self.with(|t| std::mem::take(&mut t.adj));
        adj.clear();
        adj.resize(y.idx as usize + 1, 0.0);
        adj[y.idx as usize] = 1.0;
        let n_t = self.with(|t| t.tmeta.len());
        let mut tadj = self.with(|t| std::mem::take(&mut t.tadj));
        tadj.clear();
        tadj.resize(n_t, NONE);
        let prev = self.set_no_record(true);
        sweep_f64(self, y.idx, &mut adj, &mut tadj);
        self.set_no_record(prev);
        let r = read(&adj, &tadj);
        self.truncate_internal(mark);
        self.with(|t| {
            t.adj = adj;
            t.tadj = tadj;
        });
        r
    }

    /// ∂y/∂xᵢ for each input, by one first-order sweep. Inputs `y` does not depend on get 0.
    pub fn grad(&self, y: Var<'_>, xs: &[Var<'_>]) -> Vec<f64> {
        let mut out = vec![0.0; xs.len()];
        self.grad_into(y, xs, &mut out);
        out
    }

    /// [`Tape::grad`] into a caller-owned buffer (no allocation at steady state). Panics if the lengths differ.
    pub fn grad_into(&self, y: Var<'_>, xs: &[Var<'_>], out: &mut [f64]) {
        assert_eq!(
            xs.len(),
            out.len(),
            "stein-autodiff: grad_into: {} inputs, {} outputs",
            xs.len(),
            out.len()
        );
        check_inputs(self, xs.iter().map(|x| x.tape), "grad");
        self.fast_sweep(y, |adj, _| {
            for (o, x) in out.iter_mut().zip(xs) {
                *o = match x.tape {
                    Some(_) => adj.get(x.idx as usize).copied().unwrap_or(0.0),
                    None => 0.0,
                };
            }
        })
    }

    /// ∂y/∂X for tensor inputs, by one first-order sweep (zeros for tensors `y` does not depend on).
    pub fn grad_tensors(&self, y: Var<'_>, xs: &[TVar<'_>]) -> Vec<Tensor> {
        let mut out: Vec<Tensor> = xs
            .iter()
            .map(|x| Tensor::zeros(x.rows(), x.cols()))
            .collect();
        self.grad_tensors_into(y, xs, &mut out);
        out
    }

    /// [`Tape::grad_tensors`] into caller-owned tensors (reusing their allocations).
    pub fn grad_tensors_into(&self, y: Var<'_>, xs: &[TVar<'_>], out: &mut [Tensor]) {
        assert_eq!(
            xs.len(),
            out.len(),
            "stein-autodiff: grad_tensors_into: {} inputs, {} outputs",
            xs.len(),
            out.len()
        );
        check_inputs(self, xs.iter().map(|x| Some(x.tape)), "grad_tensors");
        self.fast_sweep(y, |_, tadj| {
            for (o, x) in out.iter_mut().zip(xs) {
                match tadj.get(x.slot as usize).copied().filter(|&g| g != NONE) {
                    Some(g) => self.tvar_at(g).value_into(o),
                    None => o.set_zeros(x.rows(), x.cols()),
                }
            }
        })
    }

    /// The Jacobian ∂yₖ/∂xⱼ of several outputs, `ys.len() × xs.len()`. On a scalar tape the outputs are taken
    /// in blocks of 16 by one vector sweep each; with tensor nodes, one sweep per output.
    ///
    /// ```
    /// use stein_autodiff::Tape;
    /// let tape = Tape::new();
    /// let (x, y) = (tape.var(2.0), tape.var(3.0));
    /// let j = tape.jacobian(&[x * y, x + y * y], &[x, y]);
    /// assert_eq!(j, vec![vec![3.0, 2.0], vec![1.0, 6.0]]);
    /// ```
    pub fn jacobian(&self, ys: &[Var<'_>], xs: &[Var<'_>]) -> Vec<Vec<f64>> {
        check_inputs(self, xs.iter().map(|x| x.tape), "jacobian");
        let mut out = vec![vec![0.0; xs.len()]; ys.len()];
        let mut adj = Vec::new();
        for (block, rows) in ys.chunks(ROW_BLOCK).zip(out.chunks_mut(ROW_BLOCK)) {
            if sweep_rows(self, block, &mut adj) {
                let w = block.len();
                for (k, row) in rows.iter_mut().enumerate() {
                    for (o, x) in row.iter_mut().zip(xs) {
                        let at = x.idx as usize * w + k;
                        *o = if x.tape.is_some() {
                            adj.get(at).copied().unwrap_or(0.0)
                        } else {
                            0.0
                        };
                    }
                }
            } else {
                for (y, row) in block.iter().zip(rows.iter_mut()) {
                    self.grad_into(*y, xs, row);
                }
            }
        }
        out
    }

    /// Gradient of `y` as nodes on this tape (`create_graph`): each entry can be differentiated again.
    ///
    /// ```
    /// use stein_autodiff::Tape;
    /// let tape = Tape::new();
    /// let x = tape.var(2.0);
    /// let y = x * x * x;                         // x³
    /// let dy = tape.grad_graph(y, &[x])[0];      // 3x²  = 12
    /// let d2y = tape.grad_graph(dy, &[x])[0];    // 6x   = 12
    /// let d3y = tape.grad(d2y, &[x])[0];         // 6
    /// assert_eq!((dy.value(), d2y.value(), d3y), (12.0, 12.0, 6.0));
    /// ```
    pub fn grad_graph<'t>(&'t self, y: Var<'t>, xs: &[Var<'t>]) -> Vec<Var<'t>> {
        check_inputs(self, xs.iter().map(|x| x.tape), "grad_graph");
        let (adj, _) = self.recorded(y);
        xs.iter()
            .map(|x| match x.tape {
                Some(_) => adj
                    .get(x.idx as usize)
                    .copied()
                    .unwrap_or(Var::constant(0.0)),
                None => Var::constant(0.0),
            })
            .collect()
    }

    /// Gradient of `y` w.r.t. tensor inputs as tensor nodes on this tape (differentiable again). Tensors `y`
    /// does not depend on get constant zeros.
    pub fn grad_graph_tensors<'t>(&'t self, y: Var<'t>, xs: &[TVar<'t>]) -> Vec<TVar<'t>> {
        check_inputs(self, xs.iter().map(|x| Some(x.tape)), "grad_graph_tensors");
        let (_, tadj) = self.recorded(y);
        xs.iter()
            .map(
                |x| match tadj.get(x.slot as usize).copied().filter(|&g| g != NONE) {
                    Some(g) => self.tvar_at(g),
                    None => tensor::const_full(self, x.rows(), x.cols(), 0.0),
                },
            )
            .collect()
    }

    #[allow(clippy::type_complexity)]
    fn recorded<'t>(&'t self, y: Var<'t>) -> (Vec<Var<'t>>, Vec<u32>) {
        let Some(t) = y.tape else {
            return (Vec::new(), Vec::new());
        };
        assert!(
            std::ptr::eq(t, self),
            "stein-autodiff: grad of a variable of another tape"
        );
        let mut adj = vec![Var::constant(0.0); y.idx as usize + 1];
        adj[y.idx as usize] = Var::constant(1.0);
        let mut tadj = vec![NONE; self.with(|t| t.tmeta.len())];
        let prev = self.set_no_record(false);
        sweep::<Var>(self, y.idx, &mut adj, &mut tadj);
        self.set_no_record(prev);
        (adj, tadj)
    }
}
