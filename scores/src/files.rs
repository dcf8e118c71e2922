//! Files written whole or not at all. Every file Stein writes (pictures, model files, checkpoints, CSV) goes
//! through [`write_atomic_with`]: the bytes go to a new temporary file beside the target (created exclusively,
//! so it never opens an existing file or follows a symbolic link), are flushed to disk, and the temporary file
//! is renamed over the target. A reader sees the old file or the complete new one; a failed write (a full
//! disk, a closed pipe, an error in the writer) removes the temporary file and leaves the target untouched.
//! A target that is a symbolic link is replaced by the new file; the file it pointed to is not written.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("stein-files-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("hello.txt");
//! stein_scores::files::write_atomic(&path, b"hello").unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"hello");
//! // a writer that fails leaves the old file, and no temporary file, behind
//! let err = stein_scores::files::write_atomic_with(&path, |_| Err(std::io::Error::other("no")));
//! assert!(err.is_err());
//! assert_eq!(std::fs::read(&path).unwrap(), b"hello");
//! assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Write `bytes` to `path` atomically (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write to `path` atomically through a buffered writer: `write` fills the temporary file; on success it is
/// flushed, synced and renamed over `path`; on any error it is removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let (tmp, file) = create_temp(path)?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else if let Some(dir) = parent(path) {
        // make the rename itself durable (best effort: not every platform can open a directory)
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    result
}

fn parent(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(d) if d.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// A new, empty temporary file in the directory of `path`, created exclusively (never an existing file and
/// never through a symbolic link).
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = parent(path).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a temporary file beside it",
    ))
}

/// A one-line description of an I/O error, in words (no `Debug` output): "No space left on device (os
/// error 28)" becomes "no space left on device".
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => "unknown input/output error".into(),
    }
}
