//! C ← A·B for B of any width: both operands packed, as a square GEMM must
//! (each packed block is reused n/NR or m/MR times), and the same register tile as the
//! thin product's, each C entry the same one chain of multiply-adds in p's order. The
//! tile and the blocks' sizes are each instruction set's (`packed_avx512`, `packed_avx2`
//! in lib.rs): 12 × 2 zmm, 192 deep, 480 wide; 6 × 2 ymm, 256 deep, 192 wide.
//!
//! ```text
//! for each kc-block of A's columns (B's rows):       A[:, pc..] packed by MR rows
//!   for each nc-block of B's columns:                B[pc.., jc..] packed by NR columns (L2)
//!     for each MR rows:                              A's micropanel then stays in L1
//!       for each NR columns of the block:            B's micropanel streamed from L2,
//!         C[i.., j..] += Σ_p A[i.., p] ⊗ B[p, j..]    a few steps ahead into L1
//! ```
//!
//! The order of the two inner loops is OpenBLAS's (its SkylakeX DGEMM: a tile of 16 ×
//! 12, 256 deep): C's tiles then move along its rows, lines the hardware fetches ahead,
//! where the other order (B's micropanel in L1, A's streamed) took C's tiles down its
//! columns, every tile a miss, and ran at 0.73–0.82 of OpenBLAS's rate on Emerald Rapids
//! against 0.93–1.0 this way (fwdrev's docs/measured.md). On Zen 3's AVX2 this order ran
//! at 1.02–1.15× OpenBLAS's time where faer's GEMM took 1.15–1.34×.

use super::{copy_panel, from_tile, into_tile, zeros, Element, Product, Run};
use std::mem::MaybeUninit;

/// The loops above on one part of C's rows: MR rows of A and NR columns of B a tile,
/// `step` running each (always a whole tile: C's partial tiles go through a local one),
/// A's kc-blocks KC deep and B's nc-blocks NC wide.
///
/// SAFETY: as [`dgemm`](super::dgemm) but any n, and `step` is sound on a tile's
/// arguments in bounds.
#[inline(always)]
pub(super) unsafe fn packed<
    T: Element,
    const MR: usize,
    const NR: usize,
    const KC: usize,
    const NC: usize,
>(
    p: Product<T>,
    step: impl Fn(Run<T>),
) {
    const {
        assert!(
            super::SPLIT_ROWS.is_multiple_of(MR),
            "whole tiles in each part"
        )
    };
    let Product {
        m,
        k,
        n,
        a,
        a_strides: [rsa, csa],
        x: b,
        x_row_stride: ldb,
        c,
        c_row_stride: ldc,
    } = p;
    let zero = T::ZERO;
    if k == 0 {
        // SAFETY: as the caller promises.
        return unsafe { zeros(p) };
    }
    // A's rows by micropanels of MR (each kc × MR, a column of MR values a step), the
    // rows past m zeros; B's kc × nc block by micropanels of NR columns, past n zeros.
    // Sized for this product (a small one zeroes little), every value written before
    // it is read.
    let rows = m.next_multiple_of(MR);
    let depth = KC.min(k);
    let mut pa = vec![zero; rows * depth];
    let mut pb = vec![MaybeUninit::<T>::uninit(); depth * NC.min(n).next_multiple_of(NR)];
    let mut tile = [[zero; NR]; MR];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let first = p0 == 0;
        for (i0, panel) in (0..rows).step_by(MR).zip(pa.chunks_exact_mut(MR * kc)) {
            for r in 0..MR {
                if i0 + r >= m {
                    (0..kc).for_each(|q| panel[q * MR + r] = zero);
                    continue;
                }
                // SAFETY: A[i0 + r, p0 + q] lies in A for q < kc.
                let row = unsafe { a.offset((i0 + r) as isize * rsa + p0 as isize * csa) };
                for q in 0..kc {
                    // SAFETY: as above.
                    panel[q * MR + r] = unsafe { *row.offset(q as isize * csa) };
                }
            }
        }
        for j0 in (0..n).step_by(NC) {
            let nc = NC.min(n - j0);
            let panels = nc.div_ceil(NR);
            for (jr, panel) in pb.chunks_exact_mut(NR * kc).take(panels).enumerate() {
                let width = NR.min(nc - jr * NR);
                // SAFETY: B's kc rows from p0, width columns from j0 + jr·NR, lie in B.
                let bs = unsafe { b.offset(p0 as isize * ldb + (j0 + jr * NR) as isize) };
                unsafe { copy_panel::<T, NR>(panel, bs, ldb, kc, width) };
            }
            for (i0, ap) in (0..m).step_by(MR).zip(pa.chunks_exact(MR * kc)) {
                let mr = MR.min(m - i0);
                for jr in 0..panels {
                    let width = NR.min(nc - jr * NR);
                    let bp = pb[jr * NR * kc..].as_ptr().cast::<T>();
                    // SAFETY: C's rows i0..i0 + mr, columns j0 + jr·NR.. (width of them).
                    let ci = unsafe { c.offset(i0 as isize * ldc + (j0 + jr * NR) as isize) };
                    // SAFETY: as above; the packed panels hold kc steps.
                    unsafe {
                        let (ct, ldt) = into_tile(&mut tile, ci, ldc, [mr, width], first);
                        let a = [1, MR as isize];
                        step((kc, ap.as_ptr(), a, bp, ct, ldt, first, std::ptr::null()));
                        from_tile(&tile, ci, ldc, [mr, width]);
                    }
                }
            }
        }
    }
}
