//! The vector kernels that every matrix-vector product of the crate is made of — dot
//! products and axpys, four (or eight) rows of a matrix at a time — one copy per
//! instruction set.
//!
//! A [`Kernel`] is a token for an instruction set ([`Portable`]; [`Avx2`] and [`Avx512`]
//! on x86-64).
//! The loops built on it (the GEMVs in [`gemv`], reverse mode's fused pass) are generic
//! over it, so each loop is compiled once per instruction set, and [`with_kernel!`]
//! runs the copy for this CPU, detected once per process — matrixmultiply's
//! `dgemm_kernel::detect` and `GemmKernel` are the model.
//!
//! Every copy sums in the same fixed order (16 or 8 interleaved partial sums, then a
//! fixed tree), so no result depends on the thread count; the copies with fused
//! multiply-adds round differently from those without, each deterministically.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod blocked;
#[cfg(target_arch = "x86_64")]
mod cast;
pub(crate) mod gemv;
pub(crate) mod half_tanh;
#[cfg(target_arch = "x86_64")]
mod lanes;
#[cfg(target_arch = "x86_64")]
mod logistic;
mod portable;
#[cfg(target_arch = "x86_64")]
mod tanh;
pub(crate) mod thin;

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::Avx512;

use crate::Real;
use std::ops::Range;
use std::sync::OnceLock;

/// One instruction set's kernels.
pub(crate) trait Kernel: Copy + Send + Sync + 'static {
    /// Σ a_k·b_k.
    fn dot<T: Real>(self, a: &[T], b: &[T]) -> T;
    /// y ← y + α·x.
    fn axpy<T: Real>(self, alpha: T, x: &[T], y: &mut [T]);
    /// The four dot products `rows[r]·x`, interleaved: four memory streams in flight and x
    /// read once for all four.
    fn dot4<T: Real>(self, rows: [&[T]; 4], x: &[T]) -> [T; 4];
    /// `y ← y + Σ_r α_r·rows[r]`, y read and written once for the four rows, each entry's
    /// terms added in order r = 0..4 (as four [`axpy`](Kernel::axpy) calls would).
    fn axpy4<T: Real>(self, alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]);
    /// [`dot4`](Kernel::dot4) of rows 0–3 and of rows 4–7, with their bits. The AVX-512
    /// f64 copy sweeps all eight at once, asking for nothing ahead: the loops take it
    /// where [`octets`] says that pays.
    #[inline(always)]
    fn dot8<T: Real>(self, rows: [&[T]; 8], x: &[T]) -> [T; 8] {
        joined(halves(rows).map(|q| self.dot4(q, x)))
    }
    /// [`axpy4`](Kernel::axpy4) of rows 0–3, then of rows 4–7: each entry's terms added
    /// in order r = 0..8, with the bits of the two calls. The AVX-512 f64 copy sweeps
    /// all eight at once, as [`dot8`](Kernel::dot8); so do AVX2's, f64 and f32 (y read
    /// and written once for the eight rows, where two quads read and wrote it twice;
    /// docs/measured.md).
    #[inline(always)]
    fn axpy8<T: Real>(self, alpha: [T; 8], rows: [&[T]; 8], y: &mut [T]) {
        let ([a, b], [p, q]) = (halves(alpha), halves(rows));
        self.axpy4(a, p, y);
        self.axpy4(b, q, y);
    }
    /// [`axpy4`](Kernel::axpy4) of the same rows into two vectors of one length, with
    /// their own coefficients: each row's values loaded once for both where the kernel
    /// has the registers (AVX-512, f64). The bits of the two calls.
    #[inline(always)]
    fn axpy4x2<T: Real>(self, alpha: [[T; 4]; 2], rows: [&[T]; 4], y: [&mut [T]; 2]) {
        assert_eq!(y[0].len(), y[1].len(), "two vectors of one length");
        let [y0, y1] = y;
        self.axpy4(alpha[0], rows, y0);
        self.axpy4(alpha[1], rows, y1);
    }
    /// y ← Aᵀ·g over A's columns `cols` (`y[c] = Σ_i g[i]·A[i, cols.start + c]`, y as long
    /// as `cols`, g one entry per row of A): each entry's terms added from 0 in row
    /// order, the bits (NaN payloads aside) of [`gemv_t_by_quads`]. The AVX2 f64 copy,
    /// for rows shorter than a page, keeps a block of y in registers over passes of many
    /// rows ([`blocked`]).
    #[inline(always)]
    fn gemv_t1<T: Real>(self, a: RowSlices<'_, T>, cols: Range<usize>, g: &[T], y: &mut [T]) {
        gemv_t_by_quads(self, a, cols, g, y)
    }
    /// `[y_0 | y_1] ← Aᵀ·[g_0 | g_1]` over A's columns `cols`
    /// (`y_j[c] = Σ_i g_j[i]·A[i, cols.start + c]`, y_j as long as `cols`, g_j one entry
    /// per row of A): each entry's terms added from 0 in row order, the bits (NaN
    /// payloads aside) of [`gemv_t2_by_quads`]. The AVX-512 f64 copy, and the AVX2 one for
    /// rows shorter than a page, keep a block of both results in registers over passes of
    /// many rows ([`blocked`]), so y is loaded and stored once a pass instead of once a
    /// quad.
    #[inline(always)]
    fn gemv_t2<T: Real>(
        self,
        a: RowSlices<'_, T>,
        cols: Range<usize>,
        g: [&[T]; 2],
        y: [&mut [T]; 2],
    ) {
        gemv_t2_by_quads(self, a, cols, g, y)
    }
    /// [`dot4`](Kernel::dot4) of the same rows with two vectors of one length (a value
    /// and its tangent): each row's values loaded once for both where the kernel has
    /// the registers (AVX-512, f64). The bits of the two calls.
    #[inline(always)]
    fn dot4x2<T: Real>(self, rows: [&[T]; 4], x: [&[T]; 2]) -> [[T; 4]; 2] {
        debug_assert_eq!(x[0].len(), x[1].len(), "two vectors of one length");
        x.map(|x| self.dot4(rows, x))
    }
    /// [y_0 | y_1] ← A·[x_0 | x_1] for A of whole quads of rows (x_j as long as a row, y_j
    /// one entry per row): each quad's [`dot4x2`](Kernel::dot4x2), with its bits, into
    /// both columns. The AVX2 f64 copy, for rows shorter than a page, loads each row's
    /// values once for both vectors (in pairs of rows: it has the registers for no more)
    /// and stores a quad's four dots at once. The quads go from the last where `back`
    /// ([`last_first`]).
    #[inline(always)]
    fn gemv2<T: Real>(self, a: RowSlices<'_, T>, x: [&[T]; 2], y: [&mut [T]; 2], back: bool) {
        gemv2_by_quads(self, a, x, y, back)
    }
    /// dot4(rows, x) while adding `Σ_r α_r·prev[r]` into `y[..x.len()]` in the same sweep:
    /// reverse mode's next four rows stream in from memory while the previous four,
    /// still in cache, update the adjoint. The same bits as the two calls in sequence.
    fn dot4_axpy4<T: Real>(
        self,
        rows: [&[T]; 4],
        x: &[T],
        alpha: [T; 4],
        prev: [&[T]; 4],
        y: &mut [T],
    ) -> [T; 4];
    /// [`dot4_axpy4`](Kernel::dot4_axpy4) of rows 0–3 with prev 0–3, then of rows 4–7
    /// with prev 4–7, with the bits of the two calls. The AVX-512 f64 copy sweeps all
    /// sixteen rows at once: the fused pass takes it where [`octets`] says that pays and
    /// [`sweeps_eight`](Kernel::sweeps_eight) says it is one sweep.
    #[inline(always)]
    fn dot8_axpy8<T: Real>(
        self,
        rows: [&[T]; 8],
        x: &[T],
        alpha: [T; 8],
        prev: [&[T]; 8],
        y: &mut [T],
    ) -> [T; 8] {
        let ([r0, r1], [a0, a1], [p0, p1]) = (halves(rows), halves(alpha), halves(prev));
        let first = self.dot4_axpy4(r0, x, a0, p0, y);
        joined([first, self.dot4_axpy4(r1, x, a1, p1, y)])
    }
    /// Whether [`dot8_axpy8`](Kernel::dot8_axpy8) is one sweep for T. Where it is two
    /// fused quads, groups of eight in the fused pass would pair each quad with the one
    /// two before it, further back in cache (512 KB at rows of 64 KB, all of a small L2),
    /// so the pass keeps groups of four there.
    #[inline(always)]
    fn sweeps_eight<T: Real>(self) -> bool {
        false
    }
    /// σ(t) into `y` and σ'(t) into `s` for every t in `y`, the bits of
    /// `Activation::Sigmoid.value_and_slope` for each.
    #[inline]
    fn sigmoid<T: Real>(self, y: &mut [T], s: &mut [T]) {
        portable::sigmoid(y, s)
    }
    /// tanh of every value in `x`, in place, the bits of the scalar `tanh` for each.
    #[inline]
    fn tanh<T: Real>(self, x: &mut [T]) {
        x.iter_mut().for_each(|x| *x = x.tanh())
    }
    /// tanh(t/2) of every t in `x`, in place, the bits of [`half_tanh::half_tanh`] for
    /// each.
    #[inline]
    fn half_tanh<T: Real>(self, x: &mut [T]) {
        x.iter_mut().for_each(|x| *x = half_tanh::of(*x))
    }
    /// e^x of every value in `x`, in place, the bits of the scalar `exp` for each.
    #[inline]
    fn exp<T: Real>(self, x: &mut [T]) {
        x.iter_mut().for_each(|x| *x = x.exp())
    }
}

/// [`Kernel::gemv2`] by [`dot4x2`](Kernel::dot4x2) over A's quads of rows, from the last
/// where `back`.
#[inline(always)]
pub(crate) fn gemv2_by_quads<K: Kernel, T: Real>(
    k: K,
    a: RowSlices<'_, T>,
    x: [&[T]; 2],
    y: [&mut [T]; 2],
    back: bool,
) {
    let (m, n) = (a.nrows(), a.ncols());
    let [y0, y1] = y;
    let fits = x.iter().all(|x| x.len() == n) && y0.len() == m && y1.len() == m;
    assert!(
        m.is_multiple_of(4) && fits,
        "{m}×{n}: whole quads, x_j one entry per column, y_j per row"
    );
    for i in group_starts(0..m, 4, back) {
        let [d0, d1] = k.dot4x2(a.quad(i), x);
        y0[i..i + 4].copy_from_slice(&d0);
        y1[i..i + 4].copy_from_slice(&d1);
    }
}

/// [`Kernel::gemv_t1`] by [`axpy8`](Kernel::axpy8) over A's octets of rows where
/// [`octets`] says that pays, then [`axpy4`](Kernel::axpy4) over quads, then
/// [`axpy`](Kernel::axpy) over the rest: y loaded and stored for every quad.
#[inline(always)]
pub(crate) fn gemv_t_by_quads<K: Kernel, T: Real>(
    k: K,
    a: RowSlices<'_, T>,
    cols: Range<usize>,
    g: &[T],
    y: &mut [T],
) {
    let m = a.nrows();
    assert!(
        g.len() == m && y.len() == cols.len(),
        "g one entry per row, y per column"
    );
    y.fill(T::zero());
    let row = |i: usize| &a.row(i)[cols.clone()];
    let octets_end = if a.octets() { m / 8 * 8 } else { 0 };
    for i in (0..octets_end).step_by(8) {
        let alpha = std::array::from_fn(|q| g[i + q]);
        k.axpy8(alpha, std::array::from_fn(|q| row(i + q)), y);
    }
    let quads = octets_end + (m - octets_end) / 4 * 4;
    for i in (octets_end..quads).step_by(4) {
        let alpha = [g[i], g[i + 1], g[i + 2], g[i + 3]];
        k.axpy4(alpha, [row(i), row(i + 1), row(i + 2), row(i + 3)], y);
    }
    for (i, &gi) in g.iter().enumerate().skip(quads) {
        k.axpy(gi, row(i), y);
    }
}

/// [`Kernel::gemv_t2`] by [`axpy4x2`](Kernel::axpy4x2) over A's quads of rows, then
/// [`axpy`](Kernel::axpy) over the rest: y loaded and stored for every quad.
#[inline(always)]
pub(crate) fn gemv_t2_by_quads<K: Kernel, T: Real>(
    k: K,
    a: RowSlices<'_, T>,
    cols: Range<usize>,
    g: [&[T]; 2],
    y: [&mut [T]; 2],
) {
    let m = a.nrows();
    let [y0, y1] = y;
    assert!(g.iter().all(|g| g.len() == m), "one g_j entry per row");
    assert!(
        y0.len() == cols.len() && y1.len() == cols.len(),
        "y_j as long as cols"
    );
    y0.fill(T::zero());
    y1.fill(T::zero());
    let row = |i: usize| &a.row(i)[cols.clone()];
    let quads = m / 4 * 4;
    for i in (0..quads).step_by(4) {
        let alpha = |g: &[T]| -> [T; 4] { g[i..i + 4].try_into().expect("four") };
        let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
        k.axpy4x2([alpha(g[0]), alpha(g[1])], r, [&mut *y0, &mut *y1]);
    }
    for (i, (&g0, &g1)) in g[0].iter().zip(g[1]).enumerate().skip(quads) {
        k.axpy(g0, row(i), y0);
        k.axpy(g1, row(i), y1);
    }
}

/// The kernels in plain Rust, for any CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Kernel for Portable {
    #[inline]
    fn dot<T: Real>(self, a: &[T], b: &[T]) -> T {
        portable::dot::<T, false>(a, b)
    }
    #[inline]
    fn axpy<T: Real>(self, alpha: T, x: &[T], y: &mut [T]) {
        portable::axpy::<T, false>(alpha, x, y)
    }
    #[inline]
    fn dot4<T: Real>(self, rows: [&[T]; 4], x: &[T]) -> [T; 4] {
        portable::dot4::<T, false>(rows, x)
    }
    #[inline]
    fn axpy4<T: Real>(self, alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
        portable::axpy4::<T, false>(alpha, rows, y)
    }
    #[inline]
    fn dot4_axpy4<T: Real>(
        self,
        rows: [&[T]; 4],
        x: &[T],
        alpha: [T; 4],
        prev: [&[T]; 4],
        y: &mut [T],
    ) -> [T; 4] {
        self.axpy4(alpha, prev, &mut y[..x.len()]);
        self.dot4(rows, x)
    }
}

/// The kernel this CPU runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Detected {
    /// AVX-512F (with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// Anything else.
    Portable(Portable),
}

/// The best kernel for this CPU, detected on first use.
pub(crate) fn detected() -> Detected {
    static DETECTED: OnceLock<Detected> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx512::detect() {
            return Detected::Avx512(k);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx2::detect() {
            return Detected::Avx2(k);
        }
        Detected::Portable(Portable)
    })
}

/// Evaluates `$body` with `$k` bound to this CPU's [`Kernel`]: the body is compiled
/// once per instruction set, with that set enabled (see [`Avx2::vectorize`]), and the
/// choice is made here, once per call of a loop.
macro_rules! with_kernel {
    (|$k:ident| $body:expr) => {
        match $crate::kernels::detected() {
            #[cfg(target_arch = "x86_64")]
            $crate::kernels::Detected::Avx512($k) => $k.vectorize(
                #[inline(always)]
                || $body,
            ),
            #[cfg(target_arch = "x86_64")]
            $crate::kernels::Detected::Avx2($k) => $k.vectorize(
                #[inline(always)]
                || $body,
            ),
            $crate::kernels::Detected::Portable($k) => $body,
        }
    };
}
pub(crate) use with_kernel;

/// The cache a [`prefetch`] asks a line into: L1.
pub(crate) const INTO_L1: u8 = 1;
/// The cache a [`prefetch`] asks a line into: L2.
pub(crate) const INTO_L2: u8 = 2;

/// Asks for the line holding `p` in the cache `LEVEL` ([`INTO_L1`] or [`INTO_L2`]): a
/// hint, with no fault and no effect on results whatever the address.
#[inline(always)]
pub(crate) fn prefetch<const LEVEL: u8, T>(p: *const T) {
    const { assert!(LEVEL == INTO_L1 || LEVEL == INTO_L2, "L1 or L2") };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0, _MM_HINT_T1};
        match LEVEL {
            INTO_L1 => _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()),
            _ => _mm_prefetch::<_MM_HINT_T1>(p.cast::<i8>()),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A 4 KB page, in bytes: the hardware's prefetchers stop at each one.
const PAGE: usize = 4096;

/// A cache line, in bytes.
const LINE: usize = 64;

/// Whether rows of `n` entries of T are long: at least a page, as wide as a network
/// whose weights stream from memory, not cache. `dot4`, `axpy4`, `dot4_axpy4`,
/// `dot8_axpy8` and AVX2's `axpy8` ask for long rows ahead ([`fetch_ahead`]); shorter
/// ones (small networks) take no hints, nor do `dot4x2`, `axpy4x2`, and the AVX-512 f64
/// `dot8` and `axpy8`.
#[inline(always)]
pub(crate) fn long_rows<T>(n: usize) -> bool {
    n * std::mem::size_of::<T>() >= PAGE
}

/// For a sweep of N long rows through entries i .. i + STEP (i a multiple of STEP):
/// asks for each of their lines a page ahead into L2 and eight lines ahead into L1,
/// once per line. Where a sweep also reads other rows, y or x from L2 (the fused pass
/// does), each page's first lines would otherwise wait on memory (docs/measured.md,
/// the fused pass at d = 8000 on Zen 4). A step shorter than a line asks at the steps
/// whose i is a multiple of a line's entries.
#[inline(always)]
pub(crate) fn fetch_ahead<T, const STEP: usize, const N: usize>(p: [*const T; N], i: usize) {
    // Entries in a line. One hint per line needs steps and lines that divide one another.
    let line = const {
        let line = LINE / size_of::<T>();
        assert!(STEP > 0 && (STEP.is_multiple_of(line) || line.is_multiple_of(STEP)));
        line
    };
    if STEP < line && !i.is_multiple_of(line) {
        return;
    }
    for o in (0..STEP).step_by(line) {
        for p in p {
            // Past a row's end too: only a hint, the pointer never dereferenced.
            prefetch::<INTO_L2, _>(p.wrapping_add(i + o + PAGE / size_of::<T>()));
            prefetch::<INTO_L1, _>(p.wrapping_add(i + o + 8 * line));
        }
    }
}

/// Most bytes of a layer whose long rows the forward products take from the last
/// ([`last_first`]): chosen on Emerald Rapids (2 MB of L2 a core), between (600)³, 2.9 MB
/// a layer, where that was faster, and (1000)³, 8 MB, where it was not.
const LAST_FIRST_MAX: usize = 4 << 20;

/// Whether the forward products dot the rows of an m×n matrix from the last to the
/// first. A reverse sweep over a layer (Aᵀ·g, in row order) ends on its last rows, so the
/// next call's forward sweep over it finds them still in cache: in L1 for a small network
/// (∇f at (100, 105, 95): 13 % fewer L1 misses, 4–5 % faster), in L2 for a layer of a few
/// MB on one thread (at (600)³ 23 % fewer L2 misses, the VJP and HVP 6–12 % faster;
/// docs/measured.md). Long rows ([`long_rows`]) ask for the next row ahead
/// ([`fetch_ahead`]), which a sweep from the last no longer reads next: they go from the
/// last only in a layer of at most [`LAST_FIRST_MAX`] bytes. A dot does not depend on
/// when it is taken: the order changes no bit.
#[inline(always)]
pub(crate) fn last_first<T>(m: usize, n: usize) -> bool {
    !long_rows::<T>(n) || m.saturating_mul(n).saturating_mul(size_of::<T>()) <= LAST_FIRST_MAX
}

/// The first rows of the groups of `step` rows in `rows` (a multiple of `step` long):
/// from the last group to the first where `back`, else in order.
#[inline(always)]
pub(crate) fn group_starts(
    rows: Range<usize>,
    step: usize,
    back: bool,
) -> impl Iterator<Item = usize> {
    debug_assert!(step > 0 && rows.len().is_multiple_of(step), "whole groups");
    (0..rows.len() / step).map(move |g| match back {
        true => rows.end - step * (g + 1),
        false => rows.start + step * g,
    })
}

/// Whether loops over rows of `n` entries of T, starting `stride` entries apart, take
/// them eight at a time ([`Kernel::dot8`], [`Kernel::axpy8`]; the same bits as four at
/// a time): for rows of a page or more ([`long_rows`]), which stream from L3 or memory.
/// There the AVX-512 f64 kernel's eight-row sweeps read x or y from L2 once for eight
/// rows instead of four (without hints), which measured faster on Zen 4
/// (docs/measured.md), and AVX2's `axpy8` (f64 and f32) reads and writes y once for
/// eight rows; the other sweeps are the same two four-row sweeps either way.
/// The fused pass's eight-row sweep ([`Kernel::dot8_axpy8`]) follows the same rule
/// where it is one sweep. Not where the starts are a whole number of pages apart: eight
/// such rows, with x or y, would all fall in one set of an L1 cache of eight ways (Zen
/// 4's).
#[inline(always)]
pub(crate) fn octets<T>(n: usize, stride: isize) -> bool {
    long_rows::<T>(n) && !(stride.unsigned_abs() * size_of::<T>()).is_multiple_of(PAGE)
}

/// Rows 0–3 and 4–7 of eight (or their coefficients).
#[inline(always)]
pub(crate) fn halves<V: Copy>(v: [V; 8]) -> [[V; 4]; 2] {
    let [a, b, c, d, e, f, g, h] = v;
    [[a, b, c, d], [e, f, g, h]]
}

/// Two fours as eight: [`halves`] undone.
#[inline(always)]
pub(crate) fn joined<V: Copy>([[a, b, c, d], [e, f, g, h]]: [[V; 4]; 2]) -> [V; 8] {
    [a, b, c, d, e, f, g, h]
}

/// `f` itself. Stable Rust takes `#[inline(always)]` on a closure only where the closure
/// is an argument; a loop's closure called from two places (its parallel and its
/// sequential branch) is bound through this to carry it. Inlined into a body that
/// [`with_kernel!`] compiled for an instruction set, its kernel calls are inlined too.
#[inline(always)]
pub(crate) fn inlined<F>(f: F) -> F {
    f
}

/// Whether A's rows can be read as slices: a network's weights, whose rows may be
/// padded to whole lines. An empty A has none to read (ndarray gives it zero strides,
/// and a rank's share of a layer may have no rows).
pub(crate) fn rows_contiguous<T>(a: ndarray::ArrayView2<T>) -> bool {
    a.is_empty() || a.ncols() <= 1 || a.strides()[1] == 1
}

/// The rows of a matrix whose rows are contiguous (a network's weights, rows perhaps
/// padded to whole lines), as slices. The kernels' loops take four rows a step; a view
/// and its layout checks per row were part of the glue that took a fifth of a small
/// network's JVP (docs/measured.md). Here a row is an offset and a bounds check.
#[derive(Clone, Copy)]
pub(crate) struct RowSlices<'a, T> {
    a: ndarray::ArrayView2<'a, T>,
}

impl<'a, T> RowSlices<'a, T> {
    /// Panics unless [`rows_contiguous`].
    pub(crate) fn new(a: ndarray::ArrayView2<'a, T>) -> Self {
        assert!(
            rows_contiguous(a),
            "A's rows contiguous, not strides {:?}",
            a.strides()
        );
        RowSlices { a }
    }

    /// Row i.
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &'a [T] {
        assert!(i < self.a.nrows(), "row {i} of {}", self.a.nrows());
        let a = self.a;
        // SAFETY: i < nrows, and ndarray keeps the address of every in-bounds index
        // along an axis inside the view's allocation (or one past it when the view is
        // empty), so the row starts there. Its ncols entries are one apart where ncols > 1
        // (`new` checked); a row of one entry or none has no column stride to trust. The
        // view borrows the memory for 'a.
        unsafe {
            std::slice::from_raw_parts(a.as_ptr().offset(i as isize * a.strides()[0]), a.ncols())
        }
    }

    /// Rows `r` of these, without a slice's per-axis bookkeeping (a block of a sweep).
    #[inline]
    pub(crate) fn rows(&self, r: Range<usize>) -> Self {
        let (_, from) = self.a.split_at(ndarray::Axis(0), r.start);
        RowSlices {
            a: from.split_at(ndarray::Axis(0), r.len()).0,
        }
    }

    /// How many rows.
    #[inline(always)]
    pub(crate) fn nrows(&self) -> usize {
        self.a.nrows()
    }

    /// How many entries a row has.
    #[inline(always)]
    pub(crate) fn ncols(&self) -> usize {
        self.a.ncols()
    }

    /// Row 0's address and the distance between rows' starts, in entries (for
    /// kernels that step from row to row; [`row`](Self::row) says why it is sound).
    #[inline(always)]
    pub(super) fn start_and_stride(&self) -> (*const T, isize) {
        (self.a.as_ptr(), self.a.strides()[0])
    }

    /// Rows i … i + 7.
    #[inline(always)]
    pub(crate) fn octet(&self, i: usize) -> [&'a [T]; 8] {
        std::array::from_fn(|r| self.row(i + r))
    }

    /// Whether sweeps here take eight rows at a time ([`octets`]).
    #[inline(always)]
    pub(crate) fn octets(&self) -> bool {
        octets::<T>(self.ncols(), self.a.strides()[0])
    }

    /// Rows i … i + 3.
    #[inline(always)]
    pub(crate) fn quad(&self, i: usize) -> [&'a [T]; 4] {
        [
            self.row(i),
            self.row(i + 1),
            self.row(i + 2),
            self.row(i + 3),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of row-major, line-padded, sliced, reversed, one-column, no-column and
    /// empty matrices is the view's row, of a range of rows too; a row past the last
    /// panics.
    #[test]
    fn row_slices_are_the_rows() {
        let a = ndarray::Array2::from_shape_fn((7, 13), |(i, j)| (i * 100 + j) as f64);
        let empty = ndarray::Array2::<f64>::zeros((0, 5));
        let padded = crate::memory::copy_on_lines(a.view()).unwrap();
        let views = [
            a.view(),
            padded.view(),
            a.slice(ndarray::s![2..6, 3..9]),
            a.slice(ndarray::s![..;2, 4..5]),
            a.slice(ndarray::s![..;-1, ..]),
            a.slice(ndarray::s![1..4, 3..3]),
            empty.view(),
        ];
        for v in views {
            let rows = RowSlices::new(v);
            for (i, r) in v.rows().into_iter().enumerate() {
                assert_eq!(rows.row(i), r.to_vec(), "row {i} of {:?}", v.shape());
            }
            let past = std::panic::catch_unwind(|| rows.row(v.nrows()).len());
            assert!(past.is_err());
            // Row ranges (a block of a sweep): the rows of the view's slice.
            let n = v.nrows();
            for r in [0..0, n..n, 0..n, n / 2..n, 1.min(n)..3.min(n)] {
                let (part, want) = (rows.rows(r.clone()), v.slice(ndarray::s![r.clone(), ..]));
                assert_eq!((part.nrows(), part.ncols()), want.dim(), "{r:?}");
                for (i, w) in want.rows().into_iter().enumerate() {
                    assert_eq!(part.row(i), w.to_vec(), "row {i} of {r:?}");
                }
            }
        }
    }

    /// Eight rows a sweep for rows of a page or more whose starts are not pages apart,
    /// either way along the rows; four otherwise.
    #[test]
    fn octets_are_for_long_rows_not_pages_apart() {
        assert!(octets::<f64>(515, 515) && octets::<f64>(515, -515));
        assert!(octets::<f64>(512, 520) && octets::<f32>(1024, 1040));
        assert!(!octets::<f64>(511, 515), "a row under a page");
        assert!(!octets::<f32>(1000, 1030), "a row under a page");
        for pages in [1, 2, 3] {
            assert!(
                !octets::<f64>(512 * pages, 512 * pages as isize),
                "{pages} pages"
            );
            assert!(
                !octets::<f64>(500 * pages, -512 * pages as isize),
                "{pages} pages"
            );
        }
        // A network's rows, padded to whole lines: d = 1000 pads nothing (8000 bytes),
        // and is not a page multiple; 1024 is.
        let lined = |d: usize| {
            let a = ndarray::Array2::<f64>::zeros((9, d));
            crate::memory::copy_on_lines(a.view()).expect("fits")
        };
        assert!(RowSlices::new(lined(1000).view()).octets());
        assert!(!RowSlices::new(lined(1024).view()).octets());
        assert!(!RowSlices::new(lined(100).view()).octets());
    }

    /// Short rows from the last, long ones too in a layer of at most 4 MiB; every group
    /// once, in order or from the last.
    #[test]
    fn rows_go_from_the_last_where_they_stay_in_cache() {
        assert!(last_first::<f64>(100_000, 511), "short f64 rows");
        assert!(last_first::<f32>(100_000, 1023), "short f32 rows");
        assert!(last_first::<f64>(1024, 512), "long rows, 4 MiB");
        assert!(!last_first::<f64>(1025, 512), "long rows, past 4 MiB");
        assert!(!last_first::<f64>(1000, 1000), "8 MB of f64");
        assert!(!last_first::<f32>(2000, 1024), "8 MB of f32");
        let starts =
            |rows: Range<usize>, step, back| group_starts(rows, step, back).collect::<Vec<_>>();
        assert_eq!(starts(0..12, 4, true), [8, 4, 0]);
        assert_eq!(starts(8..20, 4, false), [8, 12, 16]);
        assert_eq!(starts(8..32, 8, true), [24, 16, 8]);
        assert!(starts(4..4, 4, true).is_empty(), "no quads");
        assert!(starts(0..0, 8, false).is_empty(), "no octets");
    }

    /// n values of sin((i·s + 1))/3: every product rounds.
    fn waves<T: Real>(n: usize, s: usize) -> Vec<T> {
        (0..n)
            .map(|i| T::from_f64(((i * s + 1) as f64).sin() / 3.0))
            .collect()
    }

    /// Aᵀ·[g_0 | g_1]'s operands at length n: A of n + 3 columns and m rows, with and
    /// without a quad's leftovers, in one, two or three passes of 64 rows (n mod 3 and n
    /// mod 8 independent: every tail in each); its copy with rows padded to lines (a
    /// network's layout); g_0 and g_1. Every product rounds.
    fn transposed_operands<T: Real>(
        n: usize,
    ) -> (ndarray::Array2<T>, ndarray::Array2<T>, [Vec<T>; 2]) {
        let m = n % 11 + 64 * (n % 3);
        let a = ndarray::Array2::from_shape_vec((m, n + 3), waves::<T>(m * (n + 3), 3))
            .expect("m·(n + 3) values");
        let lined = crate::memory::copy_on_lines(a.view()).expect("fits");
        (a, lined, [waves::<T>(m, 11), waves::<T>(m, 13)])
    }

    /// Row lengths the kernel tests take: every tail length, and rows either side of a
    /// page (512 f64, 1024 f32), from which the kernels prefetch ahead of their sweeps.
    fn lengths() -> impl Iterator<Item = usize> {
        (0..100).chain([511, 512, 515, 1023, 1024, 1030])
    }

    /// The detected kernel against the portable one, for both types and every tail
    /// length: exact on small integers, where no rounding can differ; and the fused
    /// sweep equal to its two calls bit for bit, also where rounding happens.
    #[test]
    fn the_detected_kernel_matches_the_portable_one() {
        fn check<T: Real, K: Kernel>(k: K) {
            for n in lengths() {
                let v = |s: usize| -> Vec<T> {
                    (0..n)
                        .map(|i| T::from_f64(((i * s + 3) % 7) as f64 - 3.0))
                        .collect()
                };
                let (r0, r1, r2, r3, x) = (v(1), v(2), v(3), v(5), v(4));
                let rows = [&r0[..], &r1[..], &r2[..], &r3[..]];
                assert_eq!(k.dot4(rows, &x), Portable.dot4(rows, &x), "dot4 n={n}");
                // Eight rows: the two quads' results, in order.
                let (r4, r5, r6, r7) = (v(7), v(8), v(9), v(10));
                let rows8 = [&r0[..], &r1[..], &r2[..], &r3[..], &r4, &r5, &r6, &r7];
                let [a, b] = halves(rows8);
                let [lo, hi] = [Portable.dot4(a, &x), Portable.dot4(b, &x)];
                assert_eq!(k.dot8(rows8, &x)[..], [lo, hi].concat(), "dot8 n={n}");
                let alpha8 = [2.0, -1.0, 3.0, 0.5, -2.0, 1.0, 0.25, -3.0].map(T::from_f64);
                let (mut y, mut want) = (v(11), v(11));
                k.axpy8(alpha8, rows8, &mut y);
                Portable.axpy4(halves(alpha8)[0], a, &mut want);
                Portable.axpy4(halves(alpha8)[1], b, &mut want);
                assert_eq!(y, want, "axpy8 n={n}");
                let x2 = v(6);
                let want = [Portable.dot4(rows, &x), Portable.dot4(rows, &x2)];
                assert_eq!(k.dot4x2(rows, [&x, &x2]), want, "dot4x2 n={n}");
                assert_eq!(k.dot(&r0, &x), Portable.dot(&r0, &x), "dot n={n}");
                let alpha = [2.0, -1.0, 3.0, 0.5].map(T::from_f64);
                let (mut y, mut want) = (v(6), v(6));
                k.axpy4(alpha, rows, &mut y);
                Portable.axpy4(alpha, rows, &mut want);
                assert_eq!(y, want, "axpy4 n={n}");
                let beta = [-1.0, 0.5, 2.0, 3.0].map(T::from_f64);
                let (mut y1, mut y2, mut want2) = (v(6), v(3), v(3));
                k.axpy4x2([alpha, beta], rows, [&mut y1, &mut y2]);
                Portable.axpy4(beta, rows, &mut want2);
                assert_eq!((y1, y2), (want, want2), "axpy4x2 n={n}");
                // Aᵀ·[g_0 | g_1] against axpy on the portable kernel, exact on integers,
                // in one, two or three passes of the AVX-512 copy.
                let m = n % 11 + 64 * (n % 3);
                let a = ndarray::Array2::from_shape_fn((m, n + 1), |(i, j)| {
                    T::from_f64(((i * 5 + j * 3) % 9) as f64 - 4.0)
                });
                let g: [Vec<T>; 2] = [7, 8].map(|s| {
                    (0..m)
                        .map(|i| T::from_f64(((i * s + 3) % 7) as f64 - 3.0))
                        .collect()
                });
                let (mut y0, mut y1) = (v(1), v(2));
                k.gemv_t2(
                    RowSlices::new(a.view()),
                    1..n + 1,
                    [&g[0], &g[1]],
                    [&mut y0, &mut y1],
                );
                for (g, y) in g.iter().zip([y0, y1]) {
                    let mut want = vec![T::zero(); n];
                    for (i, &gi) in g.iter().enumerate() {
                        Portable.axpy(gi, &a.row(i).as_slice().expect("row")[1..], &mut want);
                    }
                    assert_eq!(y, want, "gemv_t2 {m}×{n}");
                }
                let w = |s: usize| waves::<T>(n, s);
                let (r0, r1, r2, r3, x) = (w(1), w(2), w(3), w(5), w(4));
                let rows = [&r0[..], &r1[..], &r2[..], &r3[..]];
                let prev = [&r3[..], &r0[..], &r2[..], &r1[..]];
                let alpha = [0.3, -1.7, 2.9, 0.11].map(T::from_f64);
                let (mut y1, mut y2) = (w(6), w(6));
                let got = k.dot4_axpy4(rows, &x, alpha, prev, &mut y1);
                k.axpy4(alpha, prev, &mut y2);
                assert_eq!((got, y1), (k.dot4(rows, &x), y2), "dot4_axpy4 n={n}");
                let (r4, r5, r6, r7) = (w(11), w(12), w(13), w(14));
                let rows8 = [&r0[..], &r1[..], &r2[..], &r3[..], &r4, &r5, &r6, &r7];
                let prev8 = [&r7[..], &r3, &r5, &r0, &r6, &r1, &r4, &r2];
                let alpha8 = [0.3, -1.7, 2.9, 0.11, -0.6, 1.3, 0.7, -2.3].map(T::from_f64);
                let (mut y1, mut y2) = (w(6), w(6));
                let got = k.dot8_axpy8(rows8, &x, alpha8, prev8, &mut y1);
                k.axpy8(alpha8, prev8, &mut y2);
                assert_eq!((got, y1), (k.dot8(rows8, &x), y2), "dot8_axpy8 n={n}");
                // σ: the same bits, also far out where slopes are flushed.
                let t: Vec<T> = w(7).iter().map(|&v| v * T::from_f64(1500.0)).collect();
                let (mut y1, mut s1, mut y2, mut s2) = (t.clone(), w(1), t, w(1));
                k.sigmoid(&mut y1, &mut s1);
                Portable.sigmoid(&mut y2, &mut s2);
                let bits = |v: &[T]| v.iter().map(|x| x.as_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    (bits(&y1), bits(&s1)),
                    (bits(&y2), bits(&s2)),
                    "sigmoid n={n}"
                );
                // tanh: the same bits, over tanh's range and beyond it (±1, NaN).
                let mut t1: Vec<T> = w(9).iter().map(|&v| v * T::from_f64(70.0)).collect();
                if n > 3 {
                    t1[3] = T::nan();
                }
                let mut t2 = t1.clone();
                k.tanh(&mut t1);
                Portable.tanh(&mut t2);
                assert_eq!(bits(&t1), bits(&t2), "tanh n={n}");
                // exp: the same bits, on glibc's fast path and off it.
                let mut e1: Vec<T> = w(10).iter().map(|&v| v * T::from_f64(2000.0)).collect();
                let mut e2 = e1.clone();
                k.exp(&mut e1);
                Portable.exp(&mut e2);
                assert_eq!(bits(&e1), bits(&e2), "exp n={n}");
            }
        }
        with_kernel!(|k| {
            check::<f64, _>(k);
            check::<f32, _>(k);
        });
    }

    /// `$check::<T, K>(k)` in f64 and f32 with the detected kernel, and in f64 with the
    /// AVX2 one where AVX-512's is detected (its f64 paths, run nowhere else there).
    macro_rules! each_kernel {
        ($check:ident) => {
            with_kernel!(|k| {
                $check::<f64, _>(k);
                $check::<f32, _>(k);
            });
            #[cfg(target_arch = "x86_64")]
            if let (Detected::Avx512(_), Some(k)) = (detected(), Avx2::detect()) {
                k.vectorize(|| $check::<f64, _>(k));
            }
        };
    }

    /// `put` on V vectors of n entries, each inside a longer buffer, against `want` on V
    /// plain ones: the same bits, and the entries either side of each untouched.
    fn same_bits_inside<T: Real, const V: usize>(
        n: usize,
        what: &str,
        put: impl FnOnce([&mut [T]; V]),
        want: impl FnOnce([&mut [T]; V]),
    ) {
        const SENTINEL: usize = 9;
        let b = |v: &[T]| v.iter().map(|x| x.as_f64().to_bits()).collect::<Vec<_>>();
        let mut p: [Vec<T>; V] = std::array::from_fn(|j| waves(n + 2 * SENTINEL, j + 1));
        let around = p.clone();
        let inner = SENTINEL..SENTINEL + n;
        put(p.each_mut().map(|p| &mut p[inner.clone()]));
        let mut q: [Vec<T>; V] = std::array::from_fn(|j| waves(n, 2 * j + 3));
        want(q.each_mut().map(|q| &mut q[..]));
        for ((p, q), around) in p.iter().zip(&q).zip(&around) {
            assert_eq!(b(&p[inner.clone()]), b(q), "{what}");
            let outside = |v: &[T]| [b(&v[..SENTINEL]), b(&v[SENTINEL + n..])];
            assert_eq!(outside(p), outside(around), "{what}: around y");
        }
    }

    /// The detected kernel's Aᵀ·g (on registers in f64 on AVX2 for rows under a page)
    /// and Aᵀ·[g_0 | g_1] (there, and on AVX-512) have the bits of the same kernel's
    /// axpy4 and axpy4x2 over the quads of rows, where rounding happens: every column
    /// count's blocks and last register (up to rows just under a page), row counts with
    /// and without a quad's leftovers in one, two or three passes, the rows padded to
    /// lines (a network's layout), or not, or in reverse order; and each writes y_j's
    /// entries and nothing around them.
    #[test]
    fn the_transposed_products_have_the_quads_bits() {
        fn check<T: Real, K: Kernel>(k: K) {
            for n in lengths().chain([250, 505, 508]) {
                let (a, lined, g) = transposed_operands::<T>(n);
                let m = a.nrows();
                let reversed = a.slice(ndarray::s![..;-1, ..]);
                for (a, c0) in [(a.view(), 2), (lined.view(), 0), (reversed, 3)] {
                    let (rows, cols) = (RowSlices::new(a), c0..c0 + n);
                    same_bits_inside(
                        n,
                        &format!("gemv_t1 {m}×{n} from {c0}"),
                        |[y]| k.gemv_t1(rows, cols.clone(), &g[0], y),
                        |[q]| gemv_t_by_quads(k, rows, cols.clone(), &g[0], q),
                    );
                    let g = [&g[0][..], &g[1][..]];
                    same_bits_inside(
                        n,
                        &format!("gemv_t2 {m}×{n} from {c0}"),
                        |y| k.gemv_t2(rows, cols.clone(), g, y),
                        |q| gemv_t2_by_quads(k, rows, cols.clone(), g, q),
                    );
                }
            }
        }
        each_kernel!(check);
    }

    /// The detected kernel's A·[x_0 | x_1] (AVX2 in f64, for rows under a page: rows in
    /// pairs, each loaded once for both vectors) has the bits of the same kernel's
    /// dot4x2 over the quads, where rounding happens: every row length's eights and
    /// tails, one to six quads taken in order or from the last, the rows padded to lines
    /// (a network's layout), or not, or in reverse order; and it writes y_j's entries and
    /// nothing around them.
    #[test]
    fn the_product_of_two_has_the_quads_bits() {
        fn check<T: Real, K: Kernel>(k: K) {
            for n in lengths().chain([250, 505, 508]) {
                let m = 4 * (n % 6 + 1);
                let a = ndarray::Array2::from_shape_vec((m, n + 3), waves::<T>(m * (n + 3), 3))
                    .expect("m·(n + 3) values");
                let lined = crate::memory::copy_on_lines(a.view()).expect("fits");
                let reversed = a.slice(ndarray::s![..;-1, ..]);
                let x = [waves::<T>(n, 11), waves::<T>(n, 13)];
                let x = [&x[0][..], &x[1][..]];
                for (a, c0) in [(a.view(), 2), (lined.view(), 0), (reversed, 3)] {
                    let rows = RowSlices::new(a.slice_move(ndarray::s![.., c0..c0 + n]));
                    for back in [false, true] {
                        same_bits_inside(
                            m,
                            &format!("gemv2 {m}×{n} from {c0}, back {back}"),
                            |y| k.gemv2(rows, x, y, back),
                            |q| gemv2_by_quads(k, rows, x, q, false),
                        );
                    }
                }
            }
        }
        each_kernel!(check);
    }

    /// The AVX-512 kernel gives the AVX2 kernel's bits, where rounding happens, for
    /// every method, type and tail length (on CPUs with AVX-512; elsewhere nothing to
    /// compare).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_kernel_has_the_avx2_kernels_bits() {
        // Bits, not values: -0.0 and 0.0 differ here.
        fn b<T: Real>(v: &[T]) -> Vec<u64> {
            v.iter().map(|x| x.as_f64().to_bits()).collect()
        }
        fn check<T: Real>(wide: Avx512, narrow: Avx2) {
            for n in lengths() {
                let w = |s: usize| waves::<T>(n, s);
                let (r0, r1, r2, r3, x) = (w(1), w(2), w(3), w(5), w(4));
                let rows = [&r0[..], &r1[..], &r2[..], &r3[..]];
                let prev = [&r3[..], &r0[..], &r2[..], &r1[..]];
                let alpha = [0.3, -1.7, 2.9, 0.11].map(T::from_f64);
                let (d1, d2) = (wide.dot(&r0, &x), narrow.dot(&r0, &x));
                assert_eq!(b(&[d1]), b(&[d2]), "dot n={n}");
                let (d1, d2) = (wide.dot4(rows, &x), narrow.dot4(rows, &x));
                assert_eq!(b(&d1), b(&d2), "dot4 n={n}");
                // Eight rows in one sweep: the bits of two quads', and each entry of
                // y the eight terms in order, as two axpy4 calls add them.
                let (r4, r5, r6, r7) = (w(8), w(9), w(10), w(11));
                let rows8 = [&r0[..], &r1[..], &r2[..], &r3[..], &r4, &r5, &r6, &r7];
                let [lo, hi] = halves(rows8).map(|q| narrow.dot4(q, &x));
                assert_eq!(
                    b(&wide.dot8(rows8, &x)),
                    b(&[lo, hi].concat()),
                    "dot8 n={n}"
                );
                let alpha8 = [0.3, -1.7, 2.9, 0.11, -0.6, 1.3, 0.7, -2.3].map(T::from_f64);
                let (mut y8, mut want8) = (w(12), w(12));
                wide.axpy8(alpha8, rows8, &mut y8);
                let [p, q] = halves(rows8);
                narrow.axpy4(halves(alpha8)[0], p, &mut want8);
                narrow.axpy4(halves(alpha8)[1], q, &mut want8);
                assert_eq!(b(&y8), b(&want8), "axpy8 n={n}");
                let x2 = w(7);
                let [p, q] = wide.dot4x2(rows, [&x, &x2]);
                assert_eq!(b(&p), b(&d2), "dot4x2 n={n}");
                assert_eq!(b(&q), b(&narrow.dot4(rows, &x2)), "dot4x2 n={n}");
                let (mut y1, mut y2) = (w(6), w(6));
                wide.axpy(alpha[1], &r2, &mut y1);
                narrow.axpy(alpha[1], &r2, &mut y2);
                assert_eq!(b(&y1), b(&y2), "axpy n={n}");
                wide.axpy4(alpha, rows, &mut y1);
                narrow.axpy4(alpha, rows, &mut y2);
                assert_eq!(b(&y1), b(&y2), "axpy4 n={n}");
                let beta = [1.3, 0.7, -2.1, 0.05].map(T::from_f64);
                let (mut z1, mut z2) = (w(8), w(8));
                wide.axpy4x2([alpha, beta], rows, [&mut y1, &mut z1]);
                narrow.axpy4(alpha, rows, &mut y2);
                narrow.axpy4(beta, rows, &mut z2);
                assert_eq!((b(&y1), b(&z1)), (b(&y2), b(&z2)), "axpy4x2 n={n}");
                let got = wide.dot4_axpy4(rows, &x, alpha, prev, &mut y1);
                let want = narrow.dot4_axpy4(rows, &x, alpha, prev, &mut y2);
                assert_eq!((b(&got), b(&y1)), (b(&want), b(&y2)), "dot4_axpy4 n={n}");
                // Sixteen rows in one sweep: the bits of two fused quads, in order.
                let prev8 = [&r7[..], &r3, &r5, &r0, &r6, &r1, &r4, &r2];
                let (mut y1, mut y2) = (w(13), w(13));
                let got = wide.dot8_axpy8(rows8, &x, alpha8, prev8, &mut y1);
                let ([ra, rb], [aa, ab], [pa, pb]) = (halves(rows8), halves(alpha8), halves(prev8));
                let lo = narrow.dot4_axpy4(ra, &x, aa, pa, &mut y2);
                let hi = narrow.dot4_axpy4(rb, &x, ab, pb, &mut y2);
                let want = [lo, hi].concat();
                assert_eq!((b(&got), b(&y1)), (b(&want), b(&y2)), "dot8_axpy8 n={n}");
                // Aᵀ·[g_0 | g_1] over n of A's n + 3 columns (from the first, the
                // third or the fourth), for row counts with and without a quad's
                // leftovers (none included), in one, two or three passes of the AVX-512
                // copy (n mod 3 and n mod 8 independent: every tail in each), the rows
                // padded to lines (a network's layout), or not, or in reverse order.
                let (a, lined, g) = transposed_operands::<T>(n);
                let m = a.nrows();
                let reversed = a.slice(ndarray::s![..;-1, ..]);
                for (a, c0) in [(a.view(), 2), (lined.view(), 0), (reversed, 3)] {
                    let (rows, cols) = (RowSlices::new(a), c0..c0 + n);
                    let (mut p, mut q) = ([w(1), w(2)], [w(3), w(5)]);
                    let [p0, p1] = &mut p;
                    wide.gemv_t2(rows, cols.clone(), [&g[0], &g[1]], [p0, p1]);
                    let [q0, q1] = &mut q;
                    narrow.gemv_t2(rows, cols, [&g[0], &g[1]], [q0, q1]);
                    let what = format!("gemv_t2 {m}×{n} from {c0}");
                    assert_eq!(p.map(|p| b(&p)), q.map(|q| b(&q)), "{what}");
                }
            }
        }
        if let (Some(wide), Some(narrow)) = (Avx512::detect(), Avx2::detect()) {
            check::<f64>(wide, narrow);
            check::<f32>(wide, narrow);
        }
    }
}
