//! ESS, R-hat and MCSE against an independent implementation of the same algorithm (ArviZ, which follows
//! Vehtari et al. 2021 as Stan does) on stored draws: `tests/data/diagnostics_reference.json`, made by
//! `scripts/diagnostics_reference.py`. The series cover i.i.d., strongly autocorrelated, antithetic,
//! non-mixed, heavy-tailed, discrete (tied ranks) and odd-length chains.

use serde_json::Value;
use stein_models::sample::diagnostics::{
    ess_bulk, ess_mean, ess_quantile, ess_tail, mcse_mean, mcse_quantile, split_rhat,
};

fn reference() -> Value {
    let text = include_str!("data/diagnostics_reference.json");
    serde_json::from_str(text).expect("valid reference file")
}

fn chains(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// Relative agreement (absolute near 0): our normal quantile is within 1.2e-9 of scipy's.
fn close(ours: f64, theirs: f64, what: &str, name: &str) {
    let tol = 1e-7 * theirs.abs().max(1e-3);
    assert!(
        (ours - theirs).abs() <= tol,
        "{name}: {what} = {ours} here, {theirs} by ArviZ"
    );
}

#[test]
fn diagnostics_match_arviz_on_stored_draws() {
    let r = reference();
    let series = r["series"].as_array().unwrap();
    assert_eq!(series.len(), 7);
    for s in series {
        let name = s["name"].as_str().unwrap();
        let x = chains(&s["draws"]);
        let want = |k: &str| s[k].as_f64().unwrap();
        close(ess_bulk(&x), want("ess_bulk"), "bulk ESS", name);
        close(ess_tail(&x), want("ess_tail"), "tail ESS", name);
        close(ess_mean(&x), want("ess_mean"), "ESS of the mean", name);
        close(
            ess_quantile(&x, 0.05),
            want("ess_q05"),
            "ESS of the 5% quantile",
            name,
        );
        close(
            split_rhat(&x),
            want("rhat"),
            "rank-normalised split R-hat",
            name,
        );
        close(mcse_mean(&x), want("mcse_mean"), "MCSE of the mean", name);
        for (p, k) in [(0.05, "mcse_q05"), (0.5, "mcse_q50"), (0.95, "mcse_q95")] {
            close(mcse_quantile(&x, p), want(k), k, name);
        }
    }
}

#[test]
fn diagnostics_of_degenerate_input_are_nan_or_defined() {
    // too short, non-finite, constant
    assert!(ess_bulk(&[vec![1.0, 2.0, 3.0]]).is_nan());
    assert!(split_rhat(&[vec![1.0, f64::NAN, 3.0, 4.0, 5.0]]).is_nan());
    let constant = vec![vec![2.0; 50]; 4];
    assert_eq!(ess_mean(&constant), 200.0);
    assert_eq!(mcse_quantile(&constant, 0.5), 0.0);
    assert!(ess_bulk(&[]).is_nan());
}
