//! The scalar tape variable.

use crate::ops::binary::{self, BinOp};
use crate::ops::unary::{self, UnOp};
use crate::real::{Elem, Real};
use crate::tape::{Op, Tape, NONE};
use crate::trace::{decide, Guard, Operand, Piece, Pred, Test, RECIPE_CONST};

mod float;
use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// A scalar on a [`Tape`], or a constant that never touches one.
///
/// A `Var` is a small `Copy` handle (tape reference, node index, value). The lifetime `'t` ties it to its
/// tape. Constants (`Var::constant`, `Real::cst`, `zero()`, `NumCast::from`) carry no tape, and an op on
/// two constants stays a constant, which is how `num_traits::Float`'s tape-free constructors are served.
///
/// Arithmetic between variables of two different tapes is a programmer error and panics.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    pub(crate) tape: Option<&'t Tape>,
    pub(crate) idx: u32,
    pub(crate) val: f64,
}

impl<'t> Var<'t> {
    #[inline(always)]
    pub(crate) fn on(tape: &'t Tape, idx: u32, val: f64) -> Self {
        Var {
            tape: Some(tape),
            idx,
            val,
        }
    }

    /// A constant: not on any tape, derivative zero.
    #[inline(always)]
    pub const fn constant(val: f64) -> Self {
        Var {
            tape: None,
            idx: NONE,
            val,
        }
    }

    /// The primal value.
    ///
    /// While the tape traces a function for [`compile`](mod@crate::compile), reading a raw value makes the trace
    /// unusable (what the code does with the number is invisible to the tape): compare variables instead
    /// (`x < y`, `x > 0.0`), which the trace keeps as guards.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        if let Some(t) = self.tape {
            t.note_read();
        }
        self.val
    }

    /// True for a constant (no tape).
    pub fn is_constant(&self) -> bool {
        self.tape.is_none()
    }

    /// The tape this variable is recorded on, if any.
    pub fn tape(&self) -> Option<&'t Tape> {
        self.tape
    }

    /// Broadcast this scalar to a `rows × cols` tensor on `tape` (differentiable when the scalar is a variable).
    pub fn broadcast(self, tape: &'t Tape, rows: usize, cols: usize) -> crate::TVar<'t> {
        crate::ops::tensor::fill(tape, self, rows, cols)
    }

    #[inline(always)]
    pub(crate) fn un(self, op: UnOp, c: f64) -> Self {
        let v = unary::eval(op, self.val, c);
        match self.tape {
            Some(t) if !op.is_constant() => Var::on(t, t.push_un(op, self.idx, c, v), v),
            Some(_) => {
                let piece = if op == UnOp::Step {
                    Piece::Step
                } else {
                    Piece::Sign
                };
                self.piece(piece, v)
            }
            None => Var::constant(v),
        }
    }

    /// The constant `v = f(self)` of a piecewise-constant `f`, guarded when tracing.
    #[inline]
    fn piece(self, f: Piece, v: f64) -> Self {
        if let Some(t) = self.tape {
            t.guard(Guard {
                test: Test::Piece(f),
                a: Operand::of(self),
                b: Operand::Const(v),
                expect: true,
            });
        }
        Var::constant(v)
    }

    /// A predicate of the value, guarded when tracing.
    #[inline]
    fn pred(self, p: Pred) -> bool {
        decide(Test::Pred(p), self, Var::constant(0.0))
    }

    #[inline(always)]
    fn bin(self, op: BinOp, rhs: Self) -> Self {
        let v = binary::eval(op, self.val, rhs.val);
        match (self.tape, rhs.tape) {
            (Some(t), Some(u)) => {
                assert!(
                    std::ptr::eq(t, u),
                    "stein-autodiff: arithmetic between variables of two different tapes"
                );
                Var::on(t, t.push(Op::Bin(op), self.idx, rhs.idx, v), v)
            }
            (None, None) => Var::constant(v),
            (Some(t), None) => {
                let c = rhs.val;
                // x·1 and x/1 are exactly x in IEEE arithmetic: no node (the recorded sweep's seed is 1)
                if c == 1.0 && matches!(op, BinOp::Mul | BinOp::Div) {
                    return self;
                }
                let u = match op {
                    BinOp::Add | BinOp::Sub => Some(UnOp::AddC),
                    BinOp::Mul => Some(UnOp::MulC),
                    BinOp::Div => Some(UnOp::DivC),
                    BinOp::Powf => Some(UnOp::PowC),
                    _ => None,
                };
                // x − c is x + (−c) exactly: the node keeps the constant it adds
                let c = if op == BinOp::Sub { -c } else { c };
                match u {
                    Some(u) => Var::on(t, t.push_un(u, self.idx, c, v), v),
                    None => self.bin(op, t.constant(c)),
                }
            }
            (None, Some(t)) => {
                let c = self.val;
                if c == 1.0 && op == BinOp::Mul {
                    return rhs;
                }
                let u = match op {
                    BinOp::Add => Some(UnOp::AddC),
                    BinOp::Sub => Some(UnOp::CSub),
                    BinOp::Mul => Some(UnOp::MulC),
                    BinOp::Div => Some(UnOp::CDiv),
                    BinOp::Powf => Some(UnOp::CPow),
                    _ => None,
                };
                match u {
                    Some(u) => Var::on(t, t.push_un(u, rhs.idx, c, v), v),
                    None => t.constant(c).bin(op, rhs),
                }
            }
        }
    }
}

/// The range a replayed log-sum-exp's shifted sum may take (it is in [1, n] when recorded): inside it the
/// stale shift costs no accuracy; outside it the trace is recorded again.
const LSE_SHIFT_MIN: f64 = 1e-30;
const LSE_SHIFT_MAX: f64 = 1e30;

impl Tape {
    /// A constant placed on the tape (used for the constant operand of a rare binary op).
    fn constant(&self, c: f64) -> Var<'_> {
        Var::on(self, self.push(Op::Const, NONE, NONE, c), c)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tape {
            Some(_) => write!(f, "Var({:?} @{})", self.val, self.idx),
            None => write!(f, "Var({:?} const)", self.val),
        }
    }
}

impl fmt::Display for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.val, f)
    }
}

impl Default for Var<'_> {
    fn default() -> Self {
        Var::constant(0.0)
    }
}

// Comparisons decide on values; while tracing, each decision is kept as a guard of the trace.
impl PartialEq for Var<'_> {
    fn eq(&self, o: &Self) -> bool {
        decide(Test::Eq, *self, *o)
    }
}

impl PartialOrd for Var<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        let r = self.val.partial_cmp(&o.val);
        decide(Test::Order(r), *self, *o);
        r
    }
    fn lt(&self, o: &Self) -> bool {
        decide(Test::Lt, *self, *o)
    }
    fn le(&self, o: &Self) -> bool {
        decide(Test::Le, *self, *o)
    }
    fn gt(&self, o: &Self) -> bool {
        decide(Test::Gt, *self, *o)
    }
    fn ge(&self, o: &Self) -> bool {
        decide(Test::Ge, *self, *o)
    }
}

impl PartialEq<f64> for Var<'_> {
    fn eq(&self, o: &f64) -> bool {
        *self == Var::constant(*o)
    }
}

impl PartialOrd<f64> for Var<'_> {
    fn partial_cmp(&self, o: &f64) -> Option<Ordering> {
        self.partial_cmp(&Var::constant(*o))
    }
    fn lt(&self, o: &f64) -> bool {
        *self < Var::constant(*o)
    }
    fn le(&self, o: &f64) -> bool {
        *self <= Var::constant(*o)
    }
    fn gt(&self, o: &f64) -> bool {
        *self > Var::constant(*o)
    }
    fn ge(&self, o: &f64) -> bool {
        *self >= Var::constant(*o)
    }
}

impl<'t> From<f64> for Var<'t> {
    fn from(v: f64) -> Self {
        Var::constant(v)
    }
}

macro_rules! binop {
    ($tr:ident, $m:ident, $atr:ident, $am:ident, $op:expr) => {
        impl<'t> $tr for Var<'t> {
            type Output = Var<'t>;
            #[inline(always)]
            fn $m(self, rhs: Self) -> Self {
                self.bin($op, rhs)
            }
        }
        impl<'t> $tr<f64> for Var<'t> {
            type Output = Var<'t>;
            #[inline(always)]
            fn $m(self, rhs: f64) -> Self {
                self.bin($op, Var::constant(rhs))
            }
        }
        impl<'t> $tr<Var<'t>> for f64 {
            type Output = Var<'t>;
            #[inline(always)]
            fn $m(self, rhs: Var<'t>) -> Var<'t> {
                Var::constant(self).bin($op, rhs)
            }
        }
        impl<'t> $atr for Var<'t> {
            #[inline(always)]
            fn $am(&mut self, rhs: Self) {
                *self = self.bin($op, rhs)
            }
        }
        impl<'t> $atr<f64> for Var<'t> {
            #[inline(always)]
            fn $am(&mut self, rhs: f64) {
                *self = self.bin($op, Var::constant(rhs))
            }
        }
    };
}
binop!(Add, add, AddAssign, add_assign, BinOp::Add);
binop!(Sub, sub, SubAssign, sub_assign, BinOp::Sub);
binop!(Mul, mul, MulAssign, mul_assign, BinOp::Mul);
binop!(Div, div, DivAssign, div_assign, BinOp::Div);
binop!(Rem, rem, RemAssign, rem_assign, BinOp::Rem);

impl<'t> Neg for Var<'t> {
    type Output = Var<'t>;
    #[inline(always)]
    fn neg(self) -> Self {
        self.un(UnOp::Neg, 0.0)
    }
}

impl<'t> std::iter::Sum for Var<'t> {
    fn sum<I: Iterator<Item = Self>>(mut iter: I) -> Self {
        // Start from the first term (not from +0.0): same bits as f64's sum, one node fewer.
        match iter.next() {
            None => Var::constant(0.0),
            Some(first) => iter.fold(first, |a, b| a + b),
        }
    }
}

impl<'a, 't> std::iter::Sum<&'a Var<'t>> for Var<'t> {
    fn sum<I: Iterator<Item = &'a Var<'t>>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

impl Zero for Var<'_> {
    fn zero() -> Self {
        Var::constant(0.0)
    }
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
}

impl One for Var<'_> {
    fn one() -> Self {
        Var::constant(1.0)
    }
}

impl Num for Var<'_> {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Var::constant)
    }
}

impl ToPrimitive for Var<'_> {
    fn to_i64(&self) -> Option<i64> {
        self.value().to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.value().to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.value())
    }
}

impl NumCast for Var<'_> {
    fn from<T: ToPrimitive>(n: T) -> Option<Self> {
        n.to_f64().map(Var::constant)
    }
}

impl<'t> Real for Var<'t> {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        Var::constant(v)
    }
    #[inline(always)]
    fn value(self) -> f64 {
        Var::value(&self)
    }
    #[inline]
    fn rsub(self, c: f64) -> Self {
        self.un(UnOp::CSub, c)
    }
    #[inline]
    fn rdiv(self, c: f64) -> Self {
        self.un(UnOp::CDiv, c)
    }
    fn sigmoid(self) -> Self {
        self.un(UnOp::Sigmoid, 0.0)
    }
    fn softplus(self) -> Self {
        self.un(UnOp::Softplus, 0.0)
    }
    fn log_sigmoid(self) -> Self {
        self.un(UnOp::LogSigmoid, 0.0)
    }
    fn silu(self) -> Self {
        self.un(UnOp::Silu, 0.0)
    }
    fn erf(self) -> Self {
        self.un(UnOp::Erf, 0.0)
    }
    fn lgamma(self) -> Self {
        self.un(UnOp::Lgamma, 0.0)
    }
    fn polygamma(self, n: u32) -> Self {
        self.un(UnOp::Polygamma, n as f64)
    }
    fn dot_add(base: Self, w: &[f64], xs: &[Self]) -> Self {
        // the value in f64's order (bit-identical to the plain loop), the terms on the tape as one node
        let mut v = base.val;
        let mut tape: Option<&Tape> = base.tape;
        for (&wi, xi) in w.iter().zip(xs) {
            v += xi.val * wi;
            if let Some(t) = xi.tape {
                match tape {
                    None => tape = Some(t),
                    Some(u) => assert!(
                        std::ptr::eq(t, u),
                        "stein-autodiff: dot_add of variables of two different tapes"
                    ),
                }
            }
        }
        let Some(t) = tape else {
            return Var::constant(v);
        };
        let base_term = base.tape.map(|_| (base.idx, 1.0));
        let terms = base_term.into_iter().chain(
            w.iter()
                .zip(xs)
                .filter(|(_, x)| x.tape.is_some())
                .map(|(&wi, x)| (x.idx, wi)),
        );
        let idx = t.push_lin(terms, v);
        if t.tracing() {
            // the constants the node folds into its value, in order, so a replay rebuilds the same bits
            let entry = |x: &Var, wi: f64| match x.tape {
                Some(_) => (x.idx, wi),
                None => (RECIPE_CONST, x.val * wi),
            };
            let base_entry = match base.tape {
                Some(_) => (base.idx, 1.0),
                None => (RECIPE_CONST, base.val),
            };
            let rest = w.iter().zip(xs).map(|(&wi, x)| entry(x, wi));
            t.note_lin_recipe(idx, std::iter::once(base_entry).chain(rest));
        }
        Var::on(t, idx, v)
    }
    fn logsumexp(xs: &[Self]) -> Self {
        // the maximum is a constant shift of the trace: valid while the shifted sum stays well inside
        // f64's range (a guard), and the non-finite case is guarded input by input
        let m = xs.iter().map(|x| x.val).fold(f64::NEG_INFINITY, f64::max);
        if !m.is_finite() {
            for x in xs {
                if x.val.is_finite() {
                    x.pred(Pred::IsFinite);
                } else {
                    x.piece(Piece::Trunc, x.val); // a non-finite value is its own truncation: same bits
                }
            }
            return Var::constant(m);
        }
        let s: Self = xs.iter().map(|&x| (x - m).exp()).sum();
        if let Some(t) = s.tape {
            t.guard(Guard {
                test: Test::Range(LSE_SHIFT_MIN, LSE_SHIFT_MAX),
                a: Operand::of(s),
                b: Operand::Const(0.0),
                expect: true,
            });
        }
        s.ln() + m
    }
}

impl<'t> Elem for Var<'t> {
    #[inline(always)]
    fn un(self, op: UnOp, c: f64) -> Self {
        Var::un(self, op, c)
    }
}
