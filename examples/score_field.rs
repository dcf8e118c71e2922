//! Score pictures of Gaussian mixtures: the 1-D log-density and score curves, and the 2-D score field over
//! the log-density heat map.
//!
//! Run: `cargo run --release --example score_field [-- OUT_DIR]` (default `runs/score_field`).

use stein::scores::plot::{curves_1d, score_field, Bounds, Curve, FieldOptions};
use stein::scores::{AutodiffScore, GaussianMixture, MultivariateNormal, ScoreError};

fn main() -> Result<(), ScoreError> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/score_field".into());
    std::fs::create_dir_all(&out).map_err(|e| ScoreError::Plot {
        path: out.clone(),
        reason: e.to_string(),
    })?;

    // 1-D: two modes with unequal weights; the score crosses zero at each mode and between them
    let c1 = |m: f64, s: f64| MultivariateNormal::isotropic(vec![m], s).unwrap();
    let gmm1 = GaussianMixture::new(vec![0.3, 0.7], vec![c1(-2.0, 0.6), c1(1.5, 0.9)])?;
    let single = c1(0.0, 1.5);
    curves_1d(
        format!("{out}/gmm_1d.png"),
        "Gaussian mixture in 1-D: log-density and score",
        (-5.0, 5.0),
        &[
            Curve::of("mixture 0.3 N(-2, 0.6²) + 0.7 N(1.5, 0.9²)", &gmm1, &gmm1),
            Curve::of("N(0, 1.5²)", &single, &single),
        ],
        (720, 640),
    )?;

    // 2-D: three full-covariance components; arrows point uphill towards the modes
    let c2 = |m: [f64; 2], cov: [[f64; 2]; 2]| {
        MultivariateNormal::new(m.to_vec(), cov.iter().map(|r| r.to_vec()).collect()).unwrap()
    };
    let gmm2 = GaussianMixture::new(
        vec![0.4, 0.35, 0.25],
        vec![
            c2([-2.0, -1.0], [[0.6, 0.3], [0.3, 0.5]]),
            c2([2.0, -1.5], [[0.4, -0.2], [-0.2, 0.8]]),
            c2([0.0, 2.2], [[1.0, 0.0], [0.0, 0.3]]),
        ],
    )?;
    let opts = FieldOptions {
        title: "Gaussian mixture in 2-D: score field over log p".into(),
        ..Default::default()
    };
    score_field(
        format!("{out}/gmm_2d.png"),
        &gmm2,
        &gmm2,
        Bounds::square(5.0),
        &opts,
    )?;
    // the same picture from the autodiff score of the same density
    let opts = FieldOptions {
        title: "same mixture, autodiff score".into(),
        ..Default::default()
    };
    score_field(
        format!("{out}/gmm_2d_autodiff.svg"),
        &gmm2,
        &AutodiffScore(&gmm2),
        Bounds::square(5.0),
        &opts,
    )?;
    println!("wrote {out}/gmm_1d.png, {out}/gmm_2d.png, {out}/gmm_2d_autodiff.svg");
    Ok(())
}
