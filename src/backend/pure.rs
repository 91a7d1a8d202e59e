//! The default, pure-Rust backend: the crate's packed GEMM where the CPU has AVX2 or
//! AVX-512, faer's elsewhere (on rayon's pool), and the crate's own GEMV kernels at every
//! size (deterministic for any thread count).

/// The backend's short name.
pub(crate) const NAME: &str = "pure-rust";

/// No library: every product runs on the crate's kernels and faer.
pub(crate) const BLAS: bool = false;

/// DGEMM multiply-adds per second and the thin-product constant of
/// [`Calibration::stored`](crate::Calibration::stored), measured with faer's GEMM on
/// the development machine (see docs/measured.md).
pub(crate) const STORED_GEMM_RATE: f64 = 3.1e10;
pub(crate) const STORED_NARROW: f64 = 30.0;

pub(crate) fn detail() -> String {
    format!(
        "packed GEMM on AVX2/AVX-512 (else faer's) + rayon GEMV, {} rayon threads",
        rayon::current_num_threads()
    )
}

/// The pure-Rust GEMMs run on rayon's pool, which [`crate::set_threads`] has sized.
pub(crate) fn set_threads(_n: usize) {}

pub(crate) fn restart_with_best_kernels() {}

pub(crate) fn better_coretype() -> Option<&'static str> {
    None
}
