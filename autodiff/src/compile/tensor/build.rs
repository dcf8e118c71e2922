//! From a traced tensor function to a [`Program`]: sources (the input, constants, their slices) become
//! views, elementwise ops become instructions of the group of their shape, `sum`s become the scalar
//! registers the tail starts from.

use super::program::{Group, Ins, Program, Reg, Scalar, Src, View};
use crate::compile::TraceError;
use crate::ops::tensor::TOp;
use crate::tape::{Inner, Op, NONE};
use crate::trace::{recipe, TraceLog, RECIPE_CONST};

/// What a node of the trace is in the program.
#[derive(Clone, Copy)]
enum Kind {
    /// Not needed by the output.
    Dead,
    /// A view of a source tensor: `(source, first row, first column, rows, cols)` before any broadcast.
    Source(Src, usize, usize, usize, usize),
    /// Instruction `ins` of group `group`.
    Computed { group: usize, ins: u32 },
    /// A scalar: a register or a constant.
    Scalar(Reg),
}

/// Build the program of the trace of `f(x)`: `input` is the input leaf, `root` the output node (`None`: the
/// output is the constant `value`).
pub(crate) fn build(
    t: &Inner,
    log: TraceLog,
    input: u32,
    root: Option<u32>,
    value: f64,
) -> Result<Program, TraceError> {
    if log.reads > 0 {
        return Err(TraceError::ValueRead { reads: log.reads });
    }
    if !log.guards.is_empty() {
        return Err(TraceError::Unsupported {
            what: "a decision on a value (a comparison, floor, sign, ...) in a tensor function",
        });
    }
    if !log.fused.is_empty() {
        return Err(TraceError::Unsupported {
            what: "mul_add in a tensor function",
        });
    }
    let im = t.tmeta[t.nodes[input as usize].c as usize];
    let mut prog = Program {
        rows: im.rows as usize,
        cols: im.cols as usize,
        consts: Vec::new(),
        groups: Vec::new(),
        n_sums: 0,
        tail: Vec::new(),
        root: Reg::Const(value),
    };
    let Some(root) = root else {
        return Ok(prog);
    };
    let live = liveness(t, root);
    // sums are the first registers; the tail's registers follow, numbered once the sums are counted
    let mut kind = vec![Kind::Dead; root as usize + 1];
    let mut tail_nodes = Vec::new();
    for i in 0..=root as usize {
        if !live[i] {
            continue;
        }
        let nd = t.nodes[i];
        kind[i] = match nd.op {
            Op::T(op) => tensor_kind(t, &mut prog, &kind, i, op, input)?,
            Op::TSum => {
                let ins = load_or_ins(&mut prog, &kind, nd.a)?;
                let reg = prog.n_sums as u32;
                prog.n_sums += 1;
                prog.groups[ins.0].sums.push((ins.1, reg));
                Kind::Scalar(Reg::R(reg))
            }
            Op::Leaf | Op::Const => Kind::Scalar(Reg::Const(nd.val)),
            Op::Un(_) | Op::Bin(_) | Op::Lin => {
                if nd.op == Op::Lin && nd.c == NONE {
                    return Err(TraceError::Unsupported {
                        what: "a linear combination recorded before the trace began",
                    });
                }
                tail_nodes.push(i);
                Kind::Dead // numbered below
            }
            Op::TGet => {
                return Err(TraceError::Unsupported {
                    what: "reading one entry of a tensor (get) in a compiled tensor function",
                })
            }
        };
    }
    for (k, &i) in tail_nodes.iter().enumerate() {
        let reg = |p: u32| match kind[p as usize] {
            Kind::Scalar(r) => r,
            _ => unreachable!("a scalar node reads a scalar"),
        };
        let nd = t.nodes[i];
        let ins = match nd.op {
            Op::Un(op) => Scalar::Un(op, nd.konst(), reg(nd.a)),
            Op::Bin(op) => Scalar::Bin(op, reg(nd.a), reg(nd.b)),
            _ => {
                let entry = |&(p, w): &(u32, f64)| match p {
                    RECIPE_CONST => (Reg::Const(w), 1.0),
                    p => (reg(p), w),
                };
                let (base, terms) = recipe(&t.nodes, &t.lin, i)
                    .split_first()
                    .expect("a Lin recipe starts with its base");
                Scalar::Lin(entry(base).0, terms.iter().map(entry).collect())
            }
        };
        prog.tail.push(ins);
        kind[i] = Kind::Scalar(Reg::R((prog.n_sums + k) as u32));
    }
    prog.root = match kind[root as usize] {
        Kind::Scalar(r) => r,
        _ => unreachable!("the output is a scalar"),
    };
    Ok(prog)
}

/// The nodes the output reads, directly or not.
fn liveness(t: &Inner, root: u32) -> Vec<bool> {
    let mut live = vec![false; root as usize + 1];
    live[root as usize] = true;
    for i in (0..=root as usize).rev() {
        if !live[i] {
            continue;
        }
        let nd = t.nodes[i];
        let mut mark = |p: u32| {
            if p != NONE {
                live[p as usize] = true;
            }
        };
        match nd.op {
            Op::Leaf | Op::Const => {}
            // (a Lin recorded before the trace has no recipe; `build` refuses it)
            Op::Lin if nd.c != NONE => {
                for &(p, _) in recipe(&t.nodes, &t.lin, i) {
                    if p != RECIPE_CONST {
                        mark(p);
                    }
                }
            }
            Op::Lin => {}
            Op::T(TOp::Leaf) => {}
            // a scalar map keeps its constant in b, an entry read its index
            Op::Un(_) | Op::TSum | Op::TGet => mark(nd.a),
            Op::Bin(_) | Op::T(_) => {
                mark(nd.a);
                mark(nd.b);
            }
        }
    }
    live
}

/// The kind of tensor node `i`.
fn tensor_kind(
    t: &Inner,
    prog: &mut Program,
    kind: &[Kind],
    i: usize,
    op: TOp,
    input: u32,
) -> Result<Kind, TraceError> {
    let nd = t.nodes[i];
    let m = t.tmeta[nd.c as usize];
    let (rows, cols) = (m.rows as usize, m.cols as usize);
    Ok(match op {
        TOp::Leaf if i as u32 == input => Kind::Source(Src::Input, 0, 0, rows, cols),
        // data the function placed on the tape itself: a constant of the trace
        TOp::Leaf | TOp::Const if op == TOp::Leaf || nd.a == NONE => {
            prog.consts.push((rows, cols, t.tdata[m.range()].to_vec()));
            Kind::Source(Src::Const(prog.consts.len() as u32 - 1), 0, 0, rows, cols)
        }
        TOp::Slice => match kind[nd.a as usize] {
            Kind::Source(src, r0, c0, _, _) => {
                let start = m.p[1] as usize;
                let (r0, c0) = if m.p[0] == 0 {
                    (r0 + start, c0)
                } else {
                    (r0, c0 + start)
                };
                Kind::Source(src, r0, c0, rows, cols)
            }
            _ => {
                return Err(TraceError::Unsupported {
                    what: "a slice of a computed tensor (slice the input or a constant instead)",
                })
            }
        },
        TOp::Un(u) => {
            let a = load_or_ins(prog, kind, nd.a)?;
            push(prog, a.0, Ins::Un(u, m.c, a.1))
        }
        TOp::Add | TOp::Sub | TOp::Mul | TOp::Div | TOp::SoftplusCached | TOp::SiluCached => {
            let g = group_of(prog, rows, cols);
            let a = operand(prog, kind, nd.a, g)?;
            let b = operand(prog, kind, nd.b, g)?;
            let ins = match op {
                TOp::SoftplusCached | TOp::SiluCached => Ins::Cached(op, a, b),
                _ => Ins::Bin(op, a, b),
            };
            push(prog, g, ins)
        }
        _ => {
            return Err(TraceError::Unsupported {
                what: unsupported(op),
            })
        }
    })
}

/// Why a tensor op is refused.
fn unsupported(op: TOp) -> &'static str {
    match op {
        TOp::Const => "a piecewise-constant map (step, sign) of a computed tensor",
        TOp::MatMul => {
            "matrix products (compiled tensor functions fuse elementwise ops, slices and sums)"
        }
        TOp::SumTo | TOp::BroadcastTo => "sums along an axis and explicit broadcasts",
        TOp::Fill => "a tensor filled with a scalar variable",
        _ => "transposes, reshapes, pads, concatenations, gathers and scatters",
    }
}

/// The group of shape `rows × cols` (made when new).
fn group_of(prog: &mut Program, rows: usize, cols: usize) -> usize {
    if let Some(g) = prog
        .groups
        .iter()
        .position(|g| (g.rows, g.cols) == (rows, cols))
    {
        return g;
    }
    prog.groups.push(Group {
        rows,
        cols,
        ins: Vec::new(),
        live: Vec::new(),
        sums: Vec::new(),
    });
    prog.groups.len() - 1
}

fn push(prog: &mut Program, g: usize, ins: Ins) -> Kind {
    let group = &mut prog.groups[g];
    add(group, ins);
    Kind::Computed {
        group: g,
        ins: group.ins.len() as u32 - 1,
    }
}

/// (group, instruction) holding tensor node `p`'s value, loading a source into the group of its shape.
fn load_or_ins(prog: &mut Program, kind: &[Kind], p: u32) -> Result<(usize, u32), TraceError> {
    match kind[p as usize] {
        Kind::Computed { group, ins } => Ok((group, ins)),
        Kind::Source(_, _, _, rows, cols) => {
            let g = group_of(prog, rows, cols);
            Ok((g, operand(prog, kind, p, g)?))
        }
        _ => unreachable!("a tensor op reads a tensor"),
    }
}

/// The instruction of group `g` that holds tensor node `p` at the group's shape (a source broadcasts).
fn operand(prog: &mut Program, kind: &[Kind], p: u32, g: usize) -> Result<u32, TraceError> {
    let (gr, gc) = (prog.groups[g].rows, prog.groups[g].cols);
    match kind[p as usize] {
        Kind::Computed { group, ins } if group == g => Ok(ins),
        Kind::Computed { .. } => Err(TraceError::Unsupported {
            what: "broadcasting a computed tensor (only the input and constants broadcast)",
        }),
        Kind::Source(src, r0, c0, rows, cols) => {
            let (src_rows, src_cols) = match src {
                Src::Input => (prog.rows, prog.cols),
                Src::Const(k) => (prog.consts[k as usize].0, prog.consts[k as usize].1),
            };
            let view = View {
                src,
                r0,
                c0,
                src_cols,
                bcast_r: rows == 1 && gr > 1,
                bcast_c: cols == 1 && gc > 1,
            };
            debug_assert!(r0 + rows <= src_rows && c0 + cols <= src_cols);
            let group = &mut prog.groups[g];
            if let Some(k) = group.ins.iter().position(|i| *i == Ins::Load(view)) {
                return Ok(k as u32);
            }
            add(group, Ins::Load(view));
            Ok(group.ins.len() as u32 - 1)
        }
        _ => unreachable!("a tensor op reads a tensor"),
    }
}

/// Append `ins` to `group`, noting whether it depends on the input.
fn add(group: &mut Group, ins: Ins) {
    let live = match ins {
        Ins::Load(v) => v.src == Src::Input,
        Ins::Un(_, _, a) => group.live[a as usize],
        Ins::Bin(_, a, b) | Ins::Cached(_, a, b) => {
            group.live[a as usize] || group.live[b as usize]
        }
    };
    group.ins.push(ins);
    group.live.push(live);
}
