//! Forward mode: the Jacobian chain J = M_L···M_1 (M_k = diag(φ'_k(y_k))·W_k)
//! accumulated from the input side, M_L·(…·(M_2·M_1)).
//!
//! For the two-layer network ∇fᵀ = σ'(y2)ᵀ·(B·(diag(σ'(y1))·A)); for L layers
//! ∇fᵀ = φ'_Lᵀ·W_L·D_{L−1}·W_{L−1}···D_1·W_1 with D_k = diag(φ'_k(y_k)), bracketed from
//! the right. The inner products are dense: B·(D1·A) costs d0·d1·d2 multiply-adds, which
//! is why forward mode loses to reverse mode for a scalar output. W_1 is taken in column
//! panels P so that no d_k×d0 temporary is held: for each P
//!
//! 1. S = D_1·W_1\[:, P\]              (d1×w, rows scaled in parallel)
//! 2. S ← D_k·(W_k·S), k = 2 … L−1     (one GEMM each)
//! 3. M = W_L·S, ∇f\[P\] = Mᵀ·φ'_L(y_L) (a GEMM, then the weighted column sums of M)
//!
//! The panel width w is the widest whose two ping-pong buffers fit in the memory budget.
//!
//! The same right-to-left sweep with a few tangent columns instead of W_1's is the JVP:
//! [y_k | Ẏ_k] = W_k·[a_{k−1} | Ȧ_{k−1}] + [b_k | 0], a_k = φ_k(y_k),
//! Ȧ_k = φ'_k(y_k) ∘ Ẏ_k, a_0 = x, Ȧ_0 = V — each W_k read once for the value and all
//! its tangents.

use crate::backend::{gemm, gemm_few, gemv_t, gemv_t_scratch_len};
use crate::diagonal::{scale_rows_in_place, scale_rows_into};
use crate::primal::{self, Sweep};
use crate::reverse::Fused;
use crate::scratch::{padded, panel_width_or_refuse, Stack};
use crate::{Activation, Layer, Mlp, Par, Real, Result};
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

/// Values per panel column of the two buffers: layers 1, 3, 5, … use the first,
/// layers 2, 4, … the second (d1 + d2 for the two-layer network).
fn panel_values<T: Real>(net: &Mlp<T>) -> (usize, usize) {
    let widths = || (1..=net.depth()).map(|k| net.width(k));
    let odd = widths().step_by(2).max().unwrap_or(0);
    let even = widths().skip(1).step_by(2).max().unwrap_or(0);
    (odd, even)
}

/// Values of the panels of `width` columns: the two buffers, of `odd` and `even` values
/// per column ([`panel_values`]), and the partial sums of the last product's Wᵀ·slopes.
fn panel_len<T: Real>(net: &Mlp<T>, (odd, even): (usize, usize), width: usize) -> usize {
    let partial = gemv_t_scratch_len(net.width(net.depth()), width);
    padded::<T>(odd * width) + padded::<T>(even * width) + padded::<T>(partial)
}

/// The panel width within `budget` bytes, and the two buffers' values per column.
fn panels<T: Real>(net: &Mlp<T>, budget: usize) -> Result<(usize, usize, usize)> {
    let size = std::mem::size_of::<T>();
    let (odd, even) = panel_values(net);
    let len = |w| panel_len(net, (odd, even), w);
    let width = panel_width_or_refuse(net.width(0), size, budget, len, |v| {
        format!("one panel column ({v} values of {size} bytes)")
    })?;
    Ok((width, odd, even))
}

/// Scratch of [`value_and_grad`] within `budget` bytes of panels.
pub(crate) fn grad_scratch_len<T: Real>(net: &Mlp<T>, budget: usize) -> Result<usize> {
    let (width, odd, even) = panels(net, budget)?;
    let fused = Fused::<T>::len(net.width(net.depth() - 1));
    Ok(Sweep::len(net) + fused + panel_len(net, (odd, even), width))
}

/// f(x), with ∇f(x) written to `grad`, by forward accumulation, holding at most
/// `budget` bytes of panels.
pub(crate) fn value_and_grad<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: &[T],
    budget: usize,
    mut grad: ArrayViewMut1<T>,
    stack: &mut Stack<'a, T>,
) -> Result<T> {
    let (width, odd, even) = panels(net, budget)?;
    let (layers, depth, d0) = (net.layers(), net.depth(), net.width(0));
    let mut sweep = Sweep::carve(net, stack);
    let mut fused = Fused::carve(net.width(depth - 1), stack);
    let (buf_a, buf_b) = (stack.take(odd * width), stack.take(even * width));
    let partial = stack.take(gemv_t_scratch_len(net.width(depth), width));
    let f = primal::value(net, par, x, &mut sweep, &mut fused);
    for c0 in (0..d0).step_by(width) {
        let w = width.min(d0 - c0);
        let w1 = layers[0].weights.slice(s![.., c0..c0 + w]);
        let mut rows = w1.nrows();
        // 1. S = D_1·W_1[:, P], into the first buffer.
        let first = ArrayViewMut2::from_shape((rows, w), &mut buf_a[..rows * w]).expect("fits");
        scale_rows_into(par, first, w1, ArrayView1::from(sweep.slopes(0)));
        let mut in_first = true;
        for (k, layer) in layers.iter().enumerate().skip(1) {
            let (src, dst) = if in_first {
                (&*buf_a, &mut *buf_b)
            } else {
                (&*buf_b, &mut *buf_a)
            };
            let cur = ArrayView2::from_shape((rows, w), &src[..rows * w]).expect("fits");
            rows = layer.weights.nrows();
            let mut m = ArrayViewMut2::from_shape((rows, w), &mut dst[..rows * w]).expect("fits");
            // 2./3. M = W_k·S, then S ← D_k·M before the next layer.
            gemm(layer.weights.view(), cur, m.view_mut());
            if k + 1 < depth {
                scale_rows_in_place(par, &mut m, ArrayView1::from(sweep.slopes(k)));
            }
            in_first = !in_first;
        }
        let src = if in_first { &*buf_a } else { &*buf_b };
        let cur = ArrayView2::from_shape((rows, w), &src[..rows * w]).expect("fits");
        // 3. ∇f[P] = Mᵀ·φ'_L (one layer: W_1[:, P]ᵀ·φ'_1, S unscaled).
        let target = grad.slice_mut(s![c0..c0 + w]);
        let last = ArrayView1::from(sweep.slopes(depth - 1));
        match depth {
            1 => gemv_t(par, w1, last, target, partial),
            _ => gemv_t(par, cur, last, target, partial),
        }
    }
    Ok(f)
}

/// One layer of the tangent sweep: Q = [y | Ẏ] ← W·[a | Ȧ] + [b | 0], one product
/// reading W once for the value and every tangent (`xt`: the few-column kernel's
/// scratch, as many values as `input`).
pub(crate) fn tangent_layer<T: Real>(
    par: Par,
    layer: &Layer<T>,
    input: ArrayView2<T>,
    mut q: ArrayViewMut2<T>,
    xt: &mut [T],
) {
    gemm_few(par, layer.weights.view(), input, q.view_mut(), xt);
    if let Some(b) = &layer.bias {
        q.column_mut(0).zip_mut_with(b, |y, &b| *y = *y + b);
    }
}

/// The next layer's input from Q = [y | Ẏ]: [φ(y) | φ'(y) ∘ Ẏ], both row-major (the
/// sweeps' scratch).
pub(crate) fn next_input<T: Real>(act: Activation, q: ArrayView2<T>, mut next: ArrayViewMut2<T>) {
    debug_assert_eq!(q.dim(), next.dim(), "the next input has Q's shape");
    let c = q.ncols();
    let q = q.to_slice().expect("Q row-major");
    let next = next.as_slice_mut().expect("the next input row-major");
    activate(act, q, c, |i, a, s| {
        let (row, out) = (&q[i * c..(i + 1) * c], &mut next[i * c..(i + 1) * c]);
        out[0] = a;
        out[1..]
            .iter_mut()
            .zip(&row[1..])
            .for_each(|(o, &t)| *o = t * s);
    });
}

/// `out(i, φ(y_i), φ'(y_i))` for each y_i of Q's first column (Q row-major, c ≥ 1
/// columns, as a slice), on the vector kernels ([`Activation::values_and_slopes`]).
fn activate<T: Real>(act: Activation, q: &[T], c: usize, out: impl FnMut(usize, T, T)) {
    by_chunks(q, c, |t, v, s| act.values_and_slopes_of(t, v, s), out)
}

/// `out(i, u_i, v_i)` for each y_i of Q's first column (Q row-major, c ≥ 1 columns, as a
/// slice), where `eval(y, u, v)` fills u and v for a chunk of y's: a chunk at a time, so
/// that the activations run on the vector kernels, each value's bits whatever the chunk.
/// A chunk holds a small layer whole: at 16 units a chunk the calls into the kernels
/// cost the JVP at (256)³ 10–15 % (docs/measured.md).
pub(crate) fn by_chunks<T: Real>(
    q: &[T],
    c: usize,
    mut eval: impl FnMut(&[T], &mut [T], &mut [T]),
    mut out: impl FnMut(usize, T, T),
) {
    const CHUNK: usize = 128;
    debug_assert!(
        c >= 1 && q.len().is_multiple_of(c),
        "Q has whole rows of c ≥ 1 columns"
    );
    let d = q.len() / c;
    for c0 in (0..d).step_by(CHUNK) {
        let n = CHUNK.min(d - c0);
        let mut y = [T::zero(); CHUNK];
        let (mut u, mut v) = ([T::zero(); CHUNK], [T::zero(); CHUNK]);
        for (r, y) in y[..n].iter_mut().enumerate() {
            *y = q[(c0 + r) * c];
        }
        eval(&y[..n], &mut u[..n], &mut v[..n]);
        for r in 0..n {
            out(c0 + r, u[r], v[r]);
        }
    }
}

/// The widest of d0 … dL.
pub(crate) fn widest<T: Real>(net: &Mlp<T>) -> usize {
    (0..=net.depth()).map(|k| net.width(k)).max().unwrap_or(0)
}

/// Scratch of [`jvp`]: two layers of [value | tangent] and the kernel's transpose.
pub(crate) fn jvp_scratch_len<T: Real>(net: &Mlp<T>) -> usize {
    3 * padded::<T>(2 * widest(net))
}

/// (F(x), J(x)·v) into `out` and `jv`, in one forward sweep.
pub(crate) fn jvp<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: ArrayView1<T>,
    v: ArrayView1<T>,
    out: &mut [T],
    mut jv: ArrayViewMut1<T>,
    stack: &mut Stack<'a, T>,
) {
    let widest = widest(net);
    let (a, q, xt) = (
        stack.take(2 * widest),
        stack.take(2 * widest),
        stack.take(2 * widest),
    );
    let d0 = net.width(0);
    let mut input = ArrayViewMut2::from_shape((d0, 2), &mut a[..2 * d0]).expect("fits");
    input.column_mut(0).assign(&x);
    input.column_mut(1).assign(&v);
    let depth = net.depth();
    for (k, layer) in net.layers().iter().enumerate() {
        let (d_out, d_in) = layer.weights.dim();
        let input = ArrayView2::from_shape((d_in, 2), &a[..2 * d_in]).expect("fits");
        let mut qk = ArrayViewMut2::from_shape((d_out, 2), &mut q[..2 * d_out]).expect("fits");
        tangent_layer(par, layer, input, qk.view_mut(), xt);
        if k + 1 < depth {
            let next = ArrayViewMut2::from_shape((d_out, 2), &mut a[..2 * d_out]).expect("fits");
            next_input(layer.activation, qk.view(), next);
        }
    }
    let last = &net.layers()[depth - 1];
    let d_out = last.weights.nrows();
    let q = &q[..2 * d_out];
    activate(last.activation, q, 2, |i, a, s| {
        out[i] = a;
        jv[i] = s * q[2 * i + 1];
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::panel_width;
    use crate::Error;

    #[test]
    fn panels_cover_the_columns_evenly_within_the_budget() {
        // 10 columns, 2 values per column of 8 bytes: a 48-byte budget allows 3 columns,
        // so 4 panels, spread as width 3 (3+3+3+1 → even: ceil(10/4) = 3).
        let two = |w: usize| 2 * w;
        assert_eq!(panel_width(10, 8, 48, two), Some(3));
        assert_eq!(panel_width(10, 8, 1 << 20, two), Some(10));
        // 7 columns at budget for 4: two panels of 4 and 3, not 4 + 3 by luck.
        assert_eq!(panel_width(7, 8, 64, two), Some(4));
        assert_eq!(panel_width(9, 8, 128, two), Some(5));
        assert_eq!(panel_width(10, 8, 1599, |w| 200 * w), None);
        // Values that do not grow in proportion, 100 fixed + 3 per column: room for 20
        // columns, so three panels, as even as 17, 17, 16.
        assert_eq!(panel_width(50, 8, 8 * 160, |w| 100 + 3 * w), Some(17));
    }

    #[test]
    fn a_panel_column_too_large_for_the_budget_is_refused_with_its_numbers() {
        let net = Mlp::<f64>::from_seed(&[10, 200], Activation::Tanh, 0).unwrap();
        // One column: d1 = 200 values of the first buffer, nothing else at this size.
        let e = panels(&net, 1599).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    needed: 1600,
                    available: 1599,
                    ..
                }
            ),
            "{e}"
        );
        assert!(panels(&net, 1600).is_ok());
    }

    #[test]
    fn the_two_buffers_hold_alternate_layers() {
        let net = |w: &[usize]| Mlp::<f64>::from_seed(w, Activation::Tanh, 0).unwrap();
        assert_eq!(panel_values(&net(&[5, 7, 3])), (7, 3));
        assert_eq!(panel_values(&net(&[5, 7, 3, 9, 2])), (9, 3));
        assert_eq!(panel_values(&net(&[5, 7])), (7, 0));
    }
}
