//! The kernels with AVX2 and FMA intrinsics (x86-64): 4-wide f64, 8-wide f32 fused
//! multiply-adds. The vectorizer, left to itself, pairs dot4's rows in 128-bit halves
//! and spills to the stack (4× slower). Lane sums and their trees are the portable
//! copy's, so only the rounding of the fused multiply-adds differs from it.

use super::cast::{cast, cast_matrix, cast_mut, cast_rows, cast_rows_mut, same};
use super::half_tanh::HalfTanh;
use super::lanes::map4;
use super::logistic::Exp;
use super::portable::{self, LANES};
use super::tanh::Tanh;
use super::{
    blocked, fetch_ahead, gemv2_by_quads, gemv_t2_by_quads, gemv_t_by_quads, group_starts,
    long_rows, Kernel, Portable, RowSlices,
};
use crate::Real;
use std::arch::x86_64::*;

/// The AVX2 + FMA kernel. Made only by [`Avx2::detect`], so holding one proves the CPU
/// has both: that is what makes its safe methods sound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The kernel, if this CPU has AVX2 and FMA.
    pub(crate) fn detect() -> Option<Avx2> {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Avx2(()))
    }

    /// Runs `f` compiled with AVX2 and FMA enabled, so that the kernels it calls on this
    /// thread are inlined into its loops (a call across the feature boundary is never
    /// inlined: at small widths those calls cost as much as the arithmetic).
    #[inline(always)]
    pub(crate) fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_features<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: an `Avx2` exists only where the CPU has AVX2 and FMA.
        unsafe { with_features(f) }
    }
}

// SAFETY (every method): an `Avx2` exists only where the CPU has AVX2 and FMA.
impl Kernel for Avx2 {
    #[inline]
    fn dot<T: Real>(self, a: &[T], b: &[T]) -> T {
        unsafe { dot(a, b) }
    }
    #[inline]
    fn sigmoid<T: Real>(self, y: &mut [T], s: &mut [T]) {
        if let (Some(yf), Some(sf)) = (cast_mut::<T, f64>(y), cast_mut::<T, f64>(s)) {
            return unsafe { super::logistic::sigmoid(yf, sf) };
        }
        portable::sigmoid(y, s)
    }
    #[inline]
    fn tanh<T: Real>(self, x: &mut [T]) {
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map4::<Tanh>(xf) },
            None => x.iter_mut().for_each(|x| *x = x.tanh()),
        }
    }
    #[inline]
    fn half_tanh<T: Real>(self, x: &mut [T]) {
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map4::<HalfTanh>(xf) },
            None => Portable.half_tanh(x),
        }
    }
    #[inline]
    fn exp<T: Real>(self, x: &mut [T]) {
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map4::<Exp>(xf) },
            None => x.iter_mut().for_each(|x| *x = x.exp()),
        }
    }
    #[inline]
    fn axpy<T: Real>(self, alpha: T, x: &[T], y: &mut [T]) {
        unsafe { axpy(alpha, x, y) }
    }
    #[inline]
    fn dot4<T: Real>(self, rows: [&[T]; 4], x: &[T]) -> [T; 4] {
        unsafe { dot4(rows, x) }
    }
    #[inline]
    fn axpy4<T: Real>(self, alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
        unsafe { axpy_rows(alpha, rows, y) }
    }
    #[inline]
    fn axpy8<T: Real>(self, alpha: [T; 8], rows: [&[T]; 8], y: &mut [T]) {
        unsafe { axpy_rows(alpha, rows, y) }
    }
    #[inline(always)]
    fn gemv_t2<T: Real>(
        self,
        a: RowSlices<'_, T>,
        cols: std::ops::Range<usize>,
        g: [&[T]; 2],
        y: [&mut [T]; 2],
    ) {
        // Rows of a page or more stream from memory: four at a time, each read in
        // order, suit the prefetchers better than a pass's pieces a page apart (512 KB
        // of L2 holds a pass of 64 such rows, and no more).
        let [y0, y1] = y;
        if !long_rows::<T>(a.ncols()) {
            if let Some(args) = blocked::as_f64(a, cols.clone(), g, [&mut *y0, &mut *y1]) {
                // SAFETY: the CPU's features (an `Avx2` exists), A's rows as RowSlices.
                return unsafe { gemv_t2_f64(args) };
            }
        }
        gemv_t2_by_quads(self, a, cols, g, [y0, y1])
    }
    #[inline(always)]
    fn gemv_t1<T: Real>(
        self,
        a: RowSlices<'_, T>,
        cols: std::ops::Range<usize>,
        g: &[T],
        y: &mut [T],
    ) {
        // As gemv_t2: the blocks for rows under a page; under a quad of rows, the
        // plain axpys (the blocks' set-up costs more than the y they save).
        if a.nrows() >= 4 && !long_rows::<T>(a.ncols()) {
            if let Some(args) = blocked::as_f64(a, cols.clone(), [g], [&mut *y]) {
                // SAFETY: the CPU's features (an `Avx2` exists), A's rows as RowSlices.
                return unsafe { gemv_t1_f64(args) };
            }
        }
        gemv_t_by_quads(self, a, cols, g, y)
    }
    #[inline(always)]
    fn gemv2<T: Real>(self, a: RowSlices<'_, T>, x: [&[T]; 2], y: [&mut [T]; 2], back: bool) {
        let [y0, y1] = y;
        if !long_rows::<T>(a.ncols()) {
            if let (Some(af), Some(xf), Some(yf)) = (
                cast_matrix::<T, f64>(a),
                cast_rows::<T, f64, 2>(x),
                cast_rows_mut::<T, f64, 2>([&mut *y0, &mut *y1]),
            ) {
                // SAFETY: the CPU's features (an `Avx2` exists).
                return unsafe { gemv2_f64(af, xf, yf, back) };
            }
        }
        gemv2_by_quads(self, a, x, [y0, y1], back)
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
        unsafe { dot4_axpy4(rows, x, alpha, prev, y) }
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    portable::dot::<T, true>(a, b)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn axpy<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
    portable::axpy::<T, true>(alpha, x, y)
}

/// dot4 for f64 and f32 with intrinsics (other types: the portable body with FMA).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot4<T: Real>(rows: [&[T]; 4], x: &[T]) -> [T; 4] {
    let n = x.len();
    assert!(rows.iter().all(|r| r.len() >= n), "rows shorter than x");
    let full = n - n % LANES;
    let mut out: [T; 4] =
        if let (Some(r), Some(xs)) = (cast_rows::<T, f64, 4>(rows), cast::<T, f64>(x)) {
            same(dot4_eights(r, xs, full))
        } else if let (Some(r), Some(xs)) = (cast_rows::<T, f32, 4>(rows), cast::<T, f32>(x)) {
            same(dot4_eights(r, xs, full))
        } else {
            return portable::dot4::<T, true>(rows, x);
        };
    let [tails] = portable::dot4_tails::<T, true, 4, 1>(rows, [x], full);
    for (o, t) in out.iter_mut().zip(tails) {
        *o = *o + t;
    }
    out
}

/// [`Kernel::gemv2`] in f64, with [`dot4x2`](Kernel::dot4x2)'s bits: a quad's rows two
/// at a time, each row's values loaded once for both vectors ([`dot2x2_lanes`]; four
/// rows' would need sixteen accumulators, every register AVX2 has), the last step of
/// [`Eight::sum`]'s tree for the four rows at once, then the tails as [`dot4`] adds
/// them, and each vector's four dots stored into y_j at once; the quads from the last
/// where `back`.
///
/// SAFETY: the CPU has AVX2 and FMA (the lengths are checked here).
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv2_f64(a: RowSlices<'_, f64>, x: [&[f64]; 2], y: [&mut [f64]; 2], back: bool) {
    let (m, n) = (a.nrows(), a.ncols());
    let fits =
        m.is_multiple_of(4) && x.iter().all(|x| x.len() == n) && y.iter().all(|y| y.len() == m);
    assert!(
        fits,
        "{m}×{n}: whole quads, x_j one entry per column, y_j per row"
    );
    let full = n - n % LANES;
    for i in group_starts(0..m, 4, back) {
        let rows = a.quad(i);
        let tails = portable::dot4_tails::<f64, true, 4, 2>(rows, x, full);
        // SAFETY: the features; i + 4 ≤ m = y's length.
        unsafe {
            let [p0, p1] = dot2x2_lanes([rows[0], rows[1]], x, full);
            let [q0, q1] = dot2x2_lanes([rows[2], rows[3]], x, full);
            for (j, (p, q)) in [(p0, q0), (p1, q1)].into_iter().enumerate() {
                let h = _mm256_hadd_pd(p, q);
                let dots = _mm256_add_pd(
                    _mm256_permute4x64_pd::<0b11_01_10_00>(h),
                    _mm256_loadu_pd(tails[j].as_ptr()),
                );
                _mm256_storeu_pd(y[j].as_mut_ptr().add(i), dots);
            }
        }
    }
}

/// Two rows' eight lanes with each of two vectors, each row's values loaded once for
/// both, summed down to [s_00 + s_02, s_01 + s_03, s_10 + s_12, s_11 + s_13] per vector
/// (s_r: row r's lanes k + (k + 4)), the first two steps of [`Eight::sum`]'s tree.
///
/// SAFETY: the CPU has AVX2 and FMA; `full` is a multiple of 8, and both rows and both
/// x_j hold at least `full` entries.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot2x2_lanes(rows: [&[f64]; 2], x: [&[f64]; 2], full: usize) -> [__m256d; 2] {
    let p = rows.map(<[f64]>::as_ptr);
    let xp = x.map(<[f64]>::as_ptr);
    let mut acc = [[[_mm256_setzero_pd(); 2]; 2]; 2];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ full ≤ len of x_j and of both rows.
        unsafe {
            let xv = xp.map(|x| [_mm256_loadu_pd(x.add(i)), _mm256_loadu_pd(x.add(i + 4))]);
            for r in 0..2 {
                for h in 0..2 {
                    let w = _mm256_loadu_pd(p[r].add(i + 4 * h));
                    for j in 0..2 {
                        acc[j][r][h] = _mm256_fmadd_pd(w, xv[j][h], acc[j][r][h]);
                    }
                }
            }
        }
        i += 8;
    }
    acc.map(|[[a0, a1], [b0, b1]]| {
        let (s, t) = (_mm256_add_pd(a0, a1), _mm256_add_pd(b0, b1));
        _mm256_add_pd(
            _mm256_permute2f128_pd::<0x20>(s, t),
            _mm256_permute2f128_pd::<0x31>(s, t),
        )
    })
}

/// The four lane-tree sums of `rows[r][..full]·x[..full]` (full a multiple of 8,
/// rows and x at least that long).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot4_eights<E: Eight>(rows: [&[E]; 4], x: &[E], full: usize) -> [E; 4] {
    // SAFETY (every call of E's): this function's features.
    let mut acc = [unsafe { E::zero() }; 4];
    let p = rows.map(<[E]>::as_ptr);
    let xp = x.as_ptr();
    let long = long_rows::<E>(full);
    let mut i = 0;
    while i < full {
        if long {
            fetch_ahead::<_, 8, 4>(p, i);
        }
        // SAFETY: i + 8 ≤ full ≤ len of x and of every row.
        unsafe {
            let xv = E::load(xp.add(i));
            for r in 0..4 {
                acc[r] = E::fmadd(E::load(p[r].add(i)), xv, acc[r]);
            }
        }
        i += 8;
    }
    acc.map(|a| unsafe { E::sum(a) })
}

/// dot4 and axpy4 in one sweep, for f64 and f32 with intrinsics over the first multiple
/// of [`LANES`] entries, then both tails as [`dot4`] and axpy4 ([`axpy_rows`]) do them;
/// other types: the two calls in sequence. Each entry of y and each lane sees the same
/// operations in the same order either way, so the bits are those of the two calls.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot4_axpy4<T: Real>(
    rows: [&[T]; 4],
    x: &[T],
    alpha: [T; 4],
    prev: [&[T]; 4],
    y: &mut [T],
) -> [T; 4] {
    let n = x.len();
    let fits = y.len() >= n && rows.iter().chain(&prev).all(|r| r.len() >= n);
    assert!(fits, "rows or y shorter than x");
    let full = n - n % LANES;
    let mut out: [T; 4] = if let (Some(r), Some(xs), Some(p), Some(yy)) = (
        cast_rows::<T, f64, 4>(rows),
        cast::<T, f64>(x),
        cast_rows::<T, f64, 4>(prev),
        cast_mut::<T, f64>(y),
    ) {
        same(dot4_axpy4_eights(r, xs, same(alpha), p, yy, full))
    } else if let (Some(r), Some(xs), Some(p), Some(yy)) = (
        cast_rows::<T, f32, 4>(rows),
        cast::<T, f32>(x),
        cast_rows::<T, f32, 4>(prev),
        cast_mut::<T, f32>(y),
    ) {
        same(dot4_axpy4_eights(r, xs, same(alpha), p, yy, full))
    } else {
        axpy_rows(alpha, prev, &mut y[..n]);
        return dot4(rows, x);
    };
    let [tails] = portable::dot4_tails::<T, true, 4, 1>(rows, [x], full);
    for (o, t) in out.iter_mut().zip(tails) {
        *o = *o + t;
    }
    let [p0, p1, p2, p3] = prev;
    let tail = [&p0[full..n], &p1[full..n], &p2[full..n], &p3[full..n]];
    portable::axpy4::<T, true>(alpha, tail, &mut y[full..n]);
    out
}

/// The sweep over the first `full` entries (a multiple of 8): per 8 entries, four
/// rows' dot lanes (as [`dot4_eights`]) and y's update by the four previous rows (as
/// [`axpy_eights`], the same per-entry order).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot4_axpy4_eights<E: Eight>(
    rows: [&[E]; 4],
    x: &[E],
    alpha: [E; 4],
    prev: [&[E]; 4],
    y: &mut [E],
    full: usize,
) -> [E; 4] {
    // SAFETY (every call of E's): this function's features.
    let mut acc = [unsafe { E::zero() }; 4];
    let al = alpha.map(|a| unsafe { E::splat(a) });
    let p = rows.map(<[E]>::as_ptr);
    let q = prev.map(<[E]>::as_ptr);
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    let long = long_rows::<E>(full);
    let mut i = 0;
    while i < full {
        if long {
            fetch_ahead::<_, 8, 4>(p, i);
        }
        // SAFETY: i + 8 ≤ full ≤ len of x, y and every row (checked by the caller).
        unsafe {
            let xv = E::load(xp.add(i));
            let mut v = E::load(yp.add(i));
            for r in 0..4 {
                acc[r] = E::fmadd(E::load(p[r].add(i)), xv, acc[r]);
                v = E::fmadd(al[r], E::load(q[r].add(i)), v);
            }
            E::store(yp.add(i), v);
        }
        i += 8;
    }
    acc.map(|a| unsafe { E::sum(a) })
}

/// axpy4 (R = 4) and axpy8 (R = 8, y read and written once for the eight rows) with
/// explicit intrinsics: independent registers of y per step (four ymm, 16 f64 or 32
/// f32, for four rows; two for eight, beside their eight coefficients), since each
/// element's R fused multiply-adds form a dependent chain (latency-bound else).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn axpy_rows<T: Real, const R: usize>(alpha: [T; R], rows: [&[T]; R], y: &mut [T]) {
    const { assert!(R == 4 || R == 8, "four or eight rows") };
    let n = y.len();
    let rows = rows.map(|r| &r[..n]);
    let f64s = (cast_rows::<T, f64, R>(rows), cast_mut::<T, f64>(y));
    let done = if let (Some(r), Some(yy)) = f64s {
        match R {
            4 => axpy_eights::<_, R, 2, 16>(same(alpha), r, yy),
            _ => axpy_eights::<_, R, 1, 8>(same(alpha), r, yy),
        }
    } else if let (Some(r), Some(yy)) = (cast_rows::<T, f32, R>(rows), cast_mut::<T, f32>(y)) {
        match R {
            4 => axpy_eights::<_, R, 4, 32>(same(alpha), r, yy),
            _ => axpy_eights::<_, R, 2, 16>(same(alpha), r, yy),
        }
    } else {
        0
    };
    // The tail four rows at a time, each entry's terms in row order.
    for (a, r) in alpha.chunks(4).zip(rows.chunks(4)) {
        let (a, r): ([T; 4], [&[T]; 4]) = (a.try_into().expect("4"), r.try_into().expect("4"));
        portable::axpy4::<T, true>(a, r.map(|r| &r[done..]), &mut y[done..]);
    }
}

/// `y[i] = ((y[i] + α0·r0[i]) + α1·r1[i]) + … + α_{R−1}·r_{R−1}[i]`, fused, K eights of
/// entries (STEP = 8K) a step, for the first multiple of STEP entries; returns how many
/// it did.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn axpy_eights<E: Eight, const R: usize, const K: usize, const STEP: usize>(
    alpha: [E; R],
    rows: [&[E]; R],
    y: &mut [E],
) -> usize {
    const { assert!(STEP == 8 * K) };
    let full = y.len() / STEP * STEP;
    // SAFETY (every call of E's): this function's features.
    let al = alpha.map(|a| unsafe { E::splat(a) });
    let p = rows.map(|r| r.as_ptr());
    let yp = y.as_mut_ptr();
    let long = long_rows::<E>(full);
    let mut i = 0;
    while i < full {
        if long {
            fetch_ahead::<_, STEP, R>(p, i);
        }
        // SAFETY: i + STEP ≤ full ≤ len of y and of every row.
        unsafe {
            let mut v = [E::zero(); K];
            for (k, v) in v.iter_mut().enumerate() {
                *v = E::load(yp.add(i + 8 * k));
            }
            for r in 0..R {
                for (k, v) in v.iter_mut().enumerate() {
                    *v = E::fmadd(al[r], E::load(p[r].add(i + 8 * k)), *v);
                }
            }
            for (k, v) in v.iter().enumerate() {
                E::store(yp.add(i + 8 * k), *v);
            }
        }
        i += STEP;
    }
    full
}

/// [`Kernel::gemv_t2`] in f64 ([`blocked::gemv_t`]): blocks of five registers per
/// result, up to six (twelve accumulators, two broadcasts, a row's load and the mask:
/// all sixteen registers, no spill), the last register masked: four a result (eight
/// accumulators, each a chain of four-cycle multiply-adds) left the two ports no slack
/// (docs/measured.md).
///
/// SAFETY: the CPU has AVX2 and FMA; A's rows hold y_j's length of entries from the
/// block's start on ([`blocked::as_f64`] of a [`RowSlices`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn gemv_t2_f64(args: blocked::Args<'_, 2>) {
    blocked::gemv_t::<2, 4, 5, 6>(args, |a, registers, g, y| {
        // SAFETY: the caller's promise, block by block.
        unsafe { blocked::by_registers!(registers, gemv_t_block<2>(a, g, y), 1 2 3 4 5 6) }
    })
}

/// [`Kernel::gemv_t1`] in f64 ([`blocked::gemv_t`]): blocks of eight registers, as many
/// accumulators as keep two ports of four-cycle fused multiply-adds busy, up to twelve
/// (with the broadcast, a row's load and the mask: fifteen of sixteen registers).
///
/// SAFETY: as [`gemv_t2_f64`]'s.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn gemv_t1_f64(args: blocked::Args<'_, 1>) {
    blocked::gemv_t::<1, 4, 8, 12>(args, |a, registers, g, y| {
        // SAFETY: the caller's promise, block by block.
        unsafe {
            blocked::by_registers!(
                registers,
                gemv_t_block<1>(a, g, y),
                1 2 3 4 5 6 7 8 9 10 11 12
            )
        }
    })
}

/// One block of one pass of [`blocked::gemv_t`]: `y_j += Σ_i g_j[i]·row_i` over R
/// registers of four f64 for each of V results.
///
/// SAFETY: the y_j are of one length, 4(R − 1) + 1 … 4R (the mask covers the last
/// register's entries and no more); the g_j are of one length, and row i below it holds
/// y_j's length of entries from `start + i·stride`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn gemv_t_block<const V: usize, const R: usize>(
    (start, stride): blocked::Block,
    g: [&[f64]; V],
    y: [&mut [f64]; V],
) {
    let (n, rows) = (y[0].len(), g[0].len());
    debug_assert!(y.iter().all(|y| y.len() == n) && (R - 1) * 4 < n && n <= R * 4);
    debug_assert!(g.iter().all(|g| g.len() == rows));
    // Lanes below the last register's length: −1 (its high bit set) in each.
    let left = (n - (R - 1) * 4) as i64;
    let last = _mm256_cmpgt_epi64(_mm256_set1_epi64x(left), _mm256_setr_epi64x(0, 1, 2, 3));
    // Only a last register short of four entries goes through the mask (a masked load
    // costs more than a plain one).
    let whole = |h: usize| h + 1 < R || left == 4;
    // SAFETY (both): register h's entries below y's length (the caller's promise).
    let load = |p: *const f64, h: usize| unsafe {
        match whole(h) {
            true => _mm256_loadu_pd(p.add(4 * h)),
            false => _mm256_maskload_pd(p.add(4 * h), last),
        }
    };
    let store = |p: *mut f64, h: usize, v: __m256d| unsafe {
        match whole(h) {
            true => _mm256_storeu_pd(p.add(4 * h), v),
            false => _mm256_maskstore_pd(p.add(4 * h), last, v),
        }
    };
    let yp = y.map(<[f64]>::as_mut_ptr);
    let mut acc = [[_mm256_setzero_pd(); R]; V];
    for (acc, &yp) in acc.iter_mut().zip(&yp) {
        for (h, acc) in acc.iter_mut().enumerate() {
            *acc = load(yp, h);
        }
    }
    let mut p = start;
    for i in 0..rows {
        // SAFETY: i below every g_j's length (the caller's promise).
        let gi = g.map(|g| _mm256_set1_pd(unsafe { *g.get_unchecked(i) }));
        for h in 0..R {
            let a = load(p, h);
            for (acc, &gi) in acc.iter_mut().zip(&gi) {
                acc[h] = _mm256_fmadd_pd(gi, a, acc[h]);
            }
        }
        p = p.wrapping_offset(stride);
    }
    for (acc, &yp) in acc.iter().zip(&yp) {
        for (h, &v) in acc.iter().enumerate() {
            store(yp, h, v);
        }
    }
}

/// Eight lanes of f64 or f32 in AVX2 registers (two of four f64, one of eight f32):
/// the portable copy's eight partial sums. Each kernel above is written once over it.
///
/// SAFETY (every method): the CPU has AVX2 and FMA; `load` and `store` touch the eight
/// values from p.
trait Eight: Copy + 'static {
    /// The eight lanes.
    type V: Copy;
    /// Eight zeros.
    unsafe fn zero() -> Self::V;
    /// a in every lane.
    unsafe fn splat(a: Self) -> Self::V;
    /// The eight values from p.
    unsafe fn load(p: *const Self) -> Self::V;
    /// v into the eight values from p.
    unsafe fn store(p: *mut Self, v: Self::V);
    /// a·b + c, fused, lane by lane.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The lanes' sum by the portable copy's tree: lanes k and k + 4, then k and k + 2,
    /// then 0 and 1.
    unsafe fn sum(v: Self::V) -> Self;
}

impl Eight for f64 {
    /// Lanes 0–3, then 4–7.
    type V = [__m256d; 2];
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn zero() -> Self::V {
        [_mm256_setzero_pd(); 2]
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn splat(a: f64) -> Self::V {
        [_mm256_set1_pd(a); 2]
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(p: *const f64) -> Self::V {
        // SAFETY: the caller's promise.
        unsafe { [_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4))] }
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(p: *mut f64, v: Self::V) {
        // SAFETY: the caller's promise.
        unsafe {
            _mm256_storeu_pd(p, v[0]);
            _mm256_storeu_pd(p.add(4), v[1]);
        }
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        [
            _mm256_fmadd_pd(a[0], b[0], c[0]),
            _mm256_fmadd_pd(a[1], b[1], c[1]),
        ]
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sum([lo, hi]: Self::V) -> f64 {
        let v = _mm256_add_pd(lo, hi);
        let w = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(w) + _mm_cvtsd_f64(_mm_unpackhi_pd(w, w))
    }
}

impl Eight for f32 {
    type V = __m256;
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn zero() -> Self::V {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn splat(a: f32) -> Self::V {
        _mm256_set1_ps(a)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(p: *const f32) -> Self::V {
        // SAFETY: the caller's promise.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(p: *mut f32, v: Self::V) {
        // SAFETY: the caller's promise.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        _mm256_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sum(a: Self::V) -> f32 {
        let v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let w = _mm_add_ps(v, _mm_movehl_ps(v, v));
        _mm_cvtss_f32(w) + _mm_cvtss_f32(_mm_shuffle_ps::<1>(w, w))
    }
}
