//! All-or-nothing outputs. A job's files (samples, pictures, summary) are written into a hidden staging folder
//! beside their destination and renamed into place only when every one of them has been made; a failure
//! removes the staging folder, so no half of a job's output is ever left behind. Staging folders and
//! temporary files that a killed process left are recognised by their names and removed by the next command
//! that uses the folder.

use crate::error::{io_err, CliError};
use std::path::{Path, PathBuf};

/// The prefix of staging folders.
const PREFIX: &str = ".stein-partial-";

/// Files being made for one destination folder.
pub struct Staging {
    dir: PathBuf,
    into: PathBuf,
    names: Vec<String>,
    committed: bool,
}

impl Staging {
    /// A new staging folder inside `into` (which must exist).
    pub fn new(into: &Path) -> Result<Staging, CliError> {
        for k in 0..1000 {
            let dir = into.join(format!("{PREFIX}{}-{k}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    return Ok(Staging {
                        dir,
                        into: into.to_path_buf(),
                        names: Vec::new(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&dir, &e)),
            }
        }
        Err(CliError::Usage(format!(
            "could not make a staging folder in {}",
            into.display()
        )))
    }

    /// Staging for files whose destinations all lie in one folder (`stein sample`'s CSV and pictures): the
    /// folder of `path` (the current one for a bare name).
    pub fn beside(path: &Path) -> Result<Staging, CliError> {
        let into = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Staging::new(into)
    }

    /// Where to write the file that will become `dest` (in the staging's destination folder).
    pub fn path_for(&mut self, dest: &Path) -> PathBuf {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.path(&name)
    }

    /// Where to write the file that will become `into/name`.
    pub fn path(&mut self, name: &str) -> PathBuf {
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
        self.dir.join(name)
    }

    /// Move every file made into place, in the order they were named (so the last named — a run's summary —
    /// appears last), and remove the staging folder. Names whose file was not made are skipped.
    pub fn commit(mut self) -> Result<(), CliError> {
        for name in &self.names {
            let from = self.dir.join(name);
            if from.exists() {
                let to = self.into.join(name);
                std::fs::rename(&from, &to).map_err(|e| io_err(&to, &e))?;
            }
        }
        self.committed = true;
        std::fs::remove_dir_all(&self.dir).map_err(|e| io_err(&self.dir, &e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether the process `pid` may still be running (on systems without `/proc`, assume it is not).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// The process id in a leftover's name: `.stein-partial-PID-K` or `.NAME.PID-K.tmp` (the atomic writer's).
fn owner(name: &str) -> Option<u32> {
    let digits = if let Some(rest) = name.strip_prefix(PREFIX) {
        rest.split('-').next()?
    } else if name.starts_with('.') && name.ends_with(".tmp") {
        let stem = &name[..name.len() - 4];
        stem.rsplit('.').next()?.split('-').next()?
    } else {
        return None;
    };
    digits.parse().ok()
}

/// Remove what killed processes left in `dir`: staging folders and temporary files of processes no longer
/// running. Returns how many were removed.
pub fn clean_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = owner(&name).filter(|&p| !alive(p)) {
            let path = e.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed += usize::from(gone.is_ok());
            let _ = pid;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_named_by_their_process() {
        assert_eq!(owner(".stein-partial-123-0"), Some(123));
        assert_eq!(owner(".checkpoint.json.4567-2.tmp"), Some(4567));
        assert_eq!(owner(".samples.csv.89-0.tmp"), Some(89));
        assert_eq!(owner("checkpoint.json"), None);
        assert_eq!(owner(".hidden"), None);
        assert_eq!(owner("notes.tmp"), None);
    }

    #[test]
    fn a_failed_job_leaves_nothing_and_a_finished_one_everything() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut s = Staging::new(d.path()).unwrap();
            std::fs::write(s.path("a.csv"), "1").unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        let mut s = Staging::new(d.path()).unwrap();
        std::fs::write(s.path("a.csv"), "1").unwrap();
        std::fs::write(s.path("b.png"), "2").unwrap();
        let _ = s.path("never-made.gif");
        s.commit().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.csv", "b.png"]);
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_others_kept() {
        let d = tempfile::tempdir().unwrap();
        // a pid far beyond any running process
        std::fs::create_dir(d.path().join(".stein-partial-999999999-0")).unwrap();
        std::fs::write(d.path().join(".checkpoint.json.999999999-3.tmp"), "x").unwrap();
        let mine = format!(".model.json.{}-0.tmp", std::process::id());
        std::fs::write(d.path().join(&mine), "x").unwrap();
        std::fs::write(d.path().join("notes.txt"), "keep").unwrap();
        assert_eq!(clean_leftovers(d.path()), 2);
        assert!(d.path().join(&mine).exists() && d.path().join("notes.txt").exists());
    }
}
