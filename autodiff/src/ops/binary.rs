//! Scalar functions of two tape variables. (Tensor binary ops broadcast and live in `tensor.rs`.)
//!
//! Mixed forms with an `f64` constant on either side become the cheaper unary ops `AddC`, `MulC`, `CDiv`, …
//! (see `Var`'s operators); these rules cover two variables.

use crate::real::Real;

/// A binary scalar op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Powf,
    Atan2,
    Hypot,
    Max,
    Min,
}

/// Forward value on `f64` (what `f64`'s own operator or method returns).
#[inline]
pub(crate) fn eval(op: BinOp, x: f64, y: f64) -> f64 {
    use BinOp::*;
    match op {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Rem => x % y,
        Powf => x.powf(y),
        Atan2 => x.atan2(y),
        Hypot => x.hypot(y),
        Max => x.max(y),
        Min => x.min(y),
    }
}

/// Adjoints of both inputs of z = op(x, y) given g = ∂L/∂z. `None` is an exact zero.
#[inline]
pub(crate) fn vjp<A: Real>(op: BinOp, x: A, y: A, z: A, g: A) -> (Option<A>, Option<A>) {
    use BinOp::*;
    match op {
        Add => (Some(g), Some(g)),
        Sub => (Some(g), Some(-g)),
        Mul => (Some(g * y), Some(g * x)),
        Div => (Some(g / y), Some(-(g * z / y))), // ∂/∂y (x/y) = −z/y
        Rem => {
            // x % y = x − trunc(x/y)·y, with the quotient piecewise constant
            let q = (x.value() / y.value()).trunc();
            (Some(g), Some(g * -q))
        }
        Powf => {
            // ∂x = y x^{y−1}; ∂y = z ln x (taken as 0 where x = 0, the limit along x > 0 when z = 0)
            let dx = g * y * x.powf(y - 1.0);
            let dy = if x.value() == 0.0 {
                None
            } else {
                Some(g * z * x.ln())
            };
            (Some(dx), dy)
        }
        Atan2 => {
            // atan2(x, y): ∂x = y/(x² + y²), ∂y = −x/(x² + y²)
            let r2 = x * x + y * y;
            (Some(g * y / r2), Some(-(g * x / r2)))
        }
        Hypot => (Some(g * x / z), Some(g * y / z)),
        // The selected input takes the whole adjoint (ties go to x, as f64::max/min return x then).
        Max => {
            if x.value() >= y.value() || y.value().is_nan() {
                (Some(g), None)
            } else {
                (None, Some(g))
            }
        }
        Min => {
            if x.value() <= y.value() || y.value().is_nan() {
                (Some(g), None)
            } else {
                (None, Some(g))
            }
        }
    }
}
