//! Every scalar op against central finite differences at random points of its domain, at orders 1, 2 and 3,
//! and its primal value bit for bit against `f64`.

mod fd;
use fd::check_orders;
use num_traits::Float;
use proptest::prelude::*;
use stein_autodiff::Real;

macro_rules! case {
    ($name:ident, [$($lo:literal .. $hi:literal),+], |$x:ident| $body:expr) => {
        case!($name, 1e-6, [$($lo..$hi),+], |$x| $body);
    };
    ($name:ident, $rtol:expr, [$($lo:literal .. $hi:literal),+], |$x:ident| $body:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn $name(v in [$($lo..$hi),+]) {
                fn f<S: Real>($x: &[S]) -> S { $body }
                check_orders(|x| f(x), |x| f::<f64>(x), &v, $rtol)?;
            }
        }
    };
}

// elementwise functions
case!(neg, [-3.0..3.0], |x| -(x[0] * x[0]));
case!(exp, [-3.0..3.0], |x| x[0].exp());
case!(exp2, [-3.0..3.0], |x| x[0].exp2());
case!(exp_m1, [-3.0..3.0], |x| x[0].exp_m1());
case!(ln, [0.2..5.0], |x| x[0].ln());
case!(ln_1p, [-0.5..5.0], |x| x[0].ln_1p());
case!(log2, [0.2..5.0], |x| x[0].log2());
case!(log10, [0.2..5.0], |x| x[0].log10());
case!(log_base, [0.2..5.0, 1.5..4.0], |x| x[0].log(x[1]));
case!(sqrt, [0.2..5.0], |x| x[0].sqrt());
case!(cbrt, [0.2..5.0], |x| x[0].cbrt());
case!(recip, [0.3..5.0], |x| x[0].recip());
case!(sin, [-3.0..3.0], |x| x[0].sin());
case!(cos, [-3.0..3.0], |x| x[0].cos());
case!(tan, [-1.1..1.1], |x| x[0].tan());
case!(asin, [-0.8..0.8], |x| x[0].asin());
case!(acos, [-0.8..0.8], |x| x[0].acos());
case!(atan, [-3.0..3.0], |x| x[0].atan());
case!(sinh, [-2.0..2.0], |x| x[0].sinh());
case!(cosh, [-2.0..2.0], |x| x[0].cosh());
case!(tanh, [-2.0..2.0], |x| x[0].tanh());
case!(asinh, [-3.0..3.0], |x| x[0].asinh());
case!(acosh, [1.2..5.0], |x| x[0].acosh());
case!(atanh, [-0.8..0.8], |x| x[0].atanh());
case!(abs_pos, [0.1..3.0], |x| x[0].abs() * x[0]);
case!(abs_neg, [-3.0..-0.1], |x| x[0].abs() * x[0]);
case!(sigmoid, [-6.0..6.0], |x| x[0].sigmoid());
case!(softplus, [-6.0..6.0], |x| x[0].softplus());
case!(log_sigmoid, [-6.0..6.0], |x| x[0].log_sigmoid());
case!(silu, [-6.0..6.0], |x| x[0].silu());
case!(erf, [-2.0..2.0], |x| x[0].erf());
case!(lgamma, 1e-6, [0.5..6.0], |x| x[0].lgamma());
case!(digamma, 1e-6, [0.7..6.0], |x| x[0].digamma());
case!(trigamma, 1e-6, [0.8..6.0], |x| x[0].polygamma(1));
case!(powi_3, [-2.0..2.0], |x| x[0].powi(3));
case!(powi_neg2, [0.3..3.0], |x| x[0].powi(-2));
case!(powf_const, [0.2..3.0], |x| x[0].powf(S::cst(2.5)));
// base 2.5, not 2: for a literal 2 the f64 reference compiles to exp2, which differs from pow(2, x) in the last bit
// for some x (e.g. −1.657784585050311), and the primal check is bit for bit
case!(const_pow, [-2.0..2.0], |x| S::cst(2.5).powf(x[0]));
case!(square, [-3.0..3.0], |x| x[0].square());
case!(mul_const, [-3.0..3.0], |x| (x[0] * 0.7).sin());
case!(div_const, [-3.0..3.0], |x| (x[0] / 1.3).sin());
case!(add_const, [-3.0..3.0], |x| (x[0] + 2.0).sin());
case!(sub_const, [-3.0..3.0], |x| (x[0] - 2.0).sin());
case!(rsub, [-3.0..3.0], |x| x[0].rsub(1.5).sin());
case!(rdiv, [0.3..3.0], |x| x[0].rdiv(2.0));
case!(to_degrees, [-3.0..3.0], |x| (x[0].to_degrees() / 90.0)
    .sin());
case!(to_radians, [-90.0..90.0], |x| x[0].to_radians().sin());
case!(mul_add, [-2.0..2.0, -2.0..2.0], |x| x[0]
    .mul_add(x[1], x[0])
    .sin());
case!(fract, [0.1..0.9], |x| x[0].fract().sin());
case!(floor_is_constant, [1.1..1.9], |x| x[0] * x[0].floor());
case!(logsumexp, [-3.0..3.0, -3.0..3.0], |x| S::logsumexp(&[
    x[0],
    x[1],
    x[0] * x[1]
]));
case!(sum_iter, [-3.0..3.0, -3.0..3.0], |x| x
    .iter()
    .map(|&v| v.sin())
    .sum::<S>());

// binary
case!(add, [-3.0..3.0, -3.0..3.0], |x| (x[0] + x[1]).sin());
case!(sub, [-3.0..3.0, -3.0..3.0], |x| (x[0] - x[1]).sin());
case!(mul, [-3.0..3.0, -3.0..3.0], |x| x[0] * x[1] * x[0]);
case!(div, [0.3..3.0, 0.3..3.0], |x| x[0] / x[1]);
case!(powf, [0.3..3.0, -2.0..2.0], |x| x[0].powf(x[1]));
case!(atan2, [-2.0..2.0, 0.3..2.0], |x| x[0].atan2(x[1]));
case!(hypot, [0.3..2.0, -2.0..-0.3], |x| x[0].hypot(x[1]));
case!(max_left, [2.0..3.0, 0.0..1.0], |x| x[0].max(x[1]) * x[1]);
case!(max_right, [0.0..1.0, 2.0..3.0], |x| x[0].max(x[1]) * x[0]);
case!(min_left, [0.0..1.0, 2.0..3.0], |x| x[0].min(x[1]) * x[1]);
case!(min_right, [2.0..3.0, 0.0..1.0], |x| x[0].min(x[1]) * x[0]);
case!(rem, [5.1..5.9, 2.0..2.4], |x| (x[0] % x[1]) * x[1]);

// compositions
case!(banana, [-2.0..2.0, -2.0..2.0], |x| {
    let (a, b) = (x[0], x[1]);
    -(a * a) * 0.5 - (b - a * a).powi(2) * 0.5
});
case!(student_t_like, [-3.0..3.0, 0.5..3.0], |x| {
    // log density of a Student-t with ν = x1 + 1, up to a constant, differentiated in ν too
    let nu = x[1] + 1.0;
    ((nu + 1.0) * 0.5).lgamma()
        - (nu * 0.5).lgamma()
        - (nu + 1.0) * 0.5 * (x[0] * x[0] / nu).ln_1p()
});

#[test]
fn third_derivative_closed_form() {
    // f = x⁴ sin x: f''' = 24x sin x + 36x² cos x − 12x³ sin x − x⁴ cos x
    fn f<S: Real>(x: &[S]) -> S {
        x[0].powi(4) * x[0].sin()
    }
    for &x in &[-1.3, 0.4, 2.2] {
        let (_, _, _, t) = fd::derivatives(&|v: &[stein_autodiff::Var]| f(v), &[x]);
        let (s, c) = (f64::sin(x), f64::cos(x));
        let exact = 24.0 * x * s + 36.0 * x * x * c - 12.0 * x.powi(3) * s - x.powi(4) * c;
        assert!(
            (t[0][0][0] - exact).abs() < 1e-12 * (1.0 + exact.abs()),
            "x = {x}"
        );
    }
}

#[test]
fn abs_derivative_at_zero_is_zero() {
    let g = stein_autodiff::grad(|x| x[0].abs(), &[0.0]);
    assert_eq!(g[0], 0.0);
}

#[test]
fn relu_like_step_has_no_second_derivative() {
    // max(x, 0) is piecewise linear: second derivative 0 on either side
    let h = stein_autodiff::hessian(
        |x| x[0].max(stein_autodiff::Var::constant(0.0)) * 3.0,
        &[0.7],
    );
    assert_eq!(h[0][0], 0.0);
}

// n-ary linear combination node
case!(dot_add_variable_base, [-2.0..2.0, -2.0..2.0], |x| {
    S::dot_add(x[0], &[0.7, -1.3], &[x[1], x[0] * x[1]]).sin()
});
case!(
    dot_add_constant_base,
    [-2.0..2.0, -2.0..2.0],
    |x| S::dot_add(S::cst(0.5), &[2.0, 3.0], x).exp() * x[0]
);
case!(dot_add_repeated_parent, [-2.0..2.0, -2.0..2.0], |x| {
    S::dot_add(x[0], &[1.0, 2.0, -0.5], &[x[0], x[0], x[1]]).powi(3)
});
