//! The command line on data of any dimension: CSV files of 1, 2 and 5 columns are trained, sampled and
//! pictured; animations decode with their frames.

mod common;

use common::{csv_shape, stein, text, tmp_dir};
use std::path::Path;

fn tmp(name: &str) -> common::Scratch {
    tmp_dir("dims", name)
}

/// `n` rows of `d` columns: two clusters along the first coordinate, the rest correlated with it.
fn write_csv(path: &Path, n: usize, d: usize) {
    let mut s: String = (0..d)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    let mut u = 0.5f64;
    let mut next = || {
        u = (u * 9301.0 + 0.49297).fract(); // a deterministic stream in [0, 1)
        u
    };
    for i in 0..n {
        let c = if i % 2 == 0 { -1.5 } else { 1.5 };
        let x0 = c + 0.4 * (next() - 0.5);
        let row: Vec<String> = (0..d)
            .map(|j| {
                format!(
                    "{:.5}",
                    if j == 0 {
                        x0
                    } else {
                        0.5 * x0 + (next() - 0.5) * (j as f64)
                    }
                )
            })
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// (frames, width, height) of a GIF.
fn gif_frames(path: &Path) -> (usize, u16, u16) {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut d = opts.read_info(std::fs::File::open(path).unwrap()).unwrap();
    let (w, h) = (d.width(), d.height());
    let mut n = 0;
    while d.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    (n, w, h)
}

#[test]
fn csv_data_of_1_2_and_5_columns_train_sample_and_draw() {
    for d in [1usize, 2, 5] {
        let dir = tmp(&format!("d{d}"));
        let csv = dir.join("data.csv");
        write_csv(&csv, 400, d);
        let run = dir.join("run");
        let o = stein(&[
            "train",
            "--data",
            csv.to_str().unwrap(),
            "--steps",
            "150",
            "--samples",
            "120",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "d = {d}: {}", text(&o));
        let mut files = vec![
            "model.json",
            "samples.csv",
            "samples.png",
            "loss.png",
            "summary.txt",
        ];
        if d >= 2 {
            files.extend(["score_field.png", "samples.gif"]);
        }
        for f in &files {
            let m =
                std::fs::metadata(run.join(f)).unwrap_or_else(|_| panic!("d = {d}: {f} missing"));
            assert!(m.len() > 500, "d = {d}: {f} is nearly empty");
        }
        if d == 1 {
            assert!(!run.join("samples.gif").exists() && !run.join("score_field.png").exists());
        } else {
            let (frames, w, h) = gif_frames(&run.join("samples.gif"));
            assert!(
                (20..=41).contains(&frames) && w > 300 && h > 300,
                "d = {d}: {frames} frames {w}×{h}"
            );
        }
        assert_eq!(csv_shape(&run.join("samples.csv")), (120, d), "d = {d}");
        let summary = std::fs::read_to_string(run.join("summary.txt")).unwrap();
        assert!(summary.contains(&format!("({d} dimensions)")), "{summary}");
        assert!(
            summary.contains("MMD²") && summary.contains("KSD²") && summary.contains("verdict"),
            "{summary}"
        );
        assert!(summary.contains("slightly below 0"), "{summary}");

        // sample the model: d columns, a picture, and on --animate a GIF (2-D and up)
        let out = dir.join("draws.csv");
        let model = run.join("model.json");
        let mut args = vec![
            "sample",
            "--model",
            model.to_str().unwrap(),
            "--n",
            "60",
            "--out",
            out.to_str().unwrap(),
        ];
        if d >= 2 {
            args.push("--animate");
        }
        let o = stein(&args);
        assert!(o.status.success(), "d = {d}: {}", text(&o));
        assert_eq!(csv_shape(&out), (60, d), "d = {d}");
        assert!(out.with_extension("png").exists());
        if d >= 2 {
            let (frames, _, _) = gif_frames(&out.with_extension("gif"));
            assert!(frames >= 20, "d = {d}: {frames} frames");
        } else {
            let o = stein(&[
                "sample",
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--force",
                "--animate",
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success() && err.contains("1 dimension"), "{err}");
        }
        if d == 5 {
            // the principal-plane view
            let o = stein(&[
                "sample",
                "--model",
                model.to_str().unwrap(),
                "--n",
                "60",
                "--out",
                out.to_str().unwrap(),
                "--force",
                "--view",
                "pca",
            ]);
            assert!(o.status.success(), "{}", text(&o));
        }
    }
}

#[test]
fn plot_animates_the_noise_level_and_the_temperature() {
    let dir = tmp("animate");
    let sigma = dir.join("sigma.gif");
    let o = stein(&[
        "plot",
        "score",
        "--target",
        "mixture",
        "--animate",
        "sigma",
        "--frames",
        "6",
        "--out",
        sigma.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(gif_frames(&sigma), (6, 640, 560));
    let temp = dir.join("t.gif");
    let o = stein(&[
        "plot",
        "density",
        "--target",
        "ring",
        "--animate",
        "temperature",
        "--frames",
        "4",
        "--out",
        temp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(gif_frames(&temp).0, 4);
    // a sweep the target cannot make, and a 1-D target, are one-line errors that write nothing
    let bad = dir.join("bad.gif");
    for (args, needle) in [
        (
            vec!["plot", "score", "--target", "banana", "--animate", "sigma"],
            "Gaussian mixtures",
        ),
        (
            vec![
                "plot",
                "score",
                "--target",
                "laplace",
                "--animate",
                "temperature",
            ],
            "is 1-D",
        ),
        (
            vec![
                "plot",
                "score",
                "--target",
                "ring",
                "--animate",
                "sigma",
                "--frames",
                "1",
            ],
            "out of range",
        ),
        (
            vec!["plot", "score", "--target", "ring"],
            "a GIF is an animation",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--out", bad.to_str().unwrap()]);
        let o = stein(&a);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(
            !o.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!bad.exists());
    }
}
