//! The evaluation both modes start from: f(x) and the activation slopes they reuse.

use crate::activation::sigmoid_and_derivative;
use crate::linalg::gemv;
use crate::Real;
use ndarray::{Array1, ArrayView1, ArrayView2, Zip};

/// f(x) and what the derivative sweeps need of the evaluation.
pub(crate) struct Primal<T> {
    /// f(x) = Σ σ(y2).
    pub f: T,
    /// σ'(y1), y1 = A·x (d1).
    pub s1: Array1<T>,
    /// σ'(y2), y2 = B·σ(y1) (d2).
    pub s2: Array1<T>,
}

/// y1 = A·x, h1 = σ(y1), y2 = B·h1; returns f = Σσ(y2), σ'(y1), σ'(y2).
pub(crate) fn evaluate<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, x: ArrayView1<T>) -> Primal<T> {
    let (d1, d2) = (a.nrows(), b.nrows());
    let mut y1 = Array1::zeros(d1);
    gemv(a, x, y1.view_mut());
    // y1 becomes h1 = σ(y1) in place; s1 = σ'(y1).
    let mut s1 = Array1::zeros(d1);
    Zip::from(&mut y1).and(&mut s1).for_each(|y, s| {
        let (h, ds) = sigmoid_and_derivative(*y);
        *y = h;
        *s = ds;
    });
    let mut y2 = Array1::zeros(d2);
    gemv(b, y1.view(), y2.view_mut());
    let mut f = T::zero();
    // y2 becomes s2 = σ'(y2) in place.
    y2.mapv_inplace(|y| {
        let (h, ds) = sigmoid_and_derivative(y);
        f = f + h;
        ds
    });
    Primal { f, s1, s2: y2 }
}
