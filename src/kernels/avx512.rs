//! The kernels with AVX-512F (x86-64): f64 eight lanes to a register, one register per
//! row where AVX2 needs two, and y's tails in axpy by masked loads and stores. A row's
//! eight lanes are the AVX2 kernel's two halves, summed by the same tree, and each entry
//! of y sees the same fused multiply-adds in the same order, so every result has the
//! AVX2 kernel's bits. f32, whose eight lanes fill half a register, runs the AVX2 code.

use super::avx2::Avx2;
use super::cast::{cast, cast_mut, cast_rows, same};
use super::half_tanh::HalfTanh;
use super::lanes::map8;
use super::logistic::Exp;
use super::portable::{self, LANES};
use super::tanh::Tanh;
use super::{blocked, fetch_ahead, long_rows, Kernel, RowSlices};
use crate::Real;
use std::arch::x86_64::*;

/// The AVX-512F kernel. Made only by [`Avx512::detect`], so holding one proves the CPU
/// has AVX-512F, AVX2 and FMA: that is what makes its safe methods sound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(Avx2);

impl Avx512 {
    /// The kernel, if this CPU has AVX-512F (and AVX2 and FMA).
    pub(crate) fn detect() -> Option<Avx512> {
        let avx2 = Avx2::detect()?;
        std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512(avx2))
    }

    /// Runs `f` compiled with AVX-512F, AVX2 and FMA enabled, as [`Avx2::vectorize`].
    #[inline(always)]
    pub(crate) fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn with_features<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: an `Avx512` exists only where the CPU has all three.
        unsafe { with_features(f) }
    }
}

/// Calls `$f::<true>` for rows of a page or more ([`long_rows`]), which asks for them
/// ahead, and `$f::<false>` for shorter ones: two copies, the short rows' one without
/// the hints and small enough that the compiler can inline it into the loop calling it (a
/// call for every four short rows showed in small networks' calls: docs/measured.md).
macro_rules! by_length {
    ($n:expr, $f:ident$(::<$($g:tt),*>)?($($arg:expr),*)) => {
        match long_rows::<f64>($n) {
            true => $f::<$($($g,)*)? true>($($arg),*),
            false => $f::<$($($g,)*)? false>($($arg),*),
        }
    };
}

// SAFETY (every method): an `Avx512` exists only where the CPU has AVX-512F, AVX2, FMA.
impl Kernel for Avx512 {
    // dot and axpy: the AVX2 copies (the same bits), one row or vector at a time.
    #[inline]
    fn dot<T: Real>(self, a: &[T], b: &[T]) -> T {
        self.0.dot(a, b)
    }
    #[inline]
    fn axpy<T: Real>(self, alpha: T, x: &[T], y: &mut [T]) {
        self.0.axpy(alpha, x, y)
    }
    #[inline]
    fn sigmoid<T: Real>(self, y: &mut [T], s: &mut [T]) {
        match (cast_mut::<T, f64>(y), cast_mut::<T, f64>(s)) {
            (Some(yf), Some(sf)) => unsafe { super::logistic::sigmoid8s(yf, sf) },
            _ => self.0.sigmoid(y, s),
        }
    }
    #[inline]
    fn tanh<T: Real>(self, x: &mut [T]) {
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map8::<Tanh>(xf) },
            None => self.0.tanh(x),
        }
    }
    #[inline]
    fn half_tanh<T: Real>(self, x: &mut [T]) {
        // Eight lanes in one pass: 0.6 of the time of AVX2's four in two passes (heads,
        // then tails) on Emerald Rapids (docs/measured.md).
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map8::<HalfTanh>(xf) },
            None => self.0.half_tanh(x),
        }
    }
    #[inline]
    fn exp<T: Real>(self, x: &mut [T]) {
        match cast_mut::<T, f64>(x) {
            Some(xf) => unsafe { map8::<Exp>(xf) },
            None => self.0.exp(x),
        }
    }
    #[inline]
    fn dot4<T: Real>(self, rows: [&[T]; 4], x: &[T]) -> [T; 4] {
        match (cast_rows::<T, f64, 4>(rows), cast::<T, f64>(x)) {
            (Some(r), Some(xs)) => same(unsafe { by_length!(xs.len(), dot_rows::<4>(r, xs)) }),
            _ => self.0.dot4(rows, x),
        }
    }
    #[inline]
    fn dot8<T: Real>(self, rows: [&[T]; 8], x: &[T]) -> [T; 8] {
        match (cast_rows::<T, f64, 8>(rows), cast::<T, f64>(x)) {
            (Some(r), Some(xs)) => same(unsafe { dot_rows::<8, false>(r, xs) }),
            _ => self.0.dot8(rows, x),
        }
    }
    #[inline]
    fn axpy8<T: Real>(self, alpha: [T; 8], rows: [&[T]; 8], y: &mut [T]) {
        match (cast_rows::<T, f64, 8>(rows), cast_mut::<T, f64>(y)) {
            (Some(r), Some(yy)) => unsafe { axpy_rows::<8, false>(same(alpha), r, yy) },
            _ => self.0.axpy8(alpha, rows, y),
        }
    }
    #[inline]
    fn axpy4<T: Real>(self, alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
        match (cast_rows::<T, f64, 4>(rows), cast_mut::<T, f64>(y)) {
            (Some(r), Some(yy)) => unsafe {
                by_length!(yy.len(), axpy_rows::<4>(same(alpha), r, yy))
            },
            _ => self.0.axpy4(alpha, rows, y),
        }
    }
    #[inline(always)]
    fn axpy4x2<T: Real>(self, alpha: [[T; 4]; 2], rows: [&[T]; 4], y: [&mut [T]; 2]) {
        let [y0, y1] = y;
        if let (Some(r), Some(a), Some(b)) = (
            cast_rows::<T, f64, 4>(rows),
            cast_mut::<T, f64>(&mut *y0),
            cast_mut::<T, f64>(&mut *y1),
        ) {
            return unsafe { axpy4x2_f64(alpha.map(same), r, [a, b]) };
        }
        self.0.axpy4(alpha[0], rows, y0);
        self.0.axpy4(alpha[1], rows, y1);
    }
    #[inline(always)]
    fn gemv_t2<T: Real>(
        self,
        a: RowSlices<'_, T>,
        cols: std::ops::Range<usize>,
        g: [&[T]; 2],
        y: [&mut [T]; 2],
    ) {
        let [y0, y1] = y;
        match blocked::as_f64(a, cols.clone(), g, [&mut *y0, &mut *y1]) {
            // SAFETY: the CPU's features (an `Avx512` exists), A's rows as RowSlices.
            Some(args) => unsafe { gemv_t2_f64(args) },
            None => self.0.gemv_t2(a, cols, g, [y0, y1]),
        }
    }
    #[inline(always)]
    fn dot4x2<T: Real>(self, rows: [&[T]; 4], x: [&[T]; 2]) -> [[T; 4]; 2] {
        match (
            cast_rows::<T, f64, 4>(rows),
            cast::<T, f64>(x[0]),
            cast::<T, f64>(x[1]),
        ) {
            (Some(r), Some(x0), Some(x1)) => unsafe { dot4x2_f64(r, [x0, x1]) }.map(same),
            _ => self.0.dot4x2(rows, x),
        }
    }
    #[inline(always)]
    fn sweeps_eight<T: Real>(self) -> bool {
        std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>()
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
        dot_axpy(self, rows, x, alpha, prev, &mut *y)
            .unwrap_or_else(|| self.0.dot4_axpy4(rows, x, alpha, prev, y))
    }
    #[inline]
    fn dot8_axpy8<T: Real>(
        self,
        rows: [&[T]; 8],
        x: &[T],
        alpha: [T; 8],
        prev: [&[T]; 8],
        y: &mut [T],
    ) -> [T; 8] {
        dot_axpy(self, rows, x, alpha, prev, &mut *y)
            .unwrap_or_else(|| self.0.dot8_axpy8(rows, x, alpha, prev, y))
    }
}

/// [`dot_axpy_rows`] where T is f64, its hints by the rows' length; `None` for f32 (the
/// AVX2 kernel's then). The token stands for the CPU's features.
#[inline(always)]
fn dot_axpy<T: Real, const R: usize>(
    _: Avx512,
    rows: [&[T]; R],
    x: &[T],
    alpha: [T; R],
    prev: [&[T]; R],
    y: &mut [T],
) -> Option<[T; R]> {
    let (r, xs) = (cast_rows::<T, f64, R>(rows)?, cast::<T, f64>(x)?);
    let (p, yy) = (cast_rows::<T, f64, R>(prev)?, cast_mut::<T, f64>(y)?);
    // SAFETY: an `Avx512` exists only where the CPU has AVX-512F, AVX2 and FMA.
    let out = unsafe { by_length!(xs.len(), dot_axpy_rows::<R>(r, xs, same(alpha), p, yy)) };
    Some(same(out))
}

/// The dot products of R rows (four or eight) with x, eight lanes per row, then each
/// row's tail in order (as every copy of dot4 adds it): eight rows have the bits of
/// two quads. AHEAD: the rows asked for ahead ([`by_length`]).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn dot_rows<const R: usize, const AHEAD: bool>(rows: [&[f64]; R], x: &[f64]) -> [f64; R] {
    const { assert!(R.is_multiple_of(4), "whole quads") };
    let n = x.len();
    assert!(rows.iter().all(|r| r.len() >= n), "rows shorter than x");
    let full = n - n % LANES;
    let mut acc = [_mm512_setzero_pd(); R];
    let p = rows.map(<[f64]>::as_ptr);
    let xp = x.as_ptr();
    let mut i = 0;
    while i < full {
        if AHEAD {
            fetch_ahead::<_, LANES, R>(p, i);
        }
        // SAFETY: i + 8 ≤ full ≤ len of x and of every row.
        unsafe {
            let xv = _mm512_loadu_pd(xp.add(i));
            for r in 0..R {
                acc[r] = _mm512_fmadd_pd(_mm512_loadu_pd(p[r].add(i)), xv, acc[r]);
            }
        }
        i += LANES;
    }
    sums(acc, rows, x, full)
}

/// `y[i] = (…((y[i] + α0·r0[i]) + α1·r1[i]) + …) + α_{R−1}·r_{R−1}[i]`, fused, for R rows
/// (four or eight: the bits of two quads' calls): four independent registers per step
/// (each entry's R fused multiply-adds are a dependent chain), the last partial
/// register masked. AHEAD: the rows asked for ahead ([`by_length`]).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn axpy_rows<const R: usize, const AHEAD: bool>(
    alpha: [f64; R],
    rows: [&[f64]; R],
    y: &mut [f64],
) {
    let n = y.len();
    assert!(rows.iter().all(|r| r.len() >= n), "rows shorter than y");
    let al = alpha.map(|a| _mm512_set1_pd(a));
    let p = rows.map(<[f64]>::as_ptr);
    let yp = y.as_mut_ptr();
    let full = n / 32 * 32;
    let mut i = 0;
    while i < full {
        if AHEAD {
            fetch_ahead::<_, 32, R>(p, i);
        }
        // SAFETY: i + 32 ≤ full ≤ len of y and of every row.
        unsafe {
            let mut v = [0, 8, 16, 24].map(|o| _mm512_loadu_pd(yp.add(i + o)));
            for r in 0..R {
                for (k, v) in v.iter_mut().enumerate() {
                    *v = _mm512_fmadd_pd(al[r], _mm512_loadu_pd(p[r].add(i + 8 * k)), *v);
                }
            }
            for (k, v) in v.iter().enumerate() {
                _mm512_storeu_pd(yp.add(i + 8 * k), *v);
            }
        }
        i += 32;
    }
    while i < n {
        // SAFETY: i < n ≤ len of y and of every row.
        unsafe { axpy_masked(al, p, yp, i, n) };
        i += LANES;
    }
}

/// [`axpy_rows`] of four rows into two vectors, each row's eight values loaded once for both: every
/// entry of either sees axpy4's fused multiply-adds in its order, so the same bits.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn axpy4x2_f64(alpha: [[f64; 4]; 2], rows: [&[f64]; 4], y: [&mut [f64]; 2]) {
    let n = y[0].len();
    let fits = y[1].len() == n && rows.iter().all(|r| r.len() >= n);
    assert!(
        fits,
        "rows shorter than y, or the two vectors of different lengths"
    );
    // (Loops, not nested array maps: those stay calls, 9 % of the HVP.)
    let mut al = [[_mm512_setzero_pd(); 4]; 2];
    for (al, alpha) in al.iter_mut().zip(alpha) {
        for (a, alpha) in al.iter_mut().zip(alpha) {
            *a = _mm512_set1_pd(alpha);
        }
    }
    let p = rows.map(<[f64]>::as_ptr);
    let yp = y.map(<[f64]>::as_mut_ptr);
    let full = n / 16 * 16;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ full ≤ len of both vectors and of every row.
        unsafe {
            // v[h][j]: entries i + 8h … of vector j.
            let mut v = [[_mm512_setzero_pd(); 2]; 2];
            for (h, v) in v.iter_mut().enumerate() {
                for (v, yp) in v.iter_mut().zip(yp) {
                    *v = _mm512_loadu_pd(yp.add(i + 8 * h));
                }
            }
            for (r, p) in p.iter().enumerate() {
                for (h, v) in v.iter_mut().enumerate() {
                    let a = _mm512_loadu_pd(p.add(i + 8 * h));
                    for (v, al) in v.iter_mut().zip(&al) {
                        *v = _mm512_fmadd_pd(al[r], a, *v);
                    }
                }
            }
            for (h, v) in v.iter().enumerate() {
                for (v, yp) in v.iter().zip(yp) {
                    _mm512_storeu_pd(yp.add(i + 8 * h), *v);
                }
            }
        }
        i += 16;
    }
    while i < n {
        // SAFETY: i < n ≤ len of both vectors and of every row.
        unsafe {
            axpy_masked(al[0], p, yp[0], i, n);
            axpy_masked(al[1], p, yp[1], i, n);
        }
        i += LANES;
    }
}

/// [`dot_rows`] of four rows with two vectors, each row's eight values loaded once
/// for both: the same fused multiply-adds for each vector, so the same bits.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn dot4x2_f64(rows: [&[f64]; 4], x: [&[f64]; 2]) -> [[f64; 4]; 2] {
    let n = x[0].len();
    let fits = x[1].len() == n && rows.iter().all(|r| r.len() >= n);
    assert!(
        fits,
        "rows shorter than x, or the two vectors of different lengths"
    );
    let full = n - n % LANES;
    let mut acc = [[_mm512_setzero_pd(); 4]; 2];
    let p = rows.map(<[f64]>::as_ptr);
    let xp = x.map(<[f64]>::as_ptr);
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ full ≤ len of both vectors and of every row.
        unsafe {
            let xv = xp.map(|xp| _mm512_loadu_pd(xp.add(i)));
            for r in 0..4 {
                let a = _mm512_loadu_pd(p[r].add(i));
                for j in 0..2 {
                    acc[j][r] = _mm512_fmadd_pd(a, xv[j], acc[j][r]);
                }
            }
        }
        i += LANES;
    }
    let [a, b] = acc;
    let trees = lane_trees8([a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]);
    let sums = _mm512_add_pd(trees, tails4x2(rows, x, full));
    let mut out = [[0.0; 4]; 2];
    // SAFETY: out is eight f64 in a row.
    unsafe { _mm512_storeu_pd(out.as_mut_ptr().cast(), sums) };
    out
}

/// [`sums4`] of each quad of R rows (four or eight).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn sums<const R: usize>(acc: [__m512d; R], rows: [&[f64]; R], x: &[f64], full: usize) -> [f64; R] {
    let mut out = [0.0; R];
    // Quad by quad, without a panic path (short rows' sweeps stay inlined).
    let (mut a, mut r, mut o) = (&acc[..], &rows[..], &mut out[..]);
    while let (Some((a4, a_rest)), Some((r4, r_rest)), Some((o4, o_rest))) = (
        a.split_first_chunk::<4>(),
        r.split_first_chunk::<4>(),
        o.split_first_chunk_mut::<4>(),
    ) {
        *o4 = sums4(*a4, *r4, x, full);
        (a, r, o) = (a_rest, r_rest, o_rest);
    }
    out
}

/// Each row's dot with x from its eight lanes `acc` and its tail from `full` on, as
/// every copy of dot4 adds them (the lanes' tree, + the tail): the four trees at once,
/// the tails as scalar chains (four chains of a few fused multiply-adds cost less than
/// gathering a vector of the rows' entries for each: ∇f 4 % faster, docs/measured.md).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn sums4(acc: [__m512d; 4], rows: [&[f64]; 4], x: &[f64], full: usize) -> [f64; 4] {
    let [tails] = portable::dot4_tails::<f64, true, 4, 1>(rows, [x], full);
    let mut out = [0.0; 4];
    // SAFETY: out holds four f64.
    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), lane_trees4(acc)) };
    for (o, t) in out.iter_mut().zip(tails) {
        *o += t;
    }
    out
}

/// The tails of dot4x2 from `full` on, in lanes 4j + r: for each row r and vector j
/// the chain `t ← rows[r][i]·x_j[i] + t` in order i from 0, as `portable::dot4_tails`
/// makes it, the eight chains side by side (one vector multiply-add an entry where
/// scalar chains take eight).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn tails4x2(rows: [&[f64]; 4], x: [&[f64]; 2], full: usize) -> __m512d {
    let mut tails = _mm512_setzero_pd();
    for i in full..x[0].len() {
        let r = _mm256_setr_pd(rows[0][i], rows[1][i], rows[2][i], rows[3][i]);
        let xv = _mm512_insertf64x4::<1>(_mm512_set1_pd(x[0][i]), _mm256_set1_pd(x[1][i]));
        tails = _mm512_fmadd_pd(_mm512_broadcast_f64x4(r), xv, tails);
    }
    tails
}

/// [`Kernel::gemv_t2`] in f64 ([`blocked::gemv_t`]): blocks of four registers per
/// result, up to seven (six were no faster than four), the last register masked.
///
/// SAFETY: the CPU has AVX-512F; A's rows hold y_j's length of entries from the block's
/// start on ([`blocked::as_f64`] of a [`RowSlices`]).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn gemv_t2_f64(args: blocked::Args<'_, 2>) {
    blocked::gemv_t::<2, LANES, 4, 7>(args, |a, registers, g, y| {
        // SAFETY: the caller's promise, block by block.
        unsafe { blocked::by_registers!(registers, gemv_t2_block(a, g, y), 1 2 3 4 5 6 7) }
    })
}

/// One block of one pass of [`gemv_t2_f64`]: `y_j += Σ_i g_j[i]·row_i` over R registers
/// of each result.
///
/// SAFETY: y_0 and y_1 are of one length, 8(R − 1) + 1 … 8R (the masks cover the last
/// register's entries and no more); g_0 and g_1 are of one length, and row i below it
/// holds y_j's length of entries from `start + i·stride`.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn gemv_t2_block<const R: usize>(
    (start, stride): blocked::Block,
    g: [&[f64]; 2],
    y: [&mut [f64]; 2],
) {
    let n = y[0].len();
    debug_assert!(y[1].len() == n && (R - 1) * LANES < n && n <= R * LANES);
    debug_assert_eq!(g[0].len(), g[1].len());
    let last = mask(n - (R - 1) * LANES);
    let at = |h: usize| (h * LANES, if h + 1 < R { 0xff } else { last });
    let yp = y.map(<[f64]>::as_mut_ptr);
    let mut acc = [[_mm512_setzero_pd(); R]; 2];
    for (acc, yp) in acc.iter_mut().zip(yp) {
        for (h, acc) in acc.iter_mut().enumerate() {
            let (o, k) = at(h);
            // SAFETY: y's entries, the last register masked to its length.
            *acc = unsafe { _mm512_maskz_loadu_pd(k, yp.add(o)) };
        }
    }
    let mut p = start;
    for (&g0, &g1) in g[0].iter().zip(g[1]) {
        let gi = [_mm512_set1_pd(g0), _mm512_set1_pd(g1)];
        for h in 0..R {
            let (o, k) = at(h);
            // SAFETY: this row's entries below y's length (the caller's promise).
            let a = unsafe { _mm512_maskz_loadu_pd(k, p.add(o)) };
            for (acc, gi) in acc.iter_mut().zip(gi) {
                acc[h] = _mm512_fmadd_pd(gi, a, acc[h]);
            }
        }
        p = p.wrapping_offset(stride);
    }
    for (acc, yp) in acc.iter().zip(yp) {
        for (h, &v) in acc.iter().enumerate() {
            let (o, k) = at(h);
            // SAFETY: y's entries, the last register masked to its length.
            unsafe { _mm512_mask_storeu_pd(yp.add(o), k, v) };
        }
    }
}

/// `y[i..] ← y[i..] + Σ_r α_r·rows[r][i..]` for the entries from i below n, at most 8,
/// masked: the tail of [`axpy_rows`] and of the fused sweep.
///
/// SAFETY: i < n, and y and the rows hold at least n entries.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn axpy_masked<const R: usize>(
    al: [__m512d; R],
    p: [*const f64; R],
    yp: *mut f64,
    i: usize,
    n: usize,
) {
    let m = mask(n - i);
    // SAFETY: the mask covers only entries below n (the caller's promise).
    unsafe {
        let mut v = _mm512_maskz_loadu_pd(m, yp.add(i));
        for r in 0..R {
            v = _mm512_fmadd_pd(al[r], _mm512_maskz_loadu_pd(m, p[r].add(i)), v);
        }
        _mm512_mask_storeu_pd(yp.add(i), m, v);
    }
}

/// [`dot_rows`] and [`axpy_rows`] in one sweep: per eight entries, R rows' dot lanes
/// and y's update by the R previous rows; then both tails as those do them (eight rows
/// have the bits of two quads). AHEAD: the new rows asked for ahead ([`by_length`]).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn dot_axpy_rows<const R: usize, const AHEAD: bool>(
    rows: [&[f64]; R],
    x: &[f64],
    alpha: [f64; R],
    prev: [&[f64]; R],
    y: &mut [f64],
) -> [f64; R] {
    const { assert!(R.is_multiple_of(4), "whole quads") };
    let n = x.len();
    let fits = y.len() >= n && rows.iter().chain(&prev).all(|r| r.len() >= n);
    assert!(fits, "rows or y shorter than x");
    let full = n - n % LANES;
    let mut acc = [_mm512_setzero_pd(); R];
    let al = alpha.map(|a| _mm512_set1_pd(a));
    let p = rows.map(<[f64]>::as_ptr);
    let q = prev.map(<[f64]>::as_ptr);
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i < full {
        if AHEAD {
            fetch_ahead::<_, LANES, R>(p, i);
        }
        // SAFETY: i + 8 ≤ full ≤ len of x, y and every row (checked above).
        unsafe {
            let xv = _mm512_loadu_pd(xp.add(i));
            let mut v = _mm512_loadu_pd(yp.add(i));
            for r in 0..R {
                acc[r] = _mm512_fmadd_pd(_mm512_loadu_pd(p[r].add(i)), xv, acc[r]);
                v = _mm512_fmadd_pd(al[r], _mm512_loadu_pd(q[r].add(i)), v);
            }
            _mm512_storeu_pd(yp.add(i), v);
        }
        i += LANES;
    }
    let out = sums(acc, rows, x, full);
    if full < n {
        // SAFETY: full < n ≤ len of y and of every row (checked above).
        unsafe { axpy_masked(al, q, yp, full, n) };
    }
    out
}

/// The first min(left, 8) lanes.
#[inline(always)]
fn mask(left: usize) -> __mmask8 {
    if left >= LANES {
        0xff
    } else {
        (1u8 << left) - 1
    }
}

/// The sums of eight registers' lanes, lane i from `a[i]`, each by the portable copy's
/// tree (lanes k and k + 4, then k and k + 2, then 0 and 1: the AVX2 kernel's tree over
/// its two halves), on whole registers: each shuffle pair and add combines two
/// registers' lanes, 4, 2 and 1 of them for the three steps.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn lane_trees8(a: [__m512d; 8]) -> __m512d {
    let w = [quarters(&a[..4]), quarters(&a[4..])];
    let (even, odd) = (
        _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0),
        _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1),
    );
    _mm512_add_pd(
        _mm512_permutex2var_pd(w[0], even, w[1]),
        _mm512_permutex2var_pd(w[0], odd, w[1]),
    )
}

/// [`lane_trees8`] of four registers.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn lane_trees4(a: [__m512d; 4]) -> __m256d {
    // [p0 q0 … p3 q3] → [p0 … p3 | q0 … q3].
    let w = _mm512_permutexvar_pd(_mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0), quarters(&a));
    _mm256_add_pd(_mm512_castpd512_pd256(w), _mm512_extractf64x4_pd::<1>(w))
}

/// The tree's first two steps for four registers: lanes 2i and 2i + 1 of the
/// result are `a[i]`'s lanes (0 + 4) + (2 + 6) and (1 + 5) + (3 + 7).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn quarters(a: &[__m512d]) -> __m512d {
    // [a lanes 0–3 | b lanes 0–3] + [a lanes 4–7 | b lanes 4–7].
    let halves = |a: __m512d, b: __m512d| {
        _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x44>(a, b),
            _mm512_shuffle_f64x2::<0xEE>(a, b),
        )
    };
    let (s, t) = (halves(a[0], a[1]), halves(a[2], a[3]));
    // Each register's lanes 0–1 beside each other, + its lanes 2–3.
    _mm512_add_pd(
        _mm512_shuffle_f64x2::<0x88>(s, t),
        _mm512_shuffle_f64x2::<0xDD>(s, t),
    )
}
