//! `lpdf::log_mix` and `linalg::gp_exp_quad_cov`: values against closed forms, derivatives against finite
//! differences, and the reject rule.

use stein_autodiff::{gradcheck, Real};
use stein_scores::{linalg, lpdf};

fn mix<S: Real>(p: &[S]) -> S {
    // θ through a logistic so that finite differences stay inside [0, 1]
    let theta = ((-p[0]).exp() + S::cst(1.0)).recip();
    lpdf::log_mix(
        theta,
        lpdf::normal(p[1], S::cst(0.0), S::cst(1.0)),
        lpdf::normal(p[1], p[2], S::cst(0.5)),
    )
}

#[test]
fn log_mix_is_the_mixture_and_its_gradient_is_right() {
    for p in [[0.3, 0.5, 2.0], [-1.2, -3.0, 1.0], [2.0, 40.0, -1.0]] {
        let v: f64 = mix(&p);
        let theta = 1.0 / (1.0 + (-p[0]).exp());
        let (a, b) = (lpdf::normal(p[1], 0.0, 1.0), lpdf::normal(p[1], p[2], 0.5));
        let direct = (theta * a.exp() + (1.0 - theta) * b.exp()).ln();
        assert!(
            (v - direct).abs() <= 1e-12 * direct.abs().max(1.0) || !direct.is_finite(),
            "{v} vs {direct}"
        );
        gradcheck(|x| mix(x), &p, 1e-6, 1e-6).unwrap();
    }
    // the weights at the ends of [0, 1] pick one component; outside, a rejection
    assert_eq!(lpdf::log_mix(1.0, -3.0, -1.0), -3.0);
    assert_eq!(lpdf::log_mix(0.0, -3.0, -1.0), -1.0);
    for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        assert!(lpdf::log_mix(bad, -3.0, -1.0).is_nan(), "θ = {bad}");
    }
}

#[test]
fn the_squared_exponential_covariance_and_its_gradient() {
    let x = [-1.0, 0.0, 0.5, 2.0];
    let f = |p: &[f64]| -> Vec<f64> { linalg::gp_exp_quad_cov(&x, p[0], p[1]) };
    let k = f(&[1.5, 0.8]);
    for i in 0..4 {
        for j in 0..4 {
            let d: f64 = x[i] - x[j];
            let e = 2.25 * (-d * d / (2.0 * 0.64)).exp();
            assert!((k[i * 4 + j] - e).abs() < 1e-14, "K[{i}][{j}]");
        }
    }
    // a scalar of every entry, so each one's derivative in α and ρ is checked
    gradcheck(
        |p| {
            linalg::gp_exp_quad_cov(&x, p[0], p[1])
                .into_iter()
                .enumerate()
                .fold(p[0] * 0.0, |s, (i, v)| s + v * (1.0 + i as f64))
        },
        &[1.5, 0.8],
        1e-6,
        1e-6,
    )
    .unwrap();
}

#[test]
fn glm_blocks_are_the_sums_over_rows_and_their_gradients_are_right() {
    // 5 rows × 3 columns
    let x: Vec<f64> = (0..15).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
    let yb = [true, false, false, true, true];
    let yn = [0.3, -1.2, 2.0, 0.7, -0.4];
    let yk = [0u64, 3, 1, 7, 2];
    let eta = |p: &[f64], i: usize| p[0] + (0..3).map(|j| x[i * 3 + j] * p[1 + j]).sum::<f64>();
    let p = [0.2, 0.5, -0.3, 0.1, 1.3];
    let sum = |f: &dyn Fn(usize) -> f64| (0..5).map(f).sum::<f64>();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * (1.0 + b.abs());
    assert!(close(
        lpdf::bernoulli_logit_glm(&yb, &x, p[0], &p[1..4]),
        sum(&|i| lpdf::bernoulli_logit(yb[i], eta(&p, i)))
    ));
    assert!(close(
        lpdf::normal_id_glm(&yn, &x, p[0], &p[1..4], p[4]),
        sum(&|i| lpdf::normal(yn[i], eta(&p, i), p[4]))
    ));
    assert!(close(
        lpdf::poisson_log_glm(&yk, &x, p[0], &p[1..4]),
        sum(&|i| lpdf::poisson_log(yk[i], eta(&p, i)))
    ));
    let checks = [
        gradcheck(
            |v| lpdf::bernoulli_logit_glm(&yb, &x, v[0], &v[1..4]),
            &p,
            1e-6,
            1e-6,
        ),
        gradcheck(
            |v| lpdf::normal_id_glm(&yn, &x, v[0], &v[1..4], v[4]),
            &p,
            1e-6,
            1e-6,
        ),
        gradcheck(
            |v| lpdf::poisson_log_glm(&yk, &x, v[0], &v[1..4]),
            &p,
            1e-6,
            1e-6,
        ),
    ];
    for c in checks {
        assert!(c.is_ok(), "{c:?}");
    }
    // σ ≤ 0 is NaN, as for `normal`
    assert!(lpdf::normal_id_glm(&yn, &x, 0.0, &[0.0; 3], -1.0).is_nan());
}

#[test]
#[should_panic(
    expected = "bernoulli_logit_glm: a design of 14 values for 5 observations × 3 coefficients"
)]
fn a_glm_design_of_the_wrong_size_is_a_documented_panic() {
    let x = vec![0.0; 14];
    lpdf::bernoulli_logit_glm(&[true; 5], &x, 0.0, &[0.0; 3]);
}

#[test]
fn a_glm_without_predictors_is_the_intercept_model() {
    let y = [true, false, true];
    let lp = lpdf::bernoulli_logit_glm(&y, &[], 0.4, &[]);
    let want = 2.0 * lpdf::bernoulli_logit(true, 0.4) + lpdf::bernoulli_logit(false, 0.4);
    assert!((lp - want).abs() < 1e-12);
}
