//! A noise-conditional score network (NCSN) on two rings, sampled with annealed Langevin over its σ ladder,
//! against plain Langevin with the same network at its smallest σ.
//!
//! Run: `cargo run --release --example annealed [-- OUT_DIR] [--quick]`

mod common;

use rand::SeedableRng;
use stein::autodiff::Tensor;
use stein::models::data::Toy;
use stein::models::fit::{FitOptions, Settings, Trainer};
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::objective::{geometric_sigmas, ncsn::Ncsn};
use stein::run::{sample_model, SamplerKind};
use stein::scores::mmd;
use stein::scores::plot::{scatter_compare, Bounds};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (out, quick) = common::example_args("runs/annealed");
    std::fs::create_dir_all(&out)?;
    let (steps, n) = if quick { (100, 200) } else { (4000, 1000) };
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let data = Toy::Rings.sample(20_000, &mut rng);
    let held_t = Toy::Rings.sample(n, &mut rand::rngs::SmallRng::seed_from_u64(1));
    let held = held_t.to_rows();
    let sigmas = geometric_sigmas(3.0, 0.03, 10)?;
    let model = Model::build(
        Kind::Score,
        Conditioning::InputAndScale,
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
    let mut t = Trainer::new(model.into(), Box::new(Ncsn::new(sigmas)?), settings);
    let r = t.fit(&data, &FitOptions::steps(steps))?;
    println!(
        "trained {} steps in {:.1} s, final loss {:.4}",
        r.steps,
        r.seconds,
        r.final_loss(10).unwrap_or(f64::NAN)
    );
    let averaged = t.averaged(); // the model a run stands for (Settings::ema)
    let model = averaged.model("annealed Langevin")?;
    let init = Tensor::from_fn(n, 2, |_, _| rand::RngExt::random_range(&mut rng, -5.0..5.0));
    for (name, sampler) in [
        ("annealed", SamplerKind::Annealed),
        ("ula", SamplerKind::Ula),
    ] {
        let (s, _) = sample_model(model, sampler, &init, 4)?;
        let sv = s.to_rows();
        println!("{name:<9} MMD² to held-out data {:.5}", mmd(&sv, &held)?);
        scatter_compare(
            format!("{out}/{name}.png"),
            &format!("{name} Langevin: samples (orange) over data (grey)"),
            &[("data", &held), ("samples", &sv)],
            Bounds::square(5.0),
            (480, 480),
        )?;
    }
    println!("pictures in {out}/");
    Ok(())
}
