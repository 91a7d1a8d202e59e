//! Gradients at many points at once: X (d0×k) → f (k) and ∇f at every column (d0×k).
//! Shown here for the two-layer network; deeper ones chain the same products per layer.
//!
//! Reverse mode with its matrix-vector products turned into matrix products, the points
//! held as rows (k×d) so that every product is a short-and-wide GEMM:
//!
//! ```text
//! H1ᵀ = σ(Xᵀ·Aᵀ + 1·b1ᵀ), S1ᵀ = σ'(…),  S2ᵀ = σ'(H1ᵀ·Bᵀ + 1·b2ᵀ),  f_j = Σ_i σ(…)_ji
//! Zᵀ = (S2ᵀ·B) ∘ S1ᵀ,  Gᵀ = Zᵀ·A
//! ```
//!
//! Four GEMMs of k·d² multiply-adds each (at d0 = d1 = d2 = d): A and B are each read
//! twice for the whole batch, and the k-fold arithmetic runs at GEMM speed instead of
//! memory speed. Measured choices (OpenBLAS 0.3.21, 2 cores, d = 8000, k = 64; see
//! docs/measured.md): k×d · d×d runs faster than the same product as d×d · d×k; fusing
//! the two products with B by row blocks was not faster (at these k the BLAS is bound by
//! its packing and arithmetic, not by DRAM), so the simpler four GEMMs stay.

use crate::backend::gemm;
use crate::par::zip_for_each;
use crate::scratch::{padded, Stack};
use crate::{Mlp, Par, Real};
use ndarray::{ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// max(d1, …, dL).
fn widest<T: Real>(net: &Mlp<T>) -> usize {
    (1..=net.depth()).map(|j| net.width(j)).max().unwrap_or(0)
}

/// Scratch for `k` points: X in one layout, the hidden layers' slopes, two working
/// matrices and Gᵀ.
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>, k: usize) -> usize {
    let d0 = net.width(0);
    let hidden = net.offsets()[net.depth() - 1];
    2 * padded::<T>(k * d0) + padded::<T>(k * hidden) + 2 * padded::<T>(k * widest(net))
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
    let mut gt = stack.matrix(k, d0);
    // Small batches (k·Σd_k activations) stay on the calling thread: waking rayon costs
    // more than the work.
    let work = k * net.offsets()[depth];
    // Forward: Hᵀ_j = φ(Hᵀ_{j−1}·W_jᵀ + 1·b_jᵀ), with φ'(…)ᵀ kept beside it.
    let mut input: Option<usize> = None;
    for (j, layer) in layers.iter().enumerate() {
        let d = layer.weights.nrows();
        {
            let mut y = ArrayViewMut2::from_shape((k, d), &mut next[..k * d]).expect("fits");
            match input {
                None => gemm(x.t(), layer.weights.t(), y.view_mut()),
                Some(di) => {
                    let h = ArrayView2::from_shape((k, di), &cur[..k * di]).expect("fits");
                    gemm(h, layer.weights.t(), y.view_mut());
                }
            }
        }
        std::mem::swap(&mut cur, &mut next);
        input = Some(d);
        let act = layer.activation;
        let bias = layer.bias_slice();
        let pre = move |i: usize, y: T| bias.map_or(y, |b| y + b[i]);
        let mut y = ArrayViewMut2::from_shape((k, d), &mut cur[..k * d]).expect("fits");
        if j + 1 < depth {
            let off = net.offsets()[j];
            let s = &mut slopes[k * off..k * (off + d)];
            let mut s = ArrayViewMut2::from_shape((k, d), s).expect("fits");
            zip_for_each!(
                par,
                work,
                Zip::from(y.rows_mut()).and(s.rows_mut()),
                |mut y: ArrayViewMut1<T>, mut s: ArrayViewMut1<T>| {
                    for (i, (y, s)) in y.iter_mut().zip(s.iter_mut()).enumerate() {
                        let (h, ds) = act.value_and_slope(pre(i, *y));
                        *y = h;
                        *s = ds;
                    }
                }
            );
        } else {
            // Last layer: Yᵀ_L turned into φ'(Y_L)ᵀ in place while its φ values are
            // summed into f.
            f.fill(T::zero());
            zip_for_each!(
                par,
                work,
                Zip::from(y.axis_iter_mut(Axis(0))).and(&mut f),
                |row: ArrayViewMut1<T>, f: &mut T| {
                    for (i, y) in row.into_iter().enumerate() {
                        let (h, ds) = act.value_and_slope(pre(i, *y));
                        *f = *f + h;
                        *y = ds;
                    }
                }
            );
        }
    }
    // Backward: Zᵀ_{j−1} = (Zᵀ_j·W_j) ∘ φ'(Y_{j−1})ᵀ, and Gᵀ = Zᵀ_1·W_1.
    for j in (1..depth).rev() {
        let w = layers[j].weights.view();
        let (d_out, d_in) = w.dim();
        {
            let z = ArrayView2::from_shape((k, d_out), &cur[..k * d_out]).expect("fits");
            let mut n = ArrayViewMut2::from_shape((k, d_in), &mut next[..k * d_in]).expect("fits");
            gemm(z, w, n.view_mut());
            let off = net.offsets()[j - 1];
            let s = ArrayView2::from_shape((k, d_in), &slopes[k * off..k * (off + d_in)])
                .expect("fits");
            n.zip_mut_with(&s, |z, &s| *z = *z * s);
        }
        std::mem::swap(&mut cur, &mut next);
    }
    let d1 = layers[0].weights.nrows();
    let z = ArrayView2::from_shape((k, d1), &cur[..k * d1]).expect("fits");
    gemm(z, layers[0].weights.view(), gt.view_mut());
    // Handed out as G (d0×k, each gradient a column).
    g.assign(&gt.t());
}
