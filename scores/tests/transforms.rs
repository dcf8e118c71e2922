//! Constraint transforms: every value lands in its set, the inverse undoes the map, log|det J| equals the
//! log-determinant of the finite-difference Jacobian of u ↦ (free constrained coordinates), and its gradient
//! matches finite differences (it records on the tape).

use proptest::prelude::*;
use stein_autodiff::gradcheck;
use stein_scores::transform::Transform;

fn all() -> Vec<Transform> {
    vec![
        Transform::real(3).unwrap(),
        Transform::positive(3).unwrap(),
        Transform::lower(-1.5, 2).unwrap(),
        Transform::upper(2.0, 2).unwrap(),
        Transform::interval(-1.0, 3.0, 3).unwrap(),
        Transform::simplex(4).unwrap(),
        Transform::ordered(4).unwrap(),
        Transform::positive_ordered(3).unwrap(),
        Transform::corr_cholesky(3).unwrap(),
        Transform::corr_cholesky(4).unwrap(),
    ]
}

/// The constrained coordinates that are free (the map onto them is a bijection of ℝⁿ).
fn free(t: &Transform, x: &[f64]) -> Vec<f64> {
    match *t {
        Transform::Simplex { k } => x[..k - 1].to_vec(),
        Transform::CorrCholesky { k } => (1..k)
            .flat_map(|i| (0..i).map(move |j| x[i * k + j]))
            .collect(),
        _ => x.to_vec(),
    }
}

fn constrain(t: &Transform, u: &[f64]) -> (Vec<f64>, f64) {
    let mut x = Vec::new();
    let lj = t.constrain(u, &mut x);
    (x, lj)
}

/// log|det A| by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // row operations read best indexed
fn log_abs_det(mut a: Vec<Vec<f64>>) -> f64 {
    let n = a.len();
    let mut s = 0.0;
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, p);
        s += a[c][c].abs().ln();
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
        }
    }
    s
}

fn in_set(t: &Transform, x: &[f64]) -> bool {
    match *t {
        Transform::Real { .. } => true,
        Transform::Positive { .. } => x.iter().all(|v| *v > 0.0),
        Transform::Lower { lower, .. } => x.iter().all(|v| *v > lower),
        Transform::Upper { upper, .. } => x.iter().all(|v| *v < upper),
        Transform::Interval { lower, upper, .. } => x.iter().all(|v| *v > lower && *v < upper),
        Transform::Simplex { .. } => {
            x.iter().all(|v| *v > 0.0) && (x.iter().sum::<f64>() - 1.0).abs() < 1e-12
        }
        Transform::Ordered { .. } => x.windows(2).all(|w| w[0] < w[1]),
        Transform::PositiveOrdered { .. } => x[0] > 0.0 && x.windows(2).all(|w| w[0] < w[1]),
        Transform::CorrCholesky { k } => (0..k).all(|i| {
            let row = &x[i * k..(i + 1) * k];
            row[i] > 0.0
                && row[i + 1..].iter().all(|v| *v == 0.0)
                && (row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn transforms_land_in_their_sets_and_invert(seed in proptest::collection::vec(-2.5f64..2.5, 6)) {
        for t in all() {
            let u: Vec<f64> = (0..t.unconstrained_len()).map(|i| seed[i % 6] * (1.0 + 0.1 * i as f64)).collect();
            let (x, _) = constrain(&t, &u);
            prop_assert_eq!(x.len(), t.constrained_len());
            prop_assert!(in_set(&t, &x), "{}: {:?}", t.name(), x);
            let back = t.unconstrain(&x).unwrap();
            for (a, b) in back.iter().zip(&u) {
                prop_assert!((a - b).abs() < 1e-8 * (1.0 + b.abs()), "{}: u = {:?}, back {:?}", t.name(), u, back);
            }
        }
    }

    #[test]
    fn log_det_jacobian_matches_finite_differences(seed in proptest::collection::vec(-2.0f64..2.0, 6)) {
        for t in all() {
            let n = t.unconstrained_len();
            let u: Vec<f64> = (0..n).map(|i| seed[i % 6] * (1.0 - 0.07 * i as f64)).collect();
            let (_, lj) = constrain(&t, &u);
            // central differences of the free coordinates, column by column
            let h = 1e-6;
            let mut jac = vec![vec![0.0; n]; n];
            for c in 0..n {
                let (mut up, mut dn) = (u.clone(), u.clone());
                up[c] += h;
                dn[c] -= h;
                let (fu, fd) = (free(&t, &constrain(&t, &up).0), free(&t, &constrain(&t, &dn).0));
                for r in 0..n {
                    jac[r][c] = (fu[r] - fd[r]) / (2.0 * h);
                }
            }
            let fd = log_abs_det(jac);
            prop_assert!((lj - fd).abs() < 1e-6 * (1.0 + fd.abs()), "{}: log|det J| = {} vs {} by differences", t.name(), lj, fd);
            // and it differentiates on the tape
            let r = gradcheck(|v| { let mut x = Vec::new(); t.constrain(v, &mut x) }, &u, 1e-6, 1e-6);
            prop_assert!(r.is_ok(), "{}: {:?}", t.name(), r);
        }
    }
}

#[test]
fn values_outside_a_set_are_named_errors() {
    let e = Transform::simplex(3)
        .unwrap()
        .unconstrain(&[0.5, 0.6, -0.1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("simplex(3)") && e.contains("x[2] = -0.1"), "{e}");
    let e = Transform::simplex(3)
        .unwrap()
        .unconstrain(&[0.5, 0.6, 0.1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("sum to 1.2"), "{e}");
    let e = Transform::ordered(3)
        .unwrap()
        .unconstrain(&[0.0, 1.0, 1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("x[2] = 1 does not exceed x[1] = 1"), "{e}");
    let po = Transform::positive_ordered(2).unwrap();
    let e = po.unconstrain(&[-0.5, 1.0]).unwrap_err().to_string();
    assert!(
        e.contains("positive_ordered(2)") && e.contains("x[0] = -0.5 is not positive"),
        "{e}"
    );
    let e = po.unconstrain(&[0.5, 0.5]).unwrap_err().to_string();
    assert!(e.contains("x[1] = 0.5 does not exceed x[0] = 0.5"), "{e}");
    let e = Transform::interval(0.0, 1.0, 1)
        .unwrap()
        .unconstrain(&[1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("inside the interval"), "{e}");
    assert!(Transform::positive(2).unwrap().unconstrain(&[1.0]).is_err());
    assert!(Transform::corr_cholesky(2)
        .unwrap()
        .unconstrain(&[1.0, 0.0, 0.6, 0.6])
        .is_err());
    // constructors
    assert!(Transform::interval(1.0, 1.0, 1).is_err());
    assert!(Transform::lower(f64::NAN, 1).is_err());
    assert!(Transform::simplex(1).is_err());
    assert!(Transform::real(0).is_err());
    assert!(Transform::corr_cholesky(1 << 13).is_err());
}

#[test]
#[should_panic(expected = "simplex(3): 3 unconstrained values given, 2 needed")]
fn a_wrong_length_is_a_documented_panic() {
    let mut x = Vec::new();
    let _: f64 = Transform::simplex(3)
        .unwrap()
        .constrain(&[0.0, 0.0, 0.0], &mut x);
}

#[test]
fn bounds_from_other_parameters_have_the_right_jacobian_and_gradients() {
    use stein_scores::transform::{interval_of, lower_of, upper_of};
    let (a, b) = (0.3, 1.7);
    for u in [-3.0, -0.2, 0.0, 1.1, 4.0] {
        // the value lies in its set and log|dx/du| is the log of the central difference of x(u)
        let h = 1e-6;
        type Map = fn(f64) -> (f64, f64);
        let cases: [(Map, &str); 3] = [
            (|u| interval_of(u, 0.3, 1.7), "interval"),
            (|u| lower_of(u, 0.3), "lower"),
            (|u| upper_of(u, 1.7), "upper"),
        ];
        for (f, name) in cases {
            let (x, lj) = f(u);
            let slope = (f(u + h).0 - f(u - h).0) / (2.0 * h);
            assert!(
                (slope.abs().ln() - lj).abs() < 1e-6,
                "{name} at u = {u}: {lj} vs {}",
                slope.abs().ln()
            );
            let inside = match name {
                "interval" => a < x && x < b,
                "lower" => x > a,
                _ => x < b,
            };
            assert!(inside, "{name}: x = {x}");
        }
        // derivatives with respect to the value and both bounds, on the tape
        let r = gradcheck(
            |v| {
                let (x, lj) = interval_of(v[0], v[1], v[2]);
                x * 0.5 + lj
            },
            &[u, a, b],
            1e-6,
            1e-6,
        );
        assert!(r.is_ok(), "{r:?}");
    }
    // bounds in the wrong order: a NaN log-Jacobian (a rejection), not a panic
    assert!(interval_of(0.0, 1.0, 0.5).1.is_nan());
}
