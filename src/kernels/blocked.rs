//! The loops of [`Kernel::gemv_t1`](super::Kernel::gemv_t1) and
//! [`Kernel::gemv_t2`](super::Kernel::gemv_t2) in f64 on registers, shared by the AVX2
//! and AVX-512 copies: [y_0 | …] = Aᵀ·[g_0 | …] with a block of every result in
//! registers over many rows, so y is loaded and stored once a pass instead of once
//! every four rows (axpy4, axpy4x2). Each copy brings its block kernel; the blocks and
//! passes are here.

use super::cast::{cast_rows, cast_rows_mut};
use super::RowSlices;
use crate::Real;
use std::ops::Range;

/// Rows per pass over the blocks. A block reads its pass's pieces of rows a stride apart;
/// the passes bound how many (a block over all the rows of a tall matrix would touch a
/// page per row).
const PASS: usize = 64;

/// A block of A: its first entry's address and the distance between rows, in entries.
pub(crate) type Block = (*const f64, isize);

/// The arguments in f64 of Aᵀ·[g_0 | …] for V vectors.
pub(crate) struct Args<'a, const V: usize> {
    /// A's entry (0, cols.start), and its row stride.
    a: Block,
    g: [&'a [f64]; V],
    y: [&'a mut [f64]; V],
}

/// The arguments in f64, None where T is not f64. Panics unless `cols` are among A's
/// columns, each g_j holds an entry per row of A and each y_j one per column.
#[inline(always)]
pub(crate) fn as_f64<'a, T: Real, const V: usize>(
    a: RowSlices<'_, T>,
    cols: Range<usize>,
    g: [&'a [T]; V],
    y: [&'a mut [T]; V],
) -> Option<Args<'a, V>> {
    assert!(cols.end <= a.ncols(), "columns {cols:?} of {}", a.ncols());
    let m = a.nrows();
    assert!(g.iter().all(|g| g.len() == m), "one g_j entry per row");
    assert!(
        y.iter().all(|y| y.len() == cols.len()),
        "y_j as long as cols"
    );
    let (g, y) = (cast_rows::<T, f64, V>(g)?, cast_rows_mut::<T, f64, V>(y)?);
    let (start, stride) = a.start_and_stride();
    // Inside A's allocation: cols.start ≤ ncols (a row's end at most).
    let a = (start.cast::<f64>().wrapping_add(cols.start), stride);
    Some(Args { a, g, y })
}

/// `$block::<R>(args)` (or `$block::<V, R>(args)`) for R = `$r`, one of the listed
/// register counts (none: nothing to do): a block kernel's const R from the count
/// [`gemv_t`] gives.
macro_rules! by_registers {
    ($r:expr, $block:ident<$v:literal> $args:tt, $($n:literal)+) => {
        match $r {
            0 => {}
            $($n => $block::<$v, $n> $args,)+
            r => unreachable!("a block of {r} registers"),
        }
    };
    ($r:expr, $block:ident $args:tt, $($n:literal)+) => {
        match $r {
            0 => {}
            $($n => $block::<$n> $args,)+
            r => unreachable!("a block of {r} registers"),
        }
    };
}
pub(crate) use by_registers;

/// `y_j ← Σ_i g_j[i]·A[i, ..]` for j < V in passes of [`PASS`] rows, each pass over every
/// block of y's columns: `block(b, registers, g, y)` adds the pass's rows of block b of
/// A, with g_j's pieces for them, into y_j's pieces for its columns, which fill
/// `registers` registers of LANES values (the last one maybe in part).
///
/// The columns split into the fewest blocks of at most MOST registers and no fewer than
/// a block per BLOCK registers (BLOCK accumulators per result, at least as many as hide
/// a fused multiply-add's latency on two ports), as even as they divide. Every entry's
/// terms come in row order from 0, whatever the blocks, so the bits are those of
/// axpy4 (axpy4x2) over the rows.
#[inline(always)]
pub(crate) fn gemv_t<const V: usize, const LANES: usize, const BLOCK: usize, const MOST: usize>(
    Args { a, g, mut y }: Args<'_, V>,
    mut block: impl FnMut(Block, usize, [&[f64]; V], [&mut [f64]; V]),
) {
    let n = y[0].len();
    y.iter_mut().for_each(|y| y.fill(0.0));
    let registers = n.div_ceil(LANES);
    let blocks = (registers / BLOCK).max(registers.div_ceil(MOST)).max(1);
    let (start, stride) = a;
    for r0 in (0..g[0].len()).step_by(PASS) {
        let rows = r0..(r0 + PASS).min(g[0].len());
        let g = g.map(|g| &g[rows.clone()]);
        let row0 = start.wrapping_offset(r0 as isize * stride);
        let mut c0 = 0;
        for b in 0..blocks {
            // Blocks b < registers % blocks take one register more.
            let regs = registers / blocks + usize::from(b < registers % blocks);
            let c1 = (c0 + regs * LANES).min(n);
            let y = y.each_mut().map(|y| &mut y[c0..c1]);
            block((row0.wrapping_add(c0), stride), regs, g, y);
            c0 = c1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In each pass of PASS rows, in order, the blocks tile y's columns in order, each
    /// of at most MOST registers and of BLOCK or more where the columns allow, and
    /// start at their first row's entry of A.
    #[test]
    fn blocks_tile_the_columns_and_passes_the_rows() {
        fn check<const V: usize, const LANES: usize, const BLOCK: usize, const MOST: usize>() {
            for n in 0..300 {
                for m in [0, 1, 63, 64, 65, 200] {
                    let a = ndarray::Array2::<f64>::zeros((m, n + 2));
                    let g = vec![0.0; m];
                    let mut ys: [Vec<f64>; V] = std::array::from_fn(|_| vec![1.0; n]);
                    let rows = RowSlices::new(a.view());
                    let y = ys.each_mut().map(|y| &mut y[..]);
                    let args = as_f64(rows, 1..n + 1, [&g[..]; V], y);
                    let registers = n.div_ceil(LANES);
                    let least = BLOCK.min(registers / registers.div_ceil(MOST).max(1));
                    let mut seen = Vec::new();
                    gemv_t::<V, LANES, BLOCK, MOST>(args.expect("f64"), |b, r, g, y| {
                        let c = y[0].len();
                        assert!(r <= MOST && c.div_ceil(LANES) == r && r >= least, "{c} {r}");
                        let h = g[0].len();
                        assert!(g.iter().all(|g| g.len() == h) && y.iter().all(|y| y.len() == c));
                        seen.push((b.0, c, h));
                    });
                    assert!(ys.iter().flatten().all(|&v| v == 0.0), "zeroed");
                    let mut k = 0;
                    for r0 in (0..m).step_by(PASS) {
                        let mut c0 = 0;
                        while c0 < n.max(1) {
                            let (p, c, h) = seen[k];
                            assert_eq!(p, &a[[r0, 1 + c0]] as *const f64, "{m}×{n}: block {k}");
                            assert_eq!(h, (m - r0).min(PASS), "the pass's rows");
                            c0 += c.max(1);
                            k += 1;
                        }
                    }
                    assert_eq!(k, seen.len(), "{m}×{n}: no more blocks");
                }
            }
        }
        check::<2, 4, 5, 6>();
        check::<2, 8, 4, 7>();
        check::<1, 4, 8, 12>();
    }
}
