//! Diffusion models in the one model-file format: a round trip keeps every bit, damaged files are named errors,
//! never panics, and a checkpoint continues the run bit for bit.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::diffusion::net::{Output, TimeModel};
use stein_models::diffusion::reverse::{self, Method};
use stein_models::diffusion::Sde;
use stein_models::fit::{FitOptions, Trainer};
use stein_models::io::ModelFile;
use stein_models::network::Network;
use stein_models::objective::diffusion::{DiffusionDsm, Weighting};
use stein_models::recipe::{Recipe, SdeKind};

fn model() -> TimeModel {
    TimeModel::new(
        2,
        &[16, 16],
        Output::Denoised,
        Sde::ve(0.01, 20.0).unwrap(),
        &mut SmallRng::seed_from_u64(0),
    )
    .unwrap()
}

fn file() -> ModelFile {
    let mut f = ModelFile::new(model().into());
    f.data = "ring".into();
    f
}

fn time_model(f: &ModelFile) -> &TimeModel {
    match &f.network {
        Network::Diffusion(m) => m,
        Network::Model(_) => panic!("a diffusion model"),
    }
}

fn to_json(f: &ModelFile) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.json");
    f.save(&p).unwrap();
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn a_round_trip_keeps_every_bit_and_samples_the_same() {
    let f = file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.json");
    f.save(&path).unwrap();
    let g = ModelFile::load(&path).unwrap();
    assert_eq!(f, g);
    let m = Method::Ddim {
        steps: 20,
        eta: 1.0,
    };
    let (a, b) = (time_model(&f), time_model(&g));
    let x = reverse::sample(a, &a.sde, &m, 50, 1).unwrap();
    let y = reverse::sample(b, &b.sde, &m, 50, 1).unwrap();
    assert_eq!(x, y);
    assert!(to_json(&f).contains("\"kind\":\"diffusion\""));
}

/// A model's interval [ε, T] is part of its file (files without one read as the SDE's default), and every
/// sampler ends at ε.
#[test]
fn the_interval_is_kept_and_honoured() {
    let text = to_json(&file());
    assert!(!text.contains("t_min"), "a default interval is not written");
    let f = ModelFile::new(model().with_t_min(2e-3).unwrap().into());
    let g = ModelFile::from_slice(to_json(&f).as_bytes()).unwrap();
    let m = time_model(&g);
    assert_eq!(m.t_min, Some(2e-3));
    for method in [
        Method::EulerMaruyama { steps: 10 },
        Method::Ddim {
            steps: 10,
            eta: 0.0,
        },
    ] {
        let mut last = 0.0;
        reverse::sample_with(
            m,
            &m.sde,
            &method,
            reverse::Start::Prior(5),
            0,
            &mut |_, t, _| last = t,
        )
        .unwrap();
        assert!((last - 2e-3).abs() < 1e-12, "{method:?} ends at {last}");
    }
}

#[test]
fn damaged_files_are_named_errors() {
    let text = to_json(&file());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let cases: Vec<(Edit, &str)> = vec![
        (|w| w["version"] = 7.into(), "version 7"),
        (|w| w["format"] = "other".into(), "format"),
        (
            |w| w["kind"] = "energy".into(),
            "does not read as a model of the kind it names (energy)",
        ),
        (
            |w| w["model"]["sde"]["Ve"]["sigma_max"] = 0.001.into(),
            "σ_min < σ_max",
        ),
        (|w| w["model"]["dim"] = 3.into(), "do not fit dimension 3"),
        (
            |w| w["model"]["frequencies"] = serde_json::json!([1.0]),
            "do not fit",
        ),
        (
            |w| w["model"]["frequencies"][0] = 1e300.into(),
            "at most 256",
        ),
        (|w| w["model"]["net"]["widths"][1] = 17.into(), "layer 0"),
        (|w| w["model"]["output"] = "Momentum".into(), "Momentum"),
        (|w| w["model"]["t_min"] = 0.9.into(), "earliest time"),
        (|w| w["model"]["t_min"] = (-1e-3).into(), "earliest time"),
        (|w| w["model"]["t_min"] = 1e-300.into(), "earliest time"),
        (
            |w| w["model"]["standardization"] = serde_json::json!({"mean": [0.0], "scale": [1.0]}),
            "1 shifts and 1 scales",
        ),
    ];
    for (edit, needle) in cases {
        let mut w = v.clone();
        edit(&mut w);
        let e = ModelFile::from_slice(serde_json::to_string(&w).unwrap().as_bytes()).unwrap_err();
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // truncations at every 97th byte and byte flips: errors or valid files, never a panic
    let bytes = text.as_bytes();
    for cut in (0..bytes.len()).step_by(97) {
        assert!(ModelFile::from_slice(&bytes[..cut]).is_err());
    }
    for k in (0..bytes.len()).step_by(131) {
        let mut b = bytes.to_vec();
        b[k] ^= 0x5A;
        let _ = ModelFile::from_slice(&b);
    }
    // a non-finite parameter cannot be saved
    let mut m = model();
    m.net.params[0].data_mut()[0] = f64::NAN;
    let dir = tempfile::tempdir().unwrap();
    let e = ModelFile::new(m.into())
        .save(dir.path().join("never-written.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
}

/// A checkpoint written mid-run, read back and continued, ends with the bits of the run never interrupted;
/// moments that do not fit the model are refused on load.
#[test]
fn a_checkpoint_continues_the_run_bit_for_bit() {
    let data = Tensor::from_fn(128, 2, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 2.0);
    let settings = Recipe::diffusion(SdeKind::Ve).batch(32).settings(40, 0);
    let objective = || Box::new(DiffusionDsm::new(Weighting::LikelihoodImportance));
    let mut whole = Trainer::new(model().into(), objective(), settings.clone());
    whole.fit(&data, &FitOptions::steps(40)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut part = Trainer::new(model().into(), objective(), settings);
    part.fit(&data, &FitOptions::steps(15).out(dir.path()))
        .unwrap();
    let path = dir.path().join("checkpoint.json");
    let mut resumed = Trainer::resume(&path).unwrap();
    assert_eq!((resumed.step, resumed.settings.batch), (15, 32));
    resumed
        .fit(&data, &FitOptions::steps(40).out(dir.path()))
        .unwrap();
    assert_eq!(resumed.network, whole.network);
    // moments of another model are refused
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let other = TimeModel::new(
        2,
        &[8],
        Output::Noise,
        Sde::vp(0.1, 20.0).unwrap(),
        &mut SmallRng::seed_from_u64(1),
    )
    .unwrap();
    v["model"] = serde_json::to_value(&other).unwrap();
    let err = ModelFile::from_slice(v.to_string().as_bytes()).unwrap_err();
    assert!(err.contains("moments"), "{err}");
}
