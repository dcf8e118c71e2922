//! Pathfinder: exact on Gaussians, its errors, and the starts it gives NUTS.

use rand::SeedableRng;
use stein_models::sample::pathfinder::{multi_path, single_path, Options};
use stein_models::sample::{
    sample, sample_batched, Config, Exact, Init, Rows, SampleError, ScoreOnly,
};
use stein_scores::gof::KsdTest;
use stein_scores::{Banana, MultivariateNormal};

fn gaussian5() -> MultivariateNormal {
    let d: i32 = 5;
    let cov: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let (si, sj) = (0.3 + i as f64, 0.3 + j as f64);
                    let r = if i == j {
                        1.0
                    } else {
                        0.6f64.powi((i - j).abs())
                    };
                    r * si * sj
                })
                .collect()
        })
        .collect();
    MultivariateNormal::new((0..d).map(|i| i as f64 - 2.0).collect(), cov).unwrap()
}

#[test]
fn on_a_gaussian_the_approximation_is_the_target() {
    // with as many correction pairs as dimensions, exact line steps make L-BFGS's estimate the inverse
    // Hessian itself: the mean and covariance are the target's to rounding, and the ELBO is the target's log
    // normaliser with no Monte Carlo error (the same from every start and seed)
    let g = gaussian5();
    let cov = g.covariance();
    let mut elbo = None;
    for seed in 0..10 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let start: Vec<f64> = (0..5).map(|i| 3.0 - 1.7 * i as f64 + seed as f64).collect();
        let a = single_path(&Exact(&g), &start, &Options::default(), &mut rng).unwrap();
        let mut worst: f64 = 0.0;
        for (i, row) in cov.iter().enumerate() {
            worst = worst.max((a.mean[i] - g.mean()[i]).abs() / row[i].sqrt());
            for (j, c) in row.iter().enumerate() {
                worst =
                    worst.max((a.covariance[i * 5 + j] - c).abs() / (row[i] * cov[j][j]).sqrt());
            }
        }
        println!("seed {seed}: worst error {worst:.2e} (in sds), ELBO {:.2e}, {} iterations, {} evaluations", a.elbo, a.iterations, a.evaluations);
        assert!(
            worst < 1e-6,
            "seed {seed}: worst error {worst:.2e} sds\n{a:?}"
        );
        let first = *elbo.get_or_insert(a.elbo);
        assert!((a.elbo - first).abs() < 1e-9, "ELBO {} vs {first}", a.elbo);
        assert!(a.iterations <= 8, "{} iterations", a.iterations);
    }
}

#[test]
fn resampled_starts_land_in_the_typical_set() {
    // a banana: the pooled, importance-resampled points sit where its mass is, from starts far outside
    let b = Banana::new(1.0, 0.5).unwrap();
    let starts: Vec<Vec<f64>> = (0..4).map(|i| vec![8.0 - 4.0 * i as f64, -9.0]).collect();
    let pooled = multi_path(&Exact(&b), &starts, &Options::default(), 200, 7).unwrap();
    let (points, paths) = (pooled.points, pooled.paths);
    assert_eq!((points.len(), paths.len()), (200, 4));
    let mean_x = points.iter().map(|p| p[0]).sum::<f64>() / 200.0;
    let far = points.iter().filter(|p| p[0].abs() > 4.0).count();
    assert!(
        mean_x.abs() < 0.5 && far == 0,
        "mean x {mean_x}, {far} points beyond |x| = 4"
    );
}

#[test]
fn resampled_draws_pass_the_ksd_test_on_a_banana() {
    // the pooled Gaussians of four paths, reweighted to the banana by Pareto-smoothed importance resampling
    let b = Banana::new(1.0, 0.5).unwrap();
    let starts: Vec<Vec<f64>> = (0..4).map(|i| vec![3.0 - 2.0 * i as f64, -4.0]).collect();
    let mut rejected = 0;
    for seed in 0..10 {
        let pooled = multi_path(&Exact(&b), &starts, &Options::default(), 300, seed).unwrap();
        let points = pooled.points;
        let r = KsdTest::default().seed(seed).run(&b, &points).unwrap();
        let distinct = {
            let mut p = points.clone();
            p.sort_by(|a, b| a[0].total_cmp(&b[0]));
            p.dedup();
            p.len()
        };
        println!(
            "seed {seed}: KSD p = {:.3}, {distinct} distinct of 300, k̂ {:.2}",
            r.p_value, pooled.pareto_k
        );
        rejected += usize::from(r.rejects(0.05));
    }
    // (plain importance weights rejected 2 of these 10 at 0.01: a few tail draws took a third of the points)
    assert!(rejected <= 1, "{rejected} of 10 rejected at 0.05");
}

#[test]
fn a_start_at_a_stationary_point_still_gives_an_approximation() {
    // the score is zero at the start: no L-BFGS step is possible, the start's own Gaussian is returned
    let g = MultivariateNormal::new(vec![0.0, 0.0], vec![vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let a = single_path(&Exact(&g), &[0.0, 0.0], &Options::default(), &mut rng).unwrap();
    assert_eq!(a.mean, vec![0.0, 0.0]);
    assert_eq!(a.covariance, vec![1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn pathfinder_says_what_it_cannot_do() {
    let g = gaussian5();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let e = single_path(&ScoreOnly(&g), &[0.0; 5], &Options::default(), &mut rng).unwrap_err();
    assert!(
        matches!(
            e,
            SampleError::NeedsLogDensity {
                method: "Pathfinder"
            }
        ),
        "{e}"
    );
    let e = single_path(&Exact(&g), &[f64::NAN; 5], &Options::default(), &mut rng).unwrap_err();
    assert!(e.to_string().contains("Pathfinder's start"), "{e}");
    let bad = Options {
        history: 0,
        ..Options::default()
    };
    let e = single_path(&Exact(&g), &[0.0; 5], &bad, &mut rng).unwrap_err();
    assert!(e.to_string().contains("history 0"), "{e}");
    // the batched driver evaluates many chains at once and refuses it, naming the setting
    let cfg = Config::default()
        .init(Init::Pathfinder)
        .warmup(10)
        .draws(10);
    let e = sample_batched(&Rows(&Exact(&g)), &cfg).unwrap_err();
    assert!(e.to_string().contains("`init`"), "{e}");
    // the per-chain driver runs with it
    let d = sample(&Exact(&g), &cfg.warmup(200).draws(200)).unwrap();
    assert_eq!(d.chains.len(), 4);
}
