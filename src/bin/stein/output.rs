//! Where the command line writes, and what it refuses to touch: a run folder is new, empty, or (with
//! `--force`) explicitly given over; an output file is new or (with `--force`) replaced, never a model or
//! checkpoint file and never through a symbolic link; every file is written atomically.

use crate::error::CliError;
use std::io::Write;
use std::path::{Path, PathBuf};
use stein::autodiff::Tensor;
use stein::scores::files::{describe, write_atomic_with};

/// The files a run folder holds; a folder with any of them holds a run.
pub const RUN_FILES: [&str; 3] = ["checkpoint.json", "model.json", "metrics.jsonl"];

pub use crate::error::io_err;

/// Check that `path` may be written: it does not exist, or `force` is set and it is neither a folder nor a
/// model/checkpoint file. A symbolic link counts as an existing file (with `force` the link is replaced,
/// never the file it points to).
pub fn check_output(path: &Path, force: bool) -> Result<(), CliError> {
    let name = path.display();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        return Err(CliError::Usage(format!("{name} is a folder, not a file")));
    }
    if stein::models::io::file_kind(path).is_some() {
        return Err(CliError::Usage(format!(
            "refusing to overwrite {name}: it is a model or checkpoint file"
        )));
    }
    if force {
        return Ok(());
    }
    let what = if meta.file_type().is_symlink() {
        "is a symbolic link"
    } else {
        "exists"
    };
    Err(CliError::Usage(format!(
        "{name} {what}; add --force to replace it, or choose another --out"
    )))
}

/// Check a run folder given with `--out`: absent, empty, or `force`.
pub fn check_run_dir(dir: &Path, force: bool) -> Result<(), CliError> {
    let name = dir.display();
    match std::fs::metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(CliError::Usage(format!(
            "--out {name} is a file, not a folder"
        ))),
        Ok(_) => {
            // what killed processes left (staging folders, temporary files) is nobody's
            crate::staging::clean_leftovers(dir);
            let holds_run = RUN_FILES.iter().any(|f| dir.join(f).exists());
            let empty = std::fs::read_dir(dir)
                .map_err(|e| io_err(dir, &e))?
                .next()
                .is_none();
            if force || empty {
                Ok(())
            } else if holds_run {
                Err(CliError::Usage(format!(
                    "{name} already holds a run: add --resume {name} to continue it, --force to start over in it, or choose another --out"
                )))
            } else {
                Err(CliError::Usage(format!(
                    "{name} is not empty: add --force to write into it, or choose another --out"
                )))
            }
        }
    }
}

/// A new folder `base/<stem>-<YYYYMMDD-HHMMSS>[-k]`, created atomically: two runs started in the same second
/// get different folders.
pub fn claim_new_dir(base: &Path, stem: &str) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(base).map_err(|e| io_err(base, &e))?;
    let stamp = timestamp();
    for k in 1..=10_000 {
        let name = if k == 1 {
            format!("{stem}-{stamp}")
        } else {
            format!("{stem}-{stamp}-{k}")
        };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&dir, &e)),
        }
    }
    Err(CliError::Usage(format!(
        "could not find a free folder name under {}",
        base.display()
    )))
}

/// UTC date and time as `YYYYMMDD-HHMMSS`.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Write points as CSV (`x0,x1,…` header), atomically.
pub fn write_csv(path: &Path, t: &Tensor) -> Result<(), CliError> {
    write_atomic_with(path, |w| {
        let header: Vec<String> = (0..t.cols()).map(|j| format!("x{j}")).collect();
        writeln!(w, "{}", header.join(","))?;
        for i in 0..t.rows() {
            let row: Vec<String> = t.row_slice(i).iter().map(|v| v.to_string()).collect();
            writeln!(w, "{}", row.join(","))?;
        }
        Ok(())
    })
    .map_err(|e| io_err(path, &e))
}

/// Write text, atomically.
pub fn write_text(path: &Path, text: &str) -> Result<(), CliError> {
    stein::scores::files::write_atomic(path, text.as_bytes()).map_err(|e| io_err(path, &e))
}

/// Standard output that reports a closed pipe or a full disk as an error instead of panicking.
pub struct Stdout;

impl Stdout {
    pub fn line(&mut self, text: impl std::fmt::Display) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|_| out.flush())
            .map_err(|e| CliError::Stdout(describe(&e)))
    }
}
