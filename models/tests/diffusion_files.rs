//! Diffusion model files: a round trip keeps every bit, and damaged files are named errors, never panics.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_models::diffusion::file::DiffusionFile;
use stein_models::diffusion::net::{Output, TimeModel};
use stein_models::diffusion::reverse::{self, Method};
use stein_models::diffusion::Sde;

fn file() -> DiffusionFile {
    let model = TimeModel::new(
        2,
        &[16, 16],
        Output::Denoised,
        Sde::ve(0.01, 20.0).unwrap(),
        &mut SmallRng::seed_from_u64(0),
    )
    .unwrap();
    DiffusionFile::new(model, None, "ring")
}

#[test]
fn a_round_trip_keeps_every_bit_and_samples_the_same() {
    let f = file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring.json");
    f.save(&path).unwrap();
    let g = DiffusionFile::load(&path).unwrap();
    assert_eq!(f, g);
    let m = Method::Ddim {
        steps: 20,
        eta: 1.0,
    };
    let a = reverse::sample(&f.model, &f.model.sde, &m, 50, 1).unwrap();
    let b = reverse::sample(&g.model, &g.model.sde, &m, 50, 1).unwrap();
    assert_eq!(a, b);
}

/// A model's interval [ε, T] is part of its file (files without one read as the SDE's default), and every
/// sampler ends at ε.
#[test]
fn the_interval_is_kept_and_honoured() {
    let mut f = file();
    let text = serde_json::to_string(&f).unwrap();
    assert!(!text.contains("t_min"), "a default interval is not written");
    f.model = f.model.with_t_min(2e-3).unwrap();
    let g = DiffusionFile::from_slice(serde_json::to_string(&f).unwrap().as_bytes()).unwrap();
    assert_eq!(g.model.t_min, Some(2e-3));
    for m in [
        Method::EulerMaruyama { steps: 10 },
        Method::Ddim {
            steps: 10,
            eta: 0.0,
        },
    ] {
        let mut last = 0.0;
        reverse::sample_with(
            &g.model,
            &g.model.sde,
            &m,
            reverse::Start::Prior(5),
            0,
            &mut |_, t, _| last = t,
        )
        .unwrap();
        assert!((last - 2e-3).abs() < 1e-12, "{m:?} ends at {last}");
    }
}

#[test]
fn damaged_files_are_named_errors() {
    let text = serde_json::to_string(&file()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            {
                let mut w = v.clone();
                w["version"] = 7.into();
                w
            },
            "version 7",
        ),
        (
            {
                let mut w = v.clone();
                w["format"] = "other".into();
                w
            },
            "format `other`",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["sde"]["Ve"]["sigma_max"] = 0.001.into();
                w
            },
            "σ_min < σ_max",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["dim"] = 3.into();
                w
            },
            "do not fit dimension 3",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["frequencies"] = serde_json::json!([1.0]);
                w
            },
            "do not fit",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["net"]["widths"][1] = 17.into();
                w
            },
            "layer 0",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["output"] = "Velocity".into();
                w
            },
            "not a diffusion model file",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["t_min"] = 0.9.into();
                w
            },
            "earliest time",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["t_min"] = (-1e-3).into();
                w
            },
            "earliest time",
        ),
        (
            {
                let mut w = v.clone();
                w["model"]["t_min"] = 1e-300.into();
                w
            },
            "earliest time",
        ),
    ];
    for (w, needle) in cases {
        let e =
            DiffusionFile::from_slice(serde_json::to_string(&w).unwrap().as_bytes()).unwrap_err();
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // truncations at every 97th byte and byte flips: errors or valid files, never a panic
    let bytes = text.as_bytes();
    for cut in (0..bytes.len()).step_by(97) {
        assert!(DiffusionFile::from_slice(&bytes[..cut]).is_err());
    }
    for k in (0..bytes.len()).step_by(131) {
        let mut b = bytes.to_vec();
        b[k] ^= 0x5A;
        let _ = DiffusionFile::from_slice(&b);
    }
    // a non-finite parameter cannot be saved
    let mut f = file();
    f.model.net.params[0].data_mut()[0] = f64::NAN;
    let dir = tempfile::tempdir().unwrap();
    let e = f
        .save(dir.path().join("never-written.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    v["model"]["net"]["params"] = serde_json::json!([]);
    assert!(DiffusionFile::from_slice(serde_json::to_string(&v).unwrap().as_bytes()).is_err());
}

/// A checkpoint written mid-run, read back and continued, ends with the bits of the run never interrupted;
/// moments that do not fit the model are refused on load.
#[test]
fn a_checkpoint_continues_the_run_bit_for_bit() {
    use stein_autodiff::Tensor;
    use stein_models::diffusion::file::DiffusionTraining;
    use stein_models::diffusion::train::{fit_from, DiffusionConfig, FitState};
    let data = Tensor::from_fn(128, 2, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 2.0);
    let cfg = DiffusionConfig {
        steps: 40,
        batch: 32,
        checkpoint_every: 15,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.json");
    let mut whole = file().model;
    let mut state = FitState::default();
    fit_from(&mut whole, &data, &cfg, &mut state, &mut |m, s| {
        if s.step == 15 {
            let mut f = DiffusionFile::new(m.clone(), None, "ring");
            f.training = Some(DiffusionTraining {
                config: cfg,
                state: s.clone(),
            });
            f.save(&path)?;
        }
        Ok(())
    })
    .unwrap();
    let f = DiffusionFile::load(&path).unwrap();
    let tr = f.training.clone().unwrap();
    assert_eq!((tr.state.step, tr.config.batch), (15, 32));
    let (mut model, mut state2) = (f.model.clone(), tr.state);
    fit_from(&mut model, &data, &tr.config, &mut state2, &mut |_, _| {
        Ok(())
    })
    .unwrap();
    assert_eq!(model, whole);
    assert_eq!(state2.losses, state.losses);
    // a state ahead of the run, and moments of another model, are refused
    let mut ahead = FitState {
        step: 41,
        ..Default::default()
    };
    assert!(fit_from(&mut model, &data, &cfg, &mut ahead, &mut |_, _| Ok(())).is_err());
    let mut g = f;
    g.model = TimeModel::new(
        2,
        &[8],
        Output::Noise,
        Sde::vp(0.1, 20.0).unwrap(),
        &mut SmallRng::seed_from_u64(1),
    )
    .unwrap();
    let err = g.validate().unwrap_err();
    assert!(err.contains("moments"), "{err}");
}
