//! Reverse mode: the Jacobian chain accumulated from the output side, every product a GEMV.
//!
//! ∇f = Aᵀ·(σ'(y1) ∘ (Bᵀ·σ'(y2))): two primal GEMVs (A·x, B·h1), two adjoint GEMVs
//! (Bᵀ·s2, Aᵀ·z). Cost 2·(d0·d1 + d1·d2) multiply-adds, bound by reading A and B twice.

use crate::linalg::gemv_t;
use crate::primal::evaluate;
use crate::Real;
use ndarray::{Array1, ArrayView1, ArrayView2};

/// (f(x), ∇f(x)) by reverse accumulation. Shapes are the caller's to check.
pub(crate) fn value_and_grad<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    x: ArrayView1<T>,
) -> (T, Array1<T>) {
    let p = evaluate(a, b, x);
    // z = Bᵀ·σ'(y2), then z ∘= σ'(y1): the adjoint of y1.
    let mut z = Array1::zeros(a.nrows());
    gemv_t(b, p.s2.view(), z.view_mut());
    z.zip_mut_with(&p.s1, |z, &s| *z = *z * s);
    // ∇f = Aᵀ·z
    let mut grad = Array1::zeros(a.ncols());
    gemv_t(a, z.view(), grad.view_mut());
    (p.f, grad)
}
