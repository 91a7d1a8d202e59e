//! The default, pure-Rust backend: `matrixmultiply`'s GEMM (threaded) through ndarray,
//! and the crate's own GEMV kernels at every size (deterministic for any thread count).

/// The backend's short name.
pub(crate) const NAME: &str = "pure-rust";

/// GEMVs stay on the crate's kernels.
pub(crate) const BLAS_GEMV: bool = false;

/// DGEMM multiply-adds per second and the thin-product constant of
/// [`Calibration::stored`](crate::Calibration::stored), measured with matrixmultiply on
/// the development machine (see docs/measured.md).
pub(crate) const STORED_GEMM_RATE: f64 = 3.1e10;
pub(crate) const STORED_NARROW: f64 = 30.0;

pub(crate) fn detail() -> String {
    format!(
        "matrixmultiply GEMM + rayon GEMV, {} rayon threads",
        rayon::current_num_threads()
    )
}

/// matrixmultiply reads `MATMUL_NUM_THREADS` on its first product: set it unless the
/// user has.
pub(crate) fn set_threads(n: usize) {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
    }
}

pub(crate) fn restart_with_best_kernels() {}
