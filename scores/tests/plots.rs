//! The pictures are written, in both formats, and a bad path is a clear error.
#![cfg(feature = "plot")]

use stein_scores::plot::{
    curves_1d, samples_over_density, score_field, trajectories, Bounds, Curve, FieldOptions,
};
use stein_scores::{Banana, Normal, Sample, ScoreError};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stein-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn score_field_writes_png_and_svg() {
    let b = Banana::new(1.0, 0.5).unwrap();
    let opts = FieldOptions {
        arrows: 8,
        cells: 20,
        size: (200, 200),
        title: "banana".into(),
    };
    let (png, svg) = (tmp("field.png"), tmp("field.svg"));
    score_field(&png, &b, &b, Bounds::square(3.0), &opts).unwrap();
    score_field(&svg, &b, &b, Bounds::square(3.0), &opts).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("banana") && text.contains("<polyline"));
}

#[test]
fn curves_and_samples_are_written() {
    let n = Normal::new(0.0, 1.0).unwrap();
    let p = tmp("curves.png");
    curves_1d(
        &p,
        "normal",
        (-3.0, 3.0),
        &[Curve::of("N(0,1)", &n, &n)],
        (300, 300),
    )
    .unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() > 1000);
    let b = Banana::new(1.0, 0.5).unwrap();
    let xs = b.sample_n(&mut rand::rng(), 100);
    let s = tmp("samples.svg");
    let opts = FieldOptions {
        cells: 10,
        size: (200, 200),
        ..Default::default()
    };
    samples_over_density(&s, &b, &xs, Bounds::square(4.0), &opts).unwrap();
    assert!(
        std::fs::read_to_string(&s)
            .unwrap()
            .matches("<circle")
            .count()
            >= 50
    );
}

#[test]
fn bad_paths_are_errors_naming_the_file() {
    let n = Normal::new(0.0, 1.0).unwrap();
    let e = curves_1d(
        "out.jpeg",
        "x",
        (-1.0, 1.0),
        &[Curve::of("n", &n, &n)],
        (100, 100),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ScoreError::Plot { path, .. } if path == "out.jpeg"),
        "{e}"
    );
    assert!(e.to_string().contains("unsupported extension `jpeg`"));
    let e = curves_1d(
        "/nonexistent-dir/x.png",
        "x",
        (-1.0, 1.0),
        &[Curve::of("n", &n, &n)],
        (100, 100),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/x.png"), "{e}");
}

#[test]
fn trajectories_are_drawn_one_polyline_per_path() {
    let b = Banana::new(1.0, 0.5).unwrap();
    let paths: Vec<Vec<Vec<f64>>> = (0..3)
        .map(|k| {
            (0..20)
                .map(|t| vec![t as f64 * 0.1, k as f64 * 0.5])
                .collect()
        })
        .collect();
    let s = tmp("traj.svg");
    let opts = FieldOptions {
        cells: 10,
        size: (200, 200),
        ..Default::default()
    };
    trajectories(&s, &b, &paths, Bounds::square(3.0), &opts).unwrap();
    let text = std::fs::read_to_string(&s).unwrap();
    assert_eq!(
        text.matches("<circle").count(),
        3,
        "one start marker per path"
    );
    assert!(text.matches("<polyline").count() >= 3);
}
