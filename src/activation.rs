//! The logistic sigmoid and its derivative, in forms that neither overflow nor cancel.
//!
//! With e = exp(−|t|) ∈ (0, 1]:
//! σ(t) = 1/(1+e) for t ≥ 0 and e/(1+e) for t < 0, σ'(t) = e/(1+e)² = 1/(2(1+cosh t)).
//! No exp of a positive number is taken, so nothing overflows; σ' is computed directly
//! rather than as σ(1−σ), which is 0 once σ rounds to 1 (t ≳ 37 in f64) while the true
//! value is e^−t, down to ~1e−308. For |t| = ∞ both are exact (σ ∈ {0, 1}, σ' = 0).

use crate::Real;

/// σ(t) = 1/(1+e^−t), without overflow for any t.
#[inline]
pub fn sigmoid<T: Real>(t: T) -> T {
    sigmoid_and_derivative(t).0
}

/// σ'(t) = σ(t)(1−σ(t)) = e/(1+e)² with e = exp(−|t|): finite for every t, exact in the tails.
#[inline]
pub fn sigmoid_derivative<T: Real>(t: T) -> T {
    sigmoid_and_derivative(t).1
}

/// (σ(t), σ'(t)) from a single exp.
#[inline]
pub fn sigmoid_and_derivative<T: Real>(t: T) -> (T, T) {
    let one = T::one();
    let e = (-t.abs()).exp();
    let r = one / (one + e);
    let s = if t >= T::zero() { r } else { e * r };
    (s, e * r * r)
}
