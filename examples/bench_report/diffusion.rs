//! T11: a 2-D diffusion model (VP SDE) trained and sampled end to end, in the recipe of
//! `peers/diffusion_torch.py`.

use super::emit;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::eight_gaussians_density;
use stein::models::diffusion::likelihood::{log_likelihood, Divergence, TimeDivergence};
use stein::models::diffusion::net::{Output, TimeModel};
use stein::models::diffusion::ode::Tolerance;
use stein::models::diffusion::reverse::{sample, Method};
use stein::models::diffusion::single::TimeModel32;
use stein::models::diffusion::{PerturbedMixture, Sde, TimeScore};
use stein::models::fit::{FitOptions, Trainer};
use stein::models::network::Network;
use stein::models::nn::Precision;
use stein::models::objective::diffusion::{DiffusionDsm, Weighting};
use stein::models::recipe::{Recipe, SdeKind};
use stein::scores::{mmd_with, Analytic, Sample, Statistic};

/// T11, once in f64 and once in f32 (training passes, sampler scores and the likelihood's network passes;
/// parameters, optimiser and ODE states in f64): VP SDE β(t) = 0.1 + 19.9 t on [10⁻³, 1]; ε-network [x, Fourier(t)] → 128 → 128 → 2 (SiLU) with 16
/// frequencies ~ N(0, 16²); batch 512, lr 2·10⁻³, 10,000 steps (the peer's constant rate; Stein's loop decays
/// it by a cosine); 5,000 samples by the reverse SDE (1,000 Euler–Maruyama steps) and the probability-flow
/// ODE (Dormand–Prince, rtol = atol = 10⁻⁵); MMD² (bandwidth 1, V-statistic as the peer) to 5,000 fresh
/// points; the NLL of 1,000 fresh points (exact divergence) beside their true NLL. The peer draws fresh data
/// every step; here the model sees 10⁶ draws of the ring (5.1 M rows are drawn in 10,000 steps).
pub(crate) fn t11(quick: bool) {
    let law = eight_gaussians_density(); // the ring of Q1: radius 4, std 0.5
    let (steps, n, n_ll, n_data) = if quick {
        (200, 500, 50, 20_000)
    } else {
        (10_000, 5000, 1000, 1_000_000)
    };
    let sde = Sde::vp(0.1, 20.0).expect("valid");
    let draws = |seed: u64, n: usize| law.sample_n(&mut SmallRng::seed_from_u64(seed), n);
    let data = Tensor::new(n_data, 2, draws(1, n_data).concat()).expect("n × 2");
    let reference = draws(2, n);
    let mmd2 =
        |x: &Tensor| mmd_with(&x.to_rows(), &reference, Some(1.0), Statistic::V).expect("valid");
    let em = Method::EulerMaruyama { steps: 1000 };
    let truth = PerturbedMixture::new(law.clone(), sde)
        .with_t_min(1e-3)
        .expect("valid");
    let xe = sample(&truth, &sde, &em, n, 3).expect("sampling runs");
    emit("T11", "\"f64\"", "mmd2_sde_exact_score", mmd2(&xe), "");
    let test = draws(5, n_ll);
    let truth_nll = -test
        .iter()
        .map(|x| law.log_pdf(x).expect("normalised"))
        .sum::<f64>()
        / n_ll as f64;
    let test = Tensor::new(n_ll, 2, test.concat()).expect("n × 2");

    // the same network and draws trained and sampled in each precision
    for precision in [Precision::F64, Precision::F32] {
        let p = match precision {
            Precision::F64 => "\"f64\"",
            Precision::F32 => "\"f32\"",
        };
        let mut rng = SmallRng::seed_from_u64(0);
        let mut model = TimeModel::new(2, &[128, 128], Output::Noise, sde, &mut rng)
            .unwrap()
            .with_t_min(1e-3)
            .expect("valid");
        model.frequencies = (0..16)
            .map(|_| 16.0 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        // T11's recipe: the diffusion recipe at Adam 2·10⁻³, batch 512
        let settings = Recipe::diffusion(SdeKind::Vp)
            .lr(2e-3)
            .batch(512)
            .precision(precision)
            .settings(steps, 0);
        let objective = Box::new(DiffusionDsm::new(Weighting::Simple));
        let mut trainer = Trainer::new(model.into(), objective, settings);
        let t0 = Instant::now();
        let report = trainer
            .fit(&data, &FitOptions::steps(steps))
            .expect("training runs");
        emit("T11", p, "train_s", t0.elapsed().as_secs_f64(), "s");
        emit(
            "T11",
            p,
            "final_loss",
            report.losses.last().map_or(f64::NAN, |l| l.1),
            "",
        );
        let Network::Diffusion(model) = trainer.averaged() else {
            unreachable!("a diffusion model stays one")
        };

        let single = TimeModel32::new(&model);
        let score: &dyn TimeScore = match precision {
            Precision::F64 => &model,
            Precision::F32 => &single,
        };
        let t0 = Instant::now();
        let xs = sample(score, &sde, &em, n, 3).expect("sampling runs");
        emit("T11", p, "sample_sde_s", t0.elapsed().as_secs_f64(), "s");
        emit("T11", p, "mmd2_sde", mmd2(&xs), "");

        let ode = Method::ProbabilityFlowAdaptive(Tolerance::default());
        let t0 = Instant::now();
        let xo = sample(score, &sde, &ode, n, 4).expect("sampling runs");
        emit("T11", p, "sample_ode_s", t0.elapsed().as_secs_f64(), "s");
        emit("T11", p, "mmd2_ode", mmd2(&xo), "");

        // the exact divergence: reverse mode on the f64 tape, forward mode in f32
        let divergent: &dyn TimeDivergence = match precision {
            Precision::F64 => &model,
            Precision::F32 => &single,
        };
        let t0 = Instant::now();
        let ll = log_likelihood(
            divergent,
            &sde,
            &test,
            Divergence::Exact,
            &Tolerance::default(),
            0,
        )
        .expect("likelihood runs");
        emit("T11", p, "nll_s", t0.elapsed().as_secs_f64(), "s");
        emit("T11", p, "nll_evaluations", ll.stats.evaluations as f64, "");
        let nll = -ll.mean_nats();
        emit("T11", p, "nll", nll, "nats");
        emit("T11", p, "nll_true", truth_nll, "nats");
        emit("T11", p, "nll_gap", nll - truth_nll, "nats");
    }
}
