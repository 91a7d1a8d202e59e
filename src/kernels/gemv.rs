//! The crate's own matrix-vector products, on the vector kernels: rayon over
//! independent blocks of the output, so every sum runs in a fixed order and no result
//! depends on the thread count. A is row-major throughout.

use super::{inlined, with_kernel, Kernel};
use crate::par::for_each_chunk;
use crate::{Par, Real};
use ndarray::{ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

/// Output rows per task in [`gemv_few`].
const ROWS_PER_TASK: usize = 64;
/// Output columns per task in [`gemv_t`] and [`gemv_t_few`]: one 4 KB (f64)
/// accumulator block stays in L1.
pub(crate) const COLS_PER_TASK: usize = 512;

/// Y ← A·[x_1 … x_w] into `y`, m×w row-major: each quad of A's rows is dotted with every
/// x_j while in cache, so A is read once however many vectors there are. One vector is
/// the plain GEMV.
pub(crate) fn gemv_few<T: Real>(par: Par, a: ArrayView2<T>, xs: &[&[T]], y: &mut [T]) {
    with_kernel!(|k| gemv_few_with(k, par, a, xs, y))
}

#[inline(always)]
fn gemv_few_with<T: Real, K: Kernel>(k: K, par: Par, a: ArrayView2<T>, xs: &[&[T]], y: &mut [T]) {
    let w = xs.len();
    let rows = inlined(
        #[inline(always)]
        |(ac, yc): (ArrayView2<T>, &mut [T])| {
            let row = |i: usize| ac.row(i).to_slice().expect("A row-major");
            let quads = ac.nrows() / 4 * 4;
            for i in (0..quads).step_by(4) {
                let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                for (j, x) in xs.iter().enumerate() {
                    for (q, v) in k.dot4(r, x).into_iter().enumerate() {
                        yc[(i + q) * w + j] = v;
                    }
                }
            }
            for i in quads..ac.nrows() {
                for (j, x) in xs.iter().enumerate() {
                    yc[i * w + j] = k.dot(row(i), x);
                }
            }
        },
    );
    if par.splits(a.len()) {
        a.axis_chunks_iter(Axis(0), ROWS_PER_TASK)
            .into_par_iter()
            .zip(y.par_chunks_mut(ROWS_PER_TASK * w))
            .for_each(rows);
    } else {
        rows((a, y));
    }
}

/// y ← Aᵀ·x as Σ_i x_i·A[i,:], one block of columns per task (no reduction across
/// tasks), four rows at a time: the output block is read and written once per four.
pub(crate) fn gemv_t<T: Real>(par: Par, a: ArrayView2<T>, x: ArrayView1<T>, y: &mut [T]) {
    with_kernel!(|k| {
        for_each_chunk(
            par,
            a.len(),
            y,
            COLS_PER_TASK,
            #[inline(always)]
            |b, yc| {
                let cols = b * COLS_PER_TASK..b * COLS_PER_TASK + yc.len();
                let row = |i: usize| &a.row(i).to_slice().expect("A row-major")[cols.clone()];
                yc.fill(T::zero());
                let quads = a.nrows() / 4 * 4;
                for i in (0..quads).step_by(4) {
                    let alpha = [x[i], x[i + 1], x[i + 2], x[i + 3]];
                    k.axpy4(alpha, [row(i), row(i + 1), row(i + 2), row(i + 3)], yc);
                }
                for i in quads..a.nrows() {
                    k.axpy(x[i], row(i), yc);
                }
            },
        )
    })
}

/// Aᵀ·g_j for each row g_j of `gt` (w×m), into `out` by blocks of
/// [`COLS_PER_TASK`] columns: block b holds its columns' results for g_1, then g_2, …
/// (w·width values). Each block of A's columns is swept once for all w vectors, its
/// four-row strips reused from L1. [`scatter_blocks`] lays the result out as n×w.
pub(crate) fn gemv_t_few<T: Real>(par: Par, a: ArrayView2<T>, gt: ArrayView2<T>, out: &mut [T]) {
    let w = gt.nrows();
    with_kernel!(|k| {
        for_each_chunk(
            par,
            a.len(),
            out,
            COLS_PER_TASK * w,
            #[inline(always)]
            |b, out| {
                let width = out.len() / w;
                let cols = b * COLS_PER_TASK..b * COLS_PER_TASK + width;
                let row = |i: usize| &a.row(i).to_slice().expect("A row-major")[cols.clone()];
                out.fill(T::zero());
                let quads = a.nrows() / 4 * 4;
                for i in (0..quads).step_by(4) {
                    let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                    for (j, acc) in out.chunks_mut(width).enumerate() {
                        let g = gt.row(j);
                        k.axpy4([g[i], g[i + 1], g[i + 2], g[i + 3]], r, acc);
                    }
                }
                for i in quads..a.nrows() {
                    for (j, acc) in out.chunks_mut(width).enumerate() {
                        k.axpy(gt[[j, i]], row(i), acc);
                    }
                }
            },
        )
    })
}

/// Column c of block-laid-out `blocks` (as [`gemv_t_few`] writes them) into row c of
/// `y` (n×w).
pub(crate) fn scatter_blocks<T: Real>(blocks: &[T], mut y: ndarray::ArrayViewMut2<T>) {
    let w = y.ncols();
    for (b, block) in blocks.chunks(COLS_PER_TASK * w).enumerate() {
        let width = block.len() / w;
        for (j, col) in block.chunks(width).enumerate() {
            for (c, &v) in col.iter().enumerate() {
                y[[b * COLS_PER_TASK + c, j]] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    fn naive(a: &Array2<f64>, x: &Array1<f64>) -> Array1<f64> {
        Array1::from_iter(
            a.outer_iter()
                .map(|r| r.iter().zip(x).map(|(p, q)| p * q).sum()),
        )
    }

    #[test]
    fn gemv_kernels_match_a_naive_product_at_any_par() {
        // Sizes straddle the parallel threshold and the 8-wide and block tails.
        for &(m, n) in &[(1, 1), (3, 7), (9, 17), (300, 301), (517, 1031)] {
            let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 31 + j * 7) % 13) as f64 - 6.0);
            let x = Array1::from_shape_fn(n, |j| (j % 5) as f64 - 2.0);
            let xt = Array1::from_shape_fn(m, |i| (i % 3) as f64 - 1.0);
            for par in [Par::Seq, Par::Rayon] {
                let mut y = Array1::zeros(m);
                gemv_few(
                    par,
                    a.view(),
                    &[x.as_slice().unwrap()],
                    y.as_slice_mut().unwrap(),
                );
                assert_eq!(y, naive(&a, &x), "gemv {m}x{n}");
                let mut yt = Array1::zeros(n);
                gemv_t(par, a.view(), xt.view(), yt.as_slice_mut().unwrap());
                assert_eq!(yt, naive(&a.t().to_owned(), &xt), "gemv_t {m}x{n}");
                // Two vectors at once, through the block layout.
                let gt = ndarray::stack![Axis(0), xt, xt.mapv(|v| 2.0 * v)];
                let mut blocks = vec![0.0; 2 * n];
                gemv_t_few(par, a.view(), gt.view(), &mut blocks);
                let mut y2 = Array2::zeros((n, 2));
                scatter_blocks(&blocks, y2.view_mut());
                assert_eq!(y2.column(0), yt, "gemv_t_few {m}x{n}");
                assert_eq!(y2.column(1), yt.mapv(|v| 2.0 * v), "gemv_t_few {m}x{n}");
            }
        }
    }
}
