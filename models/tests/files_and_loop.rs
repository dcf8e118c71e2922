//! Model files, CSV loading and the training loop's guarantees.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::data::{load_csv, Toy};
use stein_models::io::ModelFile;
use stein_models::loss::Loss;
use stein_models::nn::{Activation, Conditioning, Kind, Model};
use stein_models::train::{TrainConfig, Trainer};
use stein_models::ModelError;

/// A new temporary folder, removed with its files when dropped.
fn dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("stein-models-{name}-"))
        .tempdir()
        .unwrap()
}

fn model() -> Model {
    Model::energy(
        2,
        &[16, 16],
        Activation::Softplus,
        &mut SmallRng::seed_from_u64(1),
    )
}

#[test]
fn save_then_load_is_bit_identical() {
    let scratch = dir("roundtrip");
    let d = scratch.path();
    let mut f = ModelFile::new(model());
    f.extra.push((
        "log_z".into(),
        Tensor::full(1, 1, std::f64::consts::PI / 7.0),
    ));
    let p = d.join("m.json");
    f.save(&p).unwrap();
    let g = ModelFile::load(&p).unwrap();
    for (a, b) in f.model.net.params.iter().zip(&g.model.net.params) {
        assert!(a
            .data()
            .iter()
            .zip(b.data())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    assert_eq!(f, g);
    // no temporary file is left behind
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

#[test]
fn bad_files_are_errors_not_panics() {
    let scratch = dir("bad");
    let d = scratch.path();
    let p = d.join("m.json");
    ModelFile::new(model()).save(&p).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let expect_err = |content: &str, needle: &str| {
        let q = d.join("broken.json");
        std::fs::write(&q, content).unwrap();
        let e = ModelFile::load(&q).unwrap_err();
        assert!(matches!(e, ModelError::BadModelFile { .. }), "{e}");
        assert!(
            e.to_string().contains(needle),
            "`{e}` should mention `{needle}`"
        );
        assert!(e.to_string().contains("broken.json"));
    };
    expect_err(&text[..text.len() / 2], "not JSON"); // truncated
    expect_err("garbage", "not JSON");
    expect_err("{}", "format");
    expect_err(
        &text.replace("\"version\":2", "\"version\":99"),
        "version 99",
    );
    // a weight of the wrong shape
    let mut f = ModelFile::new(model());
    f.model.net.params[2] = Tensor::zeros(3, 3);
    expect_err(&serde_json::to_string(&f).unwrap(), "layer 1");
    let e = ModelFile::load(d.join("missing.json")).unwrap_err();
    assert!(matches!(e, ModelError::Io { .. }), "{e}");
    // non-finite parameters are refused at save time
    let mut f = ModelFile::new(model());
    f.model.net.params[0].data_mut()[0] = f64::NAN;
    assert!(f.save(d.join("nan.json")).is_err());
}

#[test]
fn safetensors_export_has_pytorch_names_and_layout() {
    let scratch = dir("st");
    let d = scratch.path();
    let f = ModelFile::new(model());
    let p = d.join("m.safetensors");
    f.export_safetensors(&p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("2.weight").unwrap(); // second Linear of nn.Sequential(Linear, act, Linear, act, Linear)
    assert_eq!(w.shape(), &[16, 16]);
    assert_eq!(st.tensor("0.weight").unwrap().shape(), &[16, 2]); // out × in
    assert_eq!(st.tensor("4.bias").unwrap().shape(), &[1]);
    let v = f64::from_le_bytes(
        st.tensor("0.weight").unwrap().data()[8..16]
            .try_into()
            .unwrap(),
    );
    // PyTorch's weight[0][1] is our W[1][0]
    assert_eq!(v, f.model.net.params[0].get(1, 0));
}

#[test]
fn divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let scratch = dir("nan");
    let d = scratch.path();
    let mut rng = SmallRng::seed_from_u64(2);
    let data = Toy::TwoMoons.sample(500, &mut rng);
    let mut t = Trainer::new(Model::score_net(2, &[16], Activation::Tanh, &mut rng));
    let mut cfg = TrainConfig::new(Loss::Dsm { sigma: 0.1 }, 30);
    cfg.out = Some(d.to_path_buf());
    cfg.checkpoint_every = 10;
    t.fit(&data, &cfg).unwrap();
    let good = std::fs::read(d.join("checkpoint.json")).unwrap();
    // poison the data: the next step's loss is NaN
    let mut bad = data.clone();
    bad.data_mut().iter_mut().for_each(|v| *v = f64::NAN);
    cfg.steps = 60;
    let e = t.fit(&bad, &cfg).unwrap_err();
    match &e {
        ModelError::Diverged {
            step,
            loss,
            checkpoint,
            ..
        } => {
            assert_eq!(*step, 30);
            assert!(loss.is_nan());
            assert!(checkpoint.as_deref().unwrap().ends_with("checkpoint.json"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("step 30") && e.to_string().contains("last good checkpoint"));
    assert_eq!(
        std::fs::read(d.join("checkpoint.json")).unwrap(),
        good,
        "the good checkpoint was touched"
    );
}

#[test]
fn resume_continues_exactly() {
    let mut rng = SmallRng::seed_from_u64(4);
    let data = Toy::EightGaussians.sample(1000, &mut rng);
    let start = Model::score_net(2, &[16, 16], Activation::Silu, &mut rng);
    let loss = Loss::Ssm {
        projections: 1,
        variance_reduced: true,
        projection: stein_models::loss::Projection::Rademacher,
    };
    // straight through
    let mut a = Trainer::new(start.clone());
    a.fit(&data, &TrainConfig::new(loss.clone(), 40)).unwrap();
    // 25 steps, checkpoint, resume, 15 more
    let scratch = dir("resume");
    let d = scratch.path();
    let mut b = Trainer::new(start);
    let mut cfg = TrainConfig::new(loss, 25);
    cfg.out = Some(d.to_path_buf());
    b.fit(&data, &cfg).unwrap();
    let (mut c, saved) = Trainer::resume(d.join("checkpoint.json")).unwrap();
    assert_eq!(c.step, 25);
    assert_eq!(saved.unwrap().settings(), cfg.settings());
    cfg.steps = 40;
    c.fit(&data, &cfg).unwrap();
    assert_eq!(
        a.model, c.model,
        "resumed run differs from the uninterrupted one"
    );
    let lines = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 40);
}

#[test]
fn csv_errors_name_the_line_and_column() {
    let scratch = dir("csv");
    let d = scratch.path();
    let p = d.join("pts.csv");
    std::fs::write(&p, "x,y\n1.0, 2.0\n3.5,4\n").unwrap();
    let t = load_csv(&p).unwrap();
    assert_eq!((t.shape(), t.get(1, 0)), ((2, 2), 3.5));
    std::fs::write(&p, "1,2\n3,oops\n").unwrap();
    let e = load_csv(&p).unwrap_err().to_string();
    assert!(
        e.contains("line 2, column 2") && e.contains("`oops`"),
        "{e}"
    );
    std::fs::write(&p, "1,2\n3,4,5\n").unwrap();
    let e = load_csv(&p).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("3 values"), "{e}");
    std::fs::write(&p, "1,2\nNaN,4\n").unwrap();
    assert!(load_csv(&p).unwrap_err().to_string().contains("not finite"));
    assert!(load_csv(d.join("none.csv")).is_err());
}

#[test]
fn every_toy_set_is_seeded_and_finite() {
    for toy in Toy::ALL {
        let a = toy.sample(300, &mut SmallRng::seed_from_u64(5));
        let b = toy.sample(300, &mut SmallRng::seed_from_u64(5));
        assert_eq!(a, b, "{}", toy.name());
        assert!(
            a.data().iter().all(|v| v.is_finite() && v.abs() < 10.0),
            "{}",
            toy.name()
        );
        assert_eq!(Toy::parse(toy.name()).unwrap(), toy);
    }
    assert!(Toy::parse("moons").is_ok());
    let e = Toy::parse("nope").unwrap_err().to_string();
    assert!(
        e.contains("unknown dataset `nope`") && e.contains("two-moons"),
        "{e}"
    );
}

#[test]
fn wrong_loss_for_the_model_is_an_error() {
    let mut rng = SmallRng::seed_from_u64(6);
    let data = Toy::TwoMoons.sample(100, &mut rng);
    let mut t = Trainer::new(Model::score_net(2, &[8], Activation::Tanh, &mut rng));
    let e = t.fit(&data, &TrainConfig::new(Loss::Nce, 5)).unwrap_err();
    assert!(e.to_string().contains("nce needs an energy model"), "{e}");
    let e = t
        .fit(&Tensor::zeros(10, 3), &TrainConfig::new(Loss::Ism, 5))
        .unwrap_err();
    assert!(e.to_string().contains("dimension 3"), "{e}");
}

#[test]
fn nce_and_cd_train_without_diverging() {
    let mut rng = SmallRng::seed_from_u64(7);
    let data = Toy::EightGaussians.sample(2000, &mut rng);
    for loss in [
        Loss::Nce,
        Loss::Cd {
            steps: 10,
            step_size: 0.01,
            alpha: 0.1,
        },
    ] {
        let mut t = Trainer::new(Model::energy(2, &[32, 32], Activation::Silu, &mut rng));
        let r = t.fit(&data, &TrainConfig::new(loss.clone(), 200)).unwrap();
        assert!(r.final_loss(5).is_finite(), "{}", loss.name());
    }
}

/// A saved file as JSON, edited by `edit`, loaded back: the error text.
fn load_edited(name: &str, f: &ModelFile, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let scratch = dir(name);
    let d = scratch.path();
    let mut v = serde_json::to_value(f).unwrap();
    edit(&mut v);
    let p = d.join("m.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    match ModelFile::load(&p) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

fn conditioned() -> ModelFile {
    let mut m = Model::build(
        Kind::Energy,
        Conditioning::InputAndScale,
        2,
        &[8],
        Activation::Silu,
        &mut SmallRng::seed_from_u64(3),
    );
    m.sigmas = vec![1.0, 0.5, 0.1];
    ModelFile::new(m)
}

#[test]
fn every_field_a_sampler_or_the_loop_relies_on_is_validated() {
    let f = conditioned();
    assert_eq!(load_edited("ok", &f, |_| {}), "loaded");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "tensor with 3 values",
            Box::new(|v| {
                v["model"]["net"]["params"][1]["data"] = serde_json::json!([1.0, 2.0, 3.0])
            }),
        ),
        (
            "σ ladder of 0 levels",
            Box::new(|v| v["model"]["sigmas"] = serde_json::json!([])),
        ),
        (
            "σ = 0",
            Box::new(|v| v["model"]["sigmas"][1] = serde_json::json!(0.0)),
        ),
        (
            "σ = -1",
            Box::new(|v| v["model"]["sigmas"][1] = serde_json::json!(-1.0)),
        ),
        (
            "does not fit the first layer",
            Box::new(|v| v["model"]["dim"] = serde_json::json!(3)),
        ),
        (
            "output width",
            Box::new(|v| v["model"]["kind"] = serde_json::json!("Score")),
        ),
        (
            "standardisation of 1 shifts",
            Box::new(|v| {
                v["model"]["standardization"] =
                    serde_json::json!({"mean": [0.0], "scale": [1.0, 1.0]})
            }),
        ),
        (
            "scales must be positive",
            Box::new(|v| {
                v["model"]["standardization"] =
                    serde_json::json!({"mean": [0.0, 0.0], "scale": [1.0, 0.0]})
            }),
        ),
        (
            "layer width 0",
            Box::new(|v| v["model"]["net"]["widths"][1] = serde_json::json!(0)),
        ),
    ];
    for (needle, edit) in cases {
        let e = load_edited("bad", &f, edit);
        assert!(e.contains(needle), "expected `{needle}`: {e}");
    }
    // a ladder on a model that does not take σ
    let mut plain = ModelFile::new(model());
    plain.model.sigmas = vec![1.0];
    assert!(load_edited("plain", &plain, |_| {}).contains("not noise-conditional"));
}

#[test]
fn checkpoints_are_validated_against_their_model() {
    let scratch = dir("ckpt-validate");
    let d = scratch.path();
    let mut rng = SmallRng::seed_from_u64(8);
    let data = Toy::TwoMoons.sample(200, &mut rng);
    let mut t = Trainer::new(Model::energy(2, &[8], Activation::Silu, &mut rng));
    let mut cfg = TrainConfig::new(
        Loss::Cd {
            steps: 2,
            step_size: 0.01,
            alpha: 0.1,
        },
        5,
    );
    cfg.out = Some(d.to_path_buf());
    t.fit(&data, &cfg).unwrap();
    let f = ModelFile::load(d.join("checkpoint.json")).unwrap();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "Adam moments of tensor 0",
            Box::new(|v| {
                v["training"]["optimizer"]["m"][0] =
                    serde_json::json!({"rows": 1, "cols": 1, "data": [0.0]})
            }),
        ),
        (
            "Adam state for 1 tensors",
            Box::new(|v| {
                let m = v["training"]["optimizer"]["m"][0].clone();
                v["training"]["optimizer"]["m"] = serde_json::json!([m.clone()]);
                v["training"]["optimizer"]["v"] = serde_json::json!([m]);
            }),
        ),
        (
            "β₁",
            Box::new(|v| v["training"]["optimizer"]["beta1"] = serde_json::json!(1.5)),
        ),
        (
            "step 1099511627777 is out of range",
            Box::new(|v| v["training"]["step"] = serde_json::json!(1099511627777u64)),
        ),
        (
            "persistent negatives of shape",
            Box::new(|v| {
                v["training"]["buffer"] =
                    serde_json::json!({"rows": 2, "cols": 3, "data": [0, 0, 0, 0, 0, 0]})
            }),
        ),
        (
            "Langevin steps",
            Box::new(|v| v["training"]["settings"]["loss"]["Cd"]["steps"] = serde_json::json!(0)),
        ),
        (
            "batch 0",
            Box::new(|v| v["training"]["settings"]["batch"] = serde_json::json!(0)),
        ),
        (
            "nce needs an energy model",
            Box::new(|v| {
                v["training"]["settings"]["loss"] = serde_json::json!("Nce");
                v["model"]["kind"] = serde_json::json!("Score");
                v["model"]["net"]["widths"][2] = serde_json::json!(2);
                v["model"]["net"]["params"][2] =
                    serde_json::json!({"rows": 8, "cols": 2, "data": vec![0.0; 16]});
                v["model"]["net"]["params"][3] =
                    serde_json::json!({"rows": 1, "cols": 2, "data": [0.0, 0.0]});
                v["training"]["optimizer"]["m"] = serde_json::json!([]);
                v["training"]["optimizer"]["v"] = serde_json::json!([]);
            }),
        ),
    ];
    for (needle, edit) in cases {
        let e = load_edited("ckpt", &f, edit);
        assert!(e.contains(needle), "expected `{needle}`: {e}");
    }
}

#[test]
fn version_1_files_migrate_or_name_their_version() {
    let scratch = dir("v1");
    let d = scratch.path();
    let f = conditioned();
    let mut v = serde_json::to_value(&f).unwrap();
    let sigmas = v["model"]["sigmas"].take();
    v["model"].as_object_mut().unwrap().remove("sigmas");
    v["model"]
        .as_object_mut()
        .unwrap()
        .remove("standardization");
    v.as_object_mut().unwrap().remove("data");
    v["version"] = serde_json::json!(1);
    v["meta"] = serde_json::json!({"data": "two-moons", "loss": "ncsn", "sigmas": sigmas});
    let p = d.join("v1.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let g = ModelFile::load(&p).unwrap();
    assert_eq!(g.model.sigmas, vec![1.0, 0.5, 0.1]);
    assert_eq!((g.version, g.data.as_str()), (2, "two-moons"));
    assert_eq!(g.model.net, f.model.net);
    // without its ladder a noise-conditional version 1 file cannot be used: an error, not a fallback
    v["meta"].as_object_mut().unwrap().remove("sigmas");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = ModelFile::load(&p).unwrap_err().to_string();
    assert!(e.contains("version 1") && e.contains("σ ladder"), "{e}");
}

#[test]
fn the_loop_refuses_a_loss_that_cannot_continue_the_model() {
    let mut rng = SmallRng::seed_from_u64(9);
    let data = Toy::TwoMoons.sample(100, &mut rng);
    let mut t = Trainer::new(model());
    t.fit(&data, &TrainConfig::new(Loss::Ism, 3)).unwrap();
    let e = t
        .fit(&data, &TrainConfig::new(Loss::Dsm { sigma: 0.1 }, 6))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("trained with ism so far; dsm cannot continue it"),
        "{e}"
    );
    // a noise-conditional model needs σ: only the denoising losses give it
    let mut c = Trainer::new(conditioned().model);
    let e = c.fit(&data, &TrainConfig::new(Loss::Ism, 3)).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot train a noise-conditional model"),
        "{e}"
    );
    // a configuration out of range names the field
    let mut cfg = TrainConfig::new(Loss::Ism, 3);
    cfg.lr = f64::NAN;
    assert!(t
        .fit(&data, &cfg)
        .unwrap_err()
        .to_string()
        .contains("learning rate NaN"));
}

#[test]
fn a_failed_save_leaves_the_old_file_and_no_temporary_file() {
    let scratch = dir("failed-save");
    let d = scratch.path();
    let p = d.join("m.json");
    ModelFile::new(model()).save(&p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let mut bad = ModelFile::new(model());
    bad.model.net.params[0].data_mut()[0] = f64::INFINITY;
    assert!(bad.save(&p).is_err());
    // a target whose folder is gone fails cleanly too
    assert!(ModelFile::new(model()).save(d.join("gone/m.json")).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

#[test]
fn standardised_training_sees_the_same_numbers_wherever_the_data_sit() {
    use stein_models::data::Standardization;
    let mut rng = SmallRng::seed_from_u64(10);
    let data = Toy::TwoMoons.sample(500, &mut rng);
    let mut shifted = data.clone();
    for r in shifted.data_mut().chunks_mut(2) {
        r[0] = r[0] * 30.0 + 100.0;
        r[1] -= 50.0;
    }
    let run = |x: &Tensor| {
        let mut m = model();
        m.standardization = Some(Standardization::fit(x));
        let mut t = Trainer::new(m);
        let r = t
            .fit(x, &TrainConfig::new(Loss::Dsm { sigma: 0.2 }, 50))
            .unwrap();
        r.final_loss(3)
    };
    let (a, b) = (run(&data), run(&shifted));
    assert!((a - b).abs() < 1e-6 * a.abs(), "{a} vs {b}");
}

#[test]
fn a_divergence_on_unstandardised_far_data_names_the_likely_cause() {
    let mut rng = SmallRng::seed_from_u64(12);
    let mut data = Toy::TwoMoons.sample(100, &mut rng);
    data.data_mut()
        .iter_mut()
        .for_each(|v| *v = *v * 1e200 + 1e201);
    let net = || {
        Model::score_net(
            2,
            &[16],
            Activation::Softplus,
            &mut SmallRng::seed_from_u64(1),
        )
    };
    let dsm = TrainConfig::new(Loss::Dsm { sigma: 0.1 }, 5);
    let e = Trainer::new(net())
        .fit(&data, &dsm)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diverged at step 0") && e.contains("far from scale 1"),
        "{e}"
    );
    // the same data standardised train
    let mut m = net();
    m.standardization = Some(stein_models::data::Standardization::fit(&data));
    assert!(Trainer::new(m).fit(&data, &dsm).is_ok());
}

/// Contrastive divergence continued with a larger batch than its persistent chains were made for: the chains
/// are cycled to the new batch (the loss is sharded over batch and chain rows together), no panic.
#[test]
fn contrastive_divergence_continues_with_another_batch_size() {
    let mut rng = SmallRng::seed_from_u64(9);
    let data = Toy::TwoMoons.sample(300, &mut rng);
    let mut t = Trainer::new(Model::energy(2, &[8], Activation::Silu, &mut rng));
    let mut cfg = TrainConfig::new(
        Loss::Cd {
            steps: 2,
            step_size: 0.01,
            alpha: 0.1,
        },
        3,
    );
    cfg.batch = 40;
    t.fit(&data, &cfg).unwrap();
    assert_eq!(t.buffer.as_ref().map(|b| b.rows()), Some(40));
    cfg.batch = 150;
    cfg.steps = 6;
    let report = t.fit(&data, &cfg).unwrap();
    assert!(report.losses.iter().all(|(_, l)| l.is_finite()));
    assert_eq!(t.buffer.as_ref().map(|b| b.rows()), Some(150));
}
