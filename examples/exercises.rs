//! The classic score exercises, computed:
//! 1. the expected score of a 2-D mixture is zero (Monte Carlo, with standard errors);
//! 2. the Fisher information of N(μ, σ²I) in 2-D has trace 2/σ²;
//! 3. tempering scales the score field by 1/T (pictures for T = 0.5, 1, 2);
//! 4. the Laplace score and its jump at μ (picture).
//!
//! Run: `cargo run --release --example exercises [-- OUT_DIR] [--quick]`

mod common;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein::scores::plot::{curves_1d, score_field, Bounds, Curve, FieldOptions};
use stein::scores::*;

fn main() -> Result<(), ScoreError> {
    let (out, quick) = common::example_args("runs/exercises");
    std::fs::create_dir_all(&out).map_err(|e| ScoreError::Plot {
        path: out.clone(),
        reason: e.to_string(),
    })?;
    let n = if quick { 2_000 } else { 100_000 };
    let mut rng = SmallRng::seed_from_u64(7);

    // 1. zero expected score
    let c = |m: [f64; 2], s: f64| MultivariateNormal::isotropic(m.to_vec(), s).unwrap();
    let gmm = GaussianMixture::new(
        vec![0.2, 0.5, 0.3],
        vec![c([-2.0, 0.0], 0.5), c([1.0, 1.0], 0.8), c([2.0, -2.0], 0.4)],
    )?;
    let xs = gmm.sample_n(&mut rng, n);
    let mc = expected_score(&gmm, &xs)?;
    println!("1. E[s(x)] over {n} exact samples of a 2-D mixture:");
    for k in 0..2 {
        println!(
            "   component {k}: {:+.4} ± {:.4}",
            mc.mean[k], mc.std_err[k]
        );
    }
    println!(
        "   largest |mean|/stderr = {:.2} (zero within noise)",
        mc.max_z()
    );

    // 2. Fisher information of N(μ, σ²I): E[s sᵀ] = I/σ², trace 2/σ²
    let sigma = 0.5;
    let g = MultivariateNormal::isotropic(vec![1.0, -1.0], sigma)?;
    let f = fisher_information(&g, &g.sample_n(&mut rng, n))?;
    println!(
        "2. Fisher information of N(μ, {sigma}²I): [[{:.3}, {:.3}], [{:.3}, {:.3}]]",
        f[0][0], f[0][1], f[1][0], f[1][1]
    );
    println!(
        "   trace {:.3} vs 2/σ² = {:.3}",
        f[0][0] + f[1][1],
        2.0 / (sigma * sigma)
    );

    // 3. tempering: p^{1/T} has score s/T
    for t in [0.5, 1.0, 2.0] {
        let p = Tempered::new(gmm.clone(), t)?;
        let opts = FieldOptions {
            title: format!("tempered mixture, T = {t}: score = s / T"),
            ..Default::default()
        };
        score_field(
            format!("{out}/tempered_T{t}.png"),
            &p,
            &p,
            Bounds::square(4.5),
            &opts,
        )?;
        let s = p.score(&[0.0, 0.0]);
        println!("3. T = {t}: s(0) = ({:+.3}, {:+.3})", s[0], s[1]);
    }

    // 4. the Laplace score: −sign(x − μ)/b, jumping by 2/b at μ (value 0 there)
    let l = Laplace::new(vec![0.0], 1.0)?;
    let nrm = Normal::new(0.0, 1.0)?;
    curves_1d(
        format!("{out}/laplace.png"),
        "Laplace(0, 1) vs N(0, 1): the Laplace score jumps at 0",
        (-3.0, 3.0),
        &[
            Curve::of("Laplace(0, 1)", &l, &l),
            Curve::of("N(0, 1)", &nrm, &nrm),
        ],
        (720, 640),
    )?;
    println!(
        "4. Laplace score: s(-1e-9) = {}, s(0) = {}, s(1e-9) = {} (jump 2/b = 2)",
        l.score(&[-1e-9])[0],
        l.score(&[0.0])[0],
        l.score(&[1e-9])[0]
    );
    println!("pictures in {out}/");
    Ok(())
}
