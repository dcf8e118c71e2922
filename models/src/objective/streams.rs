//! Where a score-matching loss gets the network's derivatives: from the tape in f64, or from the f32 passes
//! ([`crate::nn::single`]) with the loss's own head on the tape. A loss states which streams it needs (the
//! directions along which the network is differentiated and the ones whose second derivatives it sums) and
//! writes its head once, as a function of a [`Jet`]; [`jet_gradient`] runs it in the step's precision.
//!
//! The f32 path: the network's streams in f32 for a shard of rows ([`Mlp32::jet`]), lifted onto a tape as
//! leaves (in f64: `rows × out` values, a few per row), the head recorded over them, its gradients in the
//! streams handed to [`Mlp32::jet_backward`]. The head is cheap (elementwise over `rows × d`); the passes
//! through the network are all in f32.

use super::{Gradient, Step};
use crate::diffusion::single::TimeModel32;
use crate::network::Network;
use crate::nn::jet::{Direction, Jet};
use crate::nn::single::grad::GradWork;
use crate::nn::single::jet::{JetWork, Streams};
use crate::nn::single::{Mlp32, Work};
use crate::nn::{Conditioning, Kind, Model, Precision};
use crate::shard::rows_of;
use std::cell::RefCell;
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// A network's parameters in f32, kept in step with the f64 ones by the training loop when it runs in f32.
#[derive(Clone, Debug)]
pub enum Single {
    /// A score or energy network.
    Model(Mlp32),
    /// A diffusion model's network and its time features.
    Diffusion(TimeModel32),
}

impl Single {
    /// The f32 copy of `net`.
    pub fn new(net: &Network) -> Self {
        match net {
            Network::Model(m) => Single::Model(Mlp32::new(&m.net)),
            Network::Diffusion(m) => Single::Diffusion(TimeModel32::new(m)),
        }
    }

    /// Take the parameters of `net` (after an optimiser step). Panics if `net` is not the network this copy
    /// was made from (its kind or widths differ: a programmer error).
    pub fn refresh(&mut self, net: &Network) {
        match (self, net) {
            (Single::Model(s), Network::Model(m)) => s.refresh(&m.net),
            (Single::Diffusion(s), Network::Diffusion(m)) => s.refresh(m),
            _ => panic!("Single::refresh: a network of another kind"),
        }
    }

    /// The diffusion model's copy.
    pub fn diffusion(&self) -> Option<&TimeModel32> {
        match self {
            Single::Diffusion(s) => Some(s),
            Single::Model(_) => None,
        }
    }

    /// The score or energy network's copy.
    pub fn mlp(&self) -> Option<&Mlp32> {
        match self {
            Single::Model(s) => Some(s),
            Single::Diffusion(_) => None,
        }
    }
}

/// A direction along which a loss differentiates the network, for the whole batch.
#[derive(Clone, Copy, Debug)]
pub enum Along<'a> {
    /// The k-th coordinate axis.
    Axis(usize),
    /// One direction per row (the batch's shape).
    Rows(&'a Tensor),
}

/// The score of a network from its jet along the d axes (energy networks: s = −∇E, the tangents) or its
/// value (score networks), `B × d`.
pub(crate) fn score_of<'t>(kind: Kind, jet: &Jet<'t>) -> TVar<'t> {
    match kind {
        Kind::Score => jet.value,
        Kind::Energy => -TVar::concat(&jet.tangents, 1),
    }
}

/// The axes `0..d` as directions.
pub(crate) fn axes(d: usize) -> Vec<Along<'static>> {
    (0..d).map(Along::Axis).collect()
}

/// The directions for rows `lo..hi`, on the tape.
pub(crate) fn on_tape<'t>(
    tape: &'t Tape,
    dirs: &[Along<'_>],
    lo: usize,
    hi: usize,
) -> Vec<Direction<'t>> {
    dirs.iter()
        .map(|d| match *d {
            Along::Axis(k) => Direction::Axis(k),
            Along::Rows(u) => Direction::Rows(tape.tensor_const(&rows_of(u, lo, hi))),
        })
        .collect()
}

/// The mean of a loss over the rows of `x` and its gradient in the network's parameters, in the step's
/// precision: the network's [`Jet`] at the rows (noise levels `sigma`, `B × 1`, for a noise-conditional
/// network) along `dirs`, second derivatives summed along the directions in `second`, then
/// `head(tape, jet, lo, hi)` — the mean loss of rows `lo..hi` from their jet — over shards of rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn jet_gradient(
    step: &Step<'_>,
    model: &Model,
    x: &Tensor,
    sigma: Option<&Tensor>,
    dirs: &[Along<'_>],
    second: &[usize],
    head: impl for<'t> Fn(&'t Tape, Jet<'t>, usize, usize) -> Var<'t> + Sync,
) -> Gradient {
    let rows = x.rows();
    let single = step.single.and_then(Single::mlp);
    let Some(fast) = single.filter(|_| step.precision == Precision::F32) else {
        return super::sharded(step.net, &[], rows, |tape, p, _, lo, hi| {
            let xv = tape.tensor(&rows_of(x, lo, hi));
            let sg = sigma.map(|s| tape.tensor_const(&rows_of(s, lo, hi)));
            let dirs = on_tape(tape, dirs, lo, hi);
            head(tape, model.jet(p, xv, sg, &dirs, second), lo, hi)
        });
    };
    // f32 passes do half the work per row: shards twice as large
    let shard = crate::shard::shard_rows_up_to(rows, 2 * crate::shard::SHARD_ROWS);
    let shapes: Vec<(usize, usize)> = step.net.params().iter().map(|p| p.shape()).collect();
    let (loss, grads) = crate::shard::sharded_by(rows, shard, |lo, hi| {
        BUFFERS.with(|b| {
            let b = &mut *b.borrow_mut();
            let (loss, g) = shard_pass(b, fast, model, x, sigma, dirs, second, &head, lo, hi);
            (loss, widened(g, &shapes).collect())
        })
    });
    Gradient { loss, grads }
}

/// f32 gradients as f64 tensors of the parameters' shapes.
fn widened<'a>(
    grads: &'a [Vec<f32>],
    shapes: &'a [(usize, usize)],
) -> impl Iterator<Item = Tensor> + 'a {
    grads.iter().zip(shapes).map(|(g, &(r, c))| {
        Tensor::new(r, c, g.iter().map(|&v| v as f64).collect()).expect("parameter shape")
    })
}

/// Each thread's buffers for the f32 path.
#[derive(Default)]
struct Buffers {
    input: Vec<f32>,
    dirs: Vec<f32>,
    streams: Streams,
    adjoint: Streams,
    work: JetWork,
    /// An energy network's input gradient (or its adjoint), `n × width`, and its pass's buffers.
    gradient: Vec<f32>,
    grad_work: GradWork,
    /// The plain passes' buffers ([`value_gradient`]).
    plain: Work,
    grads: Vec<Vec<f32>>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// One shard of [`jet_gradient`]'s f32 path: the mean loss of rows `lo..hi` and its gradient in f32.
#[allow(clippy::too_many_arguments)]
fn shard_pass<'b>(
    b: &'b mut Buffers,
    fast: &Mlp32,
    model: &Model,
    x: &Tensor,
    sigma: Option<&Tensor>,
    dirs: &[Along<'_>],
    second: &[usize],
    head: &(impl for<'t> Fn(&'t Tape, Jet<'t>, usize, usize) -> Var<'t> + Sync),
    lo: usize,
    hi: usize,
) -> (f64, &'b [Vec<f32>]) {
    let (n, d) = (hi - lo, x.cols());
    let conditioned = model.conditioning == Conditioning::InputAndScale;
    let width = d + conditioned as usize;
    b.input.clear();
    for r in lo..hi {
        b.input.extend(x.row_slice(r).iter().map(|&v| v as f32));
        if conditioned {
            let s = sigma.expect("a noise-conditional model needs σ");
            b.input.push(s.get(r, 0).ln() as f32);
        }
    }
    let out = *fast.widths().last().expect("widths");
    assert_eq!(width, fast.widths()[0], "jet_gradient: input width");
    // an energy network's tangents along the d axes are its input gradient: reverse over reverse, six
    // products a layer whatever d ([`crate::nn::single::grad`]), instead of 3d + 3 in Taylor mode
    let reverse = out == 1
        && second.is_empty()
        && dirs.len() == d
        && dirs
            .iter()
            .enumerate()
            .all(|(j, a)| matches!(a, Along::Axis(k) if *k == j));
    if reverse {
        let (s, g) = (&mut b.streams, &mut b.gradient);
        fast.input_gradient(&b.input, &mut s.value, g, &mut b.grad_work);
        s.tangents.clear();
        s.tangents.extend(
            (0..d)
                .flat_map(|j| (0..n).map(move |r| (j, r)))
                .map(|(j, r)| g[r * width + j]),
        );
        s.second.clear();
    } else {
        directions(&mut b.dirs, dirs, n, d, lo, hi);
        fast.jet(&b.input, &b.dirs, d, second, &mut b.streams, &mut b.work);
    }
    let loss = head_on_tape(b, model, sigma, dirs.len(), out, head, lo, hi);
    if reverse {
        let g = &mut b.gradient;
        g.clear();
        g.resize(n * width, 0.0);
        for (j, t) in b.adjoint.tangents.chunks_exact(n).enumerate() {
            t.iter()
                .enumerate()
                .for_each(|(r, &v)| g[r * width + j] = v);
        }
        fast.input_gradient_backward(
            &b.input,
            &b.adjoint.value,
            g,
            &mut b.grad_work,
            &mut b.grads,
        );
    } else {
        fast.jet_backward(&b.input, &b.dirs, &b.adjoint, &mut b.work, &mut b.grads);
    }
    (loss, &b.grads)
}

/// The directions for rows `lo..hi` as m blocks of `n × d` values.
fn directions(into: &mut Vec<f32>, dirs: &[Along<'_>], n: usize, d: usize, lo: usize, hi: usize) {
    // every direction over the first d columns (a noise level's column held still)
    into.clear();
    into.resize(dirs.len() * n * d, 0.0);
    for (j, dir) in dirs.iter().enumerate() {
        let block = &mut into[j * n * d..(j + 1) * n * d];
        match *dir {
            Along::Axis(k) => block.chunks_exact_mut(d).for_each(|row| row[k] = 1.0),
            Along::Rows(u) => block
                .iter_mut()
                .zip(&u.data()[lo * d..hi * d])
                .for_each(|(o, &v)| *o = v as f32),
        }
    }
}

/// The loss's head on a tape over the streams in `b` (lifted as leaves), their adjoints into `b.adjoint`;
/// the loss's value.
#[allow(clippy::too_many_arguments)]
fn head_on_tape(
    b: &mut Buffers,
    model: &Model,
    sigma: Option<&Tensor>,
    m: usize,
    out: usize,
    head: &(impl for<'t> Fn(&'t Tape, Jet<'t>, usize, usize) -> Var<'t> + Sync),
    lo: usize,
    hi: usize,
) -> f64 {
    let n = hi - lo;
    let conditioned = model.conditioning == Conditioning::InputAndScale;
    stein_autodiff::with_tape(|tape| {
        let lift = |v: &[f32], r: usize| {
            let t =
                Tensor::new(r, out, v.iter().map(|&v| v as f64).collect()).expect("stream shape");
            tape.tensor(&t)
        };
        let value = lift(&b.streams.value, n);
        let tangents: Vec<TVar> = b
            .streams
            .tangents
            .chunks_exact(n * out)
            .map(|t| lift(t, n))
            .collect();
        let second = (!b.streams.second.is_empty()).then(|| lift(&b.streams.second, n));
        let mut jet = Jet {
            value,
            tangents: tangents.clone(),
            second,
        };
        if conditioned {
            let s = sigma.expect("a noise-conditional model needs σ");
            jet = jet.divided(tape.tensor_const(&rows_of(s, lo, hi)));
        }
        let l = head(tape, jet, lo, hi);
        let leaves: Vec<TVar> = [value].into_iter().chain(tangents).chain(second).collect();
        let g = tape.grad_tensors(l, &leaves);
        let f32s = |t: &Tensor| t.data().iter().map(|&v| v as f32).collect::<Vec<f32>>();
        b.adjoint.value = f32s(&g[0]);
        b.adjoint.tangents = g[1..1 + m].iter().flat_map(f32s).collect();
        b.adjoint.second = if b.streams.second.is_empty() {
            Vec::new()
        } else {
            f32s(&g[1 + m])
        };
        l.value()
    })
}

/// The mean of a loss of an unconditioned energy network's values at several sets of points (row i of each
/// set belongs to row i of the batch) and its gradient in the parameters, then in `extra` (the objective's
/// own learned tensors), in the step's precision: `head(tape, energies, extra, lo, hi)` gets E at rows
/// `lo..hi` of each set (`n × 1` each) and the lifted `extra`, and returns their mean loss. In f32 the
/// network's passes over all the sets are one forward and one backward pass ([`Mlp32::forward`]).
pub(crate) fn value_gradient(
    step: &Step<'_>,
    model: &Model,
    sets: &[&Tensor],
    extra: &[Tensor],
    head: impl for<'t> Fn(&'t Tape, &[TVar<'t>], &[TVar<'t>], usize, usize) -> Var<'t> + Sync,
) -> Gradient {
    let rows = sets.first().map_or(0, |s| s.rows());
    let single = step.single.and_then(Single::mlp);
    let Some(fast) = single.filter(|_| step.precision == Precision::F32) else {
        return super::sharded(step.net, extra, rows, |tape, p, e, lo, hi| {
            let energies: Vec<TVar> = sets
                .iter()
                .map(|s| model.energy_of(p, tape.tensor_const(&rows_of(s, lo, hi)), None))
                .collect();
            head(tape, &energies, e, lo, hi)
        });
    };
    let shard = crate::shard::shard_rows_up_to(rows, 2 * crate::shard::SHARD_ROWS);
    let shapes: Vec<(usize, usize)> = step.net.params().iter().map(|p| p.shape()).collect();
    let (loss, grads) = crate::shard::sharded_by(rows, shard, |lo, hi| {
        BUFFERS.with(|b| {
            let b = &mut *b.borrow_mut();
            let (n, d) = (hi - lo, model.dim);
            b.input.clear();
            for s in sets {
                b.input
                    .extend(s.data()[lo * d..hi * d].iter().map(|&v| v as f32));
            }
            b.streams.value.resize(sets.len() * n, 0.0);
            fast.forward(&b.input, d, None, &mut b.streams.value, &mut b.plain);
            let (loss, extra_grads) = stein_autodiff::with_tape(|tape| {
                let energies: Vec<TVar> = b
                    .streams
                    .value
                    .chunks_exact(n)
                    .map(|v| {
                        let t = Tensor::new(n, 1, v.iter().map(|&v| v as f64).collect());
                        tape.tensor(&t.expect("n × 1"))
                    })
                    .collect();
                let e: Vec<TVar> = extra.iter().map(|t| tape.tensor(t)).collect();
                let l = head(tape, &energies, &e, lo, hi);
                let leaves: Vec<TVar> = energies.iter().chain(&e).copied().collect();
                let mut g = tape.grad_tensors(l, &leaves);
                let rest = g.split_off(energies.len());
                b.adjoint.value = g
                    .iter()
                    .flat_map(|t| t.data().iter().map(|&v| v as f32))
                    .collect();
                (l.value(), rest)
            });
            fast.backward(&b.input, &b.adjoint.value, &mut b.plain, &mut b.grads);
            let grads = widened(&b.grads, &shapes).chain(extra_grads).collect();
            (loss, grads)
        })
    });
    Gradient { loss, grads }
}
