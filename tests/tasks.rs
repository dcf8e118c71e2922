//! The benchmark tasks against the reference values of BENCHMARKS.md and against closed forms.

use stein::autodiff::prelude::*;
use stein::autodiff::with_tape;
use stein::tasks::*;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn t1_rosenbrock_reference_values() {
    let x = rosenbrock_point(10);
    let (lp, g) = value_and_grad(|x| rosenbrock(x), &x);
    assert!((lp - -61.698372).abs() < 1e-9);
    for (a, b) in g.iter().zip([53.0, 1.9996, 2.9768]) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

#[test]
fn t1_scalar_and_tensor_forms_agree() {
    for d in [2, 10, 100] {
        let x = rosenbrock_point(d);
        let (lp, g) = value_and_grad(|x| rosenbrock(x), &x);
        let (lt, gt) = with_tape(|t| {
            let v = t.tensor(&Tensor::row(&x));
            let y = rosenbrock_tensor(v);
            (y.value(), t.grad_tensors(y, &[v]).remove(0))
        });
        assert!(rel(lt, lp) < 1e-14);
        for (a, b) in gt.data().iter().zip(&g) {
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
        }
    }
}

#[test]
fn t1_laplacian_matches_closed_form() {
    let x = rosenbrock_point(10);
    assert!((laplacian(|x| rosenbrock(x), &x) - -2994.48).abs() < 1e-9);
    for d in [2, 7, 31] {
        let x: Vec<f64> = (0..d).map(|i| (i as f64 * 0.37).sin()).collect();
        let lap = laplacian(|x| rosenbrock(x), &x);
        let exact = rosenbrock_laplacian(&x);
        assert!(
            (lap - exact).abs() < 1e-10 * (1.0 + exact.abs()),
            "d = {d}: {lap} vs {exact}"
        );
    }
}

#[test]
fn t2_gmm_reference_values_and_analytic_score() {
    let gmm = Gmm::t2();
    let x = gmm_point();
    let (lp, g) = value_and_grad(|x| gmm.log_prob(x), &x);
    assert!(rel(lp, -41.034094346321105) < 1e-13, "{lp}");
    for (a, b) in g
        .iter()
        .zip([0.5105075211978198, 2.9329988915005933, 3.5434948165534648])
    {
        assert!(rel(*a, b) < 1e-10, "{a} vs {b}");
    }
    let analytic = gmm.score(&x);
    for (a, b) in g.iter().zip(&analytic) {
        assert!(rel(*a, *b) < 1e-10);
    }
}

#[test]
fn t2_gmm_hessian_matches_closed_form() {
    let gmm = Gmm::t2();
    for shift in [0.0, 0.7, -1.9] {
        let x: Vec<f64> = gmm_point().iter().map(|v| v + shift).collect();
        let h = hessian(|x| gmm.log_prob(x), &x);
        let exact = gmm.hessian(&x);
        for i in 0..10 {
            for j in 0..10 {
                let (a, b) = (h[i][j], exact[i][j]);
                assert!(
                    (a - b).abs() < 1e-10 * (1.0 + b.abs()),
                    "H[{i}][{j}] {a} vs {b}"
                );
            }
        }
    }
    let lap = laplacian(|x| gmm.log_prob(x), &gmm_point());
    assert!(rel(lap, 93.68895834264795) < 1e-12, "{lap}");
}

#[test]
fn t3_logreg_reference_values_both_forms() {
    let lr = LogReg::t3();
    let b = logreg_point();
    let (lp, g) = value_and_grad(|x| lr.log_prob(x), &b);
    assert!(rel(lp, -695.0109055100189) < 1e-13);
    let expected = [-9.378401847350743, 15.08434310027637, 17.433840043713747];
    for (a, e) in g.iter().zip(expected) {
        assert!(rel(*a, e) < 1e-12);
    }
    let mut tape = Tape::new();
    let mut gt = Tensor::zeros(25, 1);
    let lt = lr.value_and_grad_tensor(&mut tape, &Tensor::new(25, 1, b).unwrap(), &mut gt);
    assert!(rel(lt, lp) < 1e-13);
    for (a, e) in gt.data().iter().zip(&g) {
        assert!((a - e).abs() < 1e-11 * (1.0 + e.abs()));
    }
}
