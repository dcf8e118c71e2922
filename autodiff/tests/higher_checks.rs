//! The higher-order checks pass on correct code and catch derivative rules that are right at one order and
//! wrong at the next: a "test op" whose VJP is written with detached values (the commonest higher-order bug).

use proptest::prelude::*;
use stein_autodiff::{
    check_orders, gradcheck, gradgradcheck, hesscheck, AdError, CheckOptions, Real, Var,
};

/// x³/3 per coordinate, written as an op whose gradient rule x² uses the value of x detached from the tape:
/// first derivatives right, second derivatives 0 (true: 2x).
fn cube_with_detached_vjp<'t>(x: &[Var<'t>]) -> Var<'t> {
    x.iter()
        .map(|&xi| {
            let c = Var::constant(xi.value());
            c * c * c / 3.0 + (xi - c) * c * c
        })
        .sum()
}

/// x³/3 whose first and second derivatives are right and whose third is 0 (true: 2): the Hessian rule
/// 2x uses the detached value.
fn cube_with_detached_hessian<'t>(x: &[Var<'t>]) -> Var<'t> {
    x.iter()
        .map(|&xi| {
            let c = Var::constant(xi.value());
            let r = xi - c;
            c * c * c / 3.0 + r * c * c + r * r * c
        })
        .sum()
}

fn smooth<S: Real>(x: &[S]) -> S {
    (x[0] * x[1]).tanh() + x[1].exp() * x[0].powi(3) - (x[2] * x[2] + 1.0).ln() * x[0].sin()
}

const X: [f64; 3] = [0.4, -0.3, 0.8];

#[test]
fn a_detached_vjp_passes_gradcheck_and_fails_hesscheck() {
    gradcheck(cube_with_detached_vjp, &X, 1e-6, 1e-7).expect("first derivatives are right");
    let e = hesscheck(cube_with_detached_vjp, &X, &CheckOptions::default()).unwrap_err();
    match &e {
        AdError::DerivativeCheck {
            order: 2,
            at,
            autodiff,
            finite_difference,
            ..
        } => {
            // the worst entry: the largest |2x|
            assert_eq!(at, "H[2][2]");
            assert_eq!(*autodiff, 0.0);
            assert!((finite_difference - 2.0 * X[2]).abs() < 1e-6);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .contains("order-2 derivative check failed at H[2][2]"),
        "{e}"
    );
    let e = gradgradcheck(
        cube_with_detached_vjp,
        &X,
        &[1.0, 1.0, 1.0],
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("(H v)[2]"), "{e}");
}

#[test]
fn check_orders_finds_the_first_wrong_order() {
    let opts = CheckOptions::default().eps(1e-4).rtol(1e-5);
    // right to order 2, wrong at order 3
    let errs = check_orders(cube_with_detached_hessian, &X, 2, &opts).unwrap();
    assert_eq!(errs.len(), 2);
    let e = check_orders(cube_with_detached_hessian, &X, 3, &opts).unwrap_err();
    assert!(
        matches!(e, AdError::DerivativeCheck { order: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("D^3 f[e0, …, e0]"), "{e}");
    // correct code passes to order 4
    let errs = check_orders(|x| smooth(x), &X, 4, &opts).unwrap();
    assert!(errs.iter().all(|&e| e < 1e-5), "{errs:?}");
}

#[test]
fn options_cannot_be_nonsense() {
    let e = hesscheck(|x| smooth(x), &X, &CheckOptions::default().eps(-1e-5)).unwrap_err();
    assert!(e.to_string().contains("CheckOptions"), "{e}");
    let e = hesscheck(
        |x| smooth(x),
        &[0.1, f64::NAN, 0.2],
        &CheckOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, AdError::NonFiniteInput { index: 1, .. }), "{e}");
    let e = gradgradcheck(|x| smooth(x), &X, &[1.0], &CheckOptions::default()).unwrap_err();
    assert!(matches!(e, AdError::Shape { .. }), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn correct_code_passes_every_check_at_random_points(x in prop::collection::vec(-1.5..1.5f64, 3)) {
        let opts = CheckOptions::default().eps(1e-4).rtol(1e-5);
        let errs = check_orders(|v| smooth(v), &x, 3, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(errs.iter().all(|&e| e < 1e-5));
        let v = [0.3, -1.0, 0.7];
        prop_assert!(gradgradcheck(|v| smooth(v), &x, &v, &opts).is_ok());
    }
}
