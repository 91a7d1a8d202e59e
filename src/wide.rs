//! The wide-range path: every derivative again in extended-exponent arithmetic, for
//! inputs so large (entries up to ±f64::MAX) that the fast kernels could overflow.
//!
//! A number is m·2^e with 0.5 ≤ |m| < 1 and a 64-bit exponent, so no product or sum of
//! finite inputs overflows: y = W·a is exact up to rounding even where W and a hold
//! ±1e308 and the terms cancel. Each dot product is summed scaled to its largest term
//! (terms more than 2^1074 below it vanish, far below the rounding error).
//! Activations of |y| ≥ 2^1000 take their limits: σ → 0 or 1 with σ' = σ'' = 0, tanh → ±1,
//! ReLU, softplus and identity pass y through. Results are rounded to the output type at
//! the end: finite wherever the exact value is, ±inf (with the right sign) where it is
//! beyond the type's range, never NaN.
//!
//! Slopes and curvatures are those of [`Activation`] in f64 (flushed below 3.3e−170 as
//! there), so on ordinary inputs this path and the fast kernels agree to rounding.
//! Products whose own bound fits (‖W‖_∞·max|a| or ‖W‖_∞·Σ|g| within range) run in
//! plain f64; the rest term by term. Scalar code: with one layer's weights at ~1e306 a
//! gradient costs ~9× a fast one (benches/wide.rs). [`Mlp`](crate::Mlp) takes this path
//! only when its bound says a fast pass might overflow, or a fast result came out
//! non-finite.

use crate::{Activation, Layer, Real};
use ndarray::{Array1, Array2, ArrayView1};
use rayon::prelude::*;

/// m·2^e with 0.5 ≤ |m| < 1, or m = 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Wide {
    m: f64,
    e: i64,
}

/// x = m·2^e with 0.5 ≤ |m| < 1 (frexp); (0, 0) for 0. `x` finite.
fn split(x: f64) -> (f64, i64) {
    if x == 0.0 {
        return (0.0, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = split(x * pow2(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, biased - 1022)
}

/// 2^k for −1074 ≤ k ≤ 1023; 0 below, inf above.
fn pow2(k: i64) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1 << (k + 1074))
    } else {
        0.0
    }
}

/// m·2^k for |m| < 2^60, rounding once at most (into the subnormals or to ±inf).
fn ldexp(m: f64, k: i64) -> f64 {
    if m == 0.0 {
        m
    } else if k > 1023 {
        m * pow2(1023) * pow2((k - 1023).min(1100))
    } else if k < -1022 {
        if k < -2200 {
            0.0 * m
        } else {
            // m·2^(k+1022) stays normal unless the result is 0 anyway.
            m * pow2((k + 1022).max(-1022)) * pow2(-1022)
        }
    } else {
        m * pow2(k)
    }
}

impl Wide {
    const ZERO: Wide = Wide { m: 0.0, e: 0 };

    fn from_f64(x: f64) -> Wide {
        let (m, e) = split(x);
        Wide { m, e }
    }

    /// m·2^e renormalised; `m` finite.
    fn scaled(m: f64, e: i64) -> Wide {
        let (m, k) = split(m);
        if m == 0.0 {
            Wide::ZERO
        } else {
            Wide { m, e: e + k }
        }
    }

    /// Rounded to f64: ±inf beyond its range, 0 or subnormal below.
    pub(crate) fn to_f64(self) -> f64 {
        ldexp(self.m, self.e)
    }

    fn to_real<T: Real>(self) -> T {
        T::from_f64(self.to_f64())
    }

    fn mul(self, o: Wide) -> Wide {
        Wide::scaled(self.m * o.m, self.e + o.e)
    }

    fn mul_f64(self, s: f64) -> Wide {
        self.mul(Wide::from_f64(s))
    }

    fn add(self, o: Wide) -> Wide {
        let mut acc = Acc::EMPTY;
        acc.add(self.m, self.e);
        acc.add(o.m, o.e);
        acc.wide()
    }

    fn is_positive(self) -> bool {
        self.m > 0.0
    }
}

/// A sum kept as sum·2^e, e the largest exponent added so far: every term is scaled by
/// a power of two ≤ 1 (exact unless it underflows, i.e. is 2^1074 below the largest).
#[derive(Clone, Copy)]
struct Acc {
    sum: f64,
    e: i64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        sum: 0.0,
        e: i64::MIN,
    };

    /// Adds m·2^e, |m| < 1.
    fn add(&mut self, m: f64, e: i64) {
        if m == 0.0 {
            return;
        }
        if e > self.e {
            if self.e != i64::MIN {
                self.sum = ldexp(self.sum, self.e - e);
            }
            self.e = e;
        }
        self.sum += ldexp(m, e - self.e);
    }

    /// Adds w·x.
    fn add_product(&mut self, w: f64, x: Wide) {
        if w == 0.0 || x.m == 0.0 {
            return;
        }
        let (m, e) = split(w);
        self.add(m * x.m, e + x.e);
    }

    fn wide(self) -> Wide {
        if self.e == i64::MIN {
            Wide::ZERO
        } else {
            Wide::scaled(self.sum, self.e)
        }
    }
}

/// Below this many weights a product runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 14;

/// How large a bound on every partial sum may be for a product in `T` to run as plain
/// floating point: the type's maximum over 2⁸, a margin for rounding. The fast kernels'
/// check in [`Mlp`](crate::Mlp) and this path's plain-f64 products both use it.
pub(crate) fn overflow_limit<T: Real>() -> f64 {
    T::max_value().as_f64() / 256.0
}

/// `v` in plain f64 if every entry is within 2^1000.
fn plain(v: &[Wide]) -> Option<Vec<f64>> {
    v.iter()
        .all(|v| v.e <= 1000)
        .then(|| v.iter().map(|v| v.to_f64()).collect())
}

/// Rows of `w` (in parallel when large), each mapped by `row`.
fn by_rows<T: Real>(w: &Array2<T>, row: impl Fn(ArrayView1<T>) -> Wide + Sync + Send) -> Vec<Wide> {
    if w.len() < PARALLEL_MIN {
        w.rows().into_iter().map(row).collect()
    } else {
        let rows: Vec<_> = w.rows().into_iter().collect();
        rows.into_par_iter().map(row).collect()
    }
}

/// Blocks of columns of `w` (in parallel when large), each mapped by `block`.
fn by_columns<T: Real>(
    w: &Array2<T>,
    block: impl Fn(std::ops::Range<usize>) -> Vec<Wide> + Sync + Send,
) -> Vec<Wide> {
    const BLOCK: usize = 256;
    let cols = w.ncols();
    let ranges: Vec<_> = (0..cols)
        .step_by(BLOCK)
        .map(|s| s..(s + BLOCK).min(cols))
        .collect();
    let blocks: Vec<Vec<Wide>> = if w.len() < PARALLEL_MIN {
        ranges.into_iter().map(block).collect()
    } else {
        ranges.into_par_iter().map(block).collect()
    };
    blocks.concat()
}

/// W·a, each row's sum in column order: in plain f64 when ‖W‖_∞·max|a| bounds it
/// within range, else term by term in wide range.
fn mul<T: Real>(layer: &Layer<T>, a: &[Wide]) -> Vec<Wide> {
    let w = &layer.weights;
    if let Some(p) = plain(a) {
        let max = p.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        if layer.norm * max <= overflow_limit::<f64>() {
            return by_rows(w, |r| {
                let y: f64 = r.iter().zip(&p).map(|(&w, &a)| w.as_f64() * a).sum();
                Wide::from_f64(y)
            });
        }
    }
    by_rows(w, |r| {
        let r = r.to_slice().expect("row-major");
        // Two passes: the largest term's exponent, then every term scaled to it.
        let top = r
            .iter()
            .zip(a)
            .filter(|(&w, x)| w != T::zero() && x.m != 0.0)
            .map(|(&w, x)| split(w.as_f64()).1 + x.e)
            .max();
        let Some(top) = top else {
            return Wide::ZERO;
        };
        let sum: f64 = r
            .iter()
            .zip(a)
            .map(|(&w, x)| {
                let (m, e) = split(w.as_f64());
                m * x.m * pow2(e + x.e - top)
            })
            .sum();
        Wide::scaled(sum, top)
    })
}

/// Wᵀ·g, streaming W's rows into one accumulator per column, each column's sum in row
/// order: in plain f64 when ‖W‖_∞·Σ|g| (≥ max|W|·Σ|g|) bounds it within range.
fn mul_t<T: Real>(layer: &Layer<T>, g: &[Wide]) -> Vec<Wide> {
    let w = &layer.weights;
    let row = |i: usize, cols: &std::ops::Range<usize>| {
        let r = w.row(i);
        &r.to_slice().expect("row-major")[cols.clone()]
    };
    if let Some(p) = plain(g) {
        let sum: f64 = p.iter().map(|v| v.abs()).sum();
        if layer.norm * sum <= overflow_limit::<f64>() {
            return by_columns(w, |cols| {
                let mut acc = vec![0.0_f64; cols.len()];
                for (i, &gi) in p.iter().enumerate().filter(|(_, g)| **g != 0.0) {
                    acc.iter_mut()
                        .zip(row(i, &cols))
                        .for_each(|(acc, &wij)| *acc += wij.as_f64() * gi);
                }
                acc.into_iter().map(Wide::from_f64).collect()
            });
        }
    }
    by_columns(w, |cols| {
        let mut acc = vec![Acc::EMPTY; cols.len()];
        for (i, &gi) in g.iter().enumerate().filter(|(_, g)| g.m != 0.0) {
            acc.iter_mut()
                .zip(row(i, &cols))
                .for_each(|(acc, &wij)| acc.add_product(wij.as_f64(), gi));
        }
        acc.into_iter().map(Acc::wide).collect()
    })
}

/// (φ(y), φ'(y), φ''(y)); the limits for |y| ≥ 2^1000, [`Activation`]'s own f64
/// functions below.
fn activate(act: Activation, y: Wide) -> (Wide, f64, f64) {
    if y.e <= 1000 {
        let t = y.to_f64();
        let (v, s) = act.value_and_slope(t);
        return (Wide::from_f64(v), s, act.curvature(t));
    }
    let up = y.is_positive();
    let unit = |b: bool| if b { 1.0 } else { 0.0 };
    match act {
        Activation::Sigmoid => (Wide::from_f64(unit(up)), 0.0, 0.0),
        Activation::Tanh => (Wide::from_f64(if up { 1.0 } else { -1.0 }), 0.0, 0.0),
        Activation::Softplus | Activation::Relu => (if up { y } else { Wide::ZERO }, unit(up), 0.0),
        Activation::Identity => (y, 1.0, 0.0),
    }
}

/// The forward pass: per layer, φ(y_k), φ'(y_k), φ''(y_k).
pub(crate) struct Primal {
    x: Vec<Wide>,
    h: Vec<Vec<Wide>>,
    s: Vec<Vec<f64>>,
    c: Vec<Vec<f64>>,
    /// f's reverse sweep, once: the gradient, weight gradients and every HVP share it.
    of_f: std::cell::OnceCell<Adjoints>,
}

/// A reverse sweep: ḡ_k, the adjoint of y_k, and a_k = W_kᵀ·ḡ_k (k = 1 … L; a_1 is
/// the adjoint of x).
struct Adjoints {
    g: Vec<Vec<Wide>>,
    a: Vec<Vec<Wide>>,
}

impl Primal {
    pub(crate) fn new<T: Real>(layers: &[Layer<T>], x: ArrayView1<T>) -> Primal {
        let x: Vec<Wide> = x.iter().map(|v| Wide::from_f64(v.as_f64())).collect();
        let (mut h, mut s, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for layer in layers {
            let input = h.last().unwrap_or(&x);
            let y = mul(layer, input);
            let act = layer.activation;
            let (hk, (sk, ck)): (Vec<Wide>, (Vec<f64>, Vec<f64>)) = y
                .into_iter()
                .map(|y| {
                    let (v, s, c) = activate(act, y);
                    (v, (s, c))
                })
                .unzip();
            h.push(hk);
            s.push(sk);
            c.push(ck);
        }
        Primal {
            x,
            h,
            s,
            c,
            of_f: std::cell::OnceCell::new(),
        }
    }

    /// F(x) = φ_L(y_L).
    pub(crate) fn output<T: Real>(&self) -> Array1<T> {
        self.h
            .last()
            .expect("a layer")
            .iter()
            .map(|v| v.to_real())
            .collect()
    }

    /// f(x) = Σ F_i(x), summed without overflow.
    pub(crate) fn value<T: Real>(&self) -> T {
        let mut acc = Acc::EMPTY;
        self.h
            .last()
            .expect("a layer")
            .iter()
            .for_each(|v| acc.add(v.m, v.e));
        acc.wide().to_real()
    }

    /// The reverse sweep from the seed u of F (all ones for f).
    fn adjoints<T: Real>(&self, layers: &[Layer<T>], u: &[Wide]) -> Adjoints {
        let depth = layers.len();
        let mut g: Vec<Wide> = u
            .iter()
            .zip(&self.s[depth - 1])
            .map(|(u, &s)| u.mul_f64(s))
            .collect();
        let (mut gs, mut a_s) = (vec![Vec::new(); depth], vec![Vec::new(); depth]);
        for k in (0..depth).rev() {
            let a = mul_t(&layers[k], &g);
            // ḡ_{k−1} = φ'_{k−1} ∘ a_k.
            let next = match k {
                0 => Vec::new(),
                _ => a
                    .iter()
                    .zip(&self.s[k - 1])
                    .map(|(a, &s)| a.mul_f64(s))
                    .collect(),
            };
            gs[k] = std::mem::replace(&mut g, next);
            a_s[k] = a;
        }
        Adjoints { g: gs, a: a_s }
    }

    /// f's reverse sweep (computed at the first call).
    fn of_f<T: Real>(&self, layers: &[Layer<T>]) -> &Adjoints {
        self.of_f.get_or_init(|| {
            let ones = vec![Wide::from_f64(1.0); self.s[layers.len() - 1].len()];
            self.adjoints(layers, &ones)
        })
    }

    /// uᵀ·J(x).
    pub(crate) fn vjp<T: Real>(&self, layers: &[Layer<T>], u: ArrayView1<T>) -> Array1<T> {
        let u: Vec<Wide> = u.iter().map(|v| Wide::from_f64(v.as_f64())).collect();
        to_array(&self.adjoints(layers, &u).a[0])
    }

    /// ∇f(x) = 1ᵀ·J(x).
    pub(crate) fn grad<T: Real>(&self, layers: &[Layer<T>]) -> Array1<T> {
        to_array(&self.of_f(layers).a[0])
    }

    /// ∇_{W_k} f = ḡ_k·a_{k−1}ᵀ for every layer.
    pub(crate) fn weight_grads<T: Real>(&self, layers: &[Layer<T>]) -> Vec<Array2<T>> {
        self.of_f(layers)
            .g
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let a = if k == 0 { &self.x } else { &self.h[k - 1] };
                Array2::from_shape_fn((g.len(), a.len()), |(i, j)| g[i].mul(a[j]).to_real())
            })
            .collect()
    }

    /// The tangents ẏ_k of y_k along v (k = 1 … L).
    fn tangents<T: Real>(&self, layers: &[Layer<T>], v: ArrayView1<T>) -> Vec<Vec<Wide>> {
        let mut t: Vec<Wide> = v.iter().map(|v| Wide::from_f64(v.as_f64())).collect();
        let mut out = Vec::with_capacity(layers.len());
        for (k, layer) in layers.iter().enumerate() {
            if k > 0 {
                // The tangent of φ(y_{k−1}) is φ'_{k−1} ∘ ẏ_{k−1}.
                let prev: &Vec<Wide> = &out[k - 1];
                t = prev
                    .iter()
                    .zip(&self.s[k - 1])
                    .map(|(y, &s)| y.mul_f64(s))
                    .collect();
            }
            out.push(mul(layer, &t));
        }
        out
    }

    /// J(x)·v = φ'_L(y_L) ∘ ẏ_L.
    pub(crate) fn jvp<T: Real>(&self, layers: &[Layer<T>], v: ArrayView1<T>) -> Array1<T> {
        let depth = layers.len();
        let t = self.tangents(layers, v);
        t[depth - 1]
            .iter()
            .zip(&self.s[depth - 1])
            .map(|(t, &s)| t.mul_f64(s).to_real())
            .collect()
    }

    /// ∇²f(x)·v by forward-over-reverse, as [`hessian`](crate::hessian) does:
    /// ġ_L = φ''_L ∘ ẏ_L, ġ_{k−1} = φ'_{k−1} ∘ (W_kᵀ·ġ_k) + φ''_{k−1} ∘ ẏ_{k−1} ∘ (W_kᵀ·ḡ_k).
    pub(crate) fn hvp<T: Real>(&self, layers: &[Layer<T>], v: ArrayView1<T>) -> Array1<T> {
        let depth = layers.len();
        let t = self.tangents(layers, v);
        let of_f = self.of_f(layers);
        let mut gdot: Vec<Wide> = t[depth - 1]
            .iter()
            .zip(&self.c[depth - 1])
            .map(|(t, &c)| t.mul_f64(c))
            .collect();
        for k in (1..depth).rev() {
            let a = &of_f.a[k];
            let adot = mul_t(&layers[k], &gdot);
            gdot = (0..a.len())
                .map(|i| {
                    let first = adot[i].mul_f64(self.s[k - 1][i]);
                    let second = t[k - 1][i].mul(a[i]).mul_f64(self.c[k - 1][i]);
                    first.add(second)
                })
                .collect();
        }
        to_array(&mul_t(&layers[0], &gdot))
    }
}

fn to_array<T: Real>(v: &[Wide]) -> Array1<T> {
    v.iter().map(|v| v.to_real()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_ldexp_round_trip_every_magnitude() {
        for x in [
            1.0,
            -0.75,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -3e-320,
            1e308,
            std::f64::consts::PI,
        ] {
            let (m, e) = split(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: {m}");
            assert_eq!(ldexp(m, e), x);
        }
        assert_eq!(ldexp(0.5, 1025), f64::INFINITY);
        assert_eq!(ldexp(-0.5, 5000), f64::NEG_INFINITY);
        assert_eq!(ldexp(0.5, -1074), 0.0); // 2^−1075 rounds to even: 0
        assert_eq!(ldexp(0.75, -1073), 5e-324 * 2.0); // 1.5·2^−1074 rounds to 2·2^−1074
    }

    #[test]
    fn sums_of_huge_terms_cancel_exactly() {
        // 1e308 + 1e308 − 1e308 − 1e308 − 1e308 = −1e308: a plain sum reaches +inf first.
        let big = Wide::from_f64(1e308);
        let mut acc = Acc::EMPTY;
        for w in [1.0, 1.0, -1.0, -1.0, -1.0] {
            acc.add_product(w, big);
        }
        assert_eq!(acc.wide().to_f64(), -1e308);
        // 1e308·1e10 − 1e308·1e10 + 1e300 = 1e300: the products are beyond f64, the sum not.
        let mut acc = Acc::EMPTY;
        acc.add_product(1e10, big);
        acc.add_product(-1e10, big);
        acc.add_product(1e300, Wide::from_f64(1.0));
        assert_eq!(acc.wide().to_f64(), 1e300);
        assert_eq!(big.mul(big).mul_f64(3.0).to_f64(), f64::INFINITY);
        // (1e308)²·(−1e−310) = −1e306 (to the subnormal's own rounding, ~2.5e−14).
        let v = big.mul(big).mul_f64(-1e-310).to_f64();
        assert!((v / -1e306 - 1.0).abs() < 1e-12, "{v}");
    }

    #[test]
    fn huge_pre_activations_take_their_limits() {
        let huge = Wide::from_f64(1e308).mul(Wide::from_f64(1e308));
        let neg = huge.mul_f64(-1.0);
        assert_eq!(activate(Activation::Sigmoid, huge).0.to_f64(), 1.0);
        assert_eq!(activate(Activation::Sigmoid, neg).0.to_f64(), 0.0);
        assert_eq!(activate(Activation::Tanh, neg).0.to_f64(), -1.0);
        let (h, s, c) = activate(Activation::Relu, huge);
        assert_eq!((h, s, c), (huge, 1.0, 0.0));
        assert_eq!(activate(Activation::Softplus, neg).0, Wide::ZERO);
        // In range, the f64 functions themselves.
        let t = Wide::from_f64(0.3);
        let (v, s, _) = activate(Activation::Tanh, t);
        assert_eq!((v.to_f64(), s), Activation::Tanh.value_and_slope(0.3));
    }
}
