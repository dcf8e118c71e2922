//! AIS finds log Z of densities whose Z is known, within its own error bar: the estimate's z-score stays
//! within ±4 over seeds (Gaussians, a mixture, three of the toy truths, which are normalised: log Z = 0).

use rand::SeedableRng;
use stein_models::data::Toy;
use stein_models::quality::ais::{base_for, log_z, Ais, LogZ};
use stein_models::sample::{Autodiff, BatchTarget, Exact, Rows};
use stein_scores::{GaussianMixture, MultivariateNormal, Sample};

fn check(name: &str, z: &LogZ, truth: f64) {
    let score = (z.log_z - truth) / z.se.max(1e-12);
    println!(
        "{name}: log Z {:.4} ± {:.4} (truth {truth:.4}, z {score:+.2}), ESS {:.0}/{}, acceptance {:.2}",
        z.log_z, z.se, z.ess, z.particles, z.acceptance
    );
    assert!(z.reliable(), "{name}: ESS {} of {}", z.ess, z.particles);
    assert!(score.abs() < 4.0, "{name}: z-score {score}");
    assert!(z.se < 0.1, "{name}: standard error {}", z.se);
}

#[test]
fn gaussians_in_two_and_six_dimensions() {
    let p = MultivariateNormal::new(vec![1.0, -2.0], vec![vec![2.0, 1.2], vec![1.2, 1.0]]).unwrap();
    // unnormalised: Exact's log p leaves out the normaliser, which is log Z
    let truth = stein_scores::Analytic::log_normalizer(&p).unwrap();
    let data = p.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(1), 500);
    let data = stein_autodiff::Tensor::new(500, 2, data.concat()).unwrap();
    let base = base_for(&data).unwrap();
    for seed in 0..3 {
        let opts = Ais {
            particles: 500,
            temperatures: 100,
            seed,
            ..Ais::default()
        };
        check(
            "2-d Gaussian",
            &log_z(&Rows(&Exact(&p)), None, &base, &opts).unwrap(),
            truth,
        );
    }
    let p6 = MultivariateNormal::isotropic(vec![0.3; 6], 0.7).unwrap();
    let truth = stein_scores::Analytic::log_normalizer(&p6).unwrap();
    let base = MultivariateNormal::isotropic(vec![0.0; 6], 1.2).unwrap();
    let opts = Ais {
        particles: 500,
        temperatures: 200,
        ..Ais::default()
    };
    check(
        "6-d Gaussian",
        &log_z(&Rows(&Exact(&p6)), None, &base, &opts).unwrap(),
        truth,
    );
}

#[test]
fn a_mixture_with_unequal_weights() {
    let comps = vec![
        MultivariateNormal::isotropic(vec![-3.0, 0.0], 0.5).unwrap(),
        MultivariateNormal::isotropic(vec![3.0, 1.0], 1.0).unwrap(),
    ];
    let p = GaussianMixture::new(vec![0.3, 0.7], comps).unwrap();
    // the mixture's log_prob is normalised; scale it by e⁵ so that log Z = 5
    struct Scaled<'a>(&'a GaussianMixture);
    impl BatchTarget for Scaled<'_> {
        fn dim(&self) -> usize {
            2
        }
        fn has_log_density(&self) -> bool {
            true
        }
        fn eval_batch(
            &self,
            x: &stein_autodiff::Tensor,
            sigma: Option<f64>,
            score: &mut stein_autodiff::Tensor,
        ) -> Option<Vec<f64>> {
            let lp = Rows(&Autodiff(self.0)).eval_batch(x, sigma, score)?;
            Some(lp.iter().map(|v| v + 5.0).collect())
        }
    }
    let data = p.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(2), 1000);
    let data = stein_autodiff::Tensor::new(1000, 2, data.concat()).unwrap();
    let base = base_for(&data).unwrap();
    for seed in 0..3 {
        let opts = Ais {
            particles: 500,
            temperatures: 200,
            seed,
            ..Ais::default()
        };
        check(
            "mixture",
            &log_z(&Scaled(&p), None, &base, &opts).unwrap(),
            5.0,
        );
    }
}

#[test]
fn toy_truths_are_normalised() {
    for (toy, particles, temperatures) in [
        (Toy::EightGaussians, 400, 200),
        (Toy::Rings, 400, 200),
        (Toy::TwoMoons, 200, 100),
    ] {
        let data = toy.sample(2000, &mut rand::rngs::SmallRng::seed_from_u64(3));
        let base = base_for(&data).unwrap();
        let density = toy.density();
        let opts = Ais {
            particles,
            temperatures,
            ..Ais::default()
        };
        check(
            toy.name(),
            &log_z(&Rows(&Autodiff(&density)), None, &base, &opts).unwrap(),
            0.0,
        );
    }
}

#[test]
fn bad_requests_are_errors() {
    let p = MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let base3 = MultivariateNormal::isotropic(vec![0.0; 3], 1.0).unwrap();
    let e = log_z(&Rows(&Exact(&p)), None, &base3, &Ais::default()).unwrap_err();
    assert!(e.to_string().contains("base"), "{e}");
    let base = MultivariateNormal::isotropic(vec![0.0; 2], 1.0).unwrap();
    let e = log_z(
        &Rows(&Exact(&p)),
        None,
        &base,
        &Ais {
            particles: 1,
            ..Ais::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("particles"), "{e}");
}
