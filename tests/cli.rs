//! End-to-end tests of the `stein` command line.

mod common;

use common::{csv_shape, stein, text};
use std::path::Path;

/// A fresh path in a temporary folder (nothing there yet), removed when dropped.
fn tmp(name: &str) -> common::Scratch {
    common::fresh_path("cli", name)
}

fn last_step(dir: &Path) -> u64 {
    let m = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(m.lines().last().unwrap()).unwrap();
    v["step"].as_u64().unwrap()
}

#[test]
fn train_writes_every_file_with_a_finite_loss() {
    let d = tmp("train");
    let o = stein(&[
        "train",
        "--steps",
        "200",
        "--samples",
        "200",
        "--quiet",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "model.json",
        "metrics.jsonl",
        "checkpoint.json",
        "samples.png",
        "score_field.png",
        "loss.png",
        "summary.txt",
        "samples.csv",
    ] {
        let m = std::fs::metadata(d.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(m.len() > 0, "{f} is empty");
    }
    let summary = std::fs::read_to_string(d.join("summary.txt")).unwrap();
    let loss: f64 = summary
        .lines()
        .find(|l| l.starts_with("loss"))
        .and_then(|l| l.rsplit('=').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(loss.is_finite(), "{summary}");
    assert!(summary.contains("MMD²") && summary.contains("KSD²"));
    assert_eq!(last_step(&d), 200);

    // the saved model samples again from the command line
    let csv = d.join("again.csv");
    let o = stein(&[
        "sample",
        "--model",
        d.join("model.json").to_str().unwrap(),
        "--n",
        "50",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 51);
    assert!(csv.with_extension("png").exists());
}

#[test]
fn without_sampler_a_run_samples_its_model_the_way_it_can() {
    // annealed Langevin is for noise-conditional models (the default --loss ncsn); other runs take MALA
    // (energy) or ULA (score)
    for (model, loss, sampler) in [
        ("energy", "ncsn", "annealed"),
        ("energy", "ism", "mala"),
        ("score", "ssm-vr", "ula"),
    ] {
        let d = tmp(&format!("default-sampler-{model}-{loss}"));
        let o = stein(&[
            "train",
            "--model",
            model,
            "--loss",
            loss,
            "--steps",
            "20",
            "--samples",
            "100",
            "--quiet",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{model} {loss}: {}", text(&o));
        let summary = std::fs::read_to_string(d.join("summary.txt")).unwrap();
        assert!(
            summary.contains(&format!("sampler         {sampler}")),
            "{model} {loss}: {summary}"
        );
    }
}

#[test]
fn resume_continues_from_the_checkpoint_step() {
    let d = tmp("resume");
    let o = stein(&[
        "train",
        "--steps",
        "100",
        "--samples",
        "50",
        "--quiet",
        "--loss",
        "dsm",
        "--sampler",
        "ula",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(last_step(&d), 100);
    let lines_before = std::fs::read_to_string(d.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count();
    let o = stein(&[
        "train",
        "--steps",
        "160",
        "--samples",
        "50",
        "--quiet",
        "--loss",
        "dsm",
        "--sampler",
        "ula",
        "--resume",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let m = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    let first_new: serde_json::Value =
        serde_json::from_str(m.lines().nth(lines_before).unwrap()).unwrap();
    assert!(
        first_new["step"].as_u64().unwrap() > 100,
        "resumed at step {}",
        first_new["step"]
    );
    assert_eq!(last_step(&d), 160);
    assert!(std::fs::read_to_string(d.join("summary.txt"))
        .unwrap()
        .contains("steps           160"));
}

#[test]
fn a_corrupt_csv_is_a_line_numbered_error_and_a_non_zero_exit() {
    let d = tmp("csv");
    std::fs::create_dir_all(&d).unwrap();
    let csv = d.join("pts.csv");
    std::fs::write(&csv, "x,y\n0.1,0.2\n0.3,zero\n").unwrap();
    let o = stein(&[
        "train",
        "--data",
        csv.to_str().unwrap(),
        "--steps",
        "10",
        "--quiet",
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("line 3, column 2"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn user_mistakes_are_one_line_errors() {
    let d = tmp("mistakes");
    for (args, needle) in [
        (vec!["train", "--data", "moonz"], "unknown dataset `moonz`"),
        (
            vec!["train", "--loss", "nope"],
            "invalid value 'nope' for '--loss <LOSS>': `nope` is not an objective [possible values: ism, ism-hutchinson, ssm, ssm-vr, dsm, ncsn, nce, cd, diffusion-dsm, flow-matching, flow-matching-ot]",
        ),
        (
            vec!["train", "--loss", "dsm", "--sampler", "annealed"],
            "annealed Langevin needs a noise-conditional model",
        ),
        (
            vec![
                "train",
                "--model",
                "score",
                "--loss",
                "ssm-vr",
                "--sampler",
                "mala",
            ],
            "need an energy model",
        ),
        (
            vec!["sample", "--model", "/nonexistent/model.json"],
            "/nonexistent/model.json",
        ),
        (
            vec!["plot", "score", "--target", "unicorn"],
            "invalid value 'unicorn' for '--target <TARGET>'",
        ),
    ] {
        let mut a: Vec<&str> = args.clone();
        let out = d.join("run");
        let out_s = out.to_str().unwrap().to_string();
        if a[0] == "train" {
            a.extend([
                "--steps",
                "5",
                "--samples",
                "20",
                "--quiet",
                "--out",
                &out_s,
            ]);
        }
        let o = stein(&a);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
    }
    // a model file that is not JSON
    std::fs::create_dir_all(&d).unwrap();
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{ truncated").unwrap();
    let o = stein(&["sample", "--model", bad.to_str().unwrap()]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("not a valid model file")
    );
}

#[test]
fn plot_writes_pictures_of_the_catalogue() {
    let d = tmp("plot");
    std::fs::create_dir_all(&d).unwrap();
    for (what, target) in [
        ("score", "gmm-1d"),
        ("score", "gmm-2d"),
        ("density", "banana"),
    ] {
        let out = d.join(format!("{target}.png"));
        let o = stein(&[
            "plot",
            what,
            "--target",
            target,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(std::fs::metadata(&out).unwrap().len() > 1000);
    }
}

#[test]
fn data_writes_the_points_a_run_trains_on_and_keeps_existing_files() {
    use rand::SeedableRng;
    let d = common::tmp_dir("cli", "data");
    let out = d.join("moons.csv");
    let o = stein(&[
        "data",
        "--set",
        "two-moons",
        "--n",
        "300",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // the same draw as the library's, to the last digit (Rust prints the shortest exact decimal)
    let x = stein::models::data::load_csv(&out).unwrap();
    let want =
        stein::models::data::Toy::TwoMoons.sample(300, &mut rand::rngs::SmallRng::seed_from_u64(3));
    assert_eq!(x, want);
    // an existing file is kept unless --force; a wrong set is one line
    let o = stein(&["data", "--set", "rings", "--out", out.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert_eq!(stein::models::data::load_csv(&out).unwrap(), want);
    let o = stein(&[
        "data",
        "--set",
        "rings",
        "--n",
        "10",
        "--force",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(csv_shape(&out), (10, 2));
    let o = stein(&[
        "data",
        "--set",
        "no-such-set",
        "--out",
        d.join("x.csv").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).lines().count() == 1,
        "{}",
        text(&o)
    );
    assert!(!d.join("x.csv").exists());
    // the held-out split of a built-in set: the stream a run scores against (seed + 1,000,003), 1,000 points
    let held = d.join("held.csv");
    let o = stein(&[
        "data",
        "--set",
        "two-moons",
        "--split",
        "held-out",
        "--seed",
        "3",
        "--out",
        held.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let want = stein::models::data::Toy::TwoMoons.sample(
        1000,
        &mut rand::rngs::SmallRng::seed_from_u64(3 + 1_000_003),
    );
    assert_eq!(stein::models::data::load_csv(&held).unwrap(), want);
    // a file's two splits: disjoint, together every row, the held-out one about a tenth
    let file = d.join("moons300.csv");
    let o = stein(&[
        "data",
        "--set",
        "two-moons",
        "--n",
        "300",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = stein::models::data::load_csv(&file).unwrap();
    let (tr, ho) = (d.join("tr.csv"), d.join("ho.csv"));
    for (split, path) in [("train", &tr), ("held-out", &ho)] {
        let o = stein(&[
            "data",
            "--set",
            file.to_str().unwrap(),
            "--split",
            split,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let (a, b) = (
        stein::models::data::load_csv(&tr).unwrap(),
        stein::models::data::load_csv(&ho).unwrap(),
    );
    assert!(
        (10..=60).contains(&b.rows()),
        "{} held-out rows of 300",
        b.rows()
    );
    let sorted = |ts: &[&stein::autodiff::Tensor]| {
        let mut v: Vec<Vec<f64>> = ts
            .iter()
            .flat_map(|t| (0..t.rows()).map(|i| t.row_slice(i).to_vec()))
            .collect();
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v
    };
    assert_eq!(sorted(&[&rows]), sorted(&[&a, &b]));
    // --n does not apply to a file's split
    let o = stein(&[
        "data",
        "--set",
        file.to_str().unwrap(),
        "--n",
        "5",
        "--out",
        d.join("y.csv").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--n 5 applies to built-in sets"),
        "{}",
        text(&o)
    );
    assert!(!d.join("y.csv").exists());
}
