//! The jobs behind the `stein` command line, as library functions: train a toy model and sample it, sample a
//! saved model, plot an analytic target. Each returns a `Result` whose error is one readable line.

use crate::autodiff::Tensor;
use crate::models::data::{load_csv, Toy};
use crate::models::io::ModelFile;
use crate::models::loss::{geometric_sigmas, Loss, Projection};
use crate::models::nn::{Activation, Conditioning, Kind, Model};
use crate::models::optim::Schedule;
use crate::models::sample::batch::{annealed_batch, sample_batch, BatchTarget};
use crate::models::sample::{Method, SampleError};
use crate::models::train::{TrainConfig, Trainer};
use crate::models::ModelError;
use crate::scores::plot::{self, Bounds, Curve, FieldOptions};
use crate::scores::{kernel_stein_discrepancy, mmd, ScoreError, Statistic};
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything that can stop a job, each naming what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// From models, data or files.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// From scores or plots.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// From a sampler.
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// A flag out of range or a bad combination.
    #[error("{0}")]
    Usage(String),
    /// A file could not be written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Which sampler draws from a trained model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerKind {
    /// Unadjusted Langevin.
    Ula,
    /// Metropolis-adjusted Langevin (energy models).
    Mala,
    /// Hamiltonian Monte Carlo (energy models).
    Hmc,
    /// Annealed Langevin over the training σ ladder (noise-conditional models).
    Annealed,
}

impl SamplerKind {
    /// Parse `ula`, `mala`, `hmc`, `annealed`.
    pub fn parse(s: &str) -> Result<Self, AppError> {
        Ok(match s {
            "ula" => SamplerKind::Ula,
            "mala" => SamplerKind::Mala,
            "hmc" => SamplerKind::Hmc,
            "annealed" => SamplerKind::Annealed,
            other => {
                return Err(AppError::Usage(format!(
                    "unknown sampler `{other}` (ula, mala, hmc, annealed)"
                )))
            }
        })
    }
}

/// Options of `stein train`.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// A built-in data set name or a CSV path.
    pub data: String,
    /// `energy` or `score`.
    pub model: String,
    /// `dsm`, `ncsn`, `ssm`, `ssm-vr`, `ism`, `nce`, `cd`.
    pub loss: String,
    /// The sampler for the pictures.
    pub sampler: String,
    /// Optimiser steps.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Output folder (`None`: `runs/<data>-<unix time>`).
    pub out: Option<PathBuf>,
    /// Resume from this run folder's checkpoint.
    pub resume: Option<PathBuf>,
    /// Samples to draw at the end.
    pub samples: usize,
    /// Show a progress bar.
    pub progress: bool,
}

impl Default for TrainOptions {
    /// The default toy EBM: a noise-conditional energy network on two moons, multi-noise denoising score
    /// matching, annealed Langevin sampling.
    fn default() -> Self {
        TrainOptions {
            data: "two-moons".into(),
            model: "energy".into(),
            loss: "ncsn".into(),
            sampler: "annealed".into(),
            steps: 4000,
            batch: 256,
            lr: 2e-3,
            seed: 0,
            out: None,
            resume: None,
            samples: 1000,
            progress: true,
        }
    }
}

/// What a training run reports (also written to `summary.txt`).
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// The run folder.
    pub out: PathBuf,
    /// Mean loss over the last logged steps.
    pub final_loss: f64,
    /// Squared MMD between the samples and held-out data.
    pub mmd: f64,
    /// Squared KSD (IMQ, U-statistic) of the samples under the learned score at the smallest σ: how well the
    /// sampler followed the model (≈ 0 is good), whatever the model learnt.
    pub ksd: f64,
    /// Sampler acceptance (1 for ULA / annealed).
    pub acceptance: f64,
    /// Training wall time (s).
    pub train_seconds: f64,
    /// Sampling wall time (s).
    pub sample_seconds: f64,
    /// Steps completed.
    pub steps: usize,
}

/// The noise ladder used by `ncsn` (and by annealed sampling): 10 levels from `max` to `min`.
pub fn default_sigmas(data: &Tensor) -> Vec<f64> {
    // the largest σ on the order of the data's spread, the smallest well below its local scale
    let (n, d) = data.shape();
    let mut spread: f64 = 0.0;
    for j in 0..d {
        let m = (0..n).map(|i| data.get(i, j)).sum::<f64>() / n as f64;
        let v = (0..n).map(|i| (data.get(i, j) - m).powi(2)).sum::<f64>() / n as f64;
        spread = spread.max(v.sqrt());
    }
    let top = spread.max(0.1);
    geometric_sigmas(top, 0.02 * top, 10)
}

/// Load a built-in data set (seeded) or a CSV file.
pub fn load_data(name: &str, n: usize, seed: u64) -> Result<Tensor, AppError> {
    if name.ends_with(".csv") || Path::new(name).exists() {
        return Ok(load_csv(name)?);
    }
    let toy = Toy::parse(name)?;
    Ok(toy.sample(n, &mut rand::rngs::SmallRng::seed_from_u64(seed)))
}

fn parse_loss(name: &str, sigmas: &[f64]) -> Result<Loss, AppError> {
    Ok(match name {
        "dsm" => Loss::Dsm {
            sigma: sigmas[sigmas.len() / 2],
        },
        "ncsn" => Loss::Ncsn {
            sigmas: sigmas.to_vec(),
        },
        "ssm" => Loss::Ssm {
            projections: 1,
            variance_reduced: false,
            projection: Projection::Rademacher,
        },
        "ssm-vr" => Loss::Ssm {
            projections: 1,
            variance_reduced: true,
            projection: Projection::Gaussian,
        },
        "ism" => Loss::Ism,
        "nce" => Loss::Nce,
        "cd" => Loss::Cd {
            steps: 20,
            step_size: 1e-3,
            alpha: 0.1,
        },
        other => {
            return Err(AppError::Usage(format!(
                "unknown loss `{other}` (dsm, ncsn, ssm, ssm-vr, ism, nce, cd)"
            )))
        }
    })
}

/// Bounds that frame the data with a margin.
fn frame(data: &Tensor) -> Bounds {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for i in 0..data.rows() {
        for j in 0..2 {
            lo[j] = lo[j].min(data.get(i, j));
            hi[j] = hi[j].max(data.get(i, j));
        }
    }
    let pad = |a: f64, b: f64| 0.15 * (b - a).max(1e-3);
    Bounds {
        x: (lo[0] - pad(lo[0], hi[0]), hi[0] + pad(lo[0], hi[0])),
        y: (lo[1] - pad(lo[1], hi[1]), hi[1] + pad(lo[1], hi[1])),
    }
}

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    (0..t.rows()).map(|i| t.row_slice(i).to_vec()).collect()
}

/// Draw `n` samples from a trained model with the given sampler.
pub fn sample_model(
    model: &Model,
    sigmas: &[f64],
    sampler: SamplerKind,
    n: usize,
    init: &Tensor,
    seed: u64,
) -> Result<(Tensor, f64), AppError> {
    let conditioned = model.conditioning != Conditioning::None;
    let smallest = sigmas.last().copied();
    match sampler {
        SamplerKind::Annealed => {
            if !conditioned {
                return Err(AppError::Usage(
                    "annealed Langevin needs a noise-conditional model: train with --loss ncsn, or pick --sampler ula|mala|hmc".into(),
                ));
            }
            // ε chosen so every level relaxes in about 20 steps of its 100: σ_L² / ε = 20
            let eps = smallest.expect("a ladder").powi(2) / 20.0;
            Ok((annealed_batch(model, sigmas, 100, eps, n, seed)?, 1.0))
        }
        other => {
            if model.kind == Kind::Score && other != SamplerKind::Ula {
                return Err(AppError::Usage("MALA and HMC need an energy model (a log-density): use --model energy or --sampler ula".into()));
            }
            let sigma = if conditioned { smallest } else { None };
            let method = match other {
                SamplerKind::Ula => Method::Ula { step: 1e-3 },
                SamplerKind::Mala => Method::Mala { step: 2e-3 },
                _ => Method::Hmc {
                    step: 0.02,
                    leapfrog: 10,
                    inv_mass: None,
                    adapt: None,
                },
            };
            Ok(sample_batch(model, &method, init, 1000, sigma, seed)?)
        }
    }
}

/// `stein train`: train, sample, and write the run folder.
pub fn train(opts: &TrainOptions) -> Result<TrainSummary, AppError> {
    let data = load_data(&opts.data, 4000, opts.seed)?;
    if data.cols() != 2 {
        return Err(AppError::Usage(format!(
            "{}: the pictures need 2-D data, got {} columns",
            opts.data,
            data.cols()
        )));
    }
    let held_out = if Path::new(&opts.data).exists() {
        data.clone()
    } else {
        load_data(
            &opts.data,
            opts.samples.max(2),
            opts.seed.wrapping_add(1_000_003),
        )?
    };
    let sampler = SamplerKind::parse(&opts.sampler)?;
    let out = match (&opts.resume, &opts.out) {
        (Some(r), _) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            PathBuf::from(format!(
                "runs/{}-{secs}",
                opts.data.replace(['/', '.'], "_")
            ))
        }
    };
    std::fs::create_dir_all(&out).map_err(|e| io_err(&out, e))?;
    let sigmas = default_sigmas(&data);
    let loss = parse_loss(&opts.loss, &sigmas)?;
    let kind = match opts.model.as_str() {
        "energy" => Kind::Energy,
        "score" => Kind::Score,
        other => {
            return Err(AppError::Usage(format!(
                "unknown model `{other}` (energy, score)"
            )))
        }
    };
    if opts.steps == 0 || opts.batch == 0 || opts.lr.is_nan() || opts.lr <= 0.0 {
        return Err(AppError::Usage(
            "--steps, --batch and --lr must be positive".into(),
        ));
    }
    let conditioning = if matches!(loss, Loss::Ncsn { .. }) {
        Conditioning::InputAndScale
    } else {
        Conditioning::None
    };
    let mut trainer = match &opts.resume {
        Some(dir) => Trainer::resume(dir.join("checkpoint.json"))?,
        None => {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(opts.seed);
            let model = Model::build(
                kind,
                conditioning,
                2,
                &[128, 128],
                Activation::Silu,
                &mut rng,
            );
            let mut t = Trainer::new(model);
            t.meta = serde_json::json!({ "data": opts.data, "loss": opts.loss, "sigmas": sigmas });
            t
        }
    };
    let mut cfg = TrainConfig::new(loss, opts.steps);
    cfg.batch = opts.batch;
    cfg.lr = opts.lr;
    cfg.seed = opts.seed;
    cfg.schedule = Schedule::Cosine {
        total: opts.steps,
        min_factor: 0.05,
    };
    cfg.out = Some(out.clone());
    cfg.progress = opts.progress;
    cfg.checkpoint_every = 500;
    let report = trainer.fit(&data, &cfg)?;
    let mut file = trainer.to_file(false);
    file.meta = serde_json::json!({ "data": opts.data, "loss": opts.loss, "sigmas": sigmas, "steps": trainer.step });
    file.save(out.join("model.json"))?;

    // sample, from noise spread over the data's frame
    let b = frame(&data);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(opts.seed ^ 0x5EED);
    let init = Tensor::from_fn(opts.samples, 2, |_, j| {
        let (lo, hi) = if j == 0 { b.x } else { b.y };
        lo + (hi - lo) * rand::RngExt::random::<f64>(&mut rng)
    });
    let t0 = Instant::now();
    let (samples, acceptance) = sample_model(
        &trainer.model,
        &sigmas,
        sampler,
        opts.samples,
        &init,
        opts.seed,
    )?;
    let sample_seconds = t0.elapsed().as_secs_f64();
    let (sv, hv) = (rows(&samples), rows(&held_out));
    let m = mmd(&sv, &hv)?;
    // the model is read at its smallest noise level (conditioned) for the KSD and the pictures
    let sigma_small = if trainer.model.conditioning != Conditioning::None {
        sigmas.last().copied()
    } else {
        None
    };
    let ksd_pts: Vec<Vec<f64>> = sv
        .iter()
        .step_by((sv.len() / 500).max(1))
        .cloned()
        .collect();
    let ksd =
        kernel_stein_discrepancy(&trainer.model.as_score(sigma_small), &ksd_pts, Statistic::U)?;
    write_csv(&out.join("samples.csv"), &samples)?;

    // pictures
    plot::scatter_compare(
        out.join("samples.png"),
        &format!("{}: samples (orange) over held-out data (grey)", opts.data),
        &[("data", &hv), ("samples", &sv)],
        b,
        (640, 640),
    )?;
    let model = &trainer.model;
    let log_density = |x: &[f64]| -> f64 {
        let t = Tensor::new(1, 2, x.to_vec()).expect("2-D");
        let mut s = Tensor::zeros(1, 2);
        match model.eval(&t, sigma_small, &mut s) {
            Some(lp) => lp[0],
            None => kde_log_density(&hv, x),
        }
    };
    let title = if model.kind == Kind::Energy {
        "learned score over the learned log-density −E"
    } else {
        "learned score over a KDE of the data"
    };
    plot::score_field_fn(
        out.join("score_field.png"),
        &log_density,
        &model.as_score(sigma_small),
        b,
        &FieldOptions {
            title: title.into(),
            ..Default::default()
        },
    )?;
    let losses: Vec<(f64, f64)> = report.losses.iter().map(|(s, l)| (*s as f64, *l)).collect();
    // the per-step loss is noisy (fresh noise every step): show a moving average over 25 logs on top
    let smooth: Vec<(f64, f64)> = (0..losses.len())
        .map(|i| {
            let w = &losses[i.saturating_sub(24)..=i];
            (
                losses[i].0,
                w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
            )
        })
        .collect();
    plot::line_chart(
        out.join("loss.png"),
        &format!("training loss ({}; orange: moving average)", opts.loss),
        ("step", "loss"),
        &[("loss", &losses), ("moving average", &smooth)],
        (720, 400),
    )?;

    let summary = TrainSummary {
        out: out.clone(),
        final_loss: report.final_loss(10),
        mmd: m,
        ksd,
        acceptance,
        train_seconds: report.seconds,
        sample_seconds,
        steps: trainer.step,
    };
    let text = format!(
        "data            {}\nmodel           {} ({:?}), {} parameters\nloss            {} (final, mean of last 10 logs) = {:.5}\nsteps           {}\nsampler         {} ({} samples), acceptance {:.3}\nMMD² to held-out data (Gaussian kernel, median heuristic) = {:.5}\nKSD² of the samples under the learned score (IMQ, U-statistic) = {:.5}\ntrain time      {:.1} s\nsample time     {:.1} s\n",
        opts.data, opts.model, trainer.model.conditioning, trainer.model.net.num_params(), opts.loss, summary.final_loss, summary.steps,
        opts.sampler, opts.samples, acceptance, m, ksd, summary.train_seconds, sample_seconds
    );
    std::fs::write(out.join("summary.txt"), &text)
        .map_err(|e| io_err(&out.join("summary.txt"), e))?;
    Ok(summary)
}

/// A Gaussian KDE of points, for the background of score-network pictures.
fn kde_log_density(pts: &[Vec<f64>], x: &[f64]) -> f64 {
    let h2 = 0.05;
    let terms: Vec<f64> = pts
        .iter()
        .map(|p| -((p[0] - x[0]).powi(2) + (p[1] - x[1]).powi(2)) / (2.0 * h2))
        .collect();
    stein_autodiff::special::logsumexp(&terms)
}

/// Write points as CSV (`x0,x1,…` header).
pub fn write_csv(path: &Path, t: &Tensor) -> Result<(), AppError> {
    let mut s = (0..t.cols())
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for i in 0..t.rows() {
        s.push_str(
            &t.row_slice(i)
                .iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|e| io_err(path, e))
}

/// `stein sample`: draw from a saved model into a CSV file (and a picture beside it).
pub fn sample_saved(
    model_path: &Path,
    n: usize,
    sampler: &str,
    out: &Path,
    seed: u64,
) -> Result<f64, AppError> {
    let f = ModelFile::load(model_path)?;
    let sigmas: Vec<f64> = f
        .meta
        .get("sigmas")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| vec![0.1]);
    let sampler = SamplerKind::parse(sampler)?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let init = Tensor::from_fn(n, f.model.dim, |_, _| {
        rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng)
    });
    let (samples, acc) = sample_model(&f.model, &sigmas, sampler, n, &init, seed)?;
    write_csv(out, &samples)?;
    if f.model.dim == 2 {
        let png = out.with_extension("png");
        let sv = rows(&samples);
        plot::scatter_compare(
            &png,
            "samples",
            &[("samples", &sv)],
            frame(&samples),
            (640, 640),
        )?;
    }
    Ok(acc)
}

/// The analytic targets `stein plot` knows.
pub const PLOT_TARGETS: &[&str] = &[
    "gmm-1d",
    "gmm-2d",
    "banana",
    "funnel",
    "ring",
    "8gaussians",
    "rings",
    "laplace",
    "student-t",
];

/// `stein plot score|density --target NAME`.
pub fn plot_target(what: &str, target: &str, out: &Path) -> Result<(), AppError> {
    use crate::scores::*;
    let opts = |t: &str| FieldOptions {
        title: t.to_string(),
        ..Default::default()
    };
    let one_d = |d: &dyn Fn(f64) -> f64,
                 s: &dyn Fn(f64) -> f64,
                 label: &str,
                 range: (f64, f64)|
     -> Result<(), AppError> {
        let c = Curve {
            label: label.into(),
            log_density: Box::new(d),
            score: Box::new(s),
        };
        plot::curves_1d(
            out,
            &format!("{label}: log-density and score"),
            range,
            &[c],
            (720, 640),
        )?;
        Ok(())
    };
    let two_d = |ld: &dyn Fn(&[f64]) -> f64,
                 s: &dyn Score,
                 b: Bounds,
                 label: &str|
     -> Result<(), AppError> {
        match what {
            "score" => plot::score_field_fn(
                out,
                ld,
                s,
                b,
                &opts(&format!("{label}: score field over log p")),
            )?,
            _ => plot::score_field_fn(
                out,
                ld,
                &NoArrows,
                b,
                &FieldOptions {
                    arrows: 0,
                    ..opts(&format!("{label}: log-density"))
                },
            )?,
        }
        Ok(())
    };
    if what != "score" && what != "density" {
        return Err(AppError::Usage(format!(
            "unknown plot `{what}` (score, density)"
        )));
    }
    match target {
        "gmm-1d" => {
            let c = |m: f64, s: f64| MultivariateNormal::isotropic(vec![m], s).unwrap();
            let g = GaussianMixture::new(vec![0.3, 0.7], vec![c(-2.0, 0.6), c(1.5, 0.9)])?;
            one_d(
                &|x| g.log_prob(&[x]),
                &|x| g.score(&[x])[0],
                "0.3 N(-2, 0.6²) + 0.7 N(1.5, 0.9²)",
                (-5.0, 5.0),
            )
        }
        "laplace" => {
            let l = Laplace::new(vec![0.0], 1.0)?;
            one_d(
                &|x| l.log_prob(&[x]),
                &|x| l.score(&[x])[0],
                "Laplace(0, 1)",
                (-4.0, 4.0),
            )
        }
        "student-t" => {
            let t = StudentT::new(0.0, 1.0, 3.0)?;
            one_d(
                &|x| t.log_prob(&[x]),
                &|x| t.score(&[x])[0],
                "Student t, ν = 3",
                (-8.0, 8.0),
            )
        }
        "gmm-2d" => {
            let c = |m: [f64; 2], s: f64| MultivariateNormal::isotropic(m.to_vec(), s).unwrap();
            let g = GaussianMixture::new(
                vec![0.4, 0.35, 0.25],
                vec![
                    c([-2.0, -1.0], 0.7),
                    c([2.0, -1.5], 0.6),
                    c([0.0, 2.2], 0.8),
                ],
            )?;
            two_d(
                &|x| g.log_prob(x),
                &g,
                Bounds::square(5.0),
                "Gaussian mixture",
            )
        }
        "banana" => {
            let b = Banana::new(1.0, 0.8)?;
            two_d(
                &|x| b.log_prob(x),
                &b,
                Bounds {
                    x: (-4.0, 4.0),
                    y: (-3.0, 8.0),
                },
                "banana",
            )
        }
        "funnel" => {
            let f = Funnel::new(2, 3.0)?;
            two_d(
                &|x| f.log_prob(x),
                &f,
                Bounds {
                    x: (-8.0, 6.0),
                    y: (-10.0, 10.0),
                },
                "Neal's funnel (v, x₁)",
            )
        }
        "ring" => {
            let r = Ring::new(2.5, 0.3)?;
            two_d(&|x| r.log_prob(x), &r, Bounds::square(4.0), "ring")
        }
        "8gaussians" => {
            let g = crate::models::data::eight_gaussians_density();
            two_d(&|x| g.log_prob(x), &g, Bounds::square(6.5), "8 Gaussians")
        }
        "rings" => {
            let g = crate::models::data::rings_density();
            two_d(&|x| g.log_prob(x), &g, Bounds::square(5.0), "two rings")
        }
        other => Err(AppError::Usage(format!(
            "unknown target `{other}` ({})",
            PLOT_TARGETS.join(", ")
        ))),
    }
}

/// A score that draws no arrows (density-only pictures).
struct NoArrows;
impl crate::scores::Score for NoArrows {
    fn score_dim(&self) -> usize {
        2
    }
    fn score_into(&self, _x: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
    }
}

/// The command line of the examples: an output folder (the first argument not starting with `--`, else
/// `default_out`) and `--quick` (a fast mode, used by CI).
pub fn example_args(default_out: &str) -> (String, bool) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| default_out.to_string());
    (out, quick)
}
