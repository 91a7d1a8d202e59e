//! The BLAS the crate was built with, and the one gate through which every matrix
//! product reaches it.
//!
//! One file per backend, chosen by cargo feature, each with the same items:
//!
//! | item | what |
//! |---|---|
//! | `NAME` | `"pure-rust"`, `"openblas"` or `"blis"` |
//! | `detail()` | what the library says of itself, with its thread count |
//! | `set_threads(n)` | the library's own thread setting |
//! | `STORED_GEMM_RATE`, `STORED_NARROW` | the speeds [`Calibration::stored`] assumes |
//! | `BLAS` | whether there is a library (else every product runs on the crate's kernels and faer) |
//! | `restart_with_best_kernels()` | a fix the library needs before it loads, if any |
//!
//! Adding a backend is a file here, its line below, and its feature in Cargo.toml.
//!
//! [`Calibration::stored`]: crate::Calibration::stored

#[cfg(all(feature = "openblas", feature = "blis"))]
compile_error!("features `openblas` and `blis` are exclusive: pick one BLAS");

#[cfg(any(feature = "openblas", feature = "blis"))]
extern crate blas_src;

#[cfg(all(feature = "blis", not(feature = "openblas")))]
mod blis;
#[cfg(feature = "openblas")]
mod openblas;
#[cfg(not(any(feature = "openblas", feature = "blis")))]
mod pure;

#[cfg(all(feature = "blis", not(feature = "openblas")))]
use blis as imp;
#[cfg(feature = "openblas")]
use openblas as imp;
#[cfg(not(any(feature = "openblas", feature = "blis")))]
use pure as imp;

pub(crate) use imp::{set_threads, STORED_GEMM_RATE, STORED_NARROW};

use crate::kernels::gemv as own;
use crate::kernels::rows_contiguous;
use crate::{Par, Real};
use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use std::sync::atomic::{AtomicBool, Ordering};

/// Which BLAS the crate was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Short name: `"pure-rust"`, `"openblas"` or `"blis"`.
    pub name: &'static str,
    /// What the library says of itself, where it can be read at run time (OpenBLAS:
    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH … Haswell"), and its
    /// thread count.
    pub detail: String,
    /// The library that factorises dense matrices (eigen decompositions, SVDs,
    /// Cholesky): LAPACK with `openblas`, faer otherwise.
    pub linalg: &'static str,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}; dense factorisations: {})",
            self.name, self.detail, self.linalg
        )
    }
}

/// The backend this build computes with.
pub fn backend() -> Backend {
    Backend {
        name: imp::NAME,
        detail: imp::detail(),
        linalg: crate::linalg::NAME,
    }
}

/// Restarts the current program with the environment its BLAS needs to pick this CPU's
/// kernels, when it would otherwise pick slower ones (Debian's OpenBLAS 0.3.21 on CPUs
/// newer than itself: see `OPENBLAS_CORETYPE`), and under an address-space limit with
/// one OpenBLAS thread (`OPENBLAS_NUM_THREADS=1`, unless set: each worker OpenBLAS starts
/// maps 128 MiB on its own schedule, racing the program's allocations). Call it first
/// thing in `main`; it returns when no restart is needed or possible (the reason is
/// printed to stderr). Does nothing for the other backends.
pub fn restart_with_best_kernels() {
    imp::restart_with_best_kernels()
}

/// The `OPENBLAS_CORETYPE` that would give this CPU faster kernels than the ones the
/// linked OpenBLAS picked (it is read when the library loads, so it must be set before
/// the process starts: what [`restart_with_best_kernels`] does for a program, and what a
/// host that cannot restart, such as Python, can tell its user); `None` where the
/// kernels are already the CPU's, the variable is set, or the backend is not OpenBLAS.
pub fn better_coretype() -> Option<&'static str> {
    imp::better_coretype()
}

/// Whether every reduction runs in an order fixed by the shapes alone (see
/// [`set_deterministic`]).
static DETERMINISTIC: AtomicBool = AtomicBool::new(false);

/// Makes every result bit-identical for any thread count, on every backend (or, with
/// `false`, lets the BLAS choose again). Off by default.
///
/// A BLAS splits a product's sums among its threads differently for each thread count,
/// so with OpenBLAS or BLIS the last bits of a GEMM-bound result (forward mode,
/// Jacobians, Hessians, batches) may differ between `--threads 1` and `--threads 8`.
/// Switched on, the matrix-matrix products run on the pure-Rust GEMM (the crate's packed
/// one on AVX2 and AVX-512, else faer's: their threads split C, each entry's sum runs in
/// a fixed order), as the matrix-vector products always run on the crate's kernels (a
/// fixed number of blocks, not of threads). The pure-Rust build
/// always works this way, and the switch changes nothing there. Its cost with a BLAS is
/// that of the pure-Rust products for the GEMMs (see docs/measured.md).
pub fn set_deterministic(on: bool) {
    DETERMINISTIC.store(on, Ordering::Relaxed);
}

/// Whether [`set_deterministic`] is on.
pub fn deterministic() -> bool {
    DETERMINISTIC.load(Ordering::Relaxed)
}

/// Whether products may go to the BLAS: there is one, the switch is off, and under an
/// address-space limit its buffers fit ([`blas_fits`](crate::memory::blas_fits)).
pub(crate) fn blas() -> bool {
    imp::BLAS && !deterministic() && crate::memory::blas_fits()
}

/// True where there is a BLAS but a product must not go to it.
fn fixed_order() -> bool {
    imp::BLAS && !blas()
}

/// C ← A·B (C overwritten; A m×k, B k×n, C m×n), on the backend's GEMM, or for products
/// [`thin`] in n and wherever the pure-Rust GEMM is the one to use, on faer's or the
/// crate's.
///
/// A product with a dimension of 1 runs as a matrix-vector or outer product: ndarray
/// hands some of their strides to matrixmultiply instead of BLAS, whose threads then
/// cost more than the work (a Jacobian at widths 100-100-1-100-100 took 2× longer).
pub(crate) fn gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    let unit = [a.strides()[0], b.strides()[1], c.strides()[1]] == [1; 3];
    match route(m, k, n) {
        Route::Column => mat_vec(a, b.column(0), c.column_mut(0)),
        Route::Row => mat_vec(b.t(), a.row(0), c.row_mut(0)),
        Route::Outer => Zip::from(c.rows_mut())
            .and(a.column(0))
            .for_each(|mut row, &ai| row.zip_mut_with(&b.row(0), |o, &bj| *o = ai * bj)),
        Route::Thin if unit => crate::kernels::thin::gemm(threads(m * k * n), a, b, c),
        Route::Blas => general_mat_mul(T::one(), &a, &b, T::zero(), &mut c),
        Route::Faer => pure_gemm(a, b, c),
        Route::Thin => faer_gemm(a, b, c),
    }
}

/// C ← A·B on the pure-Rust GEMM: where the CPU has AVX2 or AVX-512, A and B packed
/// around the thin product's tile ([`thin::packed`](crate::kernels::thin::packed): C by
/// rows, or by columns as Cᵀ = Bᵀ·Aᵀ where A is by columns too), 1.06–1.14× OpenBLAS's
/// time on two cores of an Emerald Rapids-class Xeon where faer's took 1.15–1.17×, and
/// 1.02–1.15× on Zen 3's AVX2 where faer's took 1.15–1.34× (docs/measured.md); else, or
/// where its blocks would not fit under an address-space limit (a few MiB,
/// [`fwdrev_thin::packed_bytes`]), faer's ([`faer_gemm`]).
fn pure_gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let threads = threads(m.saturating_mul(k).saturating_mul(n));
    // Either orientation's blocks (C by columns runs as Cᵀ = Bᵀ·Aᵀ).
    let bytes = crate::kernels::thin::packed_bytes::<T>(m, k, n, threads)
        .max(crate::kernels::thin::packed_bytes::<T>(n, k, m, threads));
    if crate::memory::fits_under_limits(bytes) {
        let by_columns = c.strides()[0] == 1 && c.strides()[1] != 1;
        let done = match by_columns {
            false => crate::kernels::thin::packed(threads, a, b, c.view_mut()),
            true => {
                crate::kernels::thin::packed(threads, b.t(), a.t(), c.view_mut().reversed_axes())
            }
        };
        if done {
            return;
        }
    }
    faer_gemm(a, b, c)
}

/// Where [`gemm`] sends a product, by its shape (C m×n, k deep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// n = 1: A·b.
    Column,
    /// m = 1: aᵀ·B, as Bᵀ·a.
    Row,
    /// k = 1: a·bᵀ, each entry one product.
    Outer,
    /// [`thin`] in n: the crate's thin kernel where A is read by columns and X and C by
    /// rows, else faer's.
    Thin,
    /// The BLAS's GEMM.
    Blas,
    /// The pure-Rust GEMM ([`pure_gemm`]: packed on AVX2 and AVX-512, else faer's).
    Faer,
}

/// [`gemm`]'s [`Route`] for a product of this shape.
fn route(m: usize, k: usize, n: usize) -> Route {
    match () {
        _ if n == 1 => Route::Column,
        _ if m == 1 => Route::Row,
        _ if k == 1 => Route::Outer,
        _ if thin(m, k, n) => Route::Thin,
        _ if blas() => Route::Blas,
        _ => Route::Faer,
    }
}

/// Whether C's columns (C m×n, k deep) get the bits of the whole product where C is
/// computed in pieces of `piece` columns: both shapes take the same [`Route`], never to
/// the BLAS (whose kernels may round by n), and each entry's sum runs in an order fixed
/// by k alone: the thin kernel's one chain (and the packed GEMM's, on AVX2 and AVX-512,
/// the same; not relied on here); faer's GEMM in blocks of k, past its nano-GEMM
/// ([`NANO`]) and where it runs its x86 kernels (AVX2 with FMA, or AVX-512: elsewhere it
/// falls back to the `gemm` crate, whose blocks and dot products follow the shape); for
/// A·b and aᵀ·B, one sum in index order per entry over a strided row.
pub(crate) fn pieces_keep_bits(m: usize, k: usize, n: usize, piece: usize) -> bool {
    let route = route(m, k, n);
    let past_nano = |n: usize| m.saturating_mul(k).saturating_mul(n) > NANO;
    let fixed = match route {
        Route::Blas => false,
        // On the BLAS's GEMV where there is one, unless the switch keeps it out.
        Route::Column | Route::Row => !blas(),
        Route::Outer => true,
        Route::Thin | Route::Faer => faer_kernels_fixed() && past_nano(n) && past_nano(piece),
    };
    fixed && route == self::route(m, k, piece)
}

/// Whether faer's GEMM runs its x86 kernels here (`private-gemm-x86`: blocks of k fixed
/// by k alone, one chain per entry in each), which it picks where the CPU has AVX2 with
/// FMA or AVX-512 — where this crate's kernels are those sets' too.
pub(crate) fn faer_kernels_fixed() -> bool {
    !matches!(
        crate::kernels::detected(),
        crate::kernels::Detected::Portable(_)
    )
}

/// A·x, owned, as [`mat_vec`] computes it: for the few products outside the sweeps
/// (the guard's check, the saddle-free Newton step), never ndarray's `dot`, which calls
/// the BLAS wherever there is one.
pub(crate) fn mat_vec_new<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>) -> Array1<T> {
    let mut y = Array1::zeros(a.nrows());
    mat_vec(a, x, y.view_mut());
    y
}

/// y ← A·x for any strides: the BLAS, or in [`fixed_order`] one sum per entry in
/// index order (these products are rare and small: a GEMM with a dimension of 1, or a
/// strided vector).
fn mat_vec<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, mut y: ArrayViewMut1<T>) {
    if fixed_order() {
        Zip::from(&mut y)
            .and(a.rows())
            .for_each(|yi, row| *yi = row.iter().zip(&x).fold(T::zero(), |s, (&a, &x)| s + a * x));
    } else {
        general_mat_vec_mul(T::one(), &a, &x, T::zero(), &mut y);
    }
}

/// Products this thin in n (C's columns: the batch's k points, a Jacobian panel) run
/// on faer's kernels or the crate's with every backend: faer ran W·X faster than
/// OpenBLAS 0.3.21 (2 cores, Zen 4: d×d · d×64 at d = 4000, 46 against 31 G
/// multiply-adds/s; 2000×2000 · 2000×20, 16 against 9.6), and the crate's
/// [`thin::gemm`](crate::kernels::thin::gemm) runs Wᵀ·X (A with unit row stride), which
/// faer ran at a third of its W·X rate on Emerald Rapids (docs/measured.md).
fn thin(m: usize, k: usize, n: usize) -> bool {
    n <= THIN && m >= 4 * n && k >= 4 * n
}

/// The widest n that [`thin`] sends to faer or the crate's thin kernel.
const THIN: usize = crate::kernels::thin::MAX_COLUMNS;

/// The threads a product of `multiply_adds` may use: rayon's, or one inside a
/// sequential call or below [`SPLIT_FROM`].
fn threads(multiply_adds: usize) -> usize {
    match crate::par::sequential() || multiply_adds < SPLIT_FROM {
        true => 1,
        false => rayon::current_num_threads(),
    }
}

/// C ← A·B on faer's matmul (AVX-512 and AVX2 kernels chosen at run time): the
/// pure-Rust GEMM without AVX2 or under an address-space limit ([`pure_gemm`]), and
/// the products thin in n whose X or C is not by rows. On rayon's current pool; each
/// entry's sum over k runs in the same order for any thread count.
///
/// On t > 1 threads, C is cut ([`cut`]) into a multiple of t blocks, each one faer call
/// on one thread. faer's own split of a square DGEMM ran at 1.2–1.3× OpenBLAS's time on
/// 2 cores of Emerald Rapids, these blocks at 1.05–1.15×, and of a batch's W·X (d = 4000
/// and 8000, k = 64) at 1.13–1.18× the time of blocks of W's rows on Zen 5
/// (docs/measured.md); the square product transposed (C's columns as the rows of Cᵀ =
/// Bᵀ·Aᵀ), blocks of uneven sizes, or blocks whose offsets from C's first entry were not
/// multiples of 16 entries ran at 1.1–1.3×. No block reaches faer's paths that sum in
/// another order (one row or column: [`gemm`] sends those elsewhere first; at most 16³
/// multiply-adds: [`MIN_REST`]), so the bits are those of one call over the whole of C
/// whichever way C is cut (tested).
fn faer_gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>) {
    let threads = threads(
        a.nrows()
            .saturating_mul(a.ncols())
            .saturating_mul(b.ncols()),
    );
    match cut(threads, a.ncols(), &c) {
        Some((axis, blocks)) => faer_blocks(axis, blocks, a, b, c),
        None => faer_call(a, b, c, threads),
    }
}

/// Along which side [`faer_gemm`] cuts C (k columns in A) on `threads` threads, and into
/// how many blocks; `None` for one call. C's unit stride is cut (a row-major C into blocks
/// of columns, with B's; any other into blocks of rows, with A's) unless it is thin (at
/// most [`THIN`]: a batch's k points as C's columns, too few to cut), and then the
/// other side: blocks of W's rows for W·X. Wider sides than THIN were not measured to
/// gain from the other cut (k = 384–1000: within noise, docs/measured.md).
fn cut<T>(threads: usize, k: usize, c: &ArrayViewMut2<T>) -> Option<(Axis, usize)> {
    let unit = match c.strides()[1] == 1 && c.strides()[0] != 1 {
        true => Axis(1),
        false => Axis(0),
    };
    let axis = match c.len_of(unit) <= THIN {
        true => Axis(1 - unit.index()),
        false => unit,
    };
    let across = c.len_of(Axis(1 - axis.index()));
    blocks(threads, c.len_of(axis), k * across).map(|blocks| (axis, blocks))
}

/// How many blocks [`faer_gemm`] cuts C into on `threads` threads, `long` entries along
/// the side it cuts and `rest` multiply-adds for each of them (k times C's other side):
/// a multiple of `threads`, each block about [`BLOCK`] long; `None` for one call.
/// Under an address-space limit it never cuts: each thread that runs faer maps its own
/// packing buffer ([`faer_buffer_fits`](crate::memory::faer_buffer_fits)).
fn blocks(threads: usize, long: usize, rest: usize) -> Option<usize> {
    let cut = threads > 1 && long >= threads * BLOCK && rest >= MIN_REST;
    let per_thread = (long + threads * BLOCK / 2) / (threads * BLOCK);
    (cut && !crate::memory::address_space_limited()).then_some(threads * per_thread)
}

/// About this many entries of C along the side cut per block in [`faer_gemm`]: 512
/// and 384 ran faster than 768 and 1024 in one scratch comparison (d = 4000, Emerald
/// Rapids); later runs put 192–1024 within their noise of 512 (docs/measured.md).
const BLOCK: usize = 512;

/// The most multiply-adds faer runs on its nano-GEMM (no packing buffer; its sums run in
/// another order than its GEMM's).
const NANO: usize = 16 * 16 * 16;

/// The fewest multiply-adds for which a product splits its work among threads (faer's
/// or the thin kernel's): below it the split cost more than it saved (two threads
/// against one on Zen 3, docs/measured.md: a batch's four faer products at k = 64 1.4×
/// slower at 0.65 M multiply-adds each, level at 1.4 M, 10–24 % faster at 2.6–4 M; the
/// thin Wᵀ·X 1.95× slower at 0.16 M, level at 0.64 M, 8 % faster at 2.1 M). The sums
/// run in the same order either way.
const SPLIT_FROM: usize = 1 << 21;

/// The fewest multiply-adds per entry along the side cut (k times C's other side)
/// for which [`faer_gemm`] cuts: with blocks of at least BLOCK / 2 entries, each block is
/// then over [`NANO`] multiply-adds, past faer's nano-GEMM.
const MIN_REST: usize = 64;

/// [`faer_gemm`]'s `blocks` blocks of C along `axis`, on rayon's workers: C halved (at
/// a multiple of 16 rows or columns: 128 bytes of f64 along a unit stride) until each
/// part is one block.
fn faer_blocks<T: Real>(
    axis: Axis,
    blocks: usize,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    if blocks == 1 {
        return faer_call(a, b, c, 1);
    }
    let first = blocks / 2;
    let mid = (c.len_of(axis) * first / blocks).next_multiple_of(16);
    let (c0, c1) = c.split_at(axis, mid);
    let ((a0, b0), (a1, b1)) = match axis {
        Axis(0) => {
            let (a0, a1) = a.split_at(axis, mid);
            ((a0, b), (a1, b))
        }
        _ => {
            let (b0, b1) = b.split_at(axis, mid);
            ((a, b0), (a, b1))
        }
    };
    rayon::join(
        || faer_blocks(axis, first, a0, b0, c0),
        || faer_blocks(axis, blocks - first, a1, b1, c1),
    );
}

/// C ← A·B on one faer call, on `threads` of rayon's current pool.
///
/// Where faer's packing buffer would not fit under an address-space limit, on
/// matrixmultiply instead (one thread, buffers of a few MiB; not the BLAS, which may
/// spin where its own mapping is refused): the same product, its sums in another order.
fn faer_call<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>, threads: usize) {
    use std::any::TypeId;
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let multiply_adds = m.saturating_mul(n).saturating_mul(k);
    if multiply_adds > NANO && !crate::memory::faer_buffer_fits() {
        return matrixmultiply_call(a, b, c);
    }
    let [rsa, csa] = [a.strides()[0], a.strides()[1]];
    let [rsb, csb] = [b.strides()[0], b.strides()[1]];
    let [rsc, csc] = [c.strides()[0], c.strides()[1]];
    let par = match threads {
        1 => faer::Par::Seq,
        t => faer::Par::rayon(t),
    };
    /// The product on raw parts of element type E.
    ///
    /// SAFETY: the caller passes the pointers and element strides of live views of
    /// these shapes, C borrowed mutably for the call.
    unsafe fn run<E: faer::traits::ComplexField + num_traits::One>(
        [m, k, n]: [usize; 3],
        (pa, rsa, csa): (*const E, isize, isize),
        (pb, rsb, csb): (*const E, isize, isize),
        (pc, rsc, csc): (*mut E, isize, isize),
        par: faer::Par,
    ) {
        // SAFETY: as the caller promises.
        let (fa, fb, fc) = unsafe {
            (
                faer::MatRef::from_raw_parts(pa, m, k, rsa, csa),
                faer::MatRef::from_raw_parts(pb, k, n, rsb, csb),
                faer::MatMut::from_raw_parts_mut(pc, m, n, rsc, csc),
            )
        };
        faer::linalg::matmul::matmul(fc, faer::Accum::Replace, fa, fb, E::one(), par);
    }
    let shape = [m, k, n];
    let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: the views' pointers and strides, C borrowed mutably; T is exactly f64 or
    // f32 in its branch.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            run::<f64>(
                shape,
                (pa.cast(), rsa, csa),
                (pb.cast(), rsb, csb),
                (pc.cast(), rsc, csc),
                par,
            );
        } else if TypeId::of::<T>() == TypeId::of::<f32>() {
            run::<f32>(
                shape,
                (pa.cast(), rsa, csa),
                (pb.cast(), rsb, csb),
                (pc.cast(), rsc, csc),
                par,
            );
        } else {
            general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
        }
    }
}

/// C ← A·B on matrixmultiply, for [`faer_call`] under a tight address-space limit.
fn matrixmultiply_call<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    use std::any::TypeId;
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let ([rsa, csa], [rsb, csb]) = (
        [a.strides()[0], a.strides()[1]],
        [b.strides()[0], b.strides()[1]],
    );
    let [rsc, csc] = [c.strides()[0], c.strides()[1]];
    let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: the views' pointers and element strides, C borrowed mutably (β = 0: C is
    // only written); T is exactly f64 or f32 in its branch.
    macro_rules! call {
        ($gemm:path) => {
            unsafe {
                $gemm(
                    m,
                    k,
                    n,
                    1.0,
                    pa.cast(),
                    rsa,
                    csa,
                    pb.cast(),
                    rsb,
                    csb,
                    0.0,
                    pc.cast(),
                    rsc,
                    csc,
                )
            }
        };
    }
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        call!(matrixmultiply::dgemm)
    } else if TypeId::of::<T>() == TypeId::of::<f32>() {
        call!(matrixmultiply::sgemm)
    } else {
        general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
    }
}

/// y ← A·x (y overwritten; A m×n, rows contiguous) on the crate's kernels, with every backend:
/// they read A faster than the BLAS GEMVs measured (docs/measured.md), and need no
/// dispatch at small sizes. Strided vectors, which are rare, go to [`mat_vec`].
pub(crate) fn gemv<T: Real>(par: Par, a: ArrayView2<T>, x: ArrayView1<T>, y: ArrayViewMut1<T>) {
    match (x.as_slice(), y.as_slice().is_some()) {
        (Some(xs), true) => own::gemv_few(par, a, &[xs], y.insert_axis(Axis(1))),
        _ => mat_vec(a, x, y),
    }
}

/// y ← Aᵀ·x (y overwritten; A m×n, rows contiguous) on the crate's kernels, as [`gemv`];
/// `partial` holds [`gemv_t_scratch_len`] values.
pub(crate) fn gemv_t<T: Real>(
    par: Par,
    a: ArrayView2<T>,
    x: ArrayView1<T>,
    mut y: ArrayViewMut1<T>,
    partial: &mut [T],
) {
    match (x.as_slice(), y.as_slice_mut()) {
        (Some(xs), Some(ys)) => own::gemv_t(par, a, xs, ys, partial),
        _ => mat_vec(a.t(), x, y),
    }
}

pub(crate) use own::gemv_t_scratch_len;

/// Most columns for which [`gemm_few`] and [`gemm_t_few`] use the crate's kernels.
pub(crate) const FEW: usize = 8;

/// Y ← A·X for X (n×w) with few columns (a value and its tangents), Y m×w in either
/// layout: A is read once, each four rows dotted with every column while in cache,
/// where a BLAS GEMM would pack A first (3× the traffic) and w GEMVs would read it w
/// times. The kernel takes X's columns as slices in place: X lies by columns, as the
/// sweeps' panels of few columns do. Other shapes and layouts go to [`gemm`].
pub(crate) fn gemm_few<T: Real>(par: Par, a: ArrayView2<T>, x: ArrayView2<T>, y: ArrayViewMut2<T>) {
    let (n, w) = x.dim();
    let columns = match x.t().to_slice() {
        Some(columns) if (1..=FEW).contains(&w) && rows_contiguous(a) => columns,
        _ => return gemm(a, x, y),
    };
    let mut rows = [&[] as &[T]; FEW];
    for (r, c) in rows.iter_mut().zip(columns.chunks(n)) {
        *r = c;
    }
    own::gemv_few(par, a, &rows[..w], y);
}

/// Y ← Aᵀ·G for G (m×w) with few columns, Y n×w in either layout, A (rows contiguous)
/// read once (see [`gemm_few`]). The kernel takes G's columns, in place: G lies by
/// columns, as the sweeps' panels of few columns do; other shapes and layouts go to
/// [`gemm`]. It writes its blocks of [`own::COLS_PER_TASK`] columns straight into a
/// column-major Y that is one block, else into `blocks` (w·n values), laid out as Y
/// after.
pub(crate) fn gemm_t_few<T: Real>(
    par: Par,
    a: ArrayView2<T>,
    g: ArrayView2<T>,
    mut y: ArrayViewMut2<T>,
    blocks: &mut [T],
) {
    let w = g.ncols();
    if w > FEW || !rows_contiguous(a) || !g.t().is_standard_layout() {
        return gemm(a.t(), g, y);
    }
    let n = a.ncols();
    match y.view_mut().reversed_axes().as_slice_mut() {
        Some(out) if n <= own::COLS_PER_TASK => own::gemv_t_few(par, a, g.t(), out),
        _ => {
            let blocks = &mut blocks[..w * n];
            own::gemv_t_few(par, a, g.t(), blocks);
            own::scatter_blocks(blocks, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, ShapeBuilder};

    /// Every split of [`faer_gemm`] against one faer call over the whole of C, bit for
    /// bit: C row-major, column-major and strided, each cut along its unit stride or,
    /// where that is thin, along the other side ([`cut`], asserted per layout),
    /// with tails of every kind, one k block and two, A and B in both layouts, f64 and
    /// f32, on two threads (cut, every case) and three (cut where C holds three blocks,
    /// else one call on three threads); on one thread, `faer_gemm` is that one call.
    fn split_matches_one_call<T: Real>() {
        let pools = [2, 3].map(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        });
        // k = 530 runs in two of faer's k blocks (512 each).
        let cases = [
            (2 * BLOCK + 76, 70, 90),
            (90, 37, 2 * BLOCK),
            (3 * BLOCK + 1, 33, 2 * BLOCK + 5),
            (2 * BLOCK + 3, 530, 40),
            (40, 530, 2 * BLOCK + 3),
        ];
        for (m, k, n) in cases {
            let fill = |r: usize, c: usize, f: bool, seed: usize| {
                let v = |(i, j): (usize, usize)| {
                    T::from((i * 31 + j * 17 + seed) % 23).unwrap() / T::from(7.3).unwrap()
                        - T::one()
                };
                Array2::from_shape_fn((r, c).set_f(f), v)
            };
            for (f, seed) in [(false, 0), (true, 5)] {
                let (a, b) = (fill(m, k, f, seed), fill(k, n, !f, seed + 1));
                let mut want = Array2::<T>::zeros((m, n));
                faer_call(a.view(), b.view(), want.view_mut(), 1);
                let mut wide = Array2::<T>::zeros((m, 2 * n + 1));
                let mut row_major = Array2::<T>::zeros((m, n));
                let mut col_major = Array2::<T>::zeros((m, n).f());
                // Every case is cut on two threads in every layout, and the side cut is
                // the unit stride unless that is thin.
                for c in [row_major.view_mut(), col_major.view_mut()] {
                    let unit = usize::from(c.strides()[1] == 1);
                    let thin = c.len_of(Axis(unit)) <= THIN;
                    let side = Axis(unit ^ usize::from(thin));
                    assert_eq!(
                        cut(2, k, &c).map(|(axis, _)| axis),
                        Some(side),
                        "{m}×{k}×{n}"
                    );
                }
                let side = Axis(usize::from(m <= THIN));
                let strided = wide.slice_mut(s![.., ..2 * n;2]);
                assert_eq!(cut(2, k, &strided).map(|(axis, _)| axis), Some(side));
                for threads in [1, 2, 3] {
                    let go = || {
                        faer_gemm(a.view(), b.view(), row_major.view_mut());
                        faer_gemm(a.view(), b.view(), col_major.view_mut());
                        faer_gemm(a.view(), b.view(), wide.slice_mut(s![.., ..2 * n;2]));
                    };
                    match threads {
                        1 => Par::Seq.install(go),
                        t => pools[t - 2].install(go),
                    }
                    let strided = wide.slice(s![.., ..2 * n;2]).to_owned();
                    for (got, layout) in [
                        (&row_major, "row-major"),
                        (&col_major, "column-major"),
                        (&strided, "strided"),
                    ] {
                        let differ = Zip::from(got).and(&want).fold(0, |n, g, w| {
                            n + usize::from(g.as_f64().to_bits() != w.as_f64().to_bits())
                        });
                        assert_eq!(
                            differ, 0,
                            "entries differing: {m}×{k}×{n}, C {layout}, {threads} threads"
                        );
                    }
                }
            }
        }
    }

    /// The pure-Rust GEMM on AVX2 or AVX-512 (the packed one), where its operands' layouts
    /// let it run: A and B by rows with C by rows or within a wider matrix, and A and B
    /// by columns with C by columns (as Cᵀ = Bᵀ·Aᵀ); on two threads, every entry the fused
    /// chain of multiply-adds in k's order, bit for bit. k = 600 is past faer's kc-block
    /// (512), whose sums are not one chain: the fallback would fail here. On the portable
    /// kernels faer runs these, and only the shapes are checked.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_packed_gemm_takes_c_by_rows_or_by_columns() {
        fn check<T: Real>() {
            let (m, k, n) = (37, 600, 150);
            let wave =
                |s: usize, t: usize, o: usize| T::from_f64(((s * 3 + t * 5 + o) as f64).sin());
            let a = Array2::from_shape_fn((m, k), |(i, p)| wave(i, p, 1));
            let b = Array2::from_shape_fn((k, n), |(p, j)| wave(j, p, 2));
            let want = Array2::from_shape_fn((m, n), |(i, j)| {
                (0..k).fold(T::zero(), |s, p| a[[i, p]].mul_add(b[[p, j]], s))
            });
            let bits =
                |c: ArrayView2<T>| c.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>();
            let by_columns = |x: &Array2<T>| x.t().as_standard_layout().reversed_axes().to_owned();
            let (a_cols, b_cols) = (by_columns(&a), by_columns(&b));
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            let mut rows = Array2::from_elem((m, n), T::nan());
            let mut within = Array2::from_elem((m, n + 3), T::nan());
            let mut columns = Array2::from_elem((m, n).f(), T::nan());
            pool.install(|| {
                pure_gemm(a.view(), b.view(), rows.view_mut());
                pure_gemm(a.view(), b.view(), within.slice_mut(s![.., 1..n + 1]));
                pure_gemm(a_cols.view(), b_cols.view(), columns.view_mut());
            });
            let results = [rows.view(), within.slice(s![.., 1..n + 1]), columns.view()];
            for (c, layout) in results.into_iter().zip(["by rows", "within", "by columns"]) {
                match crate::kernels::detected() {
                    crate::kernels::Detected::Portable(_) => {
                        assert!(c.iter().all(|v| v.is_finite()), "C {layout}")
                    }
                    _ => assert_eq!(bits(c), bits(want.view()), "C {layout}"),
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// Y = A·X for X column-major (the few-column kernel, reading X in place), row-major
    /// and strided (a GEMM, except at one column, where a row-major X also lies by
    /// columns and takes the kernel), Y in either layout, 1 to 8 columns, and past it
    /// (9, a GEMM): exact on small integers, so equal to a plain sum.
    #[test]
    fn few_column_products_take_x_in_any_layout() {
        let (m, n) = (37, 29);
        let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 5 + j * 3) % 11) as f64 - 5.0);
        for w in 1..=9 {
            let x = Array2::from_shape_fn((n, w), |(i, j)| ((i * 7 + j) % 9) as f64 - 4.0);
            let want = Array2::from_shape_fn((m, w), |(i, j)| {
                (0..n).map(|k| a[[i, k]] * x[[k, j]]).sum::<f64>()
            });
            let mut col_major = Array2::zeros((n, w).f());
            col_major.assign(&x);
            let mut wide = Array2::zeros((n, 2 * w));
            wide.slice_mut(s![.., ..;2]).assign(&x);
            for x in [x.view(), col_major.view(), wide.slice(s![.., ..;2])] {
                for f in [false, true] {
                    let mut y = Array2::zeros((m, w).set_f(f));
                    gemm_few(Par::Seq, a.view(), x, y.view_mut());
                    assert_eq!(
                        y,
                        want,
                        "{w} columns, strides {:?}, Y by columns {f}",
                        x.strides()
                    );
                }
            }
        }
    }

    /// Y = Aᵀ·G for G column-major (the few-column kernel) and row-major (a GEMM, except
    /// at one column, where it is column-major too), Y in either layout, A narrow (Y one block of the kernel's, written in place where Y is
    /// column-major) and wide (blocks, then laid out), 1 to 8 columns and past it (a
    /// GEMM): exact on small integers.
    #[test]
    fn transposed_few_column_products_take_g_and_y_in_either_layout() {
        for (m, n) in [(29, 37), (9, 2 * own::COLS_PER_TASK + 5)] {
            let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 5 + j * 3) % 11) as f64 - 5.0);
            for w in 1..=9 {
                let g = Array2::from_shape_fn((m, w), |(i, j)| ((i * 7 + j) % 9) as f64 - 4.0);
                let want = Array2::from_shape_fn((n, w), |(i, j)| {
                    (0..m).map(|k| a[[k, i]] * g[[k, j]]).sum::<f64>()
                });
                for (fg, fy) in [(false, false), (false, true), (true, false), (true, true)] {
                    let mut gl = Array2::zeros((m, w).set_f(fg));
                    gl.assign(&g);
                    // Y alone, and Y the top of a taller matrix (by columns: not
                    // contiguous, so through the blocks).
                    let mut taller = Array2::from_elem((n + 3, w).set_f(fy), f64::NAN);
                    for par in [Par::Seq, Par::Rayon] {
                        let what = format!("{m}x{n}, {w} columns, G by columns {fg}, Y {fy}");
                        let mut y = Array2::from_elem((n, w).set_f(fy), f64::NAN);
                        let mut blocks = vec![f64::NAN; n * w];
                        let (a, gl) = (a.view(), gl.view());
                        gemm_t_few(par, a, gl, y.view_mut(), &mut blocks);
                        assert_eq!(y, want, "{what}, {par:?}");
                        let top = taller.slice_mut(s![..n, ..]);
                        gemm_t_few(par, a, gl, top, &mut blocks);
                        assert_eq!(taller.slice(s![..n, ..]), want, "{what}, a taller Y");
                    }
                }
            }
        }
    }

    #[test]
    fn split_gemm_matches_one_call_bit_for_bit() {
        split_matches_one_call::<f64>();
        split_matches_one_call::<f32>();
    }
}
