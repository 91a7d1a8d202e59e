//! The one decision between the fast kernels and the wide-range path ([`wide`]).
//!
//! Entries may be as large as the type allows (±f64::MAX). Before a call runs, a bound
//! on its forward pass: every partial sum of y_k = W_k·a_{k−1} + b_k, in any order, is
//! at most ‖W_k‖_∞·max|a_{k−1}| + max|b_k|, and the activation bounds max|a_k|
//! ([`Activation::bound`](crate::Activation)). Within f64's range (with a margin of 2⁸
//! for rounding) the pre-activations are right, and an overflow anywhere later — a
//! product of the Jacobian chain, a sum of the output — can only leave a non-finite
//! result: IEEE ±inf and NaN never turn finite through sums and products.
//!
//! The kernels also flush values, slopes and curvatures below ε·√(smallest normal) in
//! the activations' tails (`activation.rs`), which the same bound rules out where every
//! |y_k| stays within its activation's flush radius. Otherwise: each flushed slope or
//! curvature is off by at most δ = ε·√(smallest normal), each flushed value by at most
//! the smallest normal number ν, and per layer they form a diagonal perturbation that
//! the chain carries with operator norms. A result of order p (1: values and first
//! derivatives; 2: Hessians and HVPs) moves by at most
//! B = 6L·d_L·(δ·(G·X)^p + ν·(G·X)^(p+1)), G = Π_k max(1, ‖W_k‖_∞, ‖W_k‖_1)·max(1,
//! |φ_k'|, |φ_k''|, |φ_k‴|), X = max(1, |x|, |v|, |u|, every |a_k|): a slope enters
//! linearly; a value enters the next pre-activation, hence that layer's slopes, one
//! chain deeper. An entry of magnitude ≥ 4B/ε has lost at most a quarter of an ulp to
//! the flushes. Where some entry is smaller (a zero, say), a forward pass checks whether
//! any unit actually came near a flush; only if one did are those entries redone.
//!
//! So a call runs fast where the forward bound holds, keeps the entries of its result
//! that are finite and large enough, and redoes the rest in wide range, where nothing
//! is flushed or overflows; where the bound fails, it runs wide. Ordinary inputs never
//! take the wide path.
//!
//! [`wide`]: crate::wide

use crate::scan;
use crate::wide::Primal;
use crate::{Activation, Error, Layer, Par, Real, Result};
use ndarray::{ArrayView, ArrayView1, Dimension};

/// How large a bound on every partial sum may be for a product in `T` to run as plain
/// floating point: the type's maximum over 2⁸, a margin for rounding. This guard and
/// the wide path's plain-f64 products both use it.
pub(crate) fn overflow_limit<T: Real>() -> f64 {
    T::max_value().as_f64() / 256.0
}

/// What the forward bound says of a call at x: the largest |a_k| (k = 0 … L, a_0 = x)
/// it allows, and whether some |y_k| may reach the flushes (beyond its activation's
/// [`flush_radius`](Activation::flush_radius)); `None` where the fast forward pass
/// could overflow (see the module).
fn forward_bound<T: Real>(layers: &[Layer<T>], x: ArrayView1<T>) -> Option<(f64, bool)> {
    let limit = overflow_limit::<T>();
    let mut a = scan::max_abs(x);
    let (mut largest, mut flushes) = (a, false);
    for layer in layers {
        let y = layer.norm * a + layer.bias_max;
        // NaN (an infinite norm times a zero input) is unbounded too.
        if y.is_nan() || y > limit {
            return None;
        }
        flushes |= y > layer.activation.flush_radius::<T>();
        a = layer.activation.bound(y);
        largest = largest.max(a);
    }
    Some((largest, flushes))
}

/// What a call's entries are made of, for the flushes' bound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terms {
    /// How many chains of the network an entry multiplies: 1 for values and first
    /// derivatives, 2 for Hessians and HVPs.
    pub(crate) order: i32,
    /// The largest |entry| of the call's other inputs (v or u; 0 without).
    pub(crate) inputs: f64,
}

impl Terms {
    /// A value or first derivative at x alone.
    pub(crate) const FIRST: Terms = Terms {
        order: 1,
        inputs: 0.0,
    };

    /// Hessian entries: second order along unit vectors.
    pub(crate) const SECOND: Terms = Terms {
        order: 2,
        inputs: 1.0,
    };

    /// A call of `order` along `v` (v or u, or the columns of V).
    pub(crate) fn along<T: Real, D: Dimension>(order: i32, v: ArrayView<T, D>) -> Terms {
        Terms {
            order,
            inputs: scan::max_abs(v),
        }
    }
}

/// Which entries of a fast result to keep: finite, and at least `floor` in magnitude
/// (0 where no layer flushes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trust {
    floor: f64,
}

impl Trust {
    /// For `terms` on `layers`, whose forward bound allows |a_k| ≤ `a_max`.
    fn new<T: Real>(layers: &[Layer<T>], a_max: f64, terms: Terms) -> Trust {
        let g = layers.iter().fold(1.0_f64, |g, l| {
            g * l.norm.max(l.norm_1).max(1.0) * l.activation.max_derivative()
        });
        let x = a_max.max(terms.inputs).max(1.0);
        let sources = 6.0 * layers.len() as f64 * layers[layers.len() - 1].weights.nrows() as f64;
        let chain = (g * x).powi(terms.order);
        let values = T::min_positive_value().as_f64() * chain * g * x;
        let moved = sources * (Activation::flush_floor::<T>() * chain + values);
        Trust {
            floor: 4.0 * moved / T::epsilon().as_f64(),
        }
    }

    /// Nothing is kept: the wide path computes every entry.
    const NONE: Trust = Trust {
        floor: f64::INFINITY,
    };

    /// Every finite entry is kept: no flush happened.
    const FINITE: Trust = Trust { floor: 0.0 };

    /// Whether `v` is kept.
    pub(crate) fn entry<T: Real>(self, v: T) -> bool {
        // `&`, not `&&`: no branch, so that scans of many entries run on vector lanes.
        v.is_finite() & (v.abs().as_f64() >= self.floor)
    }

    /// Whether every entry is kept.
    pub(crate) fn all<T: Real, D: Dimension>(self, a: ArrayView<T, D>) -> bool {
        scan::every(a, |v| self.entry(v))
    }
}

/// Whether the fast forward pass at x flushes anything, or comes within 2⁻¹⁰ of its
/// |y| of a flush (sums in another order round differently): the pass again, in `T`,
/// each unit checked.
fn flushed<T: Real>(layers: &[Layer<T>], x: ArrayView1<T>) -> bool {
    let mut a = x.to_owned();
    for layer in layers {
        let mut y = crate::backend::mat_vec_new(layer.weights.view(), a.view());
        if let Some(b) = &layer.bias {
            y.zip_mut_with(b, |y, &b| *y = *y + b);
        }
        let act = layer.activation;
        if y.iter()
            .any(|&t| act.flushes(t * T::from_f64(1.0 + 1.0 / 1024.0)))
        {
            return true;
        }
        a = y.mapv(|t| act.value_and_slope(t).0);
    }
    false
}

/// Runs one call at x into `out`: `fast` where the forward bound holds; then, unless
/// `trusted` accepts the fast result (every entry finite, and large enough or no flush
/// made: see [`Trust`] and the module), `wide` — given the fast result
/// where there is one (`None` where the bound failed and `fast` did not run, leaving
/// `out` unwritten, and then a [`Trust`] that keeps nothing), so that it redoes only
/// what is not kept.
// One argument per part of the decision; bundling them would only name the bundle.
#[allow(clippy::too_many_arguments)]
pub(crate) fn guarded<T: Real, O: ?Sized, R>(
    layers: &[Layer<T>],
    par: Par,
    x: ArrayView1<T>,
    terms: Terms,
    out: &mut O,
    fast: impl FnOnce(&mut O) -> Result<R>,
    trusted: impl Fn(&R, &O, Trust) -> bool,
    wide: impl FnOnce(Option<R>, &mut O, &Primal<T>, Trust) -> R,
) -> Result<R> {
    let (ran, trust) = match forward_bound(layers, x) {
        Some((a_max, flushes)) => {
            let r = fast(out)?;
            let mut trust = match flushes {
                true => Trust::new(layers, a_max, terms),
                false => Trust::FINITE,
            };
            if trusted(&r, out, trust) {
                return Ok(r);
            }
            // Entries too small for the bound: did a flush happen at all?
            if flushes && !flushed(layers, x) {
                trust = Trust::FINITE;
                if trusted(&r, out, trust) {
                    return Ok(r);
                }
            }
            (Some(r), trust)
        }
        None => (None, Trust::NONE),
    };
    let primal = Primal::new(layers, par, x);
    let r = wide(ran, out, &primal, trust);
    if primal.failed() {
        return Err(Error::Internal {
            what: "the wide-range path produced NaN from finite inputs".into(),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// The largest |entry| of V, contiguous or not, as a plain fold finds it.
    #[test]
    fn terms_along_a_matrix_take_its_largest_entry() {
        let v = Array2::from_shape_fn((7, 9), |(i, j)| ((i * 9 + j) as f64 * 0.7).sin() * 3.0);
        for view in [v.view(), v.slice(s![.., 1..6;2]), v.t()] {
            let plain = view.iter().fold(0.0_f64, |m, e| m.max(e.abs()));
            assert_eq!(Terms::along(2, view).inputs, plain);
            assert_eq!(Terms::along(2, view).order, 2);
        }
    }
}
