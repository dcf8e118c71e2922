//! `num_traits::Float` and `FloatConst` for [`Var`]: elementwise functions become tape nodes, predicates and
//! piecewise-constant functions decide on the value (and are guarded while tracing).

use super::Var;
use crate::ops::binary::BinOp;
use crate::ops::unary::UnOp;
use crate::trace::{Operand, Piece, Pred};
use num_traits::{Float, FloatConst};
use std::num::FpCategory;

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
    ($($m:ident => $p:ident),* $(,)?) => {
        $(#[inline] fn $m(self) -> bool { self.pred(Pred::$p) })*
    };
}

macro_rules! constant_fns {
    ($($m:ident),* $(,)?) => {
        $(#[inline] fn $m() -> Self { Var::constant(f64::$m()) })*
    };
}

macro_rules! piecewise_constant {
    ($($m:ident => $p:ident),* $(,)?) => {
        // Derivative zero almost everywhere: the result is a constant (guarded when tracing).
        $(#[inline] fn $m(self) -> Self { self.piece(Piece::$p, Piece::$p.apply(self.val)) })*
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
        is_nan => IsNan,
        is_infinite => IsInfinite,
        is_finite => IsFinite,
        is_normal => IsNormal,
        is_sign_positive => SignPositive,
        is_sign_negative => SignNegative,
    );
    piecewise_constant!(floor => Floor, ceil => Ceil, round => Round, trunc => Trunc, signum => Signum);
    unary_methods!(
        abs => Abs, recip => Recip, sqrt => Sqrt, exp => Exp, exp2 => Exp2, ln => Ln, log2 => Log2,
        log10 => Log10, cbrt => Cbrt, sin => Sin, cos => Cos, tan => Tan, asin => Asin, acos => Acos,
        atan => Atan, exp_m1 => ExpM1, ln_1p => Ln1p, sinh => Sinh, cosh => Cosh, tanh => Tanh,
        asinh => Asinh, acosh => Acosh, atanh => Atanh,
    );
    fn classify(self) -> FpCategory {
        let c = self.val.classify();
        self.pred(Pred::Class(c));
        c
    }
    fn fract(self) -> Self {
        self - self.trunc()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        // Record x·a + b, but store f64's fused (single-rounding) value in the result, so the primal is
        // bit-identical to f64::mul_add. The rule of `+` does not read its output value, so every
        // derivative stays exact.
        let fused = self.val.mul_add(a.val, b.val);
        let first_new = [self, a, b]
            .iter()
            .find_map(|v| v.tape)
            .map_or(0, |t| t.len() as u32);
        let mut r = self * a + b;
        r.val = fused;
        if let Some(t) = r.tape {
            t.with(|t| t.nodes[r.idx as usize].val = fused);
            if r.idx >= first_new {
                // a replay computes this node as f64's fused value too
                t.note_fused(r.idx, [Operand::of(self), Operand::of(a), Operand::of(b)]);
            }
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
        if self <= o {
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
        self.value().integer_decode()
    }
    fn to_degrees(self) -> Self {
        // f64 multiplies by a correctly rounded 180/π, which is what 1.0.to_degrees() returns
        self * 1f64.to_degrees()
    }
    fn to_radians(self) -> Self {
        self * 1f64.to_radians()
    }
}
