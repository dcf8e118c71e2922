//! Calibrate a sampler and a posterior when no density is known to compare with.
//!
//! 1. Simulation-based calibration of an eight-schools-like hierarchical model with NUTS: 200 data sets from
//!    the prior, each posterior sampled with warm-up, the truth ranked among 39 near-independent draws;
//!    then the same model with the prior's scale doubled inside the posterior (a typical slip), which SBC
//!    rejects and diagnoses. The rank-ECDF picture of both goes to `OUT/sbc_ranks.png`.
//! 2. The exact rank test of NUTS with a dense metric on a correlated Gaussian (Gandy & Scott).
//! 3. Geweke's joint-distribution test of NUTS on the same hierarchical model's posteriors.
//!
//! Run: `cargo run --release --example calibrate [-- OUT] [--quick]` (OUT defaults to `runs/calibrate`).

#[path = "../common/mod.rs"]
mod common;
mod schools;

use schools::Schools;
use stein::models::calibration::sbc;
use stein::models::calibration::{geweke, kernel_test, Probe};
use stein::models::sample::{nuts, Config, DenseMetric, Exact, Metric};
use stein::scores::{MultivariateNormal, Sample};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (out, quick) = common::example_args("runs/calibrate");
    std::fs::create_dir_all(&out)?;

    // 1. SBC with NUTS (2 chains; a chain whose ESS falls below 39 is rerun longer)
    let nuts_cfg = Config::default()
        .chains(2)
        .warmup(400)
        .draws(200)
        .target_accept(0.9);
    let opts = sbc::Options::default()
        .simulations(if quick { 40 } else { 200 })
        .ranks_against(39)
        .seed(1)
        .progress(true);
    let right = sbc::sbc(
        &Schools {
            scale_in_posterior: 5.0,
        },
        &nuts_cfg,
        &opts,
    )?;
    println!("{right}");
    let wrong = sbc::sbc(
        &Schools {
            scale_in_posterior: 10.0,
        },
        &nuts_cfg,
        &opts,
    )?;
    println!("the same posterior written with the prior scale doubled:\n{wrong}");
    match wrong.check(0.01) {
        Err(msg) => println!("{msg}\n"),
        Ok(()) => println!("not detected at this budget\n"),
    }
    let series = [
        ("mu", &right.items[0].1),
        ("log_tau", &right.items[1].1),
        ("mu, prior ×2", &wrong.items[0].1),
        ("log_tau, prior ×2", &wrong.items[1].1),
    ];
    let picture = format!("{out}/sbc_ranks.png");
    stein::scores::plot::rank_ecdf(
        &picture,
        "SBC of eight schools with NUTS",
        &series,
        (760, 480),
    )?;
    println!("picture: {picture}\n");

    // 2. the exact rank test of NUTS with a dense metric (a fixed step: warm-up is not a Markov kernel)
    let target = MultivariateNormal::new(vec![1.0, -0.5], vec![vec![1.0, 0.9], vec![0.9, 1.0]])?;
    let params = nuts::Params {
        metric: Metric::Dense(
            DenseMetric::new(&[1.0, 0.9, 0.9, 1.0], 2).ok_or("not positive-definite")?,
        ),
        ..nuts::Params::new(0.9)
    };
    let kopts = kernel_test::Options::default().replications(if quick { 200 } else { 1000 });
    let report = kernel_test::rank_test::<nuts::Nuts, _>(
        &Exact(&target),
        &params,
        |rng| target.sample_n(rng, 1).remove(0),
        &Probe::standard(2),
        &kopts,
    )?;
    println!("{report}");

    // 3. Geweke's test: NUTS (fixed step, a diagonal metric on the prior's scales) on each posterior, one
    //    transition per fresh data set
    let gopts = geweke::Options::default().draws(if quick { 5000 } else { 50000 });
    let probes = vec![
        Probe::new("mu", |t: &[f64]| t[0]),
        Probe::new("log_tau", |t: &[f64]| t[1]),
        Probe::new("mu²", |t: &[f64]| t[0] * t[0]),
        Probe::new("log_tau²", |t: &[f64]| t[1] * t[1]),
    ];
    let mut scales = vec![25.0, 1.0];
    scales.extend([1.0; 8]);
    let params = nuts::Params {
        metric: Metric::Diagonal(scales),
        ..nuts::Params::new(0.3)
    };
    let g = geweke::geweke::<nuts::Nuts, _>(
        &Schools {
            scale_in_posterior: 5.0,
        },
        &params,
        &probes,
        &gopts,
    )?;
    println!("{g}");
    Ok(())
}
