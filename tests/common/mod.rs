//! What several test files build: the seed problem's two-layer network.
#![allow(dead_code)]

use fwdrev::{Activation, Mlp, Real, Result};
use ndarray::{Array2, ArrayView2};

/// f(x) = Σσ(B·σ(A·x)): two sigmoid layers, A then B.
pub fn sigmoid2<T: Real>(a: Array2<T>, b: Array2<T>) -> Result<Mlp<T>> {
    Mlp::new([(a, Activation::Sigmoid), (b, Activation::Sigmoid)])
}

/// The seeded two-layer network of widths (d0, d1, d2).
pub fn seeded<T: Real>(d0: usize, d1: usize, d2: usize, seed: u64) -> Result<Mlp<T>> {
    Mlp::from_seed(&[d0, d1, d2], Activation::Sigmoid, seed)
}

/// Layer k's weights (A for k = 0, B for k = 1).
pub fn w<T: Real>(net: &Mlp<T>, k: usize) -> ArrayView2<'_, T> {
    net.layers()[k].weights()
}

/// σ(t).
pub fn sigmoid(t: f64) -> f64 {
    Activation::Sigmoid.value_and_slope(t).0
}

/// σ'(t).
pub fn sigmoid_derivative(t: f64) -> f64 {
    Activation::Sigmoid.value_and_slope(t).1
}

/// (σ(t), σ'(t)) in any type.
pub fn sigmoid_and_derivative<T: Real>(t: T) -> (T, T) {
    Activation::Sigmoid.value_and_slope(t)
}
