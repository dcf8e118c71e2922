//! Every training loss on one toy set, compared: an energy model per loss on 8 Gaussians (true score known),
//! each sampled, with the Fisher divergence to the true score, the MMD of its samples to held-out data, the
//! wall time, and a picture of the samples.
//!
//! Run: `cargo run --release --example train_ebm [-- OUT_DIR] [--quick]`

mod common;

use rand::SeedableRng;
use stein::autodiff::Tensor;
use stein::models::data::{eight_gaussians_density, Toy};
use stein::models::loss::{geometric_sigmas, Loss, Projection};
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::train::{TrainConfig, Trainer};
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
    let losses = [
        ("dsm", Loss::Dsm { sigma: 0.1 }, SamplerKind::Ula),
        (
            "ncsn",
            Loss::Ncsn {
                sigmas: sigmas.clone(),
            },
            SamplerKind::Annealed,
        ),
        (
            "ssm-vr",
            Loss::Ssm {
                projections: 1,
                variance_reduced: true,
                projection: Projection::Gaussian,
            },
            SamplerKind::Mala,
        ),
        ("ism", Loss::Ism, SamplerKind::Mala),
        ("nce", Loss::Nce, SamplerKind::Mala),
        (
            "cd",
            Loss::Cd {
                steps: 20,
                step_size: 1e-3,
                alpha: 0.1,
            },
            SamplerKind::Mala,
        ),
    ];
    println!(
        "{:<8} {:>10} {:>14} {:>12} {:>8}",
        "loss", "sampler", "Fisher div.", "MMD²", "time s"
    );
    let init = Tensor::from_fn(n, 2, |_, _| rand::RngExt::random_range(&mut rng, -6.0..6.0));
    for (name, loss, sampler) in losses {
        let cond = if matches!(loss, Loss::Ncsn { .. }) {
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
        let mut t = Trainer::new(model);
        let mut cfg = TrainConfig::new(loss, steps);
        cfg.batch = 256;
        cfg.lr = 2e-3;
        let report = t.fit(&data, &cfg)?;
        // at the smallest σ of the ladder for the noise-conditional model
        let fd = fisher_divergence(&t.model.as_score(None), &truth, &test)?;
        let (samples, _) = sample_model(&t.model, sampler, &init, 3)?;
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
