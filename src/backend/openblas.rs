//! Debian's OpenBLAS (`libopenblas-dev`, 0.3.21 on Debian 12) through CBLAS, and the fix
//! it needs on CPUs newer than itself.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn openblas_get_config() -> *const c_char;
    fn openblas_get_corename() -> *const c_char;
    fn openblas_get_num_threads() -> c_int;
    fn openblas_set_num_threads(n: c_int);
}

/// The backend's short name.
pub(crate) const NAME: &str = "openblas";

/// There is a library: OpenBLAS.
pub(crate) const BLAS: bool = true;

/// DGEMM multiply-adds per second and the thin-product constant of
/// [`Calibration::stored`](crate::Calibration::stored) (see docs/measured.md).
pub(crate) const STORED_GEMM_RATE: f64 = 7.7e10;
pub(crate) const STORED_NARROW: f64 = 35.0;

/// A static C string of OpenBLAS, or "unknown".
fn text(p: *const c_char) -> String {
    if p.is_null() {
        return "unknown".into();
    }
    // SAFETY: OpenBLAS's getters return static NUL-terminated strings.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .trim()
        .to_string()
}

pub(crate) fn detail() -> String {
    // SAFETY: plain getters of the linked OpenBLAS.
    let (config, threads) = unsafe { (text(openblas_get_config()), openblas_get_num_threads()) };
    format!("{config}, {threads} BLAS threads")
}

pub(crate) fn set_threads(n: usize) {
    // Each worker OpenBLAS adds maps its 128 MiB buffer at once, on its own thread,
    // racing the process's other allocations for the room: under an address-space limit
    // it keeps no more workers than it started with.
    // SAFETY: plain getters and setters of the linked OpenBLAS.
    unsafe {
        let n = match crate::memory::address_space_limited() {
            true => n.min(openblas_get_num_threads().max(1) as usize),
            false => n,
        };
        openblas_set_num_threads(n as c_int)
    }
}

/// The `OPENBLAS_CORETYPE` this CPU should run, when the linked OpenBLAS chose kernels
/// older than the CPU supports and the variable is unset; `None` otherwise.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels by CPU model. Debian 12's 0.3.21 does not
/// know models newer than itself (e.g. Sapphire/Emerald Rapids) and falls back to
/// `Prescott` (SSE3): DGEMM runs 4–8× below the machine's speed. The variable is read
/// once, when the library loads, so it must be set before the process starts.
pub(crate) fn better_coretype() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
            return None;
        }
        // SAFETY: a plain getter of the linked OpenBLAS.
        let core = text(unsafe { openblas_get_corename() }).to_lowercase();
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
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Restarts the program with `OPENBLAS_CORETYPE` set when [`better_coretype`] finds
/// OpenBLAS on kernels older than the CPU, and with `OPENBLAS_NUM_THREADS=1` (unless
/// set) under an address-space limit.
///
/// OpenBLAS starts its workers when it loads, and each maps its 128 MiB buffer first
/// thing, on its own schedule: under a limit that mapping raced the program's own
/// allocations, and whichever came second was refused (an abort, 3 runs in 18 of the
/// CLI tests under 224 MiB, where no check of the room could see it coming). With one
/// thread OpenBLAS starts no worker; the crate's own kernels still run on rayon's.
/// The first process's workers have started by the time this runs, so a window stays
/// open until the exec; the program makes only a few small allocations in it (the
/// restart's command line and environment: the binary calls this first), and no run of
/// the tests has failed there.
pub(crate) fn restart_with_best_kernels() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let core = better_coretype();
        let one = crate::memory::address_space_limited()
            && std::env::var_os("OPENBLAS_NUM_THREADS").is_none();
        if core.is_none() && !one {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut restart = std::process::Command::new(exe);
        restart.args(std::env::args_os().skip(1));
        if let Some(core) = core {
            restart.env("OPENBLAS_CORETYPE", core);
        }
        if one {
            restart.env("OPENBLAS_NUM_THREADS", "1");
        }
        let err = restart.exec();
        eprintln!("fwdrev: could not restart with OpenBLAS's environment set: {err}");
    }
}
