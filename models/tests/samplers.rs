//! Statistical tests of the samplers (fixed seeds, each well under 20 s in release).

use stein_autodiff::Real;
use stein_models::sample::*;
use stein_scores::{Funnel, GaussianMixture, LogDensity, MultivariateNormal, Normal};

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

/// Means and covariances within 4 Monte Carlo standard errors (MCSE = sd / √ESS, from the chains' own ESS).
fn moments_match(draws: &Draws, g: &MultivariateNormal, what: &str) {
    let (mu, cov) = (g.mean().to_vec(), g.covariance());
    let coords = draws.by_coordinate();
    let d = mu.len();
    let mean = draws.mean();
    for i in 0..d {
        let ess = ess_bulk(&coords[i]);
        let se = cov[i][i].sqrt() / ess.sqrt();
        assert!(
            (mean[i] - mu[i]).abs() < 4.0 * se,
            "{what}: mean[{i}] = {} vs {} (MCSE {se:.4}, ESS {ess:.0})",
            mean[i],
            mu[i]
        );
        for j in i..d {
            // the series (xᵢ − μᵢ)(xⱼ − μⱼ): its mean estimates Σᵢⱼ, its MCSE from its own ESS
            let prod: Vec<Vec<f64>> = draws
                .chains
                .iter()
                .map(|c| {
                    c.draws
                        .iter()
                        .map(|x| (x[i] - mu[i]) * (x[j] - mu[j]))
                        .collect()
                })
                .collect();
            let all: Vec<f64> = prod.iter().flatten().copied().collect();
            let m = all.iter().sum::<f64>() / all.len() as f64;
            let sd = (all.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (all.len() - 1) as f64)
                .sqrt();
            let se = sd / ess_basic(&prod).sqrt();
            assert!(
                (m - cov[i][j]).abs() < 4.0 * se,
                "{what}: cov[{i}][{j}] = {m} vs {} (MCSE {se:.4})",
                cov[i][j]
            );
        }
    }
    assert!(
        draws.rhat().iter().all(|r| *r < 1.05),
        "{what}: R-hat {:?}",
        draws.rhat()
    );
}

#[test]
fn mala_matches_the_moments_of_a_correlated_gaussian() {
    let g = gaussian10();
    let mut cfg = SampleConfig::new(Method::Mala { step: 0.15 }, 4, 20_000);
    cfg.seed = 1;
    let draws = sample(&Exact(&g), &cfg).unwrap();
    assert!(
        draws.acceptance() > 0.4 && draws.acceptance() < 0.95,
        "acceptance {}",
        draws.acceptance()
    );
    moments_match(&draws, &g, "MALA");
    // KSD of the draws: near zero under the right score, clearly positive under a shifted one
    let right = draws.ksd(&g, 800).unwrap();
    let shifted =
        MultivariateNormal::new(g.mean().iter().map(|m| m + 0.5).collect(), g.covariance())
            .unwrap();
    let wrong = draws.ksd(&shifted, 800).unwrap();
    assert!(
        right.abs() < wrong / 10.0,
        "KSD² {right} vs {wrong} under a shifted target"
    );
}

#[test]
fn hmc_matches_the_moments_of_a_correlated_gaussian_with_adaptation() {
    let g = gaussian10();
    let mut cfg = SampleConfig::new(
        Method::Hmc {
            step: 0.1,
            leapfrog: 10,
            inv_mass: None,
            adapt: Some(0.8),
        },
        4,
        4000,
    );
    cfg.warmup = 1000;
    cfg.seed = 2;
    let draws = sample(&Exact(&g), &cfg).unwrap();
    // dual averaging samples with its averaged step, which lands somewhat above the 0.8 target
    let acc = draws.acceptance();
    assert!((0.7..0.97).contains(&acc), "adapted acceptance {acc}");
    assert_eq!(draws.divergences(), 0);
    moments_match(&draws, &g, "HMC");
}

#[test]
fn ula_converges_to_the_known_biased_law_of_its_discretisation() {
    // Target N(0, σ²): x' = (1 − ε/(2σ²)) x + √ε z, an AR(1) with stationary variance ε / (1 − a²).
    // With ε = 0.5, σ = 1: a = 0.75, variance 0.5/0.4375 = 8/7 (not 1). The ε/2 convention is what is pinned.
    let p = Normal::new(0.0, 1.0).unwrap();
    let eps = 0.5;
    let mut cfg = SampleConfig::new(Method::Ula { step: eps }, 8, 20_000);
    cfg.seed = 3;
    let draws = sample(&ScoreOnly(&p), &cfg).unwrap();
    let var = draws.covariance()[0][0];
    let a: f64 = 1.0 - eps / 2.0;
    let exact = eps / (1.0 - a * a);
    // the variance's MCSE: sd of x² over √ESS
    let sq: Vec<Vec<f64>> = draws
        .chains
        .iter()
        .map(|c| c.draws.iter().map(|x| x[0] * x[0]).collect())
        .collect();
    let se = (2.0f64).sqrt() * exact / ess_basic(&sq).sqrt();
    assert!(
        (var - exact).abs() < 4.0 * se,
        "ULA variance {var} vs discretisation law {exact} (MCSE {se})"
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
    let sigmas = stein_models::loss::geometric_sigmas(20.0, 1.0, 10);
    let ladder = PerturbedLadder::new(&gmm, &sigmas).unwrap();
    let n = 4000;
    let draws = annealed_langevin(&ladder, &sigmas, 100, 0.1, n, 4).unwrap();
    let left = draws.pooled().iter().filter(|x| x[0] + x[1] < 0.0).count() as f64 / n as f64;
    // binomial standard error at n = 4000 is 0.006
    assert!(
        (left - 0.2).abs() < 0.03,
        "fraction in the 1/5 mode: {left}"
    );
    let mut cfg = SampleConfig::new(Method::Ula { step: 0.1 }, n, 1);
    cfg.warmup = 1000;
    cfg.init = Init::Normal { scale: 8.0 };
    let ula = sample(&ScoreOnly(&gmm), &cfg).unwrap();
    let left_ula = ula.pooled().iter().filter(|x| x[0] + x[1] < 0.0).count() as f64 / n as f64;
    assert!(
        (left_ula - 0.2).abs() > 0.1,
        "ULA without annealing keeps the start's split: {left_ula}"
    );
}

#[test]
fn hmc_reports_divergences_on_neals_funnel() {
    let f = Funnel::new(10, 3.0).unwrap();
    let mut cfg = SampleConfig::new(
        Method::Hmc {
            step: 0.3,
            leapfrog: 10,
            inv_mass: None,
            adapt: None,
        },
        4,
        500,
    );
    cfg.seed = 5;
    // chains started in the neck (v = −6, where the local scale e^{v/2} ≈ 0.05 ≪ ε) and at the mouth
    let start = |v: f64| {
        let mut x = vec![0.01; 10];
        x[0] = v;
        x
    };
    cfg.init = Init::Points(vec![start(-6.0), start(-4.0), start(0.0), start(3.0)]);
    let draws = sample(&Exact(&f), &cfg).unwrap();
    assert!(
        draws.divergences() > 10,
        "only {} divergences",
        draws.divergences()
    );
    // the divergent transitions were rejected, not kept: every draw is finite
    assert!(draws.pooled().iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn draws_do_not_depend_on_the_thread_count() {
    let g = gaussian10();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let mut cfg = SampleConfig::new(Method::Mala { step: 0.05 }, 6, 300);
                cfg.seed = 6;
                sample(&Exact(&g), &cfg).unwrap().chains
            })
    };
    assert_eq!(run(1), run(2));
}

struct Broken;
impl LogDensity for Broken {
    fn dim(&self) -> usize {
        1
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        // defined for x ≤ 1 only: √(1 − x) is NaN beyond
        -(x[0] * x[0]) * 0.5 + x[0].rsub(1.0).sqrt()
    }
}

#[test]
fn a_nan_target_stops_the_chain_with_the_step_and_state() {
    let mut cfg = SampleConfig::new(Method::Ula { step: 0.5 }, 1, 1000);
    cfg.init = Init::Points(vec![vec![0.0]]);
    let e = sample(&Autodiff(&Broken), &cfg).unwrap_err();
    match &e {
        SampleError::NonFinite {
            chain: 0,
            step,
            state,
            ..
        } => {
            assert!(*step > 0);
            assert!(state[0] > 1.0, "{state:?}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().starts_with("chain 0 stopped at step"));
    cfg.method = Method::Mala { step: 0.5 };
    assert!(matches!(
        sample(&Autodiff(&Broken), &cfg),
        Err(SampleError::NonFinite { .. })
    ));
    // MALA needs a log-density
    let n = Normal::new(0.0, 1.0).unwrap();
    let e = sample(&ScoreOnly(&n), &cfg).unwrap_err();
    assert!(matches!(e, SampleError::NeedsLogDensity { method: "MALA" }));
    cfg.method = Method::Ula { step: -1.0 };
    assert!(matches!(
        sample(&Exact(&n), &cfg),
        Err(SampleError::BadParameter { param: "step", .. })
    ));
}

#[test]
fn an_empty_or_bad_ladder_is_an_error() {
    let g = MultivariateNormal::isotropic(vec![0.0], 1.0).unwrap();
    let e = PerturbedLadder::new(&g, &[]).unwrap_err().to_string();
    assert!(e.contains("`sigmas`") && e.contains("empty ladder"), "{e}");
    assert!(PerturbedLadder::new(&g, &[1.0, f64::NAN]).is_err());
    assert!(PerturbedLadder::new(&g, &[1.0, -0.5]).is_err());
}
