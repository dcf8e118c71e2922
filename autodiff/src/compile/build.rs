//! From a traced tape to a [`Program`]: keep what the output and the guards need, give every value a slot,
//! order the instructions by level (independent instructions side by side) and kind (runs).

use super::dense::{self, Dense, MIN_DENSE};
use super::program::{Ins, Kind, Program, Root, Run, SKIP};
use super::schedule;
use super::TraceError;
use crate::ops::binary::BinOp;
use crate::tape::{Node, Op, NONE};
use crate::trace::{recipe, Operand, TraceLog, RECIPE_CONST};

/// A value as the program sees it.
#[derive(Clone, Copy, PartialEq)]
enum Src {
    Input(u32),
    Const(f64),
    Ins,
    Dead,
}

/// Build the program of a trace: `nodes` and `lin` are the tape's, `inputs` the input leaves in order.
pub(crate) fn build(
    nodes: &[Node],
    lin: &[(u32, f64)],
    log: TraceLog,
    inputs: &[u32],
    root: Operand,
) -> Result<Program, TraceError> {
    if log.reads > 0 {
        return Err(TraceError::ValueRead { reads: log.reads });
    }
    let n = nodes.len();
    let mut src = vec![Src::Dead; n];
    for (i, &x) in inputs.iter().enumerate() {
        src[x as usize] = Src::Input(i as u32);
    }
    // operands of every node, with mul_add nodes rewritten as x·a + b
    let mut fused = vec![None; n];
    for &(node, ops) in &log.fused {
        fused[node as usize] = Some(ops);
    }
    let operands = |i: usize| -> Vec<Operand> {
        let nd = nodes[i];
        if let Some(ops) = fused[i] {
            return ops.to_vec();
        }
        match nd.op {
            Op::Un(_) => vec![Operand::Node(nd.a)],
            Op::Bin(_) => vec![Operand::Node(nd.a), Operand::Node(nd.b)],
            Op::Lin => recipe(nodes, lin, i)
                .iter()
                .map(|&(p, w)| match p {
                    RECIPE_CONST => Operand::Const(w),
                    p => Operand::Node(p),
                })
                .collect(),
            _ => vec![],
        }
    };
    // what the output and the guards need
    let mut live = vec![false; n];
    if let Operand::Node(r) = root {
        live[r as usize] = true;
    }
    for g in &log.guards {
        for o in [g.a, g.b] {
            if let Operand::Node(i) = o {
                live[i as usize] = true;
            }
        }
    }
    let mut ops_of: Vec<Vec<Operand>> = vec![Vec::new(); n];
    for i in (0..n).rev() {
        if !live[i] {
            continue;
        }
        let nd = nodes[i];
        match nd.op {
            Op::Leaf => {
                if !matches!(src[i], Src::Input(_)) {
                    // a variable made inside the function: a constant of the trace
                    src[i] = Src::Const(nd.val);
                }
            }
            Op::Const => src[i] = Src::Const(nd.val),
            Op::Un(_) | Op::Bin(_) | Op::Lin => {
                if nd.op == Op::Lin && nd.c == NONE {
                    return Err(TraceError::Unsupported {
                        what: "a linear combination recorded before the trace began",
                    });
                }
                src[i] = Src::Ins;
                ops_of[i] = operands(i);
                for o in &ops_of[i] {
                    if let Operand::Node(p) = *o {
                        live[p as usize] = true;
                    }
                }
            }
            Op::TSum | Op::TGet | Op::T(_) => {
                return Err(TraceError::Unsupported {
                    what: "tensor operations",
                })
            }
        }
    }
    // constants get slots after the inputs; an instruction's operand constant too
    let n_in = inputs.len();
    let mut consts: Vec<f64> = Vec::new();
    let mut const_slot = vec![NONE; n];
    for i in 0..n {
        if let Src::Const(v) = src[i] {
            const_slot[i] = (n_in + consts.len()) as u32;
            consts.push(v);
        }
    }
    // a fused node's constant operands get slots of their own
    let mut cslot: Vec<[u32; 3]> = vec![[NONE; 3]; n];
    for i in 0..n {
        if fused[i].is_some() && src[i] == Src::Ins {
            for (k, o) in ops_of[i].iter().enumerate() {
                if let Operand::Const(c) = *o {
                    cslot[i][k] = (n_in + consts.len()) as u32;
                    consts.push(c);
                }
            }
        }
    }
    let base = (n_in + consts.len()) as u32;

    let kind_of = |i: usize| -> Kind {
        let nd = nodes[i];
        if fused[i].is_some() {
            return Kind::Fma;
        }
        match nd.op {
            Op::Un(u) => Kind::Un(u),
            Op::Bin(BinOp::Mul) if nd.a == nd.b => Kind::Square,
            Op::Bin(b) => Kind::Bin(b),
            _ => Kind::Lin,
        }
    };
    let mut slot = vec![NONE; n];
    for (i, s) in src.iter().enumerate() {
        match *s {
            Src::Input(k) => slot[i] = k,
            Src::Const(_) => slot[i] = const_slot[i],
            _ => {}
        }
    }
    let mut adj_of = vec![NONE; n]; // adjoint index of inputs and instructions
    for (k, &x) in inputs.iter().enumerate() {
        adj_of[x as usize] = k as u32;
    }
    let mut prog = Program {
        n_in,
        consts,
        ins: Vec::new(),
        recipe: Vec::new(),
        edges: Vec::new(),
        guards: Vec::new(),
        root: Root::Const(0.0),
        n_adj: n_in,
        runs: Vec::new(),
        ks: Vec::new(),
    };
    let mut n_edges: Vec<u32> = Vec::new(); // per instruction
    let is_ins: Vec<bool> = src.iter().map(|&s| s == Src::Ins).collect();
    let mut pinned = vec![false; n];
    for g in &log.guards {
        for o in [g.a, g.b] {
            if let Operand::Node(i) = o {
                pinned[i as usize] = true;
            }
        }
    }
    if let Operand::Node(r) = root {
        pinned[r as usize] = true;
    }
    let (order, chain) = schedule::schedule(&schedule::Graph {
        ins: &is_ins,
        ops: &ops_of,
        kind: &kind_of,
        pinned: &pinned,
    });
    let mut chain_of_ins: Vec<u32> = Vec::new(); // per instruction
    for i in order {
        let kind = kind_of(i);
        let out = prog.n_adj as u32;
        prog.n_adj += 1;
        adj_of[i] = out;
        let edges_before = prog.edges.len();
        let arity = kind.arity();
        let mut ins = Ins {
            kind,
            k: 0.0,
            ops: [0; 3],
            edge: [false; 3],
            plain: true,
        };
        if let Op::Un(_) = nodes[i].op {
            ins.k = nodes[i].konst();
        }
        if kind == Kind::Lin {
            // constants (and tape constants) become constant terms; their products are the tape's
            let start = prog.recipe.len() as u32;
            let rec = recipe(nodes, lin, i);
            for (k, &(p, w)) in rec.iter().enumerate() {
                let entry = match p {
                    RECIPE_CONST => (SKIP, w),
                    p => match src[p as usize] {
                        Src::Const(c) if k == 0 => (SKIP, c),
                        Src::Const(c) => (SKIP, c * w),
                        _ => {
                            prog.edges.push((out, adj_of[p as usize]));
                            (slot[p as usize], w)
                        }
                    },
                };
                prog.recipe.push(entry);
            }
            ins.ops = [start, rec.len() as u32, 0];
        } else {
            let ops = if kind == Kind::Square {
                &ops_of[i][..1]
            } else {
                &ops_of[i][..]
            };
            for (k, o) in ops.iter().enumerate() {
                ins.ops[k] = match *o {
                    Operand::Node(p) => slot[p as usize],
                    Operand::Const(_) => cslot[i][k],
                };
                if let Operand::Node(p) = *o {
                    if !matches!(src[p as usize], Src::Const(_)) {
                        ins.edge[k] = true;
                        prog.edges.push((out, adj_of[p as usize]));
                    }
                }
            }
            ins.plain = ins.edge[..arity].iter().all(|&e| e);
        }
        slot[i] = base + prog.ins.len() as u32;
        prog.ins.push(ins);
        n_edges.push((prog.edges.len() - edges_before) as u32);
        chain_of_ins.push(chain[i]);
    }
    prog.ks = prog.ins.iter().map(|i| i.k).collect();
    // a run: one kind, one edge layout, and a chain on its own
    let same = |i: usize, j: usize| {
        let (a, b) = (&prog.ins[i], &prog.ins[j]);
        a.kind == b.kind && a.plain == b.plain && chain_of_ins[i] == chain_of_ins[j]
    };
    let (mut start, mut e0) = (0, 0u32);
    for i in 1..=prog.ins.len() {
        if i == prog.ins.len() || !same(i, start) {
            let e1 = e0 + n_edges[start..i].iter().sum::<u32>();
            let dense = dense_form(&prog, start..i, base as usize);
            if dense.is_some() {
                // one operand's edges after the other's (the dense backward reads them by block)
                let (m, k) = (prog.ins[start].kind.arity(), i - start);
                let run: Vec<(u32, u32)> = prog.edges[e0 as usize..e1 as usize].to_vec();
                for q in 0..m {
                    for j in 0..k {
                        prog.edges[e0 as usize + q * k + j] = run[j * m + q];
                    }
                }
            }
            prog.runs.push(Run {
                ins: start as u32..i as u32,
                edges: e0..e1,
                dense,
            });
            (start, e0) = (i, e1);
        }
    }
    prog.root = match root {
        Operand::Const(c) => Root::Const(c),
        Operand::Node(r) => match src[r as usize] {
            Src::Const(c) => Root::Const(c),
            _ => Root::Slot(slot[r as usize], adj_of[r as usize]),
        },
    };
    for g in &log.guards {
        let map = |o: Operand| match o {
            Operand::Node(i) => match src[i as usize] {
                Src::Const(c) => Operand::Const(c),
                _ => Operand::Node(slot[i as usize]),
            },
            c => c,
        };
        let mut g = *g;
        g.a = map(g.a);
        g.b = map(g.b);
        prog.guards.push(g);
    }
    Ok(prog)
}

/// The dense form of a run, if it has one (see [`dense`]).
fn dense_form(prog: &Program, r: std::ops::Range<usize>, base: usize) -> Option<Dense> {
    let head = &prog.ins[r.start];
    let m = head.kind.arity();
    if !dense::has_dense_form(head.kind) || !head.plain || r.len() < MIN_DENSE {
        return None;
    }
    let adj_of = |s: u32| -> Option<u32> {
        let s = s as usize;
        if s < prog.n_in {
            Some(s as u32)
        } else if s >= base {
            Some((prog.n_in + s - base) as u32)
        } else {
            None // a constant
        }
    };
    let mut d = Dense {
        slot: [0; 2],
        adj: [0; 2],
        chain: false,
    };
    let before = |s: u32| (s as usize) < base + r.start;
    for q in 0..m {
        let s0 = prog.ins[r.start].ops[q];
        d.slot[q] = s0;
        d.adj[q] = adj_of(s0)?;
        if !before(s0) {
            return None;
        }
        // operand 0 may instead be the previous instruction's output all along: a chain
        if q == 0 && m == 2 {
            let chained = prog.ins[r.clone()]
                .iter()
                .enumerate()
                .skip(1)
                .all(|(j, ins)| ins.ops[0] as usize == base + r.start + j - 1);
            if chained {
                d.chain = true;
                continue;
            }
        }
        for (j, ins) in prog.ins[r.clone()].iter().enumerate() {
            let s = ins.ops[q];
            // consecutive, and computed before the run
            if s != s0 + j as u32 || !before(s) || adj_of(s)? != d.adj[q] + j as u32 {
                return None;
            }
        }
    }
    Some(d)
}
