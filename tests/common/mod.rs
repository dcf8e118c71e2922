//! Helpers the command-line tests share: run the binary, a fresh temporary folder, an output as text.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `stein` with `args` in the current folder.
pub fn stein(args: &[&str]) -> Output {
    stein_in(Path::new("."), args)
}

/// Run `stein likelihood --model <model> --data <data>` with `extra` flags after them.
pub fn likelihood(model: &Path, data: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "likelihood",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
    ];
    args.extend(extra);
    stein(&args)
}

/// Run `stein sample --model <model> --out <out>` with `extra` flags after them.
pub fn sample(model: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sample",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    stein(&args)
}

/// Run `stein` with `args` in `dir`.
pub fn stein_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stein"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the stein binary runs")
}

/// A folder in the temporary folder, removed with everything in it when dropped (also when the test fails).
/// It dereferences to its [`Path`].
pub struct Scratch {
    _root: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

fn root(suite: &str, name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("stein-{suite}-{name}-"))
        .tempdir()
        .expect("a temporary folder")
}

/// A new empty folder `stein-<suite>-<name>-…` in the temporary folder.
pub fn tmp_dir(suite: &str, name: &str) -> Scratch {
    let root = root(suite, name);
    let path = root.path().to_path_buf();
    Scratch { _root: root, path }
}

/// A path `run` inside a new temporary folder, not yet created (for commands that create their folder).
pub fn fresh_path(suite: &str, name: &str) -> Scratch {
    let root = root(suite, name);
    let path = root.path().join("run");
    Scratch { _root: root, path }
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
