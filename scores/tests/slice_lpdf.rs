//! The vectorised blocks (`lpdf::slice`) against sums of the scalar blocks — values, gradients and
//! Hessians, every broadcasting pattern, the O(1) shortcuts far from the origin — counts of every type,
//! `multi_normal` against its Cholesky form, and their rules for invalid values.

use stein_autodiff::{gradcheck, hessian, Real, Var};
use stein_scores::lpdf::{self, slice, slice::Data};

const Y: [f64; 5] = [0.3, -1.2, 2.5, 0.9, -0.4];
const K: [u64; 5] = [0, 3, 1, 7, 2];

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

/// Value, gradient and Hessian of `f` and of `by_hand` agree at `p`, and `f`'s gradient agrees with
/// central differences.
fn agree(
    what: &str,
    p: &[f64],
    f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    by_hand: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>,
) {
    let consts = |g: &dyn for<'t> Fn(&[Var<'t>]) -> Var<'t>| {
        let c: Vec<Var> = p.iter().map(|&v| Var::cst(v)).collect();
        g(&c).value()
    };
    close(consts(&f), consts(&by_hand), 1e-12, what);
    let (ga, gb) = (
        stein_autodiff::grad(&f, p),
        stein_autodiff::grad(&by_hand, p),
    );
    for (a, b) in ga.iter().zip(&gb) {
        close(*a, *b, 1e-10, what);
    }
    for (ra, rb) in hessian(&f, p).iter().zip(&hessian(&by_hand, p)) {
        for (a, b) in ra.iter().zip(rb) {
            close(*a, *b, 1e-9, what);
        }
    }
    gradcheck(&f, p, 1e-6, 1e-6).unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn sum<S: Real>(n: usize, f: impl Fn(usize) -> S) -> S {
    (0..n).fold(S::cst(0.0), |a, i| a + f(i))
}

#[test]
fn normal_in_every_broadcasting_pattern_equals_the_sum_of_scalar_blocks() {
    let p = [0.4, 1.3, 0.1, -0.2, 0.5, 0.8, -0.7];
    // data with one μ and σ (the sufficient-statistics shortcut)
    agree(
        "normal(data, μ, σ)",
        &p,
        |q| slice::normal(Data(&Y), q[0], q[1]),
        |q| sum(5, |i| lpdf::normal(Var::cst(Y[i]), q[0], q[1])),
    );
    // parameters around one location and scale (θ ~ N(μ, τ))
    agree(
        "normal(θ, μ, τ)",
        &p,
        |q| slice::normal(&q[2..7], q[0], q[1]),
        |q| sum(5, |i| lpdf::normal(q[2 + i], q[0], q[1])),
    );
    // data around per-point locations with per-point data scales (y ~ N(θ, σ))
    agree(
        "normal(data, θ, data)",
        &p,
        |q| slice::normal(Data(&Y), &q[2..7], Data(&[1.0, 2.0, 0.5, 1.5, 3.0])),
        |q| {
            sum(5, |i| {
                lpdf::normal(
                    Var::cst(Y[i]),
                    q[2 + i],
                    Var::cst([1.0, 2.0, 0.5, 1.5, 3.0][i]),
                )
            })
        },
    );
    // per-point scales, one location
    agree(
        "normal(data, μ, σᵢ)",
        &p,
        |q| {
            slice::normal(
                Data(&Y),
                q[0],
                &q[2..7].iter().map(|v| v.softplus()).collect::<Vec<_>>(),
            )
        },
        |q| {
            sum(5, |i| {
                lpdf::normal(Var::cst(Y[i]), q[0], q[2 + i].softplus())
            })
        },
    );
}

#[test]
fn the_other_continuous_families_equal_the_sum_of_scalar_blocks() {
    let pos = [0.3, 1.2, 2.5, 0.9, 0.4];
    let p = [0.4, 1.3, 2.5];
    agree(
        "lognormal",
        &p,
        |q| slice::lognormal(Data(&pos), q[0], q[1]),
        |q| sum(5, |i| lpdf::lognormal(Var::cst(pos[i]), q[0], q[1])),
    );
    agree(
        "cauchy",
        &p,
        |q| slice::cauchy(Data(&Y), q[0], q[1]),
        |q| sum(5, |i| lpdf::cauchy(Var::cst(Y[i]), q[0], q[1])),
    );
    agree(
        "gamma",
        &p,
        |q| slice::gamma(Data(&pos), q[1], q[2]),
        |q| sum(5, |i| lpdf::gamma(Var::cst(pos[i]), q[1], q[2])),
    );
    agree(
        "exponential",
        &p,
        |q| slice::exponential(Data(&pos), q[1]),
        |q| sum(5, |i| lpdf::exponential(Var::cst(pos[i]), q[1])),
    );
    agree(
        "student_t",
        &p,
        |q| slice::student_t(Data(&Y), q[2], q[0], q[1]),
        |q| sum(5, |i| lpdf::student_t(Var::cst(Y[i]), q[2], q[0], q[1])),
    );
}

#[test]
fn the_discrete_families_equal_the_sum_of_scalar_blocks() {
    let p = [0.7, -0.3, 1.1, 0.2, -2.0, 0.4];
    let y = [true, false, false, true, true];
    agree(
        "poisson_log, one η",
        &p,
        |q| slice::poisson_log(&K, q[0]),
        |q| sum(5, |i| lpdf::poisson_log(K[i], q[0])),
    );
    agree(
        "poisson_log, ηᵢ",
        &p,
        |q| slice::poisson_log(&K, &q[1..6]),
        |q| sum(5, |i| lpdf::poisson_log(K[i], q[1 + i])),
    );
    agree(
        "bernoulli_logit, one α",
        &p,
        |q| slice::bernoulli_logit(&y, q[0]),
        |q| sum(5, |i| lpdf::bernoulli_logit(y[i], q[0])),
    );
    agree(
        "bernoulli_logit, αᵢ",
        &p,
        |q| slice::bernoulli_logit(&y, &q[1..6]),
        |q| sum(5, |i| lpdf::bernoulli_logit(y[i], q[1 + i])),
    );
    let n = [3_u64, 5, 1, 9, 2];
    agree(
        "binomial_logit",
        &p,
        |q| slice::binomial_logit(&[1_u64, 5, 0, 7, 2], &n, q[0]),
        |q| {
            sum(5, |i| {
                lpdf::binomial_logit([1_u64, 5, 0, 7, 2][i], n[i], q[0])
            })
        },
    );
}

#[test]
fn the_shortcuts_do_not_cancel_far_from_the_origin() {
    // data at 10⁸ with unit spread: Σy² − 2μΣy + nμ² would lose every digit; the centred form keeps them
    let y: Vec<f64> = Y.iter().map(|v| 1e8 + v).collect();
    let by_hand: f64 = y.iter().map(|&v| lpdf::normal(v, 1e8 + 0.1, 1.3)).sum();
    close(
        slice::normal(Data(&y), 1e8 + 0.1, 1.3),
        by_hand,
        1e-10,
        "far data",
    );
}

#[test]
fn invalid_values_follow_the_scalar_rules() {
    assert!(slice::normal(Data(&Y), 0.0, -1.0).is_nan());
    assert!(slice::normal(Data(&Y), f64::NAN, 1.0).is_nan());
    assert!(slice::normal(Data(&[0.0, f64::NAN]), 0.0, 1.0).is_nan());
    assert_eq!(
        slice::normal(Data(&[0.0, f64::INFINITY]), 0.0, 1.0),
        f64::NEG_INFINITY
    );
    assert_eq!(slice::normal(Data(&[]), 0.0, 1.0), 0.0);
    assert_eq!(slice::poisson_log(&[1_i64, -2], 0.5), f64::NEG_INFINITY);
    assert!(slice::poisson_log(&[1.0, f64::NAN], 0.5).is_nan());
    // a rate of 0: all mass at k = 0
    assert_eq!(slice::poisson_log(&[0_u64, 0], f64::NEG_INFINITY), 0.0);
    assert_eq!(
        slice::poisson_log(&[0_u64, 1], f64::NEG_INFINITY),
        f64::NEG_INFINITY
    );
    assert!(slice::gamma(Data(&[1.0]), -1.0, 1.0).is_nan());
}

#[test]
#[should_panic(expected = "slice::normal: arguments of lengths 5 and 2")]
fn slices_of_different_lengths_are_a_programmer_error_naming_both() {
    slice::normal(Data(&Y), &[0.0, 1.0][..], 1.0);
}

#[test]
fn counts_of_every_type_agree_and_non_counts_are_outside_the_support() {
    for k in [0_u64, 1, 4, 30] {
        let want = lpdf::poisson_log(k, 0.7);
        assert_eq!(lpdf::poisson_log(k as i64, 0.7), want);
        assert_eq!(lpdf::poisson_log(k as i32, 0.7), want);
        assert_eq!(lpdf::poisson_log(k as usize, 0.7), want);
        assert_eq!(lpdf::poisson_log(k as f64, 0.7), want);
        assert_eq!(
            lpdf::binomial_logit(k as f64, 40.0, 0.3),
            lpdf::binomial_logit(k, 40, 0.3)
        );
    }
    for bad in [-1.0, 0.5, f64::INFINITY] {
        assert_eq!(lpdf::poisson_log(bad, 0.7), f64::NEG_INFINITY, "k = {bad}");
        assert_eq!(
            lpdf::binomial_logit(bad, 4.0, 0.3),
            f64::NEG_INFINITY,
            "k = {bad}"
        );
    }
    // n is a parameter of the family: an invalid one is a rejection
    assert!(lpdf::binomial_logit(1_i64, -3, 0.3).is_nan());
    assert!(lpdf::binomial_logit(1.0, 2.5, 0.3).is_nan());
    let x = [1.0, 0.5, -2.0, 0.0];
    assert_eq!(
        lpdf::poisson_log_glm(&[2_i64, 0], &x, 0.1, &[0.3, -0.2]),
        lpdf::poisson_log_glm(&[2_u64, 0], &x, 0.1, &[0.3, -0.2])
    );
}

#[test]
fn multi_normal_equals_its_cholesky_form_and_rejects_what_is_not_positive_definite() {
    // Σ(a, b, c) = [[a², ab], [ab, b² + c²]]: positive-definite for a, c ≠ 0
    let p = [0.3, -0.8, 1.2, 0.4, 0.9];
    fn cov<'t>(q: &[Var<'t>]) -> [Var<'t>; 4] {
        [
            q[2] * q[2],
            q[2] * q[3],
            q[2] * q[3],
            q[3] * q[3] + q[4] * q[4],
        ]
    }
    agree(
        "multi_normal",
        &p,
        |q| lpdf::multi_normal(&q[0..2], &[Var::cst(0.1), Var::cst(-0.2)], &cov(q)),
        |q| {
            let l = [q[2], Var::cst(0.0), q[3], q[4]];
            lpdf::multi_normal_cholesky(&q[0..2], &[Var::cst(0.1), Var::cst(-0.2)], &l)
        },
    );
    assert!(lpdf::multi_normal(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 1.0, 1.0, 1.0]).is_nan());
}
