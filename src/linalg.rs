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

#[cfg(all(feature = "blis", not(feature = "openblas")))]
extern "C" {
    fn bli_info_get_version_str() -> *const std::os::raw::c_char;
    fn bli_thread_get_num_threads() -> std::os::raw::c_long;
}

/// The backend this build computes with.
#[cfg(all(feature = "blis", not(feature = "openblas")))]
pub fn backend() -> Backend {
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
    Backend {
        name: "blis",
        detail: format!("BLIS {version}, BLIS_NUM_THREADS = {threads}"),
    }
}

/// The backend this build computes with.
#[cfg(not(any(feature = "openblas", feature = "blis")))]
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
///
/// A product with a dimension of 1 runs as a matrix-vector or outer product: ndarray
/// hands some of their strides to matrixmultiply instead of BLAS, whose threads then
/// cost more than the work (a Jacobian at widths 100-100-1-100-100 took 2× longer).
pub fn gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    use ndarray::linalg::general_mat_vec_mul;
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    if n == 1 {
        general_mat_vec_mul(T::one(), &a, &b.column(0), T::zero(), &mut c.column_mut(0));
    } else if m == 1 {
        general_mat_vec_mul(T::one(), &b.t(), &a.row(0), T::zero(), &mut c.row_mut(0));
    } else if k == 1 {
        ndarray::Zip::from(c.rows_mut())
            .and(a.column(0))
            .for_each(|mut row, &ai| row.zip_mut_with(&b.row(0), |o, &bj| *o = ai * bj));
    } else {
        ndarray::linalg::general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
    }
}

/// Below this many matrix entries the GEMVs run the crate's own single-threaded
/// kernels even with a BLAS backend: a BLAS call's dispatch costs microseconds, which is
/// the whole gradient at d ≈ 100.
const SMALL: usize = 1 << 16;

/// True where the crate's kernels serve a GEMV: no BLAS, or a small one; and always
/// contiguous vectors (the kernels take slices).
fn own_kernels(len: usize, contiguous: bool) -> bool {
    contiguous && (cfg!(not(any(feature = "openblas", feature = "blis"))) || len < SMALL)
}

/// y ← A·x (y is overwritten). A is m×n and row-major, x has n entries, y m.
pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    if own_kernels(a.len(), x.as_slice().is_some() && y.as_slice().is_some()) {
        kernels::gemv(a, x, y.view_mut());
    } else {
        // BLAS, or (without one) ndarray's loop for strided vectors, which are rare.
        ndarray::linalg::general_mat_vec_mul(T::one(), &a, &x, T::zero(), &mut y);
    }
}

/// y ← Aᵀ·x (y is overwritten). A is m×n and row-major, x has m entries, y n.
pub fn gemv_t<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    if own_kernels(a.len(), y.as_slice().is_some()) {
        kernels::gemv_t(a, x, y.view_mut());
    } else {
        ndarray::linalg::general_mat_vec_mul(T::one(), &a.t(), &x, T::zero(), &mut y);
    }
}

/// Most columns for which [`gemm_few`] and [`gemm_t_few`] use the crate's kernels.
pub const FEW: usize = 8;

/// Y ← A·X for X with few columns (a value and its tangents): A row-major is read once,
/// each four rows dotted with every column while in cache, where a BLAS GEMM would pack
/// A first (3× the traffic) and w GEMVs would read it w times. Other shapes: [`gemm`].
pub fn gemm_few<T: Real>(a: ArrayView2<T>, x: ArrayView2<T>, mut y: ArrayViewMut2<T>) {
    if x.ncols() > FEW || x.ncols() == 0 || !a.is_standard_layout() {
        return gemm(a, x, y);
    }
    // Columns of X as contiguous rows; Y written in place when row-major.
    let xt = x.t().as_standard_layout().into_owned();
    let xs: Vec<&[T]> = xt
        .rows()
        .into_iter()
        .map(|r| r.to_slice().expect("own"))
        .collect();
    match y.as_slice_mut() {
        Some(ys) => kernels::gemv_few(a, &xs, ys),
        None => {
            let mut t = ndarray::Array2::zeros(y.dim());
            kernels::gemv_few(a, &xs, t.as_slice_mut().expect("own"));
            y.assign(&t);
        }
    }
}

/// Y ← Aᵀ·G for G with few columns, A row-major read once (see [`gemm_few`]).
pub fn gemm_t_few<T: Real>(a: ArrayView2<T>, g: ArrayView2<T>, mut y: ArrayViewMut2<T>) {
    if g.ncols() > FEW || !a.is_standard_layout() {
        return gemm(a.t(), g, y);
    }
    let gt = g.t().as_standard_layout().into_owned();
    let mut yt = ndarray::Array2::zeros((g.ncols(), a.ncols()));
    kernels::gemv_t_few(a, gt.view(), yt.view_mut());
    y.assign(&yt.t());
}

/// Σ a_k·b_k in a fixed order (16 interleaved partial sums, then a fixed tree).
///
/// These two vector kernels carry the fused reverse pass and the pure-Rust GEMVs. On
/// x86-64 with AVX2 and FMA they run a copy compiled for those (4-wide fused
/// multiply-adds, chosen at run time); the portable copy is SSE2 and compute-bound
/// below memory speed. The two copies round differently (FMA), each deterministically.
#[inline]
pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { simd::dot_avx2(a, b) };
    }
    dot_body::<T, false>(a, b)
}

/// y ← y + α·x.
#[inline]
pub(crate) fn axpy<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { simd::axpy_avx2(alpha, x, y) };
    }
    axpy_body::<T, false>(alpha, x, y)
}

/// The four dot products rows[r]·x, interleaved: four memory streams in flight and x
/// read once for all four. Each sum has its own fixed order (8 partial sums, a tree).
#[inline]
pub(crate) fn dot4<T: Real>(rows: [&[T]; 4], x: &[T]) -> [T; 4] {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { simd::dot4_avx2(rows, x) };
    }
    dot4_body::<T, false>(rows, x)
}

#[inline(always)]
fn dot4_body<T: Real, const FMA: bool>(rows: [&[T]; 4], x: &[T]) -> [T; 4] {
    let n = x.len();
    let rows = rows.map(|r| &r[..n]);
    let full = n - n % LANES;
    let mut acc = [[T::zero(); LANES]; 4];
    for i in (0..full).step_by(LANES) {
        let xs = &x[i..i + LANES];
        for (a, row) in acc.iter_mut().zip(rows) {
            for k in 0..LANES {
                a[k] = madd::<T, FMA>(row[i + k], xs[k], a[k]);
            }
        }
    }
    finish_dot4::<T, FMA>(acc, rows, x, full)
}

/// Partial sums per row of [`dot4`]: sum k ≡ lane (mod LANES).
const LANES: usize = 8;

/// Adds up each row's LANES partial sums by a fixed tree (8 → 4 → 2 → 1), then the
/// tail from `full` on: the same order in every copy of [`dot4`].
#[inline(always)]
fn finish_dot4<T: Real, const FMA: bool>(
    mut acc: [[T; LANES]; 4],
    rows: [&[T]; 4],
    x: &[T],
    full: usize,
) -> [T; 4] {
    let mut out = [T::zero(); 4];
    for (r, row) in rows.iter().enumerate() {
        let tail = (full..x.len()).fold(T::zero(), |s, i| madd::<T, FMA>(row[i], x[i], s));
        let a = &mut acc[r];
        let mut m = LANES;
        while m > 1 {
            m /= 2;
            for k in 0..m {
                a[k] = a[k] + a[k + m];
            }
        }
        out[r] = a[0] + tail;
    }
    out
}

/// y ← y + Σ_r α_r·rows[r], y read and written once for the four rows, each row's
/// contribution added in order r = 0..4 (as four [`axpy`] calls would).
#[inline]
pub(crate) fn axpy4<T: Real>(alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { simd::axpy4_avx2(alpha, rows, y) };
    }
    axpy4_body::<T, false>(alpha, rows, y)
}

/// dot4(rows, x), while adding Σ_r α_r·prev[r] into y (axpy4(alpha, prev, y)) in the
/// same sweep: the reverse pass's next four rows of B stream in from memory while the
/// previous four, still in cache, update the adjoint. Same results, bit for bit, as the
/// two calls in sequence; one pass instead of two keeps memory busy throughout.
#[inline]
pub(crate) fn dot4_axpy4<T: Real>(
    rows: [&[T]; 4],
    x: &[T],
    alpha: [T; 4],
    prev: [&[T]; 4],
    y: &mut [T],
) -> [T; 4] {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { simd::dot4_axpy4_avx2(rows, x, alpha, prev, y) };
    }
    axpy4_body::<T, false>(alpha, prev, y);
    dot4_body::<T, false>(rows, x)
}

#[inline(always)]
fn axpy4_body<T: Real, const FMA: bool>(alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
    let n = y.len();
    let [r0, r1, r2, r3] = rows.map(|r| &r[..n]);
    for i in 0..n {
        let mut v = y[i];
        v = madd::<T, FMA>(alpha[0], r0[i], v);
        v = madd::<T, FMA>(alpha[1], r1[i], v);
        v = madd::<T, FMA>(alpha[2], r2[i], v);
        y[i] = madd::<T, FMA>(alpha[3], r3[i], v);
    }
}

/// a·b + c, fused (one rounding) when `FMA`.
#[inline(always)]
fn madd<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn dot_body<T: Real, const FMA: bool>(a: &[T], b: &[T]) -> T {
    const W: usize = 16;
    let mut acc = [T::zero(); W];
    let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(T::zero(), |s, (&x, &y)| madd::<T, FMA>(x, y, s));
    for (x, y) in ca.zip(cb) {
        for k in 0..W {
            acc[k] = madd::<T, FMA>(x[k], y[k], acc[k]);
        }
    }
    // Fixed pairwise tree: 16 → 8 → 4 → 2 → 1.
    let mut n = W;
    while n > 1 {
        n /= 2;
        for k in 0..n {
            acc[k] = acc[k] + acc[k + n];
        }
    }
    acc[0] + tail
}

#[inline(always)]
fn axpy_body<T: Real, const FMA: bool>(alpha: T, x: &[T], y: &mut [T]) {
    y.iter_mut()
        .zip(x)
        .for_each(|(y, &x)| *y = madd::<T, FMA>(alpha, x, *y));
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use crate::Real;
    use std::any::TypeId;

    pub fn has_avx2_fma() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2<T: Real>(a: &[T], b: &[T]) -> T {
        super::dot_body::<T, true>(a, b)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy_avx2<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
        super::axpy_body::<T, true>(alpha, x, y)
    }

    /// dot4 with explicit AVX2 intrinsics for f64 and f32 (the vectorizer, left to
    /// itself, pairs rows in 128-bit halves and spills to the stack: 4× slower). The
    /// lane sums and their tree (8 → 4 → 2 → 1) are those of the portable copy.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4_avx2<T: Real>(rows: [&[T]; 4], x: &[T]) -> [T; 4] {
        let n = x.len();
        assert!(rows.iter().all(|r| r.len() >= n), "rows shorter than x");
        let full = n - n % super::LANES;
        let mut out: [T; 4] =
            if let (Some(r), Some(xs)) = (cast4::<T, f64>(rows), cast::<T, f64>(x)) {
                same4(dot4_f64(r, xs, full))
            } else if let (Some(r), Some(xs)) = (cast4::<T, f32>(rows), cast::<T, f32>(x)) {
                same4(dot4_f32(r, xs, full))
            } else {
                return super::dot4_body::<T, true>(rows, x);
            };
        for (o, row) in out.iter_mut().zip(rows) {
            let tail = (full..n).fold(T::zero(), |s, i| row[i].mul_add(x[i], s));
            *o = *o + tail;
        }
        out
    }

    /// The four lane-tree sums of rows[r][..full]·x[..full] (full a multiple of 8,
    /// rows and x at least that long).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4_f64(rows: [&[f64]; 4], x: &[f64], full: usize) -> [f64; 4] {
        use std::arch::x86_64::*;
        let mut lo = [_mm256_setzero_pd(); 4];
        let mut hi = [_mm256_setzero_pd(); 4];
        let p = rows.map(|r| r.as_ptr());
        let xp = x.as_ptr();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 ≤ full ≤ len of x and of every row.
            unsafe {
                let x0 = _mm256_loadu_pd(xp.add(i));
                let x1 = _mm256_loadu_pd(xp.add(i + 4));
                for r in 0..4 {
                    lo[r] = _mm256_fmadd_pd(_mm256_loadu_pd(p[r].add(i)), x0, lo[r]);
                    hi[r] = _mm256_fmadd_pd(_mm256_loadu_pd(p[r].add(i + 4)), x1, hi[r]);
                }
            }
            i += 8;
        }
        std::array::from_fn(|r| lane_tree_pd(lo[r], hi[r]))
    }

    /// As [`dot4_f64`] for f32: one 8-lane register per row.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4_f32(rows: [&[f32]; 4], x: &[f32], full: usize) -> [f32; 4] {
        use std::arch::x86_64::*;
        let mut a = [_mm256_setzero_ps(); 4];
        let p = rows.map(|r| r.as_ptr());
        let xp = x.as_ptr();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 ≤ full ≤ len of x and of every row.
            unsafe {
                let x0 = _mm256_loadu_ps(xp.add(i));
                for r in 0..4 {
                    a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(p[r].add(i)), x0, a[r]);
                }
            }
            i += 8;
        }
        std::array::from_fn(|r| lane_tree_ps(a[r]))
    }

    /// dot4 and axpy4 in one sweep (see [`super::dot4_axpy4`]); falls back to the two
    /// calls for tails and for types other than f64/f32.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4_axpy4_avx2<T: Real>(
        rows: [&[T]; 4],
        x: &[T],
        alpha: [T; 4],
        prev: [&[T]; 4],
        y: &mut [T],
    ) -> [T; 4] {
        let n = x.len();
        let fits = y.len() == n && rows.iter().chain(&prev).all(|r| r.len() >= n);
        if let (true, Some(r), Some(xs), Some(p), Some(yy)) = (
            fits && n % 16 == 0,
            cast4::<T, f64>(rows),
            cast::<T, f64>(x),
            cast4::<T, f64>(prev),
            cast_mut::<T, f64>(y),
        ) {
            return same4(dot4_axpy4_f64(r, xs, same4(alpha), p, yy));
        }
        if let (true, Some(r), Some(xs), Some(p), Some(yy)) = (
            fits && n % 32 == 0,
            cast4::<T, f32>(rows),
            cast::<T, f32>(x),
            cast4::<T, f32>(prev),
            cast_mut::<T, f32>(y),
        ) {
            return same4(dot4_axpy4_f32(r, xs, same4(alpha), p, yy));
        }
        axpy4_avx2(alpha, prev, y);
        dot4_avx2(rows, x)
    }

    /// As [`dot4_axpy4_f64`] for f32 (n a multiple of 32): one 8-lane register per row.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4_axpy4_f32(
        rows: [&[f32]; 4],
        x: &[f32],
        alpha: [f32; 4],
        prev: [&[f32]; 4],
        y: &mut [f32],
    ) -> [f32; 4] {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut a = [_mm256_setzero_ps(); 4];
        let al = alpha.map(|a| _mm256_set1_ps(a));
        let p = rows.map(|r| r.as_ptr());
        let q = prev.map(|r| r.as_ptr());
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        let mut i = 0;
        while i < n {
            // SAFETY: i + 8 ≤ n ≤ len of x, y and every row (checked by the caller).
            unsafe {
                let x0 = _mm256_loadu_ps(xp.add(i));
                let mut v = _mm256_loadu_ps(yp.add(i));
                for r in 0..4 {
                    a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(p[r].add(i)), x0, a[r]);
                    v = _mm256_fmadd_ps(al[r], _mm256_loadu_ps(q[r].add(i)), v);
                }
                _mm256_storeu_ps(yp.add(i), v);
            }
            i += 8;
        }
        std::array::from_fn(|r| lane_tree_ps(a[r]))
    }

    /// The f64 sweep for n a multiple of 16 (no tails): per 8 entries, four rows' dot
    /// lanes (as [`dot4_f64`]) and y's update by the four previous rows (as
    /// [`axpy4_f64`], the same per-entry order).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4_axpy4_f64(
        rows: [&[f64]; 4],
        x: &[f64],
        alpha: [f64; 4],
        prev: [&[f64]; 4],
        y: &mut [f64],
    ) -> [f64; 4] {
        use std::arch::x86_64::*;
        let n = x.len();
        let mut lo = [_mm256_setzero_pd(); 4];
        let mut hi = [_mm256_setzero_pd(); 4];
        let al = alpha.map(|a| _mm256_set1_pd(a));
        let p = rows.map(|r| r.as_ptr());
        let q = prev.map(|r| r.as_ptr());
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        let mut i = 0;
        while i < n {
            // SAFETY: i + 8 ≤ n ≤ len of x, y and every row (checked by the caller).
            unsafe {
                let x0 = _mm256_loadu_pd(xp.add(i));
                let x1 = _mm256_loadu_pd(xp.add(i + 4));
                let mut v0 = _mm256_loadu_pd(yp.add(i));
                let mut v1 = _mm256_loadu_pd(yp.add(i + 4));
                for r in 0..4 {
                    lo[r] = _mm256_fmadd_pd(_mm256_loadu_pd(p[r].add(i)), x0, lo[r]);
                    hi[r] = _mm256_fmadd_pd(_mm256_loadu_pd(p[r].add(i + 4)), x1, hi[r]);
                    v0 = _mm256_fmadd_pd(al[r], _mm256_loadu_pd(q[r].add(i)), v0);
                    v1 = _mm256_fmadd_pd(al[r], _mm256_loadu_pd(q[r].add(i + 4)), v1);
                }
                _mm256_storeu_pd(yp.add(i), v0);
                _mm256_storeu_pd(yp.add(i + 4), v1);
            }
            i += 8;
        }
        std::array::from_fn(|r| lane_tree_pd(lo[r], hi[r]))
    }

    /// axpy4 with explicit intrinsics: four independent vectors per step, since each
    /// element's four fused multiply-adds form a dependent chain (latency-bound else).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy4_avx2<T: Real>(alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
        let n = y.len();
        let rows = rows.map(|r| &r[..n]);
        let done = if let (Some(r), Some(yy)) = (cast4::<T, f64>(rows), cast_mut::<T, f64>(y)) {
            axpy4_f64(same4(alpha), r, yy)
        } else if let (Some(r), Some(yy)) = (cast4::<T, f32>(rows), cast_mut::<T, f32>(y)) {
            axpy4_f32(same4(alpha), r, yy)
        } else {
            0
        };
        let tail: [&[T]; 4] = rows.map(|r| &r[done..]);
        super::axpy4_body::<T, true>(alpha, tail, &mut y[done..]);
    }

    /// y[i] = (((y[i] + α0·r0[i]) + α1·r1[i]) + α2·r2[i]) + α3·r3[i], fused, for the
    /// first multiple of 16 entries; returns how many it did.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn axpy4_f64(alpha: [f64; 4], rows: [&[f64]; 4], y: &mut [f64]) -> usize {
        use std::arch::x86_64::*;
        let full = y.len() / 16 * 16;
        let al = alpha.map(|a| _mm256_set1_pd(a));
        let p = rows.map(|r| r.as_ptr());
        let yp = y.as_mut_ptr();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 ≤ full ≤ len of y and of every row.
            unsafe {
                let mut v = [0, 4, 8, 12].map(|o| _mm256_loadu_pd(yp.add(i + o)));
                for r in 0..4 {
                    for (k, v) in v.iter_mut().enumerate() {
                        *v = _mm256_fmadd_pd(al[r], _mm256_loadu_pd(p[r].add(i + 4 * k)), *v);
                    }
                }
                for (k, v) in v.iter().enumerate() {
                    _mm256_storeu_pd(yp.add(i + 4 * k), *v);
                }
            }
            i += 16;
        }
        full
    }

    /// As [`axpy4_f64`] for f32, 32 entries per step.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn axpy4_f32(alpha: [f32; 4], rows: [&[f32]; 4], y: &mut [f32]) -> usize {
        use std::arch::x86_64::*;
        let full = y.len() / 32 * 32;
        let al = alpha.map(|a| _mm256_set1_ps(a));
        let p = rows.map(|r| r.as_ptr());
        let yp = y.as_mut_ptr();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 32 ≤ full ≤ len of y and of every row.
            unsafe {
                let mut v = [0, 8, 16, 24].map(|o| _mm256_loadu_ps(yp.add(i + o)));
                for r in 0..4 {
                    for (k, v) in v.iter_mut().enumerate() {
                        *v = _mm256_fmadd_ps(al[r], _mm256_loadu_ps(p[r].add(i + 8 * k)), *v);
                    }
                }
                for (k, v) in v.iter().enumerate() {
                    _mm256_storeu_ps(yp.add(i + 8 * k), *v);
                }
            }
            i += 32;
        }
        full
    }

    /// The sum of 8 f64 lanes (lo: lanes 0–3, hi: 4–7) by the portable copy's tree:
    /// lanes k and k + 4, then k and k + 2, then 0 and 1.
    #[target_feature(enable = "avx2,fma")]
    fn lane_tree_pd(lo: std::arch::x86_64::__m256d, hi: std::arch::x86_64::__m256d) -> f64 {
        use std::arch::x86_64::*;
        let v = _mm256_add_pd(lo, hi);
        let w = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(w) + _mm_cvtsd_f64(_mm_unpackhi_pd(w, w))
    }

    /// The sum of 8 f32 lanes by the same tree as [`lane_tree_pd`].
    #[target_feature(enable = "avx2,fma")]
    fn lane_tree_ps(a: std::arch::x86_64::__m256) -> f32 {
        use std::arch::x86_64::*;
        let v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let w = _mm_add_ps(v, _mm_movehl_ps(v, v));
        _mm_cvtss_f32(w) + _mm_cvtss_f32(_mm_shuffle_ps::<1>(w, w))
    }

    /// Four values of U as T, when T is U (callers have checked it).
    fn same4<T: Copy + 'static, U: Copy + 'static>(v: [U; 4]) -> [T; 4] {
        let s = cast::<U, T>(&v).expect("T is U");
        [s[0], s[1], s[2], s[3]]
    }

    /// `s` as a slice of `U` when T is U.
    fn cast<T: 'static, U: 'static>(s: &[T]) -> Option<&[U]> {
        (TypeId::of::<T>() == TypeId::of::<U>())
            // SAFETY: T and U are the same type.
            .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<U>(), s.len()) })
    }

    fn cast_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
        (TypeId::of::<T>() == TypeId::of::<U>())
            // SAFETY: T and U are the same type.
            .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<U>(), s.len()) })
    }

    fn cast4<T: 'static, U: 'static>(rows: [&[T]; 4]) -> Option<[&[U]; 4]> {
        let [a, b, c, d] = rows.map(cast::<T, U>);
        Some([a?, b?, c?, d?])
    }
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

/// Pure-Rust GEMV kernels: rayon over independent output blocks, so every sum runs in a
/// fixed order and the result does not depend on the thread count.
pub(crate) mod kernels {
    use super::{axpy, axpy4, dot, dot4};
    use crate::Real;
    use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};
    use rayon::prelude::*;

    /// Below this many matrix entries a GEMV runs on the calling thread: waking rayon
    /// costs a few µs, more than the work.
    const PARALLEL_MIN: usize = 1 << 16;
    /// Output rows per rayon task in `gemv`.
    const ROWS_PER_TASK: usize = 64;
    /// Output columns per task in `gemv_t`: one 4 KB (f64) accumulator block stays in L1.
    const COLS_PER_TASK: usize = 512;

    /// y ← A·x, four rows' dot products at a time: [`gemv_few`] with one vector.
    pub fn gemv<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
        let xs = x.as_slice().expect("x contiguous");
        gemv_few(a, &[xs], y.as_slice_mut().expect("y contiguous"));
    }

    /// Y ← A·[x_1 … x_w] into `y`, m×w row-major: each quad of A's rows is dotted with
    /// every x_j while in cache, so A is read once however many vectors there are.
    pub fn gemv_few<T: Real>(a: ArrayView2<T>, xs: &[&[T]], y: &mut [T]) {
        let w = xs.len();
        let rows = |(ac, yc): (ArrayView2<T>, &mut [T])| {
            let row = |i: usize| ac.row(i).to_slice().expect("A row-major");
            let quads = ac.nrows() / 4 * 4;
            for i in (0..quads).step_by(4) {
                let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                for (j, x) in xs.iter().enumerate() {
                    for (q, v) in dot4(r, x).into_iter().enumerate() {
                        yc[(i + q) * w + j] = v;
                    }
                }
            }
            for i in quads..ac.nrows() {
                for (j, x) in xs.iter().enumerate() {
                    yc[i * w + j] = dot(row(i), x);
                }
            }
        };
        if a.len() < PARALLEL_MIN {
            rows((a, y));
        } else {
            a.axis_chunks_iter(Axis(0), ROWS_PER_TASK)
                .into_par_iter()
                .zip(y.par_chunks_mut(ROWS_PER_TASK * w))
                .for_each(rows);
        }
    }

    /// Row j of `yt` ← Aᵀ·(row j of `gt`): each block of A's columns is swept once for
    /// all rows of G, its four-row strips reused from L1.
    pub fn gemv_t_few<T: Real>(a: ArrayView2<T>, gt: ArrayView2<T>, mut yt: ArrayViewMut2<T>) {
        let w = gt.nrows();
        let n = a.ncols();
        let block = |(j0, out): (usize, &mut [T])| {
            let width = out.len() / w;
            let cols = j0 * COLS_PER_TASK..j0 * COLS_PER_TASK + width;
            let row = |i: usize| &a.row(i).to_slice().expect("A row-major")[cols.clone()];
            out.fill(T::zero());
            let quads = a.nrows() / 4 * 4;
            for i in (0..quads).step_by(4) {
                let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                for (j, acc) in out.chunks_mut(width).enumerate() {
                    let g = gt.row(j);
                    axpy4([g[i], g[i + 1], g[i + 2], g[i + 3]], r, acc);
                }
            }
            for i in quads..a.nrows() {
                for (j, acc) in out.chunks_mut(width).enumerate() {
                    axpy(gt[[j, i]], row(i), acc);
                }
            }
        };
        let mut blocks: Vec<Vec<T>> = (0..n.div_ceil(COLS_PER_TASK))
            .map(|b| vec![T::zero(); (COLS_PER_TASK.min(n - b * COLS_PER_TASK)) * w])
            .collect();
        if a.len() < PARALLEL_MIN {
            blocks
                .iter_mut()
                .enumerate()
                .for_each(|(b, o)| block((b, o)));
        } else {
            blocks
                .par_iter_mut()
                .enumerate()
                .for_each(|(b, o)| block((b, o)));
        }
        for (b, out) in blocks.iter().enumerate() {
            let width = out.len() / w.max(1);
            let c0 = b * COLS_PER_TASK;
            for j in 0..w {
                yt.row_mut(j)
                    .slice_mut(ndarray::s![c0..c0 + width])
                    .assign(&ArrayView1::from(&out[j * width..(j + 1) * width]));
            }
        }
    }

    /// y ← Aᵀ·x as Σ_i x_i·A[i,:], one block of columns per task (no reduction across tasks).
    pub fn gemv_t<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
        let ys = y.as_slice_mut().expect("y contiguous");
        let block = |(j, yc): (usize, &mut [T])| {
            let cols = j * COLS_PER_TASK..j * COLS_PER_TASK + yc.len();
            let row = |i: usize| &a.row(i).to_slice().expect("A row-major")[cols.clone()];
            yc.fill(T::zero());
            // Four rows at a time: the output block is read and written once per four.
            let quads = a.nrows() / 4 * 4;
            for i in (0..quads).step_by(4) {
                let alpha = [x[i], x[i + 1], x[i + 2], x[i + 3]];
                axpy4(alpha, [row(i), row(i + 1), row(i + 2), row(i + 3)], yc);
            }
            for i in quads..a.nrows() {
                axpy(x[i], row(i), yc);
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
    fn few_column_products_match_gemm() {
        // Row counts straddle the quads and the parallel threshold; columns 1 … FEW + 1
        // (the last falls back to GEMM).
        for &(m, n) in &[(1, 3), (5, 7), (9, 600), (300, 301), (700, 130)] {
            for w in [1, 2, 3, FEW, FEW + 1] {
                let a = crate::random::standard_normal::<f64>(m, n, 1, 0);
                let x = crate::random::standard_normal::<f64>(n, w, 2, 0);
                let g = crate::random::standard_normal::<f64>(m, w, 3, 0);
                let (mut y, mut want) = (Array2::zeros((m, w)), Array2::zeros((m, w)));
                gemm_few(a.view(), x.view(), y.view_mut());
                ndarray::linalg::general_mat_mul(1.0, &a, &x, 0.0, &mut want);
                let scale = want.iter().fold(1.0_f64, |s, v| s.max(v.abs()));
                assert!(
                    (&y - &want).iter().all(|e| e.abs() <= 1e-13 * scale),
                    "{m}x{n} w={w}"
                );
                let (mut z, mut want) = (Array2::zeros((n, w)), Array2::zeros((n, w)));
                gemm_t_few(a.view(), g.view(), z.view_mut());
                ndarray::linalg::general_mat_mul(1.0, &a.t(), &g, 0.0, &mut want);
                let scale = want.iter().fold(1.0_f64, |s, v| s.max(v.abs()));
                assert!(
                    (&z - &want).iter().all(|e| e.abs() <= 1e-13 * scale),
                    "t {m}x{n} w={w}"
                );
            }
        }
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
            // the streaming read sums exactly on integers
            assert_eq!(
                stream_sum(a.as_slice().unwrap()),
                a.sum(),
                "stream_sum {m}x{n}"
            );
            // and the backend entry points agree with the kernels
            let mut yb = Array1::zeros(m);
            gemv(a.view(), x.view(), yb.view_mut());
            assert_eq!(yb, y);
        }
    }

    /// The dispatched dot4/axpy4 (AVX2 intrinsics where the CPU has them) against the
    /// portable copies, for both types and every tail length: exact on small integers,
    /// where no rounding can differ.
    #[test]
    fn simd_kernels_match_the_portable_ones() {
        fn check<T: Real>() {
            for n in 0..100 {
                let v = |s: usize| -> Vec<T> {
                    (0..n)
                        .map(|i| T::from_f64(((i * s + 3) % 7) as f64 - 3.0))
                        .collect()
                };
                let (r0, r1, r2, r3, x) = (v(1), v(2), v(3), v(5), v(4));
                let rows = [&r0[..], &r1[..], &r2[..], &r3[..]];
                assert_eq!(
                    dot4(rows, &x),
                    dot4_body::<T, false>(rows, &x),
                    "dot4 n={n}"
                );
                let alpha = [2.0, -1.0, 3.0, 0.5].map(T::from_f64);
                let (mut y, mut want) = (v(6), v(6));
                axpy4(alpha, rows, &mut y);
                axpy4_body::<T, false>(alpha, rows, &mut want);
                assert_eq!(y, want, "axpy4 n={n}");
                // The fused sweep equals the two calls in sequence, bit for bit, also
                // where rounding happens (non-integer values).
                let w = |s: usize| -> Vec<T> {
                    (0..n)
                        .map(|i| T::from_f64(((i * s + 1) as f64).sin() / 3.0))
                        .collect()
                };
                let (r0, r1, r2, r3, x) = (w(1), w(2), w(3), w(5), w(4));
                let rows = [&r0[..], &r1[..], &r2[..], &r3[..]];
                let prev = [&r3[..], &r0[..], &r2[..], &r1[..]];
                let alpha = [0.3, -1.7, 2.9, 0.11].map(T::from_f64);
                let (mut y1, mut y2) = (w(6), w(6));
                let got = dot4_axpy4(rows, &x, alpha, prev, &mut y1);
                axpy4(alpha, prev, &mut y2);
                assert_eq!((got, y1), (dot4(rows, &x), y2), "dot4_axpy4 n={n}");
            }
        }
        check::<f64>();
        check::<f32>();
    }
}
