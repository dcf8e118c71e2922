//! A mixture's batch evaluator agrees with its per-point score and log-density: random full-covariance
//! mixtures, tiles cut anywhere, points far from every mode; bad lengths are named errors.

use proptest::prelude::*;
use stein_scores::{Analytic, GaussianMixture, LogDensity, MultivariateNormal, Score};

fn mixture(d: usize, k: usize, v: &[f64]) -> GaussianMixture {
    let mut it = v.iter().cycle();
    let mut next = || *it.next().unwrap();
    let comps = (0..k)
        .map(|_| {
            let mean: Vec<f64> = (0..d).map(|_| 4.0 * next()).collect();
            // A Aᵀ + 0.3 I: full, positive definite
            let a: Vec<Vec<f64>> = (0..d).map(|_| (0..d).map(|_| next()).collect()).collect();
            let cov = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| {
                            (0..d).map(|l| a[i][l] * a[j][l]).sum::<f64>()
                                + if i == j { 0.3 } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            MultivariateNormal::new(mean, cov).unwrap()
        })
        .collect();
    let weights = (0..k).map(|_| 0.1 + next().abs()).collect();
    GaussianMixture::new(weights, comps).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn batch_scores_match_the_per_point_ones(
        d in 1usize..5,
        k in 1usize..20,
        n in 1usize..200,
        v in prop::collection::vec(-1.0f64..1.0, 64),
        far in 1.0f64..30.0,
    ) {
        let gmm = mixture(d, k, &v);
        let x: Vec<f64> = (0..n * d)
            .map(|i| v[i % v.len()] * if i % 7 == 0 { far } else { 3.0 } + 0.01 * i as f64)
            .collect();
        let (mut s, mut lp) = (vec![0.0; n * d], vec![0.0; n]);
        gmm.batch().eval(&x, &mut s, Some(&mut lp)).unwrap();
        for i in 0..n {
            let p = &x[i * d..(i + 1) * d];
            let want = gmm.score(p);
            for a in 0..d {
                let tol = 1e-9 * (1.0 + want[a].abs());
                prop_assert!((s[i * d + a] - want[a]).abs() < tol, "point {i}: {:?} vs {want:?}", &s[i * d..(i + 1) * d]);
            }
            let l = gmm.log_pdf(p).unwrap_or_else(|| gmm.log_prob(p));
            prop_assert!((lp[i] - l).abs() < 1e-9 * (1.0 + l.abs()), "point {i}: {} vs {l}", lp[i]);
        }
        // without log p: the same scores
        let mut s2 = vec![0.0; n * d];
        gmm.batch().eval(&x, &mut s2, None).unwrap();
        prop_assert_eq!(&s, &s2);
    }
}

#[test]
fn bad_lengths_are_named_errors() {
    let c = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let gmm = GaussianMixture::new(vec![1.0], vec![c]).unwrap();
    let b = gmm.batch();
    let e = b.eval(&[1.0, 2.0, 3.0], &mut [0.0; 3], None).unwrap_err();
    assert!(e.to_string().contains("x 3"), "{e}");
    let e = b
        .eval(&[1.0, 2.0], &mut [0.0; 2], Some(&mut [0.0; 2]))
        .unwrap_err();
    assert!(e.to_string().contains("log p 2"), "{e}");
}
