//! Posteriors with constraints, sampled by NUTS through `Constrained` on compiled gradients: the draws, mapped back, follow the
//! known constrained distributions (means and variances within 4 MCSE). Then the particle and minibatch
//! methods: SVGD and SGLD against exact answers. Last, tensor densities: compiled when elementwise, on the
//! tape otherwise.

use stein_autodiff::Real;
use stein_models::sample::diagnostics::ess_mean;
use stein_models::sample::{sample, sgld, svgd, Autodiff, Compiled, Config, Draws, Exact, Rows};
use stein_scores::transform::{Blocks, Constrained, ConstrainedDensity, Param, Transform};
use stein_scores::{lpdf, MultivariateNormal};

/// Mean and variance of coordinate `i` of the (mapped) draws, each within 4 MCSE of the truth.
fn assert_moments(d: &Draws, i: usize, mean: f64, var: f64, what: &str) {
    let c = d.coordinate(i);
    let check = |series: Vec<Vec<f64>>, want: f64, stat: &str| {
        let all: Vec<f64> = series.iter().flatten().copied().collect();
        let m = all.iter().sum::<f64>() / all.len() as f64;
        let sd = (all.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (all.len() - 1) as f64).sqrt();
        let se = sd / ess_mean(&series).sqrt();
        assert!(
            (m - want).abs() < 4.0 * se,
            "{what}[{i}]: {stat} {m:.5} vs {want:.5} (MCSE {se:.5})"
        );
    };
    check(c.clone(), mean, "mean");
    check(
        c.iter()
            .map(|ch| ch.iter().map(|v| (v - mean).powi(2)).collect())
            .collect(),
        var,
        "variance",
    );
}

fn run<M: ConstrainedDensity>(model: M, seed: u64) -> (Constrained<M>, Draws) {
    let post = Constrained::new(model).unwrap();
    // the compiled gradient (traced, no fallback to the tape): its chains keep the posterior invariant
    let compiled = Compiled::new(&post);
    let draws = sample(&compiled, &Config::default().draws(2000).seed(seed)).unwrap();
    assert_eq!(compiled.error(), None);
    assert!(compiled.stats().traces >= 1 && compiled.stats().tape_calls == 0);
    drop(compiled);
    // (the ordered transform's log-gaps have a long left tail: a rare divergence there is honest)
    assert!(
        draws.divergences() <= 8,
        "{} divergences",
        draws.divergences()
    );
    let mapped = draws.map(|u| post.constrain(u));
    (post, mapped)
}

struct Dirichlet;
impl ConstrainedDensity for Dirichlet {
    fn parameters(&self) -> Vec<Param> {
        vec![Param::new("p", Transform::simplex(3).unwrap())]
    }
    fn log_prob<S: Real>(&self, b: &Blocks<'_, S>) -> S {
        lpdf::dirichlet(&b[0], &[S::cst(2.0), S::cst(3.0), S::cst(5.0)])
    }
}

#[test]
fn a_dirichlet_through_the_simplex_transform() {
    let (_, d) = run(Dirichlet, 1);
    let a = [2.0, 3.0, 5.0];
    for (i, ai) in a.iter().enumerate() {
        let var = ai * (10.0 - ai) / (100.0 * 11.0);
        assert_moments(&d, i, ai / 10.0, var, "Dirichlet(2, 3, 5)");
    }
}

struct Lkj;
impl ConstrainedDensity for Lkj {
    fn parameters(&self) -> Vec<Param> {
        vec![Param::new("L", Transform::corr_cholesky(3).unwrap())]
    }
    fn log_prob<S: Real>(&self, b: &Blocks<'_, S>) -> S {
        lpdf::lkj_corr_cholesky(&b[0], S::cst(1.0))
    }
}

#[test]
fn lkj_correlations_through_the_cholesky_factor_transform() {
    // LKJ(1) in 3-d: every correlation is 2·Beta(3/2, 3/2) − 1, mean 0, variance 1/4
    let (_, d) = run(Lkj, 2);
    let omega = d.map(|l| {
        let r = |i: usize, j: usize| (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum::<f64>();
        vec![r(1, 0), r(2, 0), r(2, 1)]
    });
    for i in 0..3 {
        assert_moments(&omega, i, 0.0, 0.25, "LKJ(1) correlation");
    }
}

struct OrderedNormals;
impl ConstrainedDensity for OrderedNormals {
    fn parameters(&self) -> Vec<Param> {
        vec![Param::new("x", Transform::ordered(3).unwrap())]
    }
    fn log_prob<S: Real>(&self, b: &Blocks<'_, S>) -> S {
        b[0].iter().fold(S::cst(0.0), |acc, &x| {
            acc + lpdf::normal(x, S::cst(0.0), S::cst(1.0))
        })
    }
}

#[test]
fn order_statistics_through_the_ordered_transform() {
    // the order statistics of 3 standard normals: E = ∓3/(2√π), 0; E X₍₃₎² = 1 + √3/(2π), and the three
    // second moments sum to 3
    let (_, d) = run(OrderedNormals, 3);
    let pi = std::f64::consts::PI;
    let (e, second) = (1.5 / pi.sqrt(), 1.0 + 3f64.sqrt() / (2.0 * pi));
    assert_moments(&d, 0, -e, second - e * e, "ordered");
    assert_moments(&d, 1, 0.0, 3.0 - 2.0 * second, "ordered");
    assert_moments(&d, 2, e, second - e * e, "ordered");
}

struct Bounded;
impl ConstrainedDensity for Bounded {
    fn parameters(&self) -> Vec<Param> {
        vec![
            Param::new("u", Transform::interval(-1.0, 3.0, 1).unwrap()),
            Param::new("rate", Transform::positive(1).unwrap()),
            Param::new("shifted", Transform::lower(1.0, 1).unwrap()),
        ]
    }
    fn log_prob<S: Real>(&self, b: &Blocks<'_, S>) -> S {
        // uniform on (−1, 3); exponential(2); 1 + exponential(1)
        lpdf::exponential(b.get("rate")[0], S::cst(2.0))
            + lpdf::exponential(b[2][0] - 1.0, S::cst(1.0))
    }
}

#[test]
fn names_count_from_zero_or_from_one_on_request() {
    let lkj = Constrained::new(Lkj).unwrap();
    assert_eq!(lkj.names()[..4], ["L[0,0]", "L[0,1]", "L[0,2]", "L[1,0]"]);
    assert_eq!(
        lkj.names_one_based()[..4],
        ["L[1,1]", "L[1,2]", "L[1,3]", "L[2,1]"]
    );
    let ordered = Constrained::new(OrderedNormals).unwrap();
    assert_eq!(ordered.names_one_based(), ["x[1]", "x[2]", "x[3]"]);
    // the summary reads them, and counts from one by itself when asked
    let draws = sample(
        &Autodiff(&ordered),
        &Config::default().chains(1).warmup(100).draws(20).seed(1),
    )
    .unwrap()
    .map(|u| ordered.constrain(u));
    let table = draws.summary_named(&ordered.names_one_based()).to_string();
    assert!(table.contains("x[3]") && !table.contains("x[0]"), "{table}");
    let table = draws.summary_one_based().to_string();
    assert!(table.contains("x[3]") && !table.contains("x[0]"), "{table}");
}

#[test]
fn bounded_and_positive_parameters() {
    let (post, d) = run(Bounded, 4);
    assert_eq!(post.names(), vec!["u", "rate", "shifted"]);
    assert_moments(&d, 0, 1.0, 16.0 / 12.0, "uniform(−1, 3)");
    assert_moments(&d, 1, 0.5, 0.25, "exponential(2)");
    assert_moments(&d, 2, 2.0, 1.0, "1 + exponential(1)");
    // starting points can be given on the constrained scale
    assert!(post.unconstrain(&[0.0, 1.0, 2.0]).is_ok());
    let e = post.unconstrain(&[0.0, -1.0, 2.0]).unwrap_err().to_string();
    assert!(
        e.starts_with("rate is not in the support of the positive(1) transform"),
        "{e}"
    );
}

#[test]
fn svgd_particles_match_a_correlated_gaussian() {
    let g = MultivariateNormal::new(vec![1.0, -0.5], vec![vec![1.0, 0.6], vec![0.6, 0.8]]).unwrap();
    for kernel in [svgd::KernelKind::Rbf, svgd::KernelKind::Imq] {
        let mut state = svgd::State::grid(200, &[(-4.0, 4.0), (-4.0, 4.0)], 5);
        let params = svgd::Params {
            kernel,
            ..Default::default()
        };
        let mut info = None;
        for _ in 0..1500 {
            info = Some(svgd::step(&mut state, &Rows(&Exact(&g)), &params).unwrap());
        }
        let p = &state.particles;
        let m = state.mean();
        assert!(
            (m[0] - 1.0).abs() < 0.05 && (m[1] + 0.5).abs() < 0.05,
            "{kernel:?}: mean {m:?}"
        );
        let cov = |i: usize, j: usize| {
            (0..200)
                .map(|r| (p.get(r, i) - m[i]) * (p.get(r, j) - m[j]))
                .sum::<f64>()
                / 199.0
        };
        for (i, j, want) in [(0, 0, 1.0), (1, 1, 0.8), (0, 1, 0.6)] {
            assert!(
                (cov(i, j) - want).abs() < 0.15 * want,
                "{kernel:?}: cov[{i}][{j}] = {} vs {want}",
                cov(i, j)
            );
        }
        assert!(info.unwrap().phi_rms < 0.05, "not converged: {:?}", info);
    }
}

#[test]
fn one_svgd_particle_climbs_to_the_mode() {
    // with one particle the repulsion vanishes (∇k(x, x) = 0): SVGD is gradient ascent, ending at the mode
    let g = MultivariateNormal::new(vec![2.0, -1.0], vec![vec![1.0, 0.3], vec![0.3, 0.5]]).unwrap();
    let mut state = svgd::State::new(stein_autodiff::Tensor::row(&[-3.0, 3.0]));
    let params = svgd::Params {
        optimizer: svgd::Optimizer::Plain,
        step: 0.2,
        ..Default::default()
    };
    for _ in 0..500 {
        svgd::step(&mut state, &Rows(&Exact(&g)), &params).unwrap();
    }
    let x = state.particles.row_slice(0);
    assert!(
        (x[0] - 2.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6,
        "{x:?}"
    );
}

/// yᵢ ~ N(θ₀ + θ₁ tᵢ, 1), θ ~ N(0, 10² I): a linear regression whose posterior is Gaussian.
struct Regression {
    t: Vec<f64>,
    y: Vec<f64>,
}
impl sgld::SumOfTerms for Regression {
    fn dim(&self) -> usize {
        2
    }
    fn n_terms(&self) -> usize {
        self.y.len()
    }
    fn log_prior<S: Real>(&self, th: &[S]) -> S {
        -(th[0] * th[0] + th[1] * th[1]) * 0.005
    }
    fn log_term<S: Real>(&self, th: &[S], i: usize) -> S {
        let r = th[0] + th[1] * self.t[i] - self.y[i];
        -(r * r) * 0.5
    }
}

#[test]
fn sgld_and_nuts_agree_with_the_exact_posterior() {
    let n = 2000;
    let t: Vec<f64> = (0..n).map(|i| (i as f64 / n as f64) * 2.0 - 1.0).collect();
    let y: Vec<f64> = t
        .iter()
        .enumerate()
        .map(|(i, ti)| 0.5 + 1.5 * ti + (i as f64 * 1.7).sin())
        .collect();
    let model = Regression { t, y };
    // the exact posterior: precision P = XᵀX + 0.01 I, mean P⁻¹Xᵀy
    let (n_f, st, stt) = (
        n as f64,
        model.t.iter().sum::<f64>(),
        model.t.iter().map(|t| t * t).sum::<f64>(),
    );
    let (sy, sty) = (
        model.y.iter().sum::<f64>(),
        model
            .t
            .iter()
            .zip(&model.y)
            .map(|(t, y)| t * y)
            .sum::<f64>(),
    );
    let (a, b, c) = (n_f + 0.01, st, stt + 0.01);
    let det = a * c - b * b;
    let cov = [c / det, a / det];
    let mean = [(c * sy - b * sty) / det, (a * sty - b * sy) / det];
    let exact = sample(
        &Autodiff(&sgld::Full(&model)),
        &Config::default().draws(1000).seed(6),
    )
    .unwrap();
    // the gradient noise adds about h·Var(ĝ)/4 to the variance: small steps and batches of 500 keep it ~3%
    let params = sgld::Params {
        decay: 0.55,
        offset: 1000.0,
        ..sgld::Params::new(1e-4, 500)
    };
    let cfg = sgld::config(params)
        .chains(4)
        .warmup(2000)
        .draws(5000)
        .seed(6);
    let approx = sgld::sample(&model, &cfg).unwrap();
    for (what, d, tol) in [("NUTS", &exact, 0.1), ("SGLD", &approx, 0.15)] {
        let (m, v) = (d.mean(), d.covariance());
        for i in 0..2 {
            let sd = cov[i].sqrt();
            assert!(
                (m[i] - mean[i]).abs() < 0.2 * sd,
                "θ[{i}]: {what} {} vs exact {} (sd {sd})",
                m[i],
                mean[i]
            );
            assert!(
                (v[i][i] / cov[i] - 1.0).abs() < tol,
                "var θ[{i}]: {what} {} vs exact {}",
                v[i][i],
                cov[i]
            );
        }
    }
    assert_eq!(approx.kernel, "SGLD");
    // a minibatch larger than the data is an error naming the setting
    let e = sgld::sample(&model, &sgld::config(sgld::Params::new(1e-4, n + 1))).unwrap_err();
    assert!(e.to_string().contains("batch 2001"), "{e}");
    // the run's settings are checked as for every sampler: an absurd number of chains is refused up front
    let e = sgld::sample(
        &model,
        &sgld::config(sgld::Params::new(1e-4, 10)).chains(1 << 30),
    )
    .unwrap_err();
    assert!(e.to_string().contains("too many transitions"), "{e}");
}

/// −½ Σ τᵢ (θᵢ − μᵢ)² with μ and τ as data: elementwise, so the density is compiled.
fn gauss_density() -> stein_models::sample::TensorDensity<
    impl for<'t> Fn(stein_autodiff::TVar<'t>, &[stein_autodiff::TVar<'t>]) -> stein_autodiff::Var<'t>
        + Sync,
> {
    use stein_autodiff::Tensor;
    let mu = Tensor::new(3, 1, vec![1.0, -2.0, 0.5]).unwrap();
    let tau = Tensor::new(3, 1, vec![1.0, 4.0, 0.25]).unwrap();
    stein_models::sample::TensorDensity::new(3, vec![mu, tau], |theta, d| {
        let z = theta - d[0];
        -(z * z * d[1]).sum() * 0.5
    })
}

#[test]
fn an_elementwise_tensor_density_is_compiled_and_keeps_its_posterior() {
    use stein_autodiff::{Tape, Tensor};
    use stein_models::sample::Target;
    let post = gauss_density();
    assert!(post.compiled().is_ok(), "{:?}", post.compiled());
    // the compiled density against the same f on a tape: log p to the bit, the score to rounding
    let x = [0.3, -1.1, 2.0];
    let mut s = [0.0; 3];
    let lp = post.eval(&x, &mut s).unwrap();
    let tape = Tape::new();
    let theta = tape.tensor(&Tensor::new(3, 1, x.to_vec()).unwrap());
    let mu = tape.tensor_const(&Tensor::new(3, 1, vec![1.0, -2.0, 0.5]).unwrap());
    let tau = tape.tensor_const(&Tensor::new(3, 1, vec![1.0, 4.0, 0.25]).unwrap());
    let z = theta - mu;
    let y = -(z * z * tau).sum() * 0.5;
    assert_eq!(lp.to_bits(), y.value().to_bits());
    let g = tape.grad_tensors(y, &[theta]).remove(0);
    for (a, b) in s.iter().zip(g.data()) {
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }
    // NUTS on it: means μ and variances 1/τ within 4 MCSE
    let draws = sample(&post, &Config::default().draws(2000).seed(5)).unwrap();
    for (i, (m, tau)) in [(1.0, 1.0), (-2.0, 4.0), (0.5, 0.25)]
        .into_iter()
        .enumerate()
    {
        assert_moments(&draws, i, m, 1.0 / tau, "compiled tensor density");
    }
}

#[test]
fn a_tensor_density_with_a_matrix_product_runs_on_the_tape_and_says_why() {
    use stein_autodiff::Tensor;
    use stein_models::sample::{Target, TensorDensity};
    let x = Tensor::from_fn(4, 2, |i, j| (i + j) as f64 * 0.25);
    let post = TensorDensity::new(2, vec![x], |beta, d| {
        let r = d[0].matmul(beta);
        -(r * r).sum() * 0.5
    });
    let e = post.compiled().unwrap_err().to_string();
    assert!(e.contains("matrix products"), "{e}");
    let mut s = [0.0; 2];
    // −½ ‖X β‖² at β = (1, 0): X's first column is (0, .25, .5, .75)
    let lp = post.eval(&[1.0, 0.0], &mut s).unwrap();
    assert!((lp + 0.5 * (0.0625 + 0.25 + 0.5625)).abs() < 1e-14, "{lp}");
}

/// A 3-state hidden Markov model with Gaussian emissions: the forward algorithm in log space, every step a
/// `logsumexp` (whose maximum the trace keeps as a guarded constant shift).
struct Hmm {
    y: Vec<f64>,
}

impl stein_scores::LogDensity for Hmm {
    fn dim(&self) -> usize {
        9
    }
    fn log_prob<S: Real>(&self, p: &[S]) -> S {
        let mu = &p[0..3];
        // transition log-probabilities: rows of [0, a, b] logits through a log-softmax
        let mut logt = [[S::cst(0.0); 3]; 3];
        let mut k = 3;
        for (i, row) in logt.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                if i != j {
                    *v = p[k];
                    k += 1;
                }
            }
            let z = S::logsumexp(row);
            row.iter_mut().for_each(|v| *v -= z);
        }
        let emit = |s: usize, y: f64| -(S::cst(y) - mu[s]).powi(2) * 0.5;
        let mut alpha: Vec<S> = (0..3)
            .map(|s| emit(s, self.y[0]) - S::cst(3f64.ln()))
            .collect();
        for &y in &self.y[1..] {
            alpha = (0..3)
                .map(|j| {
                    let terms: Vec<S> = (0..3).map(|i| alpha[i] + logt[i][j]).collect();
                    S::logsumexp(&terms) + emit(j, y)
                })
                .collect();
        }
        let prior: S = p.iter().map(|&v| -v * v * 0.05).sum();
        S::logsumexp(&alpha) + prior
    }
}

#[test]
fn a_compiled_hidden_markov_model_replays_one_trace_and_equals_the_tape() {
    use stein_models::sample::Target;
    let y: Vec<f64> = (0..200)
        .map(|t| [-2.0, 0.0, 2.5][(t / 17) % 3] + ((t * 7919) % 100) as f64 / 100.0 - 0.5)
        .collect();
    let hmm = Hmm { y };
    let (tape, compiled) = (Autodiff(&hmm), Compiled::new(&hmm));
    let (mut ga, mut gc) = (vec![0.0; 9], vec![0.0; 9]);
    for k in 0..200 {
        let x: Vec<f64> = (0..9)
            .map(|i| ((k * 31 + i * 17) % 23) as f64 / 10.0 - 1.1)
            .collect();
        let va = tape.eval(&x, &mut ga).unwrap();
        let vc = compiled.eval(&x, &mut gc).unwrap();
        // the trace shifts each logsumexp by the maximum it saw: the same value to rounding
        assert!((va - vc).abs() <= 1e-12 * va.abs(), "log p {va} vs {vc}");
        for i in 0..9 {
            assert!(
                (ga[i] - gc[i]).abs() <= 1e-12 * ga[i].abs().max(1.0),
                "score[{i}] {} vs {}",
                ga[i],
                gc[i]
            );
        }
    }
    // every call after the first replayed the one trace: none fell back to the tape
    let stats = compiled.stats();
    assert_eq!(
        (stats.traces, stats.misses, stats.tape_calls),
        (1, 0, 0),
        "{stats:?}"
    );
}

/// α₁ ~ U(0, 1) and α₂ | α₁ ~ U(0, 1 − α₁), the second bound a function of the first (`interval_of`).
struct Weights;
impl ConstrainedDensity for Weights {
    fn parameters(&self) -> Vec<Param> {
        vec![
            Param::new("alpha1", Transform::interval(0.0, 1.0, 1).unwrap()),
            Param::new("alpha2_raw", Transform::real(1).unwrap()),
        ]
    }
    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
        let a1 = p[0][0];
        let (_, log_jacobian) =
            stein_scores::transform::interval_of(p[1][0], S::cst(0.0), a1.rsub(1.0));
        log_jacobian - a1.rsub(1.0).ln()
    }
}

/// Two sorted draws of Exp(1) (`positive_ordered`): density 2 e^{−x₁−x₂} on 0 < x₁ < x₂.
struct ExpOrder;
impl ConstrainedDensity for ExpOrder {
    fn parameters(&self) -> Vec<Param> {
        vec![Param::new("x", Transform::positive_ordered(2).unwrap())]
    }
    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
        -(p[0][0] + p[0][1])
    }
}

#[test]
fn parameter_dependent_bounds_and_positive_ordered_values_sample_their_laws() {
    let (_, d) = run(Weights, 41);
    // mapped: (α₁, raw); α₂ = (1 − α₁) σ(raw): E α₂ = 1/4, Var α₂ = 1/36 + 1/48
    let alpha = d.map(|x| vec![x[0], (1.0 - x[0]) / (1.0 + (-x[1]).exp())]);
    assert_moments(&alpha, 0, 0.5, 1.0 / 12.0, "alpha");
    assert_moments(&alpha, 1, 0.25, 7.0 / 144.0, "alpha");
    let (_, d) = run(ExpOrder, 42);
    assert_moments(&d, 0, 0.5, 0.25, "exp order");
    assert_moments(&d, 1, 1.5, 1.25, "exp order");
}

/// A density that reads a raw value (a branch on `to_f64`): it cannot be traced.
struct ReadsRaw;
impl stein_scores::LogDensity for ReadsRaw {
    fn dim(&self) -> usize {
        1
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        let scale = if x[0].to_f64().unwrap_or(0.0) > 10.0 {
            2.0
        } else {
            0.5
        };
        -(x[0] * x[0]) * scale
    }
}

#[test]
fn compiled_says_once_why_it_ran_on_the_tape() {
    let cfg = Config::default().warmup(200).draws(200).seed(3);
    let compiled = Compiled::new(&ReadsRaw);
    let draws = sample(&compiled, &cfg).unwrap();
    assert_eq!(draws.notes.len(), 1, "{:?}", draws.notes);
    assert!(draws.notes[0].contains("raw value"), "{}", draws.notes[0]);
    let table = draws.summary().to_string();
    assert!(
        table.contains("note: the compiled log-density ran on the tape"),
        "{table}"
    );
    // the notes survive a map of the draws; a density that compiles leaves none
    assert_eq!(draws.map(|x| x.to_vec()).notes, draws.notes);
    let fine = sample(
        &Compiled::new(&MultivariateNormal::isotropic(vec![0.0], 1.0).unwrap()),
        &cfg,
    );
    assert!(fine.unwrap().notes.is_empty());
}
