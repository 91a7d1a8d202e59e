//! Reverse mode: the Jacobian chain accumulated from the output side, every product a
//! matrix-vector one.
//!
//! For f = Σφ_L(y_L), y_k = W_k·φ_{k−1}(y_{k−1}): the adjoint of y_L is ḡ_L = φ'_L(y_L),
//! then ḡ_{k−1} = φ'_{k−1}(y_{k−1}) ∘ (W_kᵀ·ḡ_k), and ∇f = W_1ᵀ·ḡ_1. Cost
//! 2·Σ d_k·d_{k−1} multiply-adds with the primal pass, bound by memory traffic: each W_k
//! is read twice (W_k·a, then W_kᵀ·ḡ), except W_L, read **once**: row i of W_L gives
//! y_L,i, hence φ'(y_L,i) and its share φ'(y_L,i)·W_L\[i,:\] of W_Lᵀ·φ'(y_L) while the row
//! is still in cache (PyTorch and JAX read it twice). For the two-layer network that is
//! ∇f = Aᵀ·(σ'(y1) ∘ (Bᵀ·σ'(y2))).

use crate::linalg::gemv_t;
use crate::primal::{evaluate, output};
use crate::{Layer, Real, Workspace};
use ndarray::{Array1, Array2, ArrayView1, ArrayViewMut1, Axis, Zip};

/// f(x), with ∇f(x) written to `grad`, by reverse accumulation. Shapes are the caller's
/// to check.
pub(crate) fn value_and_grad<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
    grad: ArrayViewMut1<T>,
) -> T {
    let f = evaluate(layers, x, ws, true);
    // ws.z[0] holds W_Lᵀ·φ'(y_L), the adjoint of φ(y_{L−1}).
    backward(&layers[..layers.len() - 1], ws, grad);
    f
}

/// (F(x), uᵀ·J(x)) for the vector output F = φ_L(y_L): one forward sweep storing the
/// slopes, one reverse sweep from ḡ_L = u ∘ φ'_L(y_L).
pub(crate) fn vjp<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    u: ArrayView1<T>,
    ws: &mut Workspace<T>,
) -> (Array1<T>, Array1<T>) {
    let depth = layers.len();
    let last = &layers[depth - 1];
    let mut s_last = std::mem::take(&mut ws.s[depth - 1]);
    let out = output(layers, x, ws, Some(&mut s_last));
    // ḡ_L = u ∘ φ'(y_L), then W_Lᵀ·ḡ_L into z[0].
    s_last.zip_mut_with(&u, |s, &u| *s = *s * u);
    let d_in = last.weights.ncols();
    let mut z = std::mem::take(&mut ws.z[0]);
    gemv_t(
        last.weights.view(),
        s_last.view(),
        ArrayViewMut1::from(&mut z[..d_in]),
    );
    ws.z[0] = z;
    ws.s[depth - 1] = s_last;
    let mut uj = Array1::zeros(layers[0].weights.ncols());
    backward(&layers[..depth - 1], ws, uj.view_mut());
    (out, uj)
}

/// Given the adjoint of the output of `layers` (the hidden layers 1 … m) in `ws.z[0]`,
/// runs the reverse sweep through them and writes the adjoint of x into `grad`.
fn backward<T: Real>(layers: &[Layer<T>], ws: &mut Workspace<T>, mut grad: ArrayViewMut1<T>) {
    let [z, next] = &mut ws.z;
    for k in (0..layers.len()).rev() {
        let (d_out, d_in) = layers[k].weights.dim();
        // ḡ_k = φ'_k(y_k) ∘ (adjoint of φ(y_k)), then W_kᵀ·ḡ_k.
        let g = &mut z[..d_out];
        g.iter_mut().zip(&ws.s[k]).for_each(|(g, &s)| *g = *g * s);
        let g = ArrayView1::from(&z[..d_out]);
        if k == 0 {
            gemv_t(layers[k].weights.view(), g, grad.view_mut());
            return;
        }
        gemv_t(
            layers[k].weights.view(),
            g,
            ArrayViewMut1::from(&mut next[..d_in]),
        );
        std::mem::swap(z, next);
    }
    // One layer only: the fused pass already left Wᵀ·φ'(y) in z.
    grad.iter_mut().zip(z.iter()).for_each(|(g, &v)| *g = v);
}

/// f(x) and ∇_{W_k} f for every layer: ∇_{W_k} f = ḡ_k·a_{k−1}ᵀ, the outer product of
/// the adjoint of y_k with the layer's input (a_0 = x), as `loss.backward()` fills
/// `W.grad`. Cost: a reverse sweep plus writing Σ d_k·d_{k−1} values. The flag says
/// whether every adjoint ḡ_k was finite (if not, an overflow may have left NaNs).
pub(crate) fn value_and_weight_grads<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
) -> (T, Vec<Array2<T>>, bool) {
    let depth = layers.len();
    let f = evaluate(layers, x, ws, false);
    let mut grads: Vec<Array2<T>> = layers
        .iter()
        .map(|l| Array2::zeros(l.weights.dim()))
        .collect();
    // ḡ_L = φ'(y_L); then ḡ_{k−1} = φ'(y_{k−1}) ∘ (W_kᵀ·ḡ_k).
    let mut g = ws.s[depth - 1].clone();
    let mut finite = true;
    for k in (0..depth).rev() {
        finite &= g.iter().all(|v| v.is_finite());
        let input = if k == 0 { x } else { ws.h[k - 1].view() };
        outer(g.view(), input, &mut grads[k]);
        if k > 0 {
            let mut next = Array1::zeros(layers[k].weights.ncols());
            gemv_t(layers[k].weights.view(), g.view(), next.view_mut());
            next.zip_mut_with(&ws.s[k - 1], |v, &s| *v = *v * s);
            g = next;
        }
    }
    (f, grads, finite)
}

/// out = g·aᵀ, rows in parallel when large.
fn outer<T: Real>(g: ArrayView1<T>, a: ArrayView1<T>, out: &mut Array2<T>) {
    let parallel = out.len() >= crate::diagonal::PARALLEL_MIN;
    let zip = Zip::from(out.axis_iter_mut(Axis(0))).and(&g);
    let f = |mut row: ndarray::ArrayViewMut1<T>, &gi: &T| row.zip_mut_with(&a, |o, &v| *o = gi * v);
    if parallel {
        zip.par_for_each(f)
    } else {
        zip.for_each(f)
    }
}
