//! The metric fitted to draws and scores: exact on Gaussian draws up to its shrinkage (their scores are
//! linear in them, so the sample covariances satisfy Ĉs = Σ⁻¹ Ĉx Σ⁻¹ and the geometric mean is Σ from any
//! d + 1 draws), the fallbacks, and the schedule's first fit.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use stein_models::sample::score_fit::{Moments, Schedule, Shape};
use stein_models::sample::Metric;

/// A planted covariance: a strong low-rank part (two directions of variance 40 and 9) plus a diagonal of
/// scales 0.1 … 2, in 12 dimensions; returned with its Cholesky factor (row-major).
fn planted() -> (Vec<f64>, Vec<f64>, usize) {
    let d = 12;
    let u: Vec<f64> = (0..d).map(|i| ((i + 1) as f64).sin()).collect();
    let w: Vec<f64> = (0..d).map(|i| ((2 * i + 1) as f64).cos()).collect();
    let mut s = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            s[i * d + j] = 4.0 * u[i] * u[j] + 1.0 * w[i] * w[j];
        }
        s[i * d + i] += (0.1 + 1.9 * i as f64 / (d - 1) as f64).powi(2);
    }
    let l = cholesky(&s, d);
    (s, l, d)
}

fn cholesky(a: &[f64], d: usize) -> Vec<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            l[i * d + j] = if i == j { s.sqrt() } else { s / l[j * d + j] };
        }
    }
    l
}

/// `n` draws of N(μ, Σ) (Σ = L Lᵀ) fed with their scores −Σ⁻¹(x − μ) into `m`.
fn feed(m: &mut Moments, l: &[f64], d: usize, n: usize, seed: u64) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mu: Vec<f64> = (0..d).map(|i| i as f64 - 3.0).collect();
    for _ in 0..n {
        let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let x: Vec<f64> = (0..d)
            .map(|i| mu[i] + (0..=i).map(|k| l[i * d + k] * z[k]).sum::<f64>())
            .collect();
        // s = −Σ⁻¹(x − μ): solve L y = x − μ, then Lᵀ s = −y
        let r: Vec<f64> = x.iter().zip(&mu).map(|(a, b)| a - b).collect();
        let mut y = vec![0.0; d];
        for i in 0..d {
            y[i] = (r[i] - (0..i).map(|k| l[i * d + k] * y[k]).sum::<f64>()) / l[i * d + i];
        }
        let mut s = vec![0.0; d];
        for i in (0..d).rev() {
            s[i] = (-y[i] - (i + 1..d).map(|k| l[k * d + i] * s[k]).sum::<f64>()) / l[i * d + i];
        }
        m.add(&x, &s);
    }
}

#[test]
fn the_dense_fit_recovers_a_planted_covariance_from_d_plus_one_draws() {
    let (sigma, l, d) = planted();
    // the correlations are shrunk by n/(n + 0.01): at most 1e-3 of the scale at n = 13, 5e-6 at n = 2000
    for (n, tol) in [(d + 1, 0.02), (50, 5e-3), (2000, 2e-4)] {
        let mut m = Moments::new(d, Shape::Dense);
        feed(&mut m, &l, d, n, n as u64);
        let Some(Metric::Dense(fit)) = m.fit() else {
            panic!("a dense fit from {n} draws")
        };
        let est = fit.inverse_mass();
        let worst = est
            .iter()
            .zip(&sigma)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < tol * 40.0, "{n} draws: max |M⁻¹ − Σ| = {worst:e}");
    }
}

#[test]
fn the_diagonal_fit_is_the_fisher_optimal_diagonal() {
    // independent coordinates: √(Var x / Var s) = σᵢ² exactly; correlated: √(Σᵢᵢ / (Σ⁻¹)ᵢᵢ), not Σᵢᵢ
    let (sigma, l, d) = planted();
    let mut m = Moments::new(d, Shape::Diagonal);
    feed(&mut m, &l, d, 200_000, 3);
    let Some(Metric::Diagonal(v)) = m.fit() else {
        panic!("a diagonal fit")
    };
    let inv = invert(&sigma, d);
    for i in 0..d {
        let truth = (sigma[i * d + i] / inv[i * d + i]).sqrt();
        assert!(
            (v[i] / truth - 1.0).abs() < 0.02,
            "M⁻¹[{i}] = {} vs √(Σᵢᵢ/(Σ⁻¹)ᵢᵢ) = {truth} (Σᵢᵢ = {})",
            v[i],
            sigma[i * d + i]
        );
        assert!(truth < sigma[i * d + i], "the planted correlations matter");
    }
}

fn invert(a: &[f64], d: usize) -> Vec<f64> {
    let l = cholesky(a, d);
    let mut inv = vec![0.0; d * d];
    for c in 0..d {
        let mut y = vec![0.0; d];
        for i in 0..d {
            let e = if i == c { 1.0 } else { 0.0 };
            y[i] = (e - (0..i).map(|k| l[i * d + k] * y[k]).sum::<f64>()) / l[i * d + i];
        }
        for i in (0..d).rev() {
            inv[i * d + c] = (y[i]
                - (i + 1..d)
                    .map(|k| l[k * d + i] * inv[k * d + c])
                    .sum::<f64>())
                / l[i * d + i];
        }
    }
    inv
}

#[test]
fn too_few_draws_fit_nothing_and_singular_scores_fall_back_to_the_diagonal() {
    let (_, l, d) = planted();
    let mut m = Moments::new(d, Shape::Dense);
    feed(&mut m, &l, d, 2, 1);
    assert!(m.fit().is_none(), "two draws fit nothing");
    feed(&mut m, &l, d, 4, 2); // 6 draws in 12 dimensions: the shrinkage makes them a matrix
    let Some(Metric::Dense(fit)) = m.fit() else {
        panic!("a dense fit of 6 draws")
    };
    assert!(fit.inverse_mass().iter().all(|v| v.is_finite()));
    // scores with no spread in one coordinate: singular, so the diagonal fit
    let mut m = Moments::new(2, Shape::Dense);
    for i in 0..10 {
        let t = i as f64;
        m.add(&[t, (t * 1.3).sin()], &[-t, 0.0]);
    }
    let f = m.fit();
    assert!(matches!(f, Some(Metric::Diagonal(_))), "{f:?}");
    // a coordinate with no spread in its scores keeps 1, never 0 or ∞
    let mut m = Moments::new(2, Shape::Diagonal);
    for i in 0..10 {
        m.add(&[i as f64, 1.0], &[-(i as f64), 0.0]);
    }
    let Some(Metric::Diagonal(v)) = m.fit() else {
        panic!()
    };
    assert_eq!(v, vec![1.0, 1.0]);
}

#[test]
fn the_schedule_starts_from_the_score_and_fits_after_three_moves() {
    assert_eq!(
        Schedule::initial(&[-2.0, 0.0, f64::NAN, 0.5]),
        Metric::Diagonal(vec![0.5, 1.0, 1.0, 2.0])
    );
    let mut s = Schedule::new(1000, 1, Shape::Diagonal);
    let draws = [[1.0], [2.0], [4.0], [3.0]];
    let mut firsts = Vec::new();
    for (k, x) in draws.iter().enumerate() {
        // the second transition did not move: not counted
        let (m, first) = s.learn(k, x, &[-x[0]], k != 1);
        firsts.push((m.is_some(), first));
    }
    assert_eq!(
        firsts,
        vec![(false, false), (false, false), (false, false), (true, true)]
    );
    // the last 15% of warm-up keep the metric
    assert_eq!(s.learn(900, &[0.0], &[0.0], true), (None, false));
}

#[test]
fn the_low_rank_fit_keeps_the_planted_directions_and_conditions_the_target() {
    let (sigma, l, d) = planted();
    let mut m = Moments::new(d, Shape::LowRank);
    feed(&mut m, &l, d, 2000, 5);
    let Some(Metric::LowRank(fit)) = m.fit() else {
        panic!("a low-rank fit")
    };
    assert!((2..d).contains(&fit.rank()), "rank {} of {d}", fit.rank());
    // the target seen through the metric: the eigenvalues of L⁻¹ M⁻¹ L⁻ᵀ (Σ = L Lᵀ) are near 1 in every
    // direction the fit kept and within the cutoff's band elsewhere
    let s = nalgebra::DMatrix::from_row_slice(d, d, &sigma);
    let chol = s.cholesky().unwrap();
    let minv = nalgebra::DMatrix::from_row_slice(d, d, &fit.inverse_mass());
    let a = chol.l().solve_lower_triangular(&minv).unwrap();
    let a = chol.l().solve_lower_triangular(&a.transpose()).unwrap();
    let eig = nalgebra::SymmetricEigen::new((&a + a.transpose()) * 0.5).eigenvalues;
    let (lo, hi) = (eig.min(), eig.max());
    assert!(
        lo > 0.3 && hi < 3.0 && hi / lo < 6.0,
        "whitened spectrum {lo:.3} … {hi:.3}"
    );
    // without the low-rank part the planted directions are badly scaled
    let mut diag = Moments::new(d, Shape::Diagonal);
    feed(&mut diag, &l, d, 2000, 5);
    let Some(Metric::Diagonal(v)) = diag.fit() else {
        panic!()
    };
    let dm = nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_vec(v));
    let a = chol.l().solve_lower_triangular(&dm).unwrap();
    let a = chol.l().solve_lower_triangular(&a.transpose()).unwrap();
    let eig = nalgebra::SymmetricEigen::new((&a + a.transpose()) * 0.5).eigenvalues;
    assert!(
        eig.max() / eig.min() > 4.0 * hi / lo,
        "the diagonal alone is as good"
    );
}

#[test]
fn the_low_rank_metric_agrees_with_its_dense_matrix() {
    use stein_models::sample::{DenseMetric, LowRankMetric};
    let d = 5;
    let u1: Vec<f64> = (0..d).map(|i| (i as f64 + 1.0).sin()).collect();
    let n1 = u1.iter().map(|v| v * v).sum::<f64>().sqrt();
    let u1: Vec<f64> = u1.iter().map(|v| v / n1).collect();
    // a second direction orthogonal to the first
    let w: Vec<f64> = (0..d).map(|i| (2.0 * i as f64).cos()).collect();
    let c = w.iter().zip(&u1).map(|(a, b)| a * b).sum::<f64>();
    let u2: Vec<f64> = w.iter().zip(&u1).map(|(a, b)| a - c * b).collect();
    let n2 = u2.iter().map(|v| v * v).sum::<f64>().sqrt();
    let u2: Vec<f64> = u2.iter().map(|v| v / n2).collect();
    let scale = vec![0.5, 1.0, 2.0, 0.1, 3.0];
    let vecs = [u1.clone(), u2].concat();
    let lr = LowRankMetric::new(scale.clone(), vecs, vec![25.0, 0.04]).unwrap();
    let dense = Metric::Dense(DenseMetric::new(&lr.inverse_mass(), d).unwrap());
    let lr = Metric::LowRank(lr);
    let p = [0.3, -1.2, 0.7, 2.0, -0.4];
    let (mut v1, mut v2) = (vec![0.0; d], vec![0.0; d]);
    let k1 = lr.velocity_kinetic(&p, &mut v1);
    let k2 = dense.velocity_kinetic(&p, &mut v2);
    assert!((k1 - k2).abs() < 1e-9 * k2.abs());
    assert!(v1
        .iter()
        .zip(&v2)
        .all(|(a, b)| (a - b).abs() < 1e-9 * (1.0 + b.abs())));
    // rᵀ M r through the root and its inverse: vᵀ M v = pᵀ M⁻¹ p for v = M⁻¹ p
    let mut r = v1.clone();
    assert!((lr.mass_norm_in_place(&mut r) - 2.0 * k1).abs() < 1e-9 * k1);
    // a Langevin noise S z has rᵀ M r = ‖z‖²; a momentum has pᵀ M⁻¹ p = ‖z‖² for the same z
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let mut noise = vec![0.0; d];
    let zz = lr.sample_noise(&mut rng, &mut noise);
    assert!((lr.mass_norm_in_place(&mut noise) - zz).abs() < 1e-9 * zz);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
    let mut mom = vec![0.0; d];
    lr.sample_momentum(&mut rng, &mut mom);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
    let zz: f64 = (0..d)
        .map(|_| StandardNormal.sample(&mut rng))
        .map(|z: f64| z * z)
        .sum();
    let mut v = vec![0.0; d];
    assert!((2.0 * lr.velocity_kinetic(&mom, &mut v) - zz).abs() < 1e-9 * zz);
    // sizes and orthonormality are checked
    assert!(LowRankMetric::new(scale.clone(), [u1.clone(), u1].concat(), vec![2.0, 3.0]).is_none());
    assert!(LowRankMetric::new(scale, vec![1.0; 3], vec![2.0]).is_none());
}

#[test]
fn nuts_with_the_low_rank_fit_takes_fewer_steps_on_a_correlated_target() {
    use stein_models::sample::adapt::MetricKind;
    use stein_models::sample::{sample, Config, Exact};
    // 10-d: scales 0.5 … 5 and one pair correlated at 0.995
    let d = 10;
    let sd: Vec<f64> = (0..d).map(|i| 0.5 + 0.5 * i as f64).collect();
    let cov: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let r = if i == j {
                        1.0
                    } else if (i, j) == (2, 7) || (i, j) == (7, 2) {
                        0.995
                    } else {
                        0.0
                    };
                    r * sd[i] * sd[j]
                })
                .collect()
        })
        .collect();
    let target = stein_scores::MultivariateNormal::new(vec![0.0; d], cov).unwrap();
    let run = |kind| {
        let draws = sample(&Exact(&target), &Config::default().metric(kind).seed(4)).unwrap();
        let c = draws.covariance();
        let r = c[2][7] / (c[2][2] * c[7][7]).sqrt();
        assert!((r - 0.995).abs() < 0.003, "{kind:?}: correlation {r}");
        draws.grads_per_draw()
    };
    let (diag, low) = (
        run(MetricKind::ScoreDiagonal),
        run(MetricKind::ScoreLowRank),
    );
    println!("gradients per draw: diagonal {diag:.1}, low-rank {low:.1}");
    assert!(
        low < 0.35 * diag,
        "low-rank {low:.1} vs diagonal {diag:.1} gradients per draw"
    );
}
