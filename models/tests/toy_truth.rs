//! The exact densities of the built-in sets: they integrate to 1, agree with the peers' numpy truth
//! (`../shared/peers/toy_truth.py`, values stored in tests/data/toy_truth.json), their scores by the tape agree
//! with finite differences, and the draws of `Toy::sample` have the density's expected log-density.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::data::Toy;
use stein_scores::{score, LogDensity};

/// ∫ p over [−7, 7]² by the midpoint rule with step `h` (as fine as the density's narrowest feature). The
/// midpoints keep off the origin, where the rings' density has an integrable 1/ρ singularity.
fn mass(toy: Toy, h: f64) -> f64 {
    let n = (14.0 / h).round() as usize;
    let pts = Tensor::from_fn(n * n, 2, |i, j| {
        -7.0 + h * (0.5 + if j == 0 { i / n } else { i % n } as f64)
    });
    let p = toy.density();
    p.log_pdf_rows(&pts).iter().map(|l| l.exp()).sum::<f64>() * h * h
}

#[test]
fn every_density_integrates_to_one() {
    for (toy, h) in [
        (Toy::TwoMoons, 0.05),
        (Toy::EightGaussians, 0.1),
        (Toy::SwissRoll, 0.1),
        (Toy::Checkerboard, 0.05),
        (Toy::Rings, 0.05),
        (Toy::Pinwheel, 0.1),
        (Toy::Spirals, 0.1),
    ] {
        let m = mass(toy, h);
        // the checkerboard's edges cost the midpoint rule O(h); the smooth densities are exact to 1e-6
        let tol = if toy == Toy::Checkerboard { 2e-2 } else { 1e-3 };
        assert!((m - 1.0).abs() < tol, "{}: mass {m}", toy.name());
    }
}

#[test]
fn every_density_matches_the_peers_numpy_truth() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/toy_truth.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut checked = 0;
    for toy in Toy::ALL {
        let cases = v[toy.name()].as_array().unwrap();
        let p = toy.density();
        for c in cases {
            let x = [c["x"][0].as_f64().unwrap(), c["x"][1].as_f64().unwrap()];
            let want = c["log_p"].as_f64().unwrap_or(f64::NEG_INFINITY);
            let got = p.log_prob(&x);
            if want == f64::NEG_INFINITY || want < -700.0 {
                assert!(got < -700.0, "{} at {x:?}: {got} vs {want}", toy.name());
            } else {
                assert!(
                    (got - want).abs() < 1e-6 * (1.0 + want.abs()),
                    "{} at {x:?}: {got} vs numpy's {want}",
                    toy.name()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 7 * 30, "{checked}");
}

#[test]
fn scores_by_the_tape_match_finite_differences() {
    let mut rng = SmallRng::seed_from_u64(3);
    for toy in Toy::ALL {
        if toy == Toy::Checkerboard {
            continue; // piecewise constant: its score is 0 wherever it is defined
        }
        let p = toy.density();
        let x = toy.sample(20, &mut rng);
        for i in 0..x.rows() {
            let at = x.row_slice(i);
            let s = score(&p, at);
            for (j, sj) in s.iter().enumerate() {
                let h = 1e-5;
                let mut a = at.to_vec();
                let mut b = at.to_vec();
                a[j] += h;
                b[j] -= h;
                let fd = (p.log_prob(&a) - p.log_prob(&b)) / (2.0 * h);
                assert!(
                    (sj - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                    "{} at {at:?}: score {sj} vs {fd}",
                    toy.name()
                );
            }
        }
    }
    let s = score(&Toy::Checkerboard.density(), &[0.5, 0.5]);
    assert_eq!(s, vec![0.0, 0.0]);
}

#[test]
fn draws_are_finite_under_their_density_and_off_support_points_are_not() {
    let mut rng = SmallRng::seed_from_u64(4);
    for toy in Toy::ALL {
        let x = toy.sample(500, &mut rng);
        let lp = toy.density().log_pdf_rows(&x);
        assert!(lp.iter().all(|l| l.is_finite()), "{}", toy.name());
    }
    let c = Toy::Checkerboard.density();
    assert_eq!(c.log_prob(&[-1.0, -3.0]), f64::NEG_INFINITY);
    assert_eq!(c.log_prob(&[4.5, 0.5]), f64::NEG_INFINITY);
    assert!(c.log_prob(&[f64::NAN, 0.0]).is_nan());
}
