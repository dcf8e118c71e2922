//! Every training loss on one toy set, compared: an energy model per loss on 8 Gaussians (true score known),
//! each sampled, with the Fisher divergence to the true score, the MMD of its samples to held-out data, the
//! wall time, and a picture of the samples.
//!
//! Run: `cargo run --release --example train_ebm [-- OUT_DIR] [--quick]`

mod common;

use rand::SeedableRng;
use stein::autodiff::Tensor;
use stein::models::data::{eight_gaussians_density, Toy};
use stein::models::fit::{FitOptions, Settings, Trainer};
use stein::models::network::Network;
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::objective::{
    cd::Cd, dsm::Dsm, geometric_sigmas, implicit::Implicit, nce::Nce, ncsn::Ncsn, sliced::Sliced,
    Objective,
};
use stein::run::{sample_model, SamplerKind};
use stein::scores::plot::{scatter_compare, Bounds};
use stein::scores::{fisher_divergence, mmd, Sample};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (out, quick) = common::example_args("runs/train_ebm");
    std::fs::create_dir_all(&out)?;
    let steps = if quick { 100 } else { 3000 };
    let n = if quick { 200 } else { 1000 };
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let data = Toy::EightGaussians.sample(20_000, &mut rng);
    let held: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            Toy::EightGaussians
                .sample(n, &mut rand::rngs::SmallRng::seed_from_u64(1))
                .row_slice(i)
                .to_vec()
        })
        .collect();
    let truth = eight_gaussians_density();
    let test = truth.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(2), 2000);
    let sigmas = geometric_sigmas(4.0, 0.05, 10)?;
    let objectives: Vec<(&str, Box<dyn Objective>, SamplerKind)> = vec![
        ("dsm", Box::new(Dsm::new(0.1)?), SamplerKind::Ula),
        ("ncsn", Box::new(Ncsn::new(sigmas)?), SamplerKind::Annealed),
        ("ssm-vr", Box::new(Sliced::ssm_vr()), SamplerKind::Mala),
        ("ism", Box::new(Implicit::exact()), SamplerKind::Mala),
        ("nce", Box::new(Nce::new()), SamplerKind::Mala),
        ("cd", Box::new(Cd::default()), SamplerKind::Mala),
    ];
    println!(
        "{:<8} {:>10} {:>14} {:>12} {:>8}",
        "loss", "sampler", "Fisher div.", "MMD²", "time s"
    );
    let init = Tensor::from_fn(n, 2, |_, _| rand::RngExt::random_range(&mut rng, -6.0..6.0));
    for (name, objective, sampler) in objectives {
        let cond = if name == "ncsn" {
            Conditioning::InputAndScale
        } else {
            Conditioning::None
        };
        let model = Model::build(
            Kind::Energy,
            cond,
            2,
            &[128, 128],
            Activation::Silu,
            &mut rng,
        );
        let settings = Settings {
            batch: 256,
            lr: 2e-3,
            ..Settings::default()
        };
        let mut t = Trainer::new(model.into(), objective, settings);
        let report = t.fit(&data, &FitOptions::steps(steps))?;
        let averaged = t.averaged();
        let Network::Model(model) = &averaged else {
            unreachable!("an energy model stays one")
        };
        // at the smallest σ of the ladder for the noise-conditional model
        let fd = fisher_divergence(&model.as_score(None), &truth, &test)?;
        let (samples, _) = sample_model(model, sampler, &init, 3)?;
        let sv = samples.to_rows();
        let m = mmd(&sv, &held)?;
        println!(
            "{name:<8} {:>10} {fd:>14.4} {m:>12.5} {:>8.1}",
            sampler.name(),
            report.seconds
        );
        scatter_compare(
            format!("{out}/{name}.png"),
            &format!("{name}: samples (orange) over data (grey)"),
            &[("data", &held), ("samples", &sv)],
            Bounds::square(6.5),
            (480, 480),
        )?;
    }
    println!("(Fisher divergence ½E‖s_θ − ∇log p‖² on 2000 exact samples, at the smallest σ for ncsn; lower is better)");
    println!("pictures in {out}/");
    Ok(())
}
