//! C ← A·X for X with few columns (n ≤ 128: a batch's points, a Jacobian's panel):
//! BLIS's loops around a register tile, with no packing.
//!
//! ```text
//! for each kc-block of A's columns (X's rows):         X[pc.., :] then stays in L1/L2
//!   for each mc-block of A's rows:                     A[ic.., pc..] then stays in L2
//!     for each NR-panel of X's columns:
//!       for each MR rows of the block:                 the tile C[MR×NR] in registers
//!         C[i.., j..] += Σ_p A[i.., p] ⊗ X[p, j..]      (one broadcast of A, NR/lanes
//!                                                        vector loads of X, MR·NR/lanes FMAs)
//! ```
//!
//! A square GEMM packs A and B because it reuses each packed block n/NR or m/MR times;
//! here each value of A is used n times in all, and packing it would cost a pass of its
//! own that nothing overlaps. Instead A is read in place (any strides: W or Wᵀ) and,
//! while the last panel of X sweeps a block already in L2, the next block is prefetched
//! into L2: memory streams A while the tiles compute.
//!
//! Every C entry is one chain of multiply-adds in p's order, C_ij = (…((0 + a_i0·x_0j) +
//! a_i1·x_1j)…), whatever the blocking, the tile, the row split among threads or the
//! instruction set (all with FMA; the portable copy without): the bits depend only on
//! the operands.

use super::portable::madd;
use super::{detected, prefetch, Detected, INTO_L2};
use crate::Real;
use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};

/// Rows of A in a block, and its columns: an MC×KC block (48 KiB of f64) stays in L2
/// while every panel of X passes over it, and a KC×NR panel of X (8 KiB at NR = 32 f64)
/// stays in L1 while the block's tiles pass over it. Wᵀ·X reads each step's MR values
/// from another row of W, 8·d bytes on, so a block's KC rows compete for few of L1's
/// sets, and few columns keep them there: on Zen 5 (2026-12-02) 192 × 32 ran Wᵀ·X
/// 12–20 % faster than the 96 × 48 of an earlier, noisy sweep on Emerald Rapids
/// (d = 2000–8000), and KC = 96 or 192 a quarter slower than KC = 48 (docs/measured.md).
const MC: usize = 192;
const KC: usize = 32;

/// The widest n this file is for: wider products belong to a GEMM that packs.
pub(crate) const MAX_COLUMNS: usize = 128;

/// C ← A·X (C overwritten): A m×k with any strides, X k×n and C m×n each with unit
/// column stride, n ≤ [`MAX_COLUMNS`]. Rows of C are split among up to `threads` rayon
/// tasks, in multiples of every tile's rows (12).
pub(crate) fn gemm<T: Real>(
    threads: usize,
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    let (m, n) = c.dim();
    assert!(
        a.nrows() == m && x.ncols() == n && a.ncols() == x.nrows(),
        "thin gemm shapes"
    );
    assert!(
        n <= MAX_COLUMNS && (n < 2 || x.strides()[1] == 1 && c.strides()[1] == 1),
        "thin gemm: X and C need unit column stride"
    );
    if m == 0 || n == 0 {
        return;
    }
    let part = m.div_ceil(threads.max(1)).div_ceil(12) * 12;
    if part >= m {
        return tiles(a, x, c);
    }
    let (c0, c1) = c.split_at(Axis(0), part);
    let (a0, a1) = a.split_at(Axis(0), part);
    rayon::join(|| tiles(a0, x, c0), || gemm(threads - 1, a1, x, c1));
}

/// [`blocks`] with this CPU's tile: MR rows by NR columns of accumulators, as many as
/// its registers hold beside one broadcast of A and NR/lanes vectors of X (32 zmm:
/// 4 × 4 vectors, as 6 × 4 made the compiler store the tile at every step; 16 ymm or
/// xmm: 4 × 2). On AVX-512, X of at most two vectors' width takes a tile of 6 × 2.
fn tiles<T: Real>(a: ArrayView2<T>, x: ArrayView2<T>, c: ArrayViewMut2<T>) {
    let lanes = |bytes: usize| bytes / std::mem::size_of::<T>();
    let narrow = |bytes: usize| c.ncols() <= 2 * lanes(bytes);
    match detected() {
        // SAFETY: the kernel exists only where its CPU features do.
        #[cfg(target_arch = "x86_64")]
        Detected::Avx512(_) => unsafe {
            match (lanes(64), narrow(64)) {
                (8, false) => blocks_avx512::<T, 4, 32>(a, x, c),
                (8, true) => blocks_avx512::<T, 6, 16>(a, x, c),
                (_, false) => blocks_avx512::<T, 4, 64>(a, x, c),
                (_, true) => blocks_avx512::<T, 6, 32>(a, x, c),
            }
        },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Detected::Avx2(_) => unsafe {
            match lanes(32) {
                4 => blocks_avx2::<T, 4, 8>(a, x, c),
                _ => blocks_avx2::<T, 4, 16>(a, x, c),
            }
        },
        Detected::Portable(_) => match lanes(16) {
            2 => blocks_portable::<T, 4, 4>(a, x, c),
            _ => blocks_portable::<T, 4, 8>(a, x, c),
        },
    }
}

/// [`blocks`] compiled for AVX-512F, AVX2 and FMA.
///
/// SAFETY: the CPU has those features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn blocks_avx512<T: Real, const MR: usize, const NR: usize>(
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    blocks::<T, MR, NR, true>(a, x, c)
}

/// [`blocks`] compiled for AVX2 and FMA.
///
/// SAFETY: the CPU has those features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocks_avx2<T: Real, const MR: usize, const NR: usize>(
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    blocks::<T, MR, NR, true>(a, x, c)
}

/// [`blocks`] for any CPU, without FMA.
#[inline(never)]
fn blocks_portable<T: Real, const MR: usize, const NR: usize>(
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    blocks::<T, MR, NR, false>(a, x, c)
}

/// The loops above on one part of C's rows.
#[inline(always)]
fn blocks<T: Real, const MR: usize, const NR: usize, const FMA: bool>(
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
) {
    let ((m, k), n) = (a.dim(), x.ncols());
    if k == 0 {
        return c.fill(T::zero());
    }
    let (rsa, csa) = (a.strides()[0], a.strides()[1]);
    let (ldx, ldc) = (x.strides()[0], c.strides()[0]);
    let (pa, px, pc) = (a.as_ptr(), x.as_ptr(), c.as_mut_ptr());
    let panels = n.div_ceil(NR);
    // X's last panel, where narrower than NR (w < NR columns), padded with zeros (reading
    // past X's columns is not allowed), and a tile of C to match.
    let w = n - (panels - 1) * NR;
    let mut edge = [[T::zero(); NR]; KC];
    let mut tile = [[T::zero(); NR]; MR];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let first = p0 == 0;
        if w < NR {
            for (p, row) in edge[..kc].iter_mut().enumerate() {
                let xs = x.slice(s![p0 + p, n - w..]);
                row.iter_mut().zip(xs).for_each(|(e, &v)| *e = v);
            }
        }
        for i0 in (0..m).step_by(MC) {
            let mc = MC.min(m - i0);
            for jr in 0..panels {
                let j0 = jr * NR;
                let last = jr + 1 == panels;
                let padded = last && w < NR;
                let (xp, ldxp) = match padded {
                    true => (edge.as_ptr().cast::<T>(), NR as isize),
                    // SAFETY: (p0, j0) lies in X.
                    false => (unsafe { px.offset(p0 as isize * ldx + j0 as isize) }, ldx),
                };
                let mut i = i0;
                while i < i0 + mc {
                    let rows = if i + MR <= i0 + mc { MR } else { 1 };
                    // SAFETY: (i, p0) lies in A.
                    let ai = unsafe { pa.offset(i as isize * rsa + p0 as isize * csa) };
                    // While the last panel sweeps this block (in L2 since the first
                    // panel), fetch the next block's matching rows: the next rows of
                    // this kc-block, or the first rows of the next one (only prefetched,
                    // so a wrapping offset: the next kc-block may be narrower).
                    let ahead = match (last, i + MC + rows <= m, p0 + KC < k) {
                        (false, _, _) | (true, false, false) => None,
                        (true, true, _) => Some((i + MC) as isize * rsa + p0 as isize * csa),
                        (true, false, true) => {
                            Some((i - i0) as isize * rsa + (p0 + KC) as isize * csa)
                        }
                    };
                    let ahead = ahead.map_or(std::ptr::null(), |o| pa.wrapping_offset(o));
                    let ci = i as isize * ldc + j0 as isize;
                    let at = |r: usize, j: usize| ci + r as isize * ldc + j as isize;
                    // SAFETY: C's rows i..i + rows, columns j0.. (all NR of them, or the
                    // first w through the tile).
                    unsafe {
                        let (ct, ldt) = match padded {
                            true => {
                                if !first {
                                    for (r, t) in tile[..rows].iter_mut().enumerate() {
                                        for (j, t) in t[..w].iter_mut().enumerate() {
                                            *t = *pc.offset(at(r, j));
                                        }
                                    }
                                }
                                (tile.as_mut_ptr().cast::<T>(), NR as isize)
                            }
                            false => (pc.offset(ci), ldc),
                        };
                        let run = (kc, ai, [rsa, csa], xp, ldxp, ct, ldt, first, ahead);
                        match rows == MR {
                            true => micro::<T, MR, NR, FMA>(run),
                            false => micro::<T, 1, NR, FMA>(run),
                        }
                        if padded {
                            for (r, t) in tile[..rows].iter().enumerate() {
                                for (j, &t) in t[..w].iter().enumerate() {
                                    *pc.offset(at(r, j)) = t;
                                }
                            }
                        }
                    }
                    i += rows;
                }
            }
        }
    }
}

/// C[MR×NR] ← C + Σ_{p<kc} A[r, p]·X[p, :] (or without C's old values when `first`),
/// the tile in registers; first, unless null, the lines of another MR rows and kc
/// columns of A at `ahead` are prefetched.
///
/// SAFETY: A's MR rows and kc columns at `a` (strides rsa, csa), X's kc rows of NR at
/// `x` (row stride ldx) and C's MR rows of NR at `c` (row stride ldc) are in bounds;
/// `ahead` may point anywhere (it is only prefetched).
#[inline(always)]
// Index loops over the constant MR and NR: the form that compiles to the tile in
// registers, one broadcast and NR/lanes loads a step, checked in the assembly.
#[allow(clippy::type_complexity, clippy::needless_range_loop)]
unsafe fn micro<T: Real, const MR: usize, const NR: usize, const FMA: bool>(
    (kc, a, [rsa, csa], x, ldx, c, ldc, first, ahead): (
        usize,
        *const T,
        [isize; 2],
        *const T,
        isize,
        *mut T,
        isize,
        bool,
        *const T,
    ),
) {
    // SAFETY: as the caller promises.
    unsafe {
        let mut acc = [[T::zero(); NR]; MR];
        if !first {
            for r in 0..MR {
                for j in 0..NR {
                    acc[r][j] = *c.offset(r as isize * ldc + j as isize);
                }
            }
        }
        // The next rows' lines, all before the loop, which then holds only the tile's
        // loads and multiply-adds.
        if !ahead.is_null() {
            match csa {
                1 => {
                    let line = 64 / std::mem::size_of::<T>();
                    for r in 0..MR {
                        for p in (0..kc).step_by(line) {
                            prefetch::<INTO_L2, _>(
                                ahead.wrapping_offset(r as isize * rsa + p as isize),
                            );
                        }
                    }
                }
                _ => (0..kc)
                    .for_each(|p| prefetch::<INTO_L2, _>(ahead.wrapping_offset(p as isize * csa))),
            }
        }
        for p in 0..kc {
            let xp = x.offset(p as isize * ldx);
            let mut xv = [T::zero(); NR];
            for j in 0..NR {
                xv[j] = *xp.add(j);
            }
            for r in 0..MR {
                let ar = *a.offset(r as isize * rsa + p as isize * csa);
                for j in 0..NR {
                    acc[r][j] = madd::<T, FMA>(ar, xv[j], acc[r][j]);
                }
            }
        }
        for r in 0..MR {
            for j in 0..NR {
                *c.offset(r as isize * ldc + j as isize) = acc[r][j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// An m×n matrix of sin(i·s + j·t + 1): every product rounds.
    fn waves<T: Real>(m: usize, n: usize, s: usize) -> Array2<T> {
        Array2::from_shape_fn((m, n), |(i, j)| {
            T::from_f64(((i * s + j * (s + 2) + 1) as f64).sin())
        })
    }

    /// Each entry's chain of multiply-adds in p's order, fused or not.
    fn chain<T: Real>(a: ArrayView2<T>, x: ArrayView2<T>, fma: bool) -> Array2<T> {
        Array2::from_shape_fn((a.nrows(), x.ncols()), |(i, j)| {
            (0..a.ncols()).fold(T::zero(), |s, p| match fma {
                true => a[[i, p]].mul_add(x[[p, j]], s),
                false => a[[i, p]] * x[[p, j]] + s,
            })
        })
    }

    /// A tile's `blocks`.
    type Product<T> = fn(ArrayView2<T>, ArrayView2<T>, ArrayViewMut2<T>);

    fn bits<T: Real>(c: ArrayView2<T>) -> Vec<u64> {
        c.iter().map(|v| v.as_f64().to_bits()).collect()
    }

    /// Shapes around every block and tile edge: m past MC and the tiles' rows, k past KC,
    /// n from 2 to 128 past every tile's width.
    fn shapes() -> Vec<(usize, usize, usize)> {
        let mut v = vec![];
        for &m in &[1, 5, 13, MC + 14] {
            for &k in &[1, KC - 1, KC, KC + 1, 2 * KC + 1] {
                for &n in &[2, 15, 16, 17, 33, 64, 128] {
                    v.push((m, k, n));
                }
            }
        }
        v
    }

    /// Every layout of A the kernel takes: row-major, Wᵀ (unit row stride), every other
    /// column of a wider matrix, and columns reversed (a negative stride).
    fn operands<T: Real>(
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<(Array2<T>, Array2<T>, &'static str)> {
        let x = waves::<T>(k, n, 3);
        vec![
            (waves::<T>(m, k, 1), x.clone(), "row-major"),
            (waves::<T>(k, m, 5).reversed_axes(), x.clone(), "transposed"),
            (waves::<T>(m, 2 * k, 7), x.clone(), "strided"),
            (waves::<T>(m, k, 9), x, "reversed"),
        ]
    }

    /// A itself, every other column of the strided one, or the reversed one's columns
    /// backwards.
    fn view<'a, T: Real>(a: &'a Array2<T>, layout: &str) -> ArrayView2<'a, T> {
        match layout {
            "strided" => a.slice(s![.., ..;2]),
            "reversed" => a.slice(s![.., ..;-1]),
            _ => a.view(),
        }
    }

    /// Every C entry is the chain of multiply-adds in p's order, bit for bit, for every
    /// thread count, shape and layout, on the detected kernel.
    #[test]
    fn every_entry_is_its_chain_of_multiply_adds() {
        fn check<T: Real>() {
            let fma = !matches!(detected(), Detected::Portable(_));
            for (m, k, n) in shapes() {
                for (a, x, layout) in operands::<T>(m, k, n) {
                    let a = view(&a, layout);
                    let want = bits(chain(a, x.view(), fma).view());
                    for threads in [1, 3] {
                        let mut c = Array2::from_elem((m, n), T::nan());
                        gemm(threads, a, x.view(), c.view_mut());
                        assert_eq!(
                            bits(c.view()),
                            want,
                            "{m}×{k}·{k}×{n} {layout}, {threads} threads"
                        );
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// X and C with row strides other than n: X's and C's columns within wider
    /// matrices, and C's rows reversed (a negative stride).
    #[test]
    fn the_strides_of_x_and_c_are_honoured() {
        fn check<T: Real>() {
            let fma = !matches!(detected(), Detected::Portable(_));
            for &(m, k, n) in &[
                (203, 100, 33),
                (13, KC + 1, 17),
                (MC + 1, KC, 128),
                (30, 60, 64),
            ] {
                let a = waves::<T>(k, m, 5).reversed_axes();
                let wide = waves::<T>(k, n + 3, 3);
                for x in [wide.slice(s![.., 1..n + 1]), wide.slice(s![.., ..n])] {
                    let want = bits(chain(a.view(), x, fma).view());
                    for threads in [1, 3] {
                        let mut c = Array2::from_elem((m, n + 5), T::nan());
                        gemm(threads, a.view(), x, c.slice_mut(s![.., 2..n + 2]));
                        let at = format!("{m}×{k}·{k}×{n}, {threads} threads");
                        assert_eq!(bits(c.slice(s![.., 2..n + 2])), want, "wide C, {at}");
                        let mut c = Array2::from_elem((m, n), T::nan());
                        gemm(threads, a.view(), x, c.slice_mut(s![..;-1, ..]));
                        assert_eq!(bits(c.slice(s![..;-1, ..])), want, "reversed C, {at}");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// Every tile of every instruction set this CPU has, against the chains (fused
    /// where the set has FMA): the tiles other CPUs would pick are tested here too.
    #[test]
    fn every_tile_is_the_chain_too() {
        fn check<T: Real>() {
            // (name, tile, whether it fuses), for every instruction set this CPU has.
            let mut tiles: Vec<(&str, Product<T>, bool)> = vec![
                (
                    "portable 4×4",
                    |a, x, c| blocks_portable::<T, 4, 4>(a, x, c),
                    false,
                ),
                (
                    "portable 4×8",
                    |a, x, c| blocks_portable::<T, 4, 8>(a, x, c),
                    false,
                ),
            ];
            // SAFETY (every tile below): its CPU features are detected.
            #[cfg(target_arch = "x86_64")]
            if crate::kernels::Avx2::detect().is_some() {
                tiles.push((
                    "avx2 4×8",
                    |a, x, c| unsafe { blocks_avx2::<T, 4, 8>(a, x, c) },
                    true,
                ));
                tiles.push((
                    "avx2 4×16",
                    |a, x, c| unsafe { blocks_avx2::<T, 4, 16>(a, x, c) },
                    true,
                ));
            }
            #[cfg(target_arch = "x86_64")]
            if crate::kernels::Avx512::detect().is_some() {
                tiles.push((
                    "avx512 4×32",
                    |a, x, c| unsafe { blocks_avx512::<T, 4, 32>(a, x, c) },
                    true,
                ));
                tiles.push((
                    "avx512 6×16",
                    |a, x, c| unsafe { blocks_avx512::<T, 6, 16>(a, x, c) },
                    true,
                ));
                tiles.push((
                    "avx512 4×64",
                    |a, x, c| unsafe { blocks_avx512::<T, 4, 64>(a, x, c) },
                    true,
                ));
                tiles.push((
                    "avx512 6×32",
                    |a, x, c| unsafe { blocks_avx512::<T, 6, 32>(a, x, c) },
                    true,
                ));
            }
            for &(m, k, n) in &[
                (203, 100, 33),
                (13, KC + 1, 17),
                (MC + 1, KC, 128),
                (5, 7, 3),
            ] {
                for (a, x, layout) in operands::<T>(m, k, n) {
                    let a = view(&a, layout);
                    let plain = bits(chain(a, x.view(), false).view());
                    let fused = bits(chain(a, x.view(), true).view());
                    for (name, tile, fuses) in &tiles {
                        let mut c = Array2::from_elem((m, n), T::nan());
                        tile(a, x.view(), c.view_mut());
                        let want = if *fuses { &fused } else { &plain };
                        assert_eq!(&bits(c.view()), want, "{name}: {m}×{k}·{k}×{n} {layout}");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }
}
