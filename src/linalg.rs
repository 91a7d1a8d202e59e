//! The few BLAS-level products the crate needs, and the one place that knows the backend.
//!
//! All matrices here are row-major (C order). With the `openblas` feature ndarray sends
//! `general_mat_mul`/`general_mat_vec_mul` on f32/f64 to CBLAS; without it GEMM is
//! `matrixmultiply` (threaded) and the GEMVs are the rayon kernels below.

use crate::Real;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

/// Which BLAS the crate was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Short name: `"pure-rust"` or `"openblas"`.
    pub name: &'static str,
    /// What the library says of itself, where it can be read at run time
    /// (OpenBLAS: `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH … Haswell").
    pub detail: String,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.detail)
    }
}

#[cfg(feature = "openblas")]
extern "C" {
    fn openblas_get_config() -> *const std::os::raw::c_char;
    fn openblas_get_corename() -> *const std::os::raw::c_char;
    fn openblas_get_num_threads() -> std::os::raw::c_int;
}

/// The `OPENBLAS_CORETYPE` this CPU should run, when the linked OpenBLAS chose kernels
/// older than the CPU supports and the variable is unset; `None` otherwise.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels by CPU model. Debian 12's 0.3.21 does not
/// know models newer than itself (e.g. Sapphire/Emerald Rapids) and falls back to
/// `Prescott` (SSE3): DGEMM runs 4–8× below the machine's speed. The variable is read
/// once, when the library loads, so it must be set before the process starts; see
/// [`reexec_with_openblas_coretype`].
pub fn openblas_coretype_fix() -> Option<&'static str> {
    #[cfg(all(feature = "openblas", target_arch = "x86_64"))]
    {
        if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
            return None;
        }
        // SAFETY: a plain getter of the linked OpenBLAS returning a static string.
        let core = unsafe {
            let p = openblas_get_corename();
            if p.is_null() {
                return None;
            }
            std::ffi::CStr::from_ptr(p).to_string_lossy().to_lowercase()
        };
        const GENERIC: &[&str] = &[
            "prescott",
            "core2",
            "penryn",
            "dunnington",
            "nehalem",
            "atom",
            "unknown",
        ];
        if !GENERIC.contains(&core.as_str()) {
            return None;
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
            Some("SkylakeX")
        } else if has!("avx2") && has!("fma") {
            Some("Haswell")
        } else {
            None
        }
    }
    #[cfg(not(all(feature = "openblas", target_arch = "x86_64")))]
    None
}

/// Restarts the current program with `OPENBLAS_CORETYPE` set when
/// [`openblas_coretype_fix`] finds OpenBLAS on kernels older than the CPU. Call it first
/// thing in `main`; it returns only when no restart is needed or possible (the reason
/// is printed to stderr). Does nothing without the `openblas` feature or off Unix.
pub fn reexec_with_openblas_coretype() {
    #[cfg(unix)]
    if let Some(core) = openblas_coretype_fix() {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OPENBLAS_CORETYPE", core)
            .exec();
        eprintln!("fwdrev: could not restart with OPENBLAS_CORETYPE={core}: {err}");
    }
}

/// The backend this build computes with.
#[cfg(feature = "openblas")]
pub fn backend() -> Backend {
    // SAFETY: both are plain getters of the linked OpenBLAS; the string is static.
    let (config, threads) = unsafe {
        let p = openblas_get_config();
        let c = if p.is_null() {
            "unknown".to_string()
        } else {
            std::ffi::CStr::from_ptr(p)
                .to_string_lossy()
                .trim()
                .to_string()
        };
        (c, openblas_get_num_threads())
    };
    Backend {
        name: "openblas",
        detail: format!("{config}, {threads} BLAS threads"),
    }
}

/// The backend this build computes with.
#[cfg(not(feature = "openblas"))]
pub fn backend() -> Backend {
    Backend {
        name: "pure-rust",
        detail: format!(
            "matrixmultiply GEMM + rayon GEMV, {} rayon threads",
            rayon::current_num_threads()
        ),
    }
}

/// C ← A·B (C is overwritten). Shapes: A m×k, B k×n, C m×n.
pub fn gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    ndarray::linalg::general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
}

/// y ← A·x (y is overwritten). A is m×n and row-major, x has n entries, y m.
pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    #[cfg(feature = "openblas")]
    ndarray::linalg::general_mat_vec_mul(T::one(), &a, &x, T::zero(), &mut y);
    #[cfg(not(feature = "openblas"))]
    kernels::gemv(a, x, y.view_mut());
}

/// y ← Aᵀ·x (y is overwritten). A is m×n and row-major, x has m entries, y n.
pub fn gemv_t<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    #[cfg(feature = "openblas")]
    ndarray::linalg::general_mat_vec_mul(T::one(), &a.t(), &x, T::zero(), &mut y);
    #[cfg(not(feature = "openblas"))]
    kernels::gemv_t(a, x, y.view_mut());
}

/// Pure-Rust GEMV kernels: rayon over independent output blocks, so every sum runs in a
/// fixed order and the result does not depend on the thread count.
#[cfg_attr(feature = "openblas", allow(dead_code))]
pub(crate) mod kernels {
    use crate::Real;
    use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Axis};
    use rayon::prelude::*;

    /// Below this many matrix entries a GEMV runs on the calling thread: waking rayon
    /// costs a few µs, more than the work.
    const PARALLEL_MIN: usize = 1 << 16;
    /// Output rows per rayon task in `gemv`.
    const ROWS_PER_TASK: usize = 64;
    /// Output columns per task in `gemv_t`: one 4 KB (f64) accumulator block stays in L1.
    const COLS_PER_TASK: usize = 512;

    /// Σ a_k·b_k with 8 independent accumulators, so the loop vectorises.
    #[inline]
    pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
        let mut acc = [T::zero(); 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: T = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .fold(T::zero(), |s, (&x, &y)| s + x * y);
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                acc[k] = acc[k] + x[k] * y[k];
            }
        }
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }

    /// y ← A·x, one dot product per row.
    pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
        let xs = x.as_slice().expect("x contiguous");
        let row = |(r, yi): (ArrayView1<T>, &mut T)| {
            *yi = dot(r.as_slice().expect("A row-major"), xs);
        };
        let ys = y.as_slice_mut().expect("y contiguous");
        if a.len() < PARALLEL_MIN {
            a.outer_iter().zip(ys.iter_mut()).for_each(row);
        } else {
            ys.par_chunks_mut(ROWS_PER_TASK)
                .zip(a.axis_chunks_iter(Axis(0), ROWS_PER_TASK).into_par_iter())
                .for_each(|(yc, ac)| ac.outer_iter().zip(yc.iter_mut()).for_each(row));
        }
    }

    /// y ← Aᵀ·x as Σ_i x_i·A[i,:], one block of columns per task (no reduction across tasks).
    pub fn gemv_t<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
        let ys = y.as_slice_mut().expect("y contiguous");
        let block = |(j, yc): (usize, &mut [T])| {
            let j0 = j * COLS_PER_TASK;
            yc.fill(T::zero());
            for (r, &xi) in a.outer_iter().zip(x.iter()) {
                let rs = &r.as_slice().expect("A row-major")[j0..j0 + yc.len()];
                for (yk, &ak) in yc.iter_mut().zip(rs) {
                    *yk = *yk + xi * ak;
                }
            }
        };
        if a.len() < PARALLEL_MIN {
            ys.chunks_mut(COLS_PER_TASK).enumerate().for_each(block);
        } else {
            ys.par_chunks_mut(COLS_PER_TASK).enumerate().for_each(block);
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
    fn gemv_kernels_match_a_naive_product() {
        // Sizes straddle the parallel threshold and the 8-wide and block tails.
        for &(m, n) in &[(1, 1), (3, 7), (9, 17), (300, 301), (517, 1031)] {
            let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 31 + j * 7) % 13) as f64 - 6.0);
            let x = Array1::from_shape_fn(n, |j| (j % 5) as f64 - 2.0);
            let xt = Array1::from_shape_fn(m, |i| (i % 3) as f64 - 1.0);
            let mut y = Array1::zeros(m);
            kernels::gemv(a.view(), x.view(), y.view_mut());
            assert_eq!(y, naive(&a, &x), "gemv {m}x{n}");
            let mut yt = Array1::zeros(n);
            kernels::gemv_t(a.view(), xt.view(), yt.view_mut());
            assert_eq!(yt, naive(&a.t().to_owned(), &xt), "gemv_t {m}x{n}");
            // and the backend entry points agree with the kernels
            let mut yb = Array1::zeros(m);
            gemv(a.view(), x.view(), yb.view_mut());
            assert_eq!(yb, y);
        }
    }
}
