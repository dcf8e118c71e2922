//! Simulation-based calibration, Geweke's test and the rank-uniformity tests under them: false-alarm rates
//! under the null, the coverage of the ECDF band, power on mis-specified posteriors, SBC of two real models
//! with NUTS, and independence from the thread count.

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;
use stein_autodiff::Real;
use stein_models::calibration::sbc::{self, SbcModel};
use stein_models::calibration::{geweke, kernel_test, Probe};
use stein_models::sample::{mala, Config};
use stein_scores::ranks::{rank_uniformity, Options};

fn z<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// The two-sided 99.8% band of Binomial(n, p) false alarms: [lo, hi].
fn binomial_band(n: usize, p: f64) -> (usize, usize) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    (
        (mean - 3.1 * sd).floor().max(0.0) as usize,
        (mean + 3.1 * sd).ceil() as usize,
    )
}

#[test]
fn the_ecdf_band_covers_uniform_ranks_at_its_level() {
    let mut rng = SmallRng::seed_from_u64(11);
    let runs = 1000;
    let (mut outside, mut rejected) = (0, 0);
    for _ in 0..runs {
        let ranks: Vec<usize> = (0..100).map(|_| rng.random_range(0..=19)).collect();
        let u = rank_uniformity(&ranks, 19, &Options::default()).unwrap();
        let b = &u.band;
        if (0..b.z.len()).any(|k| b.ecdf[k] < b.lower[k] || b.ecdf[k] > b.upper[k]) {
            outside += 1;
        }
        if u.p_ecdf < 0.05 {
            rejected += 1;
        }
    }
    let (lo, hi) = binomial_band(runs, 0.05);
    println!(
        "{outside} of {runs} uniform ECDFs left the 95% band; the ECDF test rejected {rejected}"
    );
    assert!(
        (lo..=hi).contains(&outside),
        "{outside} of {runs} ECDFs left the 95% band ({lo}..={hi})"
    );
    assert!(
        (lo..=hi).contains(&rejected),
        "{rejected} of {runs} ECDF tests rejected at 0.05 ({lo}..={hi})"
    );
}

/// μ ~ N(0, 1), `n` observations y ~ N(μ, σ²) with σ = `noise`; the posterior is Gaussian with precision
/// 1 + n/σ². With `prior_sd_in_posterior` ≠ 1 the posterior is written with the wrong prior.
struct NormalMean {
    n: usize,
    noise: f64,
    prior_sd_in_posterior: f64,
}

impl SbcModel for NormalMean {
    type Data = Vec<f64>;
    fn dim(&self) -> usize {
        1
    }
    fn names(&self) -> Vec<String> {
        vec!["μ".into()]
    }
    fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        vec![z(rng)]
    }
    fn simulate<R: Rng + ?Sized>(&self, t: &[f64], rng: &mut R) -> Vec<f64> {
        (0..self.n).map(|_| t[0] + self.noise * z(rng)).collect()
    }
    fn log_posterior<S: Real>(&self, t: &[S], y: &Vec<f64>) -> S {
        let prior = -(t[0] * t[0]) * (0.5 / self.prior_sd_in_posterior.powi(2));
        let w = 0.5 / self.noise.powi(2);
        y.iter().fold(prior, |acc, &v| acc - (t[0] - v).powi(2) * w)
    }
}

/// Exact posterior draws of [`NormalMean`] (with its stated prior).
fn exact_posterior(m: &NormalMean, y: &[f64], seed: u64, l: usize) -> Vec<Vec<f64>> {
    let precision = 1.0 / m.prior_sd_in_posterior.powi(2) + y.len() as f64 / m.noise.powi(2);
    let mean = y.iter().sum::<f64>() / m.noise.powi(2) / precision;
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..l)
        .map(|_| vec![mean + z(&mut rng) / precision.sqrt()])
        .collect()
}

#[test]
fn sbc_false_alarms_under_the_null_match_the_level() {
    let model = NormalMean {
        n: 3,
        noise: 1.0,
        prior_sd_in_posterior: 1.0,
    };
    let runs = 200;
    let rejected = (0..runs)
        .filter(|&r| {
            let opts = sbc::Options::default()
                .simulations(100)
                .ranks_against(19)
                .seed(r as u64);
            let report =
                sbc::sbc_with(&model, &opts, |y, s| exact_posterior(&model, y, s, 19)).unwrap();
            report.p_value < 0.05
        })
        .count();
    let (lo, hi) = binomial_band(runs, 0.05);
    println!("exact SBC: {rejected} of {runs} runs rejected at 0.05");
    // four tests combined by Bonferroni: at most the level, so the band's lower edge is 0
    assert!(
        rejected <= hi,
        "{rejected} of {runs} exact SBC runs rejected at 0.05 (at most {hi}; lower edge {lo})"
    );
    assert!(
        rejected >= 1,
        "no false alarm in {runs} runs: the test cannot be at its level"
    );
}

#[test]
fn kernel_test_false_alarms_under_the_null_match_the_level() {
    // an exact kernel: each transition is a fresh draw of N(0, 1)
    let exact = |rng: &mut SmallRng| vec![z(rng)];
    let step = |x: &mut Vec<f64>, rng: &mut SmallRng| x[0] = z(rng);
    let probes = Probe::standard(1);
    let runs = 200;
    let rejected = (0..runs)
        .filter(|&r| {
            let opts = kernel_test::Options::default()
                .replications(200)
                .chain_length(10)
                .seed(r);
            kernel_test::rank_test_with(exact, step, &probes, &opts)
                .unwrap()
                .p_value
                < 0.05
        })
        .count();
    let (_, hi) = binomial_band(runs as usize, 0.05);
    println!("exact kernel: {rejected} of {runs} runs rejected at 0.05");
    assert!(
        rejected <= hi && rejected >= 1,
        "{rejected} of {runs} runs rejected at 0.05 (1..={hi})"
    );
}

#[test]
fn sbc_detects_a_posterior_with_the_prior_scale_doubled() {
    // the documented budget: 200 simulations ranked against 19 draws of MALA; one observation with noise
    // sd 3, so the prior carries weight and doubling its scale in the posterior widens it by 1.7×
    let model = |prior_sd_in_posterior| NormalMean {
        n: 1,
        noise: 3.0,
        prior_sd_in_posterior,
    };
    let cfg = Config::new(mala::Params::new(0.5))
        .chains(2)
        .warmup(300)
        .draws(300);
    let opts = |seed| sbc::Options::default().ranks_against(19).seed(seed);
    let mut last = String::new();
    let detected = (0..10)
        .filter(|&seed| {
            let report = sbc::sbc(&model(2.0), &cfg, &opts(seed)).unwrap();
            last = report.to_string();
            report
                .check(0.01)
                .is_err_and(|msg| msg.contains("μ") && msg.contains("over-dispersed"))
        })
        .count();
    println!("prior scale ×2 detected in {detected} of 10 seeds; last:\n{last}");
    assert!(
        detected >= 9,
        "detected in {detected} of 10 seeds; last:\n{last}"
    );
    sbc::sbc(&model(1.0), &cfg, &opts(0))
        .unwrap()
        .assert_calibrated(0.001);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let model = NormalMean {
        n: 2,
        noise: 1.0,
        prior_sd_in_posterior: 1.0,
    };
    let cfg = Config::new(mala::Params::new(0.5))
        .chains(2)
        .warmup(100)
        .draws(100);
    let opts = sbc::Options::default()
        .simulations(20)
        .ranks_against(9)
        .seed(5);
    let kopts = kernel_test::Options::default().replications(50).seed(5);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let s = sbc::sbc(&model, &cfg, &opts).unwrap();
            let target = stein_scores::Normal::new(0.0, 1.0).unwrap();
            let k = kernel_test::rank_test::<mala::Mala, _>(
                &stein_models::sample::Exact(&target),
                &mala::Params::new(0.5),
                |rng| vec![z(rng)],
                &Probe::standard(1),
                &kopts,
            )
            .unwrap();
            (s.ranks, k.ranks)
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn geweke_passes_a_right_posterior_and_fails_a_wrong_one() {
    let opts = geweke::Options::default().draws(4000).seed(2);
    let right = NormalMean {
        n: 1,
        noise: 2.0,
        prior_sd_in_posterior: 1.0,
    };
    let params = mala::Params::new(0.6);
    let r = geweke::geweke::<mala::Mala, _>(&right, &params, &Probe::standard(1), &opts).unwrap();
    r.assert_consistent(0.001);
    let wrong = NormalMean {
        n: 1,
        noise: 2.0,
        prior_sd_in_posterior: 2.0,
    };
    let r = geweke::geweke::<mala::Mala, _>(&wrong, &params, &Probe::standard(1), &opts).unwrap();
    let msg = r.check(0.01).expect_err("a wrong prior must fail");
    assert!(
        msg.contains("x[0]²") && msg.contains("higher"),
        "{msg}\n{r}"
    );
}

#[test]
fn geweke_names_a_kernel_that_never_moves() {
    // a step so large that MALA rejects every proposal: the chains stand still, their ESS is undefined
    let model = NormalMean {
        n: 1,
        noise: 2.0,
        prior_sd_in_posterior: 1.0,
    };
    let opts = geweke::Options::default().draws(400).seed(3);
    let stuck = mala::Params::new(1e6);
    let e =
        geweke::geweke::<mala::Mala, _>(&model, &stuck, &Probe::standard(1), &opts).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("x[0]") && msg.contains("does not move"),
        "{msg}"
    );
    // a test function that is constant under both simulators is no error: z = 0, p = 1
    let one = [Probe::new("one", |_: &[f64]| 1.0)];
    let r = geweke::geweke::<mala::Mala, _>(&model, &mala::Params::new(0.6), &one, &opts).unwrap();
    assert_eq!((r.items[0].z, r.items[0].p_value), (0.0, 1.0));
}

#[test]
fn bad_settings_are_named() {
    let model = NormalMean {
        n: 1,
        noise: 2.0,
        prior_sd_in_posterior: 1.0,
    };
    let opts = sbc::Options::default().simulations(3);
    let e = sbc::sbc_with(&model, &opts, |_, _| vec![vec![0.0]; 99]).unwrap_err();
    assert!(e.to_string().contains("simulations"), "{e}");
    let opts = sbc::Options::default().simulations(20).ranks_against(9);
    let e = sbc::sbc_with(&model, &opts, |_, _| vec![vec![0.0]; 5]).unwrap_err();
    assert!(e.to_string().contains("at least 9 draws"), "{e}");
    let e = sbc::sbc_with(&model, &opts, |_, _| vec![vec![f64::NAN]; 9]).unwrap_err();
    assert!(e.to_string().contains("not finite"), "{e}");
    let e = kernel_test::rank_test_with(|_| vec![0.0], |_, _| {}, &[], &Default::default())
        .unwrap_err();
    assert!(e.to_string().contains("probes"), "{e}");
    let e = rank_uniformity(&[0, 1, 2, 30, 1, 1, 1, 1, 1, 1], 19, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("ranks"), "{e}");
}

#[test]
fn short_runs_are_rerun_longer_and_named_when_still_correlated() {
    let model = NormalMean {
        n: 2,
        noise: 1.0,
        prior_sd_in_posterior: 1.0,
    };
    let opts = sbc::Options::default().simulations(20).ranks_against(19);
    let cfg = Config::new(mala::Params::new(0.5)).chains(1).warmup(100);
    let e = sbc::sbc(&model, &cfg.clone().draws(10), &opts).unwrap_err();
    assert!(e.to_string().contains("config.draws"), "{e}");
    // 2 × 12 draws hold an ESS below 19: each simulation runs again with 2L/ESS times the draws
    let r = sbc::sbc(&model, &cfg.clone().warmup(300).chains(2).draws(12), &opts).unwrap();
    // (the tail ESS of ≈ 100 draws is itself noisy: one simulation in twenty may stay just below L)
    assert!(r.correlated <= 2, "{r}");
    // a sampler that barely moves (no warm-up, a tiny step) stays correlated, and the report says so
    let stuck = Config::new(mala::Params::new(1e-6))
        .chains(1)
        .warmup(0)
        .draws(20);
    let r = sbc::sbc(&model, &stuck, &opts).unwrap();
    assert!(r.correlated >= 18, "{r}");
    let note = format!(
        "{} of 20 simulations kept an ESS below L = 19",
        r.correlated
    );
    assert!(r.notes.iter().any(|n| n.contains(&note)), "{r}");
    assert!(
        r.check(0.01).is_err_and(|m| m.contains("under-dispersed")),
        "ranks among a stuck chain's draws are not uniform\n{r}"
    );
}

#[cfg(feature = "plot")]
#[test]
fn the_report_draws_its_band_and_refuses_sets_of_different_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let model = NormalMean {
        n: 1,
        noise: 1.0,
        prior_sd_in_posterior: 1.0,
    };
    let opts = sbc::Options::default().simulations(50).ranks_against(19);
    let report = sbc::sbc_with(&model, &opts, |y, s| exact_posterior(&model, y, s, 19)).unwrap();
    let path = dir.path().join("ranks.svg");
    report.plot(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.contains("<polygon") && svg.contains("fractional rank"),
        "no band or axis in the picture"
    );
    let other = rank_uniformity(&vec![3; 30], 9, &Options::default()).unwrap();
    let series = [("μ", &report.items[0].1), ("other", &other)];
    let e = stein_scores::plot::rank_ecdf(dir.path().join("x.svg"), "t", &series, (400, 300))
        .unwrap_err();
    assert!(e.to_string().contains("`other`"), "{e}");
    assert!(!dir.path().join("x.svg").exists());
}
