//! Statistical checks with fixed seeds: exact samples have zero expected score, Gaussian Fisher information,
//! kernel Stein discrepancy and MMD separate right from wrong samples.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_scores::*;

fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

fn zero_mean_score<D: Analytic + Sample>(name: &str, d: &D, seed: u64) {
    let xs = d.sample_n(&mut rng(seed), 20_000);
    let mc = expected_score(d, &xs).unwrap();
    assert!(
        mc.max_z() < 4.0,
        "{name}: mean score {:?} ± {:?}",
        mc.mean,
        mc.std_err
    );
}

#[test]
fn exact_samples_have_zero_expected_score() {
    let cov = vec![
        vec![1.0, 0.6, 0.0],
        vec![0.6, 2.0, -0.3],
        vec![0.0, -0.3, 0.5],
    ];
    zero_mean_score("normal", &Normal::new(1.0, 2.0).unwrap(), 1);
    zero_mean_score(
        "mvn",
        &MultivariateNormal::new(vec![1.0, -1.0, 0.0], cov.clone()).unwrap(),
        2,
    );
    let c = |m: f64| MultivariateNormal::isotropic(vec![m, -m], 0.7).unwrap();
    zero_mean_score(
        "gmm",
        &GaussianMixture::new(vec![1.0, 2.0, 1.0], vec![c(-2.0), c(0.0), c(3.0)]).unwrap(),
        3,
    );
    zero_mean_score("laplace", &Laplace::new(vec![0.5, -1.0], 0.7).unwrap(), 4);
    zero_mean_score("logistic", &Logistic::new(vec![0.5, -1.0], 1.3).unwrap(), 5);
    zero_mean_score("student t", &StudentT::new(0.5, 1.5, 4.0).unwrap(), 6);
    zero_mean_score(
        "mv student t",
        &MultivariateStudentT::new(vec![0.0, 1.0, 2.0], cov, 5.0).unwrap(),
        7,
    );
    zero_mean_score("banana", &Banana::new(1.0, 0.5).unwrap(), 8);
    zero_mean_score("funnel", &Funnel::new(3, 1.0).unwrap(), 9);
    zero_mean_score("ring", &Ring::new(2.0, 0.3).unwrap(), 10);
    zero_mean_score(
        "perturbed gmm",
        &NoisePerturbed::new(GaussianMixture::new(vec![1.0], vec![c(1.0)]).unwrap(), 0.5).unwrap(),
        11,
    );
}

#[test]
fn fisher_information_of_a_gaussian_is_the_precision() {
    // N(μ, σ²I) in 2-D: I = I/σ², trace 2/σ²
    let sigma = 0.8;
    let g = MultivariateNormal::isotropic(vec![1.0, -2.0], sigma).unwrap();
    let xs = g.sample_n(&mut rng(21), 40_000);
    let f = fisher_information(&g, &xs).unwrap();
    let n = xs.len() as f64;
    // standard error of a mean of sᵢsⱼ: for Gaussian scores, Var(sᵢ²) = 2/σ⁴, Var(sᵢsⱼ) = 1/σ⁴
    let se_diag = (2.0 / sigma.powi(4) / n).sqrt();
    let se_off = (1.0 / sigma.powi(4) / n).sqrt();
    for i in 0..2 {
        assert!(
            (f[i][i] - 1.0 / (sigma * sigma)).abs() < 4.0 * se_diag,
            "{f:?}"
        );
        assert!(f[i][1 - i].abs() < 4.0 * se_off, "{f:?}");
    }
    // full covariance: I = Σ⁻¹
    let cov = vec![vec![2.0, 0.8], vec![0.8, 1.0]];
    let g = MultivariateNormal::new(vec![0.0, 0.0], cov).unwrap();
    let xs = g.sample_n(&mut rng(22), 40_000);
    let f = fisher_information(&g, &xs).unwrap();
    let det = 2.0 - 0.64;
    let inv = [[1.0 / det, -0.8 / det], [-0.8 / det, 2.0 / det]];
    for i in 0..2 {
        for j in 0..2 {
            assert!(
                (f[i][j] - inv[i][j]).abs() < 0.05 * inv[i][i].abs().max(inv[j][j].abs()),
                "{f:?}"
            );
        }
    }
}

#[test]
fn ksd_prefers_exact_samples_to_shifted_ones() {
    let g = MultivariateNormal::new(vec![0.0, 0.0], vec![vec![1.0, 0.5], vec![0.5, 1.0]]).unwrap();
    let exact = g.sample_n(&mut rng(31), 500);
    let shifted: Vec<Vec<f64>> = g
        .sample_n(&mut rng(32), 500)
        .into_iter()
        .map(|x| vec![x[0] + 0.5, x[1]])
        .collect();
    for stat in [Statistic::U, Statistic::V] {
        let (a, b) = (
            kernel_stein_discrepancy(&g, &exact, stat).unwrap(),
            kernel_stein_discrepancy(&g, &shifted, stat).unwrap(),
        );
        assert!(a < b / 5.0, "{stat:?}: exact {a} vs shifted {b}");
    }
    // and the autodiff score gives the same statistic
    let a = kernel_stein_discrepancy(&g, &exact, Statistic::U).unwrap();
    let b = kernel_stein_discrepancy(&autodiff(&g), &exact, Statistic::U).unwrap();
    assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()));
}

#[test]
fn ksd_tends_to_zero_with_n_on_a_gaussian() {
    let g = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let ksd = |n: usize| {
        // average over a few seeds: the V-statistic's mean is E[k_p(x, x)]/n
        (0..4)
            .map(|s| {
                kernel_stein_discrepancy(&g, &g.sample_n(&mut rng(40 + s), n), Statistic::V)
                    .unwrap()
            })
            .sum::<f64>()
            / 4.0
    };
    let (a, b, c) = (ksd(100), ksd(400), ksd(1600));
    assert!(a > b && b > c, "{a} {b} {c}");
    assert!(c < a / 8.0, "{a} → {c}: expected roughly 1/n");
}

#[test]
fn mmd_separates_samples() {
    let p = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let q = MultivariateNormal::isotropic(vec![0.7, 0.0], 1.0).unwrap();
    let n = 1000;
    let (x, y, z) = (
        p.sample_n(&mut rng(51), n),
        p.sample_n(&mut rng(52), n),
        q.sample_n(&mut rng(53), n),
    );
    let (same, diff) = (mmd(&x, &y).unwrap(), mmd(&x, &z).unwrap());
    // closed form for N(0, I) vs N(δ, I) in 2-D, kernel bandwidth h² ≈ median ‖x − y‖² = 4 ln 2:
    // MMD² = 2 h²/(h² + 2) (1 − exp(−‖δ‖² / (2(h² + 2)))) ≈ 0.058; the U-statistic's spread here is ≈ 0.006
    let h2 = 4.0 * 2f64.ln();
    let exact = 2.0 * h2 / (h2 + 2.0) * (1.0 - (-0.49 / (2.0 * (h2 + 2.0))).exp());
    assert!(
        (diff - exact).abs() < 0.02,
        "different: {diff} vs closed form {exact}"
    );
    assert!(same.abs() < 0.01, "same: {same}");
}

#[test]
fn score_batch_does_not_depend_on_the_thread_count() {
    let g = Banana::new(1.0, 0.5).unwrap();
    let pts: Vec<f64> = g
        .sample_n(&mut rng(61), 5000)
        .into_iter()
        .flatten()
        .collect();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| score_batch(&autodiff(&g), &pts).unwrap())
    };
    assert_eq!(run(1), run(2));
    assert_eq!(
        kernel_stein_discrepancy(&g, &g.sample_n(&mut rng(62), 300), Statistic::U)
            .unwrap()
            .to_bits(),
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| {
                kernel_stein_discrepancy(&g, &g.sample_n(&mut rng(62), 300), Statistic::U)
                    .unwrap()
                    .to_bits()
            })
    );
}
