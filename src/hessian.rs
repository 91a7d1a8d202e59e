//! Second derivatives of f = ΣF: Hessian-vector products by forward-over-reverse.
//!
//! The reverse sweep ḡ_L = φ'_L(y_L), ḡ_{k−1} = φ'_{k−1}(y_{k−1}) ∘ (W_kᵀ·ḡ_k),
//! ∇f = W_1ᵀ·ḡ_1, differentiated along a direction v (tangents ẏ_k from the forward sweep,
//! ẏ_k = W_k·(φ'_{k−1}(y_{k−1}) ∘ ẏ_{k−1}), ẏ_0 = v) gives
//!
//! ```text
//! ġ_L     = φ''_L(y_L) ∘ ẏ_L
//! ġ_{k−1} = φ'_{k−1} ∘ (W_kᵀ·ġ_k) + φ''_{k−1} ∘ ẏ_{k−1} ∘ (W_kᵀ·ḡ_k)
//! ∇²f·v   = W_1ᵀ·ġ_1
//! ```
//!
//! With w directions at once every product is one GEMM over [ḡ | Ġ] (1 + w columns),
//! so W_k is read once per sweep: the Hessian is d0 directions in panels.

use crate::forward::{panel_width, tangent_sweep};
use crate::linalg::gemm_t_few;
use crate::memory::{bytes_of, ensure_fits};
use crate::{Error, Layer, Real, Result};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

/// (∇f(x), ∇²f(x)·V) for the columns of V (d0×w).
pub(crate) fn hvps<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    v: ArrayView2<T>,
) -> (Array1<T>, Array2<T>) {
    let sweep = tangent_sweep(layers, x, v);
    let depth = layers.len();
    // [ḡ_L | Ġ_L]
    let mut g = sweep[depth - 1].clone();
    let act = layers[depth - 1].activation;
    g.axis_iter_mut(Axis(0)).for_each(|mut row| {
        let y = row[0];
        let (_, d) = act.value_and_slope(y);
        let c = act.curvature(y);
        row[0] = d;
        row.iter_mut().skip(1).for_each(|t| *t = c * *t);
    });
    for k in (0..depth).rev() {
        // [W_kᵀ·ḡ_k | W_kᵀ·Ġ_k]
        let w = layers[k].weights.view();
        let mut a = Array2::zeros((w.ncols(), g.ncols()));
        gemm_t_few(w, g.view(), a.view_mut());
        if k == 0 {
            let grad = a.column(0).to_owned();
            return (grad, a.slice_move(s![.., 1..]));
        }
        let act = layers[k - 1].activation;
        let q = &sweep[k - 1];
        a.axis_iter_mut(Axis(0))
            .zip(q.axis_iter(Axis(0)))
            .for_each(|(mut row, q)| {
                let y = q[0];
                let (_, d) = act.value_and_slope(y);
                let c = act.curvature(y);
                let adj = row[0];
                row[0] = d * adj;
                row.iter_mut()
                    .skip(1)
                    .zip(q.iter().skip(1))
                    .for_each(|(t, &yd)| *t = d * *t + c * yd * adj);
            });
        g = a;
    }
    unreachable!("the loop returns at the first layer")
}

/// ∇²f(x), d0×d0: products with the columns of I, in panels within `budget` bytes.
pub(crate) fn hessian<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    budget: usize,
) -> Result<Array2<T>> {
    let d0 = layers[0].weights.ncols();
    let rows: Vec<usize> = layers.iter().map(|l| l.weights.nrows()).collect();
    let widest = rows.iter().copied().max().unwrap_or(0).max(d0);
    // Per direction: the sweep's tangents of every layer, the sweep's and the reverse
    // sweep's two working columns, and the direction and result columns.
    let per_column = rows.iter().sum::<usize>() + 3 * widest + 2 * d0;
    let size = std::mem::size_of::<T>();
    let width = panel_width(d0, per_column, size, budget).map_err(|_| Error::TooLarge {
        what: format!("one Hessian panel column ({per_column} values)"),
        needed: per_column.saturating_mul(size) as u64,
        available: budget as u64,
    })?;
    ensure_fits(
        || format!("the Hessian ({d0}×{d0}) and its panels"),
        bytes_of(
            &[d0, d0 + per_column.saturating_mul(width) / d0.max(1) + 1],
            size,
        ),
    )?;
    let mut h = Array2::zeros((d0, d0));
    for c0 in (0..d0).step_by(width) {
        let w = width.min(d0 - c0);
        let mut v = Array2::zeros((d0, w));
        (0..w).for_each(|j| v[[c0 + j, j]] = T::one());
        let (_, hv) = hvps(layers, x, v.view());
        h.slice_mut(s![.., c0..c0 + w]).assign(&hv);
    }
    Ok(h)
}
