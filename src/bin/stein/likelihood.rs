//! `stein likelihood`: the log-likelihood of data under a diffusion model, through the probability-flow ODE.

use crate::args::LikelihoodArgs;
use crate::data::data_and_reference;
use crate::error::CliError;
use crate::output::Stdout;
use std::path::Path;
use stein::autodiff::Tensor;
use stein::models::diffusion::file::{DiffusionFile, FORMAT};
use stein::run::diffusion::likelihood;
use stein::run::subsample_rows;

/// Whether `path` holds a diffusion model file (its `format` field).
pub fn is_diffusion_file(path: &Path) -> bool {
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() < 1 << 30);
    small
        && std::fs::File::open(path)
            .ok()
            .and_then(|f| {
                serde_json::from_reader::<_, serde_json::Value>(std::io::BufReader::new(f)).ok()
            })
            .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(FORMAT))
}

pub fn run(a: &LikelihoodArgs, out: &mut Stdout) -> Result<(), CliError> {
    if a.model.is_file() && !is_diffusion_file(&a.model) {
        return Err(CliError::Usage(format!(
            "{}: stein likelihood reads diffusion models (stein train --model diffusion); this is not one",
            a.model.display()
        )));
    }
    let file = DiffusionFile::load(&a.model)?;
    let (data, _) = data_and_reference(&a.data, a.seed, 2)?;
    let rows: Vec<f64> = subsample_rows(&data, a.n).concat();
    let x = Tensor::new(rows.len() / data.cols().max(1), data.cols(), rows).expect("whole rows");
    let ll = likelihood(&file, &x, a.seed)?;
    let nll = -ll.mean_nats();
    let n = ll.nats.len() as f64;
    let se =
        (ll.nats.iter().map(|v| (v + nll).powi(2)).sum::<f64>() / (n - 1.0).max(1.0) / n).sqrt();
    let bits = ll.bits_per_dim.iter().sum::<f64>() / n.max(1.0);
    out.line(format!(
        "NLL {nll:.4} ± {se:.4} nats ({bits:.4} bits/dim) over {} points of {}",
        ll.nats.len(),
        a.data
    ))
}
