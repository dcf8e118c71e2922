//! Helpers the command-line tests share: run the binary, a fresh temporary folder, an output as text.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `stein` with `args` in the current folder.
pub fn stein(args: &[&str]) -> Output {
    stein_in(Path::new("."), args)
}

/// Run `stein` with `args` in `dir`.
pub fn stein_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stein"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the stein binary runs")
}

/// A new empty folder `stein-<suite>-<name>-<pid>` in the temporary folder (an earlier one is removed).
pub fn tmp_dir(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stein-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// (rows, columns) of a CSV file with a header line.
pub fn csv_shape(csv: &Path) -> (usize, usize) {
    let t = std::fs::read_to_string(csv).unwrap();
    let mut lines = t.lines().skip(1);
    let cols = lines.next().unwrap().split(',').count();
    (1 + lines.count(), cols)
}
