//! Model files: versioned JSON written atomically (temp file + fsync + rename), validated on load, and
//! export of the weights to safetensors for PyTorch users.

use crate::error::ModelError;
use crate::nn::Model;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use stein_autodiff::Tensor;

/// The `format` field of every Stein model file.
pub const FORMAT: &str = "stein-model";
/// The current file version.
pub const VERSION: u32 = 1;

/// What a model file holds: the model, and for checkpoints the training state needed to resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// File version ([`VERSION`]).
    pub version: u32,
    /// The model (architecture and parameters).
    pub model: Model,
    /// Extra learned tensors (e.g. NCE's log Z), by name.
    #[serde(default)]
    pub extra: Vec<(String, Tensor)>,
    /// Training state, for checkpoints.
    #[serde(default)]
    pub training: Option<TrainingState>,
    /// Free-form description (data set, loss, …).
    #[serde(default)]
    pub meta: serde_json::Value,
}

/// Everything needed to resume training exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingState {
    /// Steps completed.
    pub step: usize,
    /// The optimiser's moments.
    pub optimizer: Adam,
    /// The moments of the extra tensors' optimiser (NCE's log Z).
    #[serde(default)]
    pub extra_optimizer: Adam,
    /// Persistent negatives (contrastive divergence), if any.
    #[serde(default)]
    pub buffer: Option<Tensor>,
}

impl PartialEq for TrainingState {
    fn eq(&self, o: &Self) -> bool {
        self.step == o.step && self.buffer == o.buffer
    }
}

impl ModelFile {
    /// A file holding `model` alone.
    pub fn new(model: Model) -> Self {
        ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            model,
            extra: Vec::new(),
            training: None,
            meta: serde_json::Value::Null,
        }
    }

    /// Write atomically: the file at `path` is either the old one or the complete new one, never a torn
    /// write. Non-finite parameters are refused (JSON cannot hold them, and they are never worth keeping).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        for (i, p) in self
            .model
            .net
            .params
            .iter()
            .chain(self.extra.iter().map(|(_, t)| t))
            .enumerate()
        {
            if let Some(v) = p.data().iter().find(|v| !v.is_finite()) {
                return Err(ModelError::BadParameter {
                    param: "model",
                    reason: format!("tensor {i} holds {v}; refusing to save {name}"),
                });
            }
        }
        let json = serde_json::to_vec(self).map_err(|e| ModelError::Io {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &json)
    }

    /// Read and validate a model file; every failure names the file and the problem, never panics.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| ModelError::BadModelFile {
            path: name.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad(format!("no `\"format\": \"{FORMAT}\"` field")));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == VERSION as u64 => {}
            Some(v) => {
                return Err(bad(format!(
                    "version {v}, this build reads version {VERSION}"
                )))
            }
            None => return Err(bad("no version field".into())),
        }
        let file: ModelFile = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        file.validate().map_err(bad)?;
        Ok(file)
    }

    /// Check the parameters against the architecture.
    fn validate(&self) -> Result<(), String> {
        let net = &self.model.net;
        if net.widths.len() < 2 || net.widths.contains(&0) {
            return Err(format!("bad layer widths {:?}", net.widths));
        }
        if net.params.len() != 2 * (net.widths.len() - 1) {
            return Err(format!(
                "{} parameter tensors for {} layers",
                net.params.len(),
                net.widths.len() - 1
            ));
        }
        for (l, w) in net.widths.windows(2).enumerate() {
            let (wt, b) = (&net.params[2 * l], &net.params[2 * l + 1]);
            if wt.shape() != (w[0], w[1]) || b.shape() != (1, w[1]) {
                return Err(format!(
                    "layer {l}: weight {:?} and bias {:?}, expected ({}, {}) and (1, {})",
                    wt.shape(),
                    b.shape(),
                    w[0],
                    w[1],
                    w[1]
                ));
            }
        }
        if let Some(v) = net
            .params
            .iter()
            .flat_map(|p| p.data())
            .find(|v| !v.is_finite())
        {
            return Err(format!("non-finite parameter {v}"));
        }
        Ok(())
    }

    /// Export the network's weights to safetensors (float64), named and shaped as PyTorch's
    /// `nn.Sequential` of `nn.Linear` layers expects: `"{2l}.weight"` (`out × in`) and `"{2l}.bias"` (`out`),
    /// so `model.load_state_dict(safetensors.torch.load_file(path))` works for the same architecture.
    pub fn export_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let net = &self.model.net;
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for l in 0..net.widths.len() - 1 {
            let (w, b) = (&net.params[2 * l], &net.params[2 * l + 1]);
            let (i, o) = w.shape();
            let mut bytes = Vec::with_capacity(8 * i * o);
            for r in 0..o {
                for c in 0..i {
                    bytes.extend_from_slice(&w.get(c, r).to_le_bytes());
                }
            }
            tensors.push((format!("{}.weight", 2 * l), vec![o, i], bytes));
            tensors.push((
                format!("{}.bias", 2 * l),
                vec![o],
                b.data().iter().flat_map(|v| v.to_le_bytes()).collect(),
            ));
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, shape, bytes)| {
                let v = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F64,
                    shape.clone(),
                    bytes,
                )
                .expect("shape and byte count agree");
                (n.clone(), v)
            })
            .collect();
        let out = safetensors::serialize(views, None).map_err(|e| ModelError::Io {
            path: name,
            reason: e.to_string(),
        })?;
        write_atomic(path, &out)
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| ModelError::Io {
        path: name.clone(),
        reason: e.to_string(),
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("model"),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
