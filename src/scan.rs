//! Scans of an array that the compiler vectorizes, for the CPU's widest vectors: eight
//! independent lanes, no early exit inside a chunk, so that a call's checks of its
//! inputs and outputs cost a fraction of a cycle an entry rather than a dependent chain
//! of compares. Arrays not contiguous in memory take a plain loop.

use crate::kernels::with_kernel;
use crate::Real;
use ndarray::{ArrayView, Dimension};

/// Lanes per chunk: one AVX-512 register of f64, two AVX2 registers.
const LANES: usize = 8;

/// Whether `keep` holds for every entry of `a`.
#[inline]
pub(crate) fn every<T: Real, D: Dimension>(a: ArrayView<T, D>, keep: impl Fn(T) -> bool) -> bool {
    match a.as_slice_memory_order() {
        Some(a) => every_in(a, keep),
        None => a.iter().all(|&v| keep(v)),
    }
}

/// max |a_i| over `a` (0 if empty; NaN entries ignored, as `f64::max` ignores them).
#[inline]
pub(crate) fn max_abs<T: Real, D: Dimension>(a: ArrayView<T, D>) -> f64 {
    match a.as_slice_memory_order() {
        Some(a) => max_abs_in(a),
        None => a.iter().fold(0.0, |m, v| m.max(v.as_f64().abs())),
    }
}

/// [`every`] of a slice, compiled for the CPU's widest vectors. Stops at the first chunk
/// that fails.
#[inline]
fn every_in<T: Real>(a: &[T], keep: impl Fn(T) -> bool) -> bool {
    with_kernel!(|_k| {
        let mut chunks = a.chunks_exact(LANES);
        chunks.all(|c| c.iter().fold(true, |ok, &v| ok & keep(v)))
            && chunks.remainder().iter().all(|&v| keep(v))
    })
}

/// [`max_abs`] of a slice, compiled for the CPU's widest vectors: exact in any order, so
/// the lanes give the sequential fold's value.
#[inline]
fn max_abs_in<T: Real>(a: &[T]) -> f64 {
    with_kernel!(|_k| {
        let mut chunks = a.chunks_exact(LANES);
        let mut m = [0.0_f64; LANES];
        for c in &mut chunks {
            for (m, &v) in m.iter_mut().zip(c) {
                // f64::max's answer (m starts at 0 and never turns NaN; a NaN |v| leaves
                // m), as one vector max per lane.
                let v = v.as_f64().abs();
                *m = if v > *m { v } else { *m };
            }
        }
        let tail = chunks
            .remainder()
            .iter()
            .fold(0.0_f64, |m, &v| m.max(v.as_f64().abs()));
        m.iter().fold(tail, |a, &b| a.max(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the plain folds, for every length around the lanes and every place of
    /// a failing, the largest or a NaN entry.
    #[test]
    fn scans_agree_with_plain_folds() {
        for n in 0..40 {
            for at in 0..n {
                let mut a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
                a[at] = -3.5;
                let plain = a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                assert_eq!(max_abs_in(&a), plain, "n={n} at={at}");
                assert!(every_in(&a, |v: f64| v.is_finite()));
                a[at] = f64::NAN;
                let plain = a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                assert_eq!(max_abs_in(&a), plain, "n={n} at={at} NaN");
                assert!(!every_in(&a, |v: f64| v.is_finite()), "n={n} at={at}");
                assert!(every_in(&a[..at], |v: f64| v.is_finite()));
            }
        }
        assert_eq!(max_abs_in::<f32>(&[]), 0.0);
        assert!(every_in::<f32>(&[], |_| false));
        // Views with gaps take the plain loop, with the same answers.
        let a = ndarray::Array2::from_shape_fn((5, 6), |(i, j)| (i * 6 + j) as f64 - 14.0);
        let cols = a.slice(ndarray::s![.., 1..4]);
        assert!(cols.as_slice_memory_order().is_none());
        assert_eq!(max_abs(cols), 13.0);
        assert!(every(cols, |v| v > -14.0) && !every(cols, |v| v != 0.0));
    }
}
