//! The data of a training run: a built-in toy set or a CSV file of any number of columns, split into
//! training and held-out reference points; the σ ladder fitted to them.

use crate::args::{count, seed, MAX_SAMPLES};
use crate::error::CliError;
use clap::Args;
use rand::SeedableRng;
use std::path::Path;
use std::path::PathBuf;
use stein::autodiff::Tensor;
use stein::models::data::{load_csv, Toy, ToyDensity};

/// Points of the training set (toy sets) and the seed offset of the held-out draw.
const TOY_POINTS: usize = 20_000;
const HELD_OUT_SEED: u64 = 1_000_003;

/// A built-in set (seeded) or a CSV file.
fn load_data(name: &str, n: usize, seed: u64) -> Result<Tensor, CliError> {
    if name.ends_with(".csv") || Path::new(name).exists() {
        return Ok(load_csv(name)?);
    }
    let toy = Toy::parse(name)?;
    Ok(toy.sample(n, &mut rand::rngs::SmallRng::seed_from_u64(seed)))
}

/// The exact density of a built-in set named `name` (`None` for a file, or a name that is one).
pub fn truth_of(name: &str) -> Option<ToyDensity> {
    if Path::new(name).exists() {
        return None;
    }
    Toy::parse(name).ok().map(|t| t.density())
}

/// Points to score a trained model on: `n` points of a fresh draw of a built-in set (the held-out stream of
/// `seed`, never the points a run with that seed trained on), or every row of a CSV file (the user's own test
/// data: no split is applied). Returns the points and a phrase saying what they are.
pub fn evaluation_data(name: &str, seed: u64, n: usize) -> Result<(Tensor, String), CliError> {
    if Toy::parse(name).is_ok() && !Path::new(name).exists() {
        let x = load_data(name, n, seed.wrapping_add(HELD_OUT_SEED))?;
        return Ok((
            x,
            format!("a fresh draw of {name} (seed {seed}, held-out stream)"),
        ));
    }
    let x = load_data(name, 0, seed)?;
    let what = format!("{name} (all {} rows)", x.rows());
    Ok((x, what))
}

/// Training data and reference data: a toy set's fresh draw of `samples` points, or a tenth of the rows of a
/// CSV file of at least 200 rows, picked by a hash of the row number so that no period in the file decides
/// (the rest trains); a smaller file is its own reference.
pub fn data_and_reference(
    name: &str,
    seed: u64,
    samples: usize,
) -> Result<(Tensor, Tensor), CliError> {
    let data = load_data(name, TOY_POINTS, seed)?;
    if Toy::parse(name).is_ok() && !Path::new(name).exists() {
        let held = load_data(name, samples, seed.wrapping_add(HELD_OUT_SEED))?;
        return Ok((data, held));
    }
    if data.rows() < 200 {
        return Ok((data.clone(), data));
    }
    let held = |i: usize| {
        // SplitMix64 of the row number
        let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).is_multiple_of(10)
    };
    let pick = |keep: bool| {
        let rows: Vec<f64> = (0..data.rows())
            .filter(|&i| held(i) == keep)
            .flat_map(|i| data.row_slice(i).to_vec())
            .collect();
        Tensor::new(rows.len() / data.cols(), data.cols(), rows).expect("whole rows")
    };
    Ok((pick(false), pick(true)))
}

/// `stein data`: one split of the data `stein train --data <set> --seed <seed>` uses, into a CSV file written
/// atomically (an existing file only with `--force`). A built-in set's training split is the draw a run trains
/// on (20,000 points by default), its held-out split the stream a run scores against (`--samples`, default
/// 1,000) and `stein likelihood --data <set>` reads; a CSV file's splits are its rows as a run divides them
/// (every row, with no `--n`).
pub fn write(a: &DataArgs, out: &mut crate::output::Stdout) -> Result<(), CliError> {
    crate::output::check_output(&a.out, a.force)?;
    let held_out = a.split == Split::HeldOut;
    let (x, what) = if Toy::parse(&a.set).is_ok() && !Path::new(&a.set).exists() {
        let n = a.n.unwrap_or(if held_out { 1_000 } else { TOY_POINTS });
        let seed = a
            .seed
            .wrapping_add(if held_out { HELD_OUT_SEED } else { 0 });
        (
            load_data(&a.set, n, seed)?,
            format!("{} (seed {})", a.set, a.seed),
        )
    } else {
        if let Some(n) = a.n {
            return Err(CliError::Usage(format!(
                "--n {n} applies to built-in sets; a file's split keeps every row it holds"
            )));
        }
        let (train, held) = data_and_reference(&a.set, a.seed, 0)?;
        (if held_out { held } else { train }, a.set.clone())
    };
    crate::output::write_csv(&a.out, &x)?;
    if !a.quiet {
        out.line(format!(
            "wrote {} points of {what}, {} split, to {}",
            x.rows(),
            a.split.name(),
            a.out.display()
        ))?;
    }
    Ok(())
}

/// Which of a run's two data sets `stein data` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// The points a run trains on.
    Train,
    /// The points a run scores its model against (never trained on).
    HeldOut,
}

impl Split {
    fn name(self) -> &'static str {
        match self {
            Split::Train => "training",
            Split::HeldOut => "held-out",
        }
    }
}

/// `stein data`'s flags.
#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub struct DataArgs {
    /// The built-in set (two-moons, 8gaussians, swiss-roll, checkerboard, rings, pinwheel, spirals), or a CSV
    /// file to split as `stein train` splits it.
    #[arg(long)]
    pub set: String,
    /// Which split: the points a run trains on, or those it scores against.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
    /// Number of points of a built-in set (default: 20,000 for the training split, as `stein train` draws;
    /// 1,000 for the held-out split, as `--samples` scores).
    #[arg(long, allow_hyphen_values = true, value_parser = count::<1, MAX_SAMPLES>)]
    pub n: Option<usize>,
    /// Seed of the draw (negative values wrap).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0, value_parser = seed)]
    pub seed: u64,
    /// Output CSV file.
    #[arg(long, default_value = "data.csv")]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print nothing.
    #[arg(long)]
    pub quiet: bool,
}
