//! Model files (feature `io`): versioned JSON written atomically, validated in full on load, files of the
//! previous version migrated; the run folder of the training loop (metrics and checkpoints); export of the
//! weights to safetensors for PyTorch users.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::io::ModelFile;
//! use stein_models::nn::{Activation, Model};
//!
//! let dir = std::env::temp_dir().join(format!("stein-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let model = Model::energy(2, &[8], Activation::Silu, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! ModelFile::new(model.clone()).save(dir.join("m.json")).unwrap();
//! assert_eq!(ModelFile::load(dir.join("m.json")).unwrap().model, model);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use crate::error::ModelError;
use crate::nn::Model;
use crate::optim::Adam;
use crate::train::{LogRecord, RunSettings, MAX_STEPS};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use stein_autodiff::Tensor;
use stein_scores::files::{describe, write_atomic, write_atomic_with};

/// The `format` field of every Stein model file.
pub const FORMAT: &str = "stein-model";
/// The current file version. Version 1 files (σ ladder and run notes in a free-form `meta` object) are
/// migrated on load.
pub const VERSION: u32 = 2;
/// The largest model file read (bytes); checked before reading.
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// The most extra learned tensors a file may hold.
pub const MAX_EXTRA: usize = 16;

/// The kinds of file Stein writes that hold a model, told apart by their `format` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A score or energy model, or its checkpoint ([`FORMAT`]).
    Model,
    /// A diffusion model, or its checkpoint ([`crate::diffusion::file::FORMAT`]).
    Diffusion,
}

impl FileKind {
    /// The kind whose `format` field reads `format`.
    pub fn from_format(format: &str) -> Option<FileKind> {
        match format {
            FORMAT => Some(FileKind::Model),
            crate::diffusion::file::FORMAT => Some(FileKind::Diffusion),
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

/// What a model file holds: the model (with its σ ladder and standardisation), and for checkpoints the
/// training state needed to resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// File version ([`VERSION`]).
    pub version: u32,
    /// The model (architecture, parameters, σ ladder, standardisation).
    pub model: Model,
    /// Extra learned tensors (NCE's log Z), by name.
    #[serde(default)]
    pub extra: Vec<(String, Tensor)>,
    /// Training state, for checkpoints.
    #[serde(default)]
    pub training: Option<TrainingState>,
    /// The training data: a built-in set's name or a file's path (for the record).
    #[serde(default)]
    pub data: String,
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
    /// The loss and settings of the steps taken (absent in version 1 files).
    #[serde(default)]
    pub settings: Option<RunSettings>,
    /// The total of steps the run was asked for (absent in files written before it was kept): a run
    /// continued without a new total goes on to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_steps: Option<usize>,
}

impl PartialEq for TrainingState {
    fn eq(&self, o: &Self) -> bool {
        self.step == o.step && self.buffer == o.buffer && self.settings == o.settings
    }
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

impl ModelFile {
    /// A file holding `model` alone.
    pub fn new(model: Model) -> Self {
        ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            model,
            extra: Vec::new(),
            training: None,
            data: String::new(),
        }
    }

    /// Write atomically: the file at `path` is either the old one or the complete new one, never a torn
    /// write, and a failed write leaves no temporary file. Non-finite parameters are refused (JSON cannot
    /// hold them, and they are never worth keeping).
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
        write_atomic_with(path, |w| {
            serde_json::to_writer(&mut *w, self).map_err(std::io::Error::other)
        })
        .map_err(|e| io_error(path, &e))
    }

    /// Read and validate a model file ([`ModelFile::validate`]); a version 1 file is migrated. Every
    /// failure names the file and the problem; nothing in a file can make this panic or allocate beyond the
    /// file's own size.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bad = |reason: String| ModelError::BadModelFile {
            path: path.display().to_string(),
            reason,
        };
        let bytes = read_model_bytes(path)?;
        Self::from_slice(&bytes).map_err(bad)
    }

    /// Parse and validate the bytes of a model file (what [`ModelFile::load`] does after reading).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<serde_json::Value>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(format!("no `\"format\": \"{FORMAT}\"` field"));
        }
        let file: ModelFile = match head.version.as_ref().and_then(|v| v.as_u64()) {
            Some(2) => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
            Some(1) => migrate_v1(bytes)?,
            Some(v) => {
                return Err(format!(
                    "version {v}; this build reads versions 1 and {VERSION}"
                ))
            }
            None => return Err("no version field".into()),
        };
        file.validate()?;
        Ok(file)
    }

    /// Check everything the model, the sampler and the training loop rely on: the model
    /// ([`Model::validate`]), the extra tensors (at most [`MAX_EXTRA`], finite), and for a checkpoint the step
    /// (≤ [`MAX_STEPS`]), the optimisers' moments against the parameters they update, the persistent
    /// negatives' shape, and the saved settings and loss against the model.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if self.extra.len() > MAX_EXTRA {
            return Err(format!(
                "{} extra tensors; at most {MAX_EXTRA}",
                self.extra.len()
            ));
        }
        if let Some((n, _)) = self
            .extra
            .iter()
            .find(|(_, t)| t.data().iter().any(|v| !v.is_finite()))
        {
            return Err(format!("extra tensor `{n}` is not finite"));
        }
        let Some(state) = &self.training else {
            return Ok(());
        };
        if state.step > MAX_STEPS {
            return Err(format!(
                "step {} is out of range (at most {MAX_STEPS})",
                state.step
            ));
        }
        state.optimizer.validate(&self.model.net.params)?;
        let extra: Vec<Tensor> = self.extra.iter().map(|(_, t)| t.clone()).collect();
        state
            .extra_optimizer
            .validate(&extra)
            .map_err(|e| format!("extra tensors: {e}"))?;
        if let Some(b) = &state.buffer {
            if b.cols() != self.model.dim || b.rows() == 0 || b.rows() > crate::train::MAX_BATCH {
                return Err(format!(
                    "persistent negatives of shape {:?} for a model of dimension {}",
                    b.shape(),
                    self.model.dim
                ));
            }
            if b.data().iter().any(|v| !v.is_finite()) {
                return Err("persistent negatives are not finite".into());
            }
        }
        if let Some(s) = &state.settings {
            s.validate().map_err(|e| format!("saved settings: {e}"))?;
            s.loss.check_model(&self.model)?;
        }
        Ok(())
    }

    /// Export the network's weights to safetensors (float64), named and shaped as PyTorch's
    /// `nn.Sequential` of `nn.Linear` layers expects: `"{2l}.weight"` (`out × in`) and `"{2l}.bias"` (`out`),
    /// so `model.load_state_dict(safetensors.torch.load_file(path))` works for the same architecture.
    pub fn export_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
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
        let mut views = Vec::with_capacity(tensors.len());
        for (n, shape, bytes) in &tensors {
            let v =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape.clone(), bytes)
                    .map_err(|e| ModelError::BadParameter {
                        param: "model",
                        reason: format!("tensor {n}: {e}"),
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

/// A version 1 file: the σ ladder and the data name lived in a free-form `meta` object. Its ladder moves to
/// the model; a noise-conditional model without one cannot be used and is an error naming the version.
fn migrate_v1(bytes: &[u8]) -> Result<ModelFile, String> {
    let mut v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
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
        obj.insert("version".into(), VERSION.into());
        if let Some(d) = meta.get("data").and_then(|d| d.as_str()) {
            obj.insert("data".into(), d.into());
        }
    }
    serde_json::from_value(v).map_err(|e| format!("version 1 file: {e}"))
}

/// The files of a training run in a folder: `metrics.jsonl` (one JSON line per logged step, see
/// [`LogRecord`]) and `checkpoint.json`, both written so that nothing is lost or duplicated.
///
/// Opening the folder for a run that continues from step k keeps the metric lines of steps ≤ k and drops the
/// rest (lines an interrupted run wrote after its last checkpoint, which the resumed run writes again); the
/// file is rewritten atomically, so it is a regular file even if a symbolic link stood in its place.
pub struct RunFolder {
    metrics_path: PathBuf,
    metrics: std::fs::File,
    checkpoint: PathBuf,
    last: Option<PathBuf>,
}

impl RunFolder {
    /// Open (creating) `dir` for a run whose next step is `step`.
    pub fn open(dir: &Path, step: usize) -> Result<Self, ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let metrics_path = dir.join("metrics.jsonl");
        let kept = match std::fs::File::open(&metrics_path) {
            Ok(f) => {
                let mut kept = Vec::new();
                for line in std::io::BufReader::new(f).lines() {
                    let line = line.map_err(|e| io_error(&metrics_path, &e))?;
                    let at = serde_json::from_str::<LogRecord>(&line).map(|r| r.step);
                    if matches!(at, Ok(s) if s <= step) {
                        kept.push(line);
                    }
                }
                kept
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(&metrics_path, &e)),
        };
        write_atomic_with(&metrics_path, |w| {
            kept.iter().try_for_each(|l| writeln!(w, "{l}"))
        })
        .map_err(|e| io_error(&metrics_path, &e))?;
        let metrics = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(|e| io_error(&metrics_path, &e))?;
        let checkpoint = dir.join("checkpoint.json");
        let last = checkpoint.exists().then(|| checkpoint.clone());
        Ok(RunFolder {
            metrics_path,
            metrics,
            checkpoint,
            last,
        })
    }

    /// Append one metrics line.
    pub fn log(&mut self, record: &LogRecord) -> Result<(), ModelError> {
        let line = serde_json::to_string(record).map_err(|e| ModelError::Io {
            path: self.metrics_path.display().to_string(),
            reason: e.to_string(),
        })?;
        writeln!(self.metrics, "{line}").map_err(|e| io_error(&self.metrics_path, &e))
    }

    /// The (step, loss) pairs of `dir/metrics.jsonl`, in order: the loss curve of the whole run, across
    /// resumptions. Lines that do not parse are skipped; a missing file gives none.
    pub fn losses(dir: &Path) -> Result<Vec<(usize, f64)>, ModelError> {
        let path = dir.join("metrics.jsonl");
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path, &e)),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|e| io_error(&path, &e))?;
            if let Ok(r) = serde_json::from_str::<LogRecord>(&line) {
                out.push((r.step, r.loss));
            }
        }
        Ok(out)
    }

    /// Write the checkpoint atomically.
    pub fn checkpoint(&mut self, file: &ModelFile) -> Result<(), ModelError> {
        file.save(&self.checkpoint)?;
        self.last = Some(self.checkpoint.clone());
        Ok(())
    }

    /// The last checkpoint written, or found when the folder was opened.
    pub fn last_checkpoint(&self) -> Option<&Path> {
        self.last.as_deref()
    }
}
