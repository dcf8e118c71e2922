//! Simulation-based calibration of two real models with NUTS: an eight-schools-like hierarchical model
//! (non-centred, the calibration example's) and a logistic regression; and the same hierarchical model with
//! the prior's scale doubled in the posterior, which SBC must reject. Budget: 200 simulations ranked against
//! 39 draws of two chains.

#[path = "../examples/calibrate/schools.rs"]
mod schools;

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;
use schools::Schools;
use stein::autodiff::Real;
use stein::models::calibration::sbc::{self, SbcModel};
use stein::models::calibration::RankReport;
use stein::models::sample::Config;
use stein::scores::lpdf;

fn z<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// Logistic regression: β ~ N(0, 1)³, yᵢ ~ Bernoulli(σ(β₀ + β₁ xᵢ₁ + β₂ xᵢ₂)) with a fixed design of 40
/// rows (correlated columns).
struct Logistic {
    x: Vec<[f64; 2]>,
}

impl Logistic {
    fn new() -> Self {
        let mut rng = SmallRng::seed_from_u64(42);
        let x = (0..40)
            .map(|_| {
                let a = z(&mut rng);
                [a, 0.6 * a + 0.8 * z(&mut rng)]
            })
            .collect();
        Logistic { x }
    }
}

impl SbcModel for Logistic {
    type Data = Vec<bool>;
    fn dim(&self) -> usize {
        3
    }
    fn prior_draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        (0..3).map(|_| z(rng)).collect()
    }
    fn simulate<R: Rng + ?Sized>(&self, b: &[f64], rng: &mut R) -> Vec<bool> {
        self.x
            .iter()
            .map(|x| {
                let eta = b[0] + b[1] * x[0] + b[2] * x[1];
                rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp())
            })
            .collect()
    }
    fn log_posterior<S: Real>(&self, b: &[S], y: &Vec<bool>) -> S {
        let c = S::cst;
        let prior = b
            .iter()
            .fold(S::zero(), |acc, &v| acc + lpdf::normal(v, c(0.0), c(1.0)));
        self.x.iter().zip(y).fold(prior, |acc, (x, &yi)| {
            acc + lpdf::bernoulli_logit(yi, b[0] + b[1] * c(x[0]) + b[2] * c(x[1]))
        })
    }
}

/// SBC of `model` with NUTS (2 chains, 400 warm-up, 200 draws, target acceptance 0.9), printed.
fn run<M: SbcModel>(model: &M, seed: u64) -> RankReport {
    let nuts = Config::default()
        .chains(2)
        .warmup(400)
        .draws(200)
        .target_accept(0.9);
    let opts = sbc::Options::default()
        .simulations(200)
        .ranks_against(39)
        .seed(seed);
    let report = sbc::sbc(model, &nuts, &opts).unwrap();
    println!("{report}");
    report
}

#[test]
fn sbc_of_a_hierarchical_model_with_nuts_passes() {
    let right = Schools {
        scale_in_posterior: 5.0,
    };
    run(&right, 1).assert_calibrated(0.001);
}

#[test]
fn sbc_of_a_logistic_regression_with_nuts_passes() {
    run(&Logistic::new(), 2).assert_calibrated(0.001);
}

#[test]
fn sbc_rejects_the_hierarchical_model_with_its_prior_scale_doubled() {
    let wrong = Schools {
        scale_in_posterior: 10.0,
    };
    let msg = run(&wrong, 1)
        .check(0.01)
        .expect_err("a doubled prior scale must be detected");
    // a wider prior on τ lets the posterior put τ too high
    assert!(
        msg.contains("log_tau") && msg.contains("biased high"),
        "{msg}"
    );
}
