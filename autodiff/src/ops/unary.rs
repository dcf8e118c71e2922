//! Elementwise functions of one argument (scalars and tensors alike).
//!
//! `eval` is the forward on `f64`; `vjp` is the backward, written in the same generic ops ([`Elem`]) so it
//! runs on `f64` adjoints (fast sweep), on tape variables (recorded sweep: the gradient is differentiable
//! again) and on tensors. Keep the two matches in the same order: adding a function touches this file only.

use super::vmath;
use crate::real::Elem;
use crate::special as sp;
use std::f64::consts::{FRAC_2_SQRT_PI, LN_10, LN_2};

/// An elementwise op. `c` is the op's constant where it has one (marked `c` below).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum UnOp {
    Neg,
    Exp,
    Exp2,
    ExpM1,
    Ln,
    Ln1p,
    Log2,
    Log10,
    Sqrt,
    Cbrt,
    Recip,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Abs,
    Sigmoid,
    Softplus,
    LogSigmoid,
    Silu,
    Elu,
    Relu,
    Erf,
    Lgamma,
    /// ψ⁽ᶜ⁾(x)
    Polygamma,
    /// x + c (also x − c: same derivative)
    AddC,
    /// x · c
    MulC,
    /// x / c
    DivC,
    /// c − x
    CSub,
    /// c / x
    CDiv,
    /// x^c, c real
    PowC,
    /// x^c, c integral
    Powi,
    /// c^x
    CPow,
    /// Heaviside step (constant: derivative 0)
    Step,
    /// sign, 0 at 0 (constant: derivative 0)
    Sign,
}

impl UnOp {
    /// The result is piecewise constant: it is not recorded and has no derivative.
    pub(crate) fn is_constant(self) -> bool {
        matches!(self, UnOp::Step | UnOp::Sign)
    }
}

/// Forward value on `f64`. The plain `f64` implementation of [`Real`](crate::Real) calls the same functions,
/// so primal values are bit-identical on and off the tape.
#[inline]
pub(crate) fn eval(op: UnOp, x: f64, c: f64) -> f64 {
    use UnOp::*;
    match op {
        Neg => -x,
        Exp => x.exp(),
        Exp2 => x.exp2(),
        ExpM1 => x.exp_m1(),
        Ln => x.ln(),
        Ln1p => x.ln_1p(),
        Log2 => x.log2(),
        Log10 => x.log10(),
        Sqrt => x.sqrt(),
        Cbrt => x.cbrt(),
        Recip => x.recip(),
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Tanh => x.tanh(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        Abs => x.abs(),
        Sigmoid => sp::sigmoid(x),
        Softplus => sp::softplus(x),
        LogSigmoid => sp::log_sigmoid(x),
        Silu => sp::silu(x),
        Elu => sp::elu(x),
        Relu => sp::relu(x),
        Erf => sp::erf(x),
        Lgamma => sp::lgamma(x),
        Polygamma => sp::polygamma(c as u32, x),
        AddC => x + c,
        MulC => x * c,
        DivC => x / c,
        CSub => c - x,
        CDiv => c / x,
        PowC => x.powf(c),
        Powi => x.powi(c as i32),
        CPow => c.powf(x),
        Step => sp::step(x),
        Sign => sp::sign(x),
    }
}

/// `out[i] = op(src[i])`, with the op resolved once per call (not per element); large tensors are split
/// over the rayon pool (the result does not depend on the split).
pub(crate) fn eval_slice(op: UnOp, c: f64, src: &[f64], out: &mut [f64]) {
    use rayon::prelude::*;
    if src.len() >= crate::ops::kernels::PARALLEL_MIN {
        out.par_chunks_mut(crate::ops::kernels::CHUNK)
            .zip(src.par_chunks(crate::ops::kernels::CHUNK))
            .for_each(|(o, s)| eval_slice_serial(op, c, s, o));
    } else {
        eval_slice_serial(op, c, src, out);
    }
}

/// `out[i] = op(src[i])` with one loop per listed op (the op resolved once per call, each body inlined);
/// evaluates to `true`, or to `false` for an op not listed.
macro_rules! each_op {
    ($op:expr, $c:expr, $src:expr, $out:expr; $($v:ident),* $(,)?) => {
        match $op {
            $(UnOp::$v => {
                for (o, &x) in $out.iter_mut().zip($src) {
                    *o = eval(UnOp::$v, x, $c);
                }
                true
            })*
            _ => false,
        }
    };
}

fn eval_slice_serial(op: UnOp, c: f64, src: &[f64], out: &mut [f64]) {
    // the exponential family runs vectorised (ops/vmath.rs); the rest element by element
    let fun = match op {
        UnOp::Exp => Some(vmath::Fun::Exp),
        UnOp::Softplus => Some(vmath::Fun::Softplus),
        UnOp::Sigmoid => Some(vmath::Fun::Sigmoid),
        UnOp::LogSigmoid => Some(vmath::Fun::LogSigmoid),
        UnOp::Silu => Some(vmath::Fun::Silu),
        _ => None,
    };
    if let Some(f) = fun {
        return vmath::map(f, src, out);
    }
    // the correctly rounded maps at the CPU's full width; libm's functions element by element
    if pulp::Arch::new().dispatch(Rounded { op, c, src, out }) {
        return;
    }
    let done = each_op!(
        op, c, src, out;
        Exp, Exp2, ExpM1, Ln, Ln1p, Log2, Log10, Cbrt, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh,
        Tanh, Asinh, Acosh, Atanh, Sigmoid, Softplus, LogSigmoid, Silu, Elu, Erf, Lgamma,
        Polygamma, PowC, Powi, CPow,
    );
    assert!(done, "eval_slice: no loop for {op:?}");
}

/// The correctly rounded maps (x + c, c·x, −x, c − x, √x, 1/x, |x|, x², …) compiled per instruction set (`pulp`),
/// so they vectorise at the CPU's full width: the same operations, the same bits. (libm's functions stay in
/// a baseline loop: vectorising them would need a vector libm, and might round differently.) `false`: not one
/// of them.
struct Rounded<'a> {
    op: UnOp,
    c: f64,
    src: &'a [f64],
    out: &'a mut [f64],
}

impl pulp::WithSimd for Rounded<'_> {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> bool {
        let Rounded { op, c, src, out } = self;
        if op == UnOp::Powi && c == 2.0 {
            // x² (a square, and its slope's x¹): powi's repeated squaring rounds as x·x does
            for (o, &x) in out.iter_mut().zip(src) {
                *o = x * x;
            }
            return true;
        }
        if op == UnOp::Powi && c == 1.0 {
            out.copy_from_slice(src);
            return true;
        }
        each_op!(op, c, src, out; Neg, AddC, MulC, DivC, CSub, CDiv, Sqrt, Recip, Abs, Relu, Step, Sign)
    }
}

/// Vector-Jacobian product: given x, y = op(x) and the output adjoint g, the input adjoint g · dy/dx.
/// `None` means an exact zero (nothing to accumulate).
#[inline]
pub(crate) fn vjp<A: Elem>(op: UnOp, x: A, y: A, g: A, c: f64) -> Option<A> {
    use UnOp::*;
    let u = |v: A, op: UnOp| v.un(op, 0.0);
    Some(match op {
        Neg => -g,
        Exp => g * y,                                  // (eˣ)' = y
        Exp2 => g * y * LN_2,                          // (2ˣ)' = y ln 2
        ExpM1 => g * (y + 1.0),                        // (eˣ − 1)' = y + 1
        Ln => g / x,                                   // 1/x
        Ln1p => g / (x + 1.0),                         // 1/(1 + x)
        Log2 => g / (x * LN_2),                        //
        Log10 => g / (x * LN_10),                      //
        Sqrt => g * 0.5 / y,                           // 1/(2√x)
        Cbrt => g / (y * y * 3.0),                     // 1/(3 ∛x²)
        Recip => -(g * y * y),                         // −1/x²
        Sin => g * u(x, Cos),                          //
        Cos => -(g * u(x, Sin)),                       //
        Tan => g * (y * y + 1.0),                      // 1 + tan²
        Asin => g / u((x * x).un(CSub, 1.0), Sqrt),    // 1/√(1 − x²)
        Acos => -(g / u((x * x).un(CSub, 1.0), Sqrt)), //
        Atan => g / (x * x + 1.0),                     // 1/(1 + x²)
        Sinh => g * u(x, Cosh),                        //
        Cosh => g * u(x, Sinh),                        //
        Tanh => g * (y * y).un(CSub, 1.0),             // 1 − tanh²
        Asinh => g / u(x * x + 1.0, Sqrt),             // 1/√(x² + 1)
        Acosh => g / u(x * x - 1.0, Sqrt),             // 1/√(x² − 1)
        Atanh => g / (x * x).un(CSub, 1.0),            // 1/(1 − x²)
        Abs => g * u(x, Sign),                         // sign(x), 0 at 0
        Sigmoid => g * y * y.un(CSub, 1.0),            // σ(1 − σ)
        Softplus => g * u(x - y, Exp),                 // σ(x) = e^{x − softplus(x)}: no division
        LogSigmoid => g * u(-x, Sigmoid),              // σ(−x)
        Silu => {
            // σ + xσ(1 − σ) = σ (1 + x (1 − σ))
            let s = u(x, Sigmoid);
            g * s * (x * s.un(CSub, 1.0) + 1.0)
        }
        Elu => {
            // 1 for x > 0, eˣ = y + 1 otherwise (never evaluates eˣ for large x)
            let m = u(x, Step);
            g * (m + (y + 1.0) * m.un(CSub, 1.0))
        }
        Relu => g * u(x, Step),                                   //
        Erf => g * u((x * x).un(Neg, 0.0), Exp) * FRAC_2_SQRT_PI, // 2/√π e^{−x²}
        Lgamma => g * x.un(Polygamma, 0.0),                       // ψ(x)
        Polygamma => g * x.un(Polygamma, c + 1.0),                // ψ⁽ⁿ⁺¹⁾(x)
        AddC => g,                                                //
        MulC => g * c,                                            //
        DivC => g / c,                                            //
        CSub => -g,                                               //
        CDiv => -(g * y / x),                                     // −c/x² = −y/x
        PowC => g * x.un(PowC, c - 1.0) * c,                      // c x^{c−1}
        Powi => {
            if c == 0.0 {
                return None;
            }
            g * x.un(Powi, c - 1.0) * c // n x^{n−1}
        }
        CPow => g * y * c.ln(), // cˣ ln c
        Step | Sign => return None,
    })
}
