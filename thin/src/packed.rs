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
//! at 1.02–1.15× OpenBLAS's time where faer's GEMM took 1.30–1.34×.

use super::{Element, Product, Run};

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
    let at = |i: usize, j: usize| i as isize * ldc + j as isize;
    if k == 0 {
        for i in 0..m {
            // SAFETY: C[i, j] lies in C.
            (0..n).for_each(|j| unsafe { *c.offset(at(i, j)) = zero });
        }
        return;
    }
    // A's rows by micropanels of MR (each kc × MR, a column of MR values a step), the
    // rows past m zeros; B's kc × nc block by micropanels of NR columns, past n zeros.
    // Sized for this product (a small one zeroes little), every value written before
    // it is read.
    let rows = m.next_multiple_of(MR);
    let depth = KC.min(k);
    let mut pa = vec![zero; rows * depth];
    let mut pb = vec![zero; depth * NC.min(n).next_multiple_of(NR)];
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
                for (q, row) in panel.chunks_exact_mut(NR).enumerate() {
                    // SAFETY: B[p0 + q, j0 + jr·NR + j] lies in B for j < width.
                    let bs = unsafe { b.offset((p0 + q) as isize * ldb + (j0 + jr * NR) as isize) };
                    for (j, e) in row.iter_mut().enumerate() {
                        // SAFETY: as above.
                        *e = if j < width {
                            unsafe { *bs.add(j) }
                        } else {
                            zero
                        };
                    }
                }
            }
            for (i0, ap) in (0..m).step_by(MR).zip(pa.chunks_exact(MR * kc)) {
                let mr = MR.min(m - i0);
                for jr in 0..panels {
                    let j = j0 + jr * NR;
                    let width = NR.min(nc - jr * NR);
                    let whole = mr == MR && width == NR;
                    let bp = pb[jr * NR * kc..].as_ptr();
                    // SAFETY: C's rows i0..i0 + mr, columns j..j + width, directly or
                    // through the tile; the packed panels hold kc steps.
                    unsafe {
                        let (ct, ldt) = match whole {
                            true => (c.offset(at(i0, j)), ldc),
                            false => {
                                if !first {
                                    for (r, t) in tile[..mr].iter_mut().enumerate() {
                                        for (q, t) in t[..width].iter_mut().enumerate() {
                                            *t = *c.offset(at(i0 + r, j + q));
                                        }
                                    }
                                }
                                (tile.as_mut_ptr().cast::<T>(), NR as isize)
                            }
                        };
                        let a = [1, MR as isize];
                        let run = (kc, ap.as_ptr(), a, bp, ct, ldt, first, std::ptr::null());
                        step(run);
                        if !whole {
                            for (r, t) in tile[..mr].iter().enumerate() {
                                for (q, &t) in t[..width].iter().enumerate() {
                                    *c.offset(at(i0 + r, j + q)) = t;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
