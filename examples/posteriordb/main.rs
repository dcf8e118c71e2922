//! Four regressions of posteriordb (T12 of BENCHMARKS.md) sampled with NUTS and checked against posteriordb's
//! reference draws: every mean within 4 combined MCSE, every sd within 10%. Each runs twice: with the defaults
//! (the metric fitted to draws and scores, diagonal; starts uniform on (−2, 2)ᵈ) and with the dense fit started
//! by Pathfinder, which these posteriors' correlated coefficients want (earnings: 3.2 leapfrog steps per draw
//! instead of 94; the ODE model: 5.7 instead of 19, and without Pathfinder's starts the dense fit diverges there).
//!
//! The models are written in tensor form (`Regression::target`: X β as one matrix product); the same
//! posteriors as `ConstrainedDensity` scalar code with `lpdf` blocks are in `models.rs` too, and agree with the
//! references as well, at ~17× the time per gradient here.
//!
//! Run: `cargo run --release --example posteriordb [-- --quick]` (the data and reference summaries are in
//! `examples/posteriordb/data`, made by `scripts/posteriordb_extract.py`). Exits with status 1 when a posterior
//! disagrees with its reference.

mod models;

use models::{load, run, POSTERIORS};
use stein::models::sample::adapt::MetricKind;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 300 } else { 1000 };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/posteriordb/data");
    println!(
        "| posterior | metric | wall | min bulk ESS | ESS/s | leapfrog steps per draw | divergences | max |z| | worst sd ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut failed = Vec::new();
    for name in POSTERIORS {
        let (model, reference) = load(&dir, name);
        for (metric, pathfinder) in [
            (MetricKind::ScoreDiagonal, false),
            (MetricKind::ScoreDense, true),
        ] {
            let r = run(&model, &reference, metric, pathfinder, n, 12);
            let how = if pathfinder {
                ", Pathfinder starts"
            } else {
                ""
            };
            println!(
                "| {name} | {metric:?}{how} | {:.2} s | {:.0} | {:.0} | {:.1} | {} | {:.2} | {:.3} |",
                r.seconds,
                r.min_ess,
                r.min_ess / r.seconds,
                r.leapfrog_per_draw,
                r.divergences,
                r.agreement.max_abs_z,
                r.agreement.worst_sd_ratio
            );
            if !r.agreement.agrees() {
                failed.push(format!("{name} ({metric:?})"));
            }
        }
    }
    if failed.is_empty() {
        println!("every posterior agrees with its reference (|z| ≤ 4, sds within 10%)");
    } else {
        println!("disagreeing with the reference: {}", failed.join(", "));
        std::process::exit(1);
    }
}
