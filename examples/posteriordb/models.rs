//! T12's posteriors from posteriordb written as Stein models, with the data and reference summaries that
//! `scripts/posteriordb_extract.py` took from posteriordb (`data/<posterior>.json`), and the agreement rule of
//! the nutpie peer (`../shared/peers/posteriordb_nutpie.py`): every mean within 4 combined MCSE of the
//! reference's, every sd within 10%. Shared by the `posteriordb` example, `bench_report --task T12` and
//! `tests/posteriordb.rs`.
//!
//! Four are normal linear regressions, y ~ N(X β, σ), σ > 0, each with its own `transformed data` (logs,
//! interactions, centring) written here as in its Stan program, and flat priors except `sblri-blr`'s
//! β ~ N(0, 10), σ ~ N⁺(0, 10). `gp_pois_regr-gp_regr` is a Gaussian process (`gp_exp_quad_cov` and a
//! Cholesky factor in scalar code); `hudson_lynx_hare-lotka_volterra` an ODE model, its solution by classical
//! RK4 written generic over `Real` (10 steps per year, as the nutpie peer's scan; posteriordb's reference used
//! Stan's RK45 at rtol 1e-5).

// shared by three programs, each of which uses a part
#![allow(dead_code)]

use serde_json::Value;
use stein::autodiff::prelude::Float;
use stein::autodiff::Real;
use stein::autodiff::Tensor;
use stein::models::sample::adapt::MetricKind;
use stein::models::sample::{sample, Compiled, Config, Draws, Init, TensorDensity};
use stein::scores::transform::{Blocks, Constrained, ConstrainedDensity, Param, Transform};
use stein::scores::{linalg, lpdf};

/// The posteriors, in the order of the tables.
pub const POSTERIORS: [&str; 6] = [
    "earnings-logearn_interaction",
    "mesquite-logmesquite_logvash",
    "kidiq_with_mom_work-kidscore_interaction_c2",
    "sblri-blr",
    "gp_pois_regr-gp_regr",
    "hudson_lynx_hare-lotka_volterra",
];

/// A posterior of the set, in the form it is sampled in.
pub enum Model {
    /// Tensor form (see [`Regression::target`]).
    Regression(Regression),
    /// Scalar code through `Constrained` and `Compiled`.
    Gp(Constrained<Gp>),
    /// Scalar code through `Constrained` and `Compiled`.
    LotkaVolterra(Constrained<LotkaVolterra>),
}

/// y ~ MVN(0, K), K = α² exp(−(xᵢ − xⱼ)²/(2ρ²)) + σ I (posteriordb's `gp_regr`: σ, not σ², on the diagonal);
/// ρ ~ Γ(25, 4), α ~ N⁺(0, 2), σ ~ N⁺(0, 1).
pub struct Gp {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

impl ConstrainedDensity for Gp {
    fn parameters(&self) -> Vec<Param> {
        ["rho", "alpha", "sigma"]
            .map(|n| Param::new(n, Transform::positive(1).unwrap()))
            .to_vec()
    }
    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
        let (rho, alpha, sigma) = (p[0][0], p[1][0], p[2][0]);
        let c = S::cst;
        let n = self.x.len();
        let mut k = linalg::gp_exp_quad_cov(&self.x, alpha, rho);
        for i in 0..n {
            k[i * n + i] += sigma;
        }
        let prior = lpdf::gamma(rho, c(25.0), c(4.0))
            + lpdf::normal(alpha, c(0.0), c(2.0))
            + lpdf::normal(sigma, c(0.0), c(1.0));
        // a covariance that is not positive-definite has no density (NaN: rejected by the sampler)
        let y: Vec<S> = self.y.iter().map(|&v| c(v)).collect();
        prior + lpdf::multi_normal(&y, &vec![c(0.0); n], &k)
    }
}

/// Predator–prey counts: z′ = ((α − β v) u, (−γ + δ u) v) from z(0) = z_init, yₜₖ ~ logN(log zₖ(t), σₖ);
/// θ₁, θ₃ ~ N(1, 0.5), θ₂, θ₄ ~ N(0.05, 0.05), σ ~ logN(−1, 1), z_init ~ logN(log 10, 1).
pub struct LotkaVolterra {
    /// Measurement times 1, 2, …, N (years).
    pub ts: Vec<f64>,
    pub y_init: [f64; 2],
    pub y: Vec<[f64; 2]>,
}

/// RK4 steps per unit of time.
const ODE_SUBSTEPS: usize = 10;

impl ConstrainedDensity for LotkaVolterra {
    fn parameters(&self) -> Vec<Param> {
        vec![
            Param::new("theta", Transform::positive(4).unwrap()),
            Param::new("z_init", Transform::positive(2).unwrap()),
            Param::new("sigma", Transform::positive(2).unwrap()),
        ]
    }
    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
        let (th, z0, sigma) = (&p[0], &p[1], &p[2]);
        let c = S::cst;
        let mut lp = lpdf::normal(th[0], c(1.0), c(0.5))
            + lpdf::normal(th[2], c(1.0), c(0.5))
            + lpdf::normal(th[1], c(0.05), c(0.05))
            + lpdf::normal(th[3], c(0.05), c(0.05));
        for k in 0..2 {
            lp += lpdf::lognormal(sigma[k], c(-1.0), c(1.0));
            lp += lpdf::lognormal(z0[k], c(10f64.ln()), c(1.0));
            lp += lpdf::lognormal(c(self.y_init[k]), z0[k].ln(), sigma[k]);
        }
        let f = |z: [S; 2]| [(th[0] - th[1] * z[1]) * z[0], (th[3] * z[0] - th[2]) * z[1]];
        let (mut z, mut t) = ([z0[0], z0[1]], 0.0);
        for (obs, &t_obs) in self.y.iter().zip(&self.ts) {
            let steps = ((t_obs - t) * ODE_SUBSTEPS as f64).round() as usize;
            let h = (t_obs - t) / steps as f64;
            for _ in 0..steps {
                let k1 = f(z);
                let k2 = f([z[0] + k1[0] * (0.5 * h), z[1] + k1[1] * (0.5 * h)]);
                let k3 = f([z[0] + k2[0] * (0.5 * h), z[1] + k2[1] * (0.5 * h)]);
                let k4 = f([z[0] + k3[0] * h, z[1] + k3[1] * h]);
                for i in 0..2 {
                    z[i] += (k1[i] + (k2[i] + k3[i]) * 2.0 + k4[i]) * (h / 6.0);
                }
            }
            t = t_obs;
            for k in 0..2 {
                lp += lpdf::lognormal(c(obs[k]), z[k].ln(), sigma[k]);
            }
        }
        lp
    }
}

/// y ~ N(X β, σ) with optional N(0, s) priors on β and N⁺(0, s) on σ (flat when `None`).
pub struct Regression {
    /// Design matrix, one row per observation.
    pub x: Vec<Vec<f64>>,
    /// Responses.
    pub y: Vec<f64>,
    /// Prior scales of β and σ (posteriordb's `blr`: 10 and 10).
    pub prior: Option<(f64, f64)>,
}

impl ConstrainedDensity for Regression {
    fn parameters(&self) -> Vec<Param> {
        vec![
            Param::new("beta", Transform::real(self.x[0].len()).unwrap()),
            Param::new("sigma", Transform::positive(1).unwrap()),
        ]
    }

    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
        let (beta, sigma) = (&p[0], p[1][0]);
        let c = S::cst;
        let mut lp = match self.prior {
            Some((sb, ss)) => {
                let b: S = beta.iter().map(|&b| lpdf::normal(b, c(0.0), c(sb))).sum();
                b + lpdf::normal(sigma, c(0.0), c(ss))
            }
            None => c(0.0),
        };
        for (row, &y) in self.x.iter().zip(&self.y) {
            let mu = S::dot_add(c(0.0), row, beta);
            lp += lpdf::normal(c(y), mu, sigma);
        }
        lp
    }
}

impl Regression {
    /// The same posterior in tensor form on ℝ^{K+1}, θ = (β, log σ): X β as one matrix product over the data
    /// kept on each thread's tape (scalar code through `Compiled` costs a node per row and term: 75 µs a
    /// gradient on earnings' 1,192 rows).
    pub fn target(&self) -> impl stein::models::sample::Target {
        let (n, k) = (self.x.len(), self.x[0].len());
        let x = Tensor::from_fn(n, k, |i, j| self.x[i][j]);
        let y = Tensor::from_fn(n, 1, |i, _| self.y[i]);
        let prior = self.prior;
        TensorDensity::new(k + 1, vec![x, y], move |theta, d| {
            let beta = theta.slice_rows(0, k);
            let log_sigma = theta.slice_rows(k, 1).sum();
            let r = d[0].matmul(beta) - d[1];
            let inv_var = (log_sigma * -2.0).exp();
            // N(y | Xβ, σ) summed, and log σ's Jacobian (+ log σ)
            let mut lp = -(r.dot(r) * inv_var * 0.5) - log_sigma * (n as f64 - 1.0);
            if let Some((sb, ss)) = prior {
                let sigma = log_sigma.exp();
                lp = lp - beta.dot(beta) * (0.5 / (sb * sb)) - sigma * sigma * (0.5 / (ss * ss));
            }
            lp
        })
    }

    /// θ = (β, log σ) back to (β, σ).
    pub fn constrain(theta: &[f64]) -> Vec<f64> {
        let mut v = theta.to_vec();
        let last = v.len() - 1;
        v[last] = v[last].exp();
        v
    }
}

/// What one run gave.
pub struct Run {
    pub seconds: f64,
    /// Min over the quantities of the bulk ESS (of the unconstrained draws: the same ranks as σ's).
    pub min_ess: f64,
    pub leapfrog_per_draw: f64,
    pub divergences: usize,
    pub agreement: Agreement,
}

/// NUTS with `metric`, `n` warm-up transitions and `n` draws in 4 chains, started uniform on (−2, 2)ᵈ or by
/// Pathfinder (its time included), checked against the reference.
pub fn run(
    model: &Model,
    reference: &Reference,
    metric: MetricKind,
    pathfinder: bool,
    n: usize,
    seed: u64,
) -> Run {
    let mut cfg = Config::default()
        .warmup(n)
        .draws(n)
        .seed(seed)
        .metric(metric);
    if pathfinder {
        cfg = cfg.init(Init::Pathfinder);
    }
    let draws = match model {
        Model::Regression(m) => sample(&m.target(), &cfg),
        Model::Gp(m) => sample(&Compiled::new(m), &cfg),
        Model::LotkaVolterra(m) => sample(&Compiled::new(m), &cfg),
    }
    .expect("sampling");
    let constrained = match model {
        Model::Regression(_) => draws.map(Regression::constrain),
        Model::Gp(m) => draws.map(|u| m.constrain(u)),
        Model::LotkaVolterra(m) => draws.map(|u| m.constrain(u)),
    };
    Run {
        seconds: draws.seconds,
        min_ess: draws.ess().into_iter().fold(f64::INFINITY, f64::min),
        leapfrog_per_draw: draws.grads_per_draw(),
        divergences: draws.divergences(),
        agreement: reference.check(&constrained),
    }
}

/// posteriordb's reference: per quantity (β₁…β_K then σ, posteriordb's 1-based names) the mean, sd and the
/// mean's MCSE over its 10 × 1,000 reference draws.
pub struct Reference {
    pub names: Vec<String>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub mcse_mean: Vec<f64>,
}

/// How draws agree with the reference: max |mean − ref| / √(MCSE² + MCSE_ref²) and max |sd / ref sd − 1|.
#[derive(Clone, Copy, Debug)]
pub struct Agreement {
    pub max_abs_z: f64,
    pub worst_sd_ratio: f64,
}

impl Agreement {
    /// The peer's rule: |z| ≤ 4 and sds within 10%.
    pub fn agrees(&self) -> bool {
        self.max_abs_z <= 4.0 && self.worst_sd_ratio <= 0.10
    }
}

impl Reference {
    /// Compare constrained draws (β then σ, in the reference's order).
    pub fn check(&self, draws: &Draws) -> Agreement {
        let mean = draws.mean();
        let cov = draws.covariance();
        let ess = draws.ess();
        let mut a = Agreement {
            max_abs_z: 0.0,
            worst_sd_ratio: 0.0,
        };
        for i in 0..self.names.len() {
            let sd = cov[i][i].sqrt();
            let mcse = sd / ess[i].sqrt();
            let z = (mean[i] - self.mean[i]) / (mcse * mcse + self.mcse_mean[i].powi(2)).sqrt();
            a.max_abs_z = a.max_abs_z.max(z.abs());
            a.worst_sd_ratio = a.worst_sd_ratio.max((sd / self.sd[i] - 1.0).abs());
        }
        a
    }
}

fn column(data: &Value, name: &str) -> Vec<f64> {
    data[name]
        .as_array()
        .unwrap_or_else(|| panic!("posteriordb data without column {name}"))
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

/// The posterior `name` from `dir/<name>.json`: the model and its reference.
pub fn load(dir: &std::path::Path, name: &str) -> (Model, Reference) {
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).expect("posteriordb JSON");
    let (data, r) = (&file["data"], &file["reference"]);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let reference = Reference {
        names: strings(&r["names"]),
        mean: column(r, "mean"),
        sd: column(r, "sd"),
        mcse_mean: column(r, "mcse_mean"),
    };
    let rows = |cols: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        (0..cols[0].len())
            .map(|i| cols.iter().map(|c| c[i]).collect())
            .collect()
    };
    let ones = |n: usize| vec![1.0; n];
    let model = match name {
        "gp_pois_regr-gp_regr" => {
            let gp = Gp {
                x: column(data, "x"),
                y: column(data, "y"),
            };
            return (Model::Gp(Constrained::new(gp).unwrap()), reference);
        }
        "hudson_lynx_hare-lotka_volterra" => {
            let pair = |v: &Value| -> [f64; 2] {
                let a = v.as_array().expect("a pair");
                [a[0].as_f64().unwrap(), a[1].as_f64().unwrap()]
            };
            let lv = LotkaVolterra {
                ts: column(data, "ts"),
                y_init: pair(&data["y_init"]),
                y: data["y"].as_array().unwrap().iter().map(pair).collect(),
            };
            return (
                Model::LotkaVolterra(Constrained::new(lv).unwrap()),
                reference,
            );
        }
        "earnings-logearn_interaction" => {
            // log_earn = log(earn); inter = height .* male
            let (earn, height, male) = (
                column(data, "earn"),
                column(data, "height"),
                column(data, "male"),
            );
            let inter = height.iter().zip(&male).map(|(h, m)| h * m).collect();
            Regression {
                x: rows(vec![ones(earn.len()), height, male, inter]),
                y: earn.iter().map(|e| e.ln()).collect(),
                prior: None,
            }
        }
        "mesquite-logmesquite_logvash" => {
            let (d1, d2, ch) = (
                column(data, "diam1"),
                column(data, "diam2"),
                column(data, "canopy_height"),
            );
            let n = d1.len();
            let volume = (0..n).map(|i| (d1[i] * d2[i] * ch[i]).ln()).collect();
            let area = (0..n).map(|i| (d1[i] * d2[i]).ln()).collect();
            let shape = (0..n).map(|i| (d1[i] / d2[i]).ln()).collect();
            let total = column(data, "total_height")
                .iter()
                .map(|h| h.ln())
                .collect();
            Regression {
                x: rows(vec![
                    ones(n),
                    volume,
                    area,
                    shape,
                    total,
                    column(data, "group"),
                ]),
                y: column(data, "weight").iter().map(|w| w.ln()).collect(),
                prior: None,
            }
        }
        "kidiq_with_mom_work-kidscore_interaction_c2" => {
            // centring on reference points: mom_hs − 0.5, mom_iq − 100, and their product
            let hs: Vec<f64> = column(data, "mom_hs").iter().map(|v| v - 0.5).collect();
            let iq: Vec<f64> = column(data, "mom_iq").iter().map(|v| v - 100.0).collect();
            let inter = hs.iter().zip(&iq).map(|(a, b)| a * b).collect();
            Regression {
                x: rows(vec![ones(hs.len()), hs, iq, inter]),
                y: column(data, "kid_score"),
                prior: None,
            }
        }
        "sblri-blr" => Regression {
            x: data["X"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    row.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect(),
            y: column(data, "y"),
            prior: Some((10.0, 10.0)),
        },
        other => panic!("no Stein model for posterior {other}"),
    };
    (Model::Regression(model), reference)
}
