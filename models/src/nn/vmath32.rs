//! Vector math in single precision: bias-add and activation in one pass over a layer's output, the
//! activation's derivative for the backward pass, and Fourier features sin/cos(2π ω t). Each element is branch-free code (a
//! Cody–Waite exponential of a non-positive argument, a reduced atanh series for ln(1 + t)) that LLVM
//! vectorises; `pulp` compiles it for the best instruction set of the CPU (AVX-512: 16 lanes) and picks one
//! at run time.
//!
//! Accuracy (tested against the f64 functions): values within a few f32 ulp of max(|f(x)|, 2⁻²⁰), slopes of
//! max(|f′(x)|, 1/16).

use super::Activation;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts, n · LN2_HI exact for |n| < 2⁹ (Cephes' constants).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding it rounds to an integer and leaves it in the low bits.
const MAGIC: f32 = 12_582_912.0;

/// (eʸ − 1, eʸ) for y ≤ 0, branch-free (arguments below −87 give e⁻⁸⁷'s bits; no f32 function here needs
/// smaller). e^y − 1 keeps full relative accuracy near 0.
#[inline(always)]
fn expm1_exp(y: f32) -> (f32, f32) {
    let y = y.max(-87.0);
    let k = y.mul_add(LOG2E, MAGIC);
    let n = k - MAGIC;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, y));
    // q = eʳ − 1 = r + r²(1/2 + r/6 + … + r⁵/5040), |r| ≤ ln2/2
    let mut p: f32 = 1.0 / 5040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5] {
        p = p.mul_add(r, c);
    }
    let q = (r * r).mul_add(p, r);
    let bits = k.to_bits().wrapping_sub(MAGIC.to_bits()); // n, two's complement
    let scale = f32::from_bits(bits.wrapping_add(127) << 23);
    // 2ⁿ eʳ − 1 = 2ⁿ q + (2ⁿ − 1), exact when n = 0
    (scale.mul_add(q, scale - 1.0), scale.mul_add(q, scale))
}

/// ln(1 + t) for t in [0, 1]: 1 + t = 2ᵉ m, ln m = 2 atanh((m − 1)/(m + 1)) by its series (|s| ≤ 0.172).
#[inline(always)]
fn log1p_unit(t: f32) -> f32 {
    let big = t > std::f32::consts::SQRT_2 - 1.0;
    let s = if big {
        (t - 1.0) / (t + 3.0)
    } else {
        t / (t + 2.0)
    };
    let z = s * s;
    let mut q: f32 = 2.0 / 11.0;
    for c in [2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0] {
        q = q.mul_add(z, c);
    }
    let e = if big { std::f32::consts::LN_2 } else { 0.0 };
    (s * z).mul_add(q, 2.0 * s) + e
}

/// (σ(x), σ(−x) = 1 − σ(x)), each to full relative accuracy.
#[inline(always)]
fn sigmoids(x: f32) -> (f32, f32) {
    let (_, e) = expm1_exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 {
        (r, e * r)
    } else {
        (e * r, r)
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    sigmoids(x).0
}

/// The activation at x.
#[inline(always)]
fn value(a: Activation, x: f32) -> f32 {
    match a {
        Activation::Silu => x * sigmoid(x),
        Activation::Softplus => x.max(0.0) + log1p_unit(expm1_exp(-x.abs()).1),
        Activation::Tanh => {
            // tanh|x| = −m/(2 + m), m = e^{−2|x|} − 1
            let (m, _) = expm1_exp(-2.0 * x.abs());
            (-m / (2.0 + m)).copysign(x)
        }
        Activation::Elu => {
            if x > 0.0 {
                x
            } else {
                expm1_exp(x).0
            }
        }
        Activation::Relu => x.max(0.0),
    }
}

/// The activation's derivative at x.
#[inline(always)]
fn slope(a: Activation, x: f32) -> f32 {
    match a {
        Activation::Silu => {
            let (s, t) = sigmoids(x);
            s * x.mul_add(t, 1.0)
        }
        Activation::Softplus => sigmoid(x),
        Activation::Tanh => {
            // sech² x = 4e/(1 + e)², e = e^{−2|x|}: no cancellation in 1 − tanh²
            let (_, e) = expm1_exp(-2.0 * x.abs());
            4.0 * e / ((1.0 + e) * (1.0 + e))
        }
        Activation::Elu => {
            if x > 0.0 {
                1.0
            } else {
                expm1_exp(x).1
            }
        }
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// What one pass does to rows of `n` values.
#[derive(Clone, Copy)]
enum Pass<'a> {
    /// z ← z + b; h = act(z).
    BiasAct(&'a [f32]),
    /// z ← act(z + b).
    BiasActInPlace(&'a [f32]),
    /// g ← g · act′(z) (g holds ∂L/∂h on entry).
    Slope,
}

struct Kernel<'a> {
    act: Activation,
    pass: Pass<'a>,
    z: &'a mut [f32],
    other: &'a mut [f32],
}

impl pulp::WithSimd for Kernel<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        // one loop per activation and pass, so each body inlines and vectorises on its own
        macro_rules! each {
            ($a:expr) => {
                match self.pass {
                    Pass::BiasAct(b) => {
                        let n = b.len();
                        for (z, h) in self
                            .z
                            .chunks_exact_mut(n)
                            .zip(self.other.chunks_exact_mut(n))
                        {
                            for ((z, h), b) in z.iter_mut().zip(h).zip(b) {
                                *z += b;
                                *h = value($a, *z);
                            }
                        }
                    }
                    Pass::BiasActInPlace(b) => {
                        for z in self.z.chunks_exact_mut(b.len()) {
                            for (z, b) in z.iter_mut().zip(b) {
                                *z = value($a, *z + b);
                            }
                        }
                    }
                    Pass::Slope => {
                        for (z, g) in self.z.iter().zip(self.other.iter_mut()) {
                            *g *= slope($a, *z);
                        }
                    }
                }
            };
        }
        match self.act {
            Activation::Silu => each!(Activation::Silu),
            Activation::Softplus => each!(Activation::Softplus),
            Activation::Tanh => each!(Activation::Tanh),
            Activation::Elu => each!(Activation::Elu),
            Activation::Relu => each!(Activation::Relu),
        }
    }
}

/// Rows of `bias.len()` values: `z += bias` (row by row), then `h = act(z)`. Panics if the lengths differ or
/// are not a multiple of the bias's (a programmer error).
pub(crate) fn bias_act(act: Activation, bias: &[f32], z: &mut [f32], h: &mut [f32]) {
    assert!(
        z.len() == h.len() && !bias.is_empty() && z.len().is_multiple_of(bias.len()),
        "bias_act: {} pre-activations, {} outputs, bias of {}",
        z.len(),
        h.len(),
        bias.len()
    );
    pulp::Arch::new().dispatch(Kernel {
        act,
        pass: Pass::BiasAct(bias),
        z,
        other: h,
    });
}

/// Rows of `bias.len()` values: `z = act(z + bias)`. Panics if the length is not a multiple of the bias's
/// (a programmer error).
pub(crate) fn bias_act_in_place(act: Activation, bias: &[f32], z: &mut [f32]) {
    assert!(
        !bias.is_empty() && z.len().is_multiple_of(bias.len()),
        "bias_act_in_place: {} values, bias of {}",
        z.len(),
        bias.len()
    );
    pulp::Arch::new().dispatch(Kernel {
        act,
        pass: Pass::BiasActInPlace(bias),
        z,
        other: &mut [],
    });
}

/// `g[i] *= act′(z[i])`. Panics if the lengths differ (a programmer error).
pub(crate) fn times_slope(act: Activation, z: &mut [f32], g: &mut [f32]) {
    assert_eq!(z.len(), g.len(), "times_slope: {} vs {}", z.len(), g.len());
    pulp::Arch::new().dispatch(Kernel {
        act,
        pass: Pass::Slope,
        z,
        other: g,
    });
}

/// The activation and its first three derivatives at x: (σ, σ′, σ″, σ‴), for Taylor mode's backward pass.
#[inline(always)]
fn derivatives(a: Activation, x: f32) -> [f32; 4] {
    match a {
        Activation::Silu => {
            // s the logistic sigmoid, t = 1 − s, q = s t, u = t − s = 1 − 2s
            let (s, t) = sigmoids(x);
            let (q, u) = (s * t, t - s);
            [
                x * s,
                s * x.mul_add(t, 1.0),
                q * x.mul_add(u, 2.0),
                q * (u * x.mul_add(u, 3.0) - 2.0 * x * q),
            ]
        }
        Activation::Softplus => {
            let (s, t) = sigmoids(x);
            [value(a, x), s, s * t, s * t * (t - s)]
        }
        Activation::Tanh => {
            let (th, d1) = (value(a, x), slope(a, x));
            [th, d1, -2.0 * th * d1, d1 * (6.0 * th * th - 2.0)]
        }
        Activation::Elu => {
            if x > 0.0 {
                [x, 1.0, 0.0, 0.0]
            } else {
                let (m, e) = expm1_exp(x);
                [m, e, e, e]
            }
        }
        Activation::Relu => [x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }, 0.0, 0.0],
    }
}

struct Derivatives<'a> {
    act: Activation,
    z: &'a [f32],
    out: [&'a mut [f32]; 4],
}

impl pulp::WithSimd for Derivatives<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let [v, d1, d2, d3] = self.out;
        macro_rules! each {
            ($a:expr) => {
                for ((((z, v), d1), d2), d3) in self.z.iter().zip(v).zip(d1).zip(d2).zip(d3) {
                    [*v, *d1, *d2, *d3] = derivatives($a, *z);
                }
            };
        }
        match self.act {
            Activation::Silu => each!(Activation::Silu),
            Activation::Softplus => each!(Activation::Softplus),
            Activation::Tanh => each!(Activation::Tanh),
            Activation::Elu => each!(Activation::Elu),
            Activation::Relu => each!(Activation::Relu),
        }
    }
}

/// `out = [σ(z), σ′(z), σ″(z), σ‴(z)]` elementwise. Panics if a length differs from z's (a programmer error).
pub(crate) fn all_derivatives(act: Activation, z: &[f32], out: [&mut [f32]; 4]) {
    assert!(
        out.iter().all(|o| o.len() == z.len()),
        "all_derivatives: {} values, outputs of {:?}",
        z.len(),
        out.iter().map(|o| o.len()).collect::<Vec<_>>()
    );
    pulp::Arch::new().dispatch(Derivatives { act, z, out });
}

/// sin(2π u) and cos(2π u) for |u| < 2⁵⁰, branch-free: u is reduced to its nearest quarter turn q/4 in f64
/// (exact), the rest r = 2π(u − q/4) ∈ [−π/4, π/4] goes through short polynomials in f32, and the quarter
/// rotates the pair.
#[inline(always)]
fn sincos_turns(u: f64) -> (f32, f32) {
    let q = (4.0 * u).round();
    let r = (std::f64::consts::TAU * (u - 0.25 * q)) as f32;
    let z = r * r;
    // Taylor to r⁹ and r⁸: below 4e-9 on |r| ≤ π/4
    let mut s: f32 = 1.0 / 362_880.0;
    for c in [-1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0] {
        s = s.mul_add(z, c);
    }
    let s = (r * z).mul_add(s, r);
    let mut c: f32 = 1.0 / 40_320.0;
    for k in [-1.0 / 720.0, 1.0 / 24.0, -0.5] {
        c = c.mul_add(z, k);
    }
    let c = z.mul_add(c, 1.0);
    // rotate by q quarter turns: (sin, cos) → (cos, −sin) → (−sin, −cos) → (−cos, sin)
    let quarter = (q as i64 & 3) as u8;
    let (s1, c1) = if quarter & 1 == 1 { (c, -s) } else { (s, c) };
    if quarter & 2 == 2 {
        (-s1, -c1)
    } else {
        (s1, c1)
    }
}

struct Fourier<'a> {
    frequencies: &'a [f64],
    t: f64,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Fourier<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let f = self.frequencies.len();
        let (sin, cos) = self.out.split_at_mut(f);
        for ((w, s), c) in self.frequencies.iter().zip(sin).zip(cos) {
            (*s, *c) = sincos_turns(w * self.t);
        }
    }
}

/// The features [sin(2π ωₖ t) | cos(2π ωₖ t)] into `out` (2F values) in f32, vectorised over the
/// frequencies. Panics if `out` is not twice as long as `frequencies` (a programmer error).
pub(crate) fn fourier(frequencies: &[f64], t: f64, out: &mut [f32]) {
    assert_eq!(
        out.len(),
        2 * frequencies.len(),
        "fourier: {} outputs for {} frequencies",
        out.len(),
        frequencies.len()
    );
    pulp::Arch::new().dispatch(Fourier {
        frequencies,
        t,
        out,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_value(a: Activation, x: f64) -> (f64, f64) {
        let s = 1.0 / (1.0 + (-x).exp());
        match a {
            Activation::Silu => (x * s, s * (1.0 + x * (1.0 - s))),
            Activation::Softplus => (x.max(0.0) + (-x.abs()).exp().ln_1p(), s),
            Activation::Tanh => (x.tanh(), 1.0 - x.tanh().powi(2)),
            Activation::Elu => {
                if x > 0.0 {
                    (x, 1.0)
                } else {
                    (x.exp_m1(), x.exp())
                }
            }
            Activation::Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
        }
    }

    /// The f32 Fourier features within a few f32 ulp (absolute: they are at most 1) of the f64 ones, over
    /// turns from tiny to large and around every quarter.
    #[test]
    fn fourier_features_match_f64() {
        let mut w: Vec<f64> = (-2000..2000).map(|i| i as f64 * 0.0371).collect();
        w.extend((0..16).flat_map(|q| [-1e-9, 0.0, 1e-9].map(|e| q as f64 / 4.0 + e)));
        for t in [1e-3, 0.37, 1.0] {
            let mut out = vec![0.0f32; 2 * w.len()];
            fourier(&w, t, &mut out);
            for (k, wk) in w.iter().enumerate() {
                let a = std::f64::consts::TAU * wk * t;
                for (got, want) in [(out[k], a.sin()), (out[w.len() + k], a.cos())] {
                    assert!(
                        (got as f64 - want).abs() < 2.0 * f32::EPSILON as f64,
                        "ω {wk} t {t}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// Every activation and its slope within a few f32 ulp of the f64 function, over a wide range and near 0
    /// (where tanh and ELU would lose relative accuracy without e^y − 1).
    #[test]
    fn activations_match_f64() {
        let mut xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0125).collect();
        xs.extend((-30..30).map(|i| (i as f32 * 0.5).exp2() * 1e-6));
        xs.extend([-100.0, -88.0, 88.0, 100.0, 0.0, -0.0]);
        for a in Activation::ALL {
            let bias = vec![0.0f32; 1];
            let mut z = xs.clone();
            let mut h = vec![0.0; xs.len()];
            bias_act(a, &bias, &mut z, &mut h);
            let mut g = vec![1.0f32; xs.len()];
            times_slope(a, &mut z, &mut g);
            for ((&x, &hv), &gv) in xs.iter().zip(&h).zip(&g) {
                let (want, dwant) = f64_value(a, x as f64);
                // slopes are O(1) and cancel near their zeros (SiLU's at x ≈ −1.28): absolute f32 accuracy
                for (got, want, what, floor) in [(hv, want, "value", -20), (gv, dwant, "slope", -4)]
                {
                    let tol = 4.0 * f32::EPSILON as f64 * want.abs().max(2f64.powi(floor));
                    assert!(
                        (got as f64 - want).abs() <= tol,
                        "{a:?} {what} at {x}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
