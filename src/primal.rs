//! The evaluation both modes start from: f(x) and the activation slopes they reuse.

use crate::activation::sigmoid_and_derivative;
use crate::linalg::gemv;
use crate::{Real, Workspace};
use ndarray::{ArrayView1, ArrayView2, Zip};

/// y1 = A·x, h1 = σ(y1), y2 = B·h1. Leaves σ(y1), σ'(y1), σ'(y2) in `ws.h1`, `ws.s1`,
/// `ws.s2` and returns f = Σσ(y2).
pub(crate) fn evaluate<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
) -> T {
    gemv(a, x, ws.h1.view_mut());
    // h1 holds y1; overwrite it with σ(y1), and s1 with σ'(y1).
    Zip::from(&mut ws.h1).and(&mut ws.s1).for_each(|y, s| {
        let (h, ds) = sigmoid_and_derivative(*y);
        *y = h;
        *s = ds;
    });
    gemv(b, ws.h1.view(), ws.s2.view_mut());
    // s2 holds y2; overwrite it with σ'(y2) while summing σ(y2).
    let mut f = T::zero();
    ws.s2.mapv_inplace(|y| {
        let (h, ds) = sigmoid_and_derivative(y);
        f = f + h;
        ds
    });
    f
}
