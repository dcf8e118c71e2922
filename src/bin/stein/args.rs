//! The command line's grammar (clap). Every default is stated here once; values are checked as they are
//! parsed, so a bad flag is an error before anything is read or written.

pub use crate::choices::*;
pub use crate::data::DataArgs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The most samples one command draws (`--samples`, `--n`).
pub const MAX_SAMPLES: usize = 1_000_000;
/// The most optimiser steps (`--steps`).
pub const MAX_STEPS: usize = 100_000_000;

#[derive(Parser)]
#[command(
    name = "stein",
    version,
    about = "Score-based modelling: train a toy EBM, sample it, plot scores."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model on data of any dimension, sample it, and write a run folder (model, metrics, pictures,
    /// an animation of the sampler, summary).
    Train(TrainArgs),
    /// Draw samples from a saved model into a CSV file, with a picture beside it (and an animated GIF).
    Sample(SampleArgs),
    /// The log-likelihood of data under a diffusion model, through the probability-flow ODE.
    Likelihood(LikelihoodArgs),
    /// Picture of an analytic target's score field or density, still or animated.
    Plot(PlotArgs),
    /// Write the points `stein train --data <SET> --seed <SEED>` trains on (or, with --split held-out, scores
    /// against) to a CSV file: a built-in set, or a CSV file split as a run splits it.
    Data(DataArgs),
}

/// `stein train`'s flags. Every default that is not a destination comes from the model's recipe
/// ([`stein::models::recipe::Recipe`]): the help below names them as the recipes hold them.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Built-in data set (two-moons, 8gaussians, swiss-roll, checkerboard, rings, pinwheel, spirals) or a
    /// CSV file of any number of columns. On --resume: the run's.
    #[arg(long, default_value = "two-moons")]
    pub data: String,
    /// What the network is: an energy model, a score network, or a diffusion model. On --resume: the run's.
    #[arg(long, value_enum, default_value_t = ModelArg::Energy)]
    pub model: ModelArg,
    /// The training objective (default: the recipe's — ncsn for energy and score models, diffusion-dsm for
    /// diffusion models). On --resume: the run's.
    #[arg(long, value_parser = objective_name)]
    pub loss: Option<String>,
    /// Hidden layer widths, comma-separated (default four of 96; six of 96 for diffusion). On --resume: the
    /// run's.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = count::<1, { stein::models::nn::limits::MAX_WIDTH }>)]
    pub hidden: Option<Vec<usize>>,
    /// The network's non-linearity (default silu). On --resume: the run's.
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// The sampler for the samples and pictures (default: annealed Langevin for noise-conditional models —
    /// --loss ncsn —, MALA for energy models, ULA for score networks, the reverse SDE for diffusion models).
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerArg>,
    /// Optimiser steps in total (default 4000; 20000 for diffusion; on --resume: the run's own total, or a new
    /// one).
    #[arg(long, allow_hyphen_values = true, value_parser = count::<1, MAX_STEPS>, conflicts_with = "time")]
    pub steps: Option<usize>,
    /// A budget of time instead of steps (`90s`, `5m`, `1h`): the run times three steps first and fixes its
    /// total of steps from them (printed and kept, so `--steps N` repeats it).
    #[arg(long, value_parser = duration)]
    pub time: Option<std::time::Duration>,
    /// Minibatch size (default 256; 512 for diffusion). On --resume: the run's.
    #[arg(long, allow_hyphen_values = true, value_parser = count::<1, { 1 << 20 }>)]
    pub batch: Option<usize>,
    /// Peak learning rate, cosine-decayed to 5% (default 2e-3; 4e-3 for diffusion). On --resume: the run's.
    #[arg(long, allow_hyphen_values = true, value_parser = positive_real)]
    pub lr: Option<f64>,
    /// Seed of every random draw (negative values wrap: −1 is 2⁶⁴ − 1). On --resume: the run's.
    #[arg(long, allow_hyphen_values = true, default_value_t = 0, value_parser = seed)]
    pub seed: u64,
    /// Run folder (default: a new folder runs/<data>-<date>-<time>). Must be empty unless --force.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its checkpoint (to its own total, or --steps).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Write into a --out folder that already holds files (an earlier run's files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Samples drawn at the end.
    #[arg(long, allow_hyphen_values = true, default_value_t = 1000, value_parser = count::<2, MAX_SAMPLES>)]
    pub samples: usize,
    /// Train on the data as they are, without standardising each coordinate to mean 0 and scale 1.
    #[arg(long)]
    pub no_standardize: bool,
    /// How pictures show data of more than two dimensions.
    #[arg(long, value_enum, default_value_t = ViewArg::Pairs)]
    pub view: ViewArg,
    /// The forward SDE of --model diffusion (default vp; linear for --model flow).
    #[arg(long, value_enum)]
    pub sde: Option<SdeArg>,
    /// How --model flow pairs data and noise (default independent). On --resume: the run's.
    #[arg(long, value_enum)]
    pub coupling: Option<CouplingArg>,
    /// The earliest time ε of a diffusion model's interval [ε, 1]: training draws t there, sampling ends there,
    /// the likelihood starts there: 10⁻⁷ to 0.5 (default: the SDE's, 10⁻⁵).
    #[arg(long, allow_hyphen_values = true, value_parser = positive_real)]
    pub t_min: Option<f64>,
    /// The arithmetic of the training passes (default: f32, the recipes' choice). Parameters and the
    /// optimiser stay f64. On --resume: the run's.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Keep a moving average of the parameters with this decay (e.g. 0.999) and write, sample and score the
    /// average (default: none). On --resume: the run's.
    #[arg(long, value_parser = decay)]
    pub ema: Option<f64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct SampleArgs {
    /// A model.json (or checkpoint.json) written by `stein train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of samples.
    #[arg(long, allow_hyphen_values = true, default_value_t = 1000, value_parser = count::<1, MAX_SAMPLES>)]
    pub n: usize,
    /// The sampler (default: annealed Langevin for noise-conditional models, MALA for energy models, ULA for
    /// score networks, the reverse SDE for diffusion models).
    #[arg(long, value_enum)]
    pub sampler: Option<SamplerArg>,
    /// Steps of a diffusion sampler (default: its own — sde 1,000, pc 500, ddim 100, heun 40 levels, dpmpp
    /// and unipc 20; the adaptive ode chooses its own).
    #[arg(long, allow_hyphen_values = true, value_parser = count::<1, { stein::models::diffusion::reverse::MAX_STEPS }>)]
    pub steps: Option<usize>,
    /// Output CSV file (a PNG of the samples is written beside it).
    #[arg(long, default_value = "samples.csv")]
    pub out: PathBuf,
    /// Also write an animated GIF beside it: the chains moving along the model's score field.
    #[arg(long)]
    pub animate: bool,
    /// How pictures show samples of more than two dimensions.
    #[arg(long, value_enum, default_value_t = ViewArg::Pairs)]
    pub view: ViewArg,
    /// Replace existing output files (never a model or checkpoint file).
    #[arg(long)]
    pub force: bool,
    /// Seed (negative values wrap).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0, value_parser = seed)]
    pub seed: u64,
    /// The arithmetic of a diffusion model's network in the sampler (default f32).
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct LikelihoodArgs {
    /// A diffusion model.json written by `stein train --model diffusion`.
    #[arg(long)]
    pub model: PathBuf,
    /// No progress bar (the result line is printed: it is the command's output).
    #[arg(long)]
    pub quiet: bool,
    /// A built-in data set (scored on a fresh draw, never the points a training run drew) or a CSV file with
    /// the model's number of columns (its own test points: every row is used, no split).
    #[arg(long)]
    pub data: String,
    /// Points used: a fresh draw of this many from a built-in set; of a CSV file, all its rows, or this many
    /// evenly spaced ones when it has more.
    #[arg(long, allow_hyphen_values = true, default_value_t = 500, value_parser = count::<1, 100_000>)]
    pub n: usize,
    /// Seed (of a built-in data set's draw, and Hutchinson's probes above 8 dimensions).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0, value_parser = seed)]
    pub seed: u64,
    /// The arithmetic of a diffusion model's network in the likelihood (default f32: forward mode, several
    /// times faster; f64: the tape). The ODE's state is f64 in both.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
}

#[derive(Args)]
pub struct PlotArgs {
    /// What to draw.
    #[arg(value_enum)]
    pub what: PlotWhat,
    /// The analytic target.
    #[arg(long, value_enum)]
    pub target: PlotTarget,
    /// Output file, .png or .svg, or .gif with --animate (default: <target>-<what>.png or .gif).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// An animated GIF sweeping the noise level σ of the perturbed density p_σ = p ∗ N(0, σ²I), or the
    /// temperature T of p^(1/T) (2-D targets).
    #[arg(long, value_enum)]
    pub animate: Option<AnimateArg>,
    /// Frames of an animation.
    #[arg(long, allow_hyphen_values = true, default_value_t = 30, value_parser = count::<2, { stein::scores::plot::MAX_FRAMES }>)]
    pub frames: usize,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
}

/// A count in `LO..=HI`, with a message that names the range (negative numbers included).
pub(crate) fn count<const LO: usize, const HI: usize>(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= LO as i128 && v <= HI as i128 => Ok(v as usize),
        Ok(v) => Err(format!("{v} is out of range: must be {LO} to {HI}")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// A positive finite real number.
pub(crate) fn positive_real(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} must be positive and finite")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// A seed: any integer from −2⁶³ to 2⁶⁴ − 1; negative values wrap to the same 64 bits.
/// A moving average's decay, strictly between 0 and 1.
fn decay(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("`{s}` is not a decay strictly between 0 and 1")),
    }
}

pub(crate) fn seed(s: &str) -> Result<u64, String> {
    let t = s.trim();
    t.parse::<u64>()
        .or_else(|_| t.parse::<i64>().map(|v| v as u64))
        .map_err(|_| format!("`{s}` is not a 64-bit integer"))
}

/// A registered objective's name (the registry's list, less the one that needs its target in code).
fn objective_name(s: &str) -> Result<String, String> {
    let names: Vec<&str> = stein::models::objective::REGISTRY
        .iter()
        .map(|r| r.name)
        .filter(|n| *n != "esm")
        .collect();
    if names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not an objective [possible values: {}]",
            names.join(", ")
        ))
    }
}

/// A duration: a number of seconds, or with a unit `s`, `m` or `h` (`90s`, `1.5m`, `2h`), from 1 s to 30
/// days.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("`{s}`: the unit must be s, m or h")),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if (1.0..=30.0 * 86_400.0).contains(&(v * scale)) => {
            Ok(std::time::Duration::from_secs_f64(v * scale))
        }
        Ok(_) => Err(format!("`{s}` is out of range: 1 s to 30 days")),
        Err(_) => Err(format!("`{s}` is not a duration (e.g. 90s, 5m, 1h)")),
    }
}
