//! Criterion benches for the autodiff tasks T1–T4 of BENCHMARKS.md. The `bench_report` example prints the
//! same figures as JSON lines beside the peers'.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use stein::autodiff::{compile, laplacian, Tape, Tensor, Workspace};
use stein::tasks::*;

fn t1(c: &mut Criterion) {
    let mut g = c.benchmark_group("T1-rosenbrock");
    for d in [2usize, 10, 100, 1000] {
        let x = rosenbrock_point(d);
        g.bench_with_input(BenchmarkId::new("primal-f64", d), &x, |b, x| {
            b.iter(|| rosenbrock(black_box(&x[..])))
        });
        let mut tape = Tape::new();
        let mut grad = vec![0.0; d];
        g.bench_with_input(BenchmarkId::new("value-grad-scalar", d), &x, |b, x| {
            b.iter(|| {
                tape.clear();
                let xs = tape.vars(x);
                let y = rosenbrock(&xs);
                tape.grad_into(y, &xs, &mut grad);
                y.value()
            })
        });
        // traced once, replayed
        let compiled = compile(|x| rosenbrock(x), &x).expect("rosenbrock traces");
        let mut ws = Workspace::default();
        g.bench_with_input(BenchmarkId::new("value-grad-compiled", d), &x, |b, x| {
            b.iter(|| compiled.value_grad(x, &mut grad, &mut ws))
        });
        let xt = Tensor::row(&x);
        let mut gt = [Tensor::zeros(1, d)];
        g.bench_with_input(BenchmarkId::new("value-grad-tensor", d), &xt, |b, xt| {
            b.iter(|| {
                tape.clear();
                let v = tape.tensor(xt);
                let y = rosenbrock_tensor(v);
                tape.grad_tensors_into(y, &[v], &mut gt);
                y.value()
            })
        });
    }
    g.finish();
}

fn t2(c: &mut Criterion) {
    let gmm = Gmm::t2();
    let x = gmm_point();
    let mut tape = Tape::new();
    let mut grad = vec![0.0; 10];
    let mut g = c.benchmark_group("T2-gmm10");
    g.bench_function("value-grad-autodiff", |b| {
        b.iter(|| {
            tape.clear();
            let xs = tape.vars(&x);
            let y = gmm.log_prob(&xs);
            tape.grad_into(y, &xs, &mut grad);
            y.value()
        })
    });
    g.bench_function("score-analytic", |b| b.iter(|| gmm.score(black_box(&x))));
    g.finish();
}

fn t3(c: &mut Criterion) {
    let lr = LogReg::t3();
    let beta = Tensor::new(25, 1, logreg_point()).unwrap();
    let mut tape = Tape::new();
    let mut grad = Tensor::zeros(25, 1);
    let mut g = c.benchmark_group("T3-logreg");
    g.bench_function("primal-f64", |b| {
        b.iter(|| lr.log_prob(black_box(beta.data())))
    });
    g.bench_function("value-grad-tensor", |b| {
        b.iter(|| lr.value_and_grad_tensor(&mut tape, &beta, &mut grad))
    });
    g.finish();
}

fn t4(c: &mut Criterion) {
    let gmm = Gmm::t2();
    let (xr, xg) = (rosenbrock_point(10), gmm_point());
    let mut g = c.benchmark_group("T4-laplacian");
    g.bench_function("rosenbrock-10", |b| {
        b.iter(|| laplacian(|x| rosenbrock(x), black_box(&xr)))
    });
    g.bench_function("gmm-10", |b| {
        b.iter(|| laplacian(|x| gmm.log_prob(x), black_box(&xg)))
    });
    g.finish();
}

criterion_group!(benches, t1, t2, t3, t4);
criterion_main!(benches);
