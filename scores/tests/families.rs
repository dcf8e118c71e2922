//! Every family: autodiff score == analytic score, autodiff Laplacian == analytic Laplacian, normalisers
//! integrate to 1, tempering and noise perturbation behave as their closed forms say.

use proptest::prelude::*;
use stein_scores::testing::*;
use stein_scores::*;

fn laplacians_match<D: Analytic>(d: &D, xs: &[Vec<f64>], rtol: f64) -> Result<(), TestCaseError> {
    for x in xs {
        let (a, b) = (laplacian(d, x), d.laplacian(x));
        prop_assert!(
            (a - b).abs() <= rtol * (1.0 + b.abs()),
            "Laplacian at {x:?}: autodiff {a} vs analytic {b}"
        );
    }
    Ok(())
}

fn scores_match<D: Analytic>(d: &D, xs: &[Vec<f64>], rtol: f64) -> Result<(), TestCaseError> {
    if let Some(m) = score_mismatch(&AutodiffScore(d), &AnalyticScore(d), xs, rtol) {
        return Err(TestCaseError::fail(m.to_string()));
    }
    Ok(())
}

macro_rules! family {
    ($name:ident, $strategy:expr, $dim:expr, $range:expr) => {
        family!($name, $strategy, $dim, $range, 1e-10);
    };
    ($name:ident, $strategy:expr, $dim:expr, $range:expr, $rtol:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]
            #[test]
            fn $name(d in $strategy, xs in points($dim, 4, $range)) {
                scores_match(&d, &xs, $rtol)?;
                laplacians_match(&d, &xs, $rtol)?;
            }
        }
    };
}

family!(normal_scores, normal(), 1, 6.0);
family!(mvn_scores, mvn(3), 3, 5.0);
family!(gmm_scores, gmm(2, 3), 2, 6.0);
family!(laplace_scores, laplace(3), 3, 5.0);
family!(logistic_scores, logistic(2), 2, 8.0);
family!(student_t_scores, student_t(), 1, 8.0, 1e-8);
family!(mv_student_t_scores, mv_student_t(3), 3, 5.0, 1e-8);
family!(banana_scores, banana(), 2, 3.0);
family!(funnel_scores, funnel(4), 4, 2.0);
family!(ring_scores, ring(), 2, 5.0);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn tempering_divides_score_by_t(g in gmm(2, 2), t in 0.2..5.0f64, xs in points(2, 3, 5.0)) {
        let hot = Tempered::new(g.clone(), t).unwrap();
        for x in &xs {
            let (a, b) = (hot.score(x), g.score(x));
            for k in 0..2 {
                prop_assert!((a[k] - b[k] / t).abs() <= 1e-12 * (1.0 + b[k].abs()));
            }
            prop_assert!((laplacian(&hot, x) - g.laplacian(x) / t).abs() <= 1e-9 * (1.0 + g.laplacian(x).abs()));
        }
        scores_match(&hot, &xs, 1e-10)?;
    }

    #[test]
    fn noise_perturbed_mixture_is_the_mixture_with_inflated_covariances(
        g in gmm(2, 3), sigma in 0.05..2.0f64, xs in points(2, 3, 5.0)
    ) {
        let p = NoisePerturbed::new(g.clone(), sigma).unwrap();
        let inflated: Vec<MultivariateNormal> = g
            .components()
            .iter()
            .map(|c| {
                let mut cov = c.covariance();
                for (i, row) in cov.iter_mut().enumerate() {
                    row[i] += sigma * sigma;
                }
                MultivariateNormal::new(c.mean().to_vec(), cov).unwrap()
            })
            .collect();
        let by_hand = GaussianMixture::new(g.weights(), inflated).unwrap();
        if let Some(m) = score_mismatch(&p, &by_hand, &xs, 1e-10) {
            return Err(TestCaseError::fail(m.to_string()));
        }
        scores_match(&p, &xs, 1e-10)?;
    }
}

/// ∫ exp(log_pdf) over a grid (midpoint rule).
fn integral_1d<D: Analytic>(d: &D, lo: f64, hi: f64, n: usize) -> f64 {
    let h = (hi - lo) / n as f64;
    (0..n)
        .map(|i| d.log_pdf(&[lo + (i as f64 + 0.5) * h]).unwrap().exp() * h)
        .sum()
}

fn integral_2d<D: Analytic>(d: &D, r: f64, n: usize) -> f64 {
    let h = 2.0 * r / n as f64;
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            s += d
                .log_pdf(&[-r + (i as f64 + 0.5) * h, -r + (j as f64 + 0.5) * h])
                .unwrap()
                .exp()
                * h
                * h;
        }
    }
    s
}

#[test]
fn normalisers_integrate_to_one() {
    let one = |v: f64, what: &str, tol: f64| assert!((v - 1.0).abs() < tol, "{what}: ∫p = {v}");
    one(
        integral_1d(&Normal::new(0.3, 0.7).unwrap(), -10.0, 10.0, 20_000),
        "normal",
        1e-9,
    );
    one(
        integral_1d(&Laplace::new(vec![0.5], 0.8).unwrap(), -40.0, 40.0, 200_000),
        "laplace",
        1e-6,
    );
    one(
        integral_1d(
            &Logistic::new(vec![-0.5], 0.6).unwrap(),
            -60.0,
            60.0,
            200_000,
        ),
        "logistic",
        1e-8,
    );
    one(
        integral_1d(
            &StudentT::new(0.2, 1.3, 5.0).unwrap(),
            -2000.0,
            2000.0,
            2_000_000,
        ),
        "student t",
        1e-6,
    );
    one(
        integral_2d(&Ring::new(2.0, 0.4).unwrap(), 5.0, 800),
        "ring",
        1e-6,
    );
    one(
        integral_2d(&Ring::new(0.3, 0.5).unwrap(), 4.0, 800),
        "ring near the origin",
        1e-5,
    );
    one(
        integral_2d(&Banana::new(1.0, 0.5).unwrap(), 9.0, 1200),
        "banana",
        1e-4,
    );
    let g = GaussianMixture::new(
        vec![1.0, 3.0],
        vec![
            MultivariateNormal::new(vec![-1.0, 0.0], vec![vec![0.5, 0.2], vec![0.2, 0.4]]).unwrap(),
            MultivariateNormal::isotropic(vec![1.5, 1.0], 0.6).unwrap(),
        ],
    )
    .unwrap();
    one(integral_2d(&g, 6.0, 800), "gmm", 1e-6);
    let t = MultivariateStudentT::new(vec![0.0, 0.0], vec![vec![1.0, 0.3], vec![0.3, 0.5]], 30.0)
        .unwrap();
    one(integral_2d(&t, 25.0, 1600), "multivariate t", 1e-4);
    let f = Funnel::new(2, 1.0).unwrap();
    one(integral_2d(&f, 12.0, 2000), "funnel", 1e-3);
}

#[test]
fn mixture_score_is_exact_fifty_sigma_from_every_mode() {
    let c = |m: [f64; 2], s: f64| MultivariateNormal::isotropic(m.to_vec(), s).unwrap();
    let g = GaussianMixture::new(
        vec![1.0, 2.0],
        vec![c([-2.0, 0.0], 0.5), c([2.0, 0.0], 0.5)],
    )
    .unwrap();
    let x = [2.0 + 50.0 * 0.5, 7.0];
    let s = g.score(&x);
    // the nearer component dominates completely: s = −(x − μ₂)/σ²
    assert!(
        (s[0] + (x[0] - 2.0) / 0.25).abs() < 1e-9 && (s[1] + x[1] / 0.25).abs() < 1e-9,
        "{s:?}"
    );
    let a = score(&g, &x);
    assert!(
        a.iter()
            .zip(&s)
            .all(|(u, v)| (u - v).abs() <= 1e-10 * v.abs()),
        "{a:?} vs {s:?}"
    );
    assert!(g.laplacian(&x).is_finite());
}

#[test]
fn laplace_score_at_the_kink_is_zero_and_jumps_by_two_over_b() {
    let l = Laplace::new(vec![1.0], 0.5).unwrap();
    assert_eq!(l.score(&[1.0]), vec![0.0]);
    assert_eq!(score(&l, &[1.0]), vec![0.0]);
    let (left, right) = (l.score(&[1.0 - 1e-12])[0], l.score(&[1.0 + 1e-12])[0]);
    assert_eq!(left - right, 2.0 / 0.5);
}

#[test]
fn constructors_name_the_bad_parameter() {
    let msg = |e: ScoreError| e.to_string();
    assert!(msg(Normal::new(0.0, 0.0).unwrap_err()).contains("`sigma`"));
    assert!(msg(Normal::new(f64::NAN, 1.0).unwrap_err()).contains("mu"));
    let e =
        MultivariateNormal::new(vec![0.0, 0.0], vec![vec![1.0, 2.0], vec![2.0, 1.0]]).unwrap_err();
    assert!(
        matches!(e, ScoreError::NotPositiveDefinite { param: "cov", .. }),
        "{e}"
    );
    let e =
        MultivariateNormal::new(vec![0.0, 0.0], vec![vec![1.0, 0.1], vec![0.2, 1.0]]).unwrap_err();
    assert!(msg(e).contains("not symmetric"));
    let e = MultivariateNormal::new(vec![0.0], vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap_err();
    assert!(
        matches!(e, ScoreError::Dimension { param: "mean", .. }),
        "{e}"
    );
    assert!(
        msg(MultivariateNormal::diagonal(vec![0.0], vec![-1.0]).unwrap_err()).contains("`var`")
    );
    let c = MultivariateNormal::isotropic(vec![0.0], 1.0).unwrap();
    assert!(
        msg(GaussianMixture::new(vec![-1.0], vec![c.clone()]).unwrap_err()).contains("`weights`")
    );
    assert!(
        msg(GaussianMixture::new(vec![0.0], vec![c.clone()]).unwrap_err())
            .contains("positive, finite sum")
    );
    assert!(
        msg(GaussianMixture::new(vec![1.0, 1.0], vec![c.clone()]).unwrap_err())
            .contains("`weights`")
    );
    // weights whose sum overflows would normalise to 0 / NaN: rejected, naming the parameter
    let e = GaussianMixture::new(vec![f64::MAX, f64::MAX], vec![c.clone(), c]).unwrap_err();
    assert!(msg(e.clone()).contains("`weights`") && msg(e).contains("finite sum"));
    assert!(msg(StudentT::new(0.0, 1.0, -2.0).unwrap_err()).contains("`nu`"));
    assert!(msg(Laplace::new(vec![0.0], 0.0).unwrap_err()).contains("`scale`"));
    assert!(msg(Funnel::new(1, 3.0).unwrap_err()).contains("`dim`"));
    assert!(msg(Ring::new(1.0, -0.1).unwrap_err()).contains("`width`"));
    assert!(
        msg(Tempered::new(Normal::new(0.0, 1.0).unwrap(), 0.0).unwrap_err())
            .contains("`temperature`")
    );
    assert!(
        msg(NoisePerturbed::new(Normal::new(0.0, 1.0).unwrap(), -1.0).unwrap_err())
            .contains("`sigma`")
    );
    let e = try_score(&Normal::new(0.0, 1.0).unwrap(), &[0.0, 1.0]).unwrap_err();
    assert!(msg(e).contains("`x`"));
    let e = try_score(&Normal::new(0.0, 1.0).unwrap(), &[f64::INFINITY]).unwrap_err();
    assert_eq!(msg(e), "x[0] is not finite (inf)");
}

#[test]
fn energy_adapter_negates() {
    struct Quad;
    impl EnergyFunction for Quad {
        fn dim(&self) -> usize {
            2
        }
        fn energy<S: stein_autodiff::Real>(&self, x: &[S]) -> S {
            (x[0] * x[0] + x[1] * x[1]) * 0.5
        }
    }
    let s = score(&Energy(Quad), &[1.0, -2.0]);
    assert_eq!(s, vec![-1.0, 2.0]);
}

#[test]
fn score_batch_matches_pointwise_and_checks_its_input() {
    let g = GaussianMixture::new(
        vec![1.0, 1.0],
        vec![
            MultivariateNormal::isotropic(vec![-1.0, 0.0], 0.5).unwrap(),
            MultivariateNormal::isotropic(vec![1.0, 0.0], 0.5).unwrap(),
        ],
    )
    .unwrap();
    let pts: Vec<f64> = (0..1000)
        .map(|i| ((i * 37) % 101) as f64 / 25.0 - 2.0)
        .collect();
    let batch = score_batch(&autodiff(&g), &pts).unwrap();
    for (p, s) in pts.chunks(2).zip(batch.chunks(2)) {
        assert_eq!(s, &score(&g, p)[..]);
    }
    assert!(score_batch(&g, &pts[..3]).is_err());
}

#[test]
#[should_panic(expected = "score: the point has 3 coordinates, the density's dimension is 2")]
fn autodiff_score_of_a_point_of_the_wrong_length_names_both_lengths() {
    let g = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let _ = score(&g, &[0.0, 1.0, 2.0]);
}

#[test]
#[should_panic(
    expected = "Score::score: the point has 1 coordinates, the density's dimension is 2"
)]
fn analytic_score_of_a_point_of_the_wrong_length_names_both_lengths() {
    let g = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let _ = g.score(&[0.0]);
}

#[test]
#[should_panic(expected = "the output buffer has 3 coordinates, the density's dimension is 2")]
fn score_into_a_buffer_of_the_wrong_length_names_both_lengths() {
    let g = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let mut out = [0.0; 3];
    g.score_into(&[0.0, 0.0], &mut out);
}
