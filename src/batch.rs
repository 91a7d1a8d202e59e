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

use crate::backend::gemm;
use crate::par::zip_for_each;
use crate::scratch::{padded, Stack};
use crate::{Mlp, Par, Real};
use ndarray::{s, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

/// max(d1, …, dL).
fn widest<T: Real>(net: &Mlp<T>) -> usize {
    (1..=net.depth()).map(|j| net.width(j)).max().unwrap_or(0)
}

/// Scratch for `k` points: X in one layout, the hidden layers' slopes, two working
/// matrices and G.
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>, k: usize) -> usize {
    let d0 = net.width(0);
    let hidden = net.offsets()[net.depth() - 1];
    2 * padded::<T>(k * d0) + padded::<T>(k * hidden) + 2 * padded::<T>(k * widest(net))
}

/// The first d·k values of `buf` as d rows of k points.
fn rows<T>(buf: &[T], d: usize, k: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((d, k), &buf[..d * k]).expect("fits")
}

/// [`rows`], writable.
fn rows_mut<T>(buf: &mut [T], d: usize, k: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((d, k), &mut buf[..d * k]).expect("fits")
}

/// f at the columns of `x` into `f`, their gradients into the columns of `g`.
pub(crate) fn values_and_grads<'a, T: Real>(
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
