//! The evaluation every mode starts from: f(x) and the activation slopes they reuse.

use crate::linalg::{axpy, axpy4, dot, dot4, dot4_axpy4, gemv};
use crate::{Activation, Layer, Real, Workspace};
use ndarray::{Array1, ArrayView1, ArrayView2, Axis, Zip};
use rayon::prelude::*;

/// The hidden layers, then the last one's fused pass: leaves φ(y_k) (k < L) in `ws.h`,
/// φ'(y_k) in `ws.s`, and returns f = Σφ_L(y_L). With `adjoint`, also leaves
/// W_Lᵀ·φ'(y_L) in `ws.z[0]` (d(L−1) entries).
pub(crate) fn evaluate<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
    adjoint: bool,
) -> T {
    let depth = layers.len();
    hidden_layers(&layers[..depth - 1], x, ws);
    let last = &layers[depth - 1];
    // The last layer reads its input as a slice: x itself when it is contiguous.
    let mut s_last = std::mem::take(&mut ws.s[depth - 1]);
    let mut z = std::mem::take(&mut ws.z[0]);
    let f = if depth == 1 {
        match x.as_slice() {
            Some(x) => last_layer(last, x, &mut s_last, &mut z, adjoint, ws),
            None => {
                let mut copy = std::mem::take(&mut ws.z[1]);
                copy[..x.len()].iter_mut().zip(x).for_each(|(c, &v)| *c = v);
                let f = last_layer(last, &copy[..x.len()], &mut s_last, &mut z, adjoint, ws);
                ws.z[1] = copy;
                f
            }
        }
    } else {
        let h = std::mem::take(&mut ws.h[depth - 2]);
        let f = last_layer(
            last,
            h.as_slice().expect("own"),
            &mut s_last,
            &mut z,
            adjoint,
            ws,
        );
        ws.h[depth - 2] = h;
        f
    };
    ws.s[depth - 1] = s_last;
    ws.z[0] = z;
    f
}

/// Runs the hidden layers 1 … m = L−1 on x: φ(y_k) into `ws.h`, φ'(y_k) into `ws.s`.
pub(crate) fn hidden_layers<T: Real>(hidden: &[Layer<T>], x: ArrayView1<T>, ws: &mut Workspace<T>) {
    for k in 0..hidden.len() {
        let (done, rest) = ws.h.split_at_mut(k);
        let input = if k == 0 { x } else { done[k - 1].view() };
        hidden_layer(&hidden[k], input, rest[0].view_mut(), ws.s[k].view_mut());
    }
}

/// F(x) = φ_L(y_L), the vector output, one GEMV per layer (no fused pass: nothing is
/// summed). Leaves the hidden layers' values and slopes in `ws`, and φ'(y_L) in `slopes`
/// when given.
pub(crate) fn output<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
    slopes: Option<&mut Array1<T>>,
) -> Array1<T> {
    let depth = layers.len();
    hidden_layers(&layers[..depth - 1], x, ws);
    let last = &layers[depth - 1];
    let input = if depth == 1 {
        x
    } else {
        ws.h[depth - 2].view()
    };
    let mut out = Array1::zeros(last.weights.nrows());
    match slopes {
        Some(s) => hidden_layer(last, input, out.view_mut(), s.view_mut()),
        None => {
            gemv(last.weights.view(), input, out.view_mut());
            out.mapv_inplace(|t| last.activation.value_and_slope(t).0);
        }
    }
    out
}

/// y = W·input; leaves φ(y) in `h` and φ'(y) in `s`.
fn hidden_layer<T: Real>(
    layer: &Layer<T>,
    input: ArrayView1<T>,
    mut h: ndarray::ArrayViewMut1<T>,
    mut s: ndarray::ArrayViewMut1<T>,
) {
    gemv(layer.weights.view(), input, h.view_mut());
    let act = layer.activation;
    // h holds y; overwrite it with φ(y), and s with φ'(y).
    Zip::from(&mut h).and(&mut s).for_each(|y, s| {
        let (v, ds) = act.value_and_slope(*y);
        *y = v;
        *s = ds;
    });
}

/// Row blocks of the last layer: a fixed count, not the thread count, so the partial
/// sums and their reduction order (hence every bit of the result) do not depend on it.
const BLOCKS: usize = 16;
/// Below this many entries of W_L the last layer runs as one block on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// One read of W = W_L, row by row: y_i = W[i,:]·h, φ'(y_i) into `s_out`, and returns
/// f = Σ_i φ(y_i). With `adjoint`, also leaves z = Wᵀ·φ'(y) in `z` (its first d(L−1)
/// entries), adding φ'(y_i)·W[i,:] while row i is still in cache: reverse mode's fused
/// pass, which reads W once where PyTorch and JAX read it twice.
///
/// Blocks of rows run in parallel, each into its own partial sums, which are then added
/// in block order. Every mode and `value` share this pass, so f is bit-identical
/// whichever computed it.
fn last_layer<T: Real>(
    layer: &Layer<T>,
    h: &[T],
    s_out: &mut Array1<T>,
    z_out: &mut [T],
    adjoint: bool,
    ws: &mut Workspace<T>,
) -> T {
    let b = layer.weights.view();
    let act: Activation = layer.activation;
    let (rows_total, d1) = b.dim();
    let blocks = if b.len() < PARALLEL_MIN {
        1
    } else {
        BLOCKS.min(rows_total)
    };
    let rows_per_block = rows_total.div_ceil(blocks);
    // The last block may be short; count the blocks the chunking really makes.
    let blocks = rows_total.div_ceil(rows_per_block);
    if ws.partial_z.len() < blocks * d1 {
        ws.partial_z.resize(blocks * d1, T::zero());
    }
    // One block: its rows of W, its slice of φ'(y), its partial z (unused without adjoint).
    let block = |((rows, s_out), z): ((ArrayView2<T>, &mut [T]), &mut [T])| -> T {
        if adjoint {
            z.fill(T::zero());
        }
        let mut f = T::zero();
        let row = |i: usize| rows.row(i).to_slice().expect("W row-major");
        // Four rows at a time: four streams from memory, h and z touched once per four.
        // With the adjoint, each sweep also adds the previous four rows (now in cache)
        // into z, so memory streams the next rows while the adjoint is updated.
        let quads = rows.nrows() / 4 * 4;
        let mut pending: Option<([T; 4], [&[T]; 4])> = None;
        for i in (0..quads).step_by(4) {
            let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
            let y = match pending.take() {
                Some((ds, prev)) => dot4_axpy4(r, h, ds, prev, z),
                None => dot4(r, h),
            };
            let mut ds = [T::zero(); 4];
            for k in 0..4 {
                let (h, d) = act.value_and_slope(y[k]);
                f = f + h;
                s_out[i + k] = d;
                ds[k] = d;
            }
            if adjoint {
                pending = Some((ds, r));
            }
        }
        if let Some((ds, prev)) = pending {
            axpy4(ds, prev, z);
        }
        for (i, s) in s_out.iter_mut().enumerate().skip(quads) {
            let (h, d) = act.value_and_slope(dot(row(i), h));
            f = f + h;
            *s = d;
            if adjoint {
                axpy(d, row(i), z);
            }
        }
        f
    };
    let rows = b.axis_chunks_iter(Axis(0), rows_per_block);
    let s_out = s_out.as_slice_mut().expect("own");
    let partials = &mut ws.partial_z[..blocks * d1];
    let f_parts = &mut ws.partial_f;
    if blocks == 1 {
        f_parts.clear();
        f_parts.push(block(((b, s_out), partials)));
    } else {
        rows.into_par_iter()
            .zip(s_out.par_chunks_mut(rows_per_block))
            .zip(partials.par_chunks_mut(d1))
            .map(block)
            .collect_into_vec(f_parts);
    }
    let f = f_parts.iter().fold(T::zero(), |s, &v| s + v);
    if !adjoint {
        return f;
    }
    let z = &mut z_out[..d1];
    let mut parts = ws.partial_z[..blocks * d1].chunks(d1);
    z.copy_from_slice(parts.next().expect("one block at least"));
    for p in parts {
        z.iter_mut().zip(p).for_each(|(z, &v)| *z = *z + v);
    }
    f
}
