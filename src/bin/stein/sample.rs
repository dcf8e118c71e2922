//! `stein sample`: draw from a saved model into a CSV file (and a picture beside it for 2-D models).

use crate::args::SampleArgs;
use crate::error::CliError;
use crate::output::{check_output, write_csv, Stdout};
use stein::autodiff::Tensor;
use stein::models::io::ModelFile;
use stein::models::nn::{Conditioning, Kind};
use stein::run::{sample_model, subsample_rows, SamplerKind};
use stein::scores::plot::{self, Bounds};

pub fn run(a: &SampleArgs, out: &mut Stdout) -> Result<(), CliError> {
    let csv = &a.out;
    let png = csv.with_extension("png");
    check_output(csv, a.force)?;
    let f = ModelFile::load(&a.model)?;
    let model = f.model;
    if model.dim == 2 {
        check_output(&png, a.force)?;
    }
    let sampler = match a.sampler {
        Some(s) => s.kind(),
        None if model.conditioning != Conditioning::None => SamplerKind::Annealed,
        None if model.kind == Kind::Energy => SamplerKind::Mala,
        None => SamplerKind::Ula,
    };
    sampler.check(&model)?;
    // start from N(0, I) in model coordinates, mapped to the data's
    let mut init = stein::run::uniform_init(&vec![(-2.0, 2.0); model.dim], a.n, a.seed);
    if let Some(st) = &model.standardization {
        st.to_data(&mut init);
    }
    let (samples, run) = sample_model(&model, sampler, &init, a.seed)?;
    let acc = run.acceptance();
    write_csv(csv, &samples)?;
    if model.dim == 2 {
        let frame = frame_of(&samples).ok_or_else(|| {
            CliError::Usage("the samples are not finite or too far out to draw".into())
        })?;
        let sv = subsample_rows(&samples, 20_000);
        plot::scatter_compare(&png, "samples", &[("samples", &sv)], frame, (640, 640))?;
    }
    out.line(format!(
        "wrote {} samples ({}) to {} (acceptance {acc:.3})",
        a.n,
        sampler.name(),
        csv.display()
    ))
}

/// A frame around the first two coordinates of `t`, with a 15% margin; `None` when the points are not
/// finite or span nothing drawable.
pub fn frame_of(t: &Tensor) -> Option<Bounds> {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for i in 0..t.rows() {
        for j in 0..2 {
            let v = t.get(i, j);
            if !v.is_finite() {
                return None;
            }
            lo[j] = lo[j].min(v);
            hi[j] = hi[j].max(v);
        }
    }
    let pad = |a: f64, b: f64| 0.15 * (b - a).max(1e-3 * (1.0 + a.abs().max(b.abs())));
    let b = Bounds {
        x: (lo[0] - pad(lo[0], hi[0]), hi[0] + pad(lo[0], hi[0])),
        y: (lo[1] - pad(lo[1], hi[1]), hi[1] + pad(lo[1], hi[1])),
    };
    let ok = [b.x.0, b.x.1, b.y.0, b.y.1]
        .iter()
        .all(|v| v.is_finite() && v.abs() < 1e15)
        && b.x.1 > b.x.0
        && b.y.1 > b.y.0;
    ok.then_some(b)
}
