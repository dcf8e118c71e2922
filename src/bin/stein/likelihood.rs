//! `stein likelihood`: the log-likelihood of data under a diffusion model, through the probability-flow ODE.

use crate::args::LikelihoodArgs;
use crate::data::evaluation_data;
use crate::error::CliError;
use crate::output::Stdout;
use stein::autodiff::Tensor;
use stein::models::io::ModelFile;
use stein::models::network::Network;
use stein::run::diffusion::likelihood;
use stein::run::subsample_rows;

pub fn run(a: &LikelihoodArgs, out: &mut Stdout) -> Result<(), CliError> {
    let file = ModelFile::load(&a.model)?;
    let Network::Diffusion(model) = &file.network else {
        return Err(CliError::Usage(format!(
            "{}: stein likelihood reads diffusion models (stein train --model diffusion); this is a score or energy model",
            a.model.display()
        )));
    };
    let (data, what) = evaluation_data(&a.data, a.seed, a.n)?;
    if data.cols() != model.dim {
        return Err(CliError::Usage(format!(
            "--data {}: points of {} columns; the model has {} dimensions",
            a.data,
            data.cols(),
            model.dim
        )));
    }
    let rows: Vec<f64> = subsample_rows(&data, a.n).concat();
    let x = Tensor::new(rows.len() / data.cols().max(1), data.cols(), rows).expect("whole rows");
    let ll = likelihood(model, &x, a.seed)?;
    let n = ll.nats.len() as f64;
    let nll = -ll.mean_nats();
    let se =
        (ll.nats.iter().map(|v| (v + nll).powi(2)).sum::<f64>() / (n - 1.0).max(1.0) / n).sqrt();
    let bits = ll.bits_per_dim.iter().sum::<f64>() / n.max(1.0);
    if !(nll.is_finite() && se.is_finite() && bits.is_finite()) {
        return Err(CliError::Usage(format!(
            "the mean log-likelihood of {what} is not a finite number (NLL {nll}, standard error {se}): the points lie beyond what the model can score"
        )));
    }
    let used = if x.rows() < data.rows() {
        format!("{} evenly spaced points of {what}", x.rows())
    } else {
        format!("{} points: {what}", x.rows())
    };
    out.line(format!(
        "NLL {nll:.4} ± {se:.4} nats ({bits:.4} bits/dim) over {used}"
    ))
}
