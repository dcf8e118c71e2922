//! `stein likelihood`: the log-likelihood of data under a diffusion model (through the probability-flow
//! ODE) or an energy model (with log Z by annealed importance sampling), summarised per point: a mean that a
//! few points decide is printed with its median, its trimmed mean and those points.

use crate::args::LikelihoodArgs;
use crate::data::evaluation_data;
use crate::error::CliError;
use crate::output::Stdout;
use stein::autodiff::Tensor;
use stein::models::io::ModelFile;
use stein::models::network::Network;
use stein::models::nn::Kind;
use stein::models::quality::PointMean;
use stein::run::diffusion::likelihood;
use stein::run::quality::energy_log_likelihood;
use stein::run::{subsample_rows, RunError};

pub fn run(a: &LikelihoodArgs, out: &mut Stdout) -> Result<(), CliError> {
    let file = ModelFile::load(&a.model)?;
    let (dim, how) = match &file.network {
        Network::Diffusion(m) => (m.dim, "by the probability-flow ODE"),
        Network::Model(_) if a.precision.is_some() => {
            return Err(CliError::Usage(format!(
                "--precision applies to diffusion models; {} is a score or energy model (read in f64)",
                a.model.display()
            )))
        }
        Network::Model(m) if m.kind == Kind::Energy => {
            (m.dim, "with log Z by annealed importance sampling")
        }
        Network::Model(_) => {
            return Err(CliError::Usage(format!(
                "{}: a score network has no log-density; stein likelihood reads diffusion and energy models",
                a.model.display()
            )))
        }
    };
    let (data, what) = evaluation_data(&a.data, a.seed, a.n)?;
    if data.cols() != dim {
        return Err(CliError::Usage(format!(
            "--data {}: points of {} columns; the model has {dim} dimensions",
            a.data,
            data.cols(),
        )));
    }
    let rows: Vec<f64> = subsample_rows(&data, a.n).concat();
    let x = Tensor::new(rows.len() / data.cols().max(1), data.cols(), rows).expect("whole rows");
    let (log_q, extra) = match &file.network {
        Network::Diffusion(m) => (
            likelihood(m, &x, a.seed, crate::args::precision_of(a.precision))?.nats,
            String::new(),
        ),
        Network::Model(m) => {
            let (lq, z) = energy_log_likelihood(m, &x, &x, a.seed)?;
            if !z.reliable() {
                return Err(CliError::Run(RunError::Usage(format!(
                    "{}: log Z by annealed importance sampling kept an effective sample size of {:.0} of {} particles (10% needed), so the NLL cannot be read; the model's density may not be normalisable",
                    a.model.display(),
                    z.ess,
                    z.particles
                ))));
            }
            (
                lq,
                format!(
                    "; log Z {:.4} ± {:.4} (ESS {:.0} of {})",
                    z.log_z, z.se, z.ess, z.particles
                ),
            )
        }
    };
    let nll: Vec<f64> = log_q.iter().map(|v| -v).collect();
    let m = PointMean::of("NLL", &nll)?;
    // bits per dimension of the typical point (the trimmed mean's when a few points decide the mean)
    let bits = m.typical() / (dim as f64 * std::f64::consts::LN_2);
    let used = if x.rows() < data.rows() {
        format!("{} evenly spaced points of {what}", x.rows())
    } else {
        format!("{} points: {what}", x.rows())
    };
    out.line(format!(
        "NLL {} ({bits:.4} bits/dim) over {used}, {how}{extra}",
        m.words("nats")
    ))?;
    if m.dominated() {
        let points: Vec<String> = m
            .extremes
            .iter()
            .map(|&(i, v)| {
                let at: Vec<String> = x.row_slice(i).iter().map(|c| format!("{c:.4}")).collect();
                format!("({}): NLL {v:.4e}", at.join(", "))
            })
            .collect();
        out.line(format!(
            "the points that decide the mean (the model puts almost no density there): {}",
            points.join("; ")
        ))?;
    }
    Ok(())
}
