//! The metric fitted to draws and scores: exact on Gaussian draws up to its shrinkage (their scores are
//! linear in them, so the sample covariances satisfy Ĉs = Σ⁻¹ Ĉx Σ⁻¹ and the geometric mean is Σ from any
//! d + 1 draws), the fallbacks, and the schedule's first fit.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use stein_models::sample::score_fit::{Moments, Schedule};
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
        let mut m = Moments::new(d, true);
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
    let mut m = Moments::new(d, false);
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
    let mut m = Moments::new(d, true);
    feed(&mut m, &l, d, 2, 1);
    assert!(m.fit().is_none(), "two draws fit nothing");
    feed(&mut m, &l, d, 4, 2); // 6 draws in 12 dimensions: the shrinkage makes them a matrix
    let Some(Metric::Dense(fit)) = m.fit() else {
        panic!("a dense fit of 6 draws")
    };
    assert!(fit.inverse_mass().iter().all(|v| v.is_finite()));
    // scores with no spread in one coordinate: singular, so the diagonal fit
    let mut m = Moments::new(2, true);
    for i in 0..10 {
        let t = i as f64;
        m.add(&[t, (t * 1.3).sin()], &[-t, 0.0]);
    }
    let f = m.fit();
    assert!(matches!(f, Some(Metric::Diagonal(_))), "{f:?}");
    // a coordinate with no spread in its scores keeps 1, never 0 or ∞
    let mut m = Moments::new(2, false);
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
    let mut s = Schedule::new(1000, 1, false);
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
