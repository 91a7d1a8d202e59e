//! The yardsticks that fwdrev's speeds are measured against (docs/measured.md): the
//! backend's bare GEMM, the bare GEMV, and a plain streaming read for memory bandwidth.

use crate::{Par, Real};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

/// C ← A·B on the backend's GEMM (A m×k, B k×n, C m×n): what forward mode's products
/// run on.
pub fn gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>) {
    crate::backend::gemm(a, b, c)
}

/// y ← A·x (A m×n, rows contiguous) as reverse mode runs its products: on the crate's kernels,
/// with every backend.
pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, y: ArrayViewMut1<T>) {
    crate::backend::gemv(Par::Rayon, a, x, y)
}

/// Σ of all entries, read in parallel in 1 MiB blocks, each as four interleaved
/// streams (as the GEMV kernels read four rows): a plain streaming read, the yardstick
/// of memory bandwidth for the bandwidth-bound reverse mode.
pub fn stream_sum<T: Real>(a: &[T]) -> T {
    use rayon::prelude::*;
    a.par_chunks(STREAM_BLOCK / std::mem::size_of::<T>())
        .map(block_sum)
        .reduce(T::zero, |p, q| p + q)
}

/// [`stream_sum`] of a matrix in place: one slice where the matrix is one, otherwise
/// blocks of about 1 MiB of whole rows, each row read as a block is (a network's
/// weights, whose rows may be padded to whole lines, read without a copy).
pub fn stream_sum_rows<T: Real>(a: ArrayView2<T>) -> T {
    use rayon::prelude::*;
    if let Some(s) = a.as_slice() {
        return stream_sum(s);
    }
    let row_bytes = a.ncols().max(1) * std::mem::size_of::<T>();
    let rows = (STREAM_BLOCK / row_bytes).max(1);
    a.axis_chunks_iter(Axis(0), rows)
        .into_par_iter()
        .map(|block| {
            block.rows().into_iter().fold(T::zero(), |s, r| {
                s + r.to_slice().map_or_else(|| r.sum(), block_sum)
            })
        })
        .reduce(T::zero, |p, q| p + q)
}

/// Bytes each task of the streaming reads sums.
const STREAM_BLOCK: usize = 1 << 20;

/// One block of a streaming read: four interleaved streams of eight accumulators.
fn block_sum<T: Real>(c: &[T]) -> T {
    const W: usize = 8;
    let q = c.len() / 4 / W * W;
    let mut acc = [[T::zero(); W]; 4];
    for i in (0..q).step_by(W) {
        for (s, acc) in acc.iter_mut().enumerate() {
            let part = &c[s * q + i..s * q + i + W];
            for k in 0..W {
                acc[k] = acc[k] + part[k];
            }
        }
    }
    let tail = c[4 * q..].iter().fold(T::zero(), |s, &v| s + v);
    acc.iter().flatten().fold(tail, |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_streaming_read_sums_exactly_on_integers() {
        for n in [1, 7, 100, 3000, 300_001] {
            let a: Vec<f64> = (0..n).map(|i| (i % 13) as f64 - 6.0).collect();
            assert_eq!(super::stream_sum(&a), a.iter().sum::<f64>(), "{n}");
        }
    }

    /// The matrix read in place, exactly on integers: one slice, rows padded to whole
    /// lines (blocks of rows), and rows that are not contiguous (a transposed view).
    #[test]
    fn the_streaming_read_of_rows_sums_exactly_on_integers() {
        for (rows, cols) in [(1, 1), (3, 100), (2000, 100), (7, 300_001)] {
            let a =
                ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| ((i + j) % 13) as f64 - 6.0);
            let want = a.iter().sum::<f64>();
            let padded = crate::memory::copy_on_lines(a.view()).unwrap();
            assert_eq!(padded.as_slice().is_none(), cols % 8 != 0 && rows > 1);
            assert_eq!(super::stream_sum_rows(a.view()), want, "{rows}×{cols}");
            assert_eq!(super::stream_sum_rows(padded.view()), want, "{rows}×{cols}");
            assert_eq!(super::stream_sum_rows(a.t()), want, "{rows}×{cols}");
        }
    }
}
