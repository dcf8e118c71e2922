//! Draws in CmdStan's CSV layout, which ArviZ (`az.from_cmdstan`), R's `posterior` and `cmdstanr`, and
//! CmdStan's own `stansummary` read: one file per chain, `#` comment lines, then a header of the sampler's
//! columns (`accept_stat__`, `stepsize__`, `treedepth__`, `n_leapfrog__`, `divergent__`, `energy__`) and the
//! parameters (`theta.1`, `L.2.1`: CmdStan's names for `theta[1]`, `L[2,1]`), one row per kept draw.

use super::draws::Draws;
use std::io::Write;
use std::path::{Path, PathBuf};

/// CmdStan's name of a parameter: `theta[1]` → `theta.1`, `L[2,1]` → `L.2.1`, others unchanged.
///
/// ```
/// use stein_models::sample::cmdstan::cmdstan_name;
/// assert_eq!(cmdstan_name("L[2,1]"), "L.2.1");
/// assert_eq!(cmdstan_name("sigma"), "sigma");
/// ```
pub fn cmdstan_name(name: &str) -> String {
    name.replace(['[', ','], ".").replace(']', "")
}

impl Draws {
    /// Write each chain to `<prefix>_<chain>.csv` (chains counted from 1, as CmdStan does) in CmdStan's
    /// layout, with `names` for the coordinates (a shorter list names the first ones; the rest are
    /// `x.<i>`, 1-based). Each file is written to a temporary name beside it and renamed, so a file is whole
    /// or absent; an existing file is an error (`AlreadyExists`) and nothing is replaced. Returns the paths.
    ///
    /// ```
    /// use stein_models::sample::{sample, Config, Exact};
    /// let target = stein_scores::Normal::new(1.0, 2.0).unwrap();
    /// let draws = sample(&Exact(&target), &Config::default().chains(2).warmup(100).draws(50)).unwrap();
    /// let dir = tempfile::tempdir().unwrap();
    /// let files = draws.write_cmdstan_csv(dir.path().join("normal"), &["mu"]).unwrap();
    /// assert_eq!(files.len(), 2);
    /// let text = std::fs::read_to_string(&files[0]).unwrap();
    /// let header = text.lines().find(|l| !l.starts_with('#')).unwrap();
    /// assert!(header.ends_with("energy__,mu"));
    /// ```
    pub fn write_cmdstan_csv<N: AsRef<str>>(
        &self,
        prefix: impl AsRef<Path>,
        names: &[N],
    ) -> std::io::Result<Vec<PathBuf>> {
        let prefix = prefix.as_ref();
        let stem = prefix
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let paths: Vec<PathBuf> = (1..=self.chains.len())
            .map(|c| prefix.with_file_name(format!("{stem}_{c}.csv")))
            .collect();
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists: draws are not written over a file", p.display()),
            ));
        }
        let mut header = vec![
            "accept_stat__".to_string(),
            "stepsize__".into(),
            "treedepth__".into(),
            "n_leapfrog__".into(),
            "divergent__".into(),
            "energy__".into(),
        ];
        header.extend((0..self.dim).map(|i| {
            names
                .get(i)
                .map_or(format!("x.{}", i + 1), |n| cmdstan_name(n.as_ref()))
        }));
        for (c, (chain, path)) in self.chains.iter().zip(&paths).enumerate() {
            let mut text = format!(
                "# Stein {} draws in CmdStan's layout\n# method = sample\n# num_samples = {}\n# num_warmup = \
                 {}\n# save_warmup = 0\n# chain_id = {}\n{}\n",
                self.kernel,
                chain.draws.len(),
                self.warmup,
                c + 1,
                header.join(",")
            );
            for (x, info) in chain.draws.iter().zip(&chain.infos) {
                let mut row = vec![
                    info.accept_prob.to_string(),
                    chain.step_size.to_string(),
                    info.depth.to_string(),
                    info.n_grad.to_string(),
                    u8::from(info.divergent).to_string(),
                    info.energy.to_string(),
                ];
                row.extend(x.iter().map(|v| v.to_string()));
                text.push_str(&row.join(","));
                text.push('\n');
            }
            let tmp = path.with_extension("csv.part");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
        }
        Ok(paths)
    }
}
