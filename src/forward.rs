//! Forward mode: the Jacobian chain accumulated from the input side.
//!
//! For the two-layer network J = σ'(y2)ᵀ · (B · (diag(σ'(y1)) · A)); for L layers
//! ∇fᵀ = φ'_Lᵀ·W_L·D_{L−1}·W_{L−1}···D_1·W_1 with D_k = diag(φ'_k(y_k)), bracketed from
//! the right. The inner products are dense: B·(D1·A) costs d0·d1·d2 multiply-adds, which
//! is why forward mode loses to reverse mode for a scalar output. W_1 is taken in column
//! panels P so that no d_k×d0 temporary is held: for each P
//!
//! 1. S = D_1·W_1\[:, P\]              (d1×w, rows scaled in parallel under rayon)
//! 2. S ← D_k·(W_k·S), k = 2 … L−1     (one GEMM each)
//! 3. M = W_L·S, ∇f\[P\] = Mᵀ·φ'_L(y_L) (a GEMM, then the weighted column sums of M)
//!
//! The panel width w is the widest whose two ping-pong buffers fit in the memory budget.
//! `jvp` ([`Mlp::jvp`](crate::Mlp::jvp)) is the same sweep with one tangent column: J·v,
//! each W_k read once for the value and the tangent.

use crate::diagonal::{scale_rows_in_place, scale_rows_into};
use crate::linalg::{gemm, gemm_few, gemv_t};
use crate::memory::{bytes_of, ensure_fits};
use crate::primal::evaluate;
use crate::{Error, Layer, Real, Result, Workspace};
use ndarray::{
    concatenate, s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis,
};

/// Columns of W_1 per panel: the most whose buffers, `per_column` values of `size`
/// bytes each, fit in `budget` bytes, spread evenly over the panels.
pub fn panel_width(d0: usize, per_column: usize, size: usize, budget: usize) -> Result<usize> {
    let bytes = per_column.saturating_mul(size);
    let widest = budget / bytes.max(1);
    if widest == 0 {
        return Err(Error::TooLarge {
            what: format!("one panel column ({per_column} values of {size} bytes)"),
            needed: bytes as u64,
            available: budget as u64,
        });
    }
    let panels = d0.div_ceil(widest.min(d0));
    Ok(d0.div_ceil(panels))
}

/// Values per panel column of forward mode's two buffers: layers 1, 3, 5, … use the
/// first, layers 2, 4, … the second (d1 + d2 for the two-layer network).
pub fn panel_values(widths: &[usize]) -> (usize, usize) {
    let odd = widths.iter().skip(1).step_by(2).copied().max().unwrap_or(0);
    let even = widths.iter().skip(2).step_by(2).copied().max().unwrap_or(0);
    (odd, even)
}

/// f(x), with ∇f(x) written to `grad`, by forward accumulation, holding at most
/// `budget` bytes of panels. Shapes are the caller's to check.
pub(crate) fn value_and_grad<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    budget: usize,
    ws: &mut Workspace<T>,
    mut grad: ArrayViewMut1<T>,
) -> Result<T> {
    let depth = layers.len();
    let d0 = layers[0].weights.ncols();
    let size = std::mem::size_of::<T>();
    let (odd, even) = panel_values(&ws.widths);
    let width = panel_width(d0, odd + even, size, budget)?;
    // The panels are allocated on first use: refuse up front if they cannot fit.
    if ws.panels[0].len() < odd * width || ws.panels[1].len() < even * width {
        ensure_fits(
            || format!("forward-mode panels ({odd} + {even}) × {width}"),
            bytes_of(&[odd + even, width], size),
        )?;
    }
    let f = evaluate(layers, x, ws, false);
    let slopes = std::mem::take(&mut ws.s);
    let (buf_a, buf_b) = ws.panels(odd * width, even * width);
    for c0 in (0..d0).step_by(width) {
        let w = width.min(d0 - c0);
        let w1 = layers[0].weights.slice(s![.., c0..c0 + w]);
        let mut rows = w1.nrows();
        // 1. S = D_1·W_1[:, P], into the first buffer.
        let first = ArrayViewMut2::from_shape((rows, w), &mut buf_a[..rows * w]).expect("fits");
        scale_rows_into(first, w1, slopes[0].view());
        let mut in_first = true;
        for (k, layer) in layers.iter().enumerate().skip(1) {
            let (src, dst) = if in_first {
                (&*buf_a, &mut *buf_b)
            } else {
                (&*buf_b, &mut *buf_a)
            };
            let cur = ArrayView2::from_shape((rows, w), &src[..rows * w]).expect("fits");
            rows = layer.weights.nrows();
            let mut m = ArrayViewMut2::from_shape((rows, w), &mut dst[..rows * w]).expect("fits");
            // 2./3. M = W_k·S, then S ← D_k·M before the next layer.
            gemm(layer.weights.view(), cur, m.view_mut());
            if k + 1 < depth {
                scale_rows_in_place(&mut m, slopes[k].view());
            }
            in_first = !in_first;
        }
        let src = if in_first { &*buf_a } else { &*buf_b };
        let cur = ArrayView2::from_shape((rows, w), &src[..rows * w]).expect("fits");
        // 3. ∇f[P] = Mᵀ·φ'_L (one layer: W_1[:, P]ᵀ·φ'_1, S unscaled).
        let target = grad.slice_mut(s![c0..c0 + w]);
        if depth == 1 {
            gemv_t(w1, slopes[0].view(), target);
        } else {
            gemv_t(cur.view(), slopes[depth - 1].view(), target);
        }
    }
    ws.s = slopes;
    Ok(f)
}

/// The forward sweep carrying tangents: for each layer k, [y_k | Ẏ_k] = W_k·[a_{k−1} | Ȧ_{k−1}]
/// (d_k × (1+w), one product reading W_k once for the value and all w tangents: the
/// crate's kernels for up to [`FEW`](crate::linalg::FEW) columns, else a GEMM), where
/// a_k = φ_k(y_k), Ȧ_k = φ'_k(y_k) ∘ Ẏ_k, a_0 = x, Ȧ_0 = V.
pub(crate) fn tangent_sweep<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    v: ArrayView2<T>,
) -> Vec<Array2<T>> {
    let mut input = concatenate(Axis(1), &[x.insert_axis(Axis(1)), v]).expect("same rows");
    let mut sweep = Vec::with_capacity(layers.len());
    for layer in layers {
        let mut q = Array2::zeros((layer.weights.nrows(), input.ncols()));
        gemm_few(layer.weights.view(), input.view(), q.view_mut());
        let mut next = q.clone();
        let act = layer.activation;
        next.axis_iter_mut(Axis(0)).for_each(|mut row| {
            let (a, s) = act.value_and_slope(row[0]);
            row[0] = a;
            row.iter_mut().skip(1).for_each(|t| *t = *t * s);
        });
        sweep.push(q);
        input = next;
    }
    sweep
}

/// (F(x), J(x)·v) in one forward sweep.
pub(crate) fn jvp<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    v: ArrayView1<T>,
) -> (Array1<T>, Array1<T>) {
    let sweep = tangent_sweep(layers, x, v.insert_axis(Axis(1)));
    let last = sweep.last().expect("one layer at least");
    let act = layers[layers.len() - 1].activation;
    let (mut out, mut jv) = (Array1::zeros(last.nrows()), Array1::zeros(last.nrows()));
    for ((row, o), t) in last.rows().into_iter().zip(&mut out).zip(&mut jv) {
        let (a, s) = act.value_and_slope(row[0]);
        *o = a;
        *t = s * row[1];
    }
    (out, jv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_the_columns_evenly_within_the_budget() {
        // 10 columns, 2 values per column of 8 bytes: a 48-byte budget allows 3 columns,
        // so 4 panels, spread as width 3 (3+3+3+1 → even: ceil(10/4) = 3).
        assert_eq!(panel_width(10, 2, 8, 48).unwrap(), 3);
        assert_eq!(panel_width(10, 2, 8, 1 << 20).unwrap(), 10);
        // 7 columns at budget for 4: two panels of 4 and 3, not 4 + 3 by luck.
        assert_eq!(panel_width(7, 2, 8, 64).unwrap(), 4);
        assert_eq!(panel_width(9, 2, 8, 128).unwrap(), 5);
        assert!(matches!(
            panel_width(10, 200, 8, 1599),
            Err(Error::TooLarge {
                needed: 1600,
                available: 1599,
                ..
            })
        ));
    }

    #[test]
    fn the_two_buffers_hold_alternate_layers() {
        assert_eq!(panel_values(&[5, 7, 3]), (7, 3));
        assert_eq!(panel_values(&[5, 7, 3, 9, 2]), (9, 3));
        assert_eq!(panel_values(&[5, 7]), (7, 0));
    }
}
