//! A compiled trace and its replay: one forward pass computing values and local partials, one backward pass
//! over a flat edge list.
//!
//! Each instruction writes the local partials of its operands as edges (constants have none); the backward
//! pass is one loop with no branches: `adj[in] += adj[out] · partial` over the edges in reverse.

use super::dense::{self, Dense};
use crate::ops::binary::{self, BinOp};
use crate::ops::unary::{self, UnOp};
use crate::trace::{Guard, Operand};

/// A `Lin` recipe entry that is a constant term.
pub(crate) const SKIP: u32 = u32::MAX;

/// What an instruction computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Un(UnOp),
    Bin(BinOp),
    /// x · x (one edge, 2x).
    Square,
    /// f64's fused x·a + b.
    Fma,
    /// base + Σ wᵢ xᵢ from `recipe[ops[0]..ops[0] + ops[1]]`.
    Lin,
}

impl Kind {
    /// Operands with a slot of their own (a `Lin` reads its recipe instead: 0).
    pub(crate) fn arity(self) -> usize {
        match self {
            Kind::Un(_) | Kind::Square => 1,
            Kind::Bin(_) => 2,
            Kind::Fma => 3,
            Kind::Lin => 0,
        }
    }
}

/// One instruction; its output slot is the program's first instruction slot plus its index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ins {
    pub kind: Kind,
    /// The constant of a unary op.
    pub k: f64,
    /// Operand slots.
    pub ops: [u32; 3],
    /// Per operand: it has an edge (it is not a constant).
    pub edge: [bool; 3],
    /// Every operand has an edge (the common case).
    pub plain: bool,
}

/// The output of a program.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Root {
    /// A slot and its adjoint index.
    Slot(u32, u32),
    /// The function returned a constant.
    Const(f64),
}

/// A compiled trace.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub n_in: usize,
    /// Values of slots `n_in .. n_in + consts.len()`.
    pub consts: Vec<f64>,
    pub ins: Vec<Ins>,
    /// `Lin` recipes: (slot, weight) or (`SKIP`, constant term).
    pub recipe: Vec<(u32, f64)>,
    /// (out, in) adjoint indices of every edge, in forward order.
    pub edges: Vec<(u32, u32)>,
    /// Guards on slots (`Operand::Node` holds a slot).
    pub guards: Vec<Guard>,
    pub root: Root,
    /// Adjoints: inputs first, then one per group.
    pub n_adj: usize,
    /// Maximal runs of instructions of one kind with the same edge layout.
    pub runs: Vec<Run>,
    /// The constant of every instruction (dense runs read them as a slice).
    pub ks: Vec<f64>,
}

/// A run: its instructions, its edges and, when it is dense, where its operands start.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub ins: std::ops::Range<u32>,
    pub edges: std::ops::Range<u32>,
    pub dense: Option<Dense>,
}

/// Scratch memory of replays (reused across calls: a replay allocates nothing once it has grown).
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    vals: Vec<f64>,
    part: Vec<f64>,
    adj: Vec<f64>,
}

/// Edges of an instruction with constant operands (which have none).
#[cold]
fn some_edges(ins: &Ins, p: [f64; 3], n: usize, part: &mut [f64], mut e: usize) -> usize {
    for (&has, &pj) in ins.edge.iter().zip(&p).take(n) {
        if has {
            part[e] = pj;
            e += 1;
        }
    }
    e
}

impl Program {
    fn first_ins_slot(&self) -> usize {
        self.n_in + self.consts.len()
    }

    /// Values and partials for inputs `x`; false when a guard fails.
    fn forward(&self, x: &[f64], ws: &mut Workspace) -> bool {
        let base = self.first_ins_slot();
        ws.vals.resize(base + self.ins.len(), 0.0);
        ws.part.resize(self.edges.len(), 0.0);
        let (vals, part) = (&mut ws.vals[..], &mut ws.part[..]);
        vals[..self.n_in].copy_from_slice(x);
        vals[self.n_in..base].copy_from_slice(&self.consts);
        let mut e = 0usize;
        // runs of one kind with plain edges go through tight loops (one dispatch per run, and the levels
        // make the run's instructions independent); the rest instruction by instruction
        macro_rules! run {
            ($r:expr, $n:expr, |$x:ident, $y:ident, $k:ident| $f:expr) => {{
                for (j, ins) in self.ins[$r.clone()].iter().enumerate() {
                    let $x = vals[ins.ops[0] as usize];
                    let $y = if $n > 1 {
                        vals[ins.ops[1] as usize]
                    } else {
                        0.0
                    };
                    let $k = ins.k;
                    let (v, p0, p1): (f64, f64, f64) = $f;
                    vals[base + $r.start + j] = v;
                    part[e] = p0;
                    if $n > 1 {
                        part[e + 1] = p1;
                    }
                    e += $n;
                }
            }};
        }
        for run in &self.runs {
            let r = run.ins.start as usize..run.ins.end as usize;
            if let Some(d) = run.dense {
                let edges = run.edges.start as usize..run.edges.end as usize;
                dense::forward(
                    self,
                    r.clone(),
                    d,
                    base + r.start,
                    vals,
                    &mut part[edges.clone()],
                );
                e = edges.end;
                continue;
            }
            let head = &self.ins[r.start];
            if !head.plain {
                for i in r {
                    e = self.step(i, base, vals, part, e);
                }
                continue;
            }
            match head.kind {
                Kind::Bin(BinOp::Add) => run!(r, 2, |x, y, _k| (x + y, 1.0, 1.0)),
                Kind::Bin(BinOp::Sub) => run!(r, 2, |x, y, _k| (x - y, 1.0, -1.0)),
                Kind::Bin(BinOp::Mul) => run!(r, 2, |x, y, _k| (x * y, y, x)),
                Kind::Square => run!(r, 1, |x, _y, _k| (x * x, x + x, 0.0)),
                Kind::Un(UnOp::AddC) => run!(r, 1, |x, _y, k| (x + k, 1.0, 0.0)),
                Kind::Un(UnOp::MulC) => run!(r, 1, |x, _y, k| (x * k, k, 0.0)),
                Kind::Un(UnOp::CSub) => run!(r, 1, |x, _y, k| (k - x, -1.0, 0.0)),
                _ => {
                    for i in r {
                        e = self.step(i, base, vals, part, e);
                    }
                }
            }
        }
        debug_assert_eq!(e, self.edges.len());
        self.guards.iter().all(|g| {
            let val = |o: Operand| match o {
                Operand::Node(s) => vals[s as usize],
                Operand::Const(c) => c,
            };
            g.test.eval(val(g.a), val(g.b)) == g.expect
        })
    }

    /// One instruction: its value into `vals`, its edges from `e`; returns the next edge.
    #[inline]
    fn step(&self, i: usize, base: usize, vals: &mut [f64], part: &mut [f64], e: usize) -> usize {
        let ins = &self.ins[i];
        let [a, b, c] = ins.ops;
        // the rules themselves at an adjoint of 1 (the common kinds' runs have their loops in `forward`)
        let (v, p0, p1, p2) = match ins.kind {
            Kind::Square => {
                let x = vals[a as usize];
                (x * x, x + x, 0.0, 0.0)
            }
            Kind::Un(op) => {
                let x = vals[a as usize];
                let y = unary::eval(op, x, ins.k);
                (y, unary::vjp(op, x, y, 1.0, ins.k).unwrap_or(0.0), 0.0, 0.0)
            }
            Kind::Bin(op) => {
                let (x, y) = (vals[a as usize], vals[b as usize]);
                let z = binary::eval(op, x, y);
                let (da, db) = binary::vjp(op, x, y, z, 1.0);
                (z, da.unwrap_or(0.0), db.unwrap_or(0.0), 0.0)
            }
            Kind::Fma => {
                let (x, m, s) = (vals[a as usize], vals[b as usize], vals[c as usize]);
                (x.mul_add(m, s), m, x, 1.0)
            }
            Kind::Lin => {
                let mut e = e;
                vals[base + i] = self.lin(ins, vals, part, &mut e);
                return e;
            }
        };
        vals[base + i] = v;
        let n = ins.kind.arity();
        if ins.plain {
            part[e] = p0;
            if n > 1 {
                part[e + 1] = p1;
                if n > 2 {
                    part[e + 2] = p2;
                }
            }
            e + n
        } else {
            some_edges(ins, [p0, p1, p2], n, part, e)
        }
    }

    /// A `Lin` instruction: its value, its edges (the weights) written at `e`.
    fn lin(&self, ins: &Ins, vals: &[f64], part: &mut [f64], e: &mut usize) -> f64 {
        let [a, b, _] = ins.ops;
        let terms = &self.recipe[a as usize..(a + b) as usize];
        let mut v = match terms[0] {
            (SKIP, c) => c,
            (s, _) => {
                part[*e] = 1.0;
                *e += 1;
                vals[s as usize]
            }
        };
        for &(s, w) in &terms[1..] {
            if s == SKIP {
                v += w;
            } else {
                v += vals[s as usize] * w;
                part[*e] = w;
                *e += 1;
            }
        }
        v
    }

    /// f(x) and ∇f(x) into `grad`, or `None` when a guard fails (`grad` is then unspecified).
    pub(crate) fn value_grad(
        &self,
        x: &[f64],
        grad: &mut [f64],
        ws: &mut Workspace,
    ) -> Option<f64> {
        if !self.forward(x, ws) {
            return None;
        }
        let (slot, adj_root) = match self.root {
            Root::Const(c) => {
                grad.fill(0.0);
                return Some(c);
            }
            Root::Slot(s, a) => (s, a),
        };
        let adj = &mut ws.adj;
        adj.clear();
        adj.resize(self.n_adj, 0.0);
        adj[adj_root as usize] = 1.0;
        for run in self.runs.iter().rev() {
            let edges = run.edges.start as usize..run.edges.end as usize;
            if let Some(d) = run.dense {
                let n = run.ins.len();
                let first = self.n_in + run.ins.start as usize;
                dense::backward(d, edges.len() / n, n, first, adj, &ws.part[edges]);
                continue;
            }
            for (&(o, i), &p) in self.edges[edges.clone()].iter().zip(&ws.part[edges]).rev() {
                adj[i as usize] += adj[o as usize] * p;
            }
        }
        grad.copy_from_slice(&adj[..self.n_in]);
        Some(ws.vals[slot as usize])
    }
}
