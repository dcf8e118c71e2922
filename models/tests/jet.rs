//! Taylor mode through networks (`Mlp::jet`, `Model::jet`) and the losses built on it, against reverse mode
//! over reverse mode on the same tape (the tape's own derivative rules, not the jet's slope formulas): values,
//! tangents, second derivatives, and the parameter gradients of all of them.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{with_tape, TVar, Tape, Tensor, Var};
use stein_models::nn::jet::Direction;
use stein_models::nn::{Activation, Conditioning, Kind, Mlp, Model};
use stein_models::objective::{self as loss, implicit, sliced};

fn normal(r: usize, c: usize, g: &mut SmallRng) -> Tensor {
    Tensor::from_fn(r, c, |_, _| {
        let z: f64 = StandardNormal.sample(g);
        1.3 * z
    })
}

/// f's tangents J uₖ and Σₖ∈S uₖᵀ ∇²fⱼ uₖ for every output j, by reverse mode over reverse mode.
fn reference<'t>(
    tape: &'t Tape,
    f: TVar<'t>,
    x: TVar<'t>,
    dirs: &[TVar<'t>],
    second: &[usize],
) -> (Vec<TVar<'t>>, Option<TVar<'t>>) {
    let outs = f.cols();
    let mut tangents: Vec<Vec<TVar>> = vec![Vec::new(); dirs.len()];
    let mut seconds = Vec::new();
    for j in 0..outs {
        let g = tape.grad_graph_tensors(f.slice_cols(j, 1).sum(), &[x])[0];
        for (k, u) in dirs.iter().enumerate() {
            tangents[k].push((g * *u).sum_axis(1));
        }
        let sj = second
            .iter()
            .map(|&k| {
                let hu = tape.grad_graph_tensors((g * dirs[k]).sum(), &[x])[0];
                (hu * dirs[k]).sum_axis(1)
            })
            .reduce(|a, b| a + b);
        seconds.extend(sj);
    }
    let cat = |parts: Vec<TVar<'t>>| TVar::concat(&parts, 1);
    let second = (!seconds.is_empty()).then(|| cat(seconds));
    (tangents.into_iter().map(cat).collect(), second)
}

fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// A random read-out of every stream: a loss whose parameter gradient reaches the jet's third derivatives.
fn read_out<'t>(tape: &'t Tape, streams: &[TVar<'t>], seed: u64) -> Var<'t> {
    let mut g = SmallRng::seed_from_u64(seed);
    streams
        .iter()
        .map(|s| {
            let w = tape.tensor_const(&normal(s.rows(), s.cols(), &mut g));
            (*s * w).sum() + s.square().sum() * 0.25
        })
        .reduce(|a, b| a + b)
        .expect("streams")
}

#[test]
fn jets_match_reverse_mode_for_every_activation() {
    let mut g = SmallRng::seed_from_u64(1);
    for (n, act) in Activation::ALL.into_iter().enumerate() {
        let net = Mlp::new(&[3, 7, 5, 2], act, &mut g);
        let x = normal(6, 3, &mut g);
        let u = normal(6, 3, &mut g);
        let v = normal(6, 2, &mut g); // narrower than the input: its third coordinate is 0
        let axis = |k: usize| Tensor::from_fn(6, 3, |_, j| f64::from(u8::from(j == k)));
        let v3 = Tensor::from_fn(6, 3, |i, j| if j < 2 { v.get(i, j) } else { 0.0 });
        for second in [vec![], vec![0, 1], vec![2], vec![0, 1, 2, 3]] {
            let (jet_grads, ref_grads) = with_tape(|t| {
                let p = net.lift(t);
                let xv = t.tensor(&x);
                let (uv, vv) = (t.tensor_const(&u), t.tensor_const(&v));
                let dirs = [
                    Direction::Axis(0),
                    Direction::Rows(uv),
                    Direction::Axis(2),
                    Direction::Rows(vv),
                ];
                let jet = net.jet(&p, xv, &dirs, &second);
                let f = net.forward(&p, xv);
                let as_tensors = [
                    t.tensor_const(&axis(0)),
                    uv,
                    t.tensor_const(&axis(2)),
                    t.tensor_const(&v3),
                ];
                let (tangents, sec) = reference(t, f, xv, &as_tensors, &second);
                assert_eq!(
                    jet.value.value(),
                    f.value(),
                    "{act:?}: the value, bit for bit"
                );
                for (k, (a, b)) in jet.tangents.iter().zip(&tangents).enumerate() {
                    assert_close(
                        &format!("{act:?} tangent {k}"),
                        &a.value(),
                        &b.value(),
                        1e-12,
                    );
                }
                assert_eq!(jet.second.is_some(), sec.is_some());
                if let (Some(a), Some(b)) = (jet.second, sec) {
                    assert_close(
                        &format!("{act:?} second {second:?}"),
                        &a.value(),
                        &b.value(),
                        1e-11,
                    );
                }
                let mut mine = jet.tangents.clone();
                let mut theirs = tangents;
                mine.extend(jet.second);
                theirs.extend(sec);
                let seed = 10 + n as u64;
                (
                    t.grad_tensors(read_out(t, &mine, seed), &p),
                    t.grad_tensors(read_out(t, &theirs, seed), &p),
                )
            });
            for (k, (a, b)) in jet_grads.iter().zip(&ref_grads).enumerate() {
                assert_close(&format!("{act:?} {second:?}: ∂/∂θ{k}"), a, b, 1e-10);
            }
        }
    }
}

#[test]
fn a_noise_conditional_model_divides_every_stream_by_sigma() {
    let mut g = SmallRng::seed_from_u64(2);
    let m = Model::build(
        Kind::Energy,
        Conditioning::InputAndScale,
        2,
        &[6, 4],
        Activation::Silu,
        &mut g,
    );
    let x = normal(5, 2, &mut g);
    let sigma = Tensor::from_fn(5, 1, |i, _| 0.3 + 0.2 * i as f64);
    with_tape(|t| {
        let p = m.net.lift(t);
        let (xv, sv) = (t.tensor(&x), t.tensor_const(&sigma));
        let jet = m.jet(
            &p,
            xv,
            Some(sv),
            &[Direction::Axis(0), Direction::Axis(1)],
            &[0, 1],
        );
        let e = m.energy_of(&p, xv, Some(sv));
        let axes = [0, 1]
            .map(|k| t.tensor_const(&Tensor::from_fn(5, 2, |_, j| f64::from(u8::from(j == k)))));
        let (tangents, sec) = reference(t, e, xv, &axes, &[0, 1]);
        assert_eq!(jet.value.value(), e.value());
        for (a, b) in jet.tangents.iter().zip(&tangents) {
            assert_close("tangent", &a.value(), &b.value(), 1e-12);
        }
        assert_close(
            "Laplacian",
            &jet.second.unwrap().value(),
            &sec.unwrap().value(),
            1e-11,
        );
    });
}

/// The score-matching losses as they were written before Taylor mode: reverse mode over reverse mode.
fn implicit_reverse<'t>(m: &Model, t: &'t Tape, p: &[TVar<'t>], x: &Tensor) -> Var<'t> {
    let xv = t.tensor(x);
    let s = m.score(t, p, xv, None);
    let tr = loss::trace_jacobian(t, s, xv);
    (tr.sum() + s.square().sum() * 0.5) / x.rows() as f64
}

fn sliced_reverse<'t>(
    m: &Model,
    t: &'t Tape,
    p: &[TVar<'t>],
    x: &Tensor,
    v: &Tensor,
    vr: bool,
) -> Var<'t> {
    let xv = t.tensor(x);
    let vv = t.tensor_const(v);
    let s = m.score(t, p, xv, None);
    let sv = s * vv;
    let jv = t.grad_graph_tensors(sv.sum(), &[xv])[0];
    let second = if vr {
        s.square().sum()
    } else {
        sv.sum_axis(1).square().sum()
    };
    ((jv * vv).sum() + second * 0.5) / x.rows() as f64
}

#[test]
fn the_losses_in_taylor_mode_equal_reverse_mode_with_their_gradients() {
    let mut g = SmallRng::seed_from_u64(3);
    let x = normal(9, 3, &mut g);
    let v = normal(9, 3, &mut g);
    type L<'a> = dyn for<'t> Fn(&Model, &'t Tape, &[TVar<'t>]) -> Var<'t> + 'a;
    let pairs: [(&str, Box<L<'_>>, Box<L<'_>>); 3] = [
        (
            "ism",
            Box::new(|m, t, p| implicit::loss(m, t, p, &x)),
            Box::new(|m, t, p| implicit_reverse(m, t, p, &x)),
        ),
        (
            "ssm",
            Box::new(|m, t, p| sliced::loss(m, t, p, &x, &v, false)),
            Box::new(|m, t, p| sliced_reverse(m, t, p, &x, &v, false)),
        ),
        (
            "ssm-vr",
            Box::new(|m, t, p| sliced::loss(m, t, p, &x, &v, true)),
            Box::new(|m, t, p| sliced_reverse(m, t, p, &x, &v, true)),
        ),
    ];
    for kind in [Kind::Score, Kind::Energy] {
        for act in Activation::ALL {
            let m = Model::build(kind, Conditioning::None, 3, &[8, 6], act, &mut g);
            for (name, new, old) in &pairs {
                let run = |f: &L<'_>| {
                    with_tape(|t| {
                        let p = m.net.lift(t);
                        let l = f(&m, t, &p);
                        (l.value(), t.grad_tensors(l, &p))
                    })
                };
                let ((a, ga), (b, gb)) = (run(new.as_ref()), run(old.as_ref()));
                let what = format!("{name} {kind:?} {act:?}");
                assert!(
                    (a - b).abs() <= 1e-11 * (1.0 + b.abs()),
                    "{what}: {a} vs {b}"
                );
                for (k, (x, y)) in ga.iter().zip(&gb).enumerate() {
                    assert_close(&format!("{what} ∂/∂θ{k}"), x, y, 1e-10);
                }
            }
        }
    }
}
