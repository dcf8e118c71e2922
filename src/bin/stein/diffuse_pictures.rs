//! The pictures of a diffusion run: samples (with the model's density and score for d = 1, through the
//! probability-flow likelihood), the learned score field at t = 0.1 (d = 2), and particles from noise to data.

use crate::args::ViewArg;
use crate::error::CliError;
use crate::pictures::{animate_over_data, far_out, samples_picture};
use crate::plane::Kde;
use std::path::Path;
use stein::autodiff::Tensor;
use stein::models::diffusion::net::TimeModel;
use stein::models::diffusion::TimeScore;
use stein::models::nn::Precision;
use stein::run::diffusion::likelihood;
use stein::run::subsample_rows;
use stein::scores::plot::{self, padded_range, Bounds, Curve, FieldOptions};
use stein::scores::Score;

/// The model's score at time t in data coordinates (s_x = s_z / scale under the standardisation).
struct AtTime<'a>(&'a TimeModel, f64);

impl Score for AtTime<'_> {
    fn score_dim(&self) -> usize {
        self.0.dim
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        let mut z = Tensor::row(x);
        if let Some(st) = &self.0.standardization {
            st.to_model(&mut z);
        }
        let mut s = Tensor::zeros(0, 0);
        self.0.score_at(&z, self.1, &mut s);
        for (j, o) in out.iter_mut().enumerate() {
            let scale = self
                .0
                .standardization
                .as_ref()
                .map_or(1.0, |st| st.scale[j]);
            *o = s.get(0, j) / scale;
        }
    }
}

/// The learned score at t = 0.1 (where it is smooth enough to read) over a KDE of the data (2-D models).
fn score_picture(path: &Path, model: &TimeModel, reference: &Tensor) -> Result<(), CliError> {
    let pts = subsample_rows(reference, 20_000);
    let frame = Bounds::around(&pts).ok_or_else(crate::pictures::far_out)?;
    let kde = Kde::new(&pts);
    let opts = FieldOptions {
        title: "learned score at t = 0.1 over a KDE of the data".into(),
        ..Default::default()
    };
    plot::score_field_fn(
        path,
        &|x: &[f64]| kde.log_density(x),
        &AtTime(model, 0.1),
        frame,
        &opts,
    )?;
    Ok(())
}

/// The curve of a 1-D model over the range of `points` ([`curve_on`]); `None` for more dimensions.
pub fn curve_1d<'a>(
    model: &'a TimeModel,
    points: &Tensor,
    seed: u64,
) -> Result<Option<Curve<'a>>, CliError> {
    if points.cols() != 1 {
        return Ok(None);
    }
    let range = padded_range((0..points.rows()).map(|i| points.get(i, 0))).ok_or_else(far_out)?;
    curve_on(model, range, seed).map(Some)
}

/// The model's log-density on a 1-D range through the ODE likelihood (on the 401 points `density_1d` draws)
/// and its derivative by central differences: the score of the law the model samples (the network's own
/// score at t ≈ 0 is its least accurate part).
fn curve_on<'a>(model: &'a TimeModel, range: (f64, f64), seed: u64) -> Result<Curve<'a>, CliError> {
    let n = 401;
    let h = (range.1 - range.0) / (n - 1) as f64;
    let xs = Tensor::from_fn(n, 1, |i, _| range.0 + h * i as f64);
    let lp = likelihood(model, &xs, seed, Precision::F64)?.nats;
    let slope: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
            (lp[b] - lp[a]) / (h * (b - a) as f64)
        })
        .collect();
    let index = move |x: f64| ((x - range.0) / h).round().clamp(0.0, (n - 1) as f64) as usize;
    Ok(Curve {
        label: "model".into(),
        log_density: Box::new(move |x| lp[index(x)]),
        score: Box::new(move |x| slope[index(x)]),
    })
}

/// The samples picture and (d ≥ 2) the GIF of particles from noise to data.
#[allow(clippy::too_many_arguments)]
pub fn pictures(
    stage: &mut crate::staging::Staging,
    model: &TimeModel,
    name: &str,
    view: ViewArg,
    samples: &Tensor,
    reference: &Tensor,
    snaps: &[Tensor],
    seed: u64,
) -> Result<Vec<&'static str>, CliError> {
    let curve = curve_1d(model, reference, seed)?;
    samples_picture(
        &stage.path("samples.png"),
        name,
        view,
        samples,
        Some(reference),
        curve,
    )?;
    let mut written = vec!["samples.png"];
    if samples.cols() == 2 {
        score_picture(&stage.path("score_field.png"), model, reference)?;
        written.push("score_field.png");
    }
    let title = |k: usize, n: usize| {
        format!(
            "{}: noise to data, {:.0}% of the reverse process",
            name,
            100.0 * k as f64 / (n - 1).max(1) as f64
        )
    };
    if animate_over_data(&stage.path("samples.gif"), snaps, reference, view, &title)? {
        written.push("samples.gif");
    }
    Ok(written)
}
