//! Forward mode: the Jacobian chain accumulated from the input side.
//!
//! J = σ'(y2)ᵀ · (B · (diag(σ'(y1)) · A)). The inner products are dense: B·(D1·A) costs
//! d0·d1·d2 multiply-adds, which is why forward mode loses to reverse mode for a
//! scalar output. A is taken in column panels P so that no d1×d0 or d2×d0 temporary is
//! held: for each P
//!
//! 1. S_P = diag(σ'(y1))·A_P  (d1×w, rows scaled in parallel under rayon)
//! 2. M_P = B·S_P             (d2×w, one GEMM)
//! 3. ∇f\[P\] = M_Pᵀ·σ'(y2)      (w, the σ'(y2)-weighted column sums of M_P)
//!
//! The panel width w is the widest whose S_P and M_P fit in the memory budget.

use crate::linalg::{gemm, gemv_t};
use crate::memory::{bytes_of, ensure_fits};
use crate::primal::evaluate;
use crate::{Error, Real, Result, Workspace};
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

/// Columns of A per panel: the most whose two panel buffers, (d1 + d2)·w values of
/// `size` bytes, fit in `budget` bytes, spread evenly over the panels.
pub fn panel_width(d0: usize, d1: usize, d2: usize, size: usize, budget: usize) -> Result<usize> {
    let per_column = (d1 + d2).saturating_mul(size);
    let widest = budget / per_column.max(1);
    if widest == 0 {
        return Err(Error::TooLarge {
            what: format!(
                "one forward-mode panel column (d1 + d2 = {} values of {size} bytes)",
                d1 + d2
            ),
            needed: per_column as u64,
            available: budget as u64,
        });
    }
    let panels = d0.div_ceil(widest.min(d0));
    Ok(d0.div_ceil(panels))
}

/// f(x), with ∇f(x) written to `grad`, by forward accumulation, holding at most
/// `budget` bytes of panels. Shapes are the caller's to check.
pub(crate) fn value_and_grad<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    x: ArrayView1<T>,
    budget: usize,
    ws: &mut Workspace<T>,
    mut grad: ArrayViewMut1<T>,
) -> Result<T> {
    let ((d1, d0), d2) = (a.dim(), b.nrows());
    let size = std::mem::size_of::<T>();
    let width = panel_width(d0, d1, d2, size, budget)?;
    // The panels are allocated on first use: refuse up front if they cannot fit.
    if ws.panel_s.len() < d1 * width || ws.panel_m.len() < d2 * width {
        ensure_fits(
            || format!("forward-mode panels ({d1} + {d2}) × {width}"),
            bytes_of(&[d1 + d2, width], size),
        )?;
    }
    let f = evaluate(a, b, x, ws);
    let s1 = std::mem::take(&mut ws.s1);
    let s2 = std::mem::take(&mut ws.s2);
    let (s_buf, m_buf) = ws.panels(width);
    for c0 in (0..d0).step_by(width) {
        let w = width.min(d0 - c0);
        let a_p = a.slice(s![.., c0..c0 + w]);
        let mut s_p = ArrayViewMut2::from_shape((d1, w), &mut s_buf[..d1 * w]).expect("fits");
        let mut m_p = ArrayViewMut2::from_shape((d2, w), &mut m_buf[..d2 * w]).expect("fits");
        // 1. S_P = diag(σ'(y1))·A_P
        Zip::from(s_p.rows_mut())
            .and(a_p.rows())
            .and(&s1)
            .par_for_each(|mut s_row, a_row, &s| s_row.zip_mut_with(&a_row, |o, &v| *o = s * v));
        // 2. M_P = B·S_P
        gemm(b, s_p.view(), m_p.view_mut());
        // 3. ∇f[P] = M_Pᵀ·σ'(y2)
        gemv_t(m_p.view(), s2.view(), grad.slice_mut(s![c0..c0 + w]));
    }
    (ws.s1, ws.s2) = (s1, s2);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_the_columns_evenly_within_the_budget() {
        // 10 columns, 2 values per column of 8 bytes: a 48-byte budget allows 3 columns,
        // so 4 panels, spread as width 3 (3+3+3+1 → even: ceil(10/4) = 3).
        assert_eq!(panel_width(10, 1, 1, 8, 48).unwrap(), 3);
        assert_eq!(panel_width(10, 1, 1, 8, 1 << 20).unwrap(), 10);
        // 7 columns at budget for 4: two panels of 4 and 3, not 4 + 3 by luck.
        assert_eq!(panel_width(7, 1, 1, 8, 64).unwrap(), 4);
        assert_eq!(panel_width(9, 1, 1, 8, 128).unwrap(), 5);
        assert!(matches!(
            panel_width(10, 100, 100, 8, 1599),
            Err(Error::TooLarge {
                needed: 1600,
                available: 1599,
                ..
            })
        ));
    }
}
