//! The scalar tape variable.

use crate::ops::binary::{self, BinOp};
use crate::ops::unary::{self, UnOp};
use crate::real::{Elem, Real};
use crate::tape::{Op, Tape, NONE};
use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;
use std::num::FpCategory;
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
    #[inline(always)]
    pub fn value(&self) -> f64 {
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
            _ => Var::constant(v),
        }
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

impl PartialEq for Var<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.val == o.val
    }
}

impl PartialOrd for Var<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.val.partial_cmp(&o.val)
    }
}

impl PartialEq<f64> for Var<'_> {
    fn eq(&self, o: &f64) -> bool {
        self.val == *o
    }
}

impl PartialOrd<f64> for Var<'_> {
    fn partial_cmp(&self, o: &f64) -> Option<Ordering> {
        self.val.partial_cmp(o)
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
        self.val == 0.0
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
        self.val.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.val.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.val)
    }
}

impl NumCast for Var<'_> {
    fn from<T: ToPrimitive>(n: T) -> Option<Self> {
        n.to_f64().map(Var::constant)
    }
}

macro_rules! consts {
    ($($name:ident),*) => {
        impl FloatConst for Var<'_> {
            $(fn $name() -> Self { Var::constant(<f64 as FloatConst>::$name()) })*
        }
    };
}
consts!(
    E,
    FRAC_1_PI,
    FRAC_1_SQRT_2,
    FRAC_2_PI,
    FRAC_2_SQRT_PI,
    FRAC_PI_2,
    FRAC_PI_3,
    FRAC_PI_4,
    FRAC_PI_6,
    FRAC_PI_8,
    LN_10,
    LN_2,
    LOG10_E,
    LOG2_E,
    PI,
    SQRT_2,
    TAU,
    LOG10_2,
    LOG2_10
);

macro_rules! unary_methods {
    ($($m:ident => $op:ident),* $(,)?) => {
        $(#[inline] fn $m(self) -> Self { self.un(UnOp::$op, 0.0) })*
    };
}

macro_rules! value_preds {
    ($($m:ident),* $(,)?) => {
        $(#[inline] fn $m(self) -> bool { self.val.$m() })*
    };
}

macro_rules! constant_fns {
    ($($m:ident),* $(,)?) => {
        $(#[inline] fn $m() -> Self { Var::constant(f64::$m()) })*
    };
}

macro_rules! piecewise_constant {
    ($($m:ident),* $(,)?) => {
        // Derivative zero almost everywhere: the result is a constant.
        $(#[inline] fn $m(self) -> Self { Var::constant(self.val.$m()) })*
    };
}

impl Float for Var<'_> {
    constant_fns!(
        nan,
        infinity,
        neg_infinity,
        neg_zero,
        min_value,
        min_positive_value,
        max_value,
        epsilon
    );
    value_preds!(
        is_nan,
        is_infinite,
        is_finite,
        is_normal,
        is_sign_positive,
        is_sign_negative
    );
    piecewise_constant!(floor, ceil, round, trunc, signum);
    unary_methods!(
        abs => Abs, recip => Recip, sqrt => Sqrt, exp => Exp, exp2 => Exp2, ln => Ln, log2 => Log2,
        log10 => Log10, cbrt => Cbrt, sin => Sin, cos => Cos, tan => Tan, asin => Asin, acos => Acos,
        atan => Atan, exp_m1 => ExpM1, ln_1p => Ln1p, sinh => Sinh, cosh => Cosh, tanh => Tanh,
        asinh => Asinh, acosh => Acosh, atanh => Atanh,
    );
    fn classify(self) -> FpCategory {
        self.val.classify()
    }
    fn fract(self) -> Self {
        self - self.trunc()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        // Record x·a + b, but store f64's fused (single-rounding) value in the result, so the primal is
        // bit-identical to f64::mul_add. The rule of `+` does not read its output value, so every
        // derivative stays exact.
        let fused = self.val.mul_add(a.val, b.val);
        let mut r = self * a + b;
        r.val = fused;
        if let Some(t) = r.tape {
            t.with(|t| t.nodes[r.idx as usize].val = fused);
        }
        r
    }
    fn powi(self, n: i32) -> Self {
        self.un(UnOp::Powi, n as f64)
    }
    fn powf(self, n: Self) -> Self {
        self.bin(BinOp::Powf, n)
    }
    fn log(self, base: Self) -> Self {
        // f64::log is ln(x) / ln(base)
        self.ln() / base.ln()
    }
    fn max(self, o: Self) -> Self {
        self.bin(BinOp::Max, o)
    }
    fn min(self, o: Self) -> Self {
        self.bin(BinOp::Min, o)
    }
    #[allow(deprecated)]
    fn abs_sub(self, o: Self) -> Self {
        if self.val <= o.val {
            Var::constant(0.0)
        } else {
            self - o
        }
    }
    fn hypot(self, o: Self) -> Self {
        self.bin(BinOp::Hypot, o)
    }
    fn atan2(self, o: Self) -> Self {
        self.bin(BinOp::Atan2, o)
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.val.integer_decode()
    }
    fn to_degrees(self) -> Self {
        // f64 multiplies by a correctly rounded 180/π, which is what 1.0.to_degrees() returns
        self * 1f64.to_degrees()
    }
    fn to_radians(self) -> Self {
        self * 1f64.to_radians()
    }
}

impl<'t> Real for Var<'t> {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        Var::constant(v)
    }
    #[inline(always)]
    fn value(self) -> f64 {
        self.val
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
        Var::on(t, t.push_lin(terms, v), v)
    }
}

impl<'t> Elem for Var<'t> {
    #[inline(always)]
    fn un(self, op: UnOp, c: f64) -> Self {
        Var::un(self, op, c)
    }
}
