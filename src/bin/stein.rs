//! `stein`: train a toy energy-based model, sample it and look at the result, from one command.
//!
//! ```text
//! stein train                         # two moons, noise-conditional energy net, NCSN loss, annealed Langevin
//! stein train --data 8gaussians --loss ssm-vr --model score --sampler ula --steps 3000
//! stein sample --model runs/RUN/model.json --n 2000 --sampler annealed --out samples.csv
//! stein plot score --target gmm-2d --out gmm.png
//! ```

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use stein::app::{self, TrainOptions};

#[derive(Parser)]
#[command(
    name = "stein",
    version,
    about = "Score-based modelling: train a toy EBM, sample it, plot scores."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on 2-D data, sample it, and write a run folder (model, metrics, pictures, summary).
    Train {
        /// Built-in data set (two-moons, 8gaussians, swiss-roll, checkerboard, rings, pinwheel, spirals) or a CSV path.
        #[arg(long, default_value = "two-moons")]
        data: String,
        /// energy (score = −∇E) or score.
        #[arg(long, default_value = "energy")]
        model: String,
        /// dsm, ncsn, ssm, ssm-vr, ism, nce, cd.
        #[arg(long, default_value = "ncsn")]
        loss: String,
        /// ula, mala, hmc, annealed.
        #[arg(long, default_value = "annealed")]
        sampler: String,
        /// Optimiser steps.
        #[arg(long, default_value_t = 4000)]
        steps: usize,
        /// Minibatch size.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Learning rate (cosine-decayed).
        #[arg(long, default_value_t = 2e-3)]
        lr: f64,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Run folder (default: runs/<data>-<time>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its checkpoint (until --steps in total).
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Samples drawn at the end.
        #[arg(long, default_value_t = 1000)]
        samples: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Draw samples from a saved model into a CSV file (and a PNG beside it for 2-D models).
    Sample {
        /// A model.json written by `stein train`.
        #[arg(long)]
        model: PathBuf,
        /// Number of samples.
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// ula, mala, hmc, annealed.
        #[arg(long, default_value = "annealed")]
        sampler: String,
        /// Output CSV file.
        #[arg(long, default_value = "samples.csv")]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Picture of an analytic target's score field or density.
    Plot {
        /// score or density.
        what: String,
        /// gmm-1d, gmm-2d, banana, funnel, ring, 8gaussians, rings, laplace, student-t.
        #[arg(long)]
        target: String,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn run(cli: Cli) -> Result<(), app::AppError> {
    match cli.command {
        Command::Train {
            data,
            model,
            loss,
            sampler,
            steps,
            batch,
            lr,
            seed,
            out,
            resume,
            samples,
            quiet,
        } => {
            let opts = TrainOptions {
                data,
                model,
                loss,
                sampler,
                steps,
                batch,
                lr,
                seed,
                out,
                resume,
                samples,
                progress: !quiet,
            };
            let s = app::train(&opts)?;
            println!("run folder   {}", s.out.display());
            println!(
                "steps        {} in {:.1} s, final loss {:.4}",
                s.steps, s.train_seconds, s.final_loss
            );
            println!(
                "samples      {} with {} in {:.1} s, MMD² to held-out data {:.5}",
                opts.samples, opts.sampler, s.sample_seconds, s.mmd
            );
            println!("pictures     samples.png, score_field.png, loss.png; summary.txt, model.json, metrics.jsonl");
        }
        Command::Sample {
            model,
            n,
            sampler,
            out,
            seed,
        } => {
            let acc = app::sample_saved(&model, n, &sampler, &out, seed)?;
            println!(
                "wrote {} samples to {} (acceptance {acc:.3})",
                n,
                out.display()
            );
        }
        Command::Plot { what, target, out } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{target}-{what}.png")));
            app::plot_target(&what, &target, &out)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // A bug should still read as one line, not a backtrace (RUST_BACKTRACE=1 shows it).
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("stein: internal error: {info}");
        }));
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
