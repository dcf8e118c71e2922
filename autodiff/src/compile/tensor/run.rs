//! One group's blocks: loads, elementwise instructions and sums forward, the tape's backward rules in
//! reverse. A group runs as one kernel compiled for the CPU's vector width (`pulp`): every loop below is
//! inlined into it.

use super::program::{Group, Ins, Program, Src, TensorWorkspace, View, BLOCK};
use crate::ops::accumulate::unary_rules;
use crate::ops::kernels::Sum8;
use crate::ops::tensor::TOp;
use crate::ops::tensor_vjp::silu_rule;
use crate::ops::unary::{self, UnOp};
use crate::ops::vmath;

/// Where each instruction's block of values is: in a source (a direct load) or in `vals`.
type Direct = [Option<(Src, usize)>];

impl Program {
    /// Every block of group `g`: forward; its sums into `ws.sums`/`ws.regs` when `sums`; backward into `grad`
    /// with the sums' adjoints `gsum` when given.
    pub(super) fn run_group(
        &self,
        g: &Group,
        x: &[f64],
        grad: &mut [f64],
        ws: &mut TensorWorkspace,
        sums: bool,
        gsum: Option<&[f64]>,
    ) {
        pulp::Arch::new().dispatch(Blocks {
            prog: self,
            g,
            x,
            grad,
            ws,
            sums,
            gsum,
        })
    }

    /// The source a view reads.
    #[inline(always)]
    fn source<'a>(&'a self, x: &'a [f64], src: Src) -> &'a [f64] {
        match src {
            Src::Input => x,
            Src::Const(c) => &self.consts[c as usize].2,
        }
    }

    /// The block of values of instruction `k`: in place in its source for a direct load, else in `vals`.
    #[inline(always)]
    fn operand<'a>(
        &'a self,
        x: &'a [f64],
        direct: &Direct,
        vals: &'a [f64],
        k: u32,
        n: usize,
    ) -> &'a [f64] {
        match direct[k as usize] {
            Some((src, s)) => &self.source(x, src)[s..s + n],
            None => &vals[k as usize * BLOCK..][..n],
        }
    }
}

/// A group's blocks as one kernel for `pulp`'s dispatch.
struct Blocks<'a> {
    prog: &'a Program,
    g: &'a Group,
    x: &'a [f64],
    grad: &'a mut [f64],
    ws: &'a mut TensorWorkspace,
    sums: bool,
    gsum: Option<&'a [f64]>,
}

impl pulp::WithSimd for Blocks<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Blocks {
            prog,
            g,
            x,
            grad,
            ws,
            sums,
            gsum,
        } = self;
        let len = g.rows * g.cols;
        if len == 0 && sums {
            for &(_, reg) in &g.sums {
                ws.regs[reg as usize] = Sum8::default().finish(&[]);
            }
        }
        let mut f0 = 0;
        while f0 < len {
            let n = BLOCK.min(len - f0);
            let at = At { prog, g, x, f0, n };
            forward_block(at, ws);
            if sums {
                for &(ins, reg) in &g.sums {
                    let v = prog.operand(x, &ws.direct, &ws.vals, ins, n);
                    let acc = &mut ws.sums[reg as usize];
                    let rest = acc.add(v);
                    if f0 + n == len {
                        ws.regs[reg as usize] = acc.finish(rest);
                    }
                }
            }
            if let Some(gs) = gsum {
                backward_block(at, ws, gs, grad);
            }
            f0 += n;
        }
    }
}

/// One block of a group: entries `f0..f0 + n` of group `g` of `prog`, whose input is `x`.
#[derive(Clone, Copy)]
struct At<'a> {
    prog: &'a Program,
    g: &'a Group,
    x: &'a [f64],
    f0: usize,
    n: usize,
}

/// Values of the block's entries of every instruction of its group.
#[inline(always)]
fn forward_block(at: At<'_>, ws: &mut TensorWorkspace) {
    let At { prog, g, x, f0, n } = at;
    for (i, ins) in g.ins.iter().enumerate() {
        ws.direct[i] = None;
        let (done, rest) = ws.vals.split_at_mut(i * BLOCK);
        let out = &mut rest[..n];
        let direct = &ws.direct[..i];
        let v = |k: u32| prog.operand(x, direct, done, k, n);
        match *ins {
            Ins::Load(view) => {
                let src = prog.source(x, view.src);
                let (i0, j0) = (f0 / g.cols, f0 % g.cols);
                if !view.bcast_c && j0 + n <= g.cols {
                    // one run of one row: read in place
                    ws.direct[i] = Some((view.src, start(view, i0, j0)));
                    continue;
                }
                runs(view, g.cols, f0, n, |o, s, len| {
                    if view.bcast_c {
                        out[o..o + len].fill(src[s]);
                    } else {
                        out[o..o + len].copy_from_slice(&src[s..s + len]);
                    }
                });
            }
            Ins::Un(op, c, a) => unary::eval_slice(op, c, v(a), out),
            // as the tape computes them (ops/tensor.rs `cached`)
            Ins::Cached(TOp::SiluCached, a, b) => zip(out, v(a), v(b), |x, s| x * s),
            Ins::Cached(_, a, b) => vmath::softplus_from_sigmoid(v(a), v(b), out),
            Ins::Bin(op, a, b) => {
                let (a, b) = (v(a), v(b));
                match op {
                    TOp::Add => zip(out, a, b, |x, y| x + y),
                    TOp::Sub => zip(out, a, b, |x, y| x - y),
                    TOp::Mul => zip(out, a, b, |x, y| x * y),
                    _ => zip(out, a, b, |x, y| x / y),
                }
            }
        }
    }
}

/// Index in the source of entry (i, j) of a group read through `v`.
#[inline(always)]
fn start(v: View, i: usize, j: usize) -> usize {
    let row = if v.bcast_r { v.r0 } else { v.r0 + i };
    let col = if v.bcast_c { v.c0 } else { v.c0 + j };
    row * v.src_cols + col
}

/// The runs of entries `f0..f0 + n` (row-major in a group of `cols` columns) that lie in one row: `each(offset
/// in the block, index in the source of the run's first entry, length)`.
#[inline(always)]
fn runs(v: View, cols: usize, f0: usize, n: usize, mut each: impl FnMut(usize, usize, usize)) {
    let mut o = 0;
    while o < n {
        let f = f0 + o;
        let (i, j) = (f / cols, f % cols);
        let len = (cols - j).min(n - o);
        each(o, start(v, i, j), len);
        o += len;
    }
}

/// out = f(a, b) elementwise.
#[inline(always)]
fn zip(out: &mut [f64], a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// Where a backward rule's result goes: a block written for the first time, a block added to, or a block
/// written as another (shared until now) block plus the result.
enum Dest<'a> {
    Fresh(&'a mut [f64]),
    Add(&'a mut [f64]),
    From(&'a mut [f64], &'a [f64]),
}

/// Apply rule `f(a, b, c)` elementwise into `to`.
#[inline(always)]
fn acc(to: Dest<'_>, a: &[f64], b: &[f64], c: &[f64], f: impl Fn(f64, f64, f64) -> f64) {
    match to {
        Dest::Fresh(d) => {
            for (((d, &a), &b), &c) in d.iter_mut().zip(a).zip(b).zip(c) {
                *d = f(a, b, c);
            }
        }
        Dest::Add(d) => {
            for (((d, &a), &b), &c) in d.iter_mut().zip(a).zip(b).zip(c) {
                *d += f(a, b, c);
            }
        }
        Dest::From(d, e) => {
            for ((((d, &e), &a), &b), &c) in d.iter_mut().zip(e).zip(a).zip(b).zip(c) {
                *d = e + f(a, b, c);
            }
        }
    }
}

/// The adjoints of the block, per instruction, and their bookkeeping.
struct Adj<'a> {
    adjs: &'a mut [f64],
    has: &'a mut [bool],
    alias: &'a mut [u32],
    n: usize,
}

impl Adj<'_> {
    /// Where the adjoint of instruction `k` is read (its own block or the one it shares).
    #[inline(always)]
    fn home(&self, k: usize) -> usize {
        match self.alias[k] {
            u32::MAX => k,
            t => t as usize,
        }
    }
}

/// Where a rule of instruction `i` sends its result for earlier instruction `a`, and `i`'s adjoint. A load
/// that reads the input in place takes its adjoint in place too: straight into `grad`, always added.
#[inline(always)]
fn into<'a>(
    adj: &'a mut Adj<'_>,
    grad: &'a mut [f64],
    direct: &Direct,
    i: usize,
    a: u32,
) -> (Dest<'a>, &'a [f64]) {
    let (a, n) = (a as usize, adj.n);
    let home = adj.home(i);
    if let Some((Src::Input, s)) = direct[a] {
        let gi = &adj.adjs[home * BLOCK..][..n];
        return (Dest::Add(&mut grad[s..s + n]), gi);
    }
    let fresh = !std::mem::replace(&mut adj.has[a], true);
    let shared = std::mem::replace(&mut adj.alias[a], u32::MAX);
    let (lo, hi) = adj.adjs.split_at_mut(i * BLOCK);
    let gi = &hi[(home - i) * BLOCK..][..n];
    let (mine, later) = lo.split_at_mut((a + 1) * BLOCK);
    let dst = &mut mine[a * BLOCK..][..n];
    let to = match (fresh, shared) {
        (true, _) => Dest::Fresh(dst),
        (false, u32::MAX) => Dest::Add(dst),
        (false, t) => {
            let t = t as usize;
            let e: &[f64] = if t >= i {
                &hi[(t - i) * BLOCK..][..n]
            } else {
                &later[(t - a - 1) * BLOCK..][..n]
            };
            Dest::From(dst, e)
        }
    };
    (to, gi)
}

/// Instruction `i` passes its adjoint on unchanged to `a` (a + b, a − b): `a` shares `i`'s block when it has
/// none yet; otherwise the block is added as any rule's result.
#[inline(always)]
fn pass_on(adj: &mut Adj<'_>, grad: &mut [f64], direct: &Direct, i: usize, a: u32) {
    let au = a as usize;
    if direct[au].is_none() && !adj.has[au] {
        adj.has[au] = true;
        adj.alias[au] = adj.home(i) as u32;
        return;
    }
    let (to, g) = into(adj, grad, direct, i, a);
    acc(to, g, g, g, |g, _, _| g);
}

/// The adjoints of the block (its values as [`forward_block`] left them), from the sums' adjoints `gsum` down
/// to the input's entries in `grad`.
#[inline(always)]
fn backward_block(at: At<'_>, ws: &mut TensorWorkspace, gsum: &[f64], grad: &mut [f64]) {
    let At { prog, g, x, f0, n } = at;
    let TensorWorkspace {
        vals,
        adjs,
        has,
        direct,
        alias,
        ..
    } = ws;
    let m = g.ins.len();
    has[..m].fill(false);
    alias[..m].fill(u32::MAX);
    for &(ins, reg) in &g.sums {
        let d = gsum[reg as usize];
        if d == 0.0 || !g.live[ins as usize] {
            continue;
        }
        let a = &mut adjs[ins as usize * BLOCK..][..n];
        if has[ins as usize] {
            a.iter_mut().for_each(|e| *e += d);
        } else {
            a.fill(d);
            has[ins as usize] = true;
        }
    }
    let mut adj = Adj {
        adjs,
        has,
        alias,
        n,
    };
    let val = |k: u32| prog.operand(x, direct, vals, k, n);
    for (i, ins) in g.ins.iter().enumerate().rev() {
        if !adj.has[i] {
            continue;
        }
        match *ins {
            Ins::Load(view) => {
                if view.src == Src::Input {
                    let gi = &adj.adjs[adj.home(i) * BLOCK..][..n];
                    runs(view, g.cols, f0, n, |o, s, len| {
                        let gr = &gi[o..o + len];
                        if view.bcast_c {
                            grad[s] += gr.iter().sum::<f64>();
                        } else {
                            acc(Dest::Add(&mut grad[s..s + len]), gr, gr, gr, |g, _, _| g);
                        }
                    });
                }
            }
            Ins::Un(UnOp::AddC, _, a) => {
                // x + c passes its adjoint on unchanged
                if g.live[a as usize] {
                    pass_on(&mut adj, grad, direct, i, a);
                }
            }
            Ins::Un(op, c, a) => {
                if !g.live[a as usize] {
                    continue;
                }
                let (x, y) = (val(a), val(i as u32));
                let (to, gi) = into(&mut adj, grad, direct, i, a);
                unary_rules!(
                    op,
                    c,
                    |reads, f| {
                        let v = match reads {
                            Reads::G => gi,
                            Reads::X => x,
                            Reads::Y => y,
                        };
                        acc(to, gi, v, v, |g, v, _| f(g, v))
                    },
                    generic_rule(op, c, to, x, y, gi)
                )
            }
            Ins::Cached(op, a, b) => {
                // the tape's first-order rules: into x only, reading σ (tensor_vjp.rs)
                if g.live[a as usize] {
                    let (x, sg) = (val(a), val(b));
                    let (to, gi) = into(&mut adj, grad, direct, i, a);
                    if op == TOp::SiluCached {
                        acc(to, gi, x, sg, silu_rule);
                    } else {
                        acc(to, gi, sg, sg, |g, s, _| g * s);
                    }
                }
            }
            Ins::Bin(TOp::Mul, a, b) if a == b => {
                if g.live[a as usize] {
                    // a ⊙ a: 2(g ⊙ a), as the tape's rule
                    let x = val(a);
                    let (to, gi) = into(&mut adj, grad, direct, i, a);
                    acc(to, gi, x, x, |g, x, _| g * x * 2.0);
                }
            }
            Ins::Bin(op, a, b) => {
                let (xa, xb, y) = (val(a), val(b), val(i as u32));
                if g.live[a as usize] {
                    if matches!(op, TOp::Add | TOp::Sub) {
                        pass_on(&mut adj, grad, direct, i, a);
                    } else {
                        let (to, gi) = into(&mut adj, grad, direct, i, a);
                        match op {
                            TOp::Mul => acc(to, gi, xb, xb, |g, b, _| g * b),
                            _ => acc(to, gi, xb, xb, |g, b, _| g / b),
                        }
                    }
                }
                if g.live[b as usize] {
                    if op == TOp::Add {
                        pass_on(&mut adj, grad, direct, i, b);
                    } else {
                        let (to, gi) = into(&mut adj, grad, direct, i, b);
                        match op {
                            TOp::Sub => acc(to, gi, gi, gi, |g, _, _| -g),
                            TOp::Mul => acc(to, gi, xa, xa, |g, a, _| g * a),
                            // ∂(a/b)/∂b = −(a/b)/b
                            _ => acc(to, gi, y, xb, |g, y, b| -(g * y / b)),
                        }
                    }
                }
            }
        }
    }
}

/// The backward rule of an op outside [`unary_rules`], by `unary::vjp` entry by entry in a loop compiled for
/// that op alone (the op resolved once per block, not per entry).
#[inline(always)]
fn generic_rule(op: UnOp, c: f64, to: Dest<'_>, x: &[f64], y: &[f64], g: &[f64]) {
    macro_rules! each {
        ($($v:ident),* $(,)?) => {
            match op {
                $(UnOp::$v => acc(to, g, x, y, |g, x, y| {
                    unary::vjp(UnOp::$v, x, y, g, c).unwrap_or(0.0)
                }),)*
            }
        };
    }
    each!(
        Neg, Exp, Exp2, ExpM1, Ln, Ln1p, Log2, Log10, Sqrt, Cbrt, Recip, Sin, Cos, Tan, Asin, Acos,
        Atan, Sinh, Cosh, Tanh, Asinh, Acosh, Atanh, Abs, Sigmoid, Softplus, LogSigmoid, Silu, Elu,
        Relu, Erf, Lgamma, Polygamma, AddC, MulC, DivC, CSub, CDiv, PowC, Powi, CPow, Step, Sign,
    )
}
