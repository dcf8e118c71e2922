//! `stein`: train a toy energy-based model, sample it and look at the result, from one command.
//!
//! ```text
//! stein train                         # two moons, noise-conditional energy net, NCSN loss, annealed Langevin
//! stein train --data 8gaussians --loss ssm-vr --model score --sampler ula --steps 3000
//! stein sample --model runs/RUN/model.json --n 2000 --sampler annealed --out samples.csv
//! stein plot score --target gmm-2d --out gmm.png
//! ```
//!
//! The binary is a thin layer: clap parsing (`args`), the output rules (`output`), and one module per
//! subcommand calling library functions (`stein::run`, `stein::models`, `stein::scores::plot`).

mod args;
mod choices;
mod data;
mod diffuse_pictures;
mod error;
mod finish;
mod lifecycle;
mod likelihood;
mod output;
mod pictures;
mod plane;
mod plot;
mod resume;
mod sample;
mod staging;
mod summary;
mod train;

use clap::{CommandFactory, FromArgMatches};
use error::CliError;
use std::process::ExitCode;

/// A clap error as one line: its first line, with the possible values when it lists them, and the arguments
/// it names on the lines below (a missing required argument is named, not only announced).
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: bad arguments").to_string();
    let values = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("[possible values:"));
    if let Some(v) = values {
        return format!("{first} {v}");
    }
    if first.ends_with(':') {
        // "the following required arguments were not provided:" then one argument per indented line
        let named: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        if !named.is_empty() {
            return format!("{first} {}", named.join(", "));
        }
    }
    first
}

fn main() -> ExitCode {
    // A bug should still read as one line, not a backtrace (RUST_BACKTRACE=1 shows it).
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("stein: internal error: {info}");
        }));
    }
    let matches = match args::Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("{} (see `stein --help`)", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let mut out = output::Stdout;
    let result: Result<(), CliError> = match &cli.command {
        args::Command::Train(a) => {
            let m = matches
                .subcommand_matches("train")
                .expect("the train subcommand");
            train::run(a, m, &mut out)
        }
        args::Command::Sample(a) => sample::run(a, &mut out),
        args::Command::Likelihood(a) => likelihood::run(a, &mut out),
        args::Command::Plot(a) => plot::run(a, &mut out),
        args::Command::Data(a) => data::write(a, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
