//! Debian's BLIS 0.9 (`libblis-dev`) through its CBLAS layer. Single-threaded unless
//! `BLIS_NUM_THREADS` or [`set_threads`](crate::set_threads) says otherwise.

use std::os::raw::{c_char, c_long};

extern "C" {
    fn bli_info_get_version_str() -> *const c_char;
    fn bli_thread_get_num_threads() -> c_long;
    fn bli_thread_set_num_threads(n: c_long);
}

/// The backend's short name.
pub(crate) const NAME: &str = "blis";

/// There is a library: BLIS.
pub(crate) const BLAS: bool = true;

/// DGEMM multiply-adds per second and the thin-product constant of
/// [`Calibration::stored`](crate::Calibration::stored) (see docs/measured.md).
pub(crate) const STORED_GEMM_RATE: f64 = 1.9e10;
pub(crate) const STORED_NARROW: f64 = 35.0;

pub(crate) fn detail() -> String {
    // SAFETY: plain getters of the linked BLIS; the string is static.
    let (version, threads) = unsafe {
        let p = bli_info_get_version_str();
        let v = if p.is_null() {
            "unknown".to_string()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        (v, bli_thread_get_num_threads())
    };
    format!("BLIS {version}, BLIS_NUM_THREADS = {threads}")
}

pub(crate) fn set_threads(n: usize) {
    // SAFETY: a plain setter of the linked BLIS.
    unsafe { bli_thread_set_num_threads(n as c_long) }
}

pub(crate) fn restart_with_best_kernels() {}

pub(crate) fn better_coretype() -> Option<&'static str> {
    None
}
