//! The library's contracts on bad and extreme input (ARCHITECTURE.md, "Errors, NaN and panics"): kernel
//! statistics are the same at every scale from 10⁻¹⁵⁰ to 10¹⁵⁰ and never NaN inside `Ok`; invalid `lpdf`
//! parameters give NaN and points outside the support −∞; constructors refuse parameters whose derived
//! quantities are not finite; densities refuse points of the wrong length, naming both.

use proptest::prelude::*;
use rand::SeedableRng;
use stein_scores::gof::{autocorrelation_time, Bootstrap, FssdTest, KsdKernel, KsdTest, MmdTest};
use stein_scores::lpdf;
use stein_scores::transform::{Blocks, Constrained, ConstrainedDensity, Param, Transform};
use stein_scores::{
    kernel_stein_discrepancy, mmd, mmd_with, Analytic, Banana, Funnel, Laplace, LogDensity,
    Logistic, MultivariateNormal, NoisePerturbed, Normal, Ring, Sample, Score, Statistic, StudentT,
    Tempered,
};

const SCALES: [f64; 9] = [1e-150, 1e-100, 1e-30, 1e-3, 1.0, 1e3, 1e30, 1e100, 1e150];

fn rng(seed: u64) -> rand::rngs::SmallRng {
    rand::rngs::SmallRng::seed_from_u64(seed)
}

fn scaled(points: &[Vec<f64>], s: f64) -> Vec<Vec<f64>> {
    points
        .iter()
        .map(|p| p.iter().map(|v| v * s).collect())
        .collect()
}

fn standard(n: usize, shift: f64, seed: u64) -> Vec<Vec<f64>> {
    MultivariateNormal::isotropic(vec![shift, 0.0], 1.0)
        .unwrap()
        .sample_n(&mut rng(seed), n)
}

/// Relative agreement, for statistics that are scale-free in exact arithmetic.
fn same(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn mmd_is_the_same_at_every_scale() {
    let (x, y) = (standard(300, 0.0, 1), standard(300, 3.0, 2));
    let at_one = mmd(&x, &y).unwrap();
    assert!(at_one > 0.3, "a 3σ shift: {at_one}");
    for s in SCALES {
        let v = mmd(&scaled(&x, s), &scaled(&y, s)).unwrap();
        same(v, at_one, &format!("mmd at scale {s}"));
        // a bandwidth given in the data's units scales with them
        let given = mmd_with(&scaled(&x, s), &scaled(&y, s), Some(s), Statistic::V).unwrap();
        let given_one = mmd_with(&x, &y, Some(1.0), Statistic::V).unwrap();
        same(given, given_one, &format!("mmd_with h = {s} at scale {s}"));
    }
    // points near f64's largest: no overflow in the distances
    let huge = scaled(&x, 1e307);
    assert!(mmd(&huge, &scaled(&y, 1e307)).unwrap().is_finite());
}

#[test]
fn mmd_refuses_non_finite_points_and_ragged_samples() {
    let mut x = standard(20, 0.0, 3);
    let y = standard(20, 0.0, 4);
    x[7][1] = f64::NAN;
    assert!(mmd(&x, &y).is_err());
    assert!(MmdTest::default().run(&x, &y).is_err());
    x[7] = vec![0.0];
    assert!(mmd(&x, &y).is_err());
    x[7] = vec![f64::INFINITY, 0.0];
    assert!(mmd(&x, &y).is_err());
}

#[test]
fn the_mmd_test_gives_one_p_value_at_every_scale() {
    let (x, y) = (standard(150, 0.0, 5), standard(150, 3.0, 6));
    let z = standard(150, 0.0, 7);
    let test = MmdTest::default().permutations(200);
    let shift = test.run(&x, &y).unwrap();
    let null = test.run(&x, &z).unwrap();
    assert!(shift.p_value < 0.01 && null.p_value > 0.01);
    for s in SCALES {
        let a = test.run(&scaled(&x, s), &scaled(&y, s)).unwrap();
        let b = test.run(&scaled(&x, s), &scaled(&z, s)).unwrap();
        assert_eq!(a.p_value, shift.p_value, "shift at scale {s}");
        assert_eq!(b.p_value, null.p_value, "null at scale {s}");
        same(a.statistic, shift.statistic, &format!("statistic at {s}"));
    }
}

#[test]
fn ksd_and_fssd_tests_hold_their_level_and_power_at_every_scale() {
    let good = standard(300, 0.0, 8);
    let bad = standard(300, 1.0, 9);
    let rbf = KsdTest::default()
        .kernel(KsdKernel::Rbf { bandwidth2: None })
        .replicates(200);
    let imq = KsdTest::default().replicates(200);
    let fssd = FssdTest::default();
    let at = |s: f64| MultivariateNormal::isotropic(vec![0.0, 0.0], s).unwrap();
    let rbf_one = (
        rbf.run(&at(1.0), &good).unwrap(),
        rbf.run(&at(1.0), &bad).unwrap(),
    );
    let fssd_one = (
        fssd.run(&at(1.0), &good).unwrap(),
        fssd.run(&at(1.0), &bad).unwrap(),
    );
    for s in SCALES {
        let target = at(s);
        let (g, b) = (scaled(&good, s), scaled(&bad, s));
        // the Gaussian kernel with the median heuristic is scale-free: the very same p-values
        let (rg, rb) = (rbf.run(&target, &g).unwrap(), rbf.run(&target, &b).unwrap());
        assert_eq!(rg.p_value, rbf_one.0.p_value, "KSD rbf null at {s}");
        assert_eq!(rb.p_value, rbf_one.1.p_value, "KSD rbf shift at {s}");
        assert!(rg.statistic.is_finite() && rb.statistic.is_finite());
        same(
            rb.statistic * s * s,
            rbf_one.1.statistic,
            &format!("KSD² ∝ 1/s² at {s}"),
        );
        let (fg, fb) = (
            fssd.run(&target, &g).unwrap(),
            fssd.run(&target, &b).unwrap(),
        );
        assert_eq!(fg.p_value, fssd_one.0.p_value, "FSSD null at {s}");
        assert_eq!(fb.p_value, fssd_one.1.p_value, "FSSD shift at {s}");
        // IMQ with c = 1 has a scale of its own (c is in the draws' units: far above it the kernel is too
        // narrow to have power at n = 300); its level holds and it is finite at every scale
        let (ig, ib) = (imq.run(&target, &g).unwrap(), imq.run(&target, &b).unwrap());
        assert!(ig.p_value > 0.01, "KSD imq null at {s}: {ig:?}");
        if s <= 1.0 {
            assert!(ib.p_value < 0.01, "KSD imq shift at {s}: {ib:?}");
        }
        assert!(ig.statistic.is_finite() && ib.statistic.is_finite());
        let v = kernel_stein_discrepancy(&target, &b, Statistic::U).unwrap();
        same(
            v,
            ib.statistic,
            &format!("kernel_stein_discrepancy = KsdTest at {s}"),
        );
    }
}

#[test]
fn a_ksd_beyond_f64_is_an_error_not_infinity() {
    // IMQ with c = 1 on draws of spread 10⁻¹⁶⁰: KSD² ≈ |E s|² ≈ 10³²⁰, beyond f64
    let s = 1e-160;
    // N(0, s² I) by its score (the catalogue refuses a σ whose square is not a normal number)
    struct Tiny(f64);
    impl Score for Tiny {
        fn score_dim(&self) -> usize {
            2
        }
        fn score_into(&self, x: &[f64], out: &mut [f64]) {
            out.iter_mut()
                .zip(x)
                .for_each(|(o, v)| *o = -v / self.0 / self.0);
        }
    }
    let target = Tiny(s);
    let bad = scaled(&standard(100, 1.0, 10), s);
    let r = KsdTest::default().replicates(50).run(&target, &bad);
    assert!(
        matches!(
            r,
            Err(stein_scores::ScoreError::NonFiniteResult { what: "KSD²", .. })
        ),
        "{r:?}"
    );
}

#[test]
fn autocorrelation_time_is_scale_free_and_refuses_bad_chains() {
    // an AR(1) chain with ρ = 0.8: τ ≈ 9
    let mut x = 0.0;
    let mut r = rng(11);
    let chain: Vec<Vec<f64>> = (0..2000)
        .map(|_| {
            let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut r);
            x = 0.8 * x + z;
            vec![x, -x]
        })
        .collect();
    let tau = autocorrelation_time(&chain).unwrap();
    assert!((5.0..15.0).contains(&tau), "{tau}");
    for s in SCALES {
        same(
            autocorrelation_time(&scaled(&chain, s)).unwrap(),
            tau,
            &format!("τ at {s}"),
        );
    }
    let mut ragged = chain.clone();
    ragged[5] = vec![1.0];
    assert!(autocorrelation_time(&ragged).is_err());
    assert!(Bootstrap::for_chain(&ragged).is_err());
    let mut nan = chain;
    nan[9][0] = f64::NAN;
    assert!(autocorrelation_time(&nan).is_err());
}

/// Every building block at (x, params): `valid` says whether the parameters are in their domain.
fn blocks(x: f64, a: f64, b: f64, c: f64) -> Vec<(&'static str, f64, bool)> {
    let pos = |v: f64| v > 0.0 && v.is_finite();
    vec![
        ("normal", lpdf::normal(x, a, b), a.is_finite() && pos(b)),
        (
            "student_t",
            lpdf::student_t(x, a, b, c),
            pos(a) && b.is_finite() && pos(c),
        ),
        ("cauchy", lpdf::cauchy(x, a, b), a.is_finite() && pos(b)),
        ("exponential", lpdf::exponential(x, a), pos(a)),
        ("gamma", lpdf::gamma(x, a, b), pos(a) && pos(b)),
        (
            "lognormal",
            lpdf::lognormal(x, a, b),
            a.is_finite() && pos(b),
        ),
        ("half_normal", lpdf::half_normal(x, a), pos(a)),
        ("half_cauchy", lpdf::half_cauchy(x, a), pos(a)),
        ("beta", lpdf::beta(x, a, b), pos(a) && pos(b)),
        (
            "dirichlet",
            lpdf::dirichlet(&[x, 1.0 - x], &[a, b]),
            pos(a) && pos(b),
        ),
        (
            "multi_normal_cholesky",
            lpdf::multi_normal_cholesky(&[x], &[a], &[b]),
            a.is_finite() && pos(b),
        ),
        (
            "lkj_corr_cholesky",
            lpdf::lkj_corr_cholesky(&[1.0, 0.0, x, (1.0 - x * x).max(0.0).sqrt()], a),
            pos(a),
        ),
    ]
}

fn any_param() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e3..1e3f64,
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1e-300..1e-300f64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Invalid parameters give NaN (Stan's reject), whatever the point; valid ones never give NaN at a
    /// non-NaN point (−∞ outside the support, a number inside), and never +∞ where the density is bounded.
    #[test]
    fn lpdf_invalid_parameters_are_nan(x in any_param(), a in any_param(), b in any_param(), c in any_param()) {
        for (name, v, valid) in blocks(x, a, b, c) {
            if !valid {
                prop_assert!(v.is_nan(), "{name}({x}, {a}, {b}, {c}) = {v}: invalid parameters must give NaN");
            } else if !x.is_nan() {
                prop_assert!(!v.is_nan(), "{name}({x}, {a}, {b}, {c}) = NaN with valid parameters");
            }
        }
    }

    /// A point outside the support gives −∞ with valid parameters.
    #[test]
    fn lpdf_outside_the_support_is_minus_infinity(x in -1e3..-1e-9f64, a in 0.1..10.0f64, b in 0.1..10.0f64) {
        for (name, v) in [
            ("exponential", lpdf::exponential(x, a)),
            ("gamma", lpdf::gamma(x, a, b)),
            ("lognormal", lpdf::lognormal(x, 0.0, a)),
            ("half_normal", lpdf::half_normal(x, a)),
            ("half_cauchy", lpdf::half_cauchy(x, a)),
            ("beta", lpdf::beta(x, a, b)),
            ("beta above 1", lpdf::beta(1.0 - x, a, b)),
            ("dirichlet off the simplex", lpdf::dirichlet(&[0.5, 0.5 - x], &[a, b])),
            ("dirichlet negative", lpdf::dirichlet(&[x, 1.0 - x], &[a, b])),
            ("gamma at infinity", lpdf::gamma(f64::INFINITY, a, b)),
            ("lkj not a factor", lpdf::lkj_corr_cholesky(&[1.0, 0.0, 0.5, 0.5], a)),
        ] {
            prop_assert_eq!(v, f64::NEG_INFINITY, "{}({}, {}, {})", name, x, a, b);
        }
    }

    /// Constructors refuse a scale whose square or reciprocal square is not a finite normal number, so
    /// every accepted density has a finite normalised log-density at its mode.
    #[test]
    fn scale_parameters_keep_the_density_finite(sigma in prop_oneof![
        1e-320..1e-300f64, 1e-160..1e-150f64, 1e150..1e160f64, 1e300..1e308f64, 1e-3..1e3f64,
        Just(0.0), Just(-1.0), Just(f64::NAN), Just(f64::INFINITY), Just(5e-324)]) {
        match Normal::new(0.0, sigma) {
            Ok(n) => {
                let v = n.log_pdf(&[0.0]).unwrap();
                prop_assert!(v.is_finite(), "N(0, {sigma}) log_pdf(0) = {v}");
                prop_assert!(n.score(&[sigma]).iter().all(|v| v.is_finite()));
            }
            Err(_) => prop_assert!(!(1e-150..=1e150).contains(&sigma)),
        }
        if let Ok(g) = MultivariateNormal::isotropic(vec![1.0, 2.0], sigma) {
            prop_assert!(g.log_pdf(&[1.0, 2.0]).unwrap().is_finite());
        }
        if let Ok(g) = MultivariateNormal::diagonal(vec![1.0], vec![sigma]) {
            prop_assert!(g.log_pdf(&[1.0]).unwrap().is_finite());
        }
        // every family with a scale: accepted ⇒ finite normaliser, log-density and score at a typical point
        type Eval<'a> = &'a dyn Fn(&[f64]) -> (Option<f64>, Vec<f64>);
        let at = |d: Eval, x: &[f64]| {
            let (lp, s) = d(x);
            lp.is_none_or(f64::is_finite) && s.iter().all(|v| v.is_finite())
        };
        if let Ok(d) = Laplace::new(vec![0.0], sigma) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.5 * sigma]));
        }
        if let Ok(d) = Logistic::new(vec![0.0], sigma) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.5 * sigma]));
        }
        if let Ok(d) = StudentT::new(0.0, sigma, 3.0) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.5 * sigma]));
        }
        if let Ok(d) = Banana::new(sigma, 0.1) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.5 * sigma, 0.0]));
        }
        if let Ok(d) = Funnel::new(3, sigma) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.0, 0.5, -0.5]));
        }
        if let Ok(d) = Ring::new(1.0, sigma) {
            prop_assert!(at(&|x| (None, d.score(x)), &[1.0 + 0.5 * sigma, 0.0]));
        }
        let base = MultivariateNormal::isotropic(vec![0.0], 1.0).unwrap();
        if let Ok(d) = NoisePerturbed::new(base.clone(), sigma) {
            prop_assert!(at(&|x| (d.log_pdf(x), d.score(x)), &[0.5]));
        }
        if let Ok(d) = Tempered::new(base, sigma) {
            prop_assert!(at(&|x| (None, d.score(x)), &[0.5]));
        }
    }

    /// Every accepted interval maps every u, the centre included, to a finite value inside it.
    #[test]
    fn intervals_map_into_themselves(lower in prop_oneof![-1.7e308..1.7e308f64, -10.0..10.0f64],
                                     width in prop_oneof![1e-300..1.0f64, 1.0..1e308f64, 1e308..f64::MAX],
                                     u in prop_oneof![-40.0..40.0f64, Just(0.0)]) {
        if let Ok(t) = Transform::interval(lower, lower + width, 1) {
            let mut x = Vec::new();
            let log_det: f64 = t.constrain(&[u], &mut x);
            prop_assert!(x[0].is_finite() && log_det.is_finite(), "interval({lower}, {}) at {u}: {x:?}, {log_det}", lower + width);
            prop_assert!(x[0] >= lower && x[0] <= lower + width);
        }
    }
}

#[test]
fn the_issue_cases_of_invalid_parameters() {
    assert!(lpdf::gamma(1.0, -0.5, 1.0).is_nan());
    assert!(lpdf::beta(0.3, -0.5, 1.0).is_nan());
    assert!(lpdf::beta(0.3, -1.5, -0.5).is_nan());
    assert!(lpdf::dirichlet(&[0.3, 0.7], &[-1.0, 2.0]).is_nan());
    assert_eq!(lpdf::dirichlet(&[0.3, 0.3], &[1.0, 2.0]), f64::NEG_INFINITY);
    assert!(Normal::new(0.0, 1e-320).is_err());
    assert!(Transform::interval(-1.7e308, 1.7e308, 1).is_err());
    // the gradient of a rejected value is not a direction to follow: the value itself is NaN on the tape too
    let (v, _) =
        stein_autodiff::value_and_grad(|p| lpdf::gamma(p[0], p[1], p[2]), &[1.0, -0.5, 1.0]);
    assert!(v.is_nan());
}

struct Two;
impl ConstrainedDensity for Two {
    fn parameters(&self) -> Vec<Param> {
        vec![Param::new("a", Transform::real(2).unwrap())]
    }
    fn log_prob<S: stein_autodiff::Real>(&self, p: &Blocks<'_, S>) -> S {
        -(p[0][0] * p[0][0] + p[0][1] * p[0][1]) * 0.5
    }
}

#[test]
#[should_panic(
    expected = "Constrained::log_prob: the point has 1 coordinates, the density's dimension is 2"
)]
fn constrained_refuses_a_short_point() {
    Constrained::new(Two).unwrap().log_prob(&[0.5]);
}

#[test]
#[should_panic(
    expected = "Constrained::log_prob: the point has 3 coordinates, the density's dimension is 2"
)]
fn constrained_refuses_trailing_coordinates() {
    Constrained::new(Two).unwrap().log_prob(&[0.5, 0.1, 9.0]);
}

#[test]
#[should_panic(
    expected = "Normal::log_prob: the point has 2 coordinates, the density's dimension is 1"
)]
fn a_catalogue_density_refuses_trailing_coordinates() {
    Normal::new(0.0, 1.0).unwrap().log_prob(&[0.5, 1.0]);
}
