//! The command line is a skin over the library's recipes: a recipe run from the library gives the bits of
//! the same run from `stein train`, and every flag that shapes the network or the run shows in its model file.

mod common;

use common::{stein_in, tmp_dir};
use stein::models::data::Toy;
use stein::models::fit::FitOptions;
use stein::models::io::ModelFile;
use stein::models::network::Network;
use stein::models::nn::{Activation, Precision};
use stein::models::recipe::{Recipe, SdeKind};

fn train(dir: &std::path::Path, args: &[&str]) -> ModelFile {
    let mut a = vec!["train", "--samples", "20", "--quiet", "--out", "run"];
    a.extend(args);
    let o = stein_in(dir, &a);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    ModelFile::load(dir.join("run/model.json")).unwrap()
}

/// The command line draws its 20,000 training points of a built-in set from the run's seed.
fn toy(seed: u64) -> stein::autodiff::Tensor {
    use rand::SeedableRng;
    Toy::TwoMoons.sample(20_000, &mut rand::rngs::SmallRng::seed_from_u64(seed))
}

#[test]
fn a_recipe_from_the_library_equals_the_command_line_bit_for_bit() {
    for (recipe, args) in [
        (Recipe::ebm().steps(60), vec!["--steps", "60"]),
        (
            Recipe::ebm().precision(Precision::F32).steps(40),
            vec!["--precision", "f32", "--steps", "40"],
        ),
        (
            Recipe::diffusion(SdeKind::Vp).steps(60),
            vec!["--model", "diffusion", "--steps", "60"],
        ),
        (
            Recipe::flow().objective("flow-matching-ot").steps(30),
            vec!["--model", "flow", "--coupling", "ot", "--steps", "30"],
        ),
        (
            Recipe::score()
                .objective("ssm-vr")
                .hidden(&[32, 16])
                .activation(Activation::Tanh)
                .steps(40),
            vec![
                "--model",
                "score",
                "--loss",
                "ssm-vr",
                "--hidden",
                "32,16",
                "--activation",
                "tanh",
                "--steps",
                "40",
            ],
        ),
    ] {
        let d = tmp_dir("recipes", "bits");
        let cli = train(&d, &args);
        let data = toy(0);
        let mut t = recipe.build(&data, 0).unwrap();
        t.fit(&data, &FitOptions::steps(recipe.steps)).unwrap();
        // model.json holds the model the run stands for (the parameters' moving average in the recipes)
        assert_eq!(t.averaged(), cli.network, "{args:?}");
    }
}

#[test]
fn every_flag_that_shapes_the_run_shows_in_its_model_file() {
    let d = tmp_dir("recipes", "flags");
    let base = train(&d, &["--steps", "20"]);
    let widths = |f: &ModelFile| match &f.network {
        Network::Model(m) => (m.net.widths.clone(), m.net.activation),
        Network::Diffusion(m) => (m.net.widths.clone(), m.net.activation),
    };
    assert_eq!(
        widths(&base),
        (vec![3, 96, 96, 96, 96, 1], Activation::Silu)
    );
    assert_eq!(base.objective.as_ref().unwrap().name, "ncsn");
    let d = tmp_dir("recipes", "hidden");
    let f = train(
        &d,
        &[
            "--steps",
            "20",
            "--hidden",
            "64,32,16",
            "--activation",
            "softplus",
        ],
    );
    assert_eq!(widths(&f), (vec![3, 64, 32, 16, 1], Activation::Softplus));
    let d = tmp_dir("recipes", "loss");
    let f = train(&d, &["--steps", "20", "--loss", "cd", "--batch", "32"]);
    assert_eq!(f.objective.as_ref().unwrap().name, "cd");
    let d = tmp_dir("recipes", "diffusion");
    let f = train(
        &d,
        &[
            "--model",
            "diffusion",
            "--steps",
            "20",
            "--hidden",
            "48",
            "--activation",
            "elu",
            "--sde",
            "ve",
        ],
    );
    assert_eq!(widths(&f), (vec![34, 48, 2], Activation::Elu));
    assert!(
        matches!(&f.network, Network::Diffusion(m) if matches!(m.sde, stein::models::diffusion::Sde::Ve { .. }))
    );
    // a moving average: kept in the checkpoint's settings and state, and the model file holds it
    let d = tmp_dir("recipes", "ema");
    let f = train(&d, &["--steps", "20", "--ema", "0.9"]);
    let ck = ModelFile::load(d.join("run/checkpoint.json")).unwrap();
    let state = ck.training.as_ref().unwrap();
    assert_eq!(state.settings.ema, Some(0.9));
    let average = state
        .average
        .as_ref()
        .expect("the average in the checkpoint");
    assert_eq!(
        f.network.params(),
        &average[..],
        "model.json holds the average"
    );
    assert_ne!(
        ck.network.params(),
        &average[..],
        "the checkpoint holds the raw network"
    );
    // a budget of time fixes a total of steps and says so
    let d = tmp_dir("recipes", "time");
    let o = stein_in(
        &d,
        &[
            "train",
            "--time",
            "2s",
            "--samples",
            "20",
            "--quiet",
            "--out",
            "run",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ck = ModelFile::load(d.join("run/checkpoint.json")).unwrap();
    let tr = ck.training.unwrap();
    assert!(
        tr.step > 20 && tr.target_steps == Some(tr.step),
        "{:?}",
        tr.target_steps
    );
    // flags that do not fit are one-line errors naming them
    for (args, needle) in [
        (vec!["--hidden", "0"], "0 is out of range"),
        (
            vec!["--loss", "nce", "--model", "score"],
            "trains energy models, not score models",
        ),
        (
            vec!["--loss", "dsm", "--model", "diffusion"],
            "trains score and energy models, not diffusion models",
        ),
        (vec!["--time", "0s"], "out of range"),
        (vec!["--time", "5 parsecs"], "unit"),
        (vec!["--steps", "10", "--time", "5s"], "cannot be used with"),
        (vec!["--ema", "1"], "strictly between 0 and 1"),
    ] {
        let d = tmp_dir("recipes", "bad");
        let mut a = vec!["train", "--quiet", "--out", "run"];
        a.extend(&args);
        let o = stein_in(&d, &a);
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(!d.join("run").exists(), "{args:?} made a folder");
    }
}
