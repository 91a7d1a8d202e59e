//! The crate's own matrix-vector products, on the vector kernels: rayon over
//! independent blocks of the output, or over a fixed number of blocks of rows whose
//! partial results are added in block order, so every sum runs in a fixed order and no
//! result depends on the thread count. A's rows are contiguous throughout (a network's
//! weights: row-major, or their rows padded to whole lines).

use super::{group_starts, inlined, last_first, with_kernel, Kernel, RowSlices};
use crate::par::{for_each_chunk, MIN_WORK};
use crate::{Par, Real};
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Output rows per task in [`gemv_few`].
const ROWS_PER_TASK: usize = 64;
/// Output columns per task in [`gemv_t_few`]: one 4 KB (f64) accumulator block stays
/// in L1.
pub(crate) const COLS_PER_TASK: usize = 512;

/// Blocks of rows from [`MIN_WORK`] entries on, in [`gemv_t`] and reverse mode's fused
/// pass: a fixed count, not the thread count, so that the partial results and the
/// order they are added in (hence every bit) do not depend on it.
pub(crate) const ROW_BLOCKS: usize = 16;

/// (blocks, rows per block) for m rows of a matrix of `len` entries, each block at least
/// `least` rows: one block below [`MIN_WORK`]; the last block may be short.
pub(crate) fn row_blocks(m: usize, len: usize, least: usize) -> (usize, usize) {
    let wanted = if len < MIN_WORK {
        1
    } else {
        ROW_BLOCKS.min(m / least)
    };
    let per = m.div_ceil(wanted.max(1)).max(1);
    (m.div_ceil(per).max(1), per)
}

/// Rows per block of [`gemv_t`] at least: each block beyond the first adds a partial
/// result of n values to the scratch and to the traffic, which stays within 1/64 of A's.
const GEMV_T_LEAST_ROWS: usize = 64;

/// Scratch values [`gemv_t`] takes for an m×n matrix: the partial results of its row
/// blocks after the first, which accumulates in y itself.
pub(crate) fn gemv_t_scratch_len(m: usize, n: usize) -> usize {
    (row_blocks(m, m * n, GEMV_T_LEAST_ROWS).0 - 1) * n
}

/// Y ← A·[x_1 … x_w] into `y` (m×w, either layout): each quad of A's rows is dotted with
/// every x_j while in cache, two vectors at a time ([`Kernel::dot4x2`]), so A is read
/// once however many vectors there are; two vectors into a Y by columns (a JVP's value
/// and tangent) are the kernel's [`gemv2`](Kernel::gemv2), the same sums. One vector is
/// the plain GEMV, whose long rows go eight at a time where [`octets`](super::octets)
/// says that pays. The rows go from the last to the first where [`last_first`] says, on
/// one thread: a matrix split among threads keeps its order (its blocks go to whichever
/// thread takes them, as the reverse sweep's did).
pub(crate) fn gemv_few<T: Real>(par: Par, a: ArrayView2<T>, xs: &[&[T]], y: ArrayViewMut2<T>) {
    with_kernel!(|k| gemv_few_with(k, par, a, xs, y))
}

#[inline(always)]
fn gemv_few_with<T: Real, K: Kernel>(
    k: K,
    par: Par,
    a: ArrayView2<T>,
    xs: &[&[T]],
    mut y: ArrayViewMut2<T>,
) {
    debug_assert_eq!(y.dim(), (a.nrows(), xs.len()), "Y is m×w");
    let split = par.splits_matrix(a.len());
    let back = !split && last_first::<T>(a.nrows(), a.ncols());
    let rows = inlined(
        #[inline(always)]
        |(ac, mut yc): (ArrayView2<T>, ArrayViewMut2<T>)| {
            let rows = RowSlices::new(ac);
            let (m, w) = yc.dim();
            assert!(ac.nrows() == m && xs.len() == w, "Y is m×w");
            let quads = m / 4 * 4;
            let by_columns = yc.stride_of(Axis(0)) == 1;
            // The rows past the last quad first: A's last rows, where `back`; otherwise
            // at most seven rows out of order (with the quad after the octets), too few
            // to matter.
            for i in quads..m {
                for (j, x) in xs.iter().enumerate() {
                    yc[[i, j]] = k.dot(rows.row(i), x);
                }
            }
            if w == 2 && quads > 0 && by_columns {
                // A value and its tangent into columns that lie contiguous: the kernel's
                // loop over the quads. (More vectors take the quad loop below, which reads
                // A once for them all, where pairs would stream it once a pair.)
                let mut columns = yc.axis_iter_mut(Axis(1)).map(|c| {
                    let c = c.into_slice().expect("a column lies contiguous");
                    &mut c[..quads]
                });
                let y0 = columns.next().expect("two columns");
                let y1 = columns.next().expect("two columns");
                k.gemv2(rows.rows(0..quads), [xs[0], xs[1]], [y0, y1], back);
                return;
            }
            // One vector over long rows: eight rows a sweep where that pays.
            let octets_end = if w == 1 && rows.octets() {
                m / 8 * 8
            } else {
                0
            };
            for i in group_starts(octets_end..quads, 4, back) {
                let r = rows.quad(i);
                let mut put = |j: usize, dots: [T; 4]| {
                    for (q, v) in dots.into_iter().enumerate() {
                        // SAFETY: i + q < quads ≤ m and j < w (asserted above).
                        unsafe { *yc.uget_mut((i + q, j)) = v };
                    }
                };
                // Vectors two at a time, then one alone.
                let pairs = xs.len() / 2 * 2;
                for j in (0..pairs).step_by(2) {
                    let [d0, d1] = k.dot4x2(r, [xs[j], xs[j + 1]]);
                    put(j, d0);
                    put(j + 1, d1);
                }
                if pairs < xs.len() {
                    put(pairs, k.dot4(r, xs[pairs]));
                }
            }
            for i in group_starts(0..octets_end, 8, back) {
                for (q, v) in k.dot8(rows.octet(i), xs[0]).into_iter().enumerate() {
                    // SAFETY: i + q < octets_end ≤ m and 0 < w (asserted above).
                    unsafe { *yc.uget_mut((i + q, 0)) = v };
                }
            }
        },
    );
    if split {
        a.axis_chunks_iter(Axis(0), ROWS_PER_TASK)
            .into_par_iter()
            .zip(y.axis_chunks_iter_mut(Axis(0), ROWS_PER_TASK))
            .for_each(rows);
    } else {
        rows((a, y));
    }
}

/// `y ← Aᵀ·x = Σ_i x_i·A[i,:]` by the kernel's [`gemv_t1`](Kernel::gemv_t1): four rows at
/// a time (eight where [`octets`](super::octets) says that pays), each read whole and in
/// order, as [`gemv_few`] reads A (a sweep by blocks of columns instead reads short
/// pieces of every row: 1.3–1.8× slower at d = 8000). On AVX2 in f64, rows under a page
/// keep a block of y in registers over 64 rows at a time instead: the same bits.
///
/// From [`MIN_WORK`] entries on, the rows are cut into [`row_blocks`] of at least 64
/// rows (run in parallel from [`MIN_MATRIX_WORK`](crate::par::MIN_MATRIX_WORK)
/// entries): block 0 into y, block b into the b-th part of `partial`
/// ([`gemv_t_scratch_len`] values), then added into y in order.
pub(crate) fn gemv_t<T: Real>(par: Par, a: ArrayView2<T>, x: &[T], y: &mut [T], partial: &mut [T]) {
    let (m, n) = a.dim();
    if n == 0 {
        return;
    }
    let (blocks, per) = row_blocks(m, a.len(), GEMV_T_LEAST_ROWS);
    let partial = &mut partial[..(blocks - 1) * n];
    with_kernel!(|k| {
        let block = inlined(
            #[inline(always)]
            |(b, out): (usize, &mut [T])| {
                let rows = (b * per)..((b + 1) * per).min(m);
                k.gemv_t1(RowSlices::new(a).rows(rows.clone()), 0..n, &x[rows], out);
            },
        );
        if par.splits_matrix(a.len()) {
            rayon::iter::once(&mut *y)
                .chain(partial.par_chunks_mut(n))
                .enumerate()
                .for_each(block);
        } else {
            std::iter::once(&mut *y)
                .chain(partial.chunks_mut(n))
                .enumerate()
                .for_each(block);
        }
    });
    add_parts(y, partial);
}

/// y ← y + p_1 + p_2 + … for the y-long parts p_b of `parts`, added in block order: how
/// the partial results of a sweep by blocks of rows become one.
pub(crate) fn add_parts<T: Real>(y: &mut [T], parts: &[T]) {
    for p in parts.chunks(y.len().max(1)) {
        y.iter_mut().zip(p).for_each(|(y, &v)| *y = *y + v);
    }
}

/// Aᵀ·g_j for each row g_j of `gt` (w×m, standard layout), into `out` by blocks of
/// [`COLS_PER_TASK`] columns: block b holds its columns' results for g_1, then g_2, …
/// (w·width values). Each block of A's columns is swept once for all w vectors, its
/// four-row strips reused from L1 (two vectors: [`Kernel::gemv_t2`]'s sweep).
/// [`scatter_blocks`] lays the result out as n×w.
pub(crate) fn gemv_t_few<T: Real>(par: Par, a: ArrayView2<T>, gt: ArrayView2<T>, out: &mut [T]) {
    let (w, m) = gt.dim();
    let gs = gt.as_slice().expect("G's columns as rows, contiguous");
    with_kernel!(|k| {
        for_each_chunk(
            par,
            a.len(),
            out,
            COLS_PER_TASK * w,
            #[inline(always)]
            |b, out| {
                let width = out.len() / w;
                let cols = b * COLS_PER_TASK..b * COLS_PER_TASK + width;
                let rows = RowSlices::new(a);
                if w == 2 {
                    // Two vectors (an HVP's [ḡ | Ġ]): one sweep that keeps pieces of
                    // both results in registers over many rows (same bits).
                    let (y0, y1) = out.split_at_mut(width);
                    let g = [&gs[..m], &gs[m..]];
                    return k.gemv_t2(rows, cols, g, [y0, y1]);
                }
                let row = |i: usize| &rows.row(i)[cols.clone()];
                out.fill(T::zero());
                let quads = a.nrows() / 4 * 4;
                for i in (0..quads).step_by(4) {
                    let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                    let alpha = |j: usize| -> [T; 4] {
                        gs[j * m + i..j * m + i + 4].try_into().expect("four")
                    };
                    // Vectors two at a time (one load of each row for both on AVX-512,
                    // f64).
                    for (p, acc) in out.chunks_mut(2 * width).enumerate() {
                        match acc.len() > width {
                            true => {
                                let (a0, a1) = acc.split_at_mut(width);
                                k.axpy4x2([alpha(2 * p), alpha(2 * p + 1)], r, [a0, a1]);
                            }
                            false => k.axpy4(alpha(2 * p), r, acc),
                        }
                    }
                }
                for i in quads..a.nrows() {
                    for (j, acc) in out.chunks_mut(width).enumerate() {
                        k.axpy(gs[j * m + i], row(i), acc);
                    }
                }
            },
        )
    })
}

/// Column c of block-laid-out `blocks` (as [`gemv_t_few`] writes them) into row c of
/// `y` (n×w).
pub(crate) fn scatter_blocks<T: Real>(blocks: &[T], mut y: ndarray::ArrayViewMut2<T>) {
    let w = y.ncols();
    for (b, block) in blocks.chunks(COLS_PER_TASK * w).enumerate() {
        let width = block.len() / w;
        for (j, col) in block.chunks(width).enumerate() {
            for (c, &v) in col.iter().enumerate() {
                y[[b * COLS_PER_TASK + c, j]] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, ShapeBuilder};

    fn naive(a: &Array2<f64>, x: &Array1<f64>) -> Array1<f64> {
        Array1::from_iter(
            a.outer_iter()
                .map(|r| r.iter().zip(x).map(|(p, q)| p * q).sum()),
        )
    }

    #[test]
    fn gemv_kernels_match_a_naive_product_at_any_par() {
        // Sizes straddle the parallel threshold and the 8-wide and block tails; empty
        // matrices (a rank's share of a layer may have no rows) have zero strides.
        let sizes = [
            (0, 5),
            (5, 0),
            (0, 0),
            (1, 1),
            (3, 7),
            (9, 17),
            (300, 301),
            (517, 1031),
        ];
        for &(m, n) in &sizes {
            let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 31 + j * 7) % 13) as f64 - 6.0);
            let x = Array1::from_shape_fn(n, |j| (j % 5) as f64 - 2.0);
            let xt = Array1::from_shape_fn(m, |i| (i % 3) as f64 - 1.0);
            for par in [Par::Seq, Par::Rayon] {
                let mut y = Array2::zeros((m, 1));
                gemv_few(par, a.view(), &[x.as_slice().unwrap()], y.view_mut());
                assert_eq!(y.column(0), naive(&a, &x), "gemv {m}x{n}");
                // Several vectors: in pairs, then one alone, each as if alone.
                let xs: Vec<Array1<f64>> = (0..8)
                    .map(|j| x.mapv(|v| v * (j + 1) as f64 - j as f64))
                    .collect();
                for w in 1..=8 {
                    let cols: Vec<&[f64]> = xs[..w].iter().map(|x| x.as_slice().unwrap()).collect();
                    // Y in either layout.
                    for f in [false, true] {
                        let mut y = Array2::zeros((m, w).set_f(f));
                        gemv_few(par, a.view(), &cols, y.view_mut());
                        for (j, x) in xs[..w].iter().enumerate() {
                            let what = format!("gemv_few {m}x{n}, {w} vectors, column-major {f}");
                            assert_eq!(y.column(j), naive(&a, x), "{what}");
                        }
                    }
                }
                let mut yt = Array1::zeros(n);
                let mut partial = vec![0.0; gemv_t_scratch_len(m, n)];
                gemv_t(
                    par,
                    a.view(),
                    xt.as_slice().unwrap(),
                    yt.as_slice_mut().unwrap(),
                    &mut partial,
                );
                assert_eq!(yt, naive(&a.t().to_owned(), &xt), "gemv_t {m}x{n}");
                // Two vectors at once, through the block layout.
                let gt = ndarray::stack![Axis(0), xt, xt.mapv(|v| 2.0 * v)];
                let mut blocks = vec![0.0; 2 * n];
                gemv_t_few(par, a.view(), gt.view(), &mut blocks);
                let mut y2 = Array2::zeros((n, 2));
                scatter_blocks(&blocks, y2.view_mut());
                assert_eq!(y2.column(0), yt, "gemv_t_few {m}x{n}");
                assert_eq!(y2.column(1), yt.mapv(|v| 2.0 * v), "gemv_t_few {m}x{n}");
            }
        }
    }

    /// Long rows whose starts are not pages apart go eight at a time: the bits of the
    /// sweeps by quads (then rows), where every product rounds, in both products, f64
    /// and f32 (AVX2's axpy8 is one sweep of eight rows in either).
    #[test]
    fn octets_have_the_quads_bits() {
        fn check<T: Real>() {
            // Rows past a page, with a tail short of a step, and 8 (f64) or 16 (f32)
            // entries that axpy8's shorter step sweeps where axpy4 leaves them to its tail.
            let (m, n) = (21, 4120 / std::mem::size_of::<T>() + 11);
            assert!(m * n < MIN_WORK, "one block of rows");
            let a = Array2::from_shape_fn((m, n), |(i, j)| {
                T::from_f64(((i * 7 + j * 13) as f64).sin())
            });
            let rows = RowSlices::new(a.view());
            assert!(rows.octets());
            let x: Vec<T> = (0..n)
                .map(|j| T::from_f64((j as f64 * 0.3).cos()))
                .collect();
            let g: Vec<T> = (0..m)
                .map(|i| T::from_f64((i as f64 * 0.7).sin()))
                .collect();
            let quads = m / 4 * 4;
            let (want, want_t) = with_kernel!(|k| {
                let (mut y, mut yt) = (vec![T::zero(); m], vec![T::zero(); n]);
                for i in (0..quads).step_by(4) {
                    y[i..i + 4].copy_from_slice(&k.dot4(rows.quad(i), &x));
                    k.axpy4([g[i], g[i + 1], g[i + 2], g[i + 3]], rows.quad(i), &mut yt);
                }
                for i in quads..m {
                    y[i] = k.dot(rows.row(i), &x);
                    k.axpy(g[i], rows.row(i), &mut yt);
                }
                (y, yt)
            });
            let mut y = Array2::zeros((m, 1));
            gemv_few(Par::Seq, a.view(), &[&x], y.view_mut());
            let bits = |v: &[T]| v.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(y.as_slice().unwrap()), bits(&want), "A·x");
            let mut yt = vec![T::nan(); n];
            gemv_t(Par::Seq, a.view(), &g, &mut yt, &mut []);
            assert_eq!(bits(&yt), bits(&want_t), "Aᵀ·g");
        }
        check::<f64>();
        check::<f32>();
    }

    /// With the rows cut into blocks whose starts are not multiples of eight, Aᵀ·g by
    /// eight rows a sweep has the bits of each block's quads (then rows) added in
    /// block order, with and without threads.
    #[test]
    fn octets_in_blocks_have_the_quads_bits() {
        let (m, n) = (1003, 520);
        let (blocks, per) = row_blocks(m, m * n, GEMV_T_LEAST_ROWS);
        assert!(blocks > 1 && per % 8 != 0, "{blocks} blocks of {per}");
        let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 5 + j * 11) as f64).sin());
        let rows = RowSlices::new(a.view());
        assert!(rows.octets());
        let g: Vec<f64> = (0..m).map(|i| (i as f64 * 0.37).cos()).collect();
        let want = with_kernel!(|k| {
            let mut parts = vec![vec![0.0; n]; blocks];
            for (b, part) in parts.iter_mut().enumerate() {
                let (r0, r1) = (b * per, ((b + 1) * per).min(m));
                let quads = r0 + (r1 - r0) / 4 * 4;
                for i in (r0..quads).step_by(4) {
                    k.axpy4([g[i], g[i + 1], g[i + 2], g[i + 3]], rows.quad(i), part);
                }
                for (i, &gi) in g.iter().enumerate().take(r1).skip(quads) {
                    k.axpy(gi, rows.row(i), part);
                }
            }
            let mut y = parts[0].clone();
            add_parts(&mut y, &parts[1..].concat());
            y
        });
        for par in [Par::Seq, Par::Rayon] {
            let (mut y, mut partial) =
                (vec![f64::NAN; n], vec![f64::NAN; gemv_t_scratch_len(m, n)]);
            gemv_t(par, a.view(), &g, &mut y, &mut partial);
            let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want), "{par:?}");
        }
    }

    /// Past the size where the rows are cut into blocks, the parallel and the
    /// sequential product give the same bits (the blocks are fixed, not the threads'),
    /// and match a plain sum within the bound on any summation order's rounding.
    #[test]
    fn gemv_t_in_row_blocks_is_the_same_with_and_without_threads() {
        let (m, n) = (1000, 300);
        assert!(m * n >= crate::par::MIN_MATRIX_WORK && gemv_t_scratch_len(m, n) > 0);
        let a = Array2::from_shape_fn((m, n), |(i, j)| ((i * 7 + j * 13) as f64).sin());
        let x = Array1::from_shape_fn(m, |i| (i as f64 * 0.3).cos());
        let run = |par| {
            let (mut y, mut partial) = (vec![0.0; n], vec![f64::NAN; gemv_t_scratch_len(m, n)]);
            gemv_t(par, a.view(), x.as_slice().unwrap(), &mut y, &mut partial);
            y
        };
        let (seq, par) = (run(Par::Seq), run(Par::Rayon));
        assert_eq!(seq, par);
        // A with its rows padded to whole lines (a network's layout): the same bits, in
        // both products.
        let lined = crate::memory::copy_on_lines(a.view()).unwrap();
        assert!(lined.as_slice().is_none());
        let mut padded = (vec![0.0; n], vec![f64::NAN; gemv_t_scratch_len(m, n)]);
        gemv_t(
            Par::Seq,
            lined.view(),
            x.as_slice().unwrap(),
            &mut padded.0,
            &mut padded.1,
        );
        assert_eq!(padded.0, seq);
        let h = Array1::from_shape_fn(n, |j| 0.7 * (j as f64).cos());
        let (mut y, mut want) = (Array2::zeros((m, 1)), Array2::zeros((m, 1)));
        gemv_few(
            Par::Rayon,
            lined.view(),
            &[h.as_slice().unwrap()],
            y.view_mut(),
        );
        gemv_few(
            Par::Rayon,
            a.view(),
            &[h.as_slice().unwrap()],
            want.view_mut(),
        );
        assert_eq!(y, want);
        // Any order of summing m terms is within m·ε·Σ|terms| of the exact sum.
        let want = naive(&a.t().to_owned(), &x);
        let abs = naive(&a.t().mapv(f64::abs), &x.mapv(f64::abs));
        for ((got, want), abs) in seq.iter().zip(&want).zip(&abs) {
            let bound = 2.0 * m as f64 * f64::EPSILON * abs;
            assert!((got - want).abs() <= bound, "{got} vs {want}");
        }
    }
}
