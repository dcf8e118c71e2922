//! Model files, CSV loading and the training loop's guarantees.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::path::PathBuf;
use stein_autodiff::Tensor;
use stein_models::data::{load_csv, Toy};
use stein_models::io::ModelFile;
use stein_models::loss::Loss;
use stein_models::nn::{Activation, Model};
use stein_models::train::{TrainConfig, Trainer};
use stein_models::ModelError;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stein-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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
    let d = dir("roundtrip");
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
    let d = dir("bad");
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
        &text.replace("\"version\":1", "\"version\":99"),
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
    let d = dir("st");
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
    let d = dir("nan");
    let mut rng = SmallRng::seed_from_u64(2);
    let data = Toy::TwoMoons.sample(500, &mut rng);
    let mut t = Trainer::new(Model::score_net(2, &[16], Activation::Tanh, &mut rng));
    let mut cfg = TrainConfig::new(Loss::Dsm { sigma: 0.1 }, 30);
    cfg.out = Some(d.clone());
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
    let d = dir("resume");
    let mut b = Trainer::new(start);
    let mut cfg = TrainConfig::new(loss, 25);
    cfg.out = Some(d.clone());
    b.fit(&data, &cfg).unwrap();
    let mut c = Trainer::resume(d.join("checkpoint.json")).unwrap();
    assert_eq!(c.step, 25);
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
    let d = dir("csv");
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
