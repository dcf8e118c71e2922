//! Thousands of mutated model files and checkpoints (truncations, byte flips, absurd numbers, wrong shapes,
//! missing and extra fields), each loaded and used through the same calls as `stein sample --model`
//! (`ModelFile::load`, then `stein::run::sample_model`) and `stein train --resume` (`Trainer::resume`, then
//! `Trainer::fit`). Every one must give `Ok` or a named error; none may panic. Files of the former formats
//! (version 2, and the former diffusion format) are mutated too: they go through the migrations.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use stein::autodiff::Tensor;
use stein::models::data::{Standardization, Toy};
use stein::models::fit::{FitOptions, Settings, Trainer};
use stein::models::io::ModelFile;
use stein::models::network::Network;
use stein::models::nn::{Activation, Conditioning, Kind, Model};
use stein::models::objective::{cd::Cd, geometric_sigmas, nce::Nce, ncsn::Ncsn, sliced::Sliced};
use stein::models::objective::{Objective, Projection};
use stein::run::{sample_model, SamplerKind};

/// A new temporary folder, removed with its files when dropped.
fn dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("stein-fuzz-")
        .tempdir()
        .unwrap()
}

/// A small checkpoint of each kind the loop writes: a noise-conditional energy net with a standardisation,
/// a score net, an NCE model (its log Z) and a contrastive-divergence model (its chains); and the fixtures of
/// the former formats.
fn base_files(d: &Path, data: &Tensor) -> Vec<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(3);
    let cases: Vec<(Kind, Conditioning, Box<dyn Objective>)> = vec![
        (
            Kind::Energy,
            Conditioning::InputAndScale,
            Box::new(Ncsn::new(geometric_sigmas(1.0, 0.1, 3).unwrap()).unwrap()),
        ),
        (
            Kind::Score,
            Conditioning::None,
            Box::new(Sliced {
                projections: 2,
                variance_reduced: true,
                projection: Projection::Gaussian,
            }),
        ),
        (Kind::Energy, Conditioning::None, Box::new(Nce::new())),
        (
            Kind::Energy,
            Conditioning::None,
            Box::new(Cd::new(2, 0.01, 0.1, 0.05, 16).unwrap()),
        ),
    ];
    let mut files = Vec::new();
    for (i, (kind, cond, objective)) in cases.into_iter().enumerate() {
        let mut model = Model::build(kind, cond, 2, &[4], Activation::Silu, &mut rng);
        if i == 0 {
            model.standardization = Some(Standardization::fit(data));
        }
        let settings = Settings {
            batch: 8,
            ..Settings::default()
        };
        let mut t = Trainer::new(model.into(), objective, settings);
        t.data = "two-moons".into();
        let out = d.join(format!("base{i}"));
        t.fit(data, &FitOptions::steps(3).out(&out)).unwrap();
        files.push(std::fs::read(out.join("checkpoint.json")).unwrap());
        // the model file (no training state) too
        t.to_file(false).save(out.join("model.json")).unwrap();
        files.push(std::fs::read(out.join("model.json")).unwrap());
    }
    let legacy = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/legacy");
    for name in ["v2_ncsn_checkpoint", "v2_cd_checkpoint", "v2_nce_model"] {
        files.push(std::fs::read(legacy.join(format!("{name}.json"))).unwrap());
    }
    files
}

const ABSURD: [&str; 16] = [
    "0",
    "-1",
    "1",
    "2",
    "3",
    "1e308",
    "-1e308",
    "1e-320",
    "18446744073709551615",
    "4294967296",
    "9007199254740993",
    "0.5",
    "null",
    "[]",
    "{}",
    "\"Score\"",
];

fn absurd_value(rng: &mut SmallRng) -> Value {
    serde_json::from_str(ABSURD[rng.random_range(0..ABSURD.len())]).unwrap()
}

/// Every JSON pointer in a value.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
        _ => {}
    }
}

/// One structural mutation of a random node.
fn mutate_value(v: &mut Value, rng: &mut SmallRng) {
    let mut ps = Vec::new();
    pointers(v, String::new(), &mut ps);
    let p = &ps[rng.random_range(0..ps.len())];
    let Some(node) = v.pointer_mut(p) else { return };
    match node {
        Value::Array(a) if !a.is_empty() => match rng.random_range(0..4) {
            0 => {
                let i = rng.random_range(0..a.len());
                a.remove(i);
            }
            1 => {
                let i = rng.random_range(0..a.len());
                let x = a[i].clone();
                a.insert(i, x);
            }
            2 => a.clear(),
            _ => a.truncate(rng.random_range(0..a.len())),
        },
        Value::Object(o) if !o.is_empty() && rng.random_bool(0.5) => {
            let k = o.keys().nth(rng.random_range(0..o.len())).unwrap().clone();
            o.remove(&k);
        }
        Value::String(_) => {
            let names = [
                "Energy",
                "Score",
                "None",
                "InputAndScale",
                "Silu",
                "Relu",
                "x",
                "",
            ];
            *node = Value::String(names[rng.random_range(0..names.len())].into());
        }
        _ => *node = absurd_value(rng),
    }
}

/// Byte-level damage: truncation, a flipped byte, a number replaced by text.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut SmallRng) {
    match rng.random_range(0..3) {
        0 => b.truncate(rng.random_range(0..b.len())),
        1 => {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        _ => {
            let i = rng.random_range(0..b.len());
            if let Some(j) = b[i..].iter().position(|c| c.is_ascii_digit()) {
                let at = i + j;
                let end = at
                    + b[at..]
                        .iter()
                        .position(|c| !(c.is_ascii_digit() || b".eE+-".contains(c)))
                        .unwrap_or(0);
                let new = ABSURD[rng.random_range(0..ABSURD.len())].as_bytes();
                b.splice(at..end.max(at), new.iter().copied());
            }
        }
    }
}

/// Use a file as `stein sample --model` and `stein train --resume` do. Errors are fine; panics are not.
fn use_file(path: &Path, data: &Tensor) -> (bool, bool) {
    let mut loaded = false;
    if let Ok(ModelFile {
        network: Network::Model(m),
        ..
    }) = ModelFile::load(path)
    {
        loaded = true;
        let init = Tensor::from_fn(3, m.dim, |i, j| (i + j) as f64 * 0.3 - 0.5);
        for s in [SamplerKind::Ula, SamplerKind::Mala, SamplerKind::Annealed] {
            if s.check(&m).is_ok() {
                let _ = sample_model(&m, s, &init, 1);
            }
        }
    }
    let mut resumed = false;
    if let Ok(mut t) = Trainer::resume(path) {
        resumed = true;
        let steps = t.step + 1;
        let _ = t.fit(data, &FitOptions::steps(steps));
    }
    (loaded, resumed)
}

#[test]
fn mutated_model_files_are_errors_or_usable_never_panics() {
    let scratch = dir();
    let d = scratch.path();
    let data = Toy::TwoMoons.sample(64, &mut SmallRng::seed_from_u64(1));
    let bases = base_files(d, &data);
    let mut rng = SmallRng::seed_from_u64(2026);
    let (mut cases, mut loaded, mut resumed) = (0, 0, 0);
    let mut panics: Vec<String> = Vec::new();
    let path = d.join("mutant.json");
    let per_base = 330;
    for base in &bases {
        let value: Value = serde_json::from_slice(base).unwrap();
        for k in 0..per_base {
            let bytes = if k % 3 == 0 {
                let mut b = base.clone();
                mutate_bytes(&mut b, &mut rng);
                b
            } else {
                let mut v = value.clone();
                for _ in 0..rng.random_range(1..4) {
                    mutate_value(&mut v, &mut rng);
                }
                serde_json::to_vec(&v).unwrap()
            };
            std::fs::write(&path, &bytes).unwrap();
            cases += 1;
            match catch_unwind(AssertUnwindSafe(|| use_file(&path, &data))) {
                Ok((l, r)) => {
                    loaded += usize::from(l);
                    resumed += usize::from(r);
                }
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panics.push(format!(
                        "{msg}\n  file: {}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
            }
        }
    }
    eprintln!(
        "{cases} mutated files: {loaded} loaded, {resumed} resumed, {} panicked",
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "{} of {cases} mutated files panicked; first: {}",
        panics.len(),
        panics[0]
    );
    // the mutations must reach the code that uses a file, not only the parser
    assert!(cases >= 3000, "{cases}");
    assert!(
        loaded > cases / 20 && resumed > cases / 40,
        "loaded {loaded}, resumed {resumed} of {cases}"
    );
}

mod diffusion {
    //! The same for diffusion model files and checkpoints: each mutant loaded and used as `stein sample`
    //! (every reverse sampler), `stein likelihood` and `stein train --resume` use it — an error or a finite
    //! result, never a panic, and never more than a few seconds (every loop is bounded by its request).

    use super::*;
    use std::time::{Duration, Instant};
    use stein::models::diffusion::net::{Output, TimeModel};
    use stein::models::diffusion::Sde;
    use stein::models::io::file_kind;
    use stein::models::nn::Precision;
    use stein::models::objective::diffusion::{DiffusionDsm, Weighting};
    use stein::models::recipe::{Recipe, SdeKind};
    use stein::run::diffusion::{likelihood, sample_diffusion, ReverseKind};

    /// A checkpoint and a model file for each SDE and output reading the command line makes, and the
    /// fixtures of the former diffusion format.
    fn base_files(data: &Tensor) -> Vec<Vec<u8>> {
        let mut files = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        for (k, (sde, output)) in [
            (Sde::vp(0.1, 20.0).unwrap(), Output::Noise),
            (Sde::ve(0.01, 10.0).unwrap(), Output::Denoised),
            (Sde::sub_vp(0.1, 20.0).unwrap(), Output::Score),
        ]
        .into_iter()
        .enumerate()
        {
            let mut rng = SmallRng::seed_from_u64(5);
            let mut model = TimeModel::new(2, &[6], output, sde, &mut rng).unwrap();
            model.standardization = Some(Standardization::fit(data));
            let settings = Recipe::diffusion(SdeKind::Vp).batch(8).settings(3, 0);
            let weighting = [
                Weighting::Simple,
                Weighting::Likelihood,
                Weighting::LikelihoodImportance,
            ][k];
            let objective = Box::new(DiffusionDsm::new(weighting));
            let mut t = Trainer::new(model.into(), objective, settings);
            let out = dir.path().join(format!("d{k}"));
            t.fit(data, &FitOptions::steps(3).out(&out)).unwrap();
            files.push(std::fs::read(out.join("checkpoint.json")).unwrap());
            t.to_file(false).save(out.join("model.json")).unwrap();
            files.push(std::fs::read(out.join("model.json")).unwrap());
        }
        let legacy = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tests/data/legacy");
        for name in ["diffusion_v1_checkpoint", "diffusion_v1_at10"] {
            files.push(std::fs::read(legacy.join(format!("{name}.json"))).unwrap());
        }
        files
    }

    /// Use a file as the command line does; `Ok` results must be finite. Returns (loaded, resumed).
    fn use_file(path: &Path, data: &Tensor) -> Result<(bool, bool), String> {
        let loaded = ModelFile::load(path);
        if loaded.is_ok() && file_kind(path).is_none() {
            return Err("a file that loads is not recognised as a Stein file".into());
        }
        let Ok(ModelFile {
            network: Network::Diffusion(m),
            ..
        }) = loaded
        else {
            return Ok((false, false));
        };
        for kind in [
            ReverseKind::Sde,
            ReverseKind::Pc,
            ReverseKind::Ode,
            ReverseKind::Ddim,
            ReverseKind::Heun,
            ReverseKind::Dpmpp,
            ReverseKind::Unipc,
        ] {
            if let Ok((x, _)) = sample_diffusion(&m, &kind.method(), 3, 1, 0, Precision::F32) {
                if x.data().iter().any(|v| !v.is_finite()) {
                    return Err(format!("{kind:?} returned non-finite samples"));
                }
            }
        }
        let x = Tensor::from_fn(3, 2, |i, j| (i + j) as f64 * 0.4 - 0.5);
        if let Ok(ll) = likelihood(&m, &x, 0, Precision::F32) {
            if ll.nats.iter().any(|v| !v.is_finite()) {
                return Err(format!("likelihood {:?} inside Ok", ll.nats));
            }
        }
        let mut resumed = false;
        if let Ok(mut t) = Trainer::resume(path) {
            let steps = t.step + 1;
            resumed = t.fit(data, &FitOptions::steps(steps)).is_ok();
        }
        Ok((true, resumed))
    }

    #[test]
    fn mutated_diffusion_files_are_errors_or_usable_never_panics_or_hangs() {
        let scratch = dir();
        let d = scratch.path();
        let data = Toy::TwoMoons.sample(64, &mut SmallRng::seed_from_u64(1));
        let bases = base_files(&data);
        let mut rng = SmallRng::seed_from_u64(2027);
        let (mut cases, mut loaded, mut resumed) = (0, 0, 0);
        let mut failures: Vec<String> = Vec::new();
        let mut slowest = Duration::ZERO;
        let path = d.join("mutant.json");
        let per_base = 300;
        for base in &bases {
            let value: Value = serde_json::from_slice(base).unwrap();
            for k in 0..per_base {
                let bytes = if k % 3 == 0 {
                    let mut b = base.clone();
                    mutate_bytes(&mut b, &mut rng);
                    b
                } else {
                    let mut v = value.clone();
                    for _ in 0..rng.random_range(1..4) {
                        mutate_value(&mut v, &mut rng);
                    }
                    serde_json::to_vec(&v).unwrap()
                };
                std::fs::write(&path, &bytes).unwrap();
                cases += 1;
                let t0 = Instant::now();
                let r = catch_unwind(AssertUnwindSafe(|| use_file(&path, &data)));
                slowest = slowest.max(t0.elapsed());
                match r {
                    Ok(Ok((l, r))) => {
                        loaded += usize::from(l);
                        resumed += usize::from(r);
                    }
                    Ok(Err(wrong)) => failures.push(format!(
                        "wrong result: {wrong}\n  file: {}",
                        String::from_utf8_lossy(&bytes)
                    )),
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failures.push(format!(
                            "panic: {msg}\n  file: {}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                }
            }
        }
        eprintln!(
            "{cases} mutated diffusion files: {loaded} loaded, {resumed} resumed, {} failed, slowest {slowest:?}",
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "{} of {cases} mutated files failed; first: {}",
            failures.len(),
            failures[0]
        );
        assert!(slowest < Duration::from_secs(20), "a case took {slowest:?}");
        assert!(
            loaded > cases / 20 && resumed > cases / 40,
            "loaded {loaded}, resumed {resumed} of {cases}"
        );
    }
}
