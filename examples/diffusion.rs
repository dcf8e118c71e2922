//! Score-based generative modelling through SDEs on an eight-Gaussian ring, where the truth is known at
//! every t: for VE, VP and sub-VP, a time-conditional network is trained by denoising score matching, its
//! per-t Fisher divergence to the exact perturbed score is measured, and it is sampled by every reverse
//! sampler (Euler–Maruyama, predictor–corrector, the probability-flow ODE, DDIM, EDM's Heun); its
//! log-likelihood through the ODE is compared with the true one. Pictures: samples, the per-t Fisher divergence
//! before and after training, the learned score field at several t, and animated GIFs of particles flowing from
//! noise to data. Last, the VP model trained and sampled with its network in f32.
//!
//! Run: `cargo run --release --example diffusion [-- OUT_DIR] [--quick]`

mod common;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::diffusion::likelihood::{log_likelihood, Divergence};
use stein::models::diffusion::net::{Output, TimeModel};
use stein::models::diffusion::ode::Tolerance;
use stein::models::diffusion::reverse::{self, Method, Start};
use stein::models::diffusion::single::TimeModel32;
use stein::models::diffusion::{PerturbedMixture, Sde, TimeScore};
use stein::models::fit::{FitOptions, Trainer};
use stein::models::network::Network;
use stein::models::nn::Precision;
use stein::models::objective::diffusion::{fisher_divergence_at, DiffusionDsm, Weighting};
use stein::models::recipe::Recipe;
use stein::scores::plot::{
    animate_points, line_chart, scatter_compare, score_field_fn, Bounds, FieldOptions,
};
use stein::scores::{
    mmd, Analytic, GaussianMixture, LogDensity, MultivariateNormal, Sample, Score,
};

/// Eight Gaussians of σ = 0.2 on the circle of radius 2.
fn ring() -> GaussianMixture {
    let comps = (0..8)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / 8.0;
            MultivariateNormal::isotropic(vec![2.0 * a.cos(), 2.0 * a.sin()], 0.2).expect("valid")
        })
        .collect();
    GaussianMixture::new(vec![0.125; 8], comps).expect("valid")
}

/// A time score read at one t as a 2-D `Score` (for score-field pictures).
struct AtTime<'a>(&'a TimeModel, f64);
impl Score for AtTime<'_> {
    fn score_dim(&self) -> usize {
        2
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        let mut s = Tensor::zeros(0, 0);
        self.0.score_at(&Tensor::row(x), self.1, &mut s);
        out.copy_from_slice(s.data());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (out, quick) = common::example_args("runs/diffusion");
    std::fs::create_dir_all(&out)?;
    let (steps, n, n_ll) = if quick {
        (200, 300, 20)
    } else {
        (4000, 2000, 200)
    };
    let data_law = ring();
    let train = data_law.sample_n(&mut SmallRng::seed_from_u64(1), 4000);
    let data = Tensor::new(train.len(), 2, train.concat())?;
    let held = data_law.sample_n(&mut SmallRng::seed_from_u64(2), n);
    let test_points = data_law.sample_n(&mut SmallRng::seed_from_u64(3), n_ll);
    let true_nll = -test_points
        .iter()
        .map(|x| data_law.log_pdf(x).expect("normalised"))
        .sum::<f64>()
        / n_ll as f64;
    println!("eight Gaussians on a ring; true NLL of {n_ll} test points: {true_nll:.4} nats\n");
    println!(
        "{:<7} {:<10} {:>8}  {:<28} {:>9} {:>9}",
        "SDE", "output", "train s", "Fisher at t = 0.1/0.3/0.5", "sampler", "MMD²"
    );
    let frame = Bounds::square(3.2);
    for (name, sde, output) in [
        ("VE", Sde::ve(0.01, 20.0)?, Output::Denoised),
        ("VP", Sde::vp(0.1, 20.0)?, Output::Noise),
        ("sub-VP", Sde::sub_vp(0.1, 20.0)?, Output::Noise),
    ] {
        let truth = PerturbedMixture::new(data_law.clone(), sde);
        let model =
            TimeModel::new(2, &[128, 128], output, sde, &mut SmallRng::seed_from_u64(4)).unwrap();
        // the per-t Fisher divergence to the exact perturbed score, before and after training
        let fisher_curve = |m: &TimeModel| -> Vec<(f64, f64)> {
            (0..20)
                .map(|k| {
                    let t = 0.02 * 50f64.powf(k as f64 / 19.0);
                    let x = truth
                        .at(t)
                        .expect("valid")
                        .sample_n(&mut SmallRng::seed_from_u64(8), 500);
                    let x = Tensor::new(500, 2, x.concat()).expect("n × 2");
                    (t, fisher_divergence_at(m, &truth, &x, t))
                })
                .collect()
        };
        let initial = fisher_curve(&model);
        let t0 = Instant::now();
        let model = train_recipe(model, &data, steps, Precision::F64)?;
        let train_s = t0.elapsed().as_secs_f64();
        line_chart(
            format!("{out}/{}_fisher.png", name.to_lowercase()),
            &format!("{name}: Fisher divergence to the exact score of p_t"),
            ("t", "E‖s_θ − s*‖²"),
            &[("initial", &initial), ("trained", &fisher_curve(&model))],
            (720, 400),
        )?;
        let fisher: Vec<String> = [0.1, 0.3, 0.5]
            .iter()
            .map(|&t| {
                let x = truth
                    .at(t)
                    .expect("valid")
                    .sample_n(&mut SmallRng::seed_from_u64(5), 1000);
                format!(
                    "{:.3}",
                    fisher_divergence_at(
                        &model,
                        &truth,
                        &Tensor::new(1000, 2, x.concat()).expect("n × 2"),
                        t
                    )
                )
            })
            .collect();
        let methods = [
            ("SDE", Method::EulerMaruyama { steps: 1000 }),
            (
                "PC",
                Method::PredictorCorrector {
                    steps: 500,
                    corrector_steps: 1,
                    snr: 0.16,
                },
            ),
            ("ODE", Method::ProbabilityFlowAdaptive(Tolerance::default())),
            (
                "DDIM",
                Method::Ddim {
                    steps: 100,
                    eta: 0.0,
                },
            ),
            ("EDM", Method::EdmHeun { steps: 40 }),
        ];
        for (k, (label, method)) in methods.iter().enumerate() {
            let x = reverse::sample(&model, &sde, method, n, 6)?;
            let m = mmd(&x.to_rows(), &held)?;
            let head = if k == 0 {
                format!(
                    "{name:<7} {:<10} {train_s:>8.1}  {:<28}",
                    format!("{output:?}"),
                    fisher.join(" / ")
                )
            } else {
                format!("{:<56}", "")
            };
            println!("{head} {label:>9} {m:>9.5}");
            if k == 0 {
                scatter_compare(
                    format!("{out}/{}_samples.png", name.to_lowercase()),
                    &format!("{name}: reverse-SDE samples (orange) over data (grey)"),
                    &[("data", &held), ("samples", &x.to_rows())],
                    frame,
                    (560, 560),
                )?;
            }
        }
        let ll = log_likelihood(
            &model,
            &sde,
            &Tensor::new(n_ll, 2, test_points.concat())?,
            Divergence::Exact,
            &Tolerance::default(),
            0,
        )?;
        println!(
            "{:<56} {:>9} {:>9.4}  (true {true_nll:.4}; gap {:+.4} nats)\n",
            "",
            "NLL",
            -ll.mean_nats(),
            -ll.mean_nats() - true_nll
        );
        if name == "VP" {
            for t in [0.05, 0.3, 0.7] {
                let p = truth.at(t)?;
                let opts = FieldOptions {
                    title: format!("VP: learned score at t = {t} over the true log p_t"),
                    ..Default::default()
                };
                score_field_fn(
                    format!("{out}/vp_score_t{t}.png"),
                    &|x: &[f64]| p.log_prob(x),
                    &AtTime(&model, t),
                    frame,
                    &opts,
                )?;
            }
            // particles from noise to data: 40 frames of the reverse SDE, then of the probability-flow ODE
            for (label, method) in [
                ("sde", Method::EulerMaruyama { steps: 400 }),
                (
                    "ode",
                    Method::ProbabilityFlow {
                        steps: 400,
                        solver: stein::models::diffusion::ode::Fixed::Heun,
                    },
                ),
            ] {
                let mut frames: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
                reverse::sample_with(
                    &model,
                    &sde,
                    &method,
                    Start::Prior(600),
                    7,
                    &mut |k, t, x| {
                        if k % 10 == 0 {
                            frames.push((format!("VP, reverse {label}: t = {t:.2}"), x.to_rows()));
                        }
                    },
                )?;
                let p0 = data_law.clone();
                animate_points(
                    format!("{out}/vp_{label}.gif"),
                    &|x: &[f64]| p0.log_prob(x),
                    None,
                    &frames,
                    frame,
                    &FieldOptions {
                        cells: 80,
                        size: (560, 500),
                        ..Default::default()
                    },
                    80,
                )?;
            }
        }
    }
    // the VP model again with its passes in f32 (parameters and Adam stay f64): the same figures, faster
    let sde = Sde::vp(0.1, 20.0)?;
    let truth = PerturbedMixture::new(data_law.clone(), sde);
    let model = TimeModel::new(
        2,
        &[128, 128],
        Output::Noise,
        sde,
        &mut SmallRng::seed_from_u64(4),
    )
    .unwrap();
    let t0 = Instant::now();
    let model = train_recipe(model, &data, steps, Precision::F32)?;
    let train_s = t0.elapsed().as_secs_f64();
    let single = TimeModel32::new(&model);
    let x = truth
        .at(0.3)?
        .sample_n(&mut SmallRng::seed_from_u64(5), 1000);
    let fisher = fisher_divergence_at(&single, &truth, &Tensor::new(1000, 2, x.concat())?, 0.3);
    let t0 = Instant::now();
    let x = reverse::sample(&single, &sde, &Method::EulerMaruyama { steps: 1000 }, n, 6)?;
    let sample_s = t0.elapsed().as_secs_f64();
    println!(
        "VP in f32: trained in {train_s:.1} s, Fisher at t = 0.3 {fisher:.3}, {n} reverse-SDE samples in {sample_s:.2} s, MMD² {:.5}\n",
        mmd(&x.to_rows(), &held)?
    );
    println!(
        "pictures in {out}/: ve|vp|sub-vp_samples.png, ve|vp|sub-vp_fisher.png, vp_score_t*.png, vp_sde.gif, vp_ode.gif"
    );
    Ok(())
}

/// Train `model` on `data` with the diffusion recipe's settings (Adam 4·10⁻³ cosine to 5%, batch 512, clip 1)
/// and λ = σ².
fn train_recipe(
    model: TimeModel,
    data: &Tensor,
    steps: usize,
    precision: Precision,
) -> Result<TimeModel, Box<dyn std::error::Error>> {
    let recipe = Recipe::diffusion(stein::models::recipe::SdeKind::Vp).precision(precision);
    let objective = Box::new(DiffusionDsm::new(Weighting::Simple));
    let mut t = Trainer::new(model.into(), objective, recipe.settings(steps, 0));
    t.fit(data, &FitOptions::steps(steps))?;
    match t.averaged() {
        Network::Diffusion(m) => Ok(m),
        Network::Model(_) => unreachable!("a diffusion model stays one"),
    }
}
