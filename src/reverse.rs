//! Reverse mode: the Jacobian chain accumulated from the output side, every product a GEMV.
//!
//! ∇f = Aᵀ·(σ'(y1) ∘ (Bᵀ·σ'(y2))): two primal GEMVs (A·x, B·h1), two adjoint GEMVs
//! (Bᵀ·s2, Aᵀ·z). Cost 2·(d0·d1 + d1·d2) multiply-adds, bound by reading A and B twice.

use crate::linalg::gemv_t;
use crate::primal::evaluate;
use crate::{Real, Workspace};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1};

/// f(x), with ∇f(x) written to `grad`, by reverse accumulation. Shapes are the caller's
/// to check.
pub(crate) fn value_and_grad<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
    grad: ArrayViewMut1<T>,
) -> T {
    let f = evaluate(a, b, x, ws);
    // z = Bᵀ·σ'(y2), then z ∘= σ'(y1): the adjoint of y1.
    gemv_t(b, ws.s2.view(), ws.z.view_mut());
    ws.z.zip_mut_with(&ws.s1, |z, &s| *z = *z * s);
    // ∇f = Aᵀ·z
    gemv_t(a, ws.z.view(), grad);
    f
}
