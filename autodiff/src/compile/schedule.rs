//! The order of a program's instructions: by level (one more than the deepest instruction read), so the
//! instructions of a level are independent and a replay overlaps them; within a level by kind, so one kind
//! in a row is one run.
//!
//! A *chain* — a running sum, difference or product (`lp += term` in a loop): each member's first operand
//! is the member before, read by nothing else — would otherwise spread over as many levels as it has
//! members, interleaved with every other chain of the function. Its members all take the chain's level
//! instead (one more than the deepest value any of them reads besides the member before), and follow each
//! other, so a chain is one run ([`super::dense`] carries it in a register).

use super::program::Kind;
use crate::ops::binary::BinOp;
use crate::tape::NONE;
use crate::trace::Operand;

/// What scheduling needs to know of each node.
pub(crate) struct Graph<'a> {
    /// The node becomes an instruction.
    pub ins: &'a [bool],
    pub ops: &'a [Vec<Operand>],
    pub kind: &'a dyn Fn(usize) -> Kind,
    /// The node's value is read by a guard or is the output: it must be stored.
    pub pinned: &'a [bool],
}

/// The instructions in replay order, and each node's chain (`NONE`: none; else the chain's first member).
pub(crate) fn schedule(g: &Graph<'_>) -> (Vec<usize>, Vec<u32>) {
    let n = g.ins.len();
    // consumers of each node (distinct)
    let mut uses = vec![0u32; n];
    for i in (0..n).filter(|&i| g.ins[i]) {
        let mut seen: Vec<u32> = Vec::with_capacity(3);
        for o in &g.ops[i] {
            if let Operand::Node(p) = *o {
                if !seen.contains(&p) {
                    seen.push(p);
                    uses[p as usize] += 1;
                }
            }
        }
    }
    let chainable = |k: Kind| matches!(k, Kind::Bin(BinOp::Add | BinOp::Sub | BinOp::Mul));
    let mut chain = vec![NONE; n];
    for i in (0..n).filter(|&i| g.ins[i] && chainable((g.kind)(i))) {
        let (Some(&Operand::Node(p)), Some(&b)) = (g.ops[i].first(), g.ops[i].get(1)) else {
            continue;
        };
        let p = p as usize;
        let joins = g.ins[p]
            && (g.kind)(p) == (g.kind)(i)
            && uses[p] == 1
            && !g.pinned[p]
            && b != Operand::Node(p as u32);
        if joins {
            chain[i] = if chain[p] == NONE { p as u32 } else { chain[p] };
            chain[p] = chain[i];
        }
    }
    // levels, a chain's members sharing the deepest of theirs (its members read nothing but the member
    // before and values from before the chain, and only its last member is read after it)
    let mut level = vec![0u32; n];
    let mut chain_level = vec![0u32; n];
    for i in (0..n).filter(|&i| g.ins[i]) {
        let mut l = 0;
        for (k, o) in g.ops[i].iter().enumerate() {
            if let Operand::Node(p) = *o {
                let p = p as usize;
                let link = k == 0 && chain[i] != NONE && chain[p] == chain[i];
                if g.ins[p] && !link {
                    l = l.max(level[p] + 1);
                }
            }
        }
        if chain[i] != NONE {
            let c = chain[i] as usize;
            chain_level[c] = chain_level[c].max(l);
            l = chain_level[c];
        }
        level[i] = l;
    }
    for i in 0..n {
        if chain[i] != NONE {
            level[i] = chain_level[chain[i] as usize];
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| g.ins[i]).collect();
    order.sort_by_key(|&i| {
        let group = if chain[i] == NONE {
            i
        } else {
            chain[i] as usize
        };
        (level[i], kind_key((g.kind)(i)), group, i)
    });
    (order, chain)
}

/// Sort key of a kind.
fn kind_key(k: Kind) -> (u8, u8) {
    match k {
        Kind::Un(u) => (0, u as u8),
        Kind::Bin(b) => (1, b as u8),
        Kind::Square => (2, 0),
        Kind::Fma => (3, 0),
        Kind::Lin => (4, 0),
    }
}
