//! Plain `f64` kernels behind the tensor ops (row-major, rank 2).

use super::vmath::madd;

/// The arguments of [`matvec`], for `pulp` to compile it for each instruction set (a closure would be
/// compiled once, for the baseline, and called from the dispatched code).
struct MatVec<'a> {
    ta: bool,
    tb: bool,
    a: &'a [f64],
    ac: usize,
    b: &'a [f64],
    bc: usize,
    mnk: (usize, usize, usize),
    out: &'a mut [f64],
}

impl pulp::WithSimd for MatVec<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let MatVec {
            ta,
            tb,
            a,
            ac,
            b,
            bc,
            mnk,
            out,
        } = self;
        if super::vmath::has_fma::<S>() {
            matvec::<true>(ta, tb, a, ac, b, bc, mnk, out);
        } else {
            matvec::<false>(ta, tb, a, ac, b, bc, mnk, out);
        }
    }
}

/// The products with n = 1 or m = 1 (see [`gemm`]); `ac`, `bc` are the stored row lengths.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matvec<const F: bool>(
    ta: bool,
    tb: bool,
    a: &[f64],
    ac: usize,
    b: &[f64],
    bc: usize,
    (_, n, k): (usize, usize, usize),
    out: &mut [f64],
) {
    match (n == 1, !ta) {
        // C = A v: one dot product per row of A
        (true, true) => rows_dot_vector::<F>(a, ac, &b[..k], out),
        // C = Aᵀ v: Σₚ vₚ A[p, ·]
        (true, false) => rows_combination::<F>(a, ac, &b[..k], out),
        // m == 1: C = u op(B), with u contiguous (a row of A, or the one column of a k × 1 A read as Aᵀ)
        _ => {
            if tb {
                rows_dot_vector::<F>(b, bc, &a[..k], out);
            } else {
                rows_combination::<F>(b, bc, &a[..k], out);
            }
        }
    }
}

/// out[i] = Σₚ A[i, p] vₚ for the first `out.len()` rows of `a` (row length `ac`), `v.len()` columns: four
/// rows at a time, each with a 4-wide accumulator, so one load of v serves four rows and the sums vectorise.
#[inline(always)]
fn rows_dot_vector<const F: bool>(a: &[f64], ac: usize, v: &[f64], out: &mut [f64]) {
    let k = v.len();
    let row = |i: usize| &a[i * ac..i * ac + k];
    let mut blocks = out.chunks_exact_mut(4);
    let mut i = 0;
    for o in &mut blocks {
        let (r0, r1, r2, r3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
        let mut acc = [[0.0; 4]; 4];
        let quads = r0
            .chunks_exact(4)
            .zip(r1.chunks_exact(4))
            .zip(r2.chunks_exact(4).zip(r3.chunks_exact(4)))
            .zip(v.chunks_exact(4));
        for (((c0, c1), (c2, c3)), cv) in quads {
            for l in 0..4 {
                acc[0][l] = madd::<F>(c0[l], cv[l], acc[0][l]);
                acc[1][l] = madd::<F>(c1[l], cv[l], acc[1][l]);
                acc[2][l] = madd::<F>(c2[l], cv[l], acc[2][l]);
                acc[3][l] = madd::<F>(c3[l], cv[l], acc[3][l]);
            }
        }
        let tail = k / 4 * 4;
        for (r, (o, rr)) in o.iter_mut().zip([r0, r1, r2, r3]).enumerate() {
            let mut s = (acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]);
            for p in tail..k {
                s = madd::<F>(rr[p], v[p], s);
            }
            *o = s;
        }
        i += 4;
    }
    for o in blocks.into_remainder() {
        *o = dot(row(i), v);
        i += 1;
    }
}

/// out = Σₚ vₚ A[p, ·] over the rows p < `v.len()` of `a` (row length `ac`, `out.len()` columns): four rows
/// per pass over `out`, so `out` is read and written a quarter as often.
#[inline(always)]
fn rows_combination<const F: bool>(a: &[f64], ac: usize, v: &[f64], out: &mut [f64]) {
    let m = out.len();
    let row = |p: usize| &a[p * ac..p * ac + m];
    out.fill(0.0);
    let mut p = 0;
    while p + 4 <= v.len() {
        let (g0, g1, g2, g3) = (v[p], v[p + 1], v[p + 2], v[p + 3]);
        let rows = row(p)
            .iter()
            .zip(row(p + 1))
            .zip(row(p + 2).iter().zip(row(p + 3)));
        for (o, ((x0, x1), (x2, x3))) in out.iter_mut().zip(rows) {
            *o = madd::<F>(
                g3,
                *x3,
                madd::<F>(g2, *x2, madd::<F>(g1, *x1, madd::<F>(g0, *x0, *o))),
            );
        }
        p += 4;
    }
    for (q, &g) in v.iter().enumerate().skip(p) {
        axpy(g, row(q), out);
    }
}

/// Σ aᵢ bᵢ with eight independent partial sums (the additions pipeline and vectorise; one running sum would
/// wait on each addition).
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Σ a with eight running sums (vectorisable, and free of one long chain of dependent additions), combined
/// pairwise: the same bits on every call.
pub(crate) fn sum(a: &[f64]) -> f64 {
    let mut s = Sum8::default();
    let tail = s.add(a);
    s.finish(tail)
}

/// The running sums of [`sum`], fed in pieces: a sum over consecutive pieces, each but the last a multiple
/// of 8 long, has the bits of one `sum` over their concatenation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sum8 {
    acc: [f64; 8],
}

impl Sum8 {
    /// Add `a`'s whole chunks of 8; returns the remainder (the tail when `a` is the last piece).
    #[inline]
    pub(crate) fn add<'a>(&mut self, a: &'a [f64]) -> &'a [f64] {
        let chunks = a.chunks_exact(8);
        let rest = chunks.remainder();
        // a local copy stays in registers (the fields, behind `&mut self`, were stored at every chunk)
        let mut acc = self.acc;
        for x in chunks {
            for (s, &v) in acc.iter_mut().zip(x) {
                *s += v;
            }
        }
        self.acc = acc;
        rest
    }

    /// The total, with the last piece's remainder `tail` summed in index order.
    pub(crate) fn finish(&self, tail: &[f64]) -> f64 {
        let (acc, tail): (&[f64; 8], f64) = (&self.acc, tail.iter().sum());
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }
}

/// y += α x.
#[inline(always)]
fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Products with m·n·k up to this use the direct loop.
const SMALL_GEMM: usize = 16 * 16 * 16;

/// C (m × n) = op(A) · op(B), where op transposes when the flag is set. `a` is stored `ar × ac`, `b` is
/// stored `br × bc`; shapes are checked by the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    ta: bool,
    tb: bool,
    a: &[f64],
    (ar, ac): (usize, usize),
    b: &[f64],
    (br, bc): (usize, usize),
    out: &mut [f64],
) {
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let (rsa, csa) = if ta {
        (1, ac as isize)
    } else {
        (ac as isize, 1)
    };
    let (rsb, csb) = if tb {
        (1, bc as isize)
    } else {
        (bc as isize, 1)
    };
    assert!(a.len() >= ar * ac && b.len() >= br * bc && out.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    if n == 1 || m == 1 {
        // Matrix–vector products: dot products or row updates over contiguous memory, no packing (a GEMM
        // kernel packs the whole matrix for a single column: half the time of a T3 gradient went there),
        // compiled for the CPU's best vector instructions (AVX2 + FMA where present).
        let out = &mut out[..m * n];
        pulp::Arch::new().dispatch(MatVec {
            ta,
            tb,
            a,
            ac,
            b,
            bc,
            mnk: (m, n, k),
            out,
        });
        return;
    }
    if m * n * k <= SMALL_GEMM {
        // Small products: a direct i-k-j loop beats packing, and allocates nothing (matrixmultiply
        // allocates a packing buffer per call).
        let out = &mut out[..m * n];
        out.fill(0.0);
        let at = |i: usize, p: usize| if ta { a[p * ac + i] } else { a[i * ac + p] };
        for i in 0..m {
            let row = &mut out[i * n..(i + 1) * n];
            for p in 0..k {
                let aip = at(i, p);
                if tb {
                    for (j, o) in row.iter_mut().enumerate() {
                        *o += aip * b[j * bc + p];
                    }
                } else {
                    for (o, &bv) in row.iter_mut().zip(&b[p * bc..p * bc + n]) {
                        *o += aip * bv;
                    }
                }
            }
        }
        return;
    }
    if m * n * k >= PARALLEL_GEMM && m >= 64 {
        // Split the rows of C over the rayon pool: each block is an independent product of a row block of
        // op(A) with op(B). (One pool for GEMM and the elementwise kernels: no threads competing for cores.)
        use rayon::prelude::*;
        let rows = m.div_ceil(rayon::current_num_threads().max(1) * 2).max(16);
        out[..m * n]
            .par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(blk, c)| {
                let r0 = blk * rows;
                let mb = c.len() / n;
                // row r of op(A) starts at r·rsa: A[r0..] for op(A) = A, column offset r0 for op(A) = Aᵀ
                let a_off = r0 * rsa as usize;
                dgemm_block(mb, k, n, &a[a_off..], rsa, csa, b, rsb, csb, c);
            });
        return;
    }
    dgemm_block(m, k, n, a, rsa, csa, b, rsb, csb, &mut out[..m * n]);
}

/// Products with m·n·k from this size up are split over threads: a block re-packs op(B), so smaller products
/// (a 256-row shard through a 128-wide layer, 4.2 M) run whole — training steps already run their shards in
/// parallel (2²⁰ split those into four blocks: packing took 18% of an ISM step, now 10%).
const PARALLEL_GEMM: usize = 1 << 23;

/// C (m × n, row-major, contiguous) = A B for strided A (m × k) and B (k × n).
#[allow(clippy::too_many_arguments)]
fn dgemm_block(
    m: usize,
    k: usize,
    n: usize,
    a: &[f64],
    rsa: isize,
    csa: isize,
    b: &[f64],
    rsb: isize,
    csb: isize,
    c: &mut [f64],
) {
    // the last element each operand's strides reach must lie inside its slice
    let last =
        |r: usize, cc: usize, rs: isize, cs: isize| (r - 1) * rs as usize + (cc - 1) * cs as usize;
    assert!(last(m, k, rsa, csa) < a.len() && last(k, n, rsb, csb) < b.len() && m * n <= c.len());
    // SAFETY: the assertion above keeps every strided access of A and B inside their slices, C is an
    // exclusive slice of m·n elements that aliases neither input, and β = 0 means C is only written.
    #[allow(unsafe_code)]
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Elementwise kernels split tensors of at least this many entries over the rayon pool.
pub(crate) const PARALLEL_MIN: usize = 1 << 15;
/// Entries per parallel chunk.
pub(crate) const CHUNK: usize = 1 << 13;

/// out[i, j] = f(a[i', j'], b[i'', j'']) with size-1 dimensions broadcast.
pub(crate) fn zip_broadcast(
    a: &[f64],
    (ar, ac): (usize, usize),
    b: &[f64],
    (br, bc): (usize, usize),
    out: &mut [f64],
    (r, c): (usize, usize),
    f: impl Fn(f64, f64) -> f64 + Sync,
) {
    if (ar, ac) == (br, bc) {
        use rayon::prelude::*;
        let serial = |o: &mut [f64], a: &[f64], b: &[f64]| {
            pulp::Arch::new().dispatch(Zip {
                a,
                b,
                out: o,
                f: &f,
            });
        };
        if out.len() >= PARALLEL_MIN {
            out.par_chunks_mut(CHUNK)
                .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                .for_each(|(o, (a, b))| serial(o, a, b));
        } else {
            serial(out, a, b);
        }
        return;
    }
    for i in 0..r {
        let ra = if ar == 1 { 0 } else { i * ac };
        let rb = if br == 1 { 0 } else { i * bc };
        let row = &mut out[i * c..(i + 1) * c];
        match (ac == 1, bc == 1) {
            (false, false) => {
                for ((o, &x), &y) in row.iter_mut().zip(&a[ra..ra + c]).zip(&b[rb..rb + c]) {
                    *o = f(x, y);
                }
            }
            (false, true) => {
                let y = b[rb];
                for (o, &x) in row.iter_mut().zip(&a[ra..ra + c]) {
                    *o = f(x, y);
                }
            }
            (true, false) => {
                let x = a[ra];
                for (o, &y) in row.iter_mut().zip(&b[rb..rb + c]) {
                    *o = f(x, y);
                }
            }
            (true, true) => {
                let v = f(a[ra], b[rb]);
                row.fill(v);
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])`, compiled for each instruction set (`pulp`).
struct Zip<'a, F> {
    a: &'a [f64],
    b: &'a [f64],
    out: &'a mut [f64],
    f: &'a F,
}

impl<F: Fn(f64, f64) -> f64> pulp::WithSimd for Zip<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for ((o, &x), &y) in self.out.iter_mut().zip(self.a).zip(self.b) {
            *o = (self.f)(x, y);
        }
    }
}

/// `out[i] = f(a[i], b[i], c[i])` for slices of one length, vectorised for this CPU and split over the pool
/// as [`zip_broadcast`] is.
pub(crate) fn zip3(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    out: &mut [f64],
    f: impl Fn(f64, f64, f64) -> f64 + Sync,
) {
    use rayon::prelude::*;
    assert!(a.len() == out.len() && b.len() == out.len() && c.len() == out.len());
    let serial = |o: &mut [f64], a: &[f64], b: &[f64], c: &[f64]| {
        pulp::Arch::new().dispatch(Zip3 {
            a,
            b,
            c,
            out: o,
            f: &f,
        });
    };
    if out.len() >= PARALLEL_MIN {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK)))
            .for_each(|((o, a), (b, c))| serial(o, a, b, c));
    } else {
        serial(out, a, b, c);
    }
}

struct Zip3<'a, F> {
    a: &'a [f64],
    b: &'a [f64],
    c: &'a [f64],
    out: &'a mut [f64],
    f: &'a F,
}

impl<F: Fn(f64, f64, f64) -> f64> pulp::WithSimd for Zip3<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (((o, &x), &y), &z) in self.out.iter_mut().zip(self.a).zip(self.b).zip(self.c) {
            *o = (self.f)(x, y, z);
        }
    }
}

/// Sum `src` (r × c) down to (r2 × c2), each of r2, c2 being the full size or 1.
pub(crate) fn sum_to(
    src: &[f64],
    (r, c): (usize, usize),
    out: &mut [f64],
    (r2, c2): (usize, usize),
) {
    out.fill(0.0);
    for i in 0..r {
        let o = if r2 == 1 { 0 } else { i * c2 };
        let row = &src[i * c..(i + 1) * c];
        if c2 == 1 {
            out[o] += sum(row);
        } else {
            for (d, &s) in out[o..o + c].iter_mut().zip(row) {
                *d += s;
            }
        }
    }
}

/// Broadcast `src` (r2 × c2, each the full size or 1) up to (r × c).
pub(crate) fn broadcast_to(
    src: &[f64],
    (r2, c2): (usize, usize),
    out: &mut [f64],
    (r, c): (usize, usize),
) {
    for i in 0..r {
        let s = if r2 == 1 { 0 } else { i * c2 };
        let row = &mut out[i * c..(i + 1) * c];
        if c2 == 1 {
            row.fill(src[s]);
        } else {
            row.copy_from_slice(&src[s..s + c]);
        }
    }
}

pub(crate) fn transpose(src: &[f64], (r, c): (usize, usize), out: &mut [f64]) {
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = src[i * c + j];
        }
    }
}

/// Copy the block `[start, start + len)` along `axis` of `src` (r × c).
pub(crate) fn slice(
    src: &[f64],
    (r, c): (usize, usize),
    axis: usize,
    start: usize,
    len: usize,
    out: &mut [f64],
) {
    if axis == 0 {
        out.copy_from_slice(&src[start * c..(start + len) * c]);
    } else {
        for i in 0..r {
            out[i * len..(i + 1) * len].copy_from_slice(&src[i * c + start..i * c + start + len]);
        }
    }
}

/// Place `src` (r × c) at offset `start` along `axis` of zeros whose size along `axis` is `total`, writing
/// each entry once.
pub(crate) fn pad(
    src: &[f64],
    (r, c): (usize, usize),
    axis: usize,
    start: usize,
    total: usize,
    out: &mut [f64],
) {
    block_runs((r, c), axis, start, total, |run, from| match from {
        Some(k) => out[run.clone()].copy_from_slice(&src[k..k + run.len()]),
        None => out[run].fill(0.0),
    });
}

/// The runs of a row-major tensor holding a block `(r, c)` at offset `start` along `axis` (its size along
/// `axis` being `total`), in order: `f(run, Some(k))` for a run of the block starting at its entry k,
/// `f(run, None)` for a run outside it.
pub(crate) fn block_runs(
    (r, c): (usize, usize),
    axis: usize,
    start: usize,
    total: usize,
    mut f: impl FnMut(std::ops::Range<usize>, Option<usize>),
) {
    let mut emit = |lo: usize, hi: usize, from: Option<usize>| {
        if hi > lo {
            f(lo..hi, from);
        }
    };
    if axis == 0 {
        emit(0, start * c, None);
        emit(start * c, (start + r) * c, Some(0));
        emit((start + r) * c, total * c, None);
    } else {
        for i in 0..r {
            let row = i * total;
            emit(row, row + start, None);
            emit(row + start, row + start + c, Some(i * c));
            emit(row + start + c, row + total, None);
        }
    }
}

/// Copy `src` (r × c) to offset `start` along `axis` of `out`, whose size along `axis` is `total`; the rest
/// of `out` is left as it is.
pub(crate) fn place(
    src: &[f64],
    (r, c): (usize, usize),
    axis: usize,
    start: usize,
    total: usize,
    out: &mut [f64],
) {
    if axis == 0 {
        out[start * c..(start + r) * c].copy_from_slice(src);
    } else {
        for i in 0..r {
            out[i * total + start..i * total + start + c].copy_from_slice(&src[i * c..(i + 1) * c]);
        }
    }
}

/// out[i, j] = src[i, idx[j]].
pub(crate) fn gather_cols(src: &[f64], (r, c): (usize, usize), idx: &[u32], out: &mut [f64]) {
    let k = idx.len();
    for i in 0..r {
        for (j, &s) in idx.iter().enumerate() {
            out[i * k + j] = src[i * c + s as usize];
        }
    }
}

/// out[i, idx[j]] += src[i, j] on zeros with `ncols` columns.
pub(crate) fn scatter_cols(src: &[f64], r: usize, idx: &[u32], out: &mut [f64], ncols: usize) {
    out.fill(0.0);
    let k = idx.len();
    for i in 0..r {
        for (j, &d) in idx.iter().enumerate() {
            out[i * ncols + d as usize] += src[i * k + j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        ta: bool,
        tb: bool,
        a: &[f64],
        (ar, ac): (usize, usize),
        b: &[f64],
        (br, bc): (usize, usize),
    ) -> Vec<f64> {
        let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
        let n = if tb { br } else { bc };
        let ae = |i: usize, p: usize| if ta { a[p * ac + i] } else { a[i * ac + p] };
        let be = |p: usize, j: usize| if tb { b[j * bc + p] } else { b[p * bc + j] };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| ae(i, p) * be(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn both_gemm_paths_agree_with_the_definition_for_every_transpose() {
        // (m, k, n) small (direct loop) and large (matrixmultiply)
        for &(m, k, n) in &[(3, 4, 5), (37, 29, 41), (300, 70, 90)] {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { (k, m) } else { (m, k) };
                let sb = if tb { (n, k) } else { (k, n) };
                let a: Vec<f64> = (0..m * k)
                    .map(|i| ((i * 7919) % 23) as f64 / 7.0 - 1.5)
                    .collect();
                let b: Vec<f64> = (0..k * n)
                    .map(|i| ((i * 104729) % 31) as f64 / 9.0 - 1.7)
                    .collect();
                let mut c = vec![f64::NAN; m * n];
                gemm(ta, tb, &a, sa, &b, sb, &mut c);
                let e = naive(ta, tb, &a, sa, &b, sb);
                for (x, y) in c.iter().zip(&e) {
                    assert!(
                        (x - y).abs() < 1e-12 * (1.0 + y.abs()),
                        "{m}x{k}x{n} ta={ta} tb={tb}"
                    );
                }
            }
        }
    }
}
