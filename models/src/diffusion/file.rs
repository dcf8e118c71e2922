//! Diffusion model files (feature `io`): versioned JSON of a [`TimeModel`] with its SDE and the data's
//! standardisation, written atomically and validated in full on load.

use super::net::TimeModel;
use super::train::{DiffusionConfig, FitState};
use crate::data::Standardization;
use crate::ModelError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use stein_scores::files::write_atomic_with;

/// The `format` field of a diffusion model file.
pub const FORMAT: &str = "stein-diffusion";
/// The file version.
pub const VERSION: u32 = 1;
/// What a diffusion model file holds.
///
/// ```
/// use rand::SeedableRng;
/// use stein_models::diffusion::file::DiffusionFile;
/// use stein_models::diffusion::net::{Output, TimeModel};
/// use stein_models::diffusion::Sde;
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let model = TimeModel::new(2, &[16], Output::Noise, Sde::vp(0.1, 20.0).unwrap(), &mut rng).unwrap();
/// let path = std::env::temp_dir().join(format!("diffusion-doc-{}.json", std::process::id()));
/// DiffusionFile::new(model.clone(), None, "ring").save(&path).unwrap();
/// assert_eq!(DiffusionFile::load(&path).unwrap().model, model);
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffusionFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The model (network, Fourier frequencies, output reading, SDE).
    pub model: TimeModel,
    /// The map from data to model coordinates (`None`: the identity).
    pub standardization: Option<Standardization>,
    /// What the model was trained on (a built-in name or a path).
    pub data: String,
    /// Where training stands, in a checkpoint (absent from a finished model file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<DiffusionTraining>,
}

/// A checkpoint's training state: the settings of the run and how far it went.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DiffusionTraining {
    /// The run's settings (its `steps` is the total the run was started for).
    pub config: DiffusionConfig,
    /// Steps done, Adam's moments, the losses so far.
    pub state: FitState,
}

impl PartialEq for DiffusionTraining {
    fn eq(&self, o: &Self) -> bool {
        self.config == o.config
            && self.state.step == o.state.step
            && self.state.losses == o.state.losses
    }
}

impl DiffusionFile {
    /// A file of the current version.
    pub fn new(model: TimeModel, standardization: Option<Standardization>, data: &str) -> Self {
        DiffusionFile {
            format: FORMAT.into(),
            version: VERSION,
            model,
            standardization,
            data: data.into(),
            training: None,
        }
    }

    /// Check everything a sampler relies on: format, version, the model ([`TimeModel::validate`]) and the
    /// standardisation's dimension.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format `{}`, not `{FORMAT}`", self.format));
        }
        if self.version != VERSION {
            return Err(format!(
                "version {}; this build reads version {VERSION}",
                self.version
            ));
        }
        self.model.validate()?;
        if let Some(st) = &self.standardization {
            st.validate(self.model.dim)?;
        }
        if let Some(tr) = &self.training {
            let c = &tr.config;
            if c.batch == 0 || c.batch > 1 << 20 || !(c.lr > 0.0 && c.lr.is_finite()) {
                return Err(format!(
                    "training settings: batch {}, lr {}: need 1 to 2²⁰, positive",
                    c.batch, c.lr
                ));
            }
            tr.state
                .optimizer
                .validate(&self.model.net.params)
                .map_err(|e| format!("training state: the optimiser's moments: {e}"))?;
        }
        Ok(())
    }

    /// Write atomically (the old file or the whole new one, never a torn write); non-finite parameters are
    /// refused.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        self.validate().map_err(|reason| ModelError::BadParameter {
            param: "model",
            reason: format!("{reason}; refusing to save {}", path.display()),
        })?;
        write_atomic_with(path, |w| {
            serde_json::to_writer(&mut *w, self).map_err(std::io::Error::other)
        })
        .map_err(|e| crate::io::io_error(path, &e))
    }

    /// Read and validate a file; every failure names the file and the problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bad = |reason: String| ModelError::BadModelFile {
            path: path.display().to_string(),
            reason,
        };
        let bytes = crate::io::read_model_bytes(path)?;
        Self::from_slice(&bytes).map_err(bad)
    }

    /// Parse and validate the bytes of a file.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        let f: DiffusionFile = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a diffusion model file ({e})"))?;
        f.validate()?;
        Ok(f)
    }
}
