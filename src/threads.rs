//! One thread count for rayon and the BLAS.
//!
//! The crate runs its own parallel loops (row scalings, GEMVs, the fused pass) on rayon's
//! global pool and calls the BLAS only from the calling thread, never from inside a
//! rayon task. [`set_threads`] gives both the same count, so a product never runs
//! 2 BLAS threads beside 2 busy rayon workers on 2 cores. Call it once, before the first
//! computation; the binary does with `--threads N` (default: `RAYON_NUM_THREADS`, else
//! every core).

use crate::{Error, Result};

#[cfg(feature = "openblas")]
extern "C" {
    fn openblas_set_num_threads(n: std::os::raw::c_int);
}

#[cfg(all(feature = "blis", not(feature = "openblas")))]
extern "C" {
    fn bli_thread_set_num_threads(n: std::os::raw::c_long);
}

/// Runs rayon's global pool and the BLAS on `n` threads (at least 1).
///
/// Errors when rayon's pool already runs another count (it is built once per process,
/// on first use). The pure-Rust backend's GEMM (matrixmultiply) reads
/// `MATMUL_NUM_THREADS` on its first call, so this sets it unless it is set already.
pub fn set_threads(n: usize) -> Result<()> {
    let n = n.max(1);
    if rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .is_err()
        && rayon::current_num_threads() != n
    {
        return Err(Error::Threads {
            requested: n,
            running: rayon::current_num_threads(),
        });
    }
    #[cfg(feature = "openblas")]
    // SAFETY: a plain setter of the linked OpenBLAS.
    unsafe {
        openblas_set_num_threads(n as std::os::raw::c_int)
    };
    #[cfg(all(feature = "blis", not(feature = "openblas")))]
    // SAFETY: a plain setter of the linked BLIS.
    unsafe {
        bli_thread_set_num_threads(n as std::os::raw::c_long)
    };
    #[cfg(not(any(feature = "openblas", feature = "blis")))]
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
    }
    Ok(())
}

/// The thread count of rayon's pool (and, after [`set_threads`], of the BLAS).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The count to run on when none is given: `RAYON_NUM_THREADS` if set to a number,
/// else every core the OS gives this process.
pub fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
