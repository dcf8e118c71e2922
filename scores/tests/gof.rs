//! The goodness-of-fit tests are calibrated (uniform p-values on exact draws, false-alarm rate ≈ α) and have
//! power (a small mean shift, a wrong mixture weight), with fixed seeds.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_scores::gof::{FssdTest, KsdKernel, KsdTest, MmdAggTest, MmdTest, TestResult};
use stein_scores::testing::{assert_same_distribution, assert_samples_from};
use stein_scores::{GaussianMixture, MultivariateNormal, Normal, Sample};

/// The Kolmogorov–Smirnov distance of p-values from the uniform law.
fn ks_uniform(ps: &[f64]) -> f64 {
    let mut p = ps.to_vec();
    p.sort_by(f64::total_cmp);
    let n = p.len() as f64;
    p.iter()
        .enumerate()
        .map(|(i, &v)| (v - i as f64 / n).abs().max(((i + 1) as f64 / n - v).abs()))
        .fold(0.0, f64::max)
}

/// Check 200 p-values under the null: KS to uniform below its 1% critical value 1.63/√n (plus the
/// replicates' resolution), and the rejection rate at α = 0.05 within [0.02, 0.09].
fn assert_calibrated(name: &str, ps: &[f64], replicates: usize) {
    let n = ps.len() as f64;
    let ks = ks_uniform(ps);
    let critical = 1.63 / n.sqrt() + 1.0 / (replicates + 1) as f64;
    let rate = ps.iter().filter(|&&p| p < 0.05).count() as f64 / n;
    println!("{name}: KS {ks:.3} (critical {critical:.3}), false alarms at 0.05: {rate:.3}");
    assert!(
        ks < critical,
        "{name}: p-values not uniform, KS {ks:.3} ≥ {critical:.3}"
    );
    assert!(
        (0.02..=0.09).contains(&rate),
        "{name}: false-alarm rate {rate:.3} at α = 0.05"
    );
}

fn gaussian_2d() -> MultivariateNormal {
    MultivariateNormal::new(vec![0.5, -1.0], vec![vec![1.0, 0.6], vec![0.6, 2.0]]).unwrap()
}

#[test]
fn ksd_p_values_are_uniform_on_exact_draws() {
    let p = gaussian_2d();
    let test = KsdTest::default().replicates(200);
    let ps: Vec<f64> = (0..200)
        .map(|k| {
            let draws = p.sample_n(&mut SmallRng::seed_from_u64(k), 150);
            test.seed(k).run(&p, &draws).unwrap().p_value
        })
        .collect();
    assert_calibrated("KSD (IMQ)", &ps, 200);
    let rbf = test.kernel(KsdKernel::Rbf { bandwidth2: None });
    let ps: Vec<f64> = (0..200)
        .map(|k| {
            let draws = p.sample_n(&mut SmallRng::seed_from_u64(1000 + k), 150);
            rbf.seed(k).run(&p, &draws).unwrap().p_value
        })
        .collect();
    assert_calibrated("KSD (RBF)", &ps, 200);
}

#[test]
fn mmd_p_values_are_uniform_when_both_sets_share_a_law() {
    let p = gaussian_2d();
    let test = MmdTest::default().permutations(200);
    let ps: Vec<f64> = (0..200)
        .map(|k| {
            let mut rng = SmallRng::seed_from_u64(k);
            let (a, b) = (p.sample_n(&mut rng, 80), p.sample_n(&mut rng, 120));
            test.seed(k).run(&a, &b).unwrap().p_value
        })
        .collect();
    assert_calibrated("MMD", &ps, 200);
}

#[test]
fn aggregated_mmd_p_values_are_uniform_when_both_sets_share_a_law() {
    let p = gaussian_2d();
    let test = MmdAggTest::default().permutations(200);
    let ps: Vec<f64> = (0..200)
        .map(|k| {
            let mut rng = SmallRng::seed_from_u64(500 + k);
            let (a, b) = (p.sample_n(&mut rng, 150), p.sample_n(&mut rng, 100));
            test.seed(k).run(&a, &b).unwrap().p_value
        })
        .collect();
    assert_calibrated("aggregated MMD", &ps, 200);
}

#[test]
fn aggregated_mmd_sees_what_the_median_bandwidth_misses_at_any_scale() {
    // a 1-D checkerboard: uniform over the eighths {0, 3, 4, 7} of [0, 1] against the eighths {1, 2, 5, 6}:
    // one mean, nearly one variance; the median heuristic's bandwidth (about 0.3) blurs the cells, a
    // quarter of it does not
    let cells = |rng: &mut SmallRng, first: [f64; 2]| -> Vec<Vec<f64>> {
        let u = rand_distr::Uniform::new(0.0, 1.0 / 8.0).unwrap();
        (0..300)
            .map(|i| {
                let cell = 4.0 * ((i / 2) % 2) as f64 + first[i % 2];
                vec![cell / 8.0 + rand::RngExt::sample(rng, u)]
            })
            .collect()
    };
    let (mut agg, mut single) = (0, 0);
    for k in 0..10u64 {
        let mut rng = SmallRng::seed_from_u64(k);
        let (a, b) = (cells(&mut rng, [0.0, 3.0]), cells(&mut rng, [1.0, 2.0]));
        let r = MmdAggTest::default().seed(k).run(&a, &b).unwrap();
        agg += r.rejects(0.01) as usize;
        single += MmdTest::default()
            .permutations(200)
            .seed(k)
            .run(&a, &b)
            .unwrap()
            .rejects(0.01) as usize;
        // the same test on the same points scaled by 10⁻¹⁷⁰ and 10¹⁵⁰: the same p-value, bandwidths scaled
        for s in [1e-170, 1e150] {
            let scale =
                |x: &[Vec<f64>]| -> Vec<Vec<f64>> { x.iter().map(|v| vec![v[0] * s]).collect() };
            let rs = MmdAggTest::default()
                .seed(k)
                .run(&scale(&a), &scale(&b))
                .unwrap();
            assert_eq!(rs.p_value, r.p_value, "scale {s}");
            let h = rs.strongest().bandwidth / s;
            assert!(
                (h / r.strongest().bandwidth - 1.0).abs() < 1e-9,
                "scale {s}: {h}"
            );
        }
    }
    println!("1-D checkerboard and its inverse, 300 vs 300: aggregated rejects {agg}/10, median bandwidth {single}/10");
    assert!(agg >= 9, "aggregated power {agg}/10");
    assert!(
        agg > single,
        "the aggregated test should see more than one bandwidth does"
    );
}

#[test]
fn fssd_p_values_are_uniform_on_exact_draws() {
    let p = gaussian_2d();
    let test = FssdTest::default().simulations(1000);
    let ps: Vec<f64> = (0..200)
        .map(|k| {
            let draws = p.sample_n(&mut SmallRng::seed_from_u64(k), 500);
            test.seed(k).run(&p, &draws).unwrap().p_value
        })
        .collect();
    assert_calibrated("FSSD", &ps, 1000);
}

/// The fraction of `runs` tests that reject at α = 0.05.
fn power(runs: u64, one: impl Fn(u64) -> TestResult) -> f64 {
    (0..runs).filter(|&k| one(k).rejects(0.05)).count() as f64 / runs as f64
}

#[test]
fn ksd_detects_a_mean_shift_of_a_fifth_of_a_standard_deviation() {
    let p = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let q = MultivariateNormal::isotropic(vec![0.2, 0.0], 1.0).unwrap();
    let test = KsdTest::default().replicates(200);
    let rate = power(20, |k| {
        let draws = q.sample_n(&mut SmallRng::seed_from_u64(k), 1000);
        test.seed(k).run(&p, &draws).unwrap()
    });
    println!("KSD power, 0.2σ shift in 2-d, n = 1000: {rate:.2}");
    assert!(rate >= 0.9, "power {rate}");
    // and FSSD on many more draws (linear time)
    let rate = power(10, |k| {
        let draws = q.sample_n(&mut SmallRng::seed_from_u64(100 + k), 20_000);
        FssdTest::default().seed(k).run(&p, &draws).unwrap()
    });
    println!("FSSD power, 0.2σ shift in 2-d, n = 20,000: {rate:.2}");
    assert!(rate >= 0.9, "FSSD power {rate}");
}

#[test]
fn mmd_detects_a_wrong_mixture_weight() {
    let comps = || {
        vec![
            MultivariateNormal::isotropic(vec![-2.0], 1.0).unwrap(),
            MultivariateNormal::isotropic(vec![2.0], 1.0).unwrap(),
        ]
    };
    let right = GaussianMixture::new(vec![0.5, 0.5], comps()).unwrap();
    let wrong = GaussianMixture::new(vec![0.3, 0.7], comps()).unwrap();
    let test = MmdTest::default().permutations(100);
    let rate = power(5, |k| {
        let mut rng = SmallRng::seed_from_u64(k);
        test.seed(k)
            .run(
                &right.sample_n(&mut rng, 2000),
                &wrong.sample_n(&mut rng, 2000),
            )
            .unwrap()
    });
    println!("MMD power, weight 0.3 vs 0.5, n = 2000: {rate:.2}");
    assert!(rate >= 0.8, "power {rate}");
}

#[test]
fn assertions_pass_exact_draws_and_name_what_fails() {
    let p = Normal::new(1.0, 2.0).unwrap();
    let mut rng = SmallRng::seed_from_u64(9);
    let draws = p.sample_n(&mut rng, 400);
    assert_samples_from(&p, &draws, 0.01);
    assert_same_distribution(&draws, &p.sample_n(&mut rng, 400), 0.01);
    let shifted: Vec<Vec<f64>> = draws.iter().map(|x| vec![x[0] + 1.0]).collect();
    let msg = std::panic::catch_unwind(|| assert_samples_from(&p, &shifted, 0.01))
        .expect_err("a shifted sample fails")
        .downcast::<String>()
        .unwrap();
    assert!(
        msg.contains("KSD²") && msg.contains("p-value") && msg.contains("E[s_0(x)]"),
        "{msg}"
    );
    let msg = std::panic::catch_unwind(|| assert_same_distribution(&draws, &shifted, 0.01))
        .expect_err("two different sets fail")
        .downcast::<String>()
        .unwrap();
    assert!(
        msg.contains("MMD²") && msg.contains("coordinate 0"),
        "{msg}"
    );
}

#[test]
fn bad_requests_are_errors_that_name_the_problem() {
    let p = Normal::new(0.0, 1.0).unwrap();
    let draws = vec![vec![0.1], vec![0.2], vec![f64::NAN]];
    let e = KsdTest::default().run(&p, &draws).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
    let e = KsdTest::default()
        .run(&p, &[vec![0.1, 0.2], vec![0.3, 0.4]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("dimension"), "{e}");
    let e = KsdTest::default()
        .thin(0)
        .run(&p, &[vec![0.1]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("thin"), "{e}");
    let many: Vec<Vec<f64>> = (0..6000).map(|i| vec![i as f64 * 1e-3]).collect();
    let e = KsdTest::default().run(&p, &many).unwrap_err().to_string();
    assert!(e.contains("thin them"), "{e}");
    assert!(KsdTest::default().thin(2).run(&p, &many).is_ok());
    let e = MmdTest::default()
        .permutations(0)
        .run(&draws, &draws)
        .unwrap_err()
        .to_string();
    assert!(e.contains("permutations"), "{e}");
}
