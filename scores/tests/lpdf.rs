//! The `_lpdf` building blocks: values against scipy.stats (reference numbers below, from
//! `scipy.stats.<dist>.logpdf` 1.17), gradients in every continuous argument by finite differences, and the
//! LKJ normaliser against closed forms and a quadrature over the correlation-Cholesky transform.

use stein_autodiff::{gradcheck, Real, Var};
use stein_scores::lpdf;
use stein_scores::transform::Transform;

fn close(ours: f64, scipy: f64, what: &str) {
    assert!(
        (ours - scipy).abs() <= 1e-12 * scipy.abs().max(1.0),
        "{what}: {ours} here, {scipy} by scipy"
    );
}

/// Value against scipy, and the gradient in every argument against central differences.
fn check(what: &str, args: &[f64], scipy: f64, f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>) {
    let plain = {
        let consts: Vec<Var> = args.iter().map(|&a| Var::cst(a)).collect();
        f(&consts).value()
    };
    close(plain, scipy, what);
    gradcheck(&f, args, 1e-6, 1e-6).unwrap_or_else(|e| panic!("{what} at {args:?}: {e}"));
}

fn univariate<S: Real>(name: &str, x: &[S]) -> S {
    match name {
        "normal" => lpdf::normal(x[0], x[1], x[2]),
        "student_t" => lpdf::student_t(x[0], x[1], x[2], x[3]),
        "cauchy" => lpdf::cauchy(x[0], x[1], x[2]),
        "exponential" => lpdf::exponential(x[0], x[1]),
        "gamma" => lpdf::gamma(x[0], x[1], x[2]),
        "lognormal" => lpdf::lognormal(x[0], x[1], x[2]),
        "half_normal" => lpdf::half_normal(x[0], x[1]),
        "half_cauchy" => lpdf::half_cauchy(x[0], x[1]),
        _ => lpdf::beta(x[0], x[1], x[2]),
    }
}

#[test]
fn univariate_densities_match_scipy_and_their_gradients_match_finite_differences() {
    let cases: &[(&str, &[f64], f64)] = &[
        ("normal", &[0.3, -0.2, 1.7], -1.4928193794225524),
        ("normal", &[-4.0, 1.0, 0.5], -50.22579135264473),
        ("student_t", &[0.3, 3.5, -0.2, 1.7], -1.5750362116747492),
        ("student_t", &[-6.0, 1.2, 1.0, 0.5], -6.030571414002846),
        ("cauchy", &[0.3, -0.2, 1.7], -1.7583244347073919),
        ("cauchy", &[12.0, 1.0, 0.5], -6.635731596226938),
        ("exponential", &[0.7, 2.5], -0.8337092681258448),
        ("exponential", &[3.0, 0.2], -2.2094379124341),
        ("gamma", &[0.7, 2.5, 1.5], -0.8560325161106068),
        ("gamma", &[3.0, 0.4, 0.2], -2.6996203558762897),
        ("lognormal", &[0.7, 0.1, 0.8], -0.5020512914059839),
        ("lognormal", &[5.0, -1.0, 2.0], -4.072669403554773),
        ("half_normal", &[0.7, 0.8], -0.38546030133051756),
        ("half_normal", &[5.0, 2.0], -4.043938533204672),
        ("half_cauchy", &[0.7, 0.8], -0.7969438893279137),
        ("half_cauchy", &[5.0, 2.0], -3.1257313547159837),
        ("beta", &[0.3, 2.5, 1.5], -0.3564378420678893),
        ("beta", &[0.9, 0.5, 0.7], -0.17515049373255565),
    ];
    for &(name, args, scipy) in cases {
        check(name, args, scipy, |x| univariate(name, x));
    }
    // outside the support: −∞
    assert_eq!(lpdf::exponential(-0.1, 1.0), f64::NEG_INFINITY);
    assert_eq!(lpdf::gamma(0.0, 2.0, 1.0), f64::NEG_INFINITY);
    assert_eq!(lpdf::beta(1.0, 2.0, 2.0), f64::NEG_INFINITY);
    assert_eq!(lpdf::half_normal(-1.0, 1.0), f64::NEG_INFINITY);
    assert_eq!(lpdf::lognormal(-1.0, 0.0, 1.0), f64::NEG_INFINITY);
}

#[test]
fn discrete_densities_match_scipy_and_their_gradients_match_finite_differences() {
    let bern: &[(bool, f64, f64)] = &[
        (true, 0.3, -0.554355244468527),
        (false, 0.3, -0.8543552444685272),
        (true, -30.0, -30.000000000000092),
    ];
    for &(y, a, scipy) in bern {
        check("bernoulli_logit", &[a], scipy, |x| {
            lpdf::bernoulli_logit(y, x[0])
        });
    }
    for &(k, n, a, scipy) in &[
        (3, 10, 0.3, -2.8560607019032247),
        (0, 7, -1.2, -1.8429772713662187),
    ] {
        check("binomial_logit", &[a], scipy, |x| {
            lpdf::binomial_logit(k, n, x[0])
        });
    }
    assert_eq!(lpdf::binomial_logit(4, 3, 0.0), f64::NEG_INFINITY);
    for &(k, eta, scipy) in &[
        (3, 0.4, -2.083584166869325),
        (0, -2.0, -0.1353352832366127),
        (17, 2.5, -3.187567410840364),
    ] {
        check("poisson_log", &[eta], scipy, |x| lpdf::poisson_log(k, x[0]));
    }
}

#[test]
fn multivariate_densities_match_scipy_and_their_gradients_match_finite_differences() {
    // x (3), μ (3), L (9, lower triangular; the upper zeros are inputs too and get zero gradient)
    let args = [
        0.3, -1.0, 0.8, 0.1, 0.2, -0.3, 1.3, 0.0, 0.0, 0.4, 0.9, 0.0, -0.5, 0.2, 0.7,
    ];
    check("multi_normal_cholesky", &args, -5.718333710362902, |p| {
        lpdf::multi_normal_cholesky(&p[0..3], &p[3..6], &p[6..15])
    });
    // the point stays on the simplex as the differences move it: x = (p₀, p₁, 1 − p₀ − p₁)
    check(
        "dirichlet",
        &[0.2, 0.5, 1.5, 2.0, 0.7],
        0.7717963325849542,
        |p| lpdf::dirichlet(&[p[0], p[1], (p[0] + p[1]).rsub(1.0)], &p[2..5]),
    );
    // the generic Cholesky on the tape: N(μ, Σ) through cholesky(Σ) equals the factor given directly
    let sigma = [1.69, 0.52, -0.65, 0.52, 0.97, -0.02, -0.65, -0.02, 0.78];
    let l = stein_scores::linalg::cholesky(&sigma, 3).unwrap();
    let direct = lpdf::multi_normal_cholesky(&args[0..3], &args[3..6], &l);
    close(
        direct,
        -5.718333710362902,
        "multi_normal_cholesky through cholesky(Σ)",
    );
    gradcheck(
        |p| {
            let l = stein_scores::linalg::cholesky(&p[3..12], 3).unwrap();
            let mu = [p[0] * 0.0, p[1] * 0.0, p[2] * 0.0];
            lpdf::multi_normal_cholesky(&p[0..3], &mu, &l)
        },
        &[
            0.3, -1.0, 0.8, 1.69, 0.52, -0.65, 0.52, 0.97, -0.02, -0.65, -0.02, 0.78,
        ],
        1e-6,
        1e-6,
    )
    .unwrap();
    let e = stein_scores::linalg::cholesky(&[1.0, 2.0, 2.0, 1.0], 2).unwrap_err();
    assert_eq!((e.pivot, e.value), (1, -3.0), "{e}");
    assert!(e.to_string().contains("pivot 1 is -3"), "{e}");
}

#[test]
fn the_lkj_normaliser_matches_closed_forms() {
    // K = 2: R has one free entry r, density (1 − r²)^{η−1} / (B(η, η) 2^{2η−1})
    for eta in [0.5, 1.0, 2.5] {
        let want = stein_autodiff::special::lgamma(eta) * 2.0
            - stein_autodiff::special::lgamma(2.0 * eta)
            + (2.0 * eta - 1.0) * std::f64::consts::LN_2;
        close(
            lpdf::lkj_log_normalizer(2, eta),
            want,
            "LKJ constant, K = 2",
        );
    }
    // K = 3, η = 1: the volume of the 3 × 3 correlation matrices is π²/2
    let volume = (std::f64::consts::PI.powi(2) / 2.0).ln();
    close(
        lpdf::lkj_log_normalizer(3, 1.0),
        volume,
        "LKJ constant, K = 3, η = 1",
    );
}

#[test]
fn lkj_through_the_correlation_cholesky_transform_integrates_to_one() {
    // ∫ exp(lkj_corr_cholesky(L(u), η) + log|J(u)|) du over ℝ³ = 1 for K = 3: checks the density, its
    // normaliser and the transform's Jacobian together (midpoint rule on [−7, 7]³)
    let t = Transform::corr_cholesky(3).unwrap();
    for eta in [1.0, 2.0] {
        let (n, half) = (90, 7.0);
        let h = 2.0 * half / n as f64;
        let mut total = 0.0;
        let mut l = Vec::with_capacity(9);
        for i in 0..n {
            for j in 0..n {
                for k in 0..n {
                    let u = [
                        -half + (i as f64 + 0.5) * h,
                        -half + (j as f64 + 0.5) * h,
                        -half + (k as f64 + 0.5) * h,
                    ];
                    l.clear();
                    let log_j = t.constrain(&u, &mut l);
                    total += (lpdf::lkj_corr_cholesky(&l, eta) + log_j).exp();
                }
            }
        }
        let integral = total * h * h * h;
        assert!((integral - 1.0).abs() < 2e-3, "η = {eta}: ∫ = {integral}");
    }
}
