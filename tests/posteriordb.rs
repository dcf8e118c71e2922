//! T12's posteriordb regressions agree with posteriordb's reference draws (every mean within 4 combined MCSE,
//! every sd within 10%), with the defaults and with the dense metric fitted to scores started by Pathfinder:
//! the regressions in tensor form, the Gaussian process and the ODE model in scalar code; and one regression
//! written as `ConstrainedDensity` scalar code with `lpdf` blocks.

#[path = "../examples/posteriordb/models.rs"]
mod models;

use models::{load, run, Model, POSTERIORS};
use stein::models::sample::adapt::MetricKind;
use stein::models::sample::{sample, Compiled, Config};
use stein::scores::transform::Constrained;

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/posteriordb/data")
}

#[test]
fn every_posteriordb_posterior_agrees_with_its_reference() {
    for name in POSTERIORS {
        let (model, reference) = load(&data_dir(), name);
        // the scalar models name their values as posteriordb does, counting from one
        match &model {
            Model::Gp(m) => assert_eq!(m.names_one_based(), reference.names, "{name}"),
            Model::LotkaVolterra(m) => assert_eq!(m.names_one_based(), reference.names, "{name}"),
            Model::Regression(_) => {}
        }
        // the defaults, and the dense fit started by Pathfinder
        let diag = run(
            &model,
            &reference,
            MetricKind::ScoreDiagonal,
            false,
            1000,
            3,
        );
        let dense = run(&model, &reference, MetricKind::ScoreDense, true, 1000, 4);
        for (r, what) in [(&diag, "diagonal"), (&dense, "dense, Pathfinder")] {
            assert!(
                r.agreement.agrees(),
                "{name} ({what}): max |z| {:.2}, worst sd ratio {:.3}",
                r.agreement.max_abs_z,
                r.agreement.worst_sd_ratio
            );
            assert_eq!(r.divergences, 0, "{name} ({what})");
        }
        // their coefficients are correlated: the dense fit takes no more steps than the diagonal one
        assert!(
            dense.leapfrog_per_draw <= 1.1 * diag.leapfrog_per_draw,
            "{name}: dense {} vs diagonal {} leapfrog steps per draw",
            dense.leapfrog_per_draw,
            diag.leapfrog_per_draw
        );
    }
}

#[test]
fn the_dense_fit_on_the_ode_model_needs_pathfinder_starts() {
    // from uniform starts two chains of four end warm-up tuned to a region they then leave
    let (model, reference) = load(&data_dir(), "hudson_lynx_hare-lotka_volterra");
    let r = run(&model, &reference, MetricKind::ScoreDense, false, 1000, 12);
    assert!(r.divergences > 100, "{} divergences", r.divergences);
}

#[test]
fn the_scalar_form_with_lpdf_blocks_agrees_too() {
    let (Model::Regression(model), reference) = load(&data_dir(), "mesquite-logmesquite_logvash")
    else {
        panic!("a regression")
    };
    let post = Constrained::new(model).unwrap();
    let cfg = Config::default().seed(6).metric(MetricKind::ScoreDense);
    let draws = sample(&Compiled::new(&post), &cfg).unwrap();
    let a = reference.check(&draws.map(|u| post.constrain(u)));
    assert!(a.agrees(), "{a:?}");
    // the two forms are the same density on ℝ^{K+1}: equal scores at a point
    let tensor = post.model().target();
    let u = [5.0, 0.4, 0.3, -0.2, 0.5, 0.1, -1.0];
    let (mut s1, mut s2) = (vec![0.0; 7], vec![0.0; 7]);
    use stein::models::sample::Target;
    Compiled::new(&post).eval(&u, &mut s1);
    tensor.eval(&u, &mut s2);
    for i in 0..7 {
        assert!(
            (s1[i] - s2[i]).abs() < 1e-9 * s1[i].abs().max(1.0),
            "score[{i}]: {} vs {}",
            s1[i],
            s2[i]
        );
    }
}
