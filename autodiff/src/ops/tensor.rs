//! Tensor ops: each public method records its node; every op's backward rule is in `tensor_vjp.rs`, written
//! in these same tensor ops so the recorded sweep can differentiate it again.

use crate::ops::kernels as k;
use crate::ops::unary::{self, UnOp};
use crate::real::Elem;
use crate::tape::{Op, Tape, NONE};
use crate::tensor::{TVar, Tensor};
use crate::var::Var;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A tensor op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TOp {
    /// Differentiable input.
    Leaf,
    /// Constant (also: every value computed in no-record mode).
    Const,
    /// Elementwise function, constant in `meta.c`.
    Un(UnOp),
    Add,
    Sub,
    Mul,
    Div,
    /// op(A)·op(B); `p = [transpose A, transpose B]`.
    MatMul,
    Transpose,
    Reshape,
    /// Sum down to this node's shape (each dimension full or 1).
    SumTo,
    /// Broadcast up to this node's shape.
    BroadcastTo,
    /// Block of the parent along `p[0]` starting at `p[1]`.
    Slice,
    /// Parent placed in zeros along `p[0]` at offset `p[1]`.
    Pad,
    /// Parents `a` then `b` along `p[0]`.
    Concat,
    /// Columns `ibuf[p[0]..p[0] + cols]` of the parent.
    Gather,
    /// Columns of the parent added into columns `ibuf[p[0]..p[0] + p[1]]` of zeros.
    Scatter,
    /// Every entry equal to the scalar node `a`.
    Fill,
    /// softplus of parent `a`, computed from σ(a), which is parent `b` and is what the VJP reads: the
    /// backward pass needs no exponential of its own.
    SoftplusCached,
    /// SiLU x σ(x) of parent `a`, with σ(a) as parent `b`: the VJP g σ (1 + x (1 − σ)) reads σ instead of
    /// computing it again, in one fused pass when it is not recorded.
    SiluCached,
}

fn same_tape(a: &TVar, b: &TVar, what: &str) {
    assert!(
        std::ptr::eq(a.tape, b.tape),
        "stein-autodiff: {what} of tensors from two different tapes"
    );
}

fn broadcast_shape(a: (usize, usize), b: (usize, usize), what: &str) -> (usize, usize) {
    let dim = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    match (dim(a.0, b.0), dim(a.1, b.1)) {
        (Some(r), Some(c)) => (r, c),
        _ => panic!(
            "stein-autodiff: {what}: shapes {}×{} and {}×{} do not broadcast",
            a.0, a.1, b.0, b.1
        ),
    }
}

pub(crate) fn leaf<'t>(tape: &'t Tape, t: &Tensor, differentiable: bool) -> TVar<'t> {
    let op = if differentiable {
        TOp::Leaf
    } else {
        TOp::Const
    };
    tape.push_tensor_copy(op, t.rows(), t.cols(), t.data())
}

pub(crate) fn const_full(tape: &Tape, rows: usize, cols: usize, v: f64) -> TVar<'_> {
    tape.push_tensor(
        TOp::Const,
        NONE,
        NONE,
        rows,
        cols,
        [0; 2],
        0.0,
        |_, _, out| out.fill(v),
    )
}

/// A scalar broadcast to `rows × cols`; constant scalars give constant tensors.
pub(crate) fn fill<'t>(tape: &'t Tape, s: Var<'t>, rows: usize, cols: usize) -> TVar<'t> {
    match s.tape {
        None => const_full(tape, rows, cols, s.val),
        Some(t) => {
            assert!(
                std::ptr::eq(t, tape),
                "stein-autodiff: broadcast of a variable onto another tape"
            );
            tape.push_tensor(
                TOp::Fill,
                s.idx,
                NONE,
                rows,
                cols,
                [0; 2],
                0.0,
                |_, _, out| out.fill(s.val),
            )
        }
    }
}

impl<'t> TVar<'t> {
    pub(crate) fn meta(&self) -> crate::tape::TMeta {
        self.tape.meta(self.slot)
    }

    /// Elementwise op (shared with the scalar rules in `unary.rs`).
    pub(crate) fn map(self, op: UnOp, c: f64) -> Self {
        if matches!(op, UnOp::Softplus | UnOp::Silu) && !self.tape.with(|t| t.no_record) {
            return self.cached(op);
        }
        let m = self.meta();
        let top = if op.is_constant() {
            TOp::Const
        } else {
            TOp::Un(op)
        };
        let (r, cc) = self.shape();
        self.tape
            .push_tensor(top, self.idx, NONE, r, cc, [0; 2], c, |old, _, out| {
                unary::eval_slice(op, c, &old[m.range()], out)
            })
    }

    /// softplus or SiLU recorded with σ(x) beside it. softplus shares σ's exponential (computed from it), SiLU
    /// is x σ; the VJPs (g σ, g σ (1 + x (1 − σ))) read σ instead of computing another exponential.
    fn cached(self, op: UnOp) -> Self {
        let s = self.map(UnOp::Sigmoid, 0.0);
        let (mx, ms) = (self.meta(), s.meta());
        let (r, c) = self.shape();
        let top = if op == UnOp::Silu {
            TOp::SiluCached
        } else {
            TOp::SoftplusCached
        };
        self.tape
            .push_tensor(top, self.idx, s.idx, r, c, [0; 2], 0.0, |old, _, out| {
                let (x, s) = (&old[mx.range()], &old[ms.range()]);
                if op == UnOp::Silu {
                    k::zip_broadcast(x, (r, c), s, (r, c), out, (r, c), |x, s| x * s)
                } else {
                    super::vmath::softplus_from_sigmoid(x, s, out)
                }
            })
    }

    fn zip(self, o: TVar<'t>, op: TOp, what: &str, f: impl Fn(f64, f64) -> f64 + Sync) -> Self {
        same_tape(&self, &o, what);
        let (sa, sb) = (self.shape(), o.shape());
        let so = broadcast_shape(sa, sb, what);
        let (ma, mb) = (self.meta(), o.meta());
        self.tape.push_tensor(
            op,
            self.idx,
            o.idx,
            so.0,
            so.1,
            [0; 2],
            0.0,
            |old, _, out| k::zip_broadcast(&old[ma.range()], sa, &old[mb.range()], sb, out, so, f),
        )
    }

    /// Matrix product `self · other` (`m×k · k×n`, through a GEMM kernel). Panics naming both shapes when
    /// the inner sizes differ.
    pub fn matmul(self, other: TVar<'t>) -> Self {
        self.matmul_t(other, false, false)
    }

    /// op(self) · op(other), where op transposes when its flag is set (no transpose is materialised).
    pub fn matmul_t(self, other: TVar<'t>, t_self: bool, t_other: bool) -> Self {
        same_tape(&self, &other, "matmul");
        let (sa, sb) = (self.shape(), other.shape());
        let (m, k1) = if t_self { (sa.1, sa.0) } else { sa };
        let (k2, n) = if t_other { (sb.1, sb.0) } else { sb };
        assert!(
            k1 == k2,
            "stein-autodiff: matmul: shapes {}×{}{} and {}×{}{} do not match",
            sa.0,
            sa.1,
            if t_self { "ᵀ" } else { "" },
            sb.0,
            sb.1,
            if t_other { "ᵀ" } else { "" }
        );
        let (ma, mb) = (self.meta(), other.meta());
        let p = [t_self as u32, t_other as u32];
        self.tape.push_tensor(
            TOp::MatMul,
            self.idx,
            other.idx,
            m,
            n,
            p,
            0.0,
            |old, _, out| {
                k::gemm(
                    t_self,
                    t_other,
                    &old[ma.range()],
                    sa,
                    &old[mb.range()],
                    sb,
                    out,
                )
            },
        )
    }

    /// Transpose.
    pub fn t(self) -> Self {
        let m = self.meta();
        let (r, c) = self.shape();
        self.tape.push_tensor(
            TOp::Transpose,
            self.idx,
            NONE,
            c,
            r,
            [0; 2],
            0.0,
            |old, _, out| k::transpose(&old[m.range()], (r, c), out),
        )
    }

    /// Same values, shape `rows × cols`. Panics when the sizes differ.
    pub fn reshape(self, rows: usize, cols: usize) -> Self {
        let (r, c) = self.shape();
        assert!(
            rows * cols == r * c,
            "stein-autodiff: reshape: {r}×{c} cannot become {rows}×{cols}"
        );
        let m = self.meta();
        self.tape.push_tensor(
            TOp::Reshape,
            self.idx,
            NONE,
            rows,
            cols,
            [0; 2],
            0.0,
            |old, _, out| out.copy_from_slice(&old[m.range()]),
        )
    }

    /// Sum down to `rows × cols`, each being this tensor's size or 1 (the adjoint of broadcasting).
    pub fn sum_to(self, rows: usize, cols: usize) -> Self {
        let (r, c) = self.shape();
        if (r, c) == (rows, cols) {
            return self;
        }
        assert!(
            (rows == r || rows == 1) && (cols == c || cols == 1),
            "stein-autodiff: sum_to: {r}×{c} cannot be summed to {rows}×{cols}"
        );
        let m = self.meta();
        self.tape.push_tensor(
            TOp::SumTo,
            self.idx,
            NONE,
            rows,
            cols,
            [0; 2],
            0.0,
            |old, _, out| k::sum_to(&old[m.range()], (r, c), out, (rows, cols)),
        )
    }

    /// Broadcast up to `rows × cols` (each of this tensor's sizes must match or be 1).
    pub fn broadcast_to(self, rows: usize, cols: usize) -> Self {
        let (r, c) = self.shape();
        if (r, c) == (rows, cols) {
            return self;
        }
        assert!(
            (r == rows || r == 1) && (c == cols || c == 1),
            "stein-autodiff: broadcast_to: {r}×{c} cannot be broadcast to {rows}×{cols}"
        );
        let m = self.meta();
        self.tape.push_tensor(
            TOp::BroadcastTo,
            self.idx,
            NONE,
            rows,
            cols,
            [0; 2],
            0.0,
            |old, _, out| k::broadcast_to(&old[m.range()], (r, c), out, (rows, cols)),
        )
    }

    /// Sum over `axis` (0: down the rows, giving `1 × cols`; 1: along each row, giving `rows × 1`).
    pub fn sum_axis(self, axis: usize) -> Self {
        let (r, c) = self.shape();
        match axis {
            0 => self.sum_to(1, c),
            1 => self.sum_to(r, 1),
            _ => panic!("stein-autodiff: sum_axis: axis {axis} of a rank-2 tensor"),
        }
    }

    /// Mean over `axis` (see [`TVar::sum_axis`]).
    pub fn mean_axis(self, axis: usize) -> Self {
        let n = if axis == 0 { self.rows() } else { self.cols() };
        self.sum_axis(axis) / n as f64
    }

    /// Sum of every entry, as a scalar variable.
    pub fn sum(self) -> Var<'t> {
        let v = self.sum_of_values();
        Var::on(self.tape, self.tape.push(Op::TSum, self.idx, NONE, v), v)
    }

    /// Mean of every entry, as a scalar variable.
    pub fn mean(self) -> Var<'t> {
        let n = (self.rows() * self.cols()) as f64;
        self.sum() / n
    }

    /// Entry (i, j) as a scalar variable. Panics when out of range.
    pub fn get(self, i: usize, j: usize) -> Var<'t> {
        let (r, c) = self.shape();
        assert!(
            i < r && j < c,
            "stein-autodiff: get: ({i}, {j}) out of range for {r}×{c}"
        );
        let flat = i * c + j;
        let m = self.meta();
        let v = self.tape.with(|t| t.tdata[m.off + flat]);
        Var::on(
            self.tape,
            self.tape.push(Op::TGet, self.idx, flat as u32, v),
            v,
        )
    }

    /// Block `[start, start + len)` along `axis`. Panics when out of range.
    pub fn slice(self, axis: usize, start: usize, len: usize) -> Self {
        let (r, c) = self.shape();
        let size = match axis {
            0 => r,
            1 => c,
            _ => panic!("stein-autodiff: slice: axis {axis} of a rank-2 tensor"),
        };
        assert!(
            start + len <= size,
            "stein-autodiff: slice: [{start}, {}) along axis {axis} of a {r}×{c} tensor",
            start + len
        );
        let (orow, ocol) = if axis == 0 { (len, c) } else { (r, len) };
        let m = self.meta();
        let p = [axis as u32, start as u32];
        self.tape.push_tensor(
            TOp::Slice,
            self.idx,
            NONE,
            orow,
            ocol,
            p,
            0.0,
            |old, _, out| k::slice(&old[m.range()], (r, c), axis, start, len, out),
        )
    }

    /// Columns `[start, start + len)`.
    pub fn slice_cols(self, start: usize, len: usize) -> Self {
        self.slice(1, start, len)
    }

    /// Rows `[start, start + len)`.
    pub fn slice_rows(self, start: usize, len: usize) -> Self {
        self.slice(0, start, len)
    }

    /// This tensor placed at `start` along `axis` in zeros of size `total` along that axis (adjoint of slice).
    pub(crate) fn pad(self, axis: usize, start: usize, total: usize) -> Self {
        let (r, c) = self.shape();
        let (orow, ocol) = if axis == 0 { (total, c) } else { (r, total) };
        let m = self.meta();
        let p = [axis as u32, start as u32];
        self.tape.push_tensor(
            TOp::Pad,
            self.idx,
            NONE,
            orow,
            ocol,
            p,
            0.0,
            |old, _, out| k::pad(&old[m.range()], (r, c), axis, start, total, out),
        )
    }

    /// Concatenate along `axis` (0: stack rows, 1: side by side). Panics on an empty list or when the other
    /// dimension differs.
    pub fn concat(parts: &[TVar<'t>], axis: usize) -> Self {
        let (first, rest) = parts
            .split_first()
            .expect("stein-autodiff: concat of an empty list");
        rest.iter().fold(*first, |acc, &p| acc.concat2(p, axis))
    }

    fn concat2(self, o: TVar<'t>, axis: usize) -> Self {
        same_tape(&self, &o, "concat");
        let (sa, sb) = (self.shape(), o.shape());
        let ok = if axis == 0 {
            sa.1 == sb.1
        } else {
            sa.0 == sb.0
        };
        assert!(
            ok && axis < 2,
            "stein-autodiff: concat along axis {axis}: shapes {}×{} and {}×{} do not fit",
            sa.0,
            sa.1,
            sb.0,
            sb.1
        );
        let shape = if axis == 0 {
            (sa.0 + sb.0, sa.1)
        } else {
            (sa.0, sa.1 + sb.1)
        };
        let (ma, mb) = (self.meta(), o.meta());
        let p = [axis as u32, 0];
        self.tape.push_tensor(
            TOp::Concat,
            self.idx,
            o.idx,
            shape.0,
            shape.1,
            p,
            0.0,
            |old, _, out| {
                let total = if axis == 0 { shape.0 } else { shape.1 };
                let along_a = if axis == 0 { sa.0 } else { sa.1 };
                // the two blocks cover `out`: the second lands after the first
                k::place(&old[ma.range()], sa, axis, 0, total, out);
                k::place(&old[mb.range()], sb, axis, along_a, total, out);
            },
        )
    }

    /// Columns `idx` (in that order, repeats allowed). Panics when an index is out of range.
    pub fn gather_cols(self, idx: &[usize]) -> Self {
        let (r, c) = self.shape();
        if let Some(&bad) = idx.iter().find(|&&j| j >= c) {
            panic!("stein-autodiff: gather_cols: column {bad} of a {r}×{c} tensor");
        }
        let off = self.tape.push_indices(idx);
        self.gather_raw(off, idx.len())
    }

    pub(crate) fn gather_raw(self, off: u32, len: usize) -> Self {
        let (r, c) = self.shape();
        let m = self.meta();
        let ids = off as usize..off as usize + len;
        self.tape.push_tensor(
            TOp::Gather,
            self.idx,
            NONE,
            r,
            len,
            [off, len as u32],
            0.0,
            |old, ib, out| k::gather_cols(&old[m.range()], (r, c), &ib[ids], out),
        )
    }

    pub(crate) fn scatter_raw(self, off: u32, len: usize, ncols: usize) -> Self {
        let r = self.rows();
        let m = self.meta();
        let ids = off as usize..off as usize + len;
        self.tape.push_tensor(
            TOp::Scatter,
            self.idx,
            NONE,
            r,
            ncols,
            [off, len as u32],
            0.0,
            |old, ib, out| k::scatter_cols(&old[m.range()], r, &ib[ids], out, ncols),
        )
    }

    /// `self · s` for a scalar variable `s` (broadcast).
    pub fn scale(self, s: Var<'t>) -> Self {
        self * fill(self.tape, s, 1, 1)
    }

    /// Σ self ⊙ other, as a scalar variable.
    pub fn dot(self, other: TVar<'t>) -> Var<'t> {
        (self * other).sum()
    }
}

macro_rules! tensor_unary {
    ($($(#[$doc:meta])* $m:ident => $op:ident),* $(,)?) => {
        impl<'t> TVar<'t> {
            $($(#[$doc])* pub fn $m(self) -> Self { self.map(UnOp::$op, 0.0) })*
        }
    };
}
tensor_unary!(
    /// Elementwise eˣ.
    exp => Exp,
    /// Elementwise ln x.
    ln => Ln,
    /// Elementwise ln(1 + x).
    ln_1p => Ln1p,
    /// Elementwise √x.
    sqrt => Sqrt,
    /// Elementwise 1/x.
    recip => Recip,
    /// Elementwise sin x.
    sin => Sin,
    /// Elementwise cos x.
    cos => Cos,
    /// Elementwise tanh x.
    tanh => Tanh,
    /// Elementwise |x| (derivative 0 at 0).
    abs => Abs,
    /// Elementwise logistic sigmoid.
    sigmoid => Sigmoid,
    /// Elementwise softplus ln(1 + eˣ).
    softplus => Softplus,
    /// Elementwise ln σ(x).
    log_sigmoid => LogSigmoid,
    /// Elementwise SiLU x σ(x).
    silu => Silu,
    /// Elementwise ELU (α = 1).
    elu => Elu,
    /// Elementwise ReLU. Its second derivative is zero: unfit where a loss differentiates the network twice.
    relu => Relu,
    /// Elementwise Heaviside step: 1 for x > 0, else 0 (derivative 0; ReLU's and ELU's slopes are built on it).
    step => Step,
    /// Elementwise erf.
    erf => Erf,
);

impl<'t> TVar<'t> {
    /// Elementwise x².
    pub fn square(self) -> Self {
        self.map(UnOp::Powi, 2.0)
    }
    /// Elementwise xⁿ.
    pub fn powi(self, n: i32) -> Self {
        self.map(UnOp::Powi, n as f64)
    }
    /// Elementwise x^c for a real constant c.
    pub fn powf(self, c: f64) -> Self {
        self.map(UnOp::PowC, c)
    }
}

impl<'t> Elem for TVar<'t> {
    fn un(self, op: UnOp, c: f64) -> Self {
        self.map(op, c)
    }
}

macro_rules! tensor_binop {
    ($tr:ident, $m:ident, $op:ident, $f:expr, $cst:expr, $rcst:expr) => {
        impl<'t> $tr for TVar<'t> {
            type Output = TVar<'t>;
            fn $m(self, o: TVar<'t>) -> TVar<'t> {
                self.zip(o, TOp::$op, stringify!($m), $f)
            }
        }
        impl<'t> $tr<f64> for TVar<'t> {
            type Output = TVar<'t>;
            fn $m(self, c: f64) -> TVar<'t> {
                let (op, c) = ($cst)(c);
                self.map(op, c)
            }
        }
        impl<'t> $tr<TVar<'t>> for f64 {
            type Output = TVar<'t>;
            fn $m(self, x: TVar<'t>) -> TVar<'t> {
                x.map($rcst, self)
            }
        }
    };
}
tensor_binop!(
    Add,
    add,
    Add,
    |a, b| a + b,
    (|c| (UnOp::AddC, c)),
    UnOp::AddC
);
tensor_binop!(
    Sub,
    sub,
    Sub,
    |a, b| a - b,
    (|c: f64| (UnOp::AddC, -c)),
    UnOp::CSub
);
tensor_binop!(
    Mul,
    mul,
    Mul,
    |a, b| a * b,
    (|c| (UnOp::MulC, c)),
    UnOp::MulC
);
tensor_binop!(
    Div,
    div,
    Div,
    |a, b| a / b,
    (|c| (UnOp::DivC, c)),
    UnOp::CDiv
);

impl<'t> Neg for TVar<'t> {
    type Output = TVar<'t>;
    fn neg(self) -> TVar<'t> {
        self.map(UnOp::Neg, 0.0)
    }
}
