//! Second derivatives of f = ΣF: Hessian-vector products by forward-over-reverse.
//!
//! The reverse sweep ḡ_L = φ'_L(y_L), ḡ_{k−1} = φ'_{k−1}(y_{k−1}) ∘ (W_kᵀ·ḡ_k),
//! ∇f = W_1ᵀ·ḡ_1, differentiated along a direction v (tangents ẏ_k from forward mode's
//! tangent sweep, ẏ_k = W_k·(φ'_{k−1}(y_{k−1}) ∘ ẏ_{k−1}), ẏ_0 = v) gives
//!
//! ```text
//! ġ_L     = φ''_L(y_L) ∘ ẏ_L
//! ġ_{k−1} = φ'_{k−1} ∘ (W_kᵀ·ġ_k) + φ''_{k−1} ∘ ẏ_{k−1} ∘ (W_kᵀ·ḡ_k)
//! ∇²f·v   = W_1ᵀ·ġ_1
//! ```
//!
//! With w directions at once every product is one product over [ḡ | Ġ] (1 + w columns),
//! so W_k is read once per sweep: the Hessian is d0 directions in panels.

use crate::backend::gemm_t_few;
use crate::forward::{
    by_chunks, column_major, column_major_mut, down_column, each_tangent, map_panel, next_input,
    panel, panel_mut, tangent_layer, widest, Product, CHUNK,
};
use crate::guard::Trust;
use crate::scratch::{padded, panel_width_or_refuse, Stack};
use crate::wide::Primal;
use crate::{Mlp, Par, Real, Result};
use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

/// Scratch of [`hvps`] for `w` directions: every layer's [y | Ẏ], two working
/// matrices, the transposed products' blocks, and [`RESERVED`] more for the hidden
/// layers' σ'.
pub(crate) fn hvps_scratch_len<T: Real>(net: &Mlp<T>, w: usize) -> usize {
    let c = 1 + w;
    padded::<T>(net.offsets()[net.depth()] * c) + (3 + RESERVED) * padded::<T>(widest(net) * c)
}

/// Two working matrices' worth of values: [`hvps`] keeps in them the φ' of as many
/// hidden layers as fit (four of the widest at least) and evaluates the rest again.
/// Two because the widths of Hessian panels under a budget, so their GEMMs' bits, were
/// recorded with this count (the few-column products once copied their inputs there).
const RESERVED: usize = 2;

/// ∇f(x) into `grad` and ∇²f(x)·V into `hv` for the columns of V (d0×w).
pub(crate) fn hvps<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: ArrayView1<T>,
    v: ArrayView2<T>,
    mut grad: ArrayViewMut1<T>,
    mut hv: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) {
    let (layers, depth, offsets) = (net.layers(), net.depth(), net.offsets());
    let c = 1 + v.ncols();
    let widest = widest(net);
    let qs = stack.take(offsets[depth] * c);
    let (mut g_buf, mut a_buf) = (stack.take(widest * c), stack.take(widest * c));
    let blocks = &mut *stack.take(widest * c);
    // φ'_k of the hidden layers whose φ''_k follows from it, kept from the tangent sweep
    // for the reverse one, as many layers as the reserved values hold (c ≥ 2: four of
    // the widest at least).
    let kept_slopes = &mut *stack.take(RESERVED * padded::<T>(widest * c));
    let room = kept_slopes.len();
    let keeps = |k: usize| offsets[k + 1] <= room && layers[k].activation.curvature_from_slope();
    // The tangent sweep, keeping every layer's Q_k = [y_k | Ẏ_k] (layer k at
    // offsets[k]·c, laid out as a `panel`); its input [a_{k−1} | Ȧ_{k−1}] in `a_buf`,
    // the first column-major whatever c (a GEMM rounds by its operands' layout: this is
    // the layout results were recorded with, docs/measured.md).
    let d0 = net.width(0);
    let mut first = ArrayViewMut2::from_shape((c, d0), &mut a_buf[..c * d0]).expect("fits");
    first.row_mut(0).assign(&x);
    first.slice_mut(s![1.., ..]).assign(&v.t());
    for (k, layer) in layers.iter().enumerate() {
        let (d_out, d_in) = layer.weights.dim();
        let input = match k {
            0 => ArrayView2::from_shape((c, d0), &a_buf[..c * d0])
                .expect("fits")
                .reversed_axes(),
            _ => panel(a_buf, d_in, c),
        };
        let mut q = panel_mut(&mut qs[offsets[k] * c..offsets[k + 1] * c], d_out, c);
        let product = Product::Columns(&mut *blocks);
        tangent_layer(par, layer, product, input, q.view_mut());
        if k + 1 < depth {
            let keep = keeps(k).then(|| &mut kept_slopes[offsets[k]..offsets[k + 1]]);
            next_input(layer.activation, q.view(), panel_mut(a_buf, d_out, c), keep);
        }
    }
    let q_k = |k: usize| panel(&qs[offsets[k] * c..], offsets[k + 1] - offsets[k], c);
    // [ḡ_L | Ġ_L] = [φ'_L(y_L) | φ''_L(y_L) ∘ Ẏ_L].
    let q = q_k(depth - 1);
    let act = layers[depth - 1].activation;
    let g = panel_mut(g_buf, q.nrows(), c);
    map_panel(q, g, |t, s, v| act.slopes_and_curvatures(t, s, v));
    for k in (0..depth).rev() {
        // [W_kᵀ·ḡ_k | W_kᵀ·Ġ_k]
        let w = layers[k].weights.view();
        let (d_out, d_in) = w.dim();
        let mut a = panel_mut(a_buf, d_in, c);
        gemm_t_few(par, w, panel(g_buf, d_out, c), a.view_mut(), blocks);
        if k == 0 {
            grad.assign(&a.column(0));
            hv.assign(&a.slice(s![.., 1..]));
            return;
        }
        // [ḡ_{k−1} | Ġ_{k−1}] in place, φ' and φ'' in the spent [ḡ_k | Ġ_k].
        let act = layers[k - 1].activation;
        let q = q_k(k - 1);
        let kept = keeps(k - 1).then(|| &kept_slopes[offsets[k - 1]..offsets[k]]);
        let mut at = 0;
        let eval = |t: &[T], s: &mut [T], c: &mut [T]| {
            match kept {
                Some(kept) => {
                    s.copy_from_slice(&kept[at..at + t.len()]);
                    act.curvatures_given_slopes(t, s, c);
                }
                None => act.slopes_and_curvatures(t, s, c),
            }
            at += t.len();
        };
        adjoint_step(q, a, g_buf, eval);
        std::mem::swap(&mut g_buf, &mut a_buf);
    }
}

/// One step of the differentiated reverse sweep, in place: A = [W_kᵀ·ḡ_k | W_kᵀ·Ġ_k]
/// becomes [ḡ_{k−1} | Ġ_{k−1}],
///
/// ```text
/// ḡ_{k−1} = φ' ∘ (W_kᵀ·ḡ_k)
/// ġ_{k−1} = φ' ∘ (W_kᵀ·ġ_k) + φ'' ∘ ẏ_{k−1} ∘ (W_kᵀ·ḡ_k)   (each tangent column)
/// ```
///
/// from Q = [y | Ẏ] of layer k − 1, where `eval(y, s, c)` gives φ'(y) and φ''(y) of
/// its y's (once each, in order). Panels by columns with a tangent take φ' and φ'' into
/// `spare` (2·d values), the tangents down their columns, then ḡ (which they read);
/// other panels go by chunks of rows.
pub(crate) fn adjoint_step<T: Real>(
    q: ArrayView2<T>,
    mut a: ArrayViewMut2<T>,
    spare: &mut [T],
    mut eval: impl FnMut(&[T], &mut [T], &mut [T]),
) {
    debug_assert_eq!(q.dim(), a.dim(), "A has Q's shape");
    let (d, c) = q.dim();
    // ġ from its W_kᵀ·ġ_k, ẏ, φ', φ'' and W_kᵀ·ḡ_k.
    let tangent = |t: &mut T, yd: T, [d, curv, adj]: [T; 3]| *t = d * *t + curv * yd * adj;
    if let (true, Some(q), Some(a)) = (
        d > 0 && c >= 2,
        column_major(q),
        column_major_mut(a.view_mut()),
    ) {
        let (slopes, curvatures) = spare[..2 * d].split_at_mut(d);
        eval(&q[..d], slopes, curvatures);
        let (adjoint, tangents) = a.split_at_mut(d);
        for (t, yd) in tangents.chunks_mut(d).zip(q[d..].chunks(d)) {
            down_column(t, yd, [slopes, curvatures, adjoint], tangent);
        }
        adjoint
            .iter_mut()
            .zip(slopes)
            .for_each(|(g, &mut d)| *g = d * *g);
        return;
    }
    by_chunks(q.column(0), eval, |rows, slopes, curvatures| {
        let mut a = a.slice_mut(s![rows.clone(), ..]);
        let mut adjoint = [T::zero(); CHUNK];
        let adjoint = &mut adjoint[..rows.len()];
        ArrayViewMut1::from(&mut *adjoint).assign(&a.column(0));
        Zip::from(a.column_mut(0))
            .and(slopes)
            .and(&*adjoint)
            .for_each(|g, &d, &adj| *g = d * adj);
        let (a, q) = (a.slice_mut(s![.., 1..]), q.slice(s![rows, 1..]));
        each_tangent(a, q, [slopes, curvatures, adjoint], tangent);
    });
}

/// The panel width for `columns` directions within `budget` bytes, and its scratch:
/// per panel of w directions, the directions and results (d0·w) and the sweeps'
/// tangents and working columns ([`hvps_scratch_len`]); one d0 vector beside them.
fn panel_size<T: Real>(net: &Mlp<T>, budget: usize, columns: usize) -> Result<(usize, usize)> {
    let d0 = net.width(0);
    let size = std::mem::size_of::<T>();
    let panel_len = |w: usize| padded::<T>(d0 * w) + padded::<T>(hvps_scratch_len(net, w));
    let width = panel_width_or_refuse(columns, size, budget, panel_len, |v| {
        format!("one Hessian panel column ({v} values)")
    })?;
    Ok((width, panel_len(width) + padded::<T>(d0)))
}

/// Scratch of [`hessian_times`] for `columns` directions within `budget` bytes of panels.
pub(crate) fn hessian_scratch_len<T: Real>(
    net: &Mlp<T>,
    budget: usize,
    columns: usize,
) -> Result<usize> {
    Ok(panel_size(net, budget, columns)?.1)
}

/// ∇²f(x)·V into `out` (d0×k) for the columns of `v` — of I where `v` is `None` (the
/// Hessian) — in panels within `budget` bytes (each panel's products share one sweep).
#[allow(clippy::too_many_arguments)]
pub(crate) fn hessian_times<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: ArrayView1<T>,
    v: Option<ArrayView2<T>>,
    budget: usize,
    mut out: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) -> Result<()> {
    let (d0, k) = (net.width(0), out.ncols());
    let (width, _) = panel_size(net, budget, k.max(1))?;
    let (buf, grad) = (stack.take(d0 * width), stack.take(d0));
    let rest = stack.take(hvps_scratch_len(net, width));
    for c0 in (0..k).step_by(width) {
        let w = width.min(k - c0);
        let mut panel = ArrayViewMut2::from_shape((d0, w), &mut buf[..d0 * w]).expect("fits");
        match v {
            Some(v) => panel.assign(&v.slice(s![.., c0..c0 + w])),
            None => {
                panel.fill(T::zero());
                (0..w).for_each(|j| panel[[c0 + j, j]] = T::one());
            }
        }
        let mut panel_stack = Stack::new(&mut *rest);
        hvps(
            net,
            par,
            x,
            panel.view(),
            ArrayViewMut1::from(&mut *grad),
            out.slice_mut(s![.., c0..c0 + w]),
            &mut panel_stack,
        );
    }
    Ok(())
}

/// The wide path of a many-direction HVP call ([`Mlp::hvp_many`], `HessianAt::apply_many`):
/// the columns of ∇²f·V the fast pass did not give to within the guard's trust (all of
/// them where it did not run) are redone in wide range, one direction at a time.
pub(crate) fn redo_columns<T: Real>(
    ran: Option<()>,
    out: &mut Array2<T>,
    wide: &Primal<T>,
    trust: Trust,
    v: ArrayView2<T>,
) {
    if ran.is_none() {
        out.fill(T::nan());
    }
    for c in 0..v.ncols() {
        if !trust.all(out.column(c).view()) {
            out.column_mut(c).assign(&wide.hvp(v.column(c)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::FEW;
    use crate::scratch::{carves_exactly, Scratch};
    use crate::Activation;
    use ndarray::ShapeBuilder;

    /// `adjoint_step` gives the formulas' bits on panels by columns (φ', φ'' in the
    /// spare values) and by rows (by chunks), across chunk edges, with one column and
    /// with many; `eval` sees each y once, in order (as an HVP's kept σ' need).
    #[test]
    fn the_adjoint_step_is_the_same_by_columns_and_by_rows() {
        let d1 = |t: f64| t.cos() * 1.5;
        let d2 = |t: f64| (t * 0.5).sin() - 0.25;
        for d in [1, 127, CHUNK, CHUNK + 1, 300] {
            for c in [1, 2, FEW, FEW + 1] {
                let q = Array2::from_shape_fn((d, c), |(i, j)| (i as f64 * 0.37 - j as f64).tan());
                let a0 = Array2::from_shape_fn((d, c), |(i, j)| (i as f64 * 0.11 + j as f64).sin());
                let want = Array2::from_shape_fn((d, c), |(i, j)| {
                    let (t, adj) = (q[[i, 0]], a0[[i, 0]]);
                    match j {
                        0 => d1(t) * adj,
                        _ => d1(t) * a0[[i, j]] + d2(t) * q[[i, j]] * adj,
                    }
                });
                for f in [false, true] {
                    let (mut ql, mut a) = (
                        Array2::zeros((d, c).set_f(f)),
                        Array2::zeros((d, c).set_f(f)),
                    );
                    ql.assign(&q);
                    a.assign(&a0);
                    let mut spare = vec![f64::NAN; 2 * d];
                    let mut at = 0;
                    adjoint_step(ql.view(), a.view_mut(), &mut spare, |t, s, cv| {
                        for (i, &t) in t.iter().enumerate() {
                            assert_eq!(t.to_bits(), q[[at + i, 0]].to_bits(), "y in order");
                            (s[i], cv[i]) = (d1(t), d2(t));
                        }
                        at += t.len();
                    });
                    assert_eq!(at, d, "every y once");
                    let same = a.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{d}×{c}, by columns {f}");
                }
            }
        }
    }

    /// An HVP keeps the logistic layers' σ' from its tangent sweep as far as the
    /// reserved values hold them and evaluates the rest again: on a network deep enough
    /// for both, its layers σ, tanh and softplus in turn, ∇²f·v agrees with central
    /// differences of ∇f (h = 1e-5: within 1e-7 of the largest entry, where a layer's σ'
    /// taken for another's is off by its own size). That the kept σ' give σ'' the bits
    /// evaluating them again gives is `activation.rs`'s test.
    #[test]
    fn an_hvp_keeps_the_slopes_that_fit_and_evaluates_the_rest() {
        let acts = [Activation::Sigmoid, Activation::Tanh, Activation::Softplus];
        let layers = (0..8).map(|k| {
            let w = crate::random::standard_normal::<f64>(12, 12, k as u64, 0).unwrap();
            (w * 0.6, acts[k % 3])
        });
        let net = Mlp::new(layers).unwrap();
        let room = RESERVED * padded::<f64>(12 * 2);
        let hidden = &net.offsets()[1..net.depth()];
        let kept = |k: usize| hidden[k] <= room && net.layers()[k].activation == acts[0];
        assert!(kept(0) && kept(3) && !kept(6), "kept and evaluated again");
        let x = crate::random::standard_normal_vector::<f64>(12, 1).unwrap();
        let v = crate::random::standard_normal_vector::<f64>(12, 2).unwrap();
        let (_, hv) = net.hvp(x.view(), v.view()).unwrap();
        let h = 1e-5;
        let grad = |x: ndarray::Array1<f64>| net.value_and_grad(x.view(), crate::Mode::Reverse);
        let (_, up) = grad(&x + &(&v * h)).unwrap();
        let (_, down) = grad(&x - &(&v * h)).unwrap();
        let fd = (up - down) / (2.0 * h);
        let largest = fd.iter().fold(0.0_f64, |m, e| m.max(e.abs()));
        let err = (&hv - &fd).iter().fold(0.0_f64, |m, e| m.max(e.abs()));
        assert!(
            largest > 1e-6 && err <= 1e-7 * largest,
            "{err:e} of {largest:e}"
        );
    }

    /// Forward mode's and the Hessian's executors carve exactly what their panels were
    /// sized by, for random shapes and budgets (a carve past the count panics; one short
    /// of it leaves values), and a refusal means one column does not fit.
    #[test]
    fn forward_mode_and_hessians_carve_exactly_what_their_panels_were_sized_by() {
        let mut rng = crate::random::Lcg(9);
        let mut below = |n: usize| rng.below(n);
        let mut run = 0;
        for case in 0..150 {
            let depth = 1 + below(4);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + below(60)).collect();
            let budget = 64 + below(80_000);
            let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, case as u64).unwrap();
            let x = ndarray::Array1::from_elem(widths[0], 0.2);
            let len = crate::forward::grad_scratch_len(&net, budget);
            let ran = carves_exactly(&mut Scratch::new(), len, budget, |stack| {
                let (xs, mut g) = (x.as_slice().unwrap(), ndarray::Array1::zeros(widths[0]));
                crate::forward::value_and_grad(&net, Par::Seq, xs, budget, g.view_mut(), stack)
                    .unwrap();
            });
            run += usize::from(ran);
            for k in [1, 3, widths[0]] {
                let len = hessian_scratch_len(&net, budget, k);
                let ran = carves_exactly(&mut Scratch::new(), len, budget, |stack| {
                    let mut out = Array2::zeros((widths[0], k));
                    let v = Array2::from_elem((widths[0], k), 0.5);
                    let v = (k != widths[0]).then(|| v.view());
                    hessian_times(&net, Par::Seq, x.view(), v, budget, out.view_mut(), stack)
                        .unwrap();
                });
                run += usize::from(ran);
            }
        }
        assert!(run > 300, "only {run} calls ran");
    }
}
