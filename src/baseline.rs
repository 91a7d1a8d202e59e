//! The yardsticks that fwdrev's speeds are measured against (docs/measured.md): the
//! backend's bare GEMM, the bare GEMV, and a plain streaming read for memory bandwidth.

use crate::{Par, Real};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

/// C ← A·B on the backend's GEMM (A m×k, B k×n, C m×n): what forward mode's products
/// run on.
pub fn gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>) {
    crate::backend::gemm(a, b, c)
}

/// y ← A·x (A m×n row-major) as reverse mode runs its products: on the crate's kernels,
/// with every backend.
pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, y: ArrayViewMut1<T>) {
    crate::backend::gemv(Par::Rayon, a, x, y)
}

/// Σ of all entries, read in parallel in 1 MiB blocks, each as four interleaved
/// streams (as the GEMV kernels read four rows): a plain streaming read, the yardstick
/// of memory bandwidth for the bandwidth-bound reverse mode.
pub fn stream_sum<T: Real>(a: &[T]) -> T {
    use rayon::prelude::*;
    const W: usize = 8;
    let block = |c: &[T]| {
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
    };
    a.par_chunks((1 << 20) / std::mem::size_of::<T>())
        .map(block)
        .reduce(T::zero, |p, q| p + q)
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
}
