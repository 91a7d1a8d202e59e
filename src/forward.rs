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

use crate::backend::{gemm, gemm_few, gemm_t_few, gemv_t, gemv_t_scratch_len, FEW};
use crate::diagonal::{scale_rows_in_place, scale_rows_into};
use crate::primal::{self, Sweep};
use crate::reverse::Fused;
use crate::scratch::{padded, panel_width_or_refuse, Stack};
use crate::{Activation, Layer, Mlp, Par, Real, Result};
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, ShapeBuilder, Zip};
use std::ops::Range;

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

/// A tangent sweep's d×c panel ([y | Ẏ] or its next input) in `buf`: by columns for
/// few columns, which the crate's kernels take and give as slices and the glue runs down
/// as whole vectors; by rows for a BLAS GEMM's wide panels (a GEMM rounds by its
/// operands' layout, and this is the one their results were recorded with).
///
/// Made without `from_shape`'s stride checks, which cost a small call more than its
/// glue: a panel in either order spans exactly its d·c values, taken from `buf` first.
pub(crate) fn panel<T>(buf: &[T], d: usize, c: usize) -> ArrayView2<'_, T> {
    let buf = &buf[..d.checked_mul(c).expect("a panel's length")];
    // SAFETY: the d×c panel by rows or by columns reads exactly buf's d·c values.
    unsafe { ArrayView2::from_shape_ptr((d, c).set_f(c <= FEW), buf.as_ptr()) }
}

/// [`panel`], writable.
pub(crate) fn panel_mut<T>(buf: &mut [T], d: usize, c: usize) -> ArrayViewMut2<'_, T> {
    let buf = &mut buf[..d.checked_mul(c).expect("a panel's length")];
    // SAFETY: as `panel`'s, and `buf` is borrowed mutably for the view's life.
    unsafe { ArrayViewMut2::from_shape_ptr((d, c).set_f(c <= FEW), buf.as_mut_ptr()) }
}

/// How a tangent sweep makes W·[a | Ȧ].
pub(crate) enum Product<'b, T> {
    /// Dot products of W's rows ([`gemm_few`]): the sums every call's W·a makes, so the
    /// JVP's F has the bits of [`Mlp::output`](crate::Mlp::output).
    Dots,
    /// (Wᵀ)ᵀ·[a | Ȧ] on Wᵀ's rows ([`gemm_t_few`], with its blocks' scratch: c·d_k
    /// values), each entry one chain of fused multiply-adds in row order. The HVP's,
    /// which returns no F; where the network keeps no Wᵀ
    /// ([`COLUMNS_MAX`](crate::mlp::COLUMNS_MAX)) or the columns are more than [`FEW`]
    /// (a GEMM's, not the crate's kernels), [`Dots`](Product::Dots).
    Columns(&'b mut [T]),
}

/// One layer of the tangent sweep: Q = [y | Ẏ] ← W·[a | Ȧ] + [b | 0], one product
/// reading W (or Wᵀ) once for the value and every tangent.
pub(crate) fn tangent_layer<T: Real>(
    par: Par,
    layer: &Layer<T>,
    product: Product<T>,
    input: ArrayView2<T>,
    mut q: ArrayViewMut2<T>,
) {
    match (product, &layer.columns) {
        (Product::Columns(blocks), Some(wt)) if input.ncols() <= FEW => {
            gemm_t_few(par, wt.view(), input, q.view_mut(), blocks)
        }
        _ => gemm_few(par, layer.weights.view(), input, q.view_mut()),
    }
    if let Some(b) = &layer.bias {
        q.column_mut(0).zip_mut_with(b, |y, &b| *y = *y + b);
    }
}

/// The next layer's input from Q = [y | Ẏ]: [φ(y) | φ'(y) ∘ Ẏ], in Q's shape; φ'(y) also
/// into `keep` where given (an HVP's reverse sweep takes it back).
pub(crate) fn next_input<T: Real>(
    act: Activation,
    q: ArrayView2<T>,
    next: ArrayViewMut2<T>,
    mut keep: Option<&mut [T]>,
) {
    let mut at = 0;
    map_panel(q, next, |t, v, s| {
        act.values_and_slopes_of(t, v, s);
        if let Some(keep) = keep.as_deref_mut() {
            keep[at..at + s.len()].copy_from_slice(s);
        }
        at += s.len();
    });
}

/// [u | v ∘ Ẏ] into `out` (Q's shape) from Q = [y | Ẏ], where `eval(y, u, v)` fills u and
/// v for y's (a whole column, or a chunk of one): a sweep's next input, or an HVP's
/// [ḡ_L | Ġ_L].
pub(crate) fn map_panel<T: Real>(
    q: ArrayView2<T>,
    mut out: ArrayViewMut2<T>,
    mut eval: impl FnMut(&[T], &mut [T], &mut [T]),
) {
    debug_assert_eq!(q.dim(), out.dim(), "out has Q's shape");
    let (d, c) = q.dim();
    if let (true, Some(q), Some(o)) = (
        d > 0 && c >= 2,
        column_major(q),
        column_major_mut(out.view_mut()),
    ) {
        // By columns with a tangent: u and v straight into the first two columns, then
        // v ∘ Ẏ down each tangent column, the first last (it holds v).
        let ((y, yd), (u, od)) = (q.split_at(d), o.split_at_mut(d));
        let (v, rest) = od.split_at_mut(d);
        eval(y, u, v);
        for (o, t) in rest.chunks_mut(d).zip(yd[d..].chunks(d)) {
            down_column(o, t, [&*v], |o, t, [v]| *o = t * v);
        }
        v.iter_mut().zip(&yd[..d]).for_each(|(v, &t)| *v = t * *v);
        return;
    }
    by_chunks(q.column(0), eval, |rows, u, v| {
        let mut out = out.slice_mut(s![rows.clone(), ..]);
        out.column_mut(0).assign(&ArrayView1::from(u));
        let (out, q) = (out.slice_mut(s![.., 1..]), q.slice(s![rows, 1..]));
        each_tangent(out, q, [v], |o, t, [v]| *o = t * v);
    });
}

/// A panel's values column after column, where it lies by columns (column j of a d×c
/// panel at j·d).
pub(crate) fn column_major<T>(p: ArrayView2<'_, T>) -> Option<&[T]> {
    p.reversed_axes().to_slice()
}

/// [`column_major`], writable.
pub(crate) fn column_major_mut<T>(p: ArrayViewMut2<'_, T>) -> Option<&mut [T]> {
    p.reversed_axes().into_slice()
}

/// `op(o[i], t[i], [p_1[i], …, p_K[i]])` down one column's slices.
#[inline(always)]
pub(crate) fn down_column<T: Copy, const K: usize>(
    o: &mut [T],
    t: &[T],
    per_row: [&[T]; K],
    op: impl Fn(&mut T, T, [T; K]),
) {
    let n = o.len();
    let (t, per_row) = (&t[..n], per_row.map(|p| &p[..n]));
    for (i, o) in o.iter_mut().enumerate() {
        op(o, t[i], per_row.map(|p| p[i]));
    }
}

/// `op(o, t, [p_1[i], …, p_K[i]])` for each entry o of `out` (a chunk's tangents), t the
/// entry of `q` in its place and i its row: down columns or along rows, whichever is
/// contiguous, so that the loops run on slices (and on vector registers).
pub(crate) fn each_tangent<T: Real, const K: usize>(
    mut out: ArrayViewMut2<T>,
    q: ArrayView2<T>,
    per_row: [&[T]; K],
    op: impl Fn(&mut T, T, [T; K]),
) {
    debug_assert_eq!(out.dim(), q.dim(), "a tangent beside each entry");
    let n = out.nrows();
    let per_row = per_row.map(|p| &p[..n]);
    let (columns, rows) = (out.stride_of(Axis(0)) == 1, out.stride_of(Axis(1)) == 1);
    if columns && q.stride_of(Axis(0)) == 1 {
        for (mut o, t) in out.columns_mut().into_iter().zip(q.columns()) {
            let (o, t) = (
                o.as_slice_mut().expect("a column"),
                t.as_slice().expect("a column"),
            );
            down_column(&mut o[..n], t, per_row, &op);
        }
    } else if rows && q.stride_of(Axis(1)) == 1 {
        for (i, (mut o, t)) in out.rows_mut().into_iter().zip(q.rows()).enumerate() {
            let p = per_row.map(|p| p[i]);
            let (o, t) = (
                o.as_slice_mut().expect("a row"),
                t.as_slice().expect("a row"),
            );
            o.iter_mut().zip(t).for_each(|(o, &t)| op(o, t, p));
        }
    } else {
        for ((i, j), o) in out.indexed_iter_mut() {
            op(o, q[[i, j]], per_row.map(|p| p[i]));
        }
    }
}

/// Rows per chunk of [`by_chunks`].
pub(crate) const CHUNK: usize = 128;

/// `out(rows, u, v)` for the y's of each chunk of rows, where `eval(y, u, v)` fills u
/// and v for those y's: a chunk at a time, so that the activations run on the vector
/// kernels, each value's bits whatever the chunk. A chunk holds a small layer whole: at
/// 16 units a chunk the calls into the kernels cost the JVP at (256)³ 10–15 %
/// (docs/measured.md). For destinations that are not slices (panels by rows, strided
/// outputs) and one-column panels: elsewhere the callers have `eval` write into the
/// destination, without these buffers, which are zeroed at each call.
pub(crate) fn by_chunks<T: Real>(
    y: ArrayView1<T>,
    mut eval: impl FnMut(&[T], &mut [T], &mut [T]),
    mut out: impl FnMut(Range<usize>, &[T], &[T]),
) {
    let d = y.len();
    let (mut u, mut v) = ([T::zero(); CHUNK], [T::zero(); CHUNK]);
    // y's chunks in place where it is contiguous (a panel by columns), else copied.
    let mut t = [T::zero(); CHUNK];
    let whole = y.as_slice();
    for c0 in (0..d).step_by(CHUNK) {
        let n = CHUNK.min(d - c0);
        let t = match whole {
            Some(y) => &y[c0..c0 + n],
            None => {
                let t = &mut t[..n];
                t.iter_mut()
                    .zip(y.slice(s![c0..c0 + n]))
                    .for_each(|(t, &y)| *t = y);
                t
            }
        };
        eval(t, &mut u[..n], &mut v[..n]);
        out(c0..c0 + n, &u[..n], &v[..n]);
    }
}

/// The widest of d0 … dL.
pub(crate) fn widest<T: Real>(net: &Mlp<T>) -> usize {
    (0..=net.depth()).map(|k| net.width(k)).max().unwrap_or(0)
}

/// Scratch of [`jvp`]: two layers of [value | tangent].
pub(crate) fn jvp_scratch_len<T: Real>(net: &Mlp<T>) -> usize {
    2 * padded::<T>(2 * widest(net))
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
    let (a, q) = (stack.take(2 * widest), stack.take(2 * widest));
    let d0 = net.width(0);
    let mut input = panel_mut(a, d0, 2);
    input.column_mut(0).assign(&x);
    input.column_mut(1).assign(&v);
    let depth = net.depth();
    for (k, layer) in net.layers().iter().enumerate() {
        let (d_out, d_in) = layer.weights.dim();
        let mut qk = panel_mut(q, d_out, 2);
        tangent_layer(par, layer, Product::Dots, panel(a, d_in, 2), qk.view_mut());
        if k + 1 < depth {
            next_input(layer.activation, qk.view(), panel_mut(a, d_out, 2), None);
        }
    }
    // F = φ(y), J·v = φ'(y) ∘ ẏ, from Q = [y | ẏ] (two columns: by columns).
    let last = &net.layers()[depth - 1];
    let d = last.weights.nrows();
    debug_assert_eq!(out.len(), d, "F has d_L entries");
    let q = column_major(panel(q, d, 2)).expect("two columns lie by columns");
    let (y, yd) = q.split_at(d);
    let eval = |t: &[T], v: &mut [T], s: &mut [T]| last.activation.values_and_slopes_of(t, v, s);
    if let Some(jv) = jv.as_slice_mut() {
        // φ' into J·v itself, then times ẏ.
        eval(y, out, jv);
        jv.iter_mut().zip(yd).for_each(|(jv, &t)| *jv = *jv * t);
        return;
    }
    by_chunks(ArrayView1::from(y), eval, |rows, values, slopes| {
        out[rows.clone()].copy_from_slice(values);
        let jv = jv.slice_mut(s![rows.clone()]);
        Zip::from(jv)
            .and(&yd[rows])
            .and(slopes)
            .for_each(|jv, &t, &s| *jv = s * t);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::panel_width;
    use crate::Error;
    use ndarray::Array2;

    /// A small network keeps Wᵀ of its layers at least `COLUMNS_MIN_ROWS` wide (a clone
    /// too), and its tangent products on [`Product::Columns`] are Wᵀ's rows added up in
    /// order, y_j = (…(W_j0·a_0 + 0) + …) + W_j,n−1·a_n−1 (fused where the kernels fuse),
    /// then b_j added in the value's column: each entry's exact chain, in f64 and f32,
    /// for results in one block and in several (over 512 rows); dot products sum lanes
    /// first (within rounding of it). Wider panels than [`FEW`], narrow layers and
    /// networks over `COLUMNS_MAX` take the dot products.
    #[test]
    fn small_networks_tangent_products_run_on_their_transposes() {
        fn check<T: Real>() {
            let layer = |m: usize, n: usize, seed: u64| {
                let w = crate::random::standard_normal::<T>(m, n, seed, 0).unwrap();
                let b = crate::random::standard_normal_vector::<T>(m, seed + 1).unwrap();
                Layer::new(w, Activation::Tanh).with_bias(b)
            };
            let net = Mlp::new(vec![layer(40, 37, 1), layer(600, 40, 3), layer(5, 600, 5)]);
            let net = net.unwrap().clone();
            let kept = |net: &Mlp<T>| -> Vec<bool> {
                net.layers().iter().map(|l| l.columns.is_some()).collect()
            };
            assert_eq!(
                kept(&net),
                vec![true, true, false],
                "which keep Wᵀ (5 rows: too few)"
            );
            for l in &net.layers()[..2] {
                let wt = l.columns.as_ref().unwrap();
                assert!(wt.t() == l.weights && crate::memory::on_lines(wt.view()));
            }
            let large = Mlp::new(vec![layer(300, 300, 7)]).unwrap();
            assert_eq!(kept(&large), vec![false], "over COLUMNS_MAX");
            let fused = !matches!(
                crate::kernels::detected(),
                crate::kernels::Detected::Portable(_)
            );
            for l in &net.layers()[..2] {
                let (m, n) = l.weights.dim();
                let mut blocks = vec![T::zero(); m * (FEW + 1)];
                for c in [1, 2, 3, FEW, FEW + 1] {
                    let a = Array2::from_shape_fn((n, c).f(), |(i, j)| {
                        T::from_f64(((i * 7 + j) as f64 * 0.61).sin())
                    });
                    let mut by_columns = Array2::zeros((m, c).set_f(c <= FEW));
                    let product = Product::Columns(&mut blocks);
                    tangent_layer(Par::Seq, l, product, a.view(), by_columns.view_mut());
                    let mut by_dots = Array2::zeros((m, c).set_f(c <= FEW));
                    tangent_layer(Par::Seq, l, Product::Dots, a.view(), by_dots.view_mut());
                    let bias = l.bias.as_ref().unwrap();
                    let chain = Array2::from_shape_fn((m, c), |(r, j)| {
                        let y = (0..n).fold(T::zero(), |y, i| match fused {
                            true => l.weights[[r, i]].mul_add(a[[i, j]], y),
                            false => l.weights[[r, i]] * a[[i, j]] + y,
                        });
                        if j == 0 {
                            y + bias[r]
                        } else {
                            y
                        }
                    });
                    let same = |p: &Array2<T>, q: &Array2<T>| {
                        p.iter()
                            .zip(q)
                            .all(|(a, b)| a.as_f64().to_bits() == b.as_f64().to_bits())
                    };
                    let what = format!("{} rows, {c} columns", m);
                    match c <= FEW {
                        true => assert!(same(&by_columns, &chain), "{what}: not the chain"),
                        false => assert!(same(&by_columns, &by_dots), "{what}: not the dots"),
                    }
                    let abs = |t: &T| t.abs();
                    let scale = l
                        .weights
                        .map(abs)
                        .dot(&a.map(abs))
                        .mapv(|s| s + T::from_f64(4.0));
                    let eps = T::epsilon() * T::from_f64(2.0 * n as f64);
                    for ((&p, &q), &s) in by_columns.iter().zip(&by_dots).zip(&scale) {
                        assert!((p - q).abs() <= eps * s, "{what}: {p} {q}");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// `map_panel` gives [u(y) | v(y) ∘ Ẏ] bit for bit on panels by columns (its slices)
    /// and by rows (its views), across chunk edges, one row, one column, none.
    #[test]
    fn map_panel_is_the_same_by_columns_and_by_rows() {
        let eval = |t: &[f64], u: &mut [f64], v: &mut [f64]| {
            for ((t, u), v) in t.iter().zip(u).zip(v) {
                (*u, *v) = (t.sin(), t.cos() * 1.5);
            }
        };
        for d in [0, 1, 127, CHUNK, CHUNK + 1, 300] {
            for c in [1, 2, FEW, FEW + 1] {
                let q = Array2::from_shape_fn((d, c), |(i, j)| (i as f64 * 0.37 - j as f64).tan());
                let want = Array2::from_shape_fn((d, c), |(i, j)| match j {
                    0 => q[[i, 0]].sin(),
                    _ => q[[i, j]] * (q[[i, 0]].cos() * 1.5),
                });
                for f in [false, true] {
                    let mut ql = Array2::zeros((d, c).set_f(f));
                    ql.assign(&q);
                    let mut out = Array2::from_elem((d, c).set_f(f), f64::NAN);
                    map_panel(ql.view(), out.view_mut(), eval);
                    let same = out
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{d}×{c}, by columns {f}");
                }
            }
        }
    }

    /// `each_tangent` visits every entry once with its row's values, down columns, along
    /// rows or entry by entry (neither contiguous), in both panel layouts.
    #[test]
    fn each_tangent_visits_every_entry_with_its_rows_values() {
        let (d, c) = (7, 4);
        let p: Vec<f64> = (0..d).map(|i| i as f64 + 0.5).collect();
        let q = Array2::from_shape_fn((d, c), |(i, j)| (10 * i + j) as f64);
        let want = Array2::from_shape_fn((d, c), |(i, j)| q[[i, j]] * p[i] + 1.0);
        for f in [false, true] {
            let mut ql = Array2::zeros((d, c).set_f(f));
            ql.assign(&q);
            let mut out = Array2::from_elem((d, c).set_f(f), 1.0);
            each_tangent(out.view_mut(), ql.view(), [&p], |o, t, [p]| *o += t * p);
            assert_eq!(out, want, "by columns {f}");
            // Every other column of a wider panel (row-major: neither axis contiguous).
            let mut wide = Array2::from_elem((d, 2 * c).set_f(f), 1.0);
            let mut out = wide.slice_mut(s![.., ..;2]);
            each_tangent(out.view_mut(), ql.view(), [&p], |o, t, [p]| *o += t * p);
            assert_eq!(out, want, "strided, by columns {f}");
            // Three values a row, and `out` laid out the other way from Q.
            let mut out = Array2::from_elem((d, c).set_f(!f), 1.0);
            let r: Vec<f64> = p.iter().map(|p| 2.0 * p).collect();
            each_tangent(
                out.view_mut(),
                ql.view(),
                [&p, &r, &p],
                |o, t, [a, b, e]| *o = t * a + b - 2.0 * e + 1.0,
            );
            assert_eq!(
                out, want,
                "three values a row, Q by columns {f}, out the other way"
            );
        }
    }

    /// The layout rule the recorded bits rest on: a panel of at most `FEW` columns lies
    /// by columns (the crate's kernels), a wider one by rows (a BLAS GEMM's operands).
    #[test]
    fn panels_of_few_columns_lie_by_columns_and_wider_ones_by_rows() {
        let buf = vec![0.0f64; 7 * (FEW + 1)];
        assert_eq!(panel(&buf, 7, FEW).strides(), &[1, 7]);
        assert_eq!(panel(&buf, 7, FEW + 1).strides(), &[FEW as isize + 1, 1]);
        let mut buf = buf;
        assert_eq!(panel_mut(&mut buf, 7, 2).strides(), &[1, 7]);
        assert_eq!(
            panel_mut(&mut buf, 7, FEW + 1).strides(),
            &[FEW as isize + 1, 1]
        );
    }

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
