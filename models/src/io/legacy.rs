//! Files of earlier versions, read and migrated to the current one: `stein-model` version 1 (the σ ladder in a
//! free-form `meta` object) and version 2 (the loss as an enum, the extra tensors and persistent negatives
//! beside the model), and `stein-diffusion` version 1 (a diffusion model's own format). Each becomes a
//! [`ModelFile`]: the network, the objective's record (settings and state), the run's settings.

use super::{ModelFile, TrainingState};
use crate::data::Standardization;
use crate::diffusion::net::TimeModel;
use crate::fit::settings::Settings;
use crate::network::Network;
use crate::nn::{Model, Precision};
use crate::objective::diffusion::Weighting;
use crate::objective::{Projection, Record};
use crate::optim::{Adam, Schedule};
use serde::Deserialize;
use stein_autodiff::Tensor;

/// The loss of a version 2 checkpoint.
#[derive(Deserialize)]
enum Loss {
    Dsm {
        sigma: f64,
    },
    Ncsn {
        sigmas: Vec<f64>,
    },
    Ssm {
        projections: usize,
        variance_reduced: bool,
        projection: Projection,
    },
    Ism,
    IsmHutchinson {
        projections: usize,
    },
    Nce,
    Cd {
        steps: usize,
        step_size: f64,
        alpha: f64,
    },
}

#[derive(Deserialize)]
struct RunSettings {
    loss: Loss,
    batch: usize,
    lr: f64,
    schedule: Schedule,
    clip: Option<f64>,
    seed: u64,
}

#[derive(Deserialize)]
struct TrainingV2 {
    step: usize,
    optimizer: Adam,
    #[serde(default)]
    extra_optimizer: Adam,
    #[serde(default)]
    buffer: Option<Tensor>,
    #[serde(default)]
    settings: Option<RunSettings>,
    #[serde(default)]
    target_steps: Option<usize>,
}

#[derive(Deserialize)]
struct FileV2 {
    model: Model,
    #[serde(default)]
    extra: Vec<(String, Tensor)>,
    #[serde(default)]
    training: Option<TrainingV2>,
    #[serde(default)]
    data: String,
}

/// The objective's record of a version 2 loss, with the state that lived beside the model.
fn record_of(loss: &Loss, extra: &[(String, Tensor)], buffer: Option<&Tensor>) -> Record {
    match loss {
        Loss::Dsm { sigma } => Record::new("dsm").number("sigma", *sigma),
        Loss::Ncsn { sigmas } => Record::new("ncsn").list("sigmas", sigmas),
        Loss::Ssm {
            projections,
            variance_reduced,
            projection,
        } => Record::new(if *variance_reduced { "ssm-vr" } else { "ssm" })
            .number("projections", *projections as f64)
            .choice("projection", projection.name()),
        Loss::Ism => Record::new("ism"),
        Loss::IsmHutchinson { projections } => {
            Record::new("ism-hutchinson").number("projections", *projections as f64)
        }
        Loss::Nce => Record::new("nce").tensor(
            "log_z",
            extra.iter().find(|(n, _)| n == "log_z").map(|(_, t)| t),
        ),
        Loss::Cd {
            steps,
            step_size,
            alpha,
        } => Record::new("cd")
            .number("steps", *steps as f64)
            .number("step_size", *step_size)
            .number("alpha", *alpha)
            .number("restart", 0.05)
            .number("replay", 0.0)
            .tensor("chains", buffer),
    }
}

/// A version 2 file (a version 1 file is first brought to version 2 by [`v1_to_v2`]).
pub(super) fn from_v2(value: serde_json::Value) -> Result<ModelFile, String> {
    let f: FileV2 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let (objective, training) = match f.training {
        None => (None, None),
        Some(t) => {
            let Some(s) = t.settings else {
                return Err(
                    "a version 1 checkpoint keeps no training settings (loss, batch, seed), so it cannot be resumed exactly; sample its model, or start a new run"
                        .into(),
                );
            };
            let record = record_of(&s.loss, &f.extra, t.buffer.as_ref());
            let settings = Settings {
                batch: s.batch,
                lr: s.lr,
                schedule: s.schedule,
                clip: s.clip,
                seed: s.seed,
                precision: Precision::F64,
                ..Settings::default()
            };
            let training = TrainingState {
                step: t.step,
                optimizer: t.optimizer.merged(t.extra_optimizer),
                settings,
                target_steps: t.target_steps,
                average: None,
            };
            (Some(record), Some(training))
        }
    };
    Ok(ModelFile {
        network: Network::Model(f.model),
        objective,
        training,
        data: f.data,
    })
}

/// A version 1 file: the σ ladder and the data name lived in a free-form `meta` object. Its ladder moves to
/// the model; a noise-conditional model without one cannot be used and is an error naming the version.
pub(super) fn v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, String> {
    let meta = v
        .get_mut("meta")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    let conditioned = v
        .pointer("/model/conditioning")
        .and_then(|c| c.as_str())
        .is_some_and(|c| c != "None");
    let sigmas = meta.get("sigmas").cloned();
    if let Some(model) = v.get_mut("model").and_then(|m| m.as_object_mut()) {
        if conditioned {
            let s = sigmas.ok_or(
                "a version 1 file of a noise-conditional model without its σ ladder (`meta.sigmas`)",
            )?;
            model.insert("sigmas".into(), s);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("meta");
        obj.insert("version".into(), 2.into());
        if let Some(d) = meta.get("data").and_then(|d| d.as_str()) {
            obj.insert("data".into(), d.into());
        }
    }
    Ok(v)
}

#[derive(Deserialize)]
struct DiffusionConfig {
    steps: usize,
    batch: usize,
    lr: f64,
    weighting: Weighting,
    seed: u64,
    #[serde(default)]
    precision: Precision,
}

#[derive(Deserialize)]
struct FitState {
    step: usize,
    optimizer: Adam,
}

#[derive(Deserialize)]
struct DiffusionTraining {
    config: DiffusionConfig,
    state: FitState,
}

#[derive(Deserialize)]
struct DiffusionV1 {
    model: TimeModel,
    standardization: Option<Standardization>,
    data: String,
    #[serde(default)]
    training: Option<DiffusionTraining>,
}

/// The format a diffusion model file had before every model shared one.
pub const DIFFUSION_FORMAT: &str = "stein-diffusion";

/// A `stein-diffusion` version 1 file: its standardisation moves into the model, its training settings (a
/// cosine schedule over the run's steps to 5%, the gradient clipped at 1) become the run's settings.
pub(super) fn from_diffusion_v1(value: serde_json::Value) -> Result<ModelFile, String> {
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(1) {
        return Err(format!(
            "a {DIFFUSION_FORMAT} file of version {version:?}; this build reads version 1 of that format"
        ));
    }
    let f: DiffusionV1 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let mut model = f.model;
    model.standardization = f.standardization;
    let (objective, training) = match f.training {
        None => (None, None),
        Some(t) => {
            let c = t.config;
            let settings = Settings {
                batch: c.batch,
                lr: c.lr,
                schedule: Schedule::Cosine {
                    total: c.steps,
                    min_factor: 0.05,
                },
                clip: Some(1.0),
                seed: c.seed,
                precision: c.precision,
                ..Settings::default()
            };
            let record = Record::new("diffusion-dsm").choice("weighting", c.weighting.name());
            let training = TrainingState {
                step: t.state.step,
                optimizer: t.state.optimizer,
                settings,
                target_steps: Some(c.steps),
                average: None,
            };
            (Some(record), Some(training))
        }
    };
    Ok(ModelFile {
        network: Network::Diffusion(model),
        objective,
        training,
        data: f.data,
    })
}
