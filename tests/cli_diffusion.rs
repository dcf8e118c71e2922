//! Diffusion models from the command line: `stein train --model diffusion` for every SDE and data of 1, 2
//! and 3 columns, `stein sample` with every reverse sampler, `stein likelihood`, and the refusals.

mod common;

use common::{csv_shape, likelihood, sample, stein, text, tmp_dir};
use std::path::Path;

fn write_csv(path: &Path, n: usize, d: usize) {
    let mut s: String = (0..d)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for i in 0..n {
        let c = if i % 2 == 0 { -1.5 } else { 1.5 };
        let row: Vec<String> = (0..d)
            .map(|j| {
                format!(
                    "{:.4}",
                    c + 0.3 * ((i * 7 + j * 13) % 17) as f64 / 17.0 + 0.2 * j as f64
                )
            })
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn train_sample_and_likelihood_for_every_sde_and_dimension() {
    let dir = tmp_dir("diffusion", "train");
    for (d, sde) in [(2usize, "vp"), (1, "subvp"), (3, "ve")] {
        let data = if d == 2 {
            "two-moons".to_string()
        } else {
            let p = dir.join(format!("d{d}.csv"));
            write_csv(&p, 400, d);
            p.display().to_string()
        };
        let run = dir.join(format!("run-{sde}"));
        let mut args = vec![
            "train",
            "--model",
            "diffusion",
            "--sde",
            sde,
            "--data",
            &data,
            "--steps",
            "200",
            "--samples",
            "150",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ];
        if sde == "subvp" {
            args.extend(["--t-min", "0.002"]);
        }
        let o = stein(&args);
        assert!(o.status.success(), "{sde}: {}", text(&o));
        let json = std::fs::read_to_string(run.join("model.json")).unwrap();
        assert_eq!(json.contains("\"t_min\":0.002"), sde == "subvp", "{sde}");
        let mut files = vec![
            "model.json",
            "samples.csv",
            "samples.png",
            "loss.png",
            "summary.txt",
        ];
        if d >= 2 {
            files.push("samples.gif");
        }
        if d == 2 {
            files.push("score_field.png");
        }
        for f in &files {
            assert!(
                std::fs::metadata(run.join(f)).is_ok_and(|m| m.len() > 100),
                "{sde}: {f}"
            );
        }
        assert_eq!(csv_shape(&run.join("samples.csv")), (150, d));
        let summary = std::fs::read_to_string(run.join("summary.txt")).unwrap();
        assert!(
            summary.contains("NLL")
                && summary.contains("bits/dim")
                && summary.contains("two-sample test")
                && summary.contains("verdict"),
            "{summary}"
        );
        let model = run.join("model.json");
        // the default f32 network for every sampler, and f64 for one
        let checkpoint = std::fs::read_to_string(run.join("checkpoint.json")).unwrap();
        assert!(
            checkpoint.contains(r#""precision":"F32""#),
            "{sde}: trained in f32 by default"
        );
        for (sampler, precision) in [
            ("sde", "f32"),
            ("sde", "f64"),
            ("pc", "f32"),
            ("ode", "f32"),
            ("ddim", "f32"),
            ("heun", "f32"),
            ("dpmpp", "f32"),
            ("unipc", "f32"),
        ] {
            let out = dir.join(format!("{sde}-{sampler}-{precision}.csv"));
            let flags = ["--n", "40", "--sampler", sampler, "--precision", precision];
            let o = sample(&model, &out, &flags);
            assert!(
                o.status.success(),
                "{sde} {sampler} {precision}: {}",
                text(&o)
            );
            assert_eq!(csv_shape(&out), (40, d), "{sde} {sampler} {precision}");
        }
        // --steps sets a diffusion sampler's steps (other samples than its default 20); the adaptive ODE
        // chooses its own and refuses it
        let with_steps = |sampler: &str, steps: &str| {
            let out = dir.join(format!("{sde}-{sampler}-{steps}-steps.csv"));
            let o = sample(
                &model,
                &out,
                &["--n", "40", "--sampler", sampler, "--steps", steps],
            );
            (o, out)
        };
        let (o, out) = with_steps("dpmpp", "5");
        assert!(o.status.success(), "{sde}: {}", text(&o));
        let default = std::fs::read_to_string(dir.join(format!("{sde}-dpmpp-f32.csv"))).unwrap();
        assert_ne!(std::fs::read_to_string(out).unwrap(), default, "{sde}");
        let (o, _) = with_steps("ode", "5");
        assert!(
            !o.status.success() && text(&o).contains("adaptive ODE chooses its own steps"),
            "{sde}: {}",
            text(&o)
        );
        let o = likelihood(&model, &data, &["--n", "50"]);
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success() && line.starts_with("NLL ") && line.contains("bits/dim"),
            "{}",
            text(&o)
        );
        let nll: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(nll.is_finite(), "{line}");
        // the tape's f64 likelihood agrees with the default forward mode in f32
        let o = likelihood(&model, &data, &["--n", "50", "--precision", "f64"]);
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{}", text(&o));
        let nll64: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            (nll64 - nll).abs() < 1e-3 * (1.0 + nll.abs()),
            "{sde} d = {d}: f64 NLL {nll64} vs f32 {nll}"
        );
    }
}

#[test]
fn diffusion_flags_that_do_not_fit_are_one_line_errors() {
    let dir = tmp_dir("diffusion", "refusals");
    let run = dir.join("run");
    let o = stein(&[
        "train",
        "--model",
        "diffusion",
        "--steps",
        "30",
        "--samples",
        "20",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let model = run.join("model.json");
    let ebm = dir.join("ebm");
    let o = stein(&[
        "train",
        "--steps",
        "20",
        "--samples",
        "20",
        "--quiet",
        "--out",
        ebm.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // an energy model has a likelihood too (log Z by AIS); a score network has none
    let o = likelihood(&ebm.join("model.json"), "two-moons", &["--n", "200"]);
    let line = text(&o);
    assert!(
        o.status.success() && line.starts_with("NLL ") && line.contains("log Z"),
        "{line}"
    );
    let o = likelihood(
        &ebm.join("model.json"),
        "two-moons",
        &["--precision", "f32"],
    );
    assert!(
        !o.status.success() && text(&o).contains("--precision applies to diffusion models"),
        "{}",
        text(&o)
    );
    let score_net = dir.join("score");
    let o = stein(&[
        "train",
        "--model",
        "score",
        "--steps",
        "20",
        "--samples",
        "20",
        "--quiet",
        "--out",
        score_net.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.join("x.csv");
    for (args, needle) in [
        (
            vec!["train", "--model", "diffusion", "--loss", "dsm"],
            "`objective` = dsm: trains score and energy models, not diffusion models",
        ),
        (
            vec!["train", "--model", "diffusion", "--sampler", "mala"],
            "a diffusion model takes --sampler",
        ),
        (
            vec!["train", "--resume", run.to_str().unwrap(), "--steps", "30"],
            "is complete (step 30)",
        ),
        (
            vec!["train", "--resume", run.to_str().unwrap()],
            "is complete (step 30)",
        ),
        (
            vec!["train", "--resume", run.to_str().unwrap(), "--steps", "20"],
            "is at step 30 already",
        ),
        (
            vec![
                "train",
                "--resume",
                run.to_str().unwrap(),
                "--steps",
                "60",
                "--lr",
                "0.1",
            ],
            "--lr 0.1 cannot continue the run",
        ),
        (
            vec![
                "train",
                "--resume",
                run.to_str().unwrap(),
                "--steps",
                "60",
                "--sde",
                "ve",
            ],
            "--sde cannot change the run",
        ),
        (
            vec![
                "train",
                "--model",
                "energy",
                "--resume",
                run.to_str().unwrap(),
                "--steps",
                "60",
            ],
            "it was trained with --model diffusion",
        ),
        (
            vec![
                "train",
                "--model",
                "diffusion",
                "--resume",
                ebm.to_str().unwrap(),
                "--steps",
                "60",
            ],
            "it was trained with --model energy",
        ),
        (
            vec![
                "train",
                "--resume",
                run.to_str().unwrap(),
                "--steps",
                "60",
                "--precision",
                "f64",
            ],
            "--precision f64 cannot continue the run in",
        ),
        (
            vec![
                "sample",
                "--model",
                ebm.join("model.json").to_str().unwrap(),
                "--precision",
                "f32",
                "--out",
                out.to_str().unwrap(),
            ],
            "--precision applies to diffusion models",
        ),
        (vec!["train", "--sampler", "ode"], "is a diffusion sampler"),
        (
            vec!["train", "--sde", "ve"],
            "--sde applies to --model diffusion and --model flow only",
        ),
        (
            vec!["train", "--t-min", "0.001"],
            "--t-min applies to --model diffusion and --model flow only",
        ),
        (
            vec!["train", "--model", "diffusion", "--t-min", "0.9"],
            "earliest time",
        ),
        (
            vec!["train", "--model", "diffusion", "--t-min", "1e-300"],
            "earliest time must lie in [1e-7",
        ),
        (
            vec![
                "sample",
                "--model",
                model.to_str().unwrap(),
                "--sampler",
                "nuts",
                "--out",
                out.to_str().unwrap(),
            ],
            "a diffusion model takes",
        ),
        (
            vec![
                "sample",
                "--model",
                ebm.join("model.json").to_str().unwrap(),
                "--sampler",
                "ddim",
                "--out",
                out.to_str().unwrap(),
            ],
            "is a diffusion sampler",
        ),
        (
            vec![
                "likelihood",
                "--model",
                score_net.join("model.json").to_str().unwrap(),
                "--data",
                "two-moons",
            ],
            "a score network has no log-density",
        ),
        (
            vec![
                "likelihood",
                "--model",
                model.to_str().unwrap(),
                "--data",
                "nope",
            ],
            "unknown dataset",
        ),
    ] {
        let mut a = args.clone();
        let fresh = dir.join("fresh");
        if a[0] == "train" && !a.contains(&"--resume") {
            a.extend(["--steps", "5", "--quiet", "--out", fresh.to_str().unwrap()]);
        }
        let o = stein(&a);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(
            !o.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!fresh.exists() && !out.exists(), "{args:?} wrote something");
    }
}

#[test]
fn a_diffusion_run_continues_with_resume() {
    let dir = tmp_dir("diffusion", "resume");
    let run = dir.join("run");
    let train = |extra: &[&str]| {
        let mut a = vec!["train", "--samples", "30", "--quiet"];
        a.extend(extra);
        stein(&a)
    };
    let o = train(&[
        "--model",
        "diffusion",
        "--precision",
        "f64",
        "--steps",
        "40",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ck = std::fs::read_to_string(run.join("checkpoint.json")).unwrap();
    assert!(ck.contains(r#""step":40"#), "{}", &ck[..ck.len().min(300)]);
    assert!(ck.contains(r#""precision":"F64""#));
    // no --model needed: the folder says what it holds (naming its own precision is fine)
    let o = train(&[
        "--resume",
        run.to_str().unwrap(),
        "--steps",
        "70",
        "--precision",
        "f64",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("40 → 70"), "{}", text(&o));
    let ck = std::fs::read_to_string(run.join("checkpoint.json")).unwrap();
    assert!(ck.contains(r#""step":70"#));
    // the loss log of the whole run, every 10 steps and the end of each call: 10, 20, 30, 40, 50, 60, 70
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [10, 20, 30, 40, 50, 60, 70]);
    let model = std::fs::read_to_string(run.join("model.json")).unwrap();
    assert!(
        !model.contains("training"),
        "a finished model file keeps no training state"
    );
    for f in ["samples.csv", "summary.txt", "loss.png"] {
        assert!(run.join(f).is_file(), "{f}");
    }
}

#[test]
fn a_flow_model_trains_samples_deterministically_and_has_a_likelihood() {
    let dir = tmp_dir("diffusion", "flow");
    let run = dir.join("flow");
    let o = stein(&[
        "train",
        "--model",
        "flow",
        "--coupling",
        "ot",
        "--steps",
        "200",
        "--samples",
        "100",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(run.join("summary.txt")).unwrap();
    assert!(
        summary.contains("straight path")
            && summary.contains("velocity")
            && summary.contains("NLL"),
        "{summary}"
    );
    let json = std::fs::read_to_string(run.join("model.json")).unwrap();
    assert!(
        json.contains("flow-matching-ot") && json.contains("Linear"),
        "the objective and the path are kept"
    );
    let model = run.join("model.json");
    let sample_with = |extra: &[&str]| {
        let out = dir.join(format!("s{}.csv", extra.join("-")));
        let mut flags = vec!["--n", "30"];
        flags.extend(extra);
        (sample(&model, &out, &flags), out)
    };
    // the default sampler is the ODE; the multistep solvers and DDIM run; the reverse SDE is refused
    for extra in [
        &[][..],
        &["--sampler", "unipc", "--steps", "5"],
        &["--sampler", "ddim", "--steps", "5"],
    ] {
        let (o, out) = sample_with(extra);
        assert!(o.status.success(), "{extra:?}: {}", text(&o));
        assert_eq!(csv_shape(&out), (30, 2));
    }
    let (o, _) = sample_with(&["--sampler", "sde"]);
    assert!(
        !o.status.success() && text(&o).contains("deterministic samplers"),
        "{}",
        text(&o)
    );
    let o = likelihood(&model, "two-moons", &["--n", "50"]);
    assert!(
        o.status.success() && text(&o).contains("NLL"),
        "{}",
        text(&o)
    );
    // the OT coupling is for the straight path; --coupling belongs to flow models
    let o = stein(&[
        "train",
        "--model",
        "flow",
        "--coupling",
        "ot",
        "--sde",
        "vp",
        "--steps",
        "5",
        "--out",
        dir.join("y").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("straight path only") && !dir.join("y").exists(),
        "{}",
        text(&o)
    );
    let o = stein(&[
        "train",
        "--coupling",
        "ot",
        "--steps",
        "5",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--coupling applies to --model flow only"),
        "{}",
        text(&o)
    );
}
