//! Model files (feature `io`): one versioned JSON format for every network — score, energy and diffusion
//! models, and their checkpoints — written atomically, validated in full on load; files of earlier versions
//! (and the diffusion models' former format) migrated (the private `legacy` module); the run folder of the training loop
//! ([`RunFolder`]); export of the weights to safetensors for PyTorch users.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::io::ModelFile;
//! use stein_models::nn::{Activation, Model};
//!
//! let dir = std::env::temp_dir().join(format!("stein-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let model = Model::energy(2, &[8], Activation::Silu, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! ModelFile::new(model.clone().into()).save(dir.join("m.json")).unwrap();
//! assert_eq!(ModelFile::load(dir.join("m.json")).unwrap().network, model.into());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod legacy;
mod run_folder;

pub use legacy::DIFFUSION_FORMAT;
pub use run_folder::RunFolder;

use crate::diffusion::net::TimeModel;
use crate::error::ModelError;
use crate::fit::settings::{Settings, MAX_STEPS};
use crate::network::{Network, NetworkKind};
use crate::nn::Model;
use crate::objective::Record;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::path::Path;
use stein_autodiff::Tensor;
use stein_scores::files::{describe, write_atomic, write_atomic_with};

/// The `format` field of every Stein model file.
pub const FORMAT: &str = "stein-model";
/// The current file version. Versions 1 and 2 (score and energy models) and the former `stein-diffusion`
/// format are migrated on load.
pub const VERSION: u32 = 3;
/// The largest model file read (bytes); checked before reading.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// What a model file holds: the network (with its standardisation), the objective that trained it (its
/// settings and state), and for checkpoints where training stands.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The network.
    pub network: Network,
    /// The objective's record (always in checkpoints; in a finished model file when it was trained here).
    pub objective: Option<Record>,
    /// Where training stands, for checkpoints.
    pub training: Option<TrainingState>,
    /// The training data: a built-in set's name or a file's path (for the record).
    pub data: String,
}

/// Everything needed to continue a run exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingState {
    /// Steps completed.
    pub step: usize,
    /// Adam's state over the network's parameters, then the objective's own tensors.
    pub optimizer: Adam,
    /// The run's settings.
    pub settings: Settings,
    /// The total of steps the run was last asked for: a run continued without a new total goes on to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_steps: Option<usize>,
    /// The moving average of the network's parameters, for runs with [`Settings::ema`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<Vec<Tensor>>,
}

impl PartialEq for TrainingState {
    fn eq(&self, o: &Self) -> bool {
        self.step == o.step && self.settings == o.settings && self.target_steps == o.target_steps
    }
}

/// The kinds of Stein file, told apart by their `format` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A model or checkpoint of any network ([`FORMAT`]).
    Model,
    /// A diffusion model or checkpoint of the former format ([`DIFFUSION_FORMAT`]), read and migrated.
    Diffusion,
}

impl FileKind {
    /// The kind whose `format` field reads `format`.
    pub fn from_format(format: &str) -> Option<FileKind> {
        match format {
            FORMAT => Some(FileKind::Model),
            DIFFUSION_FORMAT => Some(FileKind::Diffusion),
            _ => None,
        }
    }
}

/// The kind of the Stein file at `path`: the top-level `format` field of the parsed JSON (pretty-printed or
/// not, wherever the field stands). A file that does not parse but whose first 64 KiB hold a `"format"` naming
/// a Stein format (a damaged or truncated model) counts as that kind, so it is never taken for anything else
/// and its loader reports what is wrong with it. `None` for any other file, a folder or an unreadable path.
///
/// ```
/// use stein_models::io::{file_kind, FileKind};
/// let dir = std::env::temp_dir().join(format!("stein-kind-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("a.json"), "{\n  \"version\": 9,\n  \"format\": \"stein-diffusion\"\n}").unwrap();
/// std::fs::write(dir.join("b.json"), "{\"format\": \"stein-model\", \"model\": [1, 2,").unwrap();
/// std::fs::write(dir.join("c.csv"), "x0,x1\n1,2\n").unwrap();
/// assert_eq!(file_kind(&dir.join("a.json")), Some(FileKind::Diffusion));
/// assert_eq!(file_kind(&dir.join("b.json")), Some(FileKind::Model));
/// assert_eq!(file_kind(&dir.join("c.csv")), None);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn file_kind(path: &Path) -> Option<FileKind> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut head)
        .ok()?;
    if !head.iter().any(|b| !b.is_ascii_whitespace()) || head.trim_ascii_start()[0] != b'{' {
        return None;
    }
    #[derive(Deserialize)]
    struct Head {
        format: Option<String>,
    }
    let parsed = if meta.len() <= MAX_FILE_BYTES {
        std::fs::File::open(path)
            .ok()
            .and_then(|f| serde_json::from_reader::<_, Head>(std::io::BufReader::new(f)).ok())
    } else {
        None
    };
    match parsed {
        Some(h) => h.format.as_deref().and_then(FileKind::from_format),
        None => format_in_head(&head),
    }
}

/// The step a checkpoint of either kind was written at (its training state's `step`); `None` for a file that
/// is not a readable checkpoint.
pub fn checkpoint_step(path: &Path) -> Option<usize> {
    #[derive(Deserialize)]
    struct Step {
        step: usize,
    }
    #[derive(Deserialize)]
    struct Diffusion {
        state: Step,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Training {
        Model(Step),
        Diffusion(Diffusion),
    }
    #[derive(Deserialize)]
    struct Head {
        training: Option<Training>,
    }
    file_kind(path)?;
    let f = std::fs::File::open(path).ok()?;
    let head: Head = serde_json::from_reader(std::io::BufReader::new(f)).ok()?;
    match head.training? {
        Training::Model(s) => Some(s.step),
        Training::Diffusion(d) => Some(d.state.step),
    }
}

/// The network kind named by a `"kind": "…"` pair in the bytes of a file that does not parse.
fn kind_in_head(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head);
    let i = text.find("\"kind\"")?;
    let value = text[i + 6..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    NetworkKind::parse(value.split('"').next()?).map(NetworkKind::name)
}

/// The Stein format named by a `"format": "…"` pair in the bytes of a file that does not parse.
fn format_in_head(head: &[u8]) -> Option<FileKind> {
    let text = String::from_utf8_lossy(head);
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("\"format\"") {
        rest = &rest[i + 8..];
        let value = rest
            .trim_start()
            .strip_prefix(':')?
            .trim_start()
            .strip_prefix('"')?;
        if let Some(kind) = value.split('"').next().and_then(FileKind::from_format) {
            return Some(kind);
        }
    }
    None
}

/// The bytes of a model file of any kind: a named error for a folder, a file over [`MAX_FILE_BYTES`] (checked
/// before reading) or a failed read.
pub(crate) fn read_model_bytes(path: &Path) -> Result<Vec<u8>, ModelError> {
    let bad = |reason: String| ModelError::BadModelFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if meta.is_dir() {
        return Err(bad("a folder, not a file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(bad(format!(
            "{} bytes; model files of at most {MAX_FILE_BYTES} bytes are read",
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| io_error(path, &e))
}

pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        reason: describe(e),
    }
}

/// The network as stored: its kind beside it, so a reader knows which it is.
#[derive(Serialize, Deserialize)]
struct Stored<M> {
    format: String,
    version: u32,
    kind: String,
    model: M,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    objective: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<TrainingState>,
    #[serde(default)]
    data: String,
}

impl ModelFile {
    /// A file holding `network` alone.
    pub fn new(network: Network) -> Self {
        ModelFile {
            network,
            objective: None,
            training: None,
            data: String::new(),
        }
    }

    /// Write atomically: the file at `path` is either the old one or the complete new one, never a torn
    /// write, and a failed write leaves no temporary file. A file that does not validate (non-finite
    /// parameters among them: JSON cannot hold them, and they are never worth keeping) is refused.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        self.validate().map_err(|e| ModelError::BadParameter {
            param: "model",
            value: path.display().to_string(),
            reason: format!("refusing to save it: {e}"),
        })?;
        let kind = self.network.kind().name().to_string();
        let stored = |w: &mut std::io::BufWriter<std::fs::File>| {
            let (objective, training, data) = (
                self.objective.clone(),
                self.training.clone(),
                self.data.clone(),
            );
            serde_json::to_writer(
                &mut *w,
                &Stored {
                    format: FORMAT.into(),
                    version: VERSION,
                    kind,
                    model: &self.network,
                    objective,
                    training,
                    data,
                },
            )
            .map_err(std::io::Error::other)
        };
        write_atomic_with(path, stored).map_err(|e| io_error(path, &e))
    }

    /// Read and validate a model file ([`ModelFile::validate`]); a file of an earlier version, or of the
    /// former diffusion format, is migrated. Every failure names the file and the problem; nothing in a file
    /// can make this panic or allocate beyond the file's own size.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = read_model_bytes(path)?;
        Self::from_slice(&bytes).map_err(|reason| ModelError::BadModelFile {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parse and validate the bytes of a model file (what [`ModelFile::load`] does after reading).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<serde_json::Value>,
            kind: Option<String>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| {
            // a damaged file says what it was meant to be when its first bytes still do
            let start = &bytes[..bytes.len().min(64 << 10)];
            match (format_in_head(start), kind_in_head(start)) {
                (Some(_), Some(kind)) => format!("a damaged {kind} model file, not JSON ({e})"),
                (Some(FileKind::Diffusion), None) => {
                    format!("a damaged diffusion model file, not JSON ({e})")
                }
                (Some(_), None) => format!("a damaged model file, not JSON ({e})"),
                (None, _) => format!("not JSON ({e})"),
            }
        })?;
        let file = match head.format.as_deref() {
            Some(DIFFUSION_FORMAT) => {
                let v: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                legacy::from_diffusion_v1(v)
                    .map_err(|e| format!("not a diffusion model file ({e})"))?
            }
            Some(FORMAT) => match head.version.as_ref().and_then(|v| v.as_u64()) {
                Some(3) => {
                    let kind = head
                        .kind
                        .as_deref()
                        .and_then(NetworkKind::parse)
                        .ok_or_else(|| {
                            format!("kind {:?}; need energy, score or diffusion", head.kind)
                        })?;
                    Self::from_v3(bytes, kind)?
                }
                Some(v @ (1 | 2)) => {
                    let mut value: serde_json::Value =
                        serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                    if v == 1 {
                        value = legacy::v1_to_v2(value)?;
                    }
                    legacy::from_v2(value).map_err(|e| format!("version {v} file: {e}"))?
                }
                Some(v) => {
                    return Err(format!(
                        "version {v}; this build reads versions 1 to {VERSION}"
                    ))
                }
                None => return Err("no version field".into()),
            },
            _ => return Err(format!("no `\"format\": \"{FORMAT}\"` field")),
        };
        file.validate().map_err(|e| e.to_string())?;
        Ok(file)
    }

    fn from_v3(bytes: &[u8], kind: NetworkKind) -> Result<Self, String> {
        let fits = |e: serde_json::Error| {
            format!(
                "the file does not read as a model of the kind it names ({}): {e}",
                kind.name()
            )
        };
        let (network, objective, training, data) = if kind == NetworkKind::Diffusion {
            let s: Stored<TimeModel> = serde_json::from_slice(bytes).map_err(fits)?;
            (Network::Diffusion(s.model), s.objective, s.training, s.data)
        } else {
            let s: Stored<Model> = serde_json::from_slice(bytes).map_err(fits)?;
            (Network::Model(s.model), s.objective, s.training, s.data)
        };
        if network.kind() != kind {
            return Err(format!(
                "kind {} but the model is a {} model",
                kind.name(),
                network.kind().name()
            ));
        }
        Ok(ModelFile {
            network,
            objective,
            training,
            data,
        })
    }

    /// Check everything the samplers and the training loop rely on: the network ([`Network::validate`]), the
    /// objective (readable, and able to train this network in the saved precision), and for a checkpoint the
    /// step (≤ [`MAX_STEPS`]), the settings, and the optimiser's moments against the tensors they update.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.network.validate()?;
        let objective = match &self.objective {
            // an objective that needs code to be rebuilt (esm) keeps its name only: nothing more to check
            Some(r) if r.name == "esm" => None,
            Some(r) => Some(crate::objective::from_record(r)?),
            None => None,
        };
        let Some(state) = &self.training else {
            return Ok(());
        };
        let bad = |param, value: String, reason: &str| ModelError::BadParameter {
            param,
            value,
            reason: reason.into(),
        };
        if self.objective.is_none() {
            return Err(bad(
                "objective",
                "missing".into(),
                "a checkpoint names the objective it continues",
            ));
        }
        if state.step > MAX_STEPS {
            return Err(bad(
                "step",
                state.step.to_string(),
                "out of range (at most 2⁴⁰)",
            ));
        }
        state.settings.validate()?;
        if let Some(o) = &objective {
            o.check(&self.network)?;
        }
        let extra: &[Tensor] = objective.as_ref().map_or(&[], |o| o.extra());
        let shapes: Vec<(usize, usize)> = self
            .network
            .params()
            .iter()
            .chain(extra)
            .map(Tensor::shape)
            .collect();
        state.optimizer.validate(&shapes)
    }

    /// Export the network's weights to safetensors (float64), named and shaped as PyTorch's
    /// `nn.Sequential` of `nn.Linear` layers expects: `"{2l}.weight"` (`out × in`) and `"{2l}.bias"` (`out`),
    /// so `model.load_state_dict(safetensors.torch.load_file(path))` works for the same architecture.
    pub fn export_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let net = match &self.network {
            Network::Model(m) => &m.net,
            Network::Diffusion(m) => &m.net,
        };
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
        let mut views = Vec::with_capacity(tensors.len());
        for (n, shape, bytes) in &tensors {
            let v =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape.clone(), bytes)
                    .map_err(|e| ModelError::BadParameter {
                        param: "model",
                        value: n.clone(),
                        reason: e.to_string(),
                    })?;
            views.push((n.clone(), v));
        }
        let out = safetensors::serialize(views, None).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &out).map_err(|e| io_error(path, &e))
    }
}
