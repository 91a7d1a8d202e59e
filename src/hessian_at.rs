//! ∇²f at one point as a linear map, as `jax.linearize` gives it: the sweeps at x run
//! once, keeping per layer φ'_k(y_k), φ''_k(y_k) and the adjoint z_k = W_{k+1}ᵀ·ḡ_{k+1}
//! of a_k; each product is then one tangent sweep and its reverse,
//!
//!   ẏ_1 = W_1·v,   ẏ_k = W_k·(φ'_{k−1} ∘ ẏ_{k−1}),
//!   Ġ_L = φ''_L ∘ ẏ_L,   Ġ_{k−1} = φ'_{k−1} ∘ (W_kᵀ·Ġ_k) + φ''_{k−1} ∘ ẏ_{k−1} ∘ z_{k−1},
//!   ∇²f·v = W_1ᵀ·Ġ_1,
//!
//! reading every W_k twice except W_L, read once: its row i gives ẏ_L,i, hence Ġ_L,i and
//! its share Ġ_L,i·W_L\[i,:\] of W_Lᵀ·Ġ_L while the row is in cache (reverse mode's fused
//! pass). That is 2·Σ|W_k| − |W_L| bytes per product, the least an HVP reads, where
//! [`Mlp::hvp`] reads 2·Σ|W_k| and redoes the primal each time. Krylov methods, which
//! multiply by one Hessian many times, use it.

use crate::backend::{gemm, gemv, gemv_t};
use crate::guard::{guarded, Terms};
use crate::hessian::redo_columns;
use crate::mlp::{check_finite, check_shape};
use crate::reverse::{rows_then_adjoint, Fused, Rows};
use crate::scratch::{padded, Scratch};
use crate::{Call, Mlp, Par, Real, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};

/// ∇²f(x) for one x, ready to multiply vectors ([`Mlp::hessian_at`]).
#[derive(Debug)]
pub struct HessianAt<'n, T: Real> {
    net: &'n Mlp<T>,
    x: Array1<T>,
    /// φ'_k(y_k), layer k = 1 … L at index k − 1.
    slopes: Vec<Vec<T>>,
    /// φ''_k(y_k).
    curvatures: Vec<Vec<T>>,
    /// z_k, the adjoint of a_k, for the hidden layers k = 1 … L−1.
    adjoints: Vec<Vec<T>>,
}

impl<T: Real> Mlp<T> {
    /// ∇²f(x) as a linear map: one forward and one reverse sweep now (about a
    /// gradient's cost), then each [`apply`](HessianAt::apply) costs the least memory
    /// traffic an HVP can (see the module). Its products are [`hvp`](Self::hvp)'s to
    /// rounding, with the same guarantees on huge entries.
    pub fn hessian_at(&self, x: ArrayView1<T>) -> Result<HessianAt<'_, T>> {
        self.check_input("x", x)?;
        let (depth, par) = (self.depth(), self.par());
        let layers = self.layers();
        let (mut slopes, mut curvatures) = (Vec::with_capacity(depth), Vec::new());
        let mut a = x.to_owned();
        for layer in layers {
            let mut y = Array1::zeros(layer.weights.nrows());
            gemv(par, layer.weights.view(), a.view(), y.view_mut());
            if let Some(b) = &layer.bias {
                y.zip_mut_with(b, |y, &b| *y = *y + b);
            }
            let act = layer.activation;
            let (values, s): (Vec<T>, Vec<T>) = y.iter().map(|&t| act.value_and_slope(t)).unzip();
            curvatures.push(y.iter().map(|&t| act.curvature(t)).collect());
            slopes.push(s);
            a = Array1::from(values);
        }
        // ḡ_L = φ'_L(y_L); z_{k−1} = W_kᵀ·ḡ_k, ḡ_{k−1} = φ'_{k−1} ∘ z_{k−1}.
        let (len, mut scratch) = (self.transposed_len(), Scratch::new());
        let partial = scratch.stack(len)?.take(len);
        let mut adjoints = vec![Vec::new(); depth - 1];
        let mut g = slopes[depth - 1].clone();
        for k in (1..depth).rev() {
            let mut z = Array1::zeros(layers[k].weights.ncols());
            gemv_t(
                par,
                layers[k].weights.view(),
                ArrayView1::from(&g),
                z.view_mut(),
                partial,
            );
            g = z.iter().zip(&slopes[k - 1]).map(|(&z, &s)| z * s).collect();
            adjoints[k - 1] = z.to_vec();
        }
        Ok(HessianAt {
            net: self,
            x: x.to_owned(),
            slopes,
            curvatures,
            adjoints,
        })
    }
}

impl<T: Real> HessianAt<'_, T> {
    /// ∇²f(x)·v (d0 entries).
    pub fn apply(&self, v: ArrayView1<T>) -> Result<Array1<T>> {
        let mut out = Array1::zeros(self.net.width(0));
        let par = self.net.par();
        self.net
            .pooled(|scratch| self.apply_into(v, out.view_mut(), par, scratch))?;
        Ok(out)
    }

    /// [`apply`](Self::apply) into `out`, with the caller's scratch (sized by
    /// [`Mlp::scratch_len`]`(Call::HessianAt)`) and [`Par`].
    pub fn apply_into(
        &self,
        v: ArrayView1<T>,
        mut out: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        let net = self.net;
        net.check_input("v", v)?;
        let d0 = net.width(0);
        check_shape("∇²f·v", out.shape(), &[d0])?;
        let mut stack = scratch.stack(net.scratch_len(Call::HessianAt)?)?;
        let (layers, depth) = (net.layers(), net.depth());
        let (widest, hidden) = vector_lengths(net);
        par.install(|| {
            guarded(
                layers,
                par,
                self.x.view(),
                Terms::along(2, v),
                &mut out,
                |out| {
                    let dots = stack.take(hidden);
                    let (t, acc) = (stack.take(widest), stack.take(widest));
                    let coefs = stack.take(net.width(depth));
                    let mut fused = Fused::carve(net.width(depth - 1), &mut stack);
                    let partial = stack.take(net.transposed_len());
                    // The tangent sweep: ẏ_k kept, t = φ'_k ∘ ẏ_k carried up.
                    t[..d0].iter_mut().zip(&v).for_each(|(t, &v)| *t = v);
                    let mut at = 0;
                    for (k, layer) in layers[..depth - 1].iter().enumerate() {
                        let (d_out, d_in) = layer.weights.dim();
                        let ydot = &mut dots[at..at + d_out];
                        let input = ArrayView1::from(&t[..d_in]);
                        gemv(
                            par,
                            layer.weights.view(),
                            input,
                            ArrayViewMut1::from(&mut *ydot),
                        );
                        t[..d_out]
                            .iter_mut()
                            .zip(&*ydot)
                            .zip(&self.slopes[k])
                            .for_each(|((t, &y), &s)| *t = s * y);
                        at += d_out;
                    }
                    // W_L once: Ġ_L,i = φ''_L,i·ẏ_L,i and W_Lᵀ·Ġ_L into acc.
                    let (last, d_in) = (&layers[depth - 1], net.width(depth - 1));
                    let c = &self.curvatures[depth - 1];
                    rows_then_adjoint(
                        par,
                        last.weights.view(),
                        &t[..d_in],
                        Rows {
                            coefs,
                            values: None,
                        },
                        Some(&mut acc[..d_in]),
                        &mut fused,
                        |i0, ydot: &mut [T], coef: &mut [T]| {
                            for ((y, coef), &c) in ydot.iter_mut().zip(coef).zip(&c[i0..]) {
                                *coef = c * *y;
                                *y = T::zero();
                            }
                        },
                    );
                    // The reverse sweep: Ġ_k = φ'_k ∘ acc + φ''_k ∘ ẏ_k ∘ z_k, acc = W_kᵀ·Ġ_k.
                    for k in (0..depth - 1).rev() {
                        let (d_out, d_in) = layers[k].weights.dim();
                        at -= d_out;
                        let ydot = &dots[at..at + d_out];
                        let (s, c, z) = (&self.slopes[k], &self.curvatures[k], &self.adjoints[k]);
                        let terms = acc.iter().zip(ydot).zip(s).zip(c).zip(z);
                        for (t, ((((&a, &y), &s), &c), &z)) in t.iter_mut().zip(terms) {
                            *t = s * a + c * y * z;
                        }
                        let g = ArrayView1::from(&t[..d_out]);
                        gemv_t(
                            par,
                            layers[k].weights.view(),
                            g,
                            ArrayViewMut1::from(&mut acc[..d_in]),
                            partial,
                        );
                    }
                    out.iter_mut().zip(&acc[..d0]).for_each(|(o, &a)| *o = a);
                    Ok(())
                },
                |_, out, trust| trust.all(out.view()),
                |_, out, wide, _| out.assign(&wide.hvp(v)),
            )
        })
    }
}

impl<T: Real> HessianAt<'_, T> {
    /// ∇²f(x)·V for the k columns of V (d0×k), all at once: each layer's products for
    /// every column are one matrix product (W_k·Ẏ, W_kᵀ·Ġ), so many directions cost
    /// GEMMs rather than k sweeps of matrix-vector products (W_L is read twice here: the
    /// fused pass is a matrix-vector one). Stochastic Lanczos quadrature steps its
    /// probes through it.
    pub fn apply_many(&self, v: ArrayView2<T>) -> Result<Array2<T>> {
        let (net, d0) = (self.net, self.net.width(0));
        check_shape("V (one row per input)", &[v.nrows()], &[d0])?;
        check_finite("V", v)?;
        let k = v.ncols();
        let mut out = Array2::zeros((d0, k));
        if k == 0 {
            return Ok(out);
        }
        let (layers, depth, par) = (net.layers(), net.depth(), net.par());
        let terms = Terms::along(2, v);
        par.install(|| {
            guarded(
                layers,
                par,
                self.x.view(),
                terms,
                &mut out,
                |out| {
                    // The tangent sweep: Ẏ_k kept, T = φ'_k ∘ Ẏ_k carried up.
                    let (mut t, mut dots) = (v.to_owned(), Vec::with_capacity(depth));
                    for (k, layer) in layers.iter().enumerate() {
                        let mut ydot = Array2::zeros((layer.weights.nrows(), t.ncols()));
                        gemm(layer.weights.view(), t.view(), ydot.view_mut());
                        if k + 1 < depth {
                            t = &ydot * &column(&self.slopes[k]);
                        }
                        dots.push(ydot);
                    }
                    // Ġ_L = φ''_L ∘ Ẏ_L, then Ġ_k = φ'_k ∘ (W_{k+1}ᵀ·Ġ_{k+1}) + φ''_k ∘ Ẏ_k ∘ z_k.
                    let mut g = &dots[depth - 1] * &column(&self.curvatures[depth - 1]);
                    for k in (0..depth).rev() {
                        let w = layers[k].weights.view();
                        let mut back = Array2::zeros((w.ncols(), g.ncols()));
                        gemm(w.t(), g.view(), back.view_mut());
                        if k == 0 {
                            out.assign(&back);
                            break;
                        }
                        let (s, c) = (column(&self.slopes[k - 1]), column(&self.curvatures[k - 1]));
                        let z = column(&self.adjoints[k - 1]);
                        g = &back * &s + &(&dots[k - 1] * &c) * &z;
                    }
                    Ok(())
                },
                |_, out, trust| trust.all(out.view()),
                |ran, out, wide, trust| redo_columns(ran, out, wide, trust, v),
            )
        })?;
        Ok(out)
    }
}

/// A per-row factor as a column, to scale every column of a panel.
fn column<T: Real>(v: &[T]) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((v.len(), 1), v).expect("n×1")
}

/// The lengths of [`HessianAt::apply_into`]'s vectors: the widest layer input (t and
/// the adjoint tangent), and all hidden widths together (the tangents ẏ_k kept).
fn vector_lengths<T: Real>(net: &Mlp<T>) -> (usize, usize) {
    let depth = net.depth();
    let widest = (0..depth).map(|k| net.width(k)).max().unwrap_or(0);
    (widest, (1..depth).map(|k| net.width(k)).sum())
}

/// Scratch values of [`HessianAt::apply_into`].
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>) -> usize {
    let (depth, (widest, hidden)) = (net.depth(), vector_lengths(net));
    padded::<T>(hidden)
        + 2 * padded::<T>(widest)
        + padded::<T>(net.width(depth))
        + Fused::<T>::len(net.width(depth - 1))
        + net.transposed_len()
}
