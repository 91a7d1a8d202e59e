//! Gradients at many points at once: X (d0×k) → f (k) and ∇f at every column (d0×k).
//! Shown here for the two-layer network; deeper ones chain the same products per layer.
//!
//! Reverse mode with its matrix-vector products turned into matrix products, the points
//! held as columns (d×k) so that every product is a tall-and-thin GEMM, W times k
//! vectors:
//!
//! ```text
//! H1 = σ(A·X + b1·1ᵀ), S1 = σ'(…),  S2 = σ'(B·H1 + b2·1ᵀ),  f_j = Σ_i σ(…)_ij
//! Z = (Bᵀ·S2) ∘ S1,  G = Aᵀ·Z
//! ```
//!
//! Four GEMMs of k·d² multiply-adds each (at d0 = d1 = d2 = d): A and B are each read
//! twice for the whole batch, and the k-fold arithmetic runs at GEMM speed instead of
//! memory speed. Measured choices (2 cores, d = 4000 and 8000, k = 64; see
//! docs/measured.md): OpenBLAS 0.3.21 ran these thin products at ~0.7 of its square
//! rate in either orientation, so [`gemm`] sends them elsewhere on every backend: W·X to
//! faer in blocks of W's rows, one per thread (0.8–0.9 of the square rate), Wᵀ·X to the
//! crate's thin kernel (the `fwdrev-thin` crate, which reads W in place); fusing the two
//! products with B by row blocks was not faster (at these k a GEMM is bound by its
//! packing and arithmetic, not by DRAM), so the simpler four GEMMs stay.

use crate::backend::{gemm, pieces_keep_bits};
use crate::par::zip_for_each;
use crate::scratch::{padded, Stack};
use crate::{Mlp, Par, Real};
use ndarray::{s, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// max(d1, …, dL).
fn widest<T: Real>(net: &Mlp<T>) -> usize {
    (1..=net.depth()).map(|j| net.width(j)).max().unwrap_or(0)
}

/// Scratch for `k` points, cut into pieces or not ([`pieces`]): [`piece_len`] for all
/// of them, and a line per carve for each further piece (a piece's carves of k_i·d
/// values round up to whole lines, at most a line more than the whole batch's).
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>, k: usize) -> usize {
    pieces_len(net, k, most_pieces(k))
}

/// The most pieces k points are cut into: at least [`MIN_POINTS`] each, at most
/// [`MAX_PIECES`].
fn most_pieces(k: usize) -> usize {
    (k / MIN_POINTS).min(MAX_PIECES)
}

/// The most pieces a batch is cut into, whatever the thread count: the lines its
/// scratch keeps for them stay few.
const MAX_PIECES: usize = 256;

/// Scratch for `k` points in up to `pieces` pieces.
fn pieces_len<T: Real>(net: &Mlp<T>, k: usize, pieces: usize) -> usize {
    piece_len(net, k) + pieces.saturating_sub(1) * CARVES * padded::<T>(1)
}

/// Scratch for one piece of `k` points: X in one layout, the hidden layers' slopes, two
/// working matrices and G.
fn piece_len<T: Real>(net: &Mlp<T>, k: usize) -> usize {
    let d0 = net.width(0);
    let hidden = net.offsets()[net.depth() - 1];
    2 * padded::<T>(k * d0) + padded::<T>(k * hidden) + 2 * padded::<T>(k * widest(net))
}

/// The carves [`piece_len`] counts.
const CARVES: usize = 5;

/// The fewest points a piece holds: narrower products lose more to their fixed costs
/// (packing W for every piece) than a thread gains.
const MIN_POINTS: usize = 16;

/// The fewest multiply-adds a piece runs, in f64 (f32's count half: a vector holds twice
/// as many): waking a worker cost 20–40 µs on the 2-core VM measured, and pieces of
/// 0.65 M lost 6 % against the whole batch (docs/measured.md).
const MIN_PIECE_WORK: usize = 1 << 20;

/// The most multiply-adds in one of the batch's products (W times all k points, in
/// either type: f32 not measured apart) for which its points are cut into pieces:
/// larger products split their own work, each thread reading its part of W, where each
/// piece would read all of W (at k = 64: 700³, 31 M each, level; 500³ and 512³, 16–17 M,
/// the pieces 1.1–1.8× faster; docs/measured.md).
const MAX_PRODUCT: usize = 1 << 24;

/// The first d·k values of `buf` as d rows of k points.
fn rows<T>(buf: &[T], d: usize, k: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((d, k), &buf[..d * k]).expect("fits")
}

/// [`rows`], writable.
fn rows_mut<T>(buf: &mut [T], d: usize, k: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((d, k), &mut buf[..d * k]).expect("fits")
}

/// f at the columns of `x` into `f`, their gradients into the columns of `g`: in
/// [`pieces`] of points on rayon's workers, or whole.
pub(crate) fn values_and_grads<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: ArrayView2<T>,
    f: ArrayViewMut1<T>,
    g: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) {
    match pieces(net, x.ncols()) {
        1 => piece(net, par, x, f, g, stack),
        pieces => split(net, (0, pieces, pieces), x.ncols(), x, f, g, stack),
    }
}

/// Into how many pieces of points the batch is cut, each run whole on one of rayon's
/// workers: one per thread, where its products would otherwise run on one thread or
/// split each product among threads at a cost (the k = 64 batch at (100, 105, 95):
/// four products of 0.65 M multiply-adds, each too small to split). Only where every
/// column's bits are those of the whole batch ([`pieces_keep_bits`]: not on a BLAS,
/// whose concurrent calls also contended, 1.8 ms against 0.4 for OpenBLAS 0.3.21 on two
/// pieces), so that they do not depend on the thread count; and not under an
/// address-space limit, where each thread's faer would map its own packing buffer.
fn pieces<T: Real>(net: &Mlp<T>, k: usize) -> usize {
    // Under Par::Seq (its call marked sequential) one piece, on the calling thread.
    if crate::par::sequential() || crate::memory::address_space_limited() {
        return 1;
    }
    let sizes = net.layers().iter().map(|l| l.weights.len());
    // Two products per layer: W·H forward, Wᵀ·Z backward (G = W_1ᵀ·Z_1 for the first).
    let per_point = 2 * sizes.clone().sum::<usize>();
    let largest = sizes.max().unwrap_or(0);
    let work = k
        .saturating_mul(per_point)
        .saturating_mul(std::mem::size_of::<T>())
        / 8;
    let most = most_pieces(k).min(work / MIN_PIECE_WORK);
    match k.saturating_mul(largest) > MAX_PRODUCT {
        true => 1,
        false => (2..=rayon::current_num_threads().min(most))
            .rev()
            .find(|&p| cut_keeps_bits(net, k, p))
            .unwrap_or(1),
    }
}

/// Whether every product of the batch keeps each column's bits with k points cut into
/// `pieces` ([`pieces_keep_bits`] at both widths a piece may have).
fn cut_keeps_bits<T: Real>(net: &Mlp<T>, k: usize, pieces: usize) -> bool {
    let widths = [k / pieces, k.div_ceil(pieces)];
    let keeps = |(m, n): (usize, usize)| widths.iter().all(|&w| pieces_keep_bits(m, n, k, w));
    // W·H forward, Wᵀ·Z backward.
    let mut shapes = net.layers().iter().map(|l| l.weights.dim());
    shapes.all(|(m, n)| keeps((m, n)) && keeps((n, m)))
}

/// The points in `pieces` pieces, `i` to `end` of `of` (piece i from point
/// ⌊i·k/of⌋ of the batch's k, so every piece is ⌊k/of⌋ or ⌈k/of⌉ wide), halved at a
/// piece's boundary until each part is one piece, run by `rayon::join`, each part on
/// its share of the calling thread's scratch.
fn split<'a, T: Real>(
    net: &'a Mlp<T>,
    (i, end, of): (usize, usize, usize),
    k: usize,
    x: ArrayView2<T>,
    f: ArrayViewMut1<T>,
    g: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) {
    if end - i == 1 {
        return Par::Seq.install(|| piece(net, Par::Seq, x, f, g, stack));
    }
    let start = |i: usize| i * k / of;
    let half = i + (end - i) / 2;
    let mid = start(half) - start(i);
    let (x0, x1) = x.split_at(Axis(1), mid);
    let (f0, f1) = f.split_at(Axis(0), mid);
    let (g0, g1) = g.split_at(Axis(1), mid);
    let mut s0 = Stack::new(stack.take(pieces_len(net, mid, half - i)));
    let mut s1 = Stack::new(stack.take(pieces_len(net, x1.ncols(), end - half)));
    rayon::join(
        || split(net, (i, half, of), k, x0, f0, g0, &mut s0),
        || split(net, (half, end, of), k, x1, f1, g1, &mut s1),
    );
}

/// [`values_and_grads`] on one piece of points, its loops under `par`.
fn piece<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: ArrayView2<T>,
    mut f: ArrayViewMut1<T>,
    mut g: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) {
    let (layers, depth) = (net.layers(), net.depth());
    let (d0, k) = x.dim();
    let widest = widest(net);
    // One layout for X (d0×k values, a small copy at most): GEMM kernels may round
    // differently by layout, and the result should not depend on it.
    let mut xs = stack.matrix(d0, k);
    xs.assign(&x);
    let x = xs.view();
    let slopes = stack.take(k * net.offsets()[depth - 1]);
    let (mut cur, mut next) = (stack.take(k * widest), stack.take(k * widest));
    let mut gs = stack.matrix(d0, k);
    // Small batches (k·Σd_k activations) stay on the calling thread: waking rayon costs
    // more than the work.
    let work = k * net.offsets()[depth];
    // Forward: H_j = φ(W_j·H_{j−1} + b_j·1ᵀ), with φ'(…) kept beside it.
    for (j, layer) in layers.iter().enumerate() {
        let d = layer.weights.nrows();
        match j {
            0 => gemm(layer.weights.view(), x, rows_mut(next, d, k)),
            _ => gemm(
                layer.weights.view(),
                rows(cur, layer.weights.ncols(), k),
                rows_mut(next, d, k),
            ),
        }
        std::mem::swap(&mut cur, &mut next);
        let act = layer.activation;
        let bias = layer.bias_slice();
        let pre = move |i: usize, y: T| bias.map_or(y, |b| y + b[i]);
        let mut y = rows_mut(cur, d, k);
        if j + 1 < depth {
            let off = net.offsets()[j];
            let s = &mut slopes[k * off..k * (off + d)];
            let mut s = ArrayViewMut2::from_shape((d, k), s).expect("fits");
            zip_for_each!(
                par,
                work,
                Zip::indexed(y.rows_mut()).and(s.rows_mut()),
                |i: usize, mut y: ArrayViewMut1<T>, mut s: ArrayViewMut1<T>| {
                    let y = y.as_slice_mut().expect("rows contiguous");
                    y.iter_mut().for_each(|y| *y = pre(i, *y));
                    act.apply(y, s.as_slice_mut().expect("rows contiguous"));
                }
            );
        } else {
            // Last layer: Y_L turned into φ'(Y_L) in place while its φ values are summed
            // into f, row by row (each point's sum over i in order).
            f.fill(T::zero());
            const CHUNK: usize = 16;
            for (i, mut row) in y.rows_mut().into_iter().enumerate() {
                let row = row.as_slice_mut().expect("rows contiguous");
                for (c, y) in row.chunks_mut(CHUNK).enumerate() {
                    // φ into h, φ' back into y, a chunk at a time (the logistic's lanes).
                    let mut h = [T::zero(); CHUNK];
                    let h = &mut h[..y.len()];
                    h.iter_mut()
                        .zip(y.iter())
                        .for_each(|(h, &y)| *h = pre(i, y));
                    act.apply(h, y);
                    let f = f.slice_mut(s![c * CHUNK..c * CHUNK + h.len()]);
                    f.into_iter().zip(h.iter()).for_each(|(f, &h)| *f = *f + h);
                }
            }
        }
    }
    // Backward: Z_{j−1} = (W_jᵀ·Z_j) ∘ φ'(Y_{j−1}), and G = W_1ᵀ·Z_1.
    for j in (1..depth).rev() {
        let w = layers[j].weights.view();
        let (d_out, d_in) = w.dim();
        let mut n = rows_mut(next, d_in, k);
        gemm(w.t(), rows(cur, d_out, k), n.view_mut());
        let off = net.offsets()[j - 1];
        let s = rows(&slopes[k * off..k * (off + d_in)], d_in, k);
        n.zip_mut_with(&s, |z, &s| *z = *z * s);
        std::mem::swap(&mut cur, &mut next);
    }
    let d1 = layers[0].weights.nrows();
    gemm(layers[0].weights.t(), rows(cur, d1, k), gs.view_mut());
    g.assign(&gs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::faer_kernels_fixed;
    use crate::{random, Activation, Scratch};
    use ndarray::{Array1, Array2, ShapeBuilder};

    /// `f` inside a pool of `threads` rayon workers.
    fn on<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        pool.expect("a pool").install(f)
    }

    /// The bits of f and the gradients (so that −0 and 0 differ).
    fn bits((f, g): &(Array1<f64>, Array2<f64>)) -> Vec<u64> {
        f.iter().chain(g.iter()).map(|v| v.to_bits()).collect()
    }

    /// f and the gradients at the columns of `x`, cut into `pieces` (1: whole), on the
    /// scratch `scratch_len` counts for any cut, of which every piece's carves must fit.
    fn batch<T: Real>(net: &Mlp<T>, x: &Array2<T>, pieces: usize) -> (Array1<T>, Array2<T>) {
        let (d0, k) = x.dim();
        let (mut f, mut g) = (Array1::zeros(k), Array2::zeros((d0, k).f()));
        let mut scratch = Scratch::new();
        let mut stack = scratch.stack(scratch_len(net, k)).expect("fits");
        let (fv, gv) = (f.view_mut(), g.view_mut());
        match pieces {
            1 => piece(net, Par::Seq, x.view(), fv, gv, &mut stack),
            _ => on(3, || {
                split(net, (0, pieces, pieces), k, x.view(), fv, gv, &mut stack)
            }),
        }
        (f, g)
    }

    /// Every cut of k points into pieces of at least MIN_POINTS fits the scratch, at
    /// every k (uneven pieces included), and wherever [`cut_keeps_bits`] says so gives
    /// the bits of the whole batch. The networks take every route: faer's GEMM and its
    /// nano-GEMM (the 11×11 layer at 16 points; 11·11·16 = 1936 ≤ 16³), products thin
    /// at some widths only (200×200: thin from n ≤ 50), a width-1 layer (outer products
    /// and aᵀ·B), a width-1 output.
    #[test]
    fn every_cut_fits_its_scratch_and_keeps_the_bits_where_promised() {
        let mut kept = vec![];
        for (net_index, widths) in [
            &[37, 29, 11, 3][..],
            &[20, 11, 11, 200, 200, 1],
            &[300, 1, 40],
            &[256, 260, 70],
            &[256, 260, 300],
        ]
        .into_iter()
        .enumerate()
        {
            let net = Mlp::<f64>::from_seed(widths, Activation::Tanh, 4).unwrap();
            for k in [16, 17, 33, 64, 71, 100] {
                let x = random::standard_normal::<f64>(widths[0], k, 5, 0).unwrap();
                let whole = batch(&net, &x, 1);
                for pieces in 2..=k / MIN_POINTS {
                    let cut = batch(&net, &x, pieces);
                    if cut_keeps_bits(&net, k, pieces) {
                        let same = bits(&cut) == bits(&whole);
                        assert!(same, "{widths:?}, k = {k} in {pieces} pieces");
                        kept.push((net_index, k));
                    }
                }
            }
        }
        // Every build with faer's x86 kernels cuts the last network at k = 64 (its
        // products all thin); without a BLAS, the third and fourth too (the outer
        // product and aᵀ·B, faer's GEMM). The first two are refused every cut (faer's
        // nano-GEMM at some width).
        let cut = |net: usize| kept.contains(&(net, 64));
        if faer_kernels_fixed() {
            assert!(cut(4), "{kept:?}");
        }
        if faer_kernels_fixed() && !crate::backend::blas() {
            assert!(cut(2) && cut(3), "{kept:?}");
        }
    }

    /// One piece per thread where each runs at least MIN_POINTS points and
    /// MIN_PIECE_WORK multiply-adds and no product exceeds MAX_PRODUCT; one under
    /// Par::Seq, or where a BLAS would take a product (all four of the small network's
    /// at k = 32 … 400, W_2·H of the wide one's).
    #[test]
    fn pieces_follow_the_threads_and_the_work() {
        if crate::memory::address_space_limited() || !faer_kernels_fixed() {
            return; // one piece always
        }
        let small = Mlp::<f64>::from_seed(&[100, 105, 95], Activation::Tanh, 0).unwrap();
        let wide = Mlp::<f64>::from_seed(&[1000, 500, 2], Activation::Tanh, 0).unwrap();
        let cuts = |net: &Mlp<f64>, threads, k| on(threads, || pieces(net, k));
        let all = |n: usize| match crate::backend::blas() {
            true => 1,
            false => n,
        };
        // 40 950 multiply-adds a point: 2.6 M at k = 64, two pieces of 1 M or more.
        assert_eq!(cuts(&small, 3, 64), all(2));
        assert_eq!(cuts(&small, 3, 32), 1);
        assert_eq!(cuts(&small, 3, 400), all(3));
        assert_eq!(cuts(&small, 1, 400), 1);
        // W_1·X at k = 33: 16.5 M multiply-adds, at most MAX_PRODUCT; at k = 34, over it.
        assert_eq!(cuts(&wide, 2, 33), all(2));
        assert_eq!(cuts(&wide, 2, 34), 1);
        assert_eq!(on(3, || Par::Seq.install(|| pieces(&small, 400))), 1);
    }
}
