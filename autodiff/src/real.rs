//! The number trait that user code is written against.

use crate::special;
use num_traits::{Float, FloatConst};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A real number that may be recorded on a tape: implemented by `f64` (plain, full speed) and by
/// [`Var`](crate::Var) (differentiated). Write a function once, generic over `S: Real`, and run it both ways.
///
/// `Real` extends [`num_traits::Float`], so existing generic numeric code differentiates unchanged, and adds
/// mixed arithmetic with `f64` constants on the right (`x * 0.5`, `x - 1.0`, `x / 3.0`) and the functions
/// that log-densities need.
///
/// ```
/// use stein_autodiff::{grad, Real};
///
/// fn log_p<S: Real>(x: &[S]) -> S {
///     // a logistic log-density in x[0] plus a Gaussian in x[1]
///     x[0].log_sigmoid() + (-x[0]).log_sigmoid() - x[1].powi(2) * 0.5
/// }
/// let g = grad(|x| log_p(x), &[0.0, 2.0]);
/// assert!((g[0] - 0.0).abs() < 1e-15 && (g[1] + 2.0).abs() < 1e-15);
/// let plain: f64 = log_p(&[0.0, 2.0]);
/// assert!((plain + 2.0 * 2f64.ln() + 2.0).abs() < 1e-15);
/// ```
///
/// # A pitfall: constants on the left
/// Rust cannot let generic code put an `f64` on the left of an operator (`2.0 - x` with `x: S`): the bound
/// `f64: Sub<S>` would have to be repeated at every use site. Write `S::cst(2.0) - x` or `x.rsub(2.0)`:
///
/// ```compile_fail
/// use stein_autodiff::Real;
/// fn one_minus<S: Real>(x: S) -> S { 1.0 - x } // error: cannot subtract `S` from `{float}`
/// ```
/// ```
/// use stein_autodiff::Real;
/// fn one_minus<S: Real>(x: S) -> S { x.rsub(1.0) } // or S::cst(1.0) - x
/// assert_eq!(one_minus(0.25), 0.75);
/// ```
/// With the concrete types (`f64`, [`Var`](crate::Var)) both sides work as usual.
pub trait Real:
    Float
    + FloatConst
    + Sum
    + Display
    + Debug
    + Default
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + AddAssign<f64>
    + SubAssign<f64>
    + MulAssign<f64>
    + DivAssign<f64>
{
    /// A constant (never recorded on a tape).
    fn cst(v: f64) -> Self;
    /// The primal value as `f64`.
    fn value(self) -> f64;
    /// `c − self`.
    fn rsub(self, c: f64) -> Self;
    /// `c / self`.
    fn rdiv(self, c: f64) -> Self;
    /// `self²`.
    fn square(self) -> Self {
        self * self
    }
    /// Logistic sigmoid 1 / (1 + e^{−x}).
    fn sigmoid(self) -> Self;
    /// softplus(x) = ln(1 + eˣ), stable.
    fn softplus(self) -> Self;
    /// ln σ(x) = −softplus(−x), stable.
    fn log_sigmoid(self) -> Self;
    /// SiLU x σ(x).
    fn silu(self) -> Self;
    /// The error function.
    fn erf(self) -> Self;
    /// ln |Γ(x)|.
    fn lgamma(self) -> Self;
    /// ψ(x) = d/dx ln Γ(x).
    fn digamma(self) -> Self {
        self.polygamma(0)
    }
    /// ψ⁽ⁿ⁾(x), the n-th derivative of digamma (x > 0 for n ≥ 1).
    fn polygamma(self, n: u32) -> Self;
    /// base + Σᵢ wᵢ xᵢ with constant weights: a single tape node for variables (a plain loop on `f64`), so
    /// triangular solves, quadratic forms and linear maps written in scalar code record one node per row
    /// instead of two per term. Terms beyond the shorter of `w` and `xs` are ignored.
    ///
    /// ```
    /// use stein_autodiff::{grad, Real};
    /// fn f<S: Real>(x: &[S]) -> S { S::dot_add(S::cst(1.0), &[2.0, -3.0], x).powi(2) }
    /// assert_eq!(f(&[1.0, 1.0]), 0.0);
    /// assert_eq!(grad(|x| f(x), &[2.0, 1.0]), vec![8.0, -12.0]); // 2(1 + 2a − 3b)·(2, −3)
    /// ```
    fn dot_add(base: Self, w: &[f64], xs: &[Self]) -> Self {
        let mut v = base;
        for (&wi, &xi) in w.iter().zip(xs) {
            v += xi * wi;
        }
        v
    }
    /// Stable log Σ exp(xᵢ) over a slice (−∞ for an empty slice). The maximum is factored out as a constant,
    /// which leaves every derivative exact.
    fn logsumexp(xs: &[Self]) -> Self {
        let m = xs
            .iter()
            .map(|x| x.value())
            .fold(f64::NEG_INFINITY, f64::max);
        if !m.is_finite() {
            return Self::cst(m);
        }
        let s: Self = xs.iter().map(|&x| (x - m).exp()).sum();
        s.ln() + m
    }
}

impl Real for f64 {
    #[inline]
    fn cst(v: f64) -> Self {
        v
    }
    #[inline]
    fn value(self) -> f64 {
        self
    }
    #[inline]
    fn rsub(self, c: f64) -> Self {
        c - self
    }
    #[inline]
    fn rdiv(self, c: f64) -> Self {
        c / self
    }
    #[inline]
    fn sigmoid(self) -> Self {
        special::sigmoid(self)
    }
    #[inline]
    fn softplus(self) -> Self {
        special::softplus(self)
    }
    #[inline]
    fn log_sigmoid(self) -> Self {
        special::log_sigmoid(self)
    }
    #[inline]
    fn silu(self) -> Self {
        special::silu(self)
    }
    #[inline]
    fn erf(self) -> Self {
        special::erf(self)
    }
    #[inline]
    fn lgamma(self) -> Self {
        special::lgamma(self)
    }
    #[inline]
    fn polygamma(self, n: u32) -> Self {
        special::polygamma(n, self)
    }
}

/// Crate-internal algebra the derivative rules are written in. Implemented by `f64` (first-order sweep),
/// [`Var`](crate::Var) (recorded sweep, scalar) and [`TVar`](crate::TVar) (tensors, elementwise), so an
/// elementwise rule is written once for scalars and tensors at every order.
pub(crate) trait Elem:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + Div<f64, Output = Self>
{
    /// Apply the elementwise function `op` (with constant `c` where the op has one).
    fn un(self, op: crate::ops::unary::UnOp, c: f64) -> Self;
}

impl Elem for f64 {
    #[inline]
    fn un(self, op: crate::ops::unary::UnOp, c: f64) -> Self {
        crate::ops::unary::eval(op, self, c)
    }
}
