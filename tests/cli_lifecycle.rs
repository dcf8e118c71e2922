//! A run folder from the user's side (ARCHITECTURE.md, "Run folders"): Stein's files are never replaced, a
//! job's outputs appear all at once, and every state a failure or a kill can leave is continued by one named
//! command (`stein train --resume DIR`) or simply run again — for energy and diffusion runs alike.

mod common;

use common::{stein_in, tmp_dir};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A failure that is one line of words naming `needle`, with no panic.
fn one_line_error(o: &Output, needle: &str) {
    let e = err(o);
    assert!(!o.status.success(), "succeeded; expected `{needle}`");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "not one line: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("internal error"),
        "{e}"
    );
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", err(o));
    text(o)
}

/// `stein train` into `out` (relative to `dir`) with quick settings; `diffusion` picks the model.
fn train(dir: &Path, out: &str, diffusion: bool, extra: &[&str]) -> Output {
    let mut a = vec![
        "train",
        "--steps",
        "30",
        "--samples",
        "40",
        "--quiet",
        "--out",
        out,
    ];
    if diffusion {
        a.extend(["--model", "diffusion"]);
    }
    a.extend(extra);
    stein_in(dir, &a)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const FINISHED: [&str; 4] = ["samples.csv", "samples.png", "loss.png", "summary.txt"];

#[test]
fn stein_files_are_never_replaced_even_with_force() {
    let d = tmp_dir("lifecycle", "never-replaced");
    ok(&train(&d, "diff", true, &[]));
    ok(&train(&d, "ebm", false, &[]));
    // a pretty-printed diffusion checkpoint, a damaged one, and one renamed to a picture's name
    let ck = std::fs::read_to_string(d.join("diff/checkpoint.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ck).unwrap();
    std::fs::write(
        d.join("pretty.json"),
        serde_json::to_string_pretty(&v).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("damaged.json"), &ck[..ck.len() / 2]).unwrap();
    std::fs::write(d.join("pic.gif"), &ck).unwrap();
    let protected = [
        "diff/model.json",
        "diff/checkpoint.json",
        "ebm/model.json",
        "ebm/checkpoint.json",
        "pretty.json",
        "damaged.json",
    ];
    let before: Vec<Vec<u8>> = protected
        .iter()
        .map(|p| std::fs::read(d.join(p)).unwrap())
        .collect();
    for target in protected {
        for model in ["diff/model.json", "ebm/model.json"] {
            let o = stein_in(
                &d,
                &[
                    "sample", "--model", model, "--n", "20", "--out", target, "--force",
                ],
            );
            one_line_error(&o, "refusing to overwrite");
        }
    }
    // the GIF beside the CSV is a checkpoint
    let o = stein_in(
        &d,
        &[
            "sample",
            "--model",
            "diff/model.json",
            "--n",
            "20",
            "--out",
            "pic.csv",
            "--animate",
            "--force",
        ],
    );
    one_line_error(&o, "refusing to overwrite pic.gif");
    assert!(!d.join("pic.csv").exists() && !d.join("pic.png").exists());
    for (p, b) in protected.iter().zip(&before) {
        assert_eq!(&std::fs::read(d.join(p)).unwrap(), b, "{p} was touched");
    }
    assert_eq!(std::fs::read_to_string(d.join("pic.gif")).unwrap(), ck);
    // a damaged diffusion file is reported as what it was meant to be
    let o = stein_in(&d, &["sample", "--model", "damaged.json", "--out", "x.csv"]);
    one_line_error(&o, "a damaged diffusion model file");
    let o = stein_in(
        &d,
        &[
            "likelihood",
            "--model",
            "damaged.json",
            "--data",
            "two-moons",
        ],
    );
    one_line_error(&o, "a damaged diffusion model file");
}

#[test]
fn a_pretty_printed_diffusion_checkpoint_resumes() {
    let d = tmp_dir("lifecycle", "pretty");
    ok(&train(&d, "run", true, &[]));
    let ck = d.join("run/checkpoint.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    std::fs::write(&ck, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = ok(&stein_in(
        &d,
        &["train", "--resume", "run", "--steps", "40", "--quiet"],
    ));
    assert!(out.contains("30 → 40"), "{out}");
}

/// Start a long run, wait until its folder holds a checkpoint, then kill it (SIGKILL: no clean-up runs).
fn killed_run(dir: &Path, diffusion: bool) {
    let mut a = vec!["train", "--steps", "100000000", "--quiet", "--out", "run"];
    if diffusion {
        a.extend(["--model", "diffusion"]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_stein"))
        .args(&a)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !dir.join("run/checkpoint.json").exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_run_killed_while_training_continues_with_resume() {
    for diffusion in [false, true] {
        let d = tmp_dir("lifecycle", "killed");
        killed_run(&d, diffusion);
        // and a checkpoint write that was cut short, from a process that is gone
        std::fs::write(d.join("run/.checkpoint.json.999999999-0.tmp"), "{\"form").unwrap();
        // a rerun into the folder is refused (it holds a run) and says how to continue it
        one_line_error(&train(&d, "run", diffusion, &[]), "--resume");
        let out = ok(&stein_in(
            &d,
            &[
                "train",
                "--resume",
                "run",
                "--steps",
                "20",
                "--samples",
                "40",
                "--quiet",
            ],
        ));
        assert!(out.contains("run folder"), "{out}");
        let files = names(&d.join("run"));
        for f in FINISHED {
            assert!(files.contains(&f.to_string()), "{diffusion}: {files:?}");
        }
        assert!(
            !files.iter().any(|f| f.starts_with('.')),
            "leftovers: {files:?}"
        );
    }
}

#[test]
fn a_run_killed_after_training_is_finished_by_resume() {
    for diffusion in [false, true] {
        let d = tmp_dir("lifecycle", "finish");
        ok(&train(&d, "run", diffusion, &[]));
        // killed after its last checkpoint, before samples, pictures and summary: as they would be
        for f in std::fs::read_dir(d.join("run")).unwrap() {
            let p = f.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if !["checkpoint.json", "model.json", "metrics.jsonl"].contains(&n.as_str()) {
                std::fs::remove_file(&p).unwrap();
            }
        }
        std::fs::create_dir(d.join("run/.stein-partial-999999999-0")).unwrap();
        // the default total is the run's own: no --steps needed
        let out = ok(&stein_in(
            &d,
            &["train", "--resume", "run", "--samples", "40", "--quiet"],
        ));
        assert!(out.contains("trained already"), "{out}");
        let files = names(&d.join("run"));
        for f in FINISHED {
            assert!(files.contains(&f.to_string()), "{diffusion}: {files:?}");
        }
        assert!(!files.iter().any(|f| f.starts_with('.')), "{files:?}");
        // now complete: resuming says so, and what to do instead
        one_line_error(
            &stein_in(&d, &["train", "--resume", "run", "--quiet"]),
            "is complete (step 30)",
        );
    }
}

#[test]
fn a_fresh_run_that_learned_nothing_leaves_nothing() {
    for diffusion in [false, true] {
        let d = tmp_dir("lifecycle", "diverged");
        let o = train(&d, "run", diffusion, &["--lr", "1e300"]);
        one_line_error(&o, "nothing was learned");
        assert!(!d.join("run").exists(), "{diffusion}: the folder stayed");
        // into a folder of the user's: the run's files go, the folder and the user's files stay
        std::fs::create_dir(d.join("mine")).unwrap();
        let o = train(&d, "mine", diffusion, &["--lr", "1e300"]);
        one_line_error(&o, "nothing was learned");
        assert!(names(&d.join("mine")).is_empty());
        // the same command, with a sane rate, needs no --force
        ok(&train(&d, "run", diffusion, &[]));
        ok(&train(&d, "mine", diffusion, &[]));
    }
}

#[test]
fn a_folder_holding_only_leftovers_takes_a_new_run() {
    let d = tmp_dir("lifecycle", "leftovers");
    std::fs::create_dir_all(d.join("run/.stein-partial-999999999-3")).unwrap();
    std::fs::write(d.join("run/.checkpoint.json.999999999-0.tmp"), "{").unwrap();
    ok(&train(&d, "run", false, &[]));
    assert!(!names(&d.join("run")).iter().any(|f| f.starts_with('.')));
    // but a folder with a file of the user's is still refused
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/.notes.tmp"), "mine").unwrap();
    one_line_error(&train(&d, "mine", false, &[]), "is not empty");
}

#[test]
fn resuming_a_diffusion_run_whose_data_changed_shape_is_an_error() {
    let d = tmp_dir("lifecycle", "reshaped");
    let rows: String = (0..300)
        .map(|i| format!("{},{}\n", (i as f64 * 0.1).sin(), (i as f64 * 0.3).cos()))
        .collect();
    std::fs::write(d.join("data.csv"), format!("a,b\n{rows}")).unwrap();
    ok(&train(&d, "run", true, &["--data", "data.csv"]));
    let rows3: String = (0..300).map(|i| format!("{i},1,2\n")).collect();
    std::fs::write(d.join("data.csv"), format!("a,b,c\n{rows3}")).unwrap();
    let o = stein_in(
        &d,
        &["train", "--resume", "run", "--steps", "40", "--quiet"],
    );
    one_line_error(&o, "now have 3 columns");
}

#[test]
fn numeric_flags_take_negative_and_special_values_to_their_range_check() {
    let d = tmp_dir("lifecycle", "flags");
    for (args, needle) in [
        (
            vec!["train", "--lr", "-inf"],
            "'--lr <LR>': -inf must be positive",
        ),
        (vec!["train", "--lr", "nan"], "--lr"),
        (
            vec!["train", "--model", "diffusion", "--t-min", "-1e-3"],
            "'--t-min <T_MIN>': -0.001 must be positive",
        ),
        (
            vec!["plot", "score", "--target", "ring", "--frames", "-1"],
            "'--frames <FRAMES>': -1 is out of range",
        ),
        (
            vec!["sample", "--model", "m.json", "--n", "-3"],
            "'--n <N>'",
        ),
        (vec!["train", "--batch", "-1e9"], "'--batch <BATCH>'"),
        (vec!["sample"], "--model <MODEL>"),
        (vec!["likelihood"], "--model <MODEL>, --data <DATA>"),
        (vec!["plot", "score"], "--target <TARGET>"),
    ] {
        let o = stein_in(&d, &args);
        one_line_error(&o, needle);
        assert!(
            !err(&o).contains("unexpected argument"),
            "{args:?}: {}",
            err(&o)
        );
    }
    assert!(
        names(&d).is_empty(),
        "a refused command wrote {:?}",
        names(&d)
    );
}

#[test]
fn likelihood_scores_fresh_points_or_every_row_and_is_finite_or_an_error() {
    let d = tmp_dir("lifecycle", "likelihood");
    ok(&train(&d, "run", true, &[]));
    let out = ok(&stein_in(
        &d,
        &[
            "likelihood",
            "--model",
            "run/model.json",
            "--data",
            "two-moons",
            "--n",
            "50",
        ],
    ));
    assert!(
        out.contains("over 50 points: a fresh draw of two-moons"),
        "{out}"
    );
    // a CSV is the user's own test data: every row, no split
    let rows: String = (0..120)
        .map(|i| {
            format!(
                "{},{}\n",
                (i as f64 * 0.1).sin(),
                (i as f64 * 0.3).cos() * 0.5
            )
        })
        .collect();
    std::fs::write(d.join("test.csv"), format!("a,b\n{rows}")).unwrap();
    let out = ok(&stein_in(
        &d,
        &[
            "likelihood",
            "--model",
            "run/model.json",
            "--data",
            "test.csv",
            "--n",
            "1000",
        ],
    ));
    assert!(out.contains("over 120 points"), "{out}");
    for bad in ["1e308", "-1.7e308", "1e-320"] {
        std::fs::write(d.join("bad.csv"), format!("a,b\n0.1,0.2\n{bad},0.5\n")).unwrap();
        let o = stein_in(
            &d,
            &[
                "likelihood",
                "--model",
                "run/model.json",
                "--data",
                "bad.csv",
            ],
        );
        let all = format!("{}{}", text(&o), err(&o));
        assert!(
            !all.contains("NaN") && !all.contains(" inf"),
            "{bad}: {all}"
        );
        if o.status.success() {
            assert!(text(&o).starts_with("NLL "), "{all}");
        } else {
            assert_eq!(err(&o).trim_end().lines().count(), 1, "{all}");
        }
    }
}

/// An energy model whose density AIS cannot normalise (one step of training: the untrained network's energy
/// falls without bound and its chains run off) gets no NLL and no KL — a sentence instead, in `summary.txt`
/// — and `stein likelihood` refuses in one line, instead of printing a log Z of 10²⁴ "± 1".
#[test]
fn an_energy_model_without_a_readable_log_z_gets_no_likelihood() {
    let d = tmp_dir("lifecycle", "improper");
    ok(&stein_in(
        &d,
        &[
            "train",
            "--steps",
            "1",
            "--samples",
            "300",
            "--sampler",
            "mala",
            "--quiet",
            "--out",
            "run",
        ],
    ));
    let summary = std::fs::read_to_string(d.join("run/summary.txt")).unwrap();
    assert!(
        summary.contains("log Z           not measured"),
        "{summary}"
    );
    assert!(
        !summary.contains("\nNLL ") && !summary.contains("KL(data"),
        "{summary}"
    );
    assert!(
        !summary.contains("verdict         samples match"),
        "{summary}"
    );
    let o = stein_in(
        &d,
        &[
            "likelihood",
            "--model",
            "run/model.json",
            "--data",
            "two-moons",
            "--n",
            "200",
        ],
    );
    one_line_error(&o, "the NLL cannot be read");
}
