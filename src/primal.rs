//! The evaluation both modes start from: f(x) and the activation slopes they reuse.

use crate::activation::sigmoid_and_derivative;
use crate::linalg::{axpy, axpy4, dot, dot4, dot4_axpy4, gemv};
use crate::{Real, Workspace};
use ndarray::{ArrayView1, ArrayView2, Axis, Zip};
use rayon::prelude::*;

/// y1 = A·x, h1 = σ(y1), y2 = B·h1. Leaves σ(y1), σ'(y1), σ'(y2) in `ws.h1`, `ws.s1`,
/// `ws.s2` and returns f = Σσ(y2).
pub(crate) fn evaluate<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    x: ArrayView1<T>,
    ws: &mut Workspace<T>,
) -> T {
    first_layer(a, x, ws);
    second_layer(b, ws, false)
}

/// y1 = A·x; leaves σ(y1) in `ws.h1` and σ'(y1) in `ws.s1`.
pub(crate) fn first_layer<T: Real>(a: ArrayView2<T>, x: ArrayView1<T>, ws: &mut Workspace<T>) {
    gemv(a, x, ws.h1.view_mut());
    // h1 holds y1; overwrite it with σ(y1), and s1 with σ'(y1).
    Zip::from(&mut ws.h1).and(&mut ws.s1).for_each(|y, s| {
        let (h, ds) = sigmoid_and_derivative(*y);
        *y = h;
        *s = ds;
    });
}

/// Row blocks of the second layer: a fixed count, not the thread count, so the partial
/// sums and their reduction order (hence every bit of the result) do not depend on it.
const BLOCKS: usize = 16;
/// Below this many entries of B the second layer runs as one block on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// One read of B, row by row: y2_i = B[i,:]·h1, σ'(y2_i) into `ws.s2`, and returns
/// f = Σ_i σ(y2_i). With `adjoint`, also leaves z = Bᵀ·σ'(y2) in `ws.z`, adding
/// σ'(y2_i)·B[i,:] while row i is still in cache: reverse mode's fused pass.
///
/// Blocks of rows run in parallel, each into its own partial sums, which are then added
/// in block order. Every mode and `value` share this pass, so f is bit-identical
/// whichever computed it.
pub(crate) fn second_layer<T: Real>(b: ArrayView2<T>, ws: &mut Workspace<T>, adjoint: bool) -> T {
    let (d2, d1) = b.dim();
    let blocks = if b.len() < PARALLEL_MIN {
        1
    } else {
        BLOCKS.min(d2)
    };
    let rows_per_block = d2.div_ceil(blocks);
    // The last block may be short; count the blocks the chunking really makes.
    let blocks = d2.div_ceil(rows_per_block);
    if ws.partial_z.len() < blocks * d1 {
        ws.partial_z.resize(blocks * d1, T::zero());
    }
    let h1 = ws.h1.as_slice().expect("contiguous");
    // One block: its rows of B, its slice of σ'(y2), its partial z (unused without adjoint).
    let block = |((rows, s2), z): ((ArrayView2<T>, &mut [T]), &mut [T])| -> T {
        if adjoint {
            z.fill(T::zero());
        }
        let mut f = T::zero();
        let row = |i: usize| rows.row(i).to_slice().expect("B row-major");
        // Four rows at a time: four streams from memory, h1 and z touched once per four.
        // With the adjoint, each sweep also adds the previous four rows (now in cache)
        // into z, so memory streams the next rows while the adjoint is updated.
        let quads = rows.nrows() / 4 * 4;
        let mut pending: Option<([T; 4], [&[T]; 4])> = None;
        for i in (0..quads).step_by(4) {
            let r = [row(i), row(i + 1), row(i + 2), row(i + 3)];
            let y = match pending.take() {
                Some((ds, prev)) => dot4_axpy4(r, h1, ds, prev, z),
                None => dot4(r, h1),
            };
            let mut ds = [T::zero(); 4];
            for k in 0..4 {
                let (h, d) = sigmoid_and_derivative(y[k]);
                f = f + h;
                s2[i + k] = d;
                ds[k] = d;
            }
            if adjoint {
                pending = Some((ds, r));
            }
        }
        if let Some((ds, prev)) = pending {
            axpy4(ds, prev, z);
        }
        for (i, s) in s2.iter_mut().enumerate().skip(quads) {
            let (h, d) = sigmoid_and_derivative(dot(row(i), h1));
            f = f + h;
            *s = d;
            if adjoint {
                axpy(d, row(i), z);
            }
        }
        f
    };
    let rows = b.axis_chunks_iter(Axis(0), rows_per_block);
    let s2 = ws.s2.as_slice_mut().expect("contiguous");
    let partials = &mut ws.partial_z[..blocks * d1];
    let f_parts = &mut ws.partial_f;
    if blocks == 1 {
        f_parts.clear();
        f_parts.push(block(((b, s2), partials)));
    } else {
        rows.into_par_iter()
            .zip(s2.par_chunks_mut(rows_per_block))
            .zip(partials.par_chunks_mut(d1))
            .map(block)
            .collect_into_vec(f_parts);
    }
    let f = f_parts.iter().fold(T::zero(), |s, &v| s + v);
    if !adjoint {
        return f;
    }
    let z = ws.z.as_slice_mut().expect("contiguous");
    let mut parts = ws.partial_z[..blocks * d1].chunks(d1);
    z.copy_from_slice(parts.next().expect("one block at least"));
    for p in parts {
        z.iter_mut().zip(p).for_each(|(z, &v)| *z = *z + v);
    }
    f
}
