//! Draws in CmdStan's CSV layout: one file per chain, the sampler's columns and the named parameters, every
//! kept draw in order, read back to the same numbers; an existing file is never replaced.

use stein_models::sample::{sample, Config, Exact};
use stein_scores::MultivariateNormal;

#[test]
fn every_chain_is_written_in_cmdstans_layout_and_reads_back() {
    let target =
        MultivariateNormal::new(vec![1.0, -1.0], vec![vec![1.0, 0.3], vec![0.3, 2.0]]).unwrap();
    let draws = sample(
        &Exact(&target),
        &Config::default().chains(3).warmup(200).draws(100).seed(2),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("post");
    let files = draws
        .write_cmdstan_csv(&prefix, &["theta[1]", "theta[2]"])
        .unwrap();
    assert_eq!(files.len(), 3);
    for (c, file) in files.iter().enumerate() {
        assert!(file.ends_with(format!("post_{}.csv", c + 1)));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.contains("# num_samples = 100")
                && text.contains(&format!("# chain_id = {}", c + 1))
        );
        let mut rows = text.lines().filter(|l| !l.starts_with('#'));
        assert_eq!(
            rows.next().unwrap(),
            "accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,theta.1,theta.2"
        );
        let values: Vec<Vec<f64>> = rows
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(values.len(), 100);
        for (row, (x, info)) in values
            .iter()
            .zip(draws.chains[c].draws.iter().zip(&draws.chains[c].infos))
        {
            assert_eq!(&row[6..], &x[..]);
            assert_eq!(
                (row[0], row[2], row[4]),
                (
                    info.accept_prob,
                    info.depth as f64,
                    info.divergent as u8 as f64
                )
            );
            assert_eq!(row[1], draws.chains[c].step_size);
        }
    }
    // never over an existing file, and nothing else is touched
    let before = std::fs::read_to_string(&files[0]).unwrap();
    let e = draws.write_cmdstan_csv(&prefix, &["a"]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
