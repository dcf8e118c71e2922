//! Prints the benchmark figures of BENCHMARKS.md (T1–T11, Q1, Q2) as JSON lines, in the peers' format:
//! `{"peer", "task", "param", "metric", "value", "unit"}`.
//!
//! Run: `cargo run --release --example bench_report` (add `-- --quick` for a fast smoke run, `--task Q2` for
//! one task, `--q2-picture FILE.png` for the picture of Q2's samples; `--task Q2-solvers` and `--task Q2-flows`
//! run only when named, `--solver-picture FILE.png` draws the first's curve).

use std::hint::black_box;
use std::time::Instant;
use stein::autodiff::{
    compile, compile_tensor, laplacian, Tape, Tensor, TensorWorkspace, Var, Workspace,
};
use stein::scores::{autodiff, score_batch, Score};
use stein::tasks::{
    gmm_point, logreg_point, rosenbrock, rosenbrock_point, rosenbrock_tensor, t2_mixture, Gmm,
    LogReg,
};

/// Median time per call in ns over 5 batches of warm calls.
fn per_call(budget_s: f64, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < budget_s / 10.0 {
        f();
        n += 1;
    }
    let reps = (n * 2).max(3);
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / reps as f64
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[2]
}

pub(crate) fn emit(
    task: &str,
    param: impl std::fmt::Display,
    metric: &str,
    value: f64,
    unit: &str,
) {
    println!(
        "{{\"peer\": \"stein\", \"task\": \"{task}\", \"param\": {param}, \"metric\": \"{metric}\", \"value\": {value}, \"unit\": \"{unit}\"}}"
    );
}

/// Value and gradient of a scalar-loop density on a reused tape.
fn scalar_vg<F>(tape: &mut Tape, x: &[f64], g: &mut [f64], f: F) -> (f64, usize)
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    tape.clear();
    let xs = tape.vars(x);
    let y = f(&xs);
    tape.grad_into(y, &xs, g);
    (y.value(), tape.len())
}

mod diffusion;
mod flows;
#[path = "../posteriordb/models.rs"]
mod posteriordb;
mod q2;
mod samplers;
mod solvers;

use samplers::{ess, q1, t10, t8, t9};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--task T5` (repeatable) runs only the named tasks
    let only: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--task")
        .map(|w| w[1].as_str())
        .collect();
    let want = |t: &str| only.is_empty() || only.contains(&t);
    if want("Q1") {
        q1(quick);
    }
    if want("T8") {
        t8(quick);
    }
    if want("T9") {
        t9(quick);
    }
    if want("ESS") {
        ess(quick);
    }
    if want("T10") || only.contains(&"T10s") {
        t10(quick, only.contains(&"T10s"));
    }
    if want("T11") {
        diffusion::t11(quick);
    }
    if want("T12") {
        samplers::t12(quick);
    }
    if only.contains(&"Q2-flows") {
        flows::q2_flows(quick);
    }
    if only.contains(&"Q2-solvers") {
        // `--solver-picture FILE.png`: the curve of `outside` against network evaluations
        let picture = args
            .windows(2)
            .find(|w| w[0] == "--solver-picture")
            .map(|w| std::path::PathBuf::from(&w[1]));
        solvers::q2_solvers(quick, picture.as_deref());
    }
    if want("Q2") {
        // `--q2-picture FILE.png`: the seven sets' data and both models' samples in one picture
        let picture = args
            .windows(2)
            .find(|w| w[0] == "--q2-picture")
            .map(|w| std::path::PathBuf::from(&w[1]));
        q2::q2(quick, picture.as_deref());
    }
    if only.is_empty()
        || only.iter().any(|t| {
            t.starts_with('T') && !["T8", "T9", "T10", "T10s", "T11", "T12", "ESS"].contains(t)
        })
    {
        autodiff_and_scores(quick, &want);
    }
}

fn autodiff_and_scores(quick: bool, want: &dyn Fn(&str) -> bool) {
    let budget = if quick { 0.02 } else { 0.5 };
    let mut tape = Tape::new();

    // T1 rosenbrock
    for d in [2usize, 10, 100, 1000] {
        let x = rosenbrock_point(d);
        let mut g = vec![0.0; d];
        let tp = per_call(budget, || {
            black_box(rosenbrock(black_box(&x[..])));
        });
        let (_, nodes) = scalar_vg(&mut tape, &x, &mut g, |x| rosenbrock(x));
        let tg = per_call(budget, || {
            black_box(scalar_vg(&mut tape, &x, &mut g, |x| rosenbrock(x)));
        });
        // the compiled gradient: traced once, replayed
        let c = compile(|x| rosenbrock(x), &x).expect("rosenbrock traces");
        let mut ws = Workspace::default();
        let tc = per_call(budget, || {
            black_box(c.value_grad(black_box(&x), &mut g, &mut ws));
        });
        let xt = Tensor::row(&x);
        let mut gt = Tensor::zeros(1, d);
        let tt = per_call(budget, || {
            tape.clear();
            let v = tape.tensor(&xt);
            let y = rosenbrock_tensor(v);
            tape.grad_tensors_into(y, &[v], std::slice::from_mut(&mut gt));
            black_box(y.value());
        });
        // the tensor form compiled: recorded once, elementwise work fused into blocks
        let ct = compile_tensor(rosenbrock_tensor, &xt).expect("the tensor form compiles");
        let mut tws = TensorWorkspace::default();
        let tct = per_call(budget, || {
            black_box(ct.value_grad(black_box(&xt), &mut gt, &mut tws));
        });
        emit("T1", d, "primal_ns", tp, "ns");
        emit("T1", d, "value_grad_ns", tg, "ns");
        emit("T1", d, "grad_over_primal", tg / tp, "x");
        emit("T1", d, "tape_nodes", nodes as f64, "nodes");
        emit("T1", d, "ns_per_node", tg / nodes as f64, "ns");
        emit("T1", d, "compiled_value_grad_ns", tc, "ns");
        emit("T1", d, "compiled_over_primal", tc / tp, "x");
        emit("T1", d, "tensor_value_grad_ns", tt, "ns");
        emit("T1", d, "tensor_grad_over_primal", tt / tp, "x");
        emit("T1", d, "compiled_tensor_value_grad_ns", tct, "ns");
        emit("T1", d, "compiled_tensor_over_primal", tct / tp, "x");
    }

    // T2 gmm-10
    let gmm = Gmm::t2();
    let x = gmm_point();
    let mut g = vec![0.0; 10];
    let tp = per_call(budget, || {
        black_box(gmm.log_prob(black_box(&x[..])));
    });
    let tg = per_call(budget, || {
        black_box(scalar_vg(&mut tape, &x, &mut g, |x| gmm.log_prob(x)));
    });
    let ta = per_call(budget, || {
        black_box(gmm.score(black_box(&x)));
    });
    let analytic = gmm.score(&x);
    let rel = g
        .iter()
        .zip(&analytic)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-300))
        .fold(0.0, f64::max);
    emit("T2", 10, "primal_ns", tp, "ns");
    emit("T2", 10, "value_grad_ns", tg, "ns");
    emit("T2", 10, "analytic_score_ns", ta, "ns");
    emit("T2", 10, "max_rel_err_vs_analytic", rel, "");

    // T2 through the scores crate: one GaussianMixture object, analytic and autodiff scores
    let mix = t2_mixture();
    let mut s = vec![0.0; 10];
    let t_an = per_call(budget, || {
        mix.score_into(black_box(&x), &mut s);
        black_box(s[0]);
    });
    let ad = autodiff(&mix);
    let t_ad = per_call(budget, || {
        ad.score_into(black_box(&x), &mut s);
        black_box(s[0]);
    });
    let (sa, sd) = (mix.score(&x), ad.score(&x));
    let rel2 = sa
        .iter()
        .zip(&sd)
        .map(|(a, b)| (a - b).abs() / a.abs())
        .fold(0.0, f64::max);
    emit("T2", 10, "scores_analytic_ns", t_an, "ns");
    emit("T2", 10, "scores_autodiff_ns", t_ad, "ns");
    emit("T2", 10, "scores_autodiff_vs_analytic_rel_err", rel2, "");

    // score_batch over 100,000 points of the T2 mixture (autodiff), 1 thread vs all threads
    let n_pts = if quick { 2_000 } else { 100_000 };
    let pts: Vec<f64> = (0..n_pts * 10)
        .map(|i| ((i * 7919) % 1000) as f64 / 125.0 - 4.0)
        .collect();
    let timed = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| score_batch(&ad, &pts).unwrap());
        let t = Instant::now();
        let reps = 3;
        for _ in 0..reps {
            black_box(pool.install(|| score_batch(&ad, &pts).unwrap()));
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    let (t1, tn) = (timed(1), timed(rayon::current_num_threads()));
    emit(
        "T2",
        n_pts,
        "score_batch_points_per_s_1_thread",
        n_pts as f64 / t1,
        "1/s",
    );
    emit(
        "T2",
        n_pts,
        "score_batch_points_per_s_all_threads",
        n_pts as f64 / tn,
        "1/s",
    );
    emit("T2", n_pts, "score_batch_speedup", t1 / tn, "x");

    // T3 logreg
    let lr = LogReg::t3();
    let b = logreg_point();
    let tp = per_call(budget, || {
        black_box(lr.log_prob(black_box(&b[..])));
    });
    let bt = Tensor::new(25, 1, b.clone()).unwrap();
    let mut gb = Tensor::zeros(25, 1);
    let tt = per_call(budget, || {
        black_box(lr.value_and_grad_tensor(&mut tape, &bt, &mut gb));
    });
    let mut g = vec![0.0; 25];
    let ts = per_call(budget, || {
        black_box(scalar_vg(&mut tape, &b, &mut g, |x| lr.log_prob(x)));
    });
    emit("T3", 25, "primal_ns", tp, "ns");
    emit("T3", 25, "tensor_value_grad_ns", tt, "ns");
    emit("T3", 25, "tensor_grad_over_primal", tt / tp, "x");
    emit("T3", 25, "scalar_value_grad_ns", ts, "ns");

    // T5–T7: one full training step (loss, gradient, Adam) at batch 512 on two moons, as the peers time it
    if want("T5") || want("T6") || want("T7") {
        net_steps(budget);
    }

    // T4 laplacian
    let x = rosenbrock_point(10);
    let tl = per_call(budget, || {
        black_box(laplacian(|x| rosenbrock(x), black_box(&x)));
    });
    emit("T4", "\"rosenbrock-10\"", "laplacian_ns", tl, "ns");
    emit(
        "T4",
        "\"rosenbrock-10\"",
        "check_laplacian",
        laplacian(|x| rosenbrock(x), &x),
        "",
    );
    let x = gmm_point();
    let tl = per_call(budget, || {
        black_box(laplacian(|x| gmm.log_prob(x), black_box(&x)));
    });
    emit("T4", "\"gmm-10\"", "laplacian_ns", tl, "ns");
    emit(
        "T4",
        "\"gmm-10\"",
        "check_laplacian",
        laplacian(|x| gmm.log_prob(x), &x),
        "",
    );
}

/// T5 dsm-step, T5e dsm-energy-step, T6 ism-step, T7 ssm-step (BENCHMARKS.md).
fn net_steps(budget: f64) {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    use stein::models::data::Toy;
    use stein::models::nn::{Activation, Model};
    use stein::models::objective::{dsm, implicit, sliced};
    use stein::models::optim::{Adam, Optimizer};
    use stein::models::shard::{rows_of, sharded};

    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let x = Toy::TwoMoons.sample(512, &mut rng);
    let z = Tensor::from_fn(512, 2, |_, _| StandardNormal.sample(&mut rng));
    let sigma = Tensor::full(512, 1, 0.1);
    for task in ["T5", "T5e", "T6", "T7"] {
        let mut model = if task == "T5" {
            Model::score_net(2, &[128, 128], Activation::Silu, &mut rng)
        } else {
            Model::energy(2, &[128, 128], Activation::Softplus, &mut rng)
        };
        let mut opt = Adam::new();
        // the step runs on a rayon worker and differentiates shards of rows in parallel, as Trainer::fit does
        let t = stein::autodiff::on_pool(|| {
            per_call(budget, || {
                let (l, grads) = sharded(512, |lo, hi| {
                    let (x, z, sigma) = (
                        rows_of(&x, lo, hi),
                        rows_of(&z, lo, hi),
                        rows_of(&sigma, lo, hi),
                    );
                    stein::autodiff::with_tape(|tape| {
                        let p = model.net.lift(tape);
                        let l = match task {
                            "T5" | "T5e" => dsm::loss(&model, tape, &p, &x, &z, &sigma),
                            "T6" => implicit::loss(&model, tape, &p, &x),
                            _ => sliced::loss(&model, tape, &p, &x, &z, false),
                        };
                        (l.value(), tape.grad_tensors(l, &p))
                    })
                });
                black_box(l);
                opt.step(&mut model.net.params, &grads, 1e-3);
            })
        });
        emit(task, 512, "step_ms", t / 1e6, "ms");
    }
    // the same steps in f32, as a training run takes them: the objective's f32 path (the network's passes in
    // f32, the loss's head on the tape), Adam on the f64 parameters, the f32 copy refreshed
    for task in ["T5", "T5e", "T6", "T7"] {
        use stein::models::network::Network;
        use stein::models::nn::Precision;
        use stein::models::objective::{Objective, Projection, Single, Step};
        let model = if task == "T5" {
            Model::score_net(2, &[128, 128], Activation::Silu, &mut rng)
        } else {
            Model::energy(2, &[128, 128], Activation::Softplus, &mut rng)
        };
        let mut net = Network::Model(model);
        let mut objective: Box<dyn Objective> = match task {
            "T5" | "T5e" => Box::new(dsm::Dsm::new(0.1).expect("σ > 0")),
            "T6" => Box::new(implicit::Implicit::exact()),
            _ => Box::new(sliced::Sliced {
                projections: 1,
                variance_reduced: false,
                projection: Projection::Gaussian,
            }),
        };
        let (mut single, mut opt) = (Single::new(&net), Adam::new());
        let mut draws = rand::rngs::SmallRng::seed_from_u64(1);
        let t = stein::autodiff::on_pool(|| {
            per_call(budget, || {
                let g = objective
                    .gradient(Step {
                        net: &net,
                        batch: &x,
                        rng: &mut draws,
                        precision: Precision::F32,
                        single: Some(&single),
                    })
                    .expect("an f32 path");
                black_box(g.loss);
                opt.step(net.params_mut(), &g.grads, 1e-3);
                single.refresh(&net);
            })
        });
        emit(task, 512, "step_ms_f32", t / 1e6, "ms");
    }
    // GEMM throughput through the tape's kernel: the T5 hidden layer (512 × 128 · 128 × 128) and a large
    // square product (the kernel's practical peak here), 1 thread and the whole pool
    for (m, k, n) in [(512usize, 128usize, 128usize), (1024, 1024, 1024)] {
        let a = Tensor::from_fn(m, k, |i, j| ((i + j) % 7) as f64 - 3.0);
        let b = Tensor::from_fn(k, n, |i, j| ((i * j) % 5) as f64 - 2.0);
        let mut tape = Tape::new();
        let mut run = || {
            tape.clear();
            let (x, y) = (tape.tensor_const(&a), tape.tensor_const(&b));
            black_box(x.matmul(y).rows());
        };
        let flops = 2.0 * (m * k * n) as f64;
        let t_all = per_call(budget, &mut run);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let t_one = pool.install(|| per_call(budget, &mut run));
        let label = format!("\"{m}x{k}x{n}\"");
        emit("GEMM", &label, "gflops_1_thread", flops / t_one, "GFLOP/s");
        emit(
            "GEMM",
            &label,
            "gflops_all_threads",
            flops / t_all,
            "GFLOP/s",
        );
    }
}
