//! What a trace keeps beside the nodes (see [`crate::compile`]).
//!
//! The nodes of a recording say what was computed; they do not say what the function *decided* on its
//! inputs' values. While a [`Tape`] traces, every such decision is logged as a [`Guard`] (comparisons,
//! predicates such as `is_nan`, piecewise-constant results such as `floor`, the range of a stabilising
//! shift), and every read of a raw value the tape cannot see through (`value()`, `to_f64`) is counted. A
//! replay is valid only while every guard still holds; a trace with raw reads is not replayed at all.

use crate::tape::{Tape, NONE};
use crate::var::Var;
use std::cmp::Ordering;
use std::num::FpCategory;

/// A guard's operand: a node of the trace or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Operand {
    Node(u32),
    Const(f64),
}

impl Operand {
    pub(crate) fn of(v: Var<'_>) -> Self {
        match v.tape {
            Some(_) => Operand::Node(v.idx),
            None => Operand::Const(v.val),
        }
    }
}

/// A predicate of one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Pred {
    IsNan,
    IsInfinite,
    IsFinite,
    IsNormal,
    SignPositive,
    SignNegative,
    Class(FpCategory),
}

impl Pred {
    pub(crate) fn holds(self, x: f64) -> bool {
        match self {
            Pred::IsNan => x.is_nan(),
            Pred::IsInfinite => x.is_infinite(),
            Pred::IsFinite => x.is_finite(),
            Pred::IsNormal => x.is_normal(),
            Pred::SignPositive => x.is_sign_positive(),
            Pred::SignNegative => x.is_sign_negative(),
            Pred::Class(c) => x.classify() == c,
        }
    }
}

/// A piecewise-constant function: its result is a constant of the trace, valid while it does not change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Piece {
    Floor,
    Ceil,
    Round,
    Trunc,
    Signum,
    Step,
    Sign,
}

impl Piece {
    pub(crate) fn apply(self, x: f64) -> f64 {
        match self {
            Piece::Floor => x.floor(),
            Piece::Ceil => x.ceil(),
            Piece::Round => x.round(),
            Piece::Trunc => x.trunc(),
            Piece::Signum => x.signum(),
            Piece::Step => crate::special::step(x),
            Piece::Sign => crate::special::sign(x),
        }
    }
}

/// What a guard tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Test {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    /// `a.partial_cmp(b)` is this ordering.
    Order(Option<Ordering>),
    /// The predicate of `a` (`b` unused).
    Pred(Pred),
    /// The function of `a` has the bits of `b`.
    Piece(Piece),
    /// `lo ≤ a ≤ hi` (`b` unused).
    Range(f64, f64),
}

/// One decision of a traced function: `test(a, b) == expect`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Guard {
    pub test: Test,
    pub a: Operand,
    pub b: Operand,
    pub expect: bool,
}

impl Test {
    /// The test on values.
    pub(crate) fn eval(self, a: f64, b: f64) -> bool {
        match self {
            Test::Lt => a < b,
            Test::Le => a <= b,
            Test::Gt => a > b,
            Test::Ge => a >= b,
            Test::Eq => a == b,
            Test::Order(o) => a.partial_cmp(&b) == o,
            Test::Pred(p) => p.holds(a),
            Test::Piece(f) => f.apply(a).to_bits() == b.to_bits(),
            Test::Range(lo, hi) => lo <= a && a <= hi,
        }
    }
}

/// The log of one trace.
#[derive(Debug, Default)]
pub(crate) struct TraceLog {
    pub guards: Vec<Guard>,
    /// Reads of raw values (`value()`, `to_f64`, `integer_decode`, a derivative rule that branches).
    pub reads: u32,
    /// Nodes whose value is f64's fused x·a + b (`mul_add`), with x, a, b.
    pub fused: Vec<(u32, [Operand; 3])>,
}

impl Tape {
    /// True while the tape traces.
    #[inline]
    pub(crate) fn tracing(&self) -> bool {
        self.with(|t| t.trace.is_some())
    }

    /// Start a trace (the log of the previous one, if any, is dropped).
    pub(crate) fn begin_trace(&self) {
        self.with(|t| t.trace = Some(Box::default()));
    }

    /// Stop tracing and hand back the log.
    pub(crate) fn end_trace(&self) -> TraceLog {
        self.with(|t| t.trace.take().map(|b| *b).unwrap_or_default())
    }

    /// Log a guard when tracing.
    #[inline]
    pub(crate) fn guard(&self, g: Guard) {
        self.with(|t| {
            if let Some(tr) = t.trace.as_mut() {
                tr.guards.push(g);
            }
        })
    }

    /// Count a raw read when tracing.
    #[inline]
    pub(crate) fn note_read(&self) {
        self.with(|t| {
            if let Some(tr) = t.trace.as_mut() {
                tr.reads += 1;
            }
        })
    }

    /// Log a fused multiply-add node when tracing.
    pub(crate) fn note_fused(&self, node: u32, ops: [Operand; 3]) {
        self.with(|t| {
            if let Some(tr) = t.trace.as_mut() {
                tr.fused.push((node, ops));
            }
        })
    }

    /// When tracing, keep a `Lin` node's full recipe after its terms: the base and every term in order,
    /// constants as (`NONE`, value) — the node alone folds them into its value.
    pub(crate) fn note_lin_recipe(&self, node: u32, recipe: impl Iterator<Item = (u32, f64)>) {
        self.with(|t| {
            if t.trace.is_none() {
                return;
            }
            let start = t.lin.len();
            t.lin.extend(recipe);
            let n = &mut t.nodes[node as usize];
            debug_assert_eq!(start as u32, n.a + n.b);
            n.c = (t.lin.len() - start) as u32;
        })
    }
}

/// Decide `test(a, b)` on values and log it as a guard when either side is on a tracing tape.
#[inline]
pub(crate) fn decide(test: Test, a: Var<'_>, b: Var<'_>) -> bool {
    let r = test.eval(a.val, b.val);
    if let Some(t) = a.tape.or(b.tape) {
        t.guard(Guard {
            test,
            a: Operand::of(a),
            b: Operand::of(b),
            expect: r,
        });
    }
    r
}

/// The full recipe of traced `Lin` node `i` (what [`Tape::note_lin_recipe`] kept): base first, then every
/// term, constants as (`RECIPE_CONST`, value).
pub(crate) fn recipe<'a>(
    nodes: &[crate::tape::Node],
    lin: &'a [(u32, f64)],
    i: usize,
) -> &'a [(u32, f64)] {
    let nd = nodes[i];
    let start = (nd.a + nd.b) as usize;
    &lin[start..start + nd.c as usize]
}

/// A constant that is `NONE`'s partner in a recipe entry.
pub(crate) const RECIPE_CONST: u32 = NONE;
