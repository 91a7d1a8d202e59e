//! Reverse mode: the Jacobian chain accumulated from the output side, every product a
//! matrix-vector one.
//!
//! ∇f = Aᵀ·(σ'(y1) ∘ (Bᵀ·σ'(y2))). Cost 2·(d0·d1 + d1·d2) multiply-adds, bound by memory
//! traffic: A is read twice (A·x, then Aᵀ·z, both BLAS GEMVs) and B **once**. Row i of B
//! gives y2_i = B[i,:]·σ(y1), hence σ(y2_i), σ'(y2_i), and its share σ'(y2_i)·B[i,:] of
//! Bᵀ·σ'(y2) while the row is still in cache (PyTorch and JAX read B twice).

use crate::linalg::gemv_t;
use crate::primal::{first_layer, second_layer};
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
    first_layer(a, x, ws);
    let f = second_layer(b, ws, true);
    // z ∘= σ'(y1): the adjoint of y1.
    ws.z.zip_mut_with(&ws.s1, |z, &s| *z = *z * s);
    // ∇f = Aᵀ·z
    gemv_t(a, ws.z.view(), grad);
    f
}
