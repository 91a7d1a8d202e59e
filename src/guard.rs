//! The one decision between the fast kernels and the wide-range path ([`wide`]).
//!
//! Entries may be as large as the type allows (±f64::MAX). Before a call runs, a bound
//! on its forward pass: every partial sum of y_k = W_k·a_{k−1} + b_k, in any order, is
//! at most ‖W_k‖_∞·max|a_{k−1}| + max|b_k|, and the activation bounds max|a_k|
//! ([`Activation::bound`](crate::Activation)). Within f64's range (with a margin of 2⁸
//! for rounding) the pre-activations are right, and an overflow anywhere later — a
//! product of the Jacobian chain, a sum of the output — can only leave a non-finite
//! result: IEEE ±inf and NaN never turn finite through sums and products. The same
//! holds for the marks the fast kernels put where an activation's value, slope or
//! curvature is too small for them (`activation.rs`): NaN, which reaches exactly the
//! results the tiny value reaches. So a call runs fast where the bound holds, keeps the
//! parts of its result that must be finite and are, and redoes the rest in wide range,
//! where nothing is flushed; where the bound fails, it runs wide. Ordinary inputs
//! never take the wide path.
//!
//! [`wide`]: crate::wide

use crate::wide::Primal;
use crate::{Error, Layer, Par, Real, Result};
use ndarray::ArrayView1;

/// How large a bound on every partial sum may be for a product in `T` to run as plain
/// floating point: the type's maximum over 2⁸, a margin for rounding. This guard and
/// the wide path's plain-f64 products both use it.
pub(crate) fn overflow_limit<T: Real>() -> f64 {
    T::max_value().as_f64() / 256.0
}

/// Whether the fast forward pass cannot overflow at x (see the module).
pub(crate) fn forward_is_bounded<T: Real>(layers: &[Layer<T>], x: ArrayView1<T>) -> bool {
    let limit = overflow_limit::<T>();
    let mut a = x.iter().fold(0.0_f64, |m, v| m.max(v.as_f64().abs()));
    for layer in layers {
        let y = layer.norm * a + layer.bias_max;
        // NaN (an infinite norm times a zero input) is unbounded too.
        if y.is_nan() || y > limit {
            return false;
        }
        a = layer.activation.bound(y);
    }
    true
}

/// Runs one call at x into `out`: `fast` where the forward bound holds; then, unless
/// `trusted` accepts the fast result, `wide` — given the fast result where there is one
/// (`None` where the bound failed and `fast` did not run, leaving `out` unwritten), so
/// that it redoes only what must be finite and is not.
pub(crate) fn guarded<T: Real, O: ?Sized, R>(
    layers: &[Layer<T>],
    par: Par,
    x: ArrayView1<T>,
    out: &mut O,
    fast: impl FnOnce(&mut O) -> Result<R>,
    trusted: impl FnOnce(&R, &O) -> bool,
    wide: impl FnOnce(Option<R>, &mut O, &Primal<T>) -> R,
) -> Result<R> {
    let ran = if forward_is_bounded(layers, x) {
        let r = fast(out)?;
        if trusted(&r, out) {
            return Ok(r);
        }
        Some(r)
    } else {
        None
    };
    let primal = Primal::new(layers, par, x);
    let r = wide(ran, out, &primal);
    if primal.failed() {
        return Err(Error::Internal {
            what: "the wide-range path produced NaN from finite inputs".into(),
        });
    }
    Ok(r)
}

/// Whether every entry is finite.
pub(crate) fn all_finite<'a, T: Real + 'a>(a: impl IntoIterator<Item = &'a T>) -> bool {
    a.into_iter().all(|v| v.is_finite())
}
