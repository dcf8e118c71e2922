//! Tensors: plain row-major values ([`Tensor`]) and tensor variables on a tape ([`TVar`]).
//!
//! Tensors are rank 2 (`rows × cols`, row-major). A vector is a `1 × n` row or an `n × 1` column, a batch of
//! points is `batch × dim`. Rank 2 covers the networks and batches of score-based modelling and keeps the
//! kernels and their derivatives small.

use crate::error::AdError;
use crate::tape::Tape;
use serde::{Deserialize, Serialize};

/// An owned row-major `rows × cols` matrix of `f64`.
///
/// Deserialisation checks the shape: a serialised tensor whose `data` does not hold `rows × cols` values
/// is an error naming both sizes, never a tensor that panics later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTensor")]
pub struct Tensor {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

/// The serialised form of a [`Tensor`], checked by `TryFrom` on the way in.
#[derive(Deserialize)]
struct RawTensor {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl TryFrom<RawTensor> for Tensor {
    type Error = String;
    fn try_from(r: RawTensor) -> Result<Self, String> {
        match r.rows.checked_mul(r.cols) {
            Some(n) if n == r.data.len() => Ok(Tensor {
                rows: r.rows,
                cols: r.cols,
                data: r.data,
            }),
            _ => Err(format!(
                "a {}×{} tensor with {} values",
                r.rows,
                r.cols,
                r.data.len()
            )),
        }
    }
}

/// The most entries a tensor made by [`Tensor::zeros`], [`Tensor::full`] or [`Tensor::from_fn`] may have:
/// 2³² values (32 GiB). Beyond it those constructors panic rather than ask the allocator for an impossible
/// block (which aborts the process).
pub const MAX_TENSOR_ENTRIES: usize = 1 << 32;

/// `rows × cols`, checked against [`MAX_TENSOR_ENTRIES`].
#[track_caller]
fn entries(rows: usize, cols: usize) -> usize {
    match rows.checked_mul(cols) {
        Some(n) if n <= MAX_TENSOR_ENTRIES => n,
        _ => panic!("Tensor: {rows} × {cols} entries exceed the limit of {MAX_TENSOR_ENTRIES}"),
    }
}

impl Tensor {
    /// A tensor from row-major data; an error names both sizes if `data.len() != rows * cols`.
    ///
    /// ```
    /// use stein_autodiff::Tensor;
    /// let t = Tensor::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// assert_eq!(t.get(1, 0), 4.0);
    /// assert!(Tensor::new(2, 3, vec![1.0]).is_err());
    /// ```
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, AdError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(AdError::Shape {
                what: "Tensor::new",
                expected: format!("{rows}×{cols} values"),
                got: format!("{} values", data.len()),
            });
        }
        Ok(Tensor { rows, cols, data })
    }

    /// All zeros.
    ///
    /// # Panics
    /// When `rows × cols` exceeds [`MAX_TENSOR_ENTRIES`] (a size no caller should ask for: user-given sizes are
    /// checked before they reach a tensor); the message names both. [`Tensor::full`] and [`Tensor::from_fn`]
    /// likewise.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self::full(rows, cols, 0.0)
    }

    /// Every entry equal to `v`.
    pub fn full(rows: usize, cols: usize, v: f64) -> Self {
        Tensor {
            rows,
            cols,
            data: vec![v; entries(rows, cols)],
        }
    }

    /// Entry (i, j) = f(i, j).
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(entries(rows, cols));
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Tensor { rows, cols, data }
    }

    /// A `1 × n` row vector.
    pub fn row(v: &[f64]) -> Self {
        Tensor {
            rows: 1,
            cols: v.len(),
            data: v.to_vec(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Row-major values.
    pub fn data(&self) -> &[f64] {
        &self.data
    }
    /// Row-major values, mutable.
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }
    /// The values, consuming the tensor.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }
    /// Entry (i, j). Panics when out of range.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.rows && j < self.cols,
            "Tensor::get: ({i}, {j}) out of range for {}×{}",
            self.rows,
            self.cols
        );
        self.data[i * self.cols + j]
    }
    /// Row `i` as a slice.
    pub fn row_slice(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Every row as a vector of its own (the layout of sample sets: `Vec<Vec<f64>>`, one point per row).
    ///
    /// ```
    /// let t = stein_autodiff::Tensor::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(t.to_rows(), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
    /// ```
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        (0..self.rows).map(|i| self.row_slice(i).to_vec()).collect()
    }
    /// Make this a `rows × cols` tensor of zeros, reusing the allocation.
    pub fn set_zeros(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        self.data.clear();
        self.data.resize(rows * cols, 0.0);
    }
    /// The matrix product `self · other` of two plain tensors (no tape): the GEMM of the tape's `matmul`,
    /// split over rayon's pool when large. Panics, naming both shapes, when the inner sizes differ (a
    /// programmer error).
    ///
    /// ```
    /// use stein_autodiff::Tensor;
    /// let a = Tensor::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// let b = Tensor::new(3, 1, vec![1.0, 0.0, -1.0]).unwrap();
    /// assert_eq!(a.matmul(&b).data(), &[-2.0, -2.0]);
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        assert_eq!(
            self.cols, other.rows,
            "Tensor::matmul: {}×{} times {}×{}",
            self.rows, self.cols, other.rows, other.cols
        );
        let mut out = Tensor::zeros(self.rows, other.cols);
        crate::ops::kernels::gemm(
            false,
            false,
            &self.data,
            (self.rows, self.cols),
            &other.data,
            (other.rows, other.cols),
            &mut out.data,
        );
        out
    }
    /// Overwrite with `other`'s values, reusing the allocation.
    pub fn assign(&mut self, other: &Tensor) {
        self.rows = other.rows;
        self.cols = other.cols;
        self.data.clear();
        self.data.extend_from_slice(&other.data);
    }
}

/// A tensor on a [`Tape`]: a small `Copy` handle (tape, node, shape). Create inputs with [`Tape::tensor`],
/// constants with [`Tape::tensor_const`].
///
/// Operator shape mismatches (matmul inner sizes, broadcasting, reshape sizes, slice bounds) are programmer
/// errors and panic with both shapes in the message.
///
/// ```
/// use stein_autodiff::{Tape, Tensor};
///
/// let tape = Tape::new();
/// let w = tape.tensor(&Tensor::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap());
/// let x = tape.tensor_const(&Tensor::row(&[1.0, -1.0]));
/// let y = x.matmul(w).tanh().sum();          // scalar
/// let gw = &tape.grad_tensors(y, &[w])[0];    // ∂y/∂W, a 2×2 tensor
/// assert_eq!(gw.shape(), (2, 2));
/// ```
#[derive(Clone, Copy)]
pub struct TVar<'t> {
    pub(crate) tape: &'t Tape,
    pub(crate) idx: u32,
    pub(crate) slot: u32,
    pub(crate) rows: u32,
    pub(crate) cols: u32,
}

impl std::fmt::Debug for TVar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TVar({}×{} @{})", self.rows, self.cols, self.idx)
    }
}

impl<'t> TVar<'t> {
    pub(crate) fn from_raw(tape: &'t Tape, idx: u32, slot: u32, rows: u32, cols: u32) -> Self {
        TVar {
            tape,
            idx,
            slot,
            rows,
            cols,
        }
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols as usize
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows as usize, self.cols as usize)
    }
    /// The tape this tensor lives on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }
    /// A copy of the values.
    pub fn value(&self) -> Tensor {
        self.tape.note_read();
        let m = self.tape.meta(self.slot);
        let data = self.tape.with(|t| t.tdata[m.range()].to_vec());
        Tensor {
            rows: m.rows as usize,
            cols: m.cols as usize,
            data,
        }
    }
    /// Copy the values into `out` (reusing its allocation).
    pub fn value_into(&self, out: &mut Tensor) {
        self.tape.note_read();
        let m = self.tape.meta(self.slot);
        out.rows = m.rows as usize;
        out.cols = m.cols as usize;
        self.tape.with(|t| {
            out.data.clear();
            out.data.extend_from_slice(&t.tdata[m.range()]);
        });
    }
    /// A handle that gives this tensor back after the tape is rewound to a [`Mark`](crate::Mark) taken after
    /// it (with [`Tape::kept`]): data placed on a tape once, reused by every later recording.
    pub fn keep(&self) -> Kept {
        Kept { idx: self.idx }
    }
    /// Sum of the values (no recording).
    pub fn value_sum(&self) -> f64 {
        self.tape.note_read();
        self.sum_of_values()
    }
    /// [`TVar::value_sum`] for the tape's own use (not a read of the function being traced).
    pub(crate) fn sum_of_values(&self) -> f64 {
        let m = self.tape.meta(self.slot);
        self.tape
            .with(|t| crate::ops::kernels::sum(&t.tdata[m.range()]))
    }
}

/// A tensor kept across [`Tape::truncate`] (see [`TVar::keep`]).
///
/// ```
/// use stein_autodiff::{Tape, Tensor};
/// let mut tape = Tape::new();
/// let data = tape.tensor_const(&Tensor::full(1000, 3, 0.5)).keep(); // placed once
/// let mark = tape.mark();
/// for step in 0..3 {
///     tape.truncate(mark);                                  // drop the last step's nodes, keep the data
///     let x = tape.tensor(&Tensor::full(3, 1, step as f64));
///     let y = tape.kept(data).matmul(x).sum();
///     assert_eq!(tape.grad_tensors(y, &[x])[0].get(0, 0), 500.0);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    idx: u32,
}

impl Tape {
    /// The tensor behind `k`. Valid while the tape holds it, i.e. until it is truncated below the mark
    /// taken after the tensor was recorded.
    ///
    /// # Panics
    /// When the tape no longer holds a tensor there (it was cleared or truncated below it).
    pub fn kept(&self, k: Kept) -> TVar<'_> {
        let ok = self.with(|t| {
            (k.idx as usize) < t.nodes.len()
                && matches!(t.nodes[k.idx as usize].op, crate::tape::Op::T(_))
        });
        assert!(
            ok,
            "stein-autodiff: kept tensor {} is no longer on the tape",
            k.idx
        );
        self.tvar_at(k.idx)
    }

    /// A tensor input (differentiable, e.g. network parameters or a batch of points).
    pub fn tensor(&self, t: &Tensor) -> TVar<'_> {
        crate::ops::tensor::leaf(self, t, true)
    }
    /// A constant tensor (no gradient flows into it).
    pub fn tensor_const(&self, t: &Tensor) -> TVar<'_> {
        crate::ops::tensor::leaf(self, t, false)
    }
}
