//! The wide-range path: every derivative again in extended-exponent arithmetic
//! ([`number`]), for inputs so large (entries up to ±f64::MAX) that the fast kernels
//! could overflow, or values and slopes so small that they flush them.
//! [`guard`](crate::guard) sends a call (or the entries of it that need it) here, and
//! only here, when its bound says a fast pass might overflow, a fast result came out
//! non-finite, or an entry is too small to be sure the flushes did not move it.
//!
//! y = W·a + b is exact up to rounding even where W and a hold ±1e308 and the terms
//! cancel: each dot product is summed scaled to its largest term (terms more than
//! 2^1074 below it vanish, far below the rounding error). Each activation gives its
//! value, slope and curvature with an unbounded exponent too ([`Activation::wide`]:
//! σ'(−800) = e^−800 is kept, not flushed). Results are rounded to the output type at
//! the end: finite wherever the exact value is, ±inf (with the right sign) beyond the
//! type's range, never NaN.
//!
//! Products whose own bound fits (‖W‖_∞·max|a| + max|b| or ‖W‖_∞·Σ|g| within range, and
//! no product below the normal range) run in plain f64, summed in twice the working
//! precision (Dot2); the rest term by term. Scalar code, allocating as it goes: with one
//! layer's weights at ~1e306 a gradient costs several fast ones (docs/measured.md).
//!
//! [`Activation::wide`]: crate::Activation

mod number;

pub(crate) use number::Wide;

use crate::guard::overflow_limit;
use crate::{Layer, Par, Real};
use ndarray::{Array1, Array2, ArrayView1};
use number::Acc;
use rayon::prelude::*;

/// A wide product does ~4× the work of a plain multiply-add: its share of
/// [`Par::splits`]'s threshold.
const WORK_PER_TERM: usize = 4;

/// `v` in plain f64, with its largest magnitude, where every product of an entry with
/// a weight of `layer` is a normal number or 0 (so rounds as plain f64 does) and the
/// entries are within 2^1000.
fn plain<T: Real>(layer: &Layer<T>, v: &[Wide]) -> Option<(Vec<f64>, f64)> {
    let nonzero = || v.iter().filter(|v| v.m != 0.0);
    let fits = nonzero().all(|v| (-1000..=1000).contains(&v.e));
    let smallest = nonzero().fold(f64::INFINITY, |m, v| m.min(v.to_f64().abs()));
    (fits && layer.weight_min * smallest >= f64::MIN_POSITIVE).then(|| {
        let p: Vec<f64> = v.iter().map(|v| v.to_f64()).collect();
        let max = p.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        (p, max)
    })
}

/// Rows of `w` (in parallel when large), each mapped by `row(i, W[i, :])`.
fn by_rows<T: Real>(
    par: Par,
    w: &Array2<T>,
    row: impl Fn(usize, ArrayView1<T>) -> Wide + Sync + Send,
) -> Vec<Wide> {
    if par.splits(w.len() * WORK_PER_TERM) {
        let rows: Vec<_> = w.rows().into_iter().enumerate().collect();
        rows.into_par_iter().map(|(i, r)| row(i, r)).collect()
    } else {
        w.rows()
            .into_iter()
            .enumerate()
            .map(|(i, r)| row(i, r))
            .collect()
    }
}

/// Blocks of columns of `w` (in parallel when large), each mapped by `block`.
fn by_columns<T: Real>(
    par: Par,
    w: &Array2<T>,
    block: impl Fn(std::ops::Range<usize>) -> Vec<Wide> + Sync + Send,
) -> Vec<Wide> {
    const BLOCK: usize = 256;
    let cols = w.ncols();
    let ranges: Vec<_> = (0..cols)
        .step_by(BLOCK)
        .map(|s| s..(s + BLOCK).min(cols))
        .collect();
    let blocks: Vec<Vec<Wide>> = if par.splits(w.len() * WORK_PER_TERM) {
        ranges.into_par_iter().map(block).collect()
    } else {
        ranges.into_iter().map(block).collect()
    };
    blocks.concat()
}

/// A dot product summed in twice the working precision (Ogita, Rump and Oishi's Dot2:
/// each product's and each sum's rounding error, found exactly by an FMA and TwoSum, is
/// carried beside the sum), then rounded once: the wide path's plain products are
/// accurate to about an ulp of the result, not (n ε)·Σ|terms|.
#[derive(Clone, Copy)]
struct Dot2 {
    sum: f64,
    carry: f64,
}

impl Dot2 {
    const ZERO: Dot2 = Dot2 {
        sum: 0.0,
        carry: 0.0,
    };

    fn add_product(&mut self, w: f64, a: f64) {
        let p = w * a;
        let p_err = w.mul_add(a, -p);
        let t = self.sum + p;
        let z = t - self.sum;
        let t_err = (self.sum - (t - z)) + (p - z);
        self.sum = t;
        self.carry += p_err + t_err;
    }

    fn value(self) -> f64 {
        self.sum + self.carry
    }
}

/// W·a + b (tangents pass no `bias`), each row's sum in column order, the bias last:
/// in plain f64 when ‖W‖_∞·max|a| + max|b| bounds it within range, else term by term
/// in wide range.
fn mul<T: Real>(par: Par, layer: &Layer<T>, bias: Option<&Array1<T>>, a: &[Wide]) -> Vec<Wide> {
    let w = &layer.weights;
    let bias_max = bias.map_or(0.0, |_| layer.bias_max);
    let bias = |i: usize| bias.map(|b| b[i].as_f64());
    if let Some((p, max)) = plain(layer, a) {
        if layer.norm * max + bias_max <= overflow_limit::<f64>() {
            return by_rows(par, w, |i, r| {
                let mut y = Dot2::ZERO;
                r.iter()
                    .zip(&p)
                    .for_each(|(&w, &a)| y.add_product(w.as_f64(), a));
                if let Some(b) = bias(i) {
                    y.add_product(b, 1.0);
                }
                Wide::from_f64(y.value())
            });
        }
    }
    let one = Wide::from_f64(1.0);
    by_rows(par, w, |i, r| {
        let r = r.to_slice().expect("row-major");
        // The terms W[i,j]·a_j, then b_i·1.
        let terms = || {
            r.iter()
                .map(|&w| w.as_f64())
                .zip(a.iter().copied())
                .chain(bias(i).map(|b| (b, one)))
        };
        // Two passes over the non-zero terms (a zero term's scale factor can overflow:
        // 0·inf): the largest term's exponent, then every term scaled to it.
        let nonzero = || terms().filter(|&(w, x)| w != 0.0 && x.m != 0.0);
        let Some(top) = nonzero().map(|(w, x)| number::split(w).1 + x.e).max() else {
            return Wide::ZERO;
        };
        let sum: f64 = nonzero()
            .map(|(w, x)| {
                let (m, e) = number::split(w);
                m * x.m * number::pow2(e + x.e - top)
            })
            .sum();
        Wide::scaled(sum, top)
    })
}

/// Wᵀ·g, streaming W's rows into one accumulator per column, each column's sum in row
/// order: in plain f64 when ‖W‖_∞·Σ|g| (≥ max|W|·Σ|g|) bounds it within range.
fn mul_t<T: Real>(par: Par, layer: &Layer<T>, g: &[Wide]) -> Vec<Wide> {
    let w = &layer.weights;
    let row = |i: usize, cols: &std::ops::Range<usize>| {
        let r = w.row(i);
        &r.to_slice().expect("row-major")[cols.clone()]
    };
    if let Some((p, _)) = plain(layer, g) {
        let sum: f64 = p.iter().map(|v| v.abs()).sum();
        if layer.norm * sum <= overflow_limit::<f64>() {
            return by_columns(par, w, |cols| {
                let mut acc = vec![Dot2::ZERO; cols.len()];
                for (i, &gi) in p.iter().enumerate().filter(|(_, g)| **g != 0.0) {
                    acc.iter_mut()
                        .zip(row(i, &cols))
                        .for_each(|(acc, &wij)| acc.add_product(wij.as_f64(), gi));
                }
                acc.into_iter().map(|a| Wide::from_f64(a.value())).collect()
            });
        }
    }
    by_columns(par, w, |cols| {
        let mut acc = vec![Acc::EMPTY; cols.len()];
        for (i, &gi) in g.iter().enumerate().filter(|(_, g)| g.m != 0.0) {
            acc.iter_mut()
                .zip(row(i, &cols))
                .for_each(|(acc, &wij)| acc.add_product(wij.as_f64(), gi));
        }
        acc.into_iter().map(Acc::wide).collect()
    })
}

/// The forward pass at one x: per layer, φ(y_k), φ'(y_k), φ''(y_k); and the
/// derivatives at x, each rounded to the output type at the end.
pub(crate) struct Primal<'n, T> {
    layers: &'n [Layer<T>],
    par: Par,
    x: Vec<Wide>,
    h: Vec<Vec<Wide>>,
    s: Vec<Vec<Wide>>,
    c: Vec<Vec<Wide>>,
    /// f's reverse sweep, once: the gradient, weight gradients and every HVP share it.
    of_f: std::cell::OnceCell<Adjoints>,
    /// Whether a result came out NaN (see [`Primal::failed`]).
    nan: std::cell::Cell<bool>,
}

/// A reverse sweep: ḡ_k, the adjoint of y_k, and a_k = W_kᵀ·ḡ_k (k = 1 … L; a_1 is
/// the adjoint of x).
struct Adjoints {
    g: Vec<Vec<Wide>>,
    a: Vec<Vec<Wide>>,
}

fn widen<T: Real>(v: ArrayView1<T>) -> Vec<Wide> {
    v.iter().map(|v| Wide::from_f64(v.as_f64())).collect()
}

impl<'n, T: Real> Primal<'n, T> {
    /// The forward pass of `layers` at x.
    pub(crate) fn new(layers: &'n [Layer<T>], par: Par, x: ArrayView1<T>) -> Self {
        let x = widen(x);
        let (mut h, mut s, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for layer in layers {
            let input = h.last().unwrap_or(&x);
            let y = mul(par, layer, layer.bias.as_ref(), input);
            let act = layer.activation;
            let (hk, (sk, ck)): (Vec<Wide>, (Vec<Wide>, Vec<Wide>)) = y
                .into_iter()
                .map(|y| {
                    let (v, s, c) = act.wide(y);
                    (v, (s, c))
                })
                .unzip();
            h.push(hk);
            s.push(sk);
            c.push(ck);
        }
        Primal {
            layers,
            par,
            x,
            h,
            s,
            c,
            of_f: std::cell::OnceCell::new(),
            nan: std::cell::Cell::new(false),
        }
    }

    /// Whether any result this pass handed out was NaN. Its arithmetic makes no NaN
    /// from finite inputs, so that would be a bug: the guard reports it as
    /// [`Error::Internal`](crate::Error::Internal) rather than return it.
    pub(crate) fn failed(&self) -> bool {
        self.nan.get()
    }

    /// `v` rounded to the output type, noting a NaN.
    fn round(&self, v: Wide) -> T {
        if v.is_nan() {
            self.nan.set(true);
        }
        v.to_real()
    }

    fn to_array(&self, v: &[Wide]) -> Array1<T> {
        v.iter().map(|&v| self.round(v)).collect()
    }

    /// F(x) = φ_L(y_L).
    pub(crate) fn output(&self) -> Array1<T> {
        self.to_array(self.h.last().expect("a layer"))
    }

    /// f(x) = Σ F_i(x), summed without overflow.
    pub(crate) fn value(&self) -> T {
        let mut acc = Acc::EMPTY;
        self.h
            .last()
            .expect("a layer")
            .iter()
            .for_each(|v| acc.add(v.m, v.e));
        self.round(acc.wide())
    }

    /// The reverse sweep from the seed u of F (all ones for f).
    fn adjoints(&self, u: &[Wide]) -> Adjoints {
        let depth = self.layers.len();
        let mut g: Vec<Wide> = u
            .iter()
            .zip(&self.s[depth - 1])
            .map(|(u, &s)| u.mul(s))
            .collect();
        let (mut gs, mut a_s) = (vec![Vec::new(); depth], vec![Vec::new(); depth]);
        for k in (0..depth).rev() {
            let a = mul_t(self.par, &self.layers[k], &g);
            // ḡ_{k−1} = φ'_{k−1} ∘ a_k.
            let next = match k {
                0 => Vec::new(),
                _ => a
                    .iter()
                    .zip(&self.s[k - 1])
                    .map(|(a, &s)| a.mul(s))
                    .collect(),
            };
            gs[k] = std::mem::replace(&mut g, next);
            a_s[k] = a;
        }
        Adjoints { g: gs, a: a_s }
    }

    /// f's reverse sweep (computed at the first call).
    fn of_f(&self) -> &Adjoints {
        self.of_f.get_or_init(|| {
            let ones = vec![Wide::from_f64(1.0); self.s[self.layers.len() - 1].len()];
            self.adjoints(&ones)
        })
    }

    /// uᵀ·J(x).
    pub(crate) fn vjp(&self, u: ArrayView1<T>) -> Array1<T> {
        self.to_array(&self.adjoints(&widen(u)).a[0])
    }

    /// ∇f(x) = 1ᵀ·J(x).
    pub(crate) fn grad(&self) -> Array1<T> {
        self.to_array(&self.of_f().a[0])
    }

    /// ∇_{W_k} f = ḡ_k·a_{k−1}ᵀ and ∇_{b_k} f = ḡ_k for every layer.
    pub(crate) fn weight_grads(&self) -> Vec<(Array2<T>, Array1<T>)> {
        self.of_f()
            .g
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let a = if k == 0 { &self.x } else { &self.h[k - 1] };
                let dw =
                    Array2::from_shape_fn((g.len(), a.len()), |(i, j)| self.round(g[i].mul(a[j])));
                (dw, self.to_array(g))
            })
            .collect()
    }

    /// The tangents ẏ_k of y_k along v (k = 1 … L): no bias in a tangent.
    fn tangents(&self, v: ArrayView1<T>) -> Vec<Vec<Wide>> {
        let mut t = widen(v);
        let mut out = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            if k > 0 {
                // The tangent of φ(y_{k−1}) is φ'_{k−1} ∘ ẏ_{k−1}.
                let prev: &Vec<Wide> = &out[k - 1];
                t = prev
                    .iter()
                    .zip(&self.s[k - 1])
                    .map(|(y, &s)| y.mul(s))
                    .collect();
            }
            out.push(mul(self.par, layer, None, &t));
        }
        out
    }

    /// J(x)·v = φ'_L(y_L) ∘ ẏ_L.
    pub(crate) fn jvp(&self, v: ArrayView1<T>) -> Array1<T> {
        let depth = self.layers.len();
        let t = self.tangents(v);
        t[depth - 1]
            .iter()
            .zip(&self.s[depth - 1])
            .map(|(t, &s)| self.round(t.mul(s)))
            .collect()
    }

    /// ∇²f(x)·v by forward-over-reverse, as [`hessian`](crate::hessian) does:
    /// ġ_L = φ''_L ∘ ẏ_L, ġ_{k−1} = φ'_{k−1} ∘ (W_kᵀ·ġ_k) + φ''_{k−1} ∘ ẏ_{k−1} ∘ (W_kᵀ·ḡ_k).
    pub(crate) fn hvp(&self, v: ArrayView1<T>) -> Array1<T> {
        let depth = self.layers.len();
        let t = self.tangents(v);
        let of_f = self.of_f();
        let mut gdot: Vec<Wide> = t[depth - 1]
            .iter()
            .zip(&self.c[depth - 1])
            .map(|(t, &c)| t.mul(c))
            .collect();
        for k in (1..depth).rev() {
            let a = &of_f.a[k];
            let adot = mul_t(self.par, &self.layers[k], &gdot);
            gdot = (0..a.len())
                .map(|i| {
                    let first = adot[i].mul(self.s[k - 1][i]);
                    let second = t[k - 1][i].mul(a[i]).mul(self.c[k - 1][i]);
                    first.add(second)
                })
                .collect();
        }
        self.to_array(&mul_t(self.par, &self.layers[0], &gdot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;

    #[test]
    fn huge_pre_activations_take_their_limits() {
        let huge = Wide::from_f64(1e308).mul(Wide::from_f64(1e308));
        let neg = huge.mul_f64(-1.0);
        let at = |a: Activation, y: Wide| a.wide(y);
        assert_eq!(at(Activation::Sigmoid, huge).0.to_f64(), 1.0);
        assert_eq!(at(Activation::Sigmoid, neg).0, Wide::ZERO);
        assert_eq!(at(Activation::Tanh, neg).0.to_f64(), -1.0);
        let one = Wide::from_f64(1.0);
        assert_eq!(at(Activation::Relu, huge), (huge, one, Wide::ZERO));
        assert_eq!(at(Activation::Softplus, neg).0, Wide::ZERO);
        assert_eq!(at(Activation::Gelu, huge).0, huge);
        assert_eq!(at(Activation::Silu, neg).0, Wide::ZERO);
        for a in Activation::ALL {
            let (v, s, c) = at(a, huge);
            assert!(!v.is_nan() && !s.is_nan() && !c.is_nan(), "{a}");
        }
        // In range, the f64 functions themselves.
        let (v, s, _) = at(Activation::Tanh, Wide::from_f64(0.3));
        assert_eq!(
            (v.to_f64(), s.to_f64()),
            Activation::Tanh.value_and_slope(0.3)
        );
    }
}
