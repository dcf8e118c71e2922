//! The pictures are written, in both formats, and a bad path is a clear error.
#![cfg(feature = "plot")]

use stein_scores::plot::{
    curves_1d, line_chart, samples_over_density, scatter_compare, score_field, trajectories,
    Bounds, Curve, FieldOptions,
};
use stein_scores::{Banana, Normal, Sample, ScoreError};

/// A file path in its own temporary folder; the folder goes when this is dropped.
struct TmpFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl std::ops::Deref for TmpFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for TmpFile {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

fn tmp(name: &str) -> TmpFile {
    let dir = tempfile::Builder::new()
        .prefix("stein-plot-test-")
        .tempdir()
        .unwrap();
    let path = dir.path().join(name);
    TmpFile { _dir: dir, path }
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

/// The `<circle …>` elements of an SVG drawn with the given fill colour and opacity.
fn circles(svg: &str, fill: &str, opacity: &str) -> usize {
    svg.split("<circle")
        .skip(1)
        .filter(|c| {
            let tag = &c[..c.find('>').unwrap_or(c.len())];
            tag.contains(fill) && tag.contains(opacity)
        })
        .count()
}

/// The texts of an SVG, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

/// A cloud N(0, 3² I) of 400 points: wider than a frame [−2, 2]².
fn wide_cloud() -> Vec<Vec<f64>> {
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(3);
    (0..400)
        .map(|_| {
            let z: [f64; 2] = [
                rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng),
                rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng),
            ];
            vec![3.0 * z[0], 3.0 * z[1]]
        })
        .collect()
}

#[test]
fn points_outside_the_frame_are_not_drawn_on_its_edge() {
    let cloud = wide_cloud();
    let frame = Bounds::square(2.0);
    let inside = cloud.iter().filter(|p| frame.contains(p[0], p[1])).count();
    assert!(inside > 20 && inside < 300, "{inside} of 400 inside");
    // one set: grey (#969696) at opacity 0.6 in scatter_compare; the legend's marker is opaque
    let svg = tmp("wide.svg");
    scatter_compare(&svg, "wide", &[("samples", &cloud)], frame, (300, 300)).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        circles(&text, "#969696", "opacity=\"0.6\""),
        inside,
        "one dot per point inside, none on the edge"
    );
    assert!(text.contains(&format!("({} outside the frame)", 400 - inside)));
    // white dots at opacity 0.75 over a heat map
    let n = Normal::new(0.0, 1.0).unwrap();
    let mvn = stein_scores::MultivariateNormal::isotropic(vec![0.0, 0.0], 1.0).unwrap();
    let _ = n;
    let opts = FieldOptions {
        cells: 10,
        size: (300, 260),
        ..Default::default()
    };
    let svg = tmp("wide_heat.svg");
    samples_over_density(&svg, &mvn, &cloud, frame, &opts).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(circles(&text, "#FFFFFF", "opacity=\"0.75\""), inside);
    // a cloud wholly outside leaves no dot at all
    let far: Vec<Vec<f64>> = cloud.iter().map(|p| vec![p[0] + 50.0, p[1]]).collect();
    scatter_compare(&svg, "far", &[("samples", &far)], frame, (300, 300)).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(circles(&text, "#969696", "opacity=\"0.6\""), 0);
}

#[test]
fn heat_maps_carry_a_colour_bar_in_nats() {
    let b = Banana::new(1.0, 0.5).unwrap();
    let opts = FieldOptions {
        arrows: 5,
        cells: 10,
        size: (400, 300),
        title: "b".into(),
    };
    let svg = tmp("bar.svg");
    score_field(&svg, &b, &b, Bounds::square(3.0), &opts).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        texts(&text).iter().any(|t| t == "log p + const"),
        "the colour bar names its quantity"
    );
}

#[test]
fn step_axes_read_as_integers_and_losses_spanning_decades_get_a_log_axis() {
    let falling: Vec<(f64, f64)> = (0..=40)
        .map(|k| (100.0 * k as f64, 10f64.powf(2.0 - 0.1 * k as f64)))
        .collect();
    let svg = tmp("loss.svg");
    line_chart(
        &svg,
        "loss",
        ("step", "loss"),
        &[("loss", &falling)],
        (500, 300),
    )
    .unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    let t = texts(&text);
    assert!(
        t.iter().any(|t| t == "loss (log scale)"),
        "a log axis says so"
    );
    assert!(
        t.iter().any(|t| t == "2000") && !t.iter().any(|t| t == "2000.0"),
        "integer steps: {t:?}"
    );
    // a loss that changes sign keeps a linear axis
    let signed: Vec<(f64, f64)> = falling.iter().map(|&(s, l)| (s, l - 1.0)).collect();
    line_chart(
        &svg,
        "loss",
        ("step", "loss"),
        &[("loss", &signed)],
        (500, 300),
    )
    .unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    let t = texts(&text);
    assert!(!text.contains("log scale") && t.iter().any(|t| t == "loss"));
    // fractional ticks read short: "0.3", never the float noise of "0.30000000000000004"
    let unit: Vec<(f64, f64)> = (0..=19)
        .map(|k| (k as f64 / 19.0, 1.0 + k as f64))
        .collect();
    line_chart(&svg, "t", ("t", "y"), &[("y", &unit)], (500, 300)).unwrap();
    let t = texts(&std::fs::read_to_string(&svg).unwrap());
    assert!(
        t.iter().any(|t| t == "0.3") && !t.iter().any(|t| t.contains("0000")),
        "{t:?}"
    );
}

#[test]
fn animations_decode_with_their_frames_and_size() {
    use stein_scores::plot::{animate_points, animate_score_field, FieldFrame, MAX_FRAMES};
    use stein_scores::{LogDensity, Tempered};
    let b = Banana::new(1.0, 0.5).unwrap();
    let frames: Vec<FieldFrame> = [0.5, 1.0, 2.0]
        .iter()
        .map(|&t| {
            let d = Tempered::new(b.clone(), t).unwrap();
            let q = d.clone();
            FieldFrame {
                title: format!("T = {t}"),
                log_density: Box::new(move |x: &[f64]| q.log_prob(x)),
                score: Box::new(d),
            }
        })
        .collect();
    let opts = FieldOptions {
        arrows: 6,
        cells: 12,
        size: (220, 180),
        title: String::new(),
    };
    let gif_path = tmp("tempered.gif");
    animate_score_field(&gif_path, &frames, Bounds::square(3.0), &opts, 100).unwrap();
    let decoded = decode(&gif_path);
    assert_eq!(decoded, (3, 220, 180));
    // points moving: 4 frames
    let cloud = wide_cloud();
    let shots: Vec<(String, Vec<Vec<f64>>)> = (0..4)
        .map(|k| (format!("{k}"), cloud[k * 10..k * 10 + 50].to_vec()))
        .collect();
    let ld = |x: &[f64]| b.log_prob(x);
    animate_points(
        &gif_path,
        &ld,
        Some(&b),
        &shots,
        Bounds::square(3.0),
        &opts,
        80,
    )
    .unwrap();
    assert_eq!(decode(&gif_path), (4, 220, 180));
    // refusals name the problem and write nothing
    let png = tmp("not-a.png");
    let e = animate_points(&png, &ld, None, &shots, Bounds::square(3.0), &opts, 80).unwrap_err();
    assert!(e.to_string().contains(".gif") && !png.exists(), "{e}");
    let many = vec![("x".to_string(), vec![vec![0.0, 0.0]]); MAX_FRAMES + 1];
    let e =
        animate_points(&gif_path, &ld, None, &many, Bounds::square(3.0), &opts, 80).unwrap_err();
    assert!(e.to_string().contains("frames"), "{e}");
}

/// (frames, width, height) of a GIF file.
fn decode(path: &std::path::Path) -> (usize, u16, u16) {
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
fn one_d_densities_and_pair_grids_are_drawn() {
    use stein_scores::plot::{density_1d, pair_grid};
    let n = Normal::new(0.0, 1.0).unwrap();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
    let xs: Vec<f64> = n
        .sample_n(&mut rng, 500)
        .into_iter()
        .map(|v| v[0])
        .collect();
    let p = tmp("d1.png");
    density_1d(
        &p,
        "normal",
        (-4.0, 4.0),
        &Curve::of("N(0, 1)", &n, &n),
        &[("samples", &xs)],
        (400, 400),
    )
    .unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() > 1000);
    let pts: Vec<Vec<f64>> = (0..300)
        .map(|i| vec![xs[i], xs[i + 1], xs[i + 2], -xs[i]])
        .collect();
    let p = tmp("pairs.svg");
    pair_grid(&p, "pairs", &[("data", &pts)], 3, (450, 450)).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    // 3 × 3 cells: 6 scatter plots of 300 points (minus the few outside their frames)
    let dots = circles(&text, "#969696", "opacity=\"0.5\"");
    assert!(dots > 6 * 290 && dots <= 6 * 300, "{dots}");
    let e = pair_grid(&p, "none", &[("data", &[] as &[Vec<f64>])], 3, (450, 450)).unwrap_err();
    assert!(e.to_string().contains("no coordinates"), "{e}");
}
