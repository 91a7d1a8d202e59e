//! C ← A·X for X with few columns (n ≤ 128: a batch's points, a Jacobian's panel):
//! BLIS's loops around a register tile, A read in place; and for X of any width, the
//! square GEMM's loops around the same tile with A and X packed (`dgemm_packed`,
//! `packed.rs`). fwdrev's `kernels/thin.rs` calls both on views.
//!
//! ```text
//! for each kc-block of A's columns (X's rows):         X[pc.., :] copied by panels
//!   for each mc-block of A's rows:                     (the prefetch's reach)
//!     for each MR rows of the block:                   A[i.., pc..] then stays in L1
//!       for each NR-panel of X's columns:              the tile C[MR×NR] in registers
//!         C[i.., j..] += Σ_p A[i.., p] ⊗ X[p, j..]      (one broadcast of A, NR/lanes
//!                                                        vector loads of X, MR·NR/lanes FMAs)
//! ```
//!
//! A square GEMM packs A and B because it reuses each packed block n/NR or m/MR times;
//! here each value of A is used n times in all, and packing it would cost a pass of its
//! own that nothing overlaps. Instead A is read in place (any strides: W or Wᵀ), each
//! MR rows' kc columns once into L1 for every panel of X, and with the last panel the
//! matching rows an mc-block on are prefetched into L2: memory streams A while the
//! tiles compute. X is small (k·n values, each used m times): its kc rows are copied
//! panel by panel, so that a panel's lines are adjacent and spread over L1's sets, where
//! in place, n values apart, they would share a few.
//!
//! Every C entry is one chain of multiply-adds in p's order, C_ij = (…((0 + a_i0·x_0j) +
//! a_i1·x_1j)…), whatever the blocking, the tile, the row split among threads or the
//! instruction set (all with FMA; [`Isa::Portable`] without): the bits depend only on
//! the operands.
//!
//! Its own crate, with the concrete entry points [`dgemm`] and [`sgemm`], so that a dev
//! profile can compile it optimised: the x86-64 tiles are intrinsics
//! (`micro_registers`), and unoptimised each multiply-add is a function call (1500×
//! slower). Its tests are fwdrev's (`src/kernels/thin.rs`): every instruction set and
//! tile against the chains of multiply-adds, bit for bit.

#![warn(missing_docs)]

mod packed;

use std::mem::{size_of, MaybeUninit};

/// Rows of A in a block: how far ahead the rows a tile reads are prefetched.
pub const MC: usize = 192;
/// A block's columns (X's rows), KC, for AVX-512's narrow tiles (n ≤ two zmm) and the
/// portable ones: for the narrow tiles on Emerald Rapids 48 ran level with 32 (rates
/// 0.98–1.10 of its own), 64 no faster (fwdrev's docs/measured.md).
pub const KC: usize = 32;
/// KC for AVX-512's wide tile (6 × 4 zmm): 48 ran Wᵀ·X at n = 64 on Emerald Rapids as
/// fast as 32 or faster, and faster than 16 or 64 on two threads (fwdrev's
/// docs/measured.md).
pub const KC_AVX512: usize = 48;
/// KC for AVX2's tiles: with X's panels copied, 48–96 ran f64's Wᵀ·X on Zen 3 within
/// the noise of each other, faster than 32, 128 or 256, and f32's as fast as or faster
/// than 32 or 128 (fwdrev's docs/measured.md); X's kc rows, 32 KiB at n = 64 in f64,
/// stay in L1 or L2, and a panel is 4 KiB in either type.
pub const KC_AVX2: usize = 64;
/// The largest KC: the copy of X's rows is sized for it.
const KC_MAX: usize = max(max(KC, KC_AVX512), KC_AVX2);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The widest n this crate is for: wider products belong to a GEMM that packs.
pub const MAX_COLUMNS: usize = 128;

/// The instruction set the tiles run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F, AVX2 and FMA (x86-64).
    Avx512,
    /// AVX2 and FMA (x86-64).
    Avx2,
    /// Any CPU, without FMA: each step rounds its product, then its sum.
    Portable,
}

/// The operands of C ← A·X, each as a pointer to its first entry and its strides in
/// entries: A m×k with any strides, X k×n and C m×n by rows, each row's entries
/// adjacent (unless n = 1, or the matrix has no rows).
#[derive(Clone, Copy, Debug)]
pub struct Product<T> {
    /// C's rows and A's.
    pub m: usize,
    /// A's columns and X's rows.
    pub k: usize,
    /// X's columns and C's, at most [`MAX_COLUMNS`] for [`dgemm`] and [`sgemm`] (any
    /// for [`dgemm_packed`] and [`sgemm_packed`]).
    pub n: usize,
    /// A[0, 0].
    pub a: *const T,
    /// A's row stride and column stride.
    pub a_strides: [isize; 2],
    /// X[0, 0].
    pub x: *const T,
    /// X's row stride.
    pub x_row_stride: isize,
    /// C[0, 0].
    pub c: *mut T,
    /// C's row stride.
    pub c_row_stride: isize,
}

// SAFETY: a Product is only addresses; what reads or writes through them is the promise
// of the unsafe functions that take it (C's rows split among threads are disjoint).
unsafe impl<T: Send + Sync> Send for Product<T> {}

impl<T> Product<T> {
    /// The first `rows` rows of C and A, and the rest.
    fn split(self, rows: usize) -> (Self, Self) {
        let rest = Product {
            m: self.m - rows,
            a: self.a.wrapping_offset(rows as isize * self.a_strides[0]),
            c: self.c.wrapping_offset(rows as isize * self.c_row_stride),
            ..self
        };
        (Product { m: rows, ..self }, rest)
    }
}

/// C ← A·X in f64 (C overwritten), C's rows split among up to `threads` rayon tasks in
/// multiples of every tile's rows (12).
///
/// # Safety
/// Every entry the product names is an aligned value inside its allocation, C's apart
/// from A's and X's; nothing else writes A, X or C, or reads C, during the call; the
/// CPU has `isa`'s features. (n > [`MAX_COLUMNS`] panics.)
#[inline(never)]
pub unsafe fn dgemm(isa: Isa, threads: usize, p: Product<f64>) {
    // SAFETY: as the caller promises.
    unsafe { gemm(isa, threads, p) }
}

/// [`dgemm`] in f32.
///
/// # Safety
/// As [`dgemm`].
#[inline(never)]
pub unsafe fn sgemm(isa: Isa, threads: usize, p: Product<f32>) {
    // SAFETY: as the caller promises.
    unsafe { gemm(isa, threads, p) }
}

/// C ← A·B in f64 for B of any width (C overwritten), A and B packed (`packed.rs`): the
/// square GEMM's loops around `isa`'s tile, each C entry the same one chain of
/// multiply-adds as [`dgemm`] makes, so the same bits. C's rows are split among up to
/// `threads` rayon tasks in multiples of every tile's rows (12), each packing its own
/// blocks ([`packed_bytes`]: its rows of A a kc-block deep, and B's kc × nc block).
///
/// # Safety
/// As [`dgemm`] (n may be any width).
#[inline(never)]
pub unsafe fn dgemm_packed(isa: Isa, threads: usize, p: Product<f64>) {
    // SAFETY: as the caller promises.
    unsafe { split_rows(threads, SPLIT_ROWS, p, &|p| packed_tiles(isa, p)) }
}

/// [`dgemm_packed`] in f32.
///
/// # Safety
/// As [`dgemm_packed`].
#[inline(never)]
pub unsafe fn sgemm_packed(isa: Isa, threads: usize, p: Product<f32>) {
    // SAFETY: as the caller promises.
    unsafe { split_rows(threads, SPLIT_ROWS, p, &|p| packed_tiles(isa, p)) }
}

/// C's rows go to the threads in multiples of this: every tile's rows (12, 6, 4) divide
/// it, so that only the last part has a partial tile.
const SPLIT_ROWS: usize = 12;

/// The packed GEMM's kc-block on AVX-512: A's micropanel (12 × 192 f64, 18 KiB) stays
/// in L1 beside the streamed B; 128–256 ran within a few per cent of each other on
/// Emerald Rapids, 192 the fastest (fwdrev's docs/measured.md).
pub const KC_PACKED_AVX512: usize = 192;
/// The packed GEMM's nc-block on AVX-512: B's kc × nc block (720 KiB in f64) stays in L2
/// (2 MB a core there); 240–640 ran level, 960 and wider slower.
pub const NC_PACKED_AVX512: usize = 480;
/// The packed GEMM's kc-block on AVX2 and the portable tiles: A's micropanel (6 × 256
/// f64, 12 KiB) in L1.
pub const KC_PACKED_AVX2: usize = 256;
/// The packed GEMM's nc-block on AVX2 and the portable tiles: B's kc × nc block (384 KiB
/// in f64) in L2 (512 KiB a core on Zen 3).
pub const NC_PACKED_AVX2: usize = 192;

/// The packed GEMM's kc and nc on `isa` (the portable tiles take AVX2's).
const fn packed_blocks(isa: Isa) -> [usize; 2] {
    match isa {
        Isa::Avx512 => [KC_PACKED_AVX512, NC_PACKED_AVX512],
        Isa::Avx2 | Isa::Portable => [KC_PACKED_AVX2, NC_PACKED_AVX2],
    }
}

/// The bytes `dgemm_packed` (or `sgemm_packed`, `size` 4) allocates at most on `isa`
/// for C's m rows split among `threads` parts, k deep and n wide, values of `size`
/// bytes: A's rows, each part's rounded up to its tile, a kc-block deep, and each part's
/// kc × nc block of B, rounded up to its tile's width (at most 128 bytes).
pub fn packed_bytes(isa: Isa, m: usize, k: usize, n: usize, threads: usize, size: usize) -> usize {
    let [kc, nc] = packed_blocks(isa);
    let (depth, parts) = (kc.min(k), threads.max(1));
    let rows = m.saturating_add(parts * SPLIT_ROWS);
    let width = nc.min(n) + 128 / size;
    rows.saturating_mul(depth)
        .saturating_add(parts * depth * width)
        .saturating_mul(size)
}

/// What the tiles need of f64 and f32.
trait Element: Copy + Send + Sync + 'static {
    const ZERO: Self;
    /// a·b + c, rounded twice (the portable tile's step: no FMA).
    fn madd(a: Self, b: Self, c: Self) -> Self;
    /// [`blocks`] on AVX2's tile of two ymm registers of this type ([`blocks_avx2`]).
    ///
    /// SAFETY: as [`blocks_avx2`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks_avx2(p: Product<Self>);
    /// [`blocks`] on AVX-512's tiles of zmm registers of this type ([`blocks_avx512`]):
    /// two registers of X where X is at most that wide, four otherwise.
    ///
    /// SAFETY: as [`blocks_avx512`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn blocks_avx512(p: Product<Self>);
    /// [`packed::packed`] on AVX2's tile of 6 × two ymm registers of this type.
    ///
    /// SAFETY: as [`packed_avx2`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn packed_avx2(p: Product<Self>);
    /// [`packed::packed`] on AVX-512's tile of 12 × two zmm registers of this type.
    ///
    /// SAFETY: as [`packed_avx512`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn packed_avx512(p: Product<Self>);
}

// Each type with its registers: AVX2's ymm, AVX-512's zmm.
macro_rules! element {
    ($t:ty, $ymm:ident, $zmm:ident) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn madd(a: Self, b: Self, c: Self) -> Self {
                a * b + c
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn blocks_avx2(p: Product<Self>) {
                use std::arch::x86_64::$ymm;
                // SAFETY: as the caller promises.
                unsafe { blocks_avx2::<$ymm, { 2 * <$ymm as Register>::LANES }>(p) }
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn blocks_avx512(p: Product<Self>) {
                use std::arch::x86_64::$zmm;
                const LANES: usize = <$zmm as Register>::LANES;
                // SAFETY: as the caller promises.
                unsafe {
                    match p.n <= 2 * LANES {
                        true => blocks_avx512::<$zmm, 2, { 2 * LANES }, KC>(p),
                        false => blocks_avx512::<$zmm, 4, { 4 * LANES }, KC_AVX512>(p),
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn packed_avx2(p: Product<Self>) {
                use std::arch::x86_64::$ymm;
                // SAFETY: as the caller promises.
                unsafe { packed_avx2::<$ymm, { 2 * <$ymm as Register>::LANES }>(p) }
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn packed_avx512(p: Product<Self>) {
                use std::arch::x86_64::$zmm;
                // SAFETY: as the caller promises.
                unsafe { packed_avx512::<$zmm, { 2 * <$zmm as Register>::LANES }>(p) }
            }
        }
    };
}
element!(f64, __m256d, __m512d);
element!(f32, __m256, __m512);

/// The row split among threads.
///
/// SAFETY: as [`dgemm`].
unsafe fn gemm<T: Element>(isa: Isa, threads: usize, p: Product<T>) {
    assert!(p.n <= MAX_COLUMNS, "thin gemm: n = {} columns", p.n);
    // SAFETY: as the caller promises.
    unsafe { split_rows(threads, SPLIT_ROWS, p, &|p| tiles(isa, p)) }
}

/// `part` on C's rows split among up to `threads` rayon tasks, in multiples of `rows`.
///
/// SAFETY: `part` is sound on any rows of the caller's product.
unsafe fn split_rows<T: Element>(
    threads: usize,
    rows: usize,
    p: Product<T>,
    part: &(impl Fn(Product<T>) + Sync),
) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    let size = p.m.div_ceil(threads.max(1)).div_ceil(rows) * rows;
    if size >= p.m {
        return part(p);
    }
    let (p0, p1) = p.split(size);
    // SAFETY (both): the parts name disjoint rows of C within the caller's product.
    rayon::join(
        move || part(p0),
        move || unsafe { split_rows(threads - 1, rows, p1, part) },
    );
}

/// [`blocks`] with `isa`'s tile: MR rows by NR columns of accumulators, as many as its
/// registers hold beside one broadcast of A and NR/lanes vectors of X. On x86-64 in
/// intrinsics ([`micro_registers`]): 32 zmm take 6 × 4 vectors (6 × 2 where X is at
/// most two vectors wide), 16 ymm 6 × 2; the portable tile on 16 xmm, 4 × 2.
///
/// SAFETY: as [`dgemm`].
unsafe fn tiles<T: Element>(isa: Isa, p: Product<T>) {
    // SAFETY: as the caller promises, the CPU has the tile's features.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => T::blocks_avx512(p),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => T::blocks_avx2(p),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2 => unreachable!("x86-64 instruction sets elsewhere"),
            Isa::Portable => match 16 / size_of::<T>() {
                2 => blocks::<T, 4, 4, KC>(p, |r, n| micros::<T, 4, 4>(r, n)),
                _ => blocks::<T, 4, 8, KC>(p, |r, n| micros::<T, 4, 8>(r, n)),
            },
        }
    }
}

/// [`blocks`] on AVX2: tiles of 6 × NR (two ymm registers) in intrinsics
/// ([`micro_registers`]; twelve accumulators, two loads of X and a broadcast in sixteen
/// registers).
///
/// SAFETY: as [`dgemm`], the CPU has AVX2 and FMA, and NR is two of R's lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocks_avx2<R: Register, const NR: usize>(p: Product<R::T>) {
    const { assert!(NR == 2 * R::LANES, "two registers of X") };
    // SAFETY: as the caller promises. The closure, compiled for AVX2 as this function
    // is, takes R's operations inlined.
    unsafe { blocks::<R::T, 6, NR, KC_AVX2>(p, |r, n| micros_registers::<R, 2>(r, n)) }
}

/// [`blocks`] on AVX-512: tiles of 6 × NR (H zmm registers) in intrinsics
/// ([`micro_registers`]): 6 × 4 registers, 24 accumulators beside four loads of X and a
/// broadcast, or 6 × 2 for X at most two registers wide.
///
/// SAFETY: as [`dgemm`], the CPU has AVX-512F, and NR is H of R's lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn blocks_avx512<R: Register, const H: usize, const NR: usize, const K_BLOCK: usize>(
    p: Product<R::T>,
) {
    const { assert!(NR == H * R::LANES, "H registers of X") };
    // SAFETY: as in `blocks_avx2`.
    unsafe { blocks::<R::T, 6, NR, K_BLOCK>(p, |r, n| micros_registers::<R, H>(r, n)) }
}

/// [`packed::packed`] with `isa`'s tile, as [`tiles`] for [`blocks`].
///
/// SAFETY: as [`dgemm_packed`], and the CPU has `isa`'s features.
unsafe fn packed_tiles<T: Element>(isa: Isa, p: Product<T>) {
    // SAFETY: as the caller promises.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => T::packed_avx512(p),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => T::packed_avx2(p),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2 => unreachable!("x86-64 instruction sets elsewhere"),
            Isa::Portable => match 16 / size_of::<T>() {
                2 => packed::packed::<T, 4, 4, KC_PACKED_AVX2, NC_PACKED_AVX2>(p, |r| {
                    micro::<T, 4, 4>(r)
                }),
                _ => packed::packed::<T, 4, 8, KC_PACKED_AVX2, NC_PACKED_AVX2>(p, |r| {
                    micro::<T, 4, 8>(r)
                }),
            },
        }
    }
}

/// How many steps ahead in B's micropanel the packed tile on AVX-512 asks for a line in
/// L1: eight of two zmm, 1 KiB, 5–8 % faster than none on one core of Emerald Rapids.
#[cfg(target_arch = "x86_64")]
const AHEAD_AVX512: usize = 8;
/// [`AHEAD_AVX512`] on AVX2: sixteen steps of two ymm, 1 KiB too. On two cores of Zen 3
/// the 6 × 2 tile ran at 1.11–1.17× OpenBLAS's time with no hint, 4 or 8 steps ahead,
/// and at 1.02–1.15× with 16 or 32; the 4 × 3 tile at half speed with none (fwdrev's
/// docs/measured.md).
#[cfg(target_arch = "x86_64")]
const AHEAD_AVX2: usize = 16;

/// [`packed::packed`] on AVX2: tiles of 6 × NR (two ymm registers) in intrinsics.
///
/// SAFETY: as [`dgemm_packed`], the CPU has AVX2 and FMA, and NR is two of R's lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn packed_avx2<R: Register, const NR: usize>(p: Product<R::T>) {
    const { assert!(NR == 2 * R::LANES, "two registers of B") };
    // SAFETY: as in `blocks_avx2`.
    unsafe {
        packed::packed::<R::T, 6, NR, KC_PACKED_AVX2, NC_PACKED_AVX2>(p, |run| {
            micro_registers::<R, 6, 2, AHEAD_AVX2>(run)
        })
    }
}

/// [`packed::packed`] on AVX-512: tiles of 12 × NR (two zmm registers) in intrinsics, 24
/// accumulators beside two loads of B and a broadcast.
///
/// SAFETY: as [`dgemm_packed`], the CPU has AVX-512F, and NR is two of R's lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn packed_avx512<R: Register, const NR: usize>(p: Product<R::T>) {
    const { assert!(NR == 2 * R::LANES, "two registers of B") };
    // SAFETY: as in `blocks_avx2`.
    unsafe {
        packed::packed::<R::T, 12, NR, KC_PACKED_AVX512, NC_PACKED_AVX512>(p, |run| {
            micro_registers::<R, 12, 2, AHEAD_AVX512>(run)
        })
    }
}

/// Which tile a step over a block's rows takes.
#[derive(Clone, Copy)]
enum Rows {
    /// MR rows.
    Tile,
    /// One row: the block's last rows, fewer than MR.
    One,
}

/// [`micro_registers`] of six rows or of one, as `rows` says.
///
/// SAFETY: as [`micro_registers`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn micros_registers<R: Register, const H: usize>(run: Run<R::T>, rows: Rows) {
    // SAFETY: as the caller promises.
    unsafe {
        match rows {
            Rows::Tile => micro_registers::<R, 6, H, 0>(run),
            Rows::One => micro_registers::<R, 1, H, 0>(run),
        }
    }
}

/// [`micro`] of MR rows or of one, as `rows` says.
///
/// SAFETY: as [`micro`].
#[inline(always)]
unsafe fn micros<T: Element, const MR: usize, const NR: usize>(run: Run<T>, rows: Rows) {
    // SAFETY: as the caller promises.
    unsafe {
        match rows {
            Rows::Tile => micro::<T, MR, NR>(run),
            Rows::One => micro::<T, 1, NR>(run),
        }
    }
}

/// The loops above on one part of C's rows, in kc-blocks of K_BLOCK (the tile's KC),
/// `step` running each tile (of MR rows, or of one) on arguments in bounds.
///
/// SAFETY: as [`dgemm`], and `step` is sound on such arguments.
#[inline(always)]
unsafe fn blocks<T: Element, const MR: usize, const NR: usize, const K_BLOCK: usize>(
    p: Product<T>,
    step: impl Fn(Run<T>, Rows),
) {
    let Product {
        m,
        k,
        n,
        a: pa,
        a_strides: [rsa, csa],
        x: px,
        x_row_stride: ldx,
        c: pc,
        c_row_stride: ldc,
    } = p;
    if k == 0 {
        // SAFETY: as the caller promises.
        return unsafe { zeros(p) };
    }
    let panels = n.div_ceil(NR);
    // X's kc rows copied panel by panel, each panel's K_BLOCK×NR values adjacent, the last
    // panel's columns past n (where it is narrower than NR) zeros. Every value the tiles
    // read is written first (not zeroed ahead: 64 KiB would be a small product's cost).
    let w = n - (panels - 1) * NR;
    let mut pack = [const { MaybeUninit::<T>::uninit() }; KC_MAX * MAX_COLUMNS];
    const { assert!(K_BLOCK <= KC_MAX && MAX_COLUMNS.is_multiple_of(NR)) };
    let mut tile = [[T::ZERO; NR]; MR];
    for p0 in (0..k).step_by(K_BLOCK) {
        let kc = K_BLOCK.min(k - p0);
        let first = p0 == 0;
        for (jr, panel) in pack.chunks_exact_mut(K_BLOCK * NR).take(panels).enumerate() {
            let width = if jr + 1 == panels { w } else { NR };
            // SAFETY: X's rows p0.. (kc of them), columns jr·NR.. (width) lie in X.
            let xs = unsafe { px.offset(p0 as isize * ldx + (jr * NR) as isize) };
            unsafe { copy_panel::<T, NR>(panel, xs, ldx, kc, width) };
        }
        for i0 in (0..m).step_by(MC) {
            let mc = MC.min(m - i0);
            let mut i = i0;
            while i < i0 + mc {
                let rows = if i + MR <= i0 + mc { MR } else { 1 };
                // SAFETY: (i, p0) lies in A.
                let ai = unsafe { pa.offset(i as isize * rsa + p0 as isize * csa) };
                // The matching rows of the next block, fetched with the last panel: the
                // next rows of this kc-block, or the first rows of the next one (only
                // prefetched, so a wrapping offset: the next kc-block may be narrower).
                let ahead = match (i + MC + rows <= m, p0 + K_BLOCK < k) {
                    (true, _) => Some((i + MC) as isize * rsa + p0 as isize * csa),
                    (false, true) => Some((i - i0) as isize * rsa + (p0 + K_BLOCK) as isize * csa),
                    (false, false) => None,
                };
                let ahead = ahead.map_or(std::ptr::null(), |o| pa.wrapping_offset(o));
                for jr in 0..panels {
                    let last = jr + 1 == panels;
                    let width = if last { w } else { NR };
                    let xp = pack[jr * K_BLOCK * NR..].as_ptr().cast::<T>();
                    let ahead = if last { ahead } else { std::ptr::null() };
                    // SAFETY: C's rows i..i + rows, columns jr·NR.. (width of them).
                    let ci = unsafe { pc.offset(i as isize * ldc + (jr * NR) as isize) };
                    let (tile, part) = (&mut tile[..rows], [rows, width]);
                    // SAFETY: as above; the copy of X holds kc steps of this panel.
                    unsafe {
                        let (ct, ldt) = into_tile(tile, ci, ldc, part, first);
                        let run = (kc, ai, [rsa, csa], xp, ct, ldt, first, ahead);
                        match rows == MR {
                            true => step(run, Rows::Tile),
                            false => step(run, Rows::One),
                        }
                        from_tile(tile, ci, ldc, part);
                    }
                }
                i += rows;
            }
        }
    }
}

/// C ← 0: a product k = 0 deep.
///
/// SAFETY: as [`dgemm`].
unsafe fn zeros<T: Element>(p: Product<T>) {
    for i in 0..p.m {
        for j in 0..p.n {
            // SAFETY: C[i, j] lies in C.
            unsafe { *p.c.offset(i as isize * p.c_row_stride + j as isize) = T::ZERO };
        }
    }
}

/// The first `width` values of `rows` rows of X at `x` (row stride `ldx`) into `panel`,
/// NR values a row, the values past `width` zeros: every value a tile reads is written.
///
/// SAFETY: those rows × width values lie in X; `panel` holds rows × NR values.
#[inline(always)]
unsafe fn copy_panel<T: Element, const NR: usize>(
    panel: &mut [MaybeUninit<T>],
    x: *const T,
    ldx: isize,
    rows: usize,
    width: usize,
) {
    for (p, row) in panel.chunks_exact_mut(NR).take(rows).enumerate() {
        // SAFETY: X[p, j] lies in X for j < width.
        let xs = unsafe { x.offset(p as isize * ldx) };
        for (j, e) in row.iter_mut().enumerate() {
            // SAFETY: as above.
            e.write(if j < width {
                unsafe { *xs.add(j) }
            } else {
                T::ZERO
            });
        }
    }
}

/// Where a tile's steps write a tile of C, `tile.len()` rows of NR of which C holds the
/// first `rows` rows and `width` columns: C itself (`c`, row stride `ldc`) where it holds
/// all of them, else `tile` (row stride NR), C's values read into it first unless
/// `first` (the tile then starts from zero); [`from_tile`] writes it back.
///
/// SAFETY: C's rows × width values at `c` (row stride `ldc`) are in bounds.
#[inline(always)]
unsafe fn into_tile<T: Element, const NR: usize>(
    tile: &mut [[T; NR]],
    c: *mut T,
    ldc: isize,
    [rows, width]: [usize; 2],
    first: bool,
) -> (*mut T, isize) {
    if rows == tile.len() && width == NR {
        return (c, ldc);
    }
    if !first {
        for (r, t) in tile[..rows].iter_mut().enumerate() {
            for (j, t) in t[..width].iter_mut().enumerate() {
                // SAFETY: C[r, j] lies in C.
                *t = unsafe { *c.offset(r as isize * ldc + j as isize) };
            }
        }
    }
    (tile.as_mut_ptr().cast::<T>(), NR as isize)
}

/// C's part of `tile` back into C, where [`into_tile`] gave the tile (the same
/// arguments).
///
/// SAFETY: as [`into_tile`].
#[inline(always)]
unsafe fn from_tile<T: Element, const NR: usize>(
    tile: &[[T; NR]],
    c: *mut T,
    ldc: isize,
    [rows, width]: [usize; 2],
) {
    if rows == tile.len() && width == NR {
        return;
    }
    for (r, t) in tile[..rows].iter().enumerate() {
        for (j, &t) in t[..width].iter().enumerate() {
            // SAFETY: C[r, j] lies in C.
            unsafe { *c.offset(r as isize * ldc + j as isize) = t };
        }
    }
}

/// C[MR×NR] ← C + Σ_{p<kc} A[r, p]·X[p, :] (or without C's old values when `first`),
/// the tile in registers, each step a product and a sum rounded apart (the portable
/// tile; x86-64's fuse them, [`micro_registers`]); first, unless null, the lines of
/// another MR rows and kc columns of A at `ahead` are prefetched into L2.
///
/// SAFETY: A's MR rows and kc columns at `a` (strides rsa, csa), X's kc rows of NR at
/// `x` (adjacent) and C's MR rows of NR at `c` (row stride ldc) are in bounds;
/// `ahead` may point anywhere (it is only prefetched).
#[inline(always)]
// Index loops over the constant MR and NR: the form that LLVM compiles to the tile in
// registers, one broadcast and NR/lanes loads a step.
#[allow(clippy::needless_range_loop)]
unsafe fn micro<T: Element, const MR: usize, const NR: usize>(
    (kc, a, [rsa, csa], x, c, ldc, first, ahead): Run<T>,
) {
    // SAFETY: as the caller promises.
    unsafe {
        let mut acc = [[T::ZERO; NR]; MR];
        if !first {
            for r in 0..MR {
                for j in 0..NR {
                    acc[r][j] = *c.offset(r as isize * ldc + j as isize);
                }
            }
        }
        fetch_rows::<T, MR>(ahead, kc, [rsa, csa]);
        for p in 0..kc {
            let xp = x.add(p * NR);
            let mut xv = [T::ZERO; NR];
            for j in 0..NR {
                xv[j] = *xp.add(j);
            }
            for r in 0..MR {
                let ar = *a.offset(r as isize * rsa + p as isize * csa);
                for j in 0..NR {
                    acc[r][j] = T::madd(ar, xv[j], acc[r][j]);
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

/// A tile's arguments: kc, A's MR rows at `a` with their strides, X's kc rows at `x` (a
/// panel of the copy, NR values a row), C's tile and its row stride, whether C starts
/// from zero (`first`), and the rows to prefetch (`ahead`, or null).
type Run<T> = (
    usize,
    *const T,
    [isize; 2],
    *const T,
    *mut T,
    isize,
    bool,
    *const T,
);

/// Asks for the lines of MR rows and kc columns of A from `ahead` (unless null) in L2,
/// all before a tile's loop, which then holds only its loads and multiply-adds.
#[inline(always)]
fn fetch_rows<T, const MR: usize>(ahead: *const T, kc: usize, [rsa, csa]: [isize; 2]) {
    if ahead.is_null() {
        return;
    }
    match csa {
        1 => {
            let line = 64 / size_of::<T>();
            for r in 0..MR {
                for p in (0..kc).step_by(line) {
                    into_l2(ahead.wrapping_offset(r as isize * rsa + p as isize));
                }
            }
        }
        _ => (0..kc).for_each(|p| into_l2(ahead.wrapping_offset(p as isize * csa))),
    }
}

/// A register of an x86-64 vector extension, its lanes of f64 or f32, for
/// [`micro_registers`].
#[cfg(target_arch = "x86_64")]
trait Register: Copy {
    /// What a lane holds.
    type T: Element;
    /// Values a register holds.
    const LANES: usize;
    /// Zeros.
    ///
    /// SAFETY (all): the CPU has the register's extension; pointers name LANES values
    /// (one for `splat`) in bounds.
    unsafe fn zero() -> Self;
    /// The LANES values at `p`.
    unsafe fn load(p: *const Self::T) -> Self;
    /// The value at `p` in every lane.
    unsafe fn splat(p: *const Self::T) -> Self;
    /// a·b + c, one rounding.
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    /// `v` into the LANES values at `p`.
    unsafe fn store(p: *mut Self::T, v: Self);
}

// Each register type: its lanes, the features its intrinsics need, and those intrinsics.
#[cfg(target_arch = "x86_64")]
macro_rules! registers {
    ($($v:ident: $t:ty, $lanes:literal, $features:literal,
       $zero:ident, $load:ident, $splat:ident, $fmadd:ident, $store:ident;)*) => {$(
        impl Register for std::arch::x86_64::$v {
            type T = $t;
            const LANES: usize = $lanes;
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn zero() -> Self {
                std::arch::x86_64::$zero()
            }
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn load(p: *const $t) -> Self {
                // SAFETY: as the caller promises.
                unsafe { std::arch::x86_64::$load(p) }
            }
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn splat(p: *const $t) -> Self {
                // SAFETY: as the caller promises.
                std::arch::x86_64::$splat(unsafe { *p })
            }
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
                std::arch::x86_64::$fmadd(a, b, c)
            }
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn store(p: *mut $t, v: Self) {
                // SAFETY: as the caller promises.
                unsafe { std::arch::x86_64::$store(p, v) }
            }
        }
    )*};
}
#[cfg(target_arch = "x86_64")]
registers! {
    __m256d: f64, 4, "avx2,fma",
        _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd;
    __m256: f32, 8, "avx2,fma",
        _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps;
    __m512d: f64, 8, "avx512f",
        _mm512_setzero_pd, _mm512_loadu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd;
    __m512: f32, 16, "avx512f",
        _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps;
}

/// [`micro`] with NR = H of R's registers, in intrinsics: H registers of X and one
/// broadcast of A a step, MR·H accumulators. Left to LLVM, AVX2's portable f64 tile
/// (4 × 8) came out with rows split into misaligned pieces shuffled back together at
/// every step, at 0.38 of the square DGEMM's rate on Zen 3; the f32 one (4 × 16, not
/// disassembled) ran at about a fifth of the cores' f32 peak; AVX-512's f32 6 × 2, and
/// its 6 × 4, stored their accumulators at every step; in intrinsics AVX-512's tiles ran
/// faster than the portable ones at every width timed (fwdrev's docs/measured.md).
/// [`micro`]'s steps, each fused into one rounding, in the same order: the same bits on
/// every extension. Inlined into a caller compiled for R's extension, as R's operations
/// are.
///
/// SAFETY: as [`micro`], and the CPU has R's extension.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn micro_registers<R: Register, const MR: usize, const H: usize, const X_AHEAD: usize>(
    (kc, a, [rsa, csa], x, c, ldc, first, ahead): Run<R::T>,
) {
    let lanes = R::LANES;
    // SAFETY: as the caller promises.
    unsafe {
        let mut acc = [[R::zero(); H]; MR];
        if !first {
            for r in 0..MR {
                for h in 0..H {
                    acc[r][h] = R::load(c.offset(r as isize * ldc + (lanes * h) as isize));
                }
            }
        }
        // One step: X's row p, A's MR values of column p, the MR × NR multiply-adds.
        // Inlined into both loops, in the caller's extension (a closure that stayed a
        // call would be compiled without it, and R's operations in it with calls).
        let step = inlined(
            #[inline(always)]
            |acc: &mut [[R; H]; MR], p: usize| {
                let xp = x.add(p * H * lanes);
                if X_AHEAD > 0 {
                    // X's row X_AHEAD steps on into L1, a hint every line's width.
                    for q in (0..H * lanes).step_by(64 / size_of::<R::T>()) {
                        into_l1(xp.wrapping_add(X_AHEAD * H * lanes + q));
                    }
                }
                let xv: [R; H] = std::array::from_fn(|h| R::load(xp.add(h * lanes)));
                for r in 0..MR {
                    let ar = R::splat(a.offset(r as isize * rsa + p as isize * csa));
                    for h in 0..H {
                        acc[r][h] = R::fmadd(ar, xv[h], acc[r][h]);
                    }
                }
            },
        );
        if ahead.is_null() || csa == 1 {
            fetch_rows::<R::T, MR>(ahead, kc, [rsa, csa]);
            for p in 0..kc {
                step(&mut acc, p);
            }
        } else {
            // Down A's columns (Wᵀ·X), the next block's kc lines one a step, between the
            // tile's multiply-adds, rather than all at once before them (`fetch_rows`;
            // the likely cost: kc misses filling L1's miss buffers ahead of the tile's
            // own loads). Wᵀ·X ran 6–15 % faster so on Zen 3 in f64, paired in one
            // process; one loop that tests at each step whether to ask, 0–8 % slower
            // than these two (docs/measured.md). AVX-512's tiles, this code on zmm, ask
            // so too: on Emerald Rapids its 6 × 4 ran level either way.
            for p in 0..kc {
                into_l2(ahead.wrapping_offset(p as isize * csa));
                step(&mut acc, p);
            }
        }
        for r in 0..MR {
            for h in 0..H {
                R::store(c.offset(r as isize * ldc + (lanes * h) as isize), acc[r][h]);
            }
        }
    }
}

/// `f` itself: a closure bound through this can carry `#[inline(always)]` (stable Rust
/// takes the attribute on a closure only where the closure is an argument).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn inlined<F>(f: F) -> F {
    f
}

/// Asks for the line holding `p` in L1: a hint, as [`into_l2`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn into_l1<T>(p: *const T) {
    // SAFETY: prefetching never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>())
    }
}

/// Asks for the line holding `p` in L2: a hint, with no fault and no effect on results
/// whatever the address.
#[inline(always)]
fn into_l2<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        _mm_prefetch::<_MM_HINT_T1>(p.cast::<i8>())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
