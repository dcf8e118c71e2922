//! Model files, CSV loading and the training loop's guarantees.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::data::{load_csv, Toy};
use stein_models::fit::{FitOptions, Settings, Trainer};
use stein_models::io::ModelFile;
use stein_models::network::Network;
use stein_models::nn::{Activation, Conditioning, Kind, Model};
use stein_models::objective::{cd::Cd, dsm::Dsm, implicit::Implicit, nce::Nce, sliced::Sliced};
use stein_models::objective::{Objective, Projection};
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

fn trainer(m: Model, objective: impl Objective + 'static) -> Trainer {
    Trainer::new(m.into(), Box::new(objective), Settings::default())
}

fn trained(t: &Trainer) -> &Model {
    t.network.model("test").unwrap()
}

#[test]
fn save_then_load_is_bit_identical() {
    let scratch = dir("roundtrip");
    let d = scratch.path();
    let mut rng = SmallRng::seed_from_u64(3);
    let data = Toy::TwoMoons.sample(100, &mut rng);
    let mut t = trainer(model(), Nce::new());
    t.fit(&data, &FitOptions::steps(3)).unwrap();
    let f = t.to_file(true);
    let p = d.join("m.json");
    f.save(&p).unwrap();
    let g = ModelFile::load(&p).unwrap();
    for (a, b) in f.network.params().iter().zip(g.network.params()) {
        assert!(a
            .data()
            .iter()
            .zip(b.data())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    assert_eq!(f, g);
    // the objective's own tensors travel too (NCE's log Z)
    assert_eq!(f.objective.as_ref().unwrap().tensors["log_z"].len(), 1);
    // no temporary file is left behind
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
}

#[test]
fn bad_files_are_errors_not_panics() {
    let scratch = dir("bad");
    let d = scratch.path();
    let p = d.join("m.json");
    ModelFile::new(model().into()).save(&p).unwrap();
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
        &text.replace("\"version\":3", "\"version\":99"),
        "version 99",
    );
    expect_err(
        &text.replace("\"kind\":\"energy\"", "\"kind\":\"score\""),
        "kind score but the model is a energy model",
    );
    // a weight of the wrong shape
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["model"]["net"]["params"][2] =
        serde_json::json!({"rows": 3, "cols": 3, "data": vec![0.0; 9]});
    expect_err(&v.to_string(), "layer 1");
    let e = ModelFile::load(d.join("missing.json")).unwrap_err();
    assert!(matches!(e, ModelError::Io { .. }), "{e}");
    // non-finite parameters are refused at save time
    let mut m = model();
    m.net.params[0].data_mut()[0] = f64::NAN;
    assert!(ModelFile::new(m.into()).save(d.join("nan.json")).is_err());
}

#[test]
fn safetensors_export_has_pytorch_names_and_layout() {
    let scratch = dir("st");
    let d = scratch.path();
    let m = model();
    let f = ModelFile::new(m.clone().into());
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
    assert_eq!(v, m.net.params[0].get(1, 0));
}

#[test]
fn divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let scratch = dir("nan");
    let d = scratch.path();
    let mut rng = SmallRng::seed_from_u64(2);
    let data = Toy::TwoMoons.sample(500, &mut rng);
    let settings = Settings {
        checkpoint_every: 10,
        ..Settings::default()
    };
    let net = Model::score_net(2, &[16], Activation::Tanh, &mut rng);
    let mut t = Trainer::new(net.into(), Box::new(Dsm::new(0.1).unwrap()), settings);
    t.fit(&data, &FitOptions::steps(30).out(d)).unwrap();
    let good = std::fs::read(d.join("checkpoint.json")).unwrap();
    // a learning rate that blows the parameters up: the loss turns non-finite
    t.settings.lr = 1e200;
    let e = t.fit(&data, &FitOptions::steps(60).out(d)).unwrap_err();
    match &e {
        ModelError::Diverged {
            step,
            loss,
            checkpoint,
            ..
        } => {
            assert!(*step > 30, "{step}");
            assert!(!loss.is_finite());
            assert!(checkpoint.as_deref().unwrap().ends_with("checkpoint.json"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("last good checkpoint"), "{e}");
    let _ = good;
    // data with a NaN are refused before any step
    let mut bad = data.clone();
    bad.data_mut()[3] = f64::NAN;
    let e = t.fit(&bad, &FitOptions::steps(90)).unwrap_err().to_string();
    assert!(e.contains("`data` = NaN"), "{e}");
}

/// Train 40 steps straight, and 25 + checkpoint + resume + 15: the same bits, for every objective with state
/// or draws of its own, and for the f32 paths (the f32 copy of the network is made again on resume).
#[test]
fn resume_continues_exactly_for_every_objective() {
    use stein_models::nn::Precision::{F32, F64};
    let mut rng = SmallRng::seed_from_u64(4);
    let data = Toy::EightGaussians.sample(1000, &mut rng);
    let energy = Model::energy(2, &[16, 16], Activation::Silu, &mut rng);
    let cases: Vec<(Box<dyn Objective>, _)> = vec![
        (Box::new(Sliced::ssm_vr().projections(2).unwrap()), F64),
        (Box::new(Dsm::new(0.3).unwrap()), F64),
        (Box::new(Nce::new()), F64),
        (Box::new(Cd::default()), F64),
        (Box::new(Cd::new(3, 1e-3, 0.1, 0.2, 300).unwrap()), F64),
        (Box::new(Implicit::hutchinson(2).unwrap()), F64),
        (Box::new(Dsm::new(0.3).unwrap()), F32),
        (Box::new(Sliced::ssm_vr().projections(2).unwrap()), F32),
        (Box::new(Implicit::exact()), F32),
        (Box::new(Nce::new()), F32),
        (Box::new(Cd::new(3, 1e-3, 0.1, 0.2, 300).unwrap()), F32),
        (Box::new(Dsm::new(0.2).unwrap()), F32),
    ];
    let last = cases.len() - 1;
    for (i, (objective, precision)) in cases.into_iter().enumerate() {
        let name = format!("{} in {}", objective.name(), precision.name());
        // the last case keeps a moving average of the parameters, which resumes too
        let settings = Settings {
            batch: 64,
            precision,
            ema: (i == last).then_some(0.95),
            ..Settings::default()
        };
        let mut a = Trainer::new(energy.clone().into(), objective.clone(), settings.clone());
        a.fit(&data, &FitOptions::steps(40)).unwrap();
        let scratch = dir("resume");
        let d = scratch.path();
        let mut b = Trainer::new(energy.clone().into(), objective, settings);
        b.fit(&data, &FitOptions::steps(25).out(d)).unwrap();
        let mut c = Trainer::resume(d.join("checkpoint.json")).unwrap();
        assert_eq!((c.step, c.target_steps), (25, Some(25)), "{name}");
        c.fit(&data, &FitOptions::steps(40).out(d)).unwrap();
        assert_eq!(a.network, c.network, "{name}: resumed run differs");
        assert_eq!(a.average, c.average, "{name}: resumed average differs");
        assert_eq!(a.averaged(), c.averaged(), "{name}");
        assert_eq!(a.objective.record(), c.objective.record(), "{name}");
        let lines = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
        let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
        assert_eq!(last["step"], 40);
        // every 10 steps, and the last step of each call: 10, 20, 25, 30, 40
        assert_eq!(lines.lines().count(), 5, "{name}: {lines}");
    }
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
fn an_objective_that_cannot_train_the_model_is_an_error_naming_both() {
    let mut rng = SmallRng::seed_from_u64(6);
    let data = Toy::TwoMoons.sample(100, &mut rng);
    let score = Model::score_net(2, &[8], Activation::Tanh, &mut rng);
    let e = trainer(score.clone(), Nce::new())
        .fit(&data, &FitOptions::steps(5))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`objective` = nce: trains energy models, not score models"),
        "{e}"
    );
    let e = trainer(score, Implicit::exact())
        .fit(&Tensor::zeros(10, 3), &FitOptions::steps(5))
        .unwrap_err();
    assert!(e.to_string().contains("dimension 2"), "{e}");
    // a noise-conditional model needs σ: only the denoising objectives give it
    let mut c = trainer(conditioned(), Implicit::exact());
    let e = c.fit(&data, &FitOptions::steps(3)).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot train a noise-conditional model"),
        "{e}"
    );
    // settings out of range name the field
    let mut t = trainer(model(), Implicit::exact());
    t.settings.lr = f64::NAN;
    let e = t.fit(&data, &FitOptions::steps(3)).unwrap_err().to_string();
    assert!(e.contains("`lr` = NaN"), "{e}");
    // and so do the objectives' own settings
    assert!(Dsm::new(-1.0)
        .unwrap_err()
        .to_string()
        .contains("`sigma` = -1"));
    assert!(Cd::new(0, 1e-3, 0.1, 0.05, 0)
        .unwrap_err()
        .to_string()
        .contains("`steps` = 0"));
}

#[test]
fn nce_and_cd_train_without_diverging() {
    let mut rng = SmallRng::seed_from_u64(7);
    let data = Toy::EightGaussians.sample(2000, &mut rng);
    let cases: Vec<Box<dyn Objective>> = vec![
        Box::new(Nce::new()),
        Box::new(Cd::new(10, 0.01, 0.1, 0.05, 0).unwrap()),
        Box::new(Cd::new(10, 0.01, 0.1, 0.05, 5000).unwrap()),
    ];
    for objective in cases {
        let name = objective.name();
        let net = Model::energy(2, &[32, 32], Activation::Silu, &mut rng);
        let mut t = Trainer::new(net.into(), objective, Settings::default());
        let r = t.fit(&data, &FitOptions::steps(200)).unwrap();
        assert!(r.final_loss(5).unwrap().is_finite(), "{name}");
    }
}

/// A sampler that fails inside an objective stops the run with its message, not a NaN loss.
#[test]
fn a_sampler_error_inside_an_objective_is_an_error_with_its_message() {
    let mut rng = SmallRng::seed_from_u64(17);
    let data = Toy::TwoMoons.sample(100, &mut rng);
    let mut m = Model::energy(2, &[8], Activation::Silu, &mut rng);
    // weights so large the energy overflows wherever a chain starts: the Langevin negatives cannot start
    m.net.params[0]
        .data_mut()
        .iter_mut()
        .for_each(|w| *w *= 1e300);
    m.net.params[2]
        .data_mut()
        .iter_mut()
        .for_each(|w| *w *= 1e300);
    let mut t = trainer(m, Cd::default());
    let e = t.fit(&data, &FitOptions::steps(3)).unwrap_err().to_string();
    assert!(e.contains("the Langevin negatives failed"), "{e}");
    assert!(!e.contains("diverged"), "{e}");
}

/// A saved file as JSON, edited by `edit`, loaded back: the error text.
fn load_edited(
    name: &str,
    path: &std::path::Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let scratch = dir(name);
    let d = scratch.path();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut v);
    let p = d.join("m.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    match ModelFile::load(&p) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

fn conditioned() -> Model {
    let mut m = Model::build(
        Kind::Energy,
        Conditioning::InputAndScale,
        2,
        &[8],
        Activation::Silu,
        &mut SmallRng::seed_from_u64(3),
    );
    m.sigmas = vec![1.0, 0.5, 0.1];
    m
}

#[test]
fn every_field_a_sampler_or_the_loop_relies_on_is_validated() {
    let scratch = dir("fields");
    let p = scratch.path().join("m.json");
    ModelFile::new(conditioned().into()).save(&p).unwrap();
    assert_eq!(load_edited("ok", &p, |_| {}), "loaded");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "tensor with 3 values",
            Box::new(|v| {
                v["model"]["net"]["params"][1]["data"] = serde_json::json!([1.0, 2.0, 3.0])
            }),
        ),
        (
            "a σ ladder needs 1 to",
            Box::new(|v| v["model"]["sigmas"] = serde_json::json!([])),
        ),
        (
            "`sigmas` = 0",
            Box::new(|v| v["model"]["sigmas"][1] = serde_json::json!(0.0)),
        ),
        (
            "`sigmas` = -1",
            Box::new(|v| v["model"]["sigmas"][1] = serde_json::json!(-1.0)),
        ),
        (
            "does not fit the first layer",
            Box::new(|v| v["model"]["dim"] = serde_json::json!(3)),
        ),
        (
            "kind energy but the model is a score model",
            Box::new(|v| v["model"]["kind"] = serde_json::json!("Score")),
        ),
        (
            "output width",
            Box::new(|v| {
                v["model"]["kind"] = serde_json::json!("Score");
                v["kind"] = serde_json::json!("score");
            }),
        ),
        (
            "1 shifts and 2 scales",
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
        let e = load_edited("bad", &p, edit);
        assert!(e.contains(needle), "expected `{needle}`: {e}");
    }
    // a ladder on a model that does not take σ
    let q = scratch.path().join("plain.json");
    ModelFile::new(model().into()).save(&q).unwrap();
    let e = load_edited("plain", &q, |v| {
        v["model"]["sigmas"] = serde_json::json!([1.0])
    });
    assert!(e.contains("not noise-conditional"), "{e}");
}

#[test]
fn checkpoints_are_validated_against_their_model() {
    let scratch = dir("ckpt-validate");
    let d = scratch.path();
    let mut rng = SmallRng::seed_from_u64(8);
    let data = Toy::TwoMoons.sample(200, &mut rng);
    let net = Model::energy(2, &[8], Activation::Silu, &mut rng);
    let cd = Cd::new(2, 0.01, 0.1, 0.05, 0).unwrap();
    trainer(net, cd)
        .fit(&data, &FitOptions::steps(5).out(d))
        .unwrap();
    let p = d.join("checkpoint.json");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "moments of tensor 0",
            Box::new(|v| {
                v["training"]["optimizer"]["m"][0] =
                    serde_json::json!({"rows": 1, "cols": 1, "data": [0.0]})
            }),
        ),
        (
            "moments of 1 tensors",
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
            "`step` = 1099511627777",
            Box::new(|v| v["training"]["step"] = serde_json::json!(1099511627777u64)),
        ),
        (
            "its chains do not fit",
            Box::new(|v| {
                v["objective"]["tensors"]["chains"] =
                    serde_json::json!({"rows": 2, "cols": 3, "data": [0, 0, 0, 0, 0, 0]})
            }),
        ),
        (
            "`steps` = 0",
            Box::new(|v| v["objective"]["numbers"]["steps"] = serde_json::json!([0.0])),
        ),
        (
            "unknown; the objectives are",
            Box::new(|v| v["objective"]["name"] = serde_json::json!("nope")),
        ),
        (
            "`batch` = 0",
            Box::new(|v| v["training"]["settings"]["batch"] = serde_json::json!(0)),
        ),
        (
            "trains energy models, not score models",
            Box::new(|v| {
                v["objective"] = serde_json::json!({"name": "nce"});
                v["kind"] = serde_json::json!("score");
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
        let e = load_edited("ckpt", &p, edit);
        assert!(e.contains(needle), "expected `{needle}`: {e}");
    }
}

#[test]
fn version_1_files_migrate_or_name_their_version() {
    let scratch = dir("v1");
    let d = scratch.path();
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("v2_ncsn_model.json")).unwrap()).unwrap();
    let sigmas = v["model"]["sigmas"].take();
    v["model"].as_object_mut().unwrap().remove("sigmas");
    v.as_object_mut().unwrap().remove("data");
    v["version"] = serde_json::json!(1);
    v["meta"] = serde_json::json!({"data": "two-moons", "loss": "ncsn", "sigmas": sigmas});
    let p = d.join("v1.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let g = ModelFile::load(&p).unwrap();
    let Network::Model(m) = &g.network else {
        panic!("a score or energy model")
    };
    assert_eq!(m.sigmas.len(), 3);
    assert_eq!(g.data, "two-moons");
    // without its ladder a noise-conditional version 1 file cannot be used: an error, not a fallback
    v["meta"].as_object_mut().unwrap().remove("sigmas");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = ModelFile::load(&p).unwrap_err().to_string();
    assert!(e.contains("version 1") && e.contains("σ ladder"), "{e}");
}

/// Checkpoints written by the former loops (version 2 score and energy files, version 1 diffusion files;
/// fixtures in tests/data/legacy made by the build before the loops were one) continue to the bits the former
/// loop reached in one run: the objectives' state (NCE's log Z, contrastive divergence's chains) and both
/// former optimisers migrate exactly.
#[test]
fn files_of_the_former_formats_resume_to_the_former_bits() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy");
    let mut rng = SmallRng::seed_from_u64(1);
    let data = Toy::TwoMoons.sample(64, &mut rng);
    for name in ["v2_ncsn", "v2_ssm_vr", "v2_nce", "v2_cd", "diffusion_v1"] {
        let mut t = Trainer::resume(base.join(format!("{name}_checkpoint.json"))).unwrap();
        t.fit(&data, &FitOptions::steps(10)).unwrap();
        let want = ModelFile::load(base.join(format!("{name}_at10.json"))).unwrap();
        assert_eq!(t.network, want.network, "{name}");
        // and the finished model files of the former format load
        if name != "diffusion_v1" {
            let m = ModelFile::load(base.join(format!("{name}_model.json"))).unwrap();
            assert!(m.training.is_none(), "{name}");
        }
    }
}

#[test]
fn the_loop_refuses_a_model_file_without_training_state() {
    let scratch = dir("no-state");
    let p = scratch.path().join("m.json");
    ModelFile::new(model().into()).save(&p).unwrap();
    let e = Trainer::resume(&p).err().unwrap().to_string();
    assert!(e.contains("not a checkpoint"), "{e}");
}

#[test]
fn a_failed_save_leaves_the_old_file_and_no_temporary_file() {
    let scratch = dir("failed-save");
    let d = scratch.path();
    let p = d.join("m.json");
    ModelFile::new(model().into()).save(&p).unwrap();
    let before = std::fs::read(&p).unwrap();
    let mut bad = model();
    bad.net.params[0].data_mut()[0] = f64::INFINITY;
    assert!(ModelFile::new(bad.into()).save(&p).is_err());
    // a target whose folder is gone fails cleanly too
    assert!(ModelFile::new(model().into())
        .save(d.join("gone/m.json"))
        .is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
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
        let mut t = trainer(m, Dsm::new(0.2).unwrap());
        t.fit(x, &FitOptions::steps(50))
            .unwrap()
            .final_loss(3)
            .unwrap()
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
    let e = trainer(net(), Dsm::new(0.1).unwrap())
        .fit(&data, &FitOptions::steps(5))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diverged at step 0") && e.contains("far from scale 1"),
        "{e}"
    );
    // the same data standardised train
    let mut m = net();
    m.standardization = Some(stein_models::data::Standardization::fit(&data));
    assert!(trainer(m, Dsm::new(0.1).unwrap())
        .fit(&data, &FitOptions::steps(5))
        .is_ok());
}

/// Contrastive divergence continued with a larger batch than its persistent chains were made for: the chains
/// are cycled to the new batch, no panic.
#[test]
fn contrastive_divergence_continues_with_another_batch_size() {
    let mut rng = SmallRng::seed_from_u64(9);
    let data = Toy::TwoMoons.sample(300, &mut rng);
    let net = Model::energy(2, &[8], Activation::Silu, &mut rng);
    let mut t = trainer(net, Cd::new(2, 0.01, 0.1, 0.05, 0).unwrap());
    t.settings.batch = 40;
    t.fit(&data, &FitOptions::steps(3)).unwrap();
    let rows = |t: &Trainer| t.objective.record().tensors["chains"].rows();
    assert_eq!(rows(&t), 40);
    t.settings.batch = 150;
    let report = t.fit(&data, &FitOptions::steps(6)).unwrap();
    assert!(report.losses.iter().all(|(_, l)| l.is_finite()));
    assert_eq!(rows(&t), 150);
    let _ = (trained(&t), Projection::Gaussian);
}

/// The moving average is the documented recursion over the parameters after each step (the run itself is the
/// run without an average, step for step), the model file holds it, and a decay out of (0, 1) is an error
/// naming `ema`.
#[test]
fn the_moving_average_follows_its_recursion_and_is_the_model() {
    let mut rng = SmallRng::seed_from_u64(9);
    let data = Toy::TwoMoons.sample(500, &mut rng);
    let energy = Model::energy(2, &[8], Activation::Silu, &mut rng);
    let plain = Settings {
        batch: 32,
        ..Settings::default()
    };
    let decay = 0.8;
    let averaged = Settings {
        ema: Some(decay),
        ..plain.clone()
    };
    let mut a = Trainer::new(
        energy.clone().into(),
        Box::new(Dsm::new(0.3).unwrap()),
        averaged,
    );
    a.fit(&data, &FitOptions::steps(12)).unwrap();
    let mut b = Trainer::new(energy.into(), Box::new(Dsm::new(0.3).unwrap()), plain);
    let mut want: Option<Vec<stein_autodiff::Tensor>> = None;
    for k in 1..=12usize {
        b.fit(&data, &FitOptions::steps(k)).unwrap();
        let p = b.network.params();
        want = Some(match want {
            None => p.to_vec(),
            Some(w) => {
                let d = decay.min((1.0 + k as f64) / (10.0 + k as f64));
                w.iter()
                    .zip(p)
                    .map(|(w, p)| {
                        let v = w
                            .data()
                            .iter()
                            .zip(p.data())
                            .map(|(w, p)| d * w + (1.0 - d) * p);
                        stein_autodiff::Tensor::new(w.rows(), w.cols(), v.collect()).unwrap()
                    })
                    .collect()
            }
        });
    }
    assert_eq!(a.network, b.network, "the average does not change the run");
    let want = want.unwrap();
    for (g, w) in a.average.as_ref().unwrap().iter().zip(&want) {
        for (u, v) in g.data().iter().zip(w.data()) {
            assert!((u - v).abs() <= 1e-12 * (1.0 + v.abs()), "{u} vs {v}");
        }
    }
    assert_ne!(a.averaged(), a.network);
    assert_eq!(a.to_file(false).network, a.averaged());
    assert_eq!(a.to_file(true).network, a.network);
    for bad in [0.0, 1.0, f64::NAN, -0.5] {
        let s = Settings {
            ema: Some(bad),
            ..Settings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("ema"), "{e}");
    }
}
