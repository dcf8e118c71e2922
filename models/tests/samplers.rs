//! Statistical tests of the sampling kernels (fixed seeds). Every Metropolis-adjusted kernel must leave its
//! target invariant: means and covariances of its draws within 4 Monte Carlo standard errors of the truth
//! (from 400,000 exact draws), R-hat < 1.01. Adding a kernel = one line in `INVARIANCE`.

use rand::SeedableRng;
use stein_models::sample::diagnostics::ess_mean;
use stein_models::sample::*;
use stein_scores::{Analytic, Banana, GaussianMixture, MultivariateNormal, Normal, Sample};

/// A 10-d Gaussian with correlations and unequal scales.
fn gaussian10() -> MultivariateNormal {
    let d: i32 = 10;
    let cov: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let (si, sj) = (0.5 + 0.15 * i as f64, 0.5 + 0.15 * j as f64);
                    si * sj * 0.6f64.powi((i - j).abs())
                })
                .collect()
        })
        .collect();
    let mean = (0..d).map(|i| (i as f64 * 0.7).sin()).collect();
    MultivariateNormal::new(mean, cov).unwrap()
}

/// Two overlapping modes in 2-d, unequal weights and scales.
fn two_modes() -> GaussianMixture {
    let a = MultivariateNormal::isotropic(vec![-1.2, 0.0], 1.0).unwrap();
    let b = MultivariateNormal::isotropic(vec![1.2, 0.5], 0.8).unwrap();
    GaussianMixture::new(vec![0.3, 0.7], vec![a, b]).unwrap()
}

/// The statistics checked: every coordinate and every product of two centred coordinates.
fn statistics(x: &[f64], mu: &[f64]) -> Vec<f64> {
    let d = x.len();
    let mut s = x.to_vec();
    for i in 0..d {
        for j in i..d {
            s.push((x[i] - mu[i]) * (x[j] - mu[j]));
        }
    }
    s
}

/// Means of the statistics under the target, from `n` exact draws, with their standard errors.
fn truth<D: Sample + Analytic>(target: &D, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(99);
    let xs = target.sample_n(&mut rng, n);
    let d = target.dim();
    let mu: Vec<f64> = (0..d)
        .map(|i| xs.iter().map(|x| x[i]).sum::<f64>() / n as f64)
        .collect();
    let stats: Vec<Vec<f64>> = xs.iter().map(|x| statistics(x, &mu)).collect();
    let k = stats[0].len();
    let mean: Vec<f64> = (0..k)
        .map(|j| stats.iter().map(|s| s[j]).sum::<f64>() / n as f64)
        .collect();
    let se: Vec<f64> = (0..k)
        .map(|j| {
            let v = stats.iter().map(|s| (s[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1) as f64;
            (v / n as f64).sqrt()
        })
        .collect();
    (mu, mean, se)
}

/// Every statistic within 4 standard errors (the draws' MCSE from their own ESS, and the oracle's), and
/// R-hat below 1.01.
fn assert_invariant<D: Sample + Analytic>(draws: &Draws, target: &D, what: &str) {
    let (mu, expected, oracle_se) = truth(target, 400_000);
    let chains: Vec<Vec<Vec<f64>>> = draws
        .chains
        .iter()
        .map(|c| c.draws.iter().map(|x| statistics(x, &mu)).collect())
        .collect();
    for (j, (&e, &ose)) in expected.iter().zip(&oracle_se).enumerate() {
        let series: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.iter().map(|s| s[j]).collect())
            .collect();
        let all: Vec<f64> = series.iter().flatten().copied().collect();
        let m = all.iter().sum::<f64>() / all.len() as f64;
        let sd = (all.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (all.len() - 1) as f64).sqrt();
        let mcse = sd / ess_mean(&series).sqrt();
        let tol = 4.0 * (mcse * mcse + ose * ose).sqrt();
        assert!(
            (m - e).abs() < tol,
            "{what}: statistic {j} = {m:.4} vs {e:.4} (4 SE = {tol:.4})"
        );
    }
    let rhat = draws.rhat();
    assert!(rhat.iter().all(|r| *r < 1.01), "{what}: R-hat {rhat:?}");
}

/// `cfg` on each of the three targets, each with its own seed.
fn check_kernel<P: Tunable>(name: &str, cfg: Config<P>) {
    fn one<P: Tunable, D: Sample + Analytic + Sync>(
        name: &str,
        what: &str,
        d: &D,
        cfg: &Config<P>,
    ) {
        let draws = sample(&Exact(d), cfg).unwrap();
        // divergences are rare here (the banana's far tail is stiffer than the adapted step can follow: every
        // metric fitted to scores gives 25–51 in 8,000 draws there, depending on the seed)
        let transitions: usize = draws.chains.iter().map(|c| c.transitions).sum();
        assert!(
            draws.divergences() * 100 <= transitions,
            "{name} on {what}: {} divergences",
            draws.divergences()
        );
        assert_invariant(&draws, d, &format!("{name} on {what}"));
    }
    let seed = cfg.seed;
    one(name, "gaussian10", &gaussian10(), &cfg.clone().seed(seed));
    one(
        name,
        "banana",
        &Banana::new(1.0, 0.5).unwrap(),
        &cfg.clone().seed(seed + 1),
    );
    one(name, "two modes", &two_modes(), &cfg.seed(seed + 2));
}

/// One line per kernel.
#[test]
fn every_kernel_leaves_its_targets_invariant() {
    let dense = adapt::WarmupOptions {
        metric: adapt::MetricKind::Dense,
        ..Default::default()
    };
    check_kernel(
        "MALA",
        Config::new(mala::Params::default()).draws(30_000).seed(10),
    );
    check_kernel(
        "HMC",
        Config::new(hmc::Params::default()).draws(2000).seed(20),
    );
    check_kernel("NUTS", Config::default().draws(2000).seed(30));
    for (name, metric, seed) in [
        (
            "NUTS, Stan's diagonal windows",
            adapt::MetricKind::Diagonal,
            60,
        ),
        (
            "NUTS, dense metric fitted to scores",
            adapt::MetricKind::ScoreDense,
            70,
        ),
        (
            "NUTS, low-rank metric fitted to scores",
            adapt::MetricKind::ScoreLowRank,
            90,
        ),
    ] {
        let mut cfg = Config::default().draws(2000).seed(seed);
        cfg.adapt.metric = metric;
        check_kernel(name, cfg);
    }
    check_kernel(
        "NUTS, dense metric",
        Config {
            adapt: dense,
            ..Config::default().draws(2000).seed(40)
        },
    );
    let endpoints = nuts::Params {
        uturn: nuts::UTurn::Endpoints,
        ..Default::default()
    };
    check_kernel(
        "NUTS, endpoint U-turn checks",
        Config::new(endpoints).draws(2000).seed(50),
    );
}

#[test]
fn nuts_names_the_low_rank_metric_when_its_trajectories_are_long() {
    // a 0.9999-correlated pair: a diagonal metric must take steps of the narrow direction's scale along the
    // long one; the low-rank fit whitens it
    let g =
        MultivariateNormal::new(vec![0.0; 2], vec![vec![1.0, 0.9999], vec![0.9999, 1.0]]).unwrap();
    let cfg = Config::default().warmup(500).draws(500).seed(3);
    let diagonal = sample(&Exact(&g), &cfg).unwrap();
    let s = diagonal.summary();
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("leapfrog steps per transition") && w.contains("ScoreLowRank")),
        "{} steps per draw\n{s}",
        diagonal.grads_per_draw()
    );
    let low_rank = sample(&Exact(&g), &cfg.metric(adapt::MetricKind::ScoreLowRank)).unwrap();
    let s = low_rank.summary();
    assert!(
        !s.warnings.iter().any(|w| w.contains("leapfrog")),
        "{} steps per draw\n{s}",
        low_rank.grads_per_draw()
    );
}

#[test]
fn nuts_reports_divergences_on_neals_funnel_and_keeps_none() {
    let f = stein_scores::Funnel::new(10, 3.0).unwrap();
    let draws = sample(&Exact(&f), &Config::default().seed(5)).unwrap();
    // the neck (v ≪ 0) is where the adapted step is too large: NUTS cannot follow, and says so
    assert!(draws.divergences() > 0, "no divergences reported");
    let s = draws.summary();
    assert!(s.warnings.iter().any(|w| w.contains("divergent")), "{s}");
    // the divergent trajectories were not followed into the neck's non-finite region: every draw is finite
    assert!(draws.pooled().iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn hmc_jitter_breaks_the_periodicity_of_a_fixed_path_length() {
    // On N(0, I) a leapfrog path of total time π (ε L = π, exactly half a period) maps x to −x: without
    // jitter every transition flips the sign (lag-1 autocorrelation near −1) and the draws look too good.
    let g = MultivariateNormal::isotropic(vec![0.0; 4], 1.0).unwrap();
    let lag1 = |d: &Draws| {
        let c = d.coordinate(0);
        let (mut num, mut den) = (0.0, 0.0);
        for ch in &c {
            for w in ch.windows(2) {
                num += w[0] * w[1];
                den += w[0] * w[0];
            }
        }
        num / den
    };
    let fixed = hmc::Params {
        jitter: 0.0,
        ..hmc::Params::new(std::f64::consts::PI / 10.0, 10)
    };
    let cfg = |p: hmc::Params| {
        Config::new(p)
            .warmup(100)
            .draws(4000)
            .seed(7)
            .init(Init::default())
    };
    let mut c = cfg(fixed.clone());
    c.adapt.metric = adapt::MetricKind::Fixed;
    c.adapt.target_accept = None;
    let no_adapt = |mut c: Config<hmc::Params>| {
        c.warmup = 0;
        c
    };
    let periodic = sample(&Exact(&g), &no_adapt(c)).unwrap();
    assert!(
        lag1(&periodic) < -0.9,
        "lag-1 autocorrelation {}",
        lag1(&periodic)
    );
    // with the path time πu, u ~ U(0.5, 1.5): x' = x cos πu + p sin πu, so the lag-1 autocorrelation is
    // E cos πu = −2/π, and the chain is ergodic: its variance is right
    let jittered = sample(
        &Exact(&g),
        &no_adapt(cfg(hmc::Params {
            jitter: 0.5,
            ..fixed
        })),
    )
    .unwrap();
    let r = lag1(&jittered);
    assert!(
        (r + 2.0 / std::f64::consts::PI).abs() < 0.05,
        "with jitter, lag-1 autocorrelation {r}"
    );
    let sq: Vec<Vec<f64>> = jittered
        .coordinate(0)
        .iter()
        .map(|c| c.iter().map(|x| x * x).collect())
        .collect();
    let var = sq.iter().flatten().sum::<f64>() / 16_000.0;
    let se = 2f64.sqrt() / ess_mean(&sq).sqrt();
    assert!((var - 1.0).abs() < 4.0 * se, "variance {var} (MCSE {se})");
}

#[test]
fn the_two_drivers_give_bit_identical_draws() {
    let g = gaussian10();
    fn both<P: Tunable, T: Target>(t: &T, cfg: Config<P>) {
        let one = sample(t, &cfg).unwrap();
        let batched = sample_batched(&Rows(t), &cfg).unwrap();
        assert_eq!(one.chains, batched.chains, "{}", one.kernel);
    }
    fn cfg<P: Tunable>(c: Config<P>) -> Config<P> {
        c.chains(3).warmup(150).draws(100).seed(8)
    }
    both(&Exact(&g), cfg(Config::new(ula::Params::new(0.05))));
    both(&Exact(&g), cfg(Config::new(mala::Params::default())));
    both(&Exact(&g), cfg(Config::new(hmc::Params::default())));
    both(&Exact(&g), cfg(Config::default()));
    // more chains than one block of the batched driver: blocks run apart, in parallel
    fn many<P: Tunable>(c: Config<P>) -> Config<P> {
        c.chains(1100).warmup(4).draws(3).seed(5)
    }
    both(&Exact(&g), many(Config::new(ula::Params::new(0.05))));
    both(&Exact(&g), many(Config::new(mala::Params::new(0.1))));
    let ladder = PerturbedLadder::new(&g, &[3.0, 1.0, 0.3]).unwrap();
    both(
        &ladder,
        Config::new(annealed::Params::new(ladder.sigmas(), 20, 0.01))
            .chains(3)
            .warmup(0)
            .draws(2),
    );
}

#[test]
fn draws_do_not_depend_on_the_thread_count() {
    let g = gaussian10();
    fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.unwrap().install(f)
    }
    let run = |threads: usize| {
        on(threads, || {
            let cfg = Config::default().chains(6).warmup(200).draws(100).seed(6);
            sample(&Exact(&g), &cfg).unwrap().chains
        })
    };
    assert_eq!(run(1), run(2));
    // the batched driver, over several blocks of chains
    let batched = |threads: usize| {
        on(threads, || {
            let cfg = Config::new(mala::Params::new(0.1))
                .chains(1500)
                .warmup(3)
                .draws(3)
                .seed(6);
            sample_batched(&Rows(&Exact(&g)), &cfg).unwrap().chains
        })
    };
    assert_eq!(batched(1), batched(2));
}

/// N(0, 10² I) in 2-d whose log-density is NaN beyond |xᵢ| = 30 (a model that fails outside its domain).
struct NanBeyond30;
impl stein_scores::LogDensity for NanBeyond30 {
    fn dim(&self) -> usize {
        2
    }
    fn log_prob<S: stein_autodiff::Real>(&self, x: &[S]) -> S {
        let lp = -(x[0] * x[0] + x[1] * x[1]) * 0.005;
        if x.iter().any(|v| v.value().abs() > 30.0) {
            lp * f64::NAN
        } else {
            lp
        }
    }
}

#[test]
fn a_nan_at_a_proposal_is_a_rejection_and_the_chains_sample_on() {
    let start = || Init::Points(vec![vec![0.0, 0.0]]);
    // large fixed steps, so that proposals often land beyond 30
    let mala = Config::new(mala::Params::new(400.0))
        .warmup(0)
        .draws(3000)
        .seed(9)
        .init(start());
    let nuts = Config::new(nuts::Params::new(12.0))
        .warmup(0)
        .draws(1000)
        .seed(9)
        .init(start());
    let hmc = Config::new(hmc::Params::new(12.0, 5))
        .warmup(0)
        .draws(1000)
        .seed(9)
        .init(start());
    for draws in [
        sample(&Autodiff(&NanBeyond30), &mala).unwrap(),
        sample(&Autodiff(&NanBeyond30), &nuts).unwrap(),
        sample(&Autodiff(&NanBeyond30), &hmc).unwrap(),
    ] {
        assert!(
            draws.divergences() > 10,
            "{}: {} divergences",
            draws.kernel,
            draws.divergences()
        );
        assert!(draws.acceptance() > 0.05, "{} never moves", draws.kernel);
        let all = draws.pooled();
        assert!(
            all.iter()
                .flatten()
                .all(|v| v.is_finite() && v.abs() <= 30.0),
            "{}",
            draws.kernel
        );
    }
    // and with adaptation NUTS samples on too: the mean of the (truncated, symmetric) target is 0
    let adapted = sample(&Autodiff(&NanBeyond30), &Config::default().seed(9)).unwrap();
    let m = adapted.mean();
    assert!(m[0].abs() < 1.0 && m[1].abs() < 1.0, "mean {m:?}");
}

#[test]
fn a_start_where_the_target_is_not_finite_is_an_error_naming_chain_and_point() {
    let cfg = Config::default()
        .chains(2)
        .init(Init::Points(vec![vec![0.0, 0.0], vec![40.0, 1.0]]));
    let e = sample(&Autodiff(&NanBeyond30), &cfg).unwrap_err();
    match &e {
        SampleError::BadStart {
            chain: 1, point, ..
        } => assert_eq!(point, &vec![40.0, 1.0]),
        other => panic!("unexpected {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "chain 1 cannot start: the log-density is NaN at the starting point x = [40"
        ),
        "{msg}"
    );
    // random starts are redrawn (Stan's 100 tries): uniform on (−2, 2) never reaches 30, so this works ...
    assert!(sample(
        &Autodiff(&NanBeyond30),
        &Config::default().warmup(10).draws(10)
    )
    .is_ok());
    // ... and starts uniform on (−100, 100) are redrawn until they are inside (most tries)
    let wide = Config::default()
        .warmup(10)
        .draws(10)
        .init(Init::Uniform { radius: 100.0 });
    match sample(&Autodiff(&NanBeyond30), &wide) {
        Ok(_) => {}
        Err(e) => assert!(
            e.to_string().contains("each of 100 random starting points"),
            "{e}"
        ),
    }
}

#[test]
fn a_stuck_chain_is_reported() {
    let g = MultivariateNormal::isotropic(vec![0.0; 3], 1.0).unwrap();
    let cfg = Config::new(mala::Params::new(1e4))
        .warmup(0)
        .draws(300)
        .seed(3);
    let draws = sample(&Exact(&g), &cfg).unwrap();
    let s = draws.summary();
    assert!(draws.chains.iter().any(Chain::is_stuck));
    assert!(s.warnings.iter().any(|w| w.contains("never moved")), "{s}");
}

#[test]
fn misuse_is_a_named_error() {
    let n = stein_scores::Normal::new(0.0, 1.0).unwrap();
    let e = sample(&ScoreOnly(&n), &Config::default()).unwrap_err();
    assert!(
        matches!(e, SampleError::NeedsLogDensity { method: "NUTS" }),
        "{e}"
    );
    let e = sample(&Exact(&n), &Config::new(ula::Params::new(-1.0))).unwrap_err();
    assert!(e.to_string().contains("step size -1"), "{e}");
    let e = sample(&Exact(&n), &Config::default().chains(0)).unwrap_err();
    assert!(matches!(
        e,
        SampleError::BadParameter {
            param: "chains/thin",
            ..
        }
    ));
    let e = sample(
        &Exact(&n),
        &Config::default().init(Init::Points(vec![vec![0.0, 1.0]])),
    )
    .unwrap_err();
    assert!(e.to_string().contains("dimension 1"), "{e}");
    let bad_metric = nuts::Params {
        metric: Metric::Diagonal(vec![1.0, 2.0]),
        ..Default::default()
    };
    assert!(sample(&Exact(&n), &Config::new(bad_metric)).is_err());
}

#[test]
fn warm_up_adapts_the_step_to_its_target_and_the_metric_to_the_covariance() {
    let g = gaussian10();
    let cov = g.covariance();
    // the diagonal that minimises the Fisher divergence: √(Σᵢᵢ / (Σ⁻¹)ᵢᵢ), Var sᵢ = (Σ⁻¹)ᵢᵢ for a Gaussian
    let precision = {
        let chol = stein_scores::linalg::Cholesky::new("cov", &cov).unwrap();
        (0..10)
            .map(|i| {
                let mut e = vec![0.0; 10];
                e[i] = 1.0;
                chol.solve(&e)[i]
            })
            .collect::<Vec<f64>>()
    };
    // NUTS, the default fit to scores: acceptance statistic near 0.8, metric ≈ √(Σᵢᵢ / (Σ⁻¹)ᵢᵢ);
    // Stan's windows: a little above 0.8, metric ≈ the variances
    let stan = adapt::WarmupOptions {
        metric: adapt::MetricKind::Diagonal,
        ..Default::default()
    };
    for (adapt, fisher, accept) in [
        (Config::default().adapt, true, 0.75..0.9),
        (stan, false, 0.75..0.97),
    ] {
        let cfg = Config {
            adapt,
            ..Config::default().seed(12)
        };
        let draws = sample(&Exact(&g), &cfg).unwrap();
        for c in &draws.chains {
            let a = c.mean_accept_prob();
            assert!(accept.contains(&a), "NUTS acceptance {a} ({adapt:?})");
            let Metric::Diagonal(m) = &c.metric else {
                panic!("a diagonal metric")
            };
            for (i, v) in m.iter().enumerate() {
                let truth = if fisher {
                    (cov[i][i] / precision[i]).sqrt()
                } else {
                    cov[i][i]
                };
                assert!(
                    (v / truth - 1.0).abs() < 0.35,
                    "metric[{i}] = {v} vs {truth} ({:?})",
                    adapt.metric
                );
            }
        }
    }
    // a dense metric recovers the correlations: M⁻¹ ≈ Σ
    let cfg = Config {
        adapt: adapt::WarmupOptions {
            metric: adapt::MetricKind::Dense,
            ..Default::default()
        },
        ..Config::default().seed(13)
    };
    let draws = sample(&Exact(&g), &cfg).unwrap();
    let Metric::Dense(m) = &draws.chains[0].metric else {
        panic!("a dense metric")
    };
    let (est, cov) = (m.inverse_mass(), g.covariance());
    for i in 0..10 {
        for j in 0..10 {
            let scale = (cov[i][i] * cov[j][j]).sqrt();
            assert!(
                (est[i * 10 + j] - cov[i][j]).abs() < 0.3 * scale,
                "M⁻¹[{i}][{j}] = {} vs {}",
                est[i * 10 + j],
                cov[i][j]
            );
        }
    }
    // MALA aims at 0.574
    let draws = sample(
        &Exact(&g),
        &Config::new(mala::Params::default()).draws(3000).seed(14),
    )
    .unwrap();
    let a = draws
        .chains
        .iter()
        .map(Chain::mean_accept_prob)
        .sum::<f64>()
        / 4.0;
    assert!((0.45..0.8).contains(&a), "MALA acceptance {a}");
}

#[test]
fn ula_converges_to_the_known_biased_law_of_its_discretisation() {
    // Target N(0, 1): x' = (1 − ε/2) x + √ε z, an AR(1) with stationary variance ε / (1 − a²).
    // With ε = 0.5: a = 0.75, variance 0.5/0.4375 = 8/7 (not 1). The ε/2 convention is what is pinned.
    let p = stein_scores::Normal::new(0.0, 1.0).unwrap();
    let eps = 0.5;
    let draws = sample(
        &ScoreOnly(&p),
        &Config::new(ula::Params::new(eps))
            .chains(8)
            .draws(20_000)
            .seed(3),
    )
    .unwrap();
    let var = draws.covariance()[0][0];
    let a: f64 = 1.0 - eps / 2.0;
    let exact = eps / (1.0 - a * a);
    let sq: Vec<Vec<f64>> = draws
        .chains
        .iter()
        .map(|c| c.draws.iter().map(|x| x[0] * x[0]).collect())
        .collect();
    let se = 2f64.sqrt() * exact / ess_mean(&sq).sqrt();
    assert!(
        (var - exact).abs() < 4.0 * se,
        "ULA variance {var} vs its law {exact} (MCSE {se})"
    );
    assert!(
        (var - 1.0).abs() > 8.0 * se,
        "the bias must be visible at this ε"
    );
}

#[test]
fn annealed_langevin_with_exact_perturbed_scores_recovers_mixture_weights() {
    // Song & Ermon (2019), fig. 3: p = 1/5 N((−5, −5), I) + 4/5 N((5, 5), I); σ from 20 to 1 over 10 levels,
    // ε = 0.1, T = 100. Annealing recovers the weights; plain Langevin from the same start does not.
    let c = |m: f64| MultivariateNormal::isotropic(vec![m, m], 1.0).unwrap();
    let gmm = GaussianMixture::new(vec![0.2, 0.8], vec![c(-5.0), c(5.0)]).unwrap();
    let sigmas = stein_models::objective::geometric_sigmas(20.0, 1.0, 10).unwrap();
    let ladder = PerturbedLadder::new(&gmm, &sigmas).unwrap();
    let n = 4000;
    let cfg = Config::new(annealed::Params::new(sigmas, 100, 0.1))
        .chains(n)
        .warmup(0)
        .draws(1)
        .seed(4);
    let draws = sample(&ladder, &cfg).unwrap();
    let left =
        |d: &Draws| d.pooled().iter().filter(|x| x[0] + x[1] < 0.0).count() as f64 / n as f64;
    // binomial standard error at n = 4000 is 0.006
    assert!(
        (left(&draws) - 0.2).abs() < 0.03,
        "fraction in the 1/5 mode: {}",
        left(&draws)
    );
    let ula = Config::new(ula::Params::new(0.1))
        .chains(n)
        .warmup(999)
        .draws(1)
        .init(Init::Normal { scale: 20.0 });
    let plain = sample(&ScoreOnly(&gmm), &ula).unwrap();
    assert!(
        (left(&plain) - 0.2).abs() > 0.1,
        "ULA without annealing keeps the start's split: {}",
        left(&plain)
    );
}

/// Tweedie's last step on an exact ladder of N(3, 0.5²): the walk's draws have the variance of the last
/// level's law, 0.25 + σ_L² (with ULA's bias), and the denoised ones v²/(v + σ_L²), within 4 standard errors;
/// the mean stays 3, and the denoised point is evaluated once more (the state's score is its own).
#[test]
fn annealed_langevin_ends_with_tweedies_step_when_asked() {
    let sigmas = vec![4.0, 2.0, 1.0, 0.5, 0.3];
    let ladder = PerturbedLadder::new(&Normal::new(3.0, 0.5).unwrap(), &sigmas).unwrap();
    let n = 8000;
    let cfg = |p: annealed::Params| Config::new(p).chains(n).warmup(0).draws(1).seed(11);
    let run = |p| {
        let d = sample(&ladder, &cfg(p)).unwrap();
        let xs: Vec<f64> = d.pooled().iter().map(|x| x[0]).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        (d, m, v)
    };
    let (plain, m, v) = run(annealed::Params::new(sigmas.clone(), 200, 0.02));
    let (d, md, vd) = run(annealed::Params::new(sigmas.clone(), 200, 0.02).denoised());
    // ULA's own bias at step α on a Gaussian of variance v: v / (1 − α/(4v)); Tweedie scales x − 3 by 0.25/0.34
    let walk = 0.34 / (1.0 - 0.02 / (4.0 * 0.34));
    // the variance of a sample variance is about 2v²/n
    for (got, want, what) in [
        (v, walk, "walk"),
        (vd, walk * (0.25f64 / 0.34).powi(2), "denoised"),
    ] {
        let se = want * (2.0 / n as f64).sqrt();
        assert!(
            (got - want).abs() < 4.0 * se,
            "{what}: variance {got} vs {want} ± {se}"
        );
    }
    for mean in [m, md] {
        assert!(
            (mean - 3.0).abs() < 4.0 * (0.34 / n as f64).sqrt(),
            "mean {mean}"
        );
    }
    // one evaluation more than the walk: the denoised point's
    assert_eq!(d.chains[0].n_grad, plain.chains[0].n_grad + 1);
}

#[test]
fn an_empty_or_bad_ladder_is_an_error() {
    let g = MultivariateNormal::isotropic(vec![0.0], 1.0).unwrap();
    let e = PerturbedLadder::new(&g, &[]).unwrap_err().to_string();
    assert!(e.contains("`sigmas`") && e.contains("empty ladder"), "{e}");
    assert!(PerturbedLadder::new(&g, &[1.0, f64::NAN]).is_err());
    assert!(PerturbedLadder::new(&g, &[1.0, -0.5]).is_err());
    let e = sample(
        &PerturbedLadder::new(&g, &[1.0]).unwrap(),
        &Config::new(annealed::Params::new(vec![], 10, 0.1)),
    );
    assert!(e.unwrap_err().to_string().contains("0 noise levels"));
}

#[test]
fn gradients_per_draw_count_the_thinned_away_transitions() {
    // MALA evaluates the target once per transition: thinned by 4, four gradients per kept draw
    let cfg = Config::new(mala::Params::default())
        .warmup(100)
        .draws(200)
        .thin(4)
        .seed(3);
    let d = sample(&Exact(&gaussian10()), &cfg).unwrap();
    assert_eq!(d.chains[0].draws.len(), 200);
    assert_eq!(d.grads_per_draw(), 4.0);
    assert_eq!(d.chains[1].grads_per_draw(), 4.0);
}
