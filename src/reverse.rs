//! Reverse mode: the Jacobian chain J = M_L···M_1 (M_k = diag(φ'_k(y_k))·W_k)
//! accumulated from the output side, ((1ᵀ·M_L)·M_{L−1})···M_1, every product a
//! matrix-vector one.
//!
//! For f = Σφ_L(y_L): the adjoint of y_L is ḡ_L = φ'_L(y_L), then
//! ḡ_{k−1} = φ'_{k−1}(y_{k−1}) ∘ (W_kᵀ·ḡ_k), and ∇f = W_1ᵀ·ḡ_1. Cost 2·Σ d_k·d_{k−1}
//! multiply-adds with the forward pass, bound by memory traffic: each W_k is read twice
//! (W_k·a, then W_kᵀ·ḡ), except W_L, read **once**: row i of W_L gives y_L,i, hence
//! φ'(y_L,i) and its share φ'(y_L,i)·W_L\[i,:\] of W_Lᵀ·φ'(y_L) while the row is still in
//! cache ([`last_layer`]; PyTorch and JAX read it twice). For the two-layer network
//! that is ∇f = Aᵀ·(σ'(y1) ∘ (Bᵀ·σ'(y2))). A VJP uᵀ·J is the same sweep from
//! ḡ_L = u ∘ φ'_L(y_L), W_L read once too ([`vjp`]).
//!
//! Biases change only the forward pass (y_k = W_k·a_{k−1} + b_k); ∇_{b_k} f = ḡ_k.

use crate::backend::{gemv_t, gemv_t_scratch_len};
use crate::kernels::gemv::{add_parts, row_blocks, ROW_BLOCKS};
use crate::kernels::{inlined, with_kernel, Kernel, RowSlices};
use crate::par::zip_for_each;
use crate::primal::{self, Sweep};
use crate::scratch::{padded, Stack};
use crate::{Layer, LayerGrad, Mlp, Par, Real};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Axis, Zip};
use rayon::iter::Either;
use rayon::prelude::*;

/// Scratch of the fused pass: per-block partial sums of f and of W_Lᵀ·c (c = φ'(y_L) for
/// ∇f).
pub(crate) struct Fused<'a, T> {
    f: &'a mut [T],
    z: &'a mut [T],
    d_in: usize,
}

impl<'a, T: Real> Fused<'a, T> {
    /// Scratch values for W_L with `d_in` columns.
    pub(crate) fn len(d_in: usize) -> usize {
        padded::<T>(ROW_BLOCKS) + padded::<T>(ROW_BLOCKS * d_in)
    }

    pub(crate) fn carve(d_in: usize, stack: &mut Stack<'a, T>) -> Self {
        Fused {
            f: stack.take(ROW_BLOCKS),
            z: stack.take(ROW_BLOCKS * d_in),
            d_in,
        }
    }
}

/// One read of W = W_L, row by row: `y_i = W[i,:]·h + b_i`, φ'(y_i) into `slopes`, and
/// returns f = Σ_i φ(y_i). With an `adjoint` output, also leaves z = Wᵀ·φ'(y) there,
/// adding `φ'(y_i)·W[i,:]` while row i is still in cache: reverse mode's fused pass.
///
/// Blocks of rows run in parallel, each into its own partial sums, which are then added
/// in block order. Every call computing f shares this pass, so f is bit-identical
/// whichever computed it.
pub(crate) fn last_layer<T: Real>(
    par: Par,
    layer: &Layer<T>,
    h: &[T],
    slopes: &mut [T],
    adjoint: Option<&mut [T]>,
    fused: &mut Fused<T>,
) -> T {
    let rows = |i0: usize, y: &mut [T], s: &mut [T]| primal::activate_rows(layer, i0, y, s);
    let out = Rows {
        coefs: slopes,
        values: None,
    };
    rows_then_adjoint(par, layer.weights.view(), h, out, adjoint, fused, rows)
}

/// Where the fused pass leaves each row's coefficient c_i and, if wanted, its value v_i.
pub(crate) struct Rows<'o, T> {
    pub(crate) coefs: &'o mut [T],
    pub(crate) values: Option<&'o mut [T]>,
}

/// The fused pass for any map of rows: `d_i = W[i,:]·h`, then `rows(i0, d, c)` maps the
/// rows from i0 on (up to sixteen at a time), each d_i to v_i in place and a coefficient
/// c_i into `c`, which go into `out`; returns Σ_i v_i, and with an `adjoint` output
/// leaves Wᵀ·c there. The gradient's map is y ↦ (φ(y), φ'(y)), a VJP's
/// y ↦ (φ(y), u·φ'(y)); an HVP's last layer maps ẏ_i ↦ (0, φ''(y_i)·ẏ_i)
/// ([`HessianAt`](crate::HessianAt)).
pub(crate) fn rows_then_adjoint<T: Real>(
    par: Par,
    w: ArrayView2<T>,
    h: &[T],
    out: Rows<T>,
    adjoint: Option<&mut [T]>,
    fused: &mut Fused<T>,
    rows: impl Fn(usize, &mut [T], &mut [T]) + Sync,
) -> T {
    with_kernel!(|k| rows_then_adjoint_with(k, par, w, h, out, adjoint, fused, &rows))
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_then_adjoint_with<T: Real, K: Kernel>(
    k: K,
    par: Par,
    w: ArrayView2<T>,
    h: &[T],
    out: Rows<T>,
    adjoint: Option<&mut [T]>,
    fused: &mut Fused<T>,
    map: &(impl Fn(usize, &mut [T], &mut [T]) + Sync),
) -> T {
    let (slopes, values) = (out.coefs, out.values);
    let (rows_total, d_in) = w.dim();
    if rows_total == 0 {
        // No rows (a rank's share of a layer may be none): an empty sum, Wᵀ·c = 0. The
        // blocks below would leave the scratch's last partials in their place.
        if let Some(z) = adjoint {
            z[..d_in].fill(T::zero());
        }
        return T::zero();
    }
    let (blocks, rows_per_block) = match values {
        Some(_) => quad_blocks(rows_total, w.len()),
        None => row_blocks(rows_total, w.len(), 1),
    };
    // A short output would end rayon's zip early, leaving blocks undone.
    debug_assert!(
        slopes.len() == rows_total && values.as_ref().is_none_or(|v| v.len() == rows_total)
    );
    debug_assert!(fused.d_in == d_in && blocks <= ROW_BLOCKS);
    let accumulate = adjoint.is_some();
    let all_rows = RowSlices::new(w);
    // One block: its rows of W, its slice of the coefficients (and of the values), its
    // partial z (unused without adjoint).
    let block = inlined(
        #[inline(always)]
        |b: usize, s_out: &mut [T], z: &mut [T], mut v_out: Option<&mut [T]>| -> T {
            let r0 = b * rows_per_block;
            let slices = all_rows.rows(r0..r0 + s_out.len());
            if accumulate {
                z.fill(T::zero());
            }
            let (row, quad) = (|i: usize| slices.row(i), |i: usize| slices.quad(i));
            let mut f = T::zero();
            // Four rows at a time: four streams from memory, h and z touched once per
            // four. Quads come in groups, the map run once per group (a call per four
            // values cost more than the values). With the adjoint, each quad's sweep also
            // adds the previous group's matching quad (now in cache) into z, so memory
            // streams the next rows while the adjoint is updated, each z entry taking
            // the rows in order. Long rows go eight at a time where `octets` says so and
            // the kernel sweeps eight in one: h (and z) cross from L2 once per eight
            // rows, the bits of two quads.
            let quads = slices.nrows() / 4 * 4;
            let eight = slices.octets() && k.sweeps_eight::<T>();
            let group = match eight {
                true => 8,
                false => 4 * group_quads(d_in * std::mem::size_of::<T>()),
            };
            const { assert!(MAX_GROUP_QUADS >= 2, "room for a group of eight") };
            let (mut y, mut ds) = (
                [T::zero(); 4 * MAX_GROUP_QUADS],
                [T::zero(); 4 * MAX_GROUP_QUADS],
            );
            let add = |z: &mut [T], at: usize, s_out: &[T]| k.axpy4(coefs(s_out, at), quad(at), z);
            // The previous group, whose update of z is due: (first row, rows).
            let mut pending = (0, 0);
            for g0 in (0..quads).step_by(group) {
                let n = group.min(quads - g0);
                let (prev, prev_n) = std::mem::take(&mut pending);
                if eight && n == 8 && prev_n % 8 == 0 {
                    let previous = (prev_n == 8).then(|| (prev, coefs(s_out, prev)));
                    y[..8].copy_from_slice(&octet(k, &slices, g0, previous, h, z));
                } else {
                    for q in (0..n).step_by(4) {
                        let dots = match q < prev_n {
                            true => {
                                let c = coefs(s_out, prev + q);
                                k.dot4_axpy4(quad(g0 + q), h, c, quad(prev + q), z)
                            }
                            false => k.dot4(quad(g0 + q), h),
                        };
                        y[q..q + 4].copy_from_slice(&dots);
                    }
                }
                for q in (n..prev_n).step_by(4) {
                    add(z, prev + q, s_out);
                }
                map(r0 + g0, &mut y[..n], &mut ds[..n]);
                f = y[..n].iter().fold(f, |f, &v| f + v);
                s_out[g0..g0 + n].copy_from_slice(&ds[..n]);
                if let Some(v) = v_out.as_deref_mut() {
                    v[g0..g0 + n].copy_from_slice(&y[..n]);
                }
                if accumulate {
                    pending = (g0, n);
                }
            }
            let (prev, prev_n) = pending;
            for q in (0..prev_n).step_by(4) {
                add(z, prev + q, s_out);
            }
            // The last rows (fewer than four): a dot each, then one map for them all.
            let n = slices.nrows() - quads;
            if n == 0 {
                return f;
            }
            for (j, v) in y[..n].iter_mut().enumerate() {
                *v = k.dot(row(quads + j), h);
            }
            map(r0 + quads, &mut y[..n], &mut ds[..n]);
            f = y[..n].iter().fold(f, |f, &v| f + v);
            s_out[quads..].copy_from_slice(&ds[..n]);
            if let Some(v) = v_out.as_deref_mut() {
                v[quads..].copy_from_slice(&y[..n]);
            }
            if accumulate {
                for (j, &d) in ds[..n].iter().enumerate() {
                    k.axpy(d, row(quads + j), z);
                }
            }
            f
        },
    );
    let f_parts = &mut fused.f[..blocks];
    let z_parts = &mut fused.z[..blocks * fused.d_in];
    if par.splits_matrix(w.len()) {
        let values = match values {
            Some(v) => Either::Left(v.par_chunks_mut(rows_per_block).map(Some)),
            None => Either::Right((0..blocks).into_par_iter().map(|_| None)),
        };
        f_parts
            .par_iter_mut()
            .zip(slopes.par_chunks_mut(rows_per_block))
            .zip(z_parts.par_chunks_mut(d_in))
            .zip(values)
            .enumerate()
            .for_each(|(b, (((f, s), z), v))| *f = block(b, s, z, v));
    } else {
        let mut values = values;
        for (b, ((f, s), z)) in f_parts
            .iter_mut()
            .zip(slopes.chunks_mut(rows_per_block))
            .zip(z_parts.chunks_mut(d_in))
            .enumerate()
        {
            let r0 = b * rows_per_block;
            let v = values.as_deref_mut().map(|v| &mut v[r0..r0 + s.len()]);
            *f = block(b, s, z, v);
        }
    }
    let f = f_parts.iter().fold(T::zero(), |s, &v| s + v);
    if let Some(z_out) = adjoint {
        let z = &mut z_out[..d_in];
        let (first, rest) = z_parts.split_at(d_in);
        z.copy_from_slice(first);
        add_parts(z, rest);
    }
    f
}

/// (blocks, rows per block) of the fused pass over m rows of a matrix of `len` entries
/// where its values are wanted: [`row_blocks`] of whole quads, so that every row but the
/// last m mod 4 is dotted in a quad, as the forward pass's GEMV dots it (a row alone
/// sums in another order), and the values are F's bits from any call. Without values,
/// blocks of any rows: ∇f's bits, as recorded.
fn quad_blocks(m: usize, len: usize) -> (usize, usize) {
    let per = row_blocks(m, len, 4).1.next_multiple_of(4);
    (m.div_ceil(per).max(1), per)
}

/// Most quads of rows in a group of the fused pass.
const MAX_GROUP_QUADS: usize = 4;

/// The dots of the eight rows from `g0` on with h, adding the previous group's eight
/// rows (their first row, coefficients) into z in the same sweep where there is one:
/// out of line, so that the group loop over short rows compiles as it did without it
/// (∇f at (100, 105, 95) ran 3 % slower with it inlined).
#[inline(never)]
fn octet<T: Real, K: Kernel>(
    k: K,
    slices: &RowSlices<T>,
    g0: usize,
    previous: Option<(usize, [T; 8])>,
    h: &[T],
    z: &mut [T],
) -> [T; 8] {
    match previous {
        Some((prev, c)) => k.dot8_axpy8(slices.octet(g0), h, c, slices.octet(prev), z),
        None => k.dot8(slices.octet(g0), h),
    }
}

/// The N coefficients from `at` on.
#[inline(always)]
fn coefs<T: Copy, const N: usize>(s: &[T], at: usize) -> [T; N] {
    std::array::from_fn(|j| s[at + j])
}

/// Quads of rows per group of the fused pass, for rows of `row_bytes`: as many as keep
/// two groups (the one streaming in, the one updating the adjoint) within 24 KB, three
/// quarters of the smallest L1 here (32 KB), at least one. Fewer, larger groups wait
/// less often on the map (σ's latency): three quads a group at (100, 105, 95)
/// (docs/measured.md).
fn group_quads(row_bytes: usize) -> usize {
    (24 * 1024 / (2 * 4 * row_bytes.max(1))).clamp(1, MAX_GROUP_QUADS)
}

/// Scratch of [`value_and_grad`] (and [`vjp`]): the forward pass, the fused pass, two
/// adjoint vectors as long as the widest of d0 … d(L−1), and the transposed products'.
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>) -> usize {
    Sweep::len(net)
        + Fused::<T>::len(net.width(net.depth() - 1))
        + 2 * padded::<T>(widest_input(net))
        + net.transposed_len()
}

/// Scratch of the products W_kᵀ·ḡ_k of any of `layers` ([`gemv_t`]'s partial results;
/// a network keeps its own, [`Mlp::transposed_len`]).
pub(crate) fn transposed_len<T: Real>(layers: &[Layer<T>]) -> usize {
    let len = |l: &Layer<T>| padded::<T>(gemv_t_scratch_len(l.weights.nrows(), l.weights.ncols()));
    layers.iter().map(len).max().unwrap_or(0)
}

/// max(d0, …, d(L−1)): the longest adjoint of a layer's input.
fn widest_input<T: Real>(net: &Mlp<T>) -> usize {
    (0..net.depth()).map(|k| net.width(k)).max().unwrap_or(0)
}

/// f(x), with ∇f(x) written to `grad`, by reverse accumulation.
pub(crate) fn value_and_grad<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: &[T],
    grad: ArrayViewMut1<T>,
    stack: &mut Stack<'a, T>,
) -> T {
    let depth = net.depth();
    let mut sweep = Sweep::carve(net, stack);
    let mut fused = Fused::carve(net.width(depth - 1), stack);
    let widest = widest_input(net);
    let mut z = [stack.take(widest), stack.take(widest)];
    let partial = stack.take(net.transposed_len());
    primal::hidden(net, par, ArrayView1::from(x), &mut sweep);
    // The fused pass leaves W_Lᵀ·φ'(y_L), the adjoint of a_{L−1}, in z[0].
    let (input, slopes) = sweep.last(x);
    let last = &net.layers()[depth - 1];
    let f = last_layer(par, last, input, slopes, Some(&mut *z[0]), &mut fused);
    backward(net, par, &sweep, &mut z, grad, partial);
    f
}

/// (F(x), uᵀ·J(x)) for the vector output F = φ_L(y_L): the hidden layers keeping the
/// slopes, the fused pass over W_L leaving F and W_Lᵀ·ḡ_L for ḡ_L = u ∘ φ'_L(y_L) (W_L
/// read once, as for ∇f), then the reverse sweep. Scratch: [`scratch_len`].
pub(crate) fn vjp<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: &[T],
    u: ArrayView1<T>,
    out: &mut [T],
    uj: ArrayViewMut1<T>,
    stack: &mut Stack<'a, T>,
) {
    let depth = net.depth();
    let mut sweep = Sweep::carve(net, stack);
    let mut fused = Fused::carve(net.width(depth - 1), stack);
    let widest = widest_input(net);
    let mut z = [stack.take(widest), stack.take(widest)];
    primal::hidden(net, par, ArrayView1::from(x), &mut sweep);
    let last = &net.layers()[depth - 1];
    let (input, slopes) = sweep.last(x);
    let rows = Rows {
        coefs: slopes,
        values: Some(out),
    };
    // y ↦ (φ(y), u·φ'(y)), as the forward pass and then ḡ_L = u ∘ φ'(y_L) round them.
    let map = |i0: usize, y: &mut [T], c: &mut [T]| {
        primal::activate_rows(last, i0, y, c);
        // (Indexed: a view of u sliced per group of rows cost the VJP 7–8 % at (100, 105, 95).)
        for (j, c) in c.iter_mut().enumerate() {
            *c = *c * u[i0 + j];
        }
    };
    let w = last.weights.view();
    rows_then_adjoint(par, w, input, rows, Some(&mut *z[0]), &mut fused, map);
    let partial = stack.take(net.transposed_len());
    backward(net, par, &sweep, &mut z, uj, partial);
}

/// Given the adjoint of a_{L−1} (the last layer's input) in `z[0]`, runs the reverse
/// sweep through the hidden layers L−1 … 1 and writes the adjoint of x into `grad`.
fn backward<T: Real>(
    net: &Mlp<T>,
    par: Par,
    sweep: &Sweep<T>,
    z: &mut [&mut [T]; 2],
    mut grad: ArrayViewMut1<T>,
    partial: &mut [T],
) {
    let hidden = &net.layers()[..net.depth() - 1];
    for (k, layer) in hidden.iter().enumerate().rev() {
        let (d_out, d_in) = layer.weights.dim();
        // ḡ_k = φ'_k(y_k) ∘ (adjoint of a_k), then W_kᵀ·ḡ_k.
        let g = &mut z[0][..d_out];
        g.iter_mut()
            .zip(sweep.slopes(k))
            .for_each(|(g, &s)| *g = *g * s);
        let [g, next] = z;
        let g = ArrayView1::from(&g[..d_out]);
        if k == 0 {
            gemv_t(par, layer.weights.view(), g, grad.view_mut(), partial);
            return;
        }
        gemv_t(
            par,
            layer.weights.view(),
            g,
            ArrayViewMut1::from(&mut next[..d_in]),
            partial,
        );
        z.swap(0, 1);
    }
    // One layer only: the fused pass already left W_1ᵀ·φ'(y_1) in z.
    let d0 = grad.len();
    grad.iter_mut().zip(&z[0][..d0]).for_each(|(g, &v)| *g = v);
}

/// Scratch of [`value_and_weight_grads`]: the forward and fused passes, two adjoints
/// as long as the widest layer, and the transposed products'.
pub(crate) fn weight_grads_scratch_len<T: Real>(net: &Mlp<T>) -> usize {
    let widest = (1..=net.depth()).map(|k| net.width(k)).max().unwrap_or(0);
    Sweep::len(net)
        + Fused::<T>::len(net.width(net.depth() - 1))
        + 2 * padded::<T>(widest)
        + net.transposed_len()
}

/// f(x) and ∇ f for every layer's parameters: ∇_{W_k} f = ḡ_k·a_{k−1}ᵀ, the outer
/// product of the adjoint of y_k with the layer's input (a_0 = x), and ∇_{b_k} f = ḡ_k,
/// as `loss.backward()` fills `.grad` in PyTorch. Cost: a reverse sweep plus writing
/// Σ d_k·d_{k−1} values. Returns whether every adjoint ḡ_k was finite (if not, an
/// overflow may have left NaNs).
pub(crate) fn value_and_weight_grads<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: &[T],
    grads: &mut [LayerGrad<T>],
    stack: &mut Stack<'a, T>,
) -> (T, bool) {
    let depth = net.depth();
    let mut sweep = Sweep::carve(net, stack);
    let mut fused = Fused::carve(net.width(depth - 1), stack);
    let widest = (1..=depth).map(|k| net.width(k)).max().unwrap_or(0);
    let (mut g, mut next) = (stack.take(widest), stack.take(widest));
    let partial = stack.take(net.transposed_len());
    let f = primal::value(net, par, x, &mut sweep, &mut fused);
    // ḡ_L = φ'(y_L); then ḡ_{k−1} = φ'(y_{k−1}) ∘ (W_kᵀ·ḡ_k).
    let d_out = net.width(depth);
    g[..d_out].copy_from_slice(sweep.slopes(depth - 1));
    let mut finite = true;
    for (k, layer) in net.layers().iter().enumerate().rev() {
        let (d_out, d_in) = layer.weights.dim();
        let gk = ArrayView1::from(&g[..d_out]);
        finite &= gk.iter().all(|v| v.is_finite());
        let input = sweep.input(ArrayView1::from(x), k);
        outer(par, gk, input, grads[k].weights.view_mut());
        if let Some(db) = &mut grads[k].bias {
            db.assign(&gk);
        }
        if k > 0 {
            let mut n = ArrayViewMut1::from(&mut next[..d_in]);
            gemv_t(par, layer.weights.view(), gk, n.view_mut(), partial);
            n.iter_mut()
                .zip(sweep.slopes(k - 1))
                .for_each(|(v, &s)| *v = *v * s);
            std::mem::swap(&mut g, &mut next);
        }
    }
    (f, finite)
}

/// out = g·aᵀ, rows in parallel when large.
fn outer<T: Real>(
    par: Par,
    g: ArrayView1<T>,
    a: ArrayView1<T>,
    mut out: ndarray::ArrayViewMut2<T>,
) {
    let work = out.len();
    zip_for_each!(
        par,
        work,
        Zip::from(out.axis_iter_mut(Axis(0))).and(&g),
        |mut row: ArrayViewMut1<T>, &gi: &T| row.zip_mut_with(&a, |o, &v| *o = gi * v)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{octets, with_kernel};
    use crate::Activation;
    use ndarray::Array2;

    /// A matrix without rows sums to zero and leaves Wᵀ·c = 0, whatever an earlier
    /// pass left in the scratch (it returned the earlier pass's f and z before).
    #[test]
    fn no_rows_is_an_empty_sum() {
        let d_in = 6;
        let mut stack = vec![0.0f64; Fused::<f64>::len(d_in)];
        let mut st = crate::scratch::Stack::new(&mut stack);
        let mut fused = Fused::carve(d_in, &mut st);
        let map = |_: usize, y: &mut [f64], s: &mut [f64]| Activation::Tanh.apply(y, s);
        let h = vec![0.5; d_in];
        let w = Array2::from_elem((5, d_in), 1.0);
        let (mut slopes, mut z) = (vec![0.0; 5], vec![0.0; d_in]);
        let out = Rows {
            coefs: &mut slopes,
            values: None,
        };
        let f = rows_then_adjoint(Par::Seq, w.view(), &h, out, Some(&mut z), &mut fused, map);
        assert!(f > 0.0 && z.iter().all(|&v| v > 0.0));
        let empty = Array2::<f64>::zeros((0, d_in));
        let out = Rows {
            coefs: &mut [],
            values: Some(&mut []),
        };
        let f = rows_then_adjoint(
            Par::Seq,
            empty.view(),
            &h,
            out,
            Some(&mut z),
            &mut fused,
            map,
        );
        assert_eq!((f, z), (0.0, vec![0.0; d_in]));
    }

    /// Blocks of whole quads (a short last one), at most [`ROW_BLOCKS`], covering the rows,
    /// one below [`MIN_WORK`](crate::par::MIN_WORK) entries.
    #[test]
    fn quad_blocks_cover_the_rows_in_whole_quads() {
        for m in 1..5000 {
            for len in [m, 1 << 16, m * 300] {
                let (blocks, per) = quad_blocks(m, len);
                let case = format!("m = {m}, {len} entries: {blocks} × {per}");
                assert!(per % 4 == 0 && blocks <= ROW_BLOCKS, "{case}");
                assert!((blocks - 1) * per < m && m <= blocks * per, "{case}");
                if len < 1 << 16 {
                    assert_eq!(blocks, 1, "{case}");
                }
            }
        }
    }

    /// The fused pass, in groups, against its parts in the plainest order: each quad's
    /// dots, its map, its update of z (a row at a time past the last quad), block by
    /// block, with the same kernels: the same bits for every count of rows around the
    /// quads and groups, rows short and long enough for one, two and four quads a group
    /// (f64 rows of 600 go eight at a time on AVX-512, [`octets`]; f32's one quad), f32
    /// and f64, with and without the adjoint (with it, the values too, blocks of whole
    /// quads), and a matrix cut into row blocks. The map depends on the row it is given,
    /// so a wrong offset shows too.
    #[test]
    fn the_fused_pass_is_its_parts_in_row_order() {
        assert_eq!([3, 150, 600].map(|d_in| group_quads(8 * d_in)), [4, 2, 1]);
        fn check<T: Real>(m: usize, d_in: usize, adjoint: bool) {
            let w = Array2::from_shape_fn((m, d_in), |(i, j)| {
                T::from_f64(((i * 7 + j * 3) as f64).sin())
            });
            let h: Vec<T> = (0..d_in)
                .map(|j| T::from_f64((j as f64 * 0.3).cos()))
                .collect();
            let map = |i0: usize, y: &mut [T], s: &mut [T]| {
                for (j, y) in y.iter_mut().enumerate() {
                    *y = *y + T::from_f64(0.01 * (i0 + j) as f64);
                }
                Activation::Sigmoid.apply(y, s)
            };
            let mut stack = vec![T::zero(); Fused::<T>::len(d_in)];
            let mut st = crate::scratch::Stack::new(&mut stack);
            let mut fused = Fused::carve(d_in, &mut st);
            // (f, slopes, z, values) of the pass over `w`; the values only with the
            // adjoint (both ways of calling it, the values the same bits).
            let mut pass = |w: ndarray::ArrayView2<T>| {
                let (mut slopes, mut z) = (vec![T::zero(); m], vec![T::zero(); d_in]);
                let mut values = vec![T::zero(); m];
                let out = Rows {
                    coefs: &mut slopes,
                    values: adjoint.then_some(&mut values[..]),
                };
                let z_out = adjoint.then_some(&mut z[..]);
                let f = rows_then_adjoint(Par::Seq, w, &h, out, z_out, &mut fused, map);
                (f, slopes, z, values)
            };
            let (f, slopes, z, values) = pass(w.view());
            // W with its rows on lines (a network's layout): the same bits.
            let lined = crate::memory::copy_on_lines(w.view()).unwrap();
            let (lined_f, lined_s, lined_z, _) = pass(lined.view());
            let (blocks, per) = match adjoint {
                true => quad_blocks(m, m * d_in),
                false => row_blocks(m, m * d_in, 1),
            };
            let (mut want_f, mut want_s) = (T::zero(), vec![T::zero(); m]);
            let mut want_v = vec![T::zero(); m];
            let mut parts = vec![vec![T::zero(); d_in]; blocks];
            with_kernel!(|k| {
                let row = |i: usize| w.row(i).to_slice().unwrap();
                for (b, part) in parts.iter_mut().enumerate() {
                    let (r0, r1) = (b * per, ((b + 1) * per).min(m));
                    let quads = r0 + (r1 - r0) / 4 * 4;
                    let mut f = T::zero();
                    for i in (r0..quads).step_by(4) {
                        let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                        let mut y = k.dot4(r, &h);
                        let mut s = [T::zero(); 4];
                        map(i, &mut y, &mut s);
                        f = y.iter().fold(f, |f, &v| f + v);
                        want_s[i..i + 4].copy_from_slice(&s);
                        want_v[i..i + 4].copy_from_slice(&y);
                        k.axpy4(s, r, part);
                    }
                    for i in quads..r1 {
                        let (mut y, mut s) = ([k.dot(row(i), &h)], [T::zero()]);
                        map(i, &mut y, &mut s);
                        f = f + y[0];
                        (want_s[i], want_v[i]) = (s[0], y[0]);
                        k.axpy(s[0], row(i), part);
                    }
                    want_f = want_f + f;
                }
            });
            let bits = |v: &[T]| v.iter().map(|x| x.as_f64().to_bits()).collect::<Vec<_>>();
            let case = format!("{m}×{d_in}, adjoint {adjoint}, {blocks} blocks");
            assert_eq!(f.as_f64().to_bits(), want_f.as_f64().to_bits(), "f, {case}");
            assert_eq!(bits(&slopes), bits(&want_s), "slopes, {case}");
            let on_lines = (lined_f.as_f64().to_bits(), bits(&lined_s), bits(&lined_z));
            assert_eq!(
                on_lines,
                (f.as_f64().to_bits(), bits(&slopes), bits(&z)),
                "{case}"
            );
            if adjoint {
                let want_z = parts.iter().skip(1).fold(parts[0].clone(), |mut z, p| {
                    z.iter_mut().zip(p).for_each(|(z, &p)| *z = *z + p);
                    z
                });
                assert_eq!(bits(&z), bits(&want_z), "z, {case}");
                assert_eq!(bits(&values), bits(&want_v), "values, {case}");
            }
        }
        // Rows in one block, then 300 × 300 in blocks of 19 rows (20 with the values:
        // whole quads), and 303 rows.
        for m in 0..42 {
            for d_in in [3, 150, 600] {
                for adjoint in [true, false] {
                    check::<f64>(m, d_in, adjoint);
                    check::<f32>(m, d_in, adjoint);
                }
            }
        }
        for m in [300, 303] {
            for adjoint in [true, false] {
                check::<f64>(m, 300, adjoint);
                check::<f32>(m, 300, adjoint);
            }
        }
        // Past MIN_WORK entries the rows are cut into blocks, each from its own offset.
        assert!(row_blocks(701, 701 * 100, 1).0 > 1);
        check::<f64>(701, 100, true);
        check::<f32>(701, 100, true);
        // Long rows eight at a time in blocks whose rows are not whole octets, with a
        // masked tail (f32's kernels keep quads there).
        assert!(octets::<f64>(515, 515) && octets::<f32>(1030, 1030));
        let (blocks, per) = quad_blocks(701, 701 * 515);
        assert!(
            blocks > 1 && !per.is_multiple_of(8),
            "{blocks} blocks of {per}"
        );
        for adjoint in [true, false] {
            check::<f64>(701, 515, adjoint);
            check::<f32>(203, 1030, adjoint);
        }
    }
}
