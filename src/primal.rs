//! The forward pass every call starts from: y_k = W_k·a_{k−1} + b_k, a_k = φ_k(y_k),
//! a_0 = x, keeping each hidden layer's a_k and every layer's slopes φ'_k(y_k).

use crate::backend::gemv;
use crate::reverse::{self, Fused};
use crate::scratch::{padded, Stack};
use crate::{Layer, Mlp, Par, Real};
use ndarray::{ArrayView1, ArrayViewMut1};

/// The forward pass's values in scratch: a_k of the hidden layers k = 1 … L−1 and
/// φ'_k(y_k) of every layer k = 1 … L (layer k is index k − 1 below).
pub(crate) struct Sweep<'a, T> {
    values: &'a mut [T],
    slopes: &'a mut [T],
    offsets: &'a [usize],
}

impl<'a, T: Real> Sweep<'a, T> {
    /// Scratch values it takes.
    pub(crate) fn len(net: &Mlp<T>) -> usize {
        let depth = net.depth();
        padded::<T>(net.offsets()[depth - 1]) + padded::<T>(net.offsets()[depth])
    }

    pub(crate) fn carve(net: &'a Mlp<T>, stack: &mut Stack<'a, T>) -> Self {
        let offsets = net.offsets();
        let depth = net.depth();
        Sweep {
            values: stack.take(offsets[depth - 1]),
            slopes: stack.take(offsets[depth]),
            offsets,
        }
    }

    /// a_{k+1}, the output of hidden layer index k.
    pub(crate) fn value(&self, k: usize) -> &[T] {
        &self.values[self.offsets[k]..self.offsets[k + 1]]
    }

    /// φ' of layer index k.
    pub(crate) fn slopes(&self, k: usize) -> &[T] {
        &self.slopes[self.offsets[k]..self.offsets[k + 1]]
    }

    /// The input of layer index k: x, or the hidden value before it.
    pub(crate) fn input<'s>(&'s self, x: ArrayView1<'s, T>, k: usize) -> ArrayView1<'s, T> {
        match k {
            0 => x,
            _ => ArrayView1::from(self.value(k - 1)),
        }
    }

    /// The last layer's input (x itself for one layer) and its slopes, together.
    pub(crate) fn last<'s>(&'s mut self, x: &'s [T]) -> (&'s [T], &'s mut [T]) {
        let depth = self.offsets.len() - 1;
        let input = match depth {
            1 => x,
            _ => &self.values[self.offsets[depth - 2]..],
        };
        (input, &mut self.slopes[self.offsets[depth - 1]..])
    }
}

/// The hidden layers 1 … L−1 at x: a_k and φ'_k(y_k) into `sweep`.
pub(crate) fn hidden<T: Real>(net: &Mlp<T>, par: Par, x: ArrayView1<T>, sweep: &mut Sweep<T>) {
    let layers = net.layers();
    for (k, layer) in layers[..layers.len() - 1].iter().enumerate() {
        let (o0, o1) = (sweep.offsets[k], sweep.offsets[k + 1]);
        let (done, rest) = sweep.values.split_at_mut(o0);
        let input = match k {
            0 => x,
            _ => ArrayView1::from(&done[sweep.offsets[k - 1]..]),
        };
        let out = &mut rest[..o1 - o0];
        layer_into(par, layer, input, out, &mut sweep.slopes[o0..o1]);
    }
}

/// h ← φ(W·input + b) and s ← φ'(W·input + b): one layer of the forward pass.
pub(crate) fn layer_into<T: Real>(
    par: Par,
    layer: &Layer<T>,
    input: ArrayView1<T>,
    h: &mut [T],
    s: &mut [T],
) {
    gemv(
        par,
        layer.weights.view(),
        input,
        ArrayViewMut1::from(&mut *h),
    );
    activate_rows(layer, 0, h, s);
}

/// Rows i0, i0 + 1, … of a layer, h holding W·a there: h ← φ(y) and s ← φ'(y) for
/// y = h + b. The forward pass's and the fused pass's one activation of a layer's rows.
pub(crate) fn activate_rows<T: Real>(layer: &Layer<T>, i0: usize, h: &mut [T], s: &mut [T]) {
    if let Some(b) = layer.bias_slice() {
        h.iter_mut().zip(&b[i0..]).for_each(|(h, &b)| *h = *h + b);
    }
    layer.activation.apply(h, s);
}

/// F(x) = φ_L(y_L) into `out` (d_L): one GEMV per layer, no fused pass (nothing is
/// summed). Leaves every layer's slopes in `sweep`.
pub(crate) fn output<T: Real>(
    net: &Mlp<T>,
    par: Par,
    x: &[T],
    sweep: &mut Sweep<T>,
    out: &mut [T],
) {
    hidden(net, par, ArrayView1::from(x), sweep);
    let (input, slopes) = sweep.last(x);
    let last = &net.layers()[net.depth() - 1];
    layer_into(par, last, ArrayView1::from(input), out, slopes);
}

/// f(x) = Σφ_L(y_L): the hidden layers, then reverse mode's fused pass over W_L without
/// its adjoint, so that f has the same bits whichever call computes it. Leaves every
/// layer's slopes in `sweep`.
pub(crate) fn value<T: Real>(
    net: &Mlp<T>,
    par: Par,
    x: &[T],
    sweep: &mut Sweep<T>,
    fused: &mut Fused<T>,
) -> T {
    hidden(net, par, ArrayView1::from(x), sweep);
    let (input, slopes) = sweep.last(x);
    let last = &net.layers()[net.depth() - 1];
    reverse::last_layer(par, last, input, slopes, None, fused)
}
