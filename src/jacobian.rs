//! Running a [`Plan`]: the Jacobian M_L···M_1 (M_k = diag(φ'_k)·W_k) in column panels.
//!
//! Only the products on the path from the root of the bracketing down to M_1 depend on
//! which columns of J are being computed; the subtrees hanging off that path on the
//! left (products of later layers, e.g. M4·M3 in (M4·M3)·(M2·M1)) are computed once.
//! Then, for each panel P of columns, M_1\[:, P\] is carried up the path. The panel
//! width is the widest whose values, with the fixed products, fit in the memory budget.
//!
//! A diagonal is folded into an operand as a scaled copy of the smaller side:
//! M_j·M_i = D_j·(W_j·(D_i·W_i)) copies D_i·W_i or W_j·D_i, whichever is smaller;
//! L·M_i = (L·D_i)·W_i scales L's columns; M_j·R = D_j·(W_j·R) scales the result's rows.

use crate::forward::panel_width;
use crate::linalg::gemm;
use crate::memory::{bytes_of, ensure_fits};
use crate::plan::{fold_into_weights, fold_left_of_leaves, Plan, Tree};
use crate::{Error, Layer, Real, Result, Workspace};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// An operand: a factor M_k still in its parts, or a computed product.
enum Val<T> {
    Leaf(usize),
    Dense(Array2<T>),
}

struct Chain<'a, T> {
    layers: &'a [Layer<T>],
    /// φ'_k(y_k), entry k−1.
    slopes: Vec<Array1<T>>,
}

impl<T: Real> Chain<'_, T> {
    fn w(&self, k: usize) -> ArrayView2<'_, T> {
        self.layers[k - 1].weights.view()
    }
    fn d(&self, k: usize) -> ArrayView1<'_, T> {
        self.slopes[k - 1].view()
    }

    /// left·right, where a Leaf(1) on the right stands for M_1[:, cols].
    fn mul(&self, left: &Val<T>, right: &Val<T>, cols: (usize, usize)) -> Array2<T> {
        let rows = match left {
            Val::Leaf(j) => self.w(*j).nrows(),
            Val::Dense(l) => l.nrows(),
        };
        let n = match right {
            Val::Leaf(1) => cols.1 - cols.0,
            Val::Leaf(i) => self.w(*i).ncols(),
            Val::Dense(r) => r.ncols(),
        };
        let mut out = Array2::zeros((rows, n));
        self.mul_into(left, right, cols, out.view_mut());
        out
    }

    /// out ← left·right (see [`mul`](Self::mul)): the last product of a panel writes
    /// straight into the Jacobian.
    fn mul_into(
        &self,
        left: &Val<T>,
        right: &Val<T>,
        cols: (usize, usize),
        mut out: ArrayViewMut2<T>,
    ) {
        let panel = |k: usize| {
            let w = self.w(k);
            if k == 1 {
                w.slice_move(s![.., cols.0..cols.1])
            } else {
                w
            }
        };
        let (m, n) = (out.nrows(), out.ncols());
        // Each diagonal goes into whichever operand (or the result) is cheapest to
        // scale; plan::fold_values counts the same choices.
        match (left, right) {
            (Val::Leaf(j), Val::Leaf(i)) => {
                let (wj, wi) = (self.w(*j), panel(*i));
                let k = wj.ncols();
                if fold_left_of_leaves(m, k, n) {
                    // (D_j·W_j·D_i)·W_i: one copy, nothing left to scale.
                    let mut l = scale_cols(wj, self.d(*i));
                    scale_rows_in_place(&mut l.view_mut(), self.d(*j));
                    gemm(l.view(), wi, out);
                } else {
                    gemm(wj, scale_rows(wi, self.d(*i)).view(), out.view_mut());
                    scale_rows_in_place(&mut out, self.d(*j));
                }
            }
            (Val::Leaf(j), Val::Dense(r)) => {
                let wj = self.w(*j);
                if fold_into_weights(m, wj.ncols(), n) {
                    gemm(scale_rows(wj, self.d(*j)).view(), r.view(), out);
                } else {
                    gemm(wj, r.view(), out.view_mut());
                    scale_rows_in_place(&mut out, self.d(*j));
                }
            }
            (Val::Dense(l), Val::Leaf(i)) => {
                let wi = panel(*i);
                if l.len() <= wi.len() {
                    gemm(scale_cols(l.view(), self.d(*i)).view(), wi, out)
                } else {
                    gemm(l.view(), scale_rows(wi, self.d(*i)).view(), out)
                }
            }
            (Val::Dense(l), Val::Dense(r)) => gemm(l.view(), r.view(), out),
        }
    }

    /// A subtree that does not contain M_1, whole.
    fn eval(&self, tree: &Tree) -> Val<T> {
        match tree {
            Tree::Leaf(k) => Val::Leaf(*k),
            Tree::Product(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Val::Dense(self.mul(&l, &r, (0, 0)))
            }
        }
    }
}

/// Values held by a subtree computed whole: every product's result and copy.
fn held_values(tree: &Tree, widths: &[usize]) -> usize {
    match tree {
        Tree::Leaf(_) => 0,
        Tree::Product(l, r) => {
            let (lo, mid) = r.span();
            let hi = l.span().1;
            let copy = (widths[hi] * widths[mid]).min(widths[mid] * widths[lo - 1]);
            held_values(l, widths) + held_values(r, widths) + widths[hi] * widths[lo - 1] + copy
        }
    }
}

/// The d_L×d0 Jacobian of F at x by `plan`, within `budget` bytes of temporaries.
pub(crate) fn jacobian<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    plan: &Plan,
    budget: usize,
) -> Result<Array2<T>> {
    let widths = plan.widths().to_vec();
    let (d0, d_out) = (widths[0], widths[widths.len() - 1]);
    let size = std::mem::size_of::<T>();
    // The path from the root down to M_1, and the subtrees left of it (bottom first).
    let mut lefts = Vec::new();
    let mut node = &plan.tree;
    while let Tree::Product(l, r) = node {
        lefts.push(l.as_ref());
        node = r;
    }
    lefts.reverse();
    // Memory: the fixed subtrees (and L·D_1 when M_1's partner is a product), then per
    // column of a panel the rows of every product on the path and M_1's scaled copy.
    let mut fixed: usize = lefts.iter().map(|t| held_values(t, &widths)).sum();
    if let Some(Tree::Product(..)) = lefts.first() {
        fixed += widths[lefts[0].span().1] * widths[1];
    }
    let per_column = lefts.iter().map(|t| widths[t.span().1]).sum::<usize>() + widths[1];
    let fixed_bytes = fixed.saturating_mul(size);
    let room = budget
        .checked_sub(fixed_bytes)
        .ok_or_else(|| Error::TooLarge {
            what: format!("the products of plan {plan} that every panel shares ({fixed} values)"),
            needed: fixed_bytes as u64,
            available: budget as u64,
        })?;
    let width = panel_width(d0, per_column, size, room).map_err(|_| Error::TooLarge {
        what: format!(
            "one column panel of plan {plan} ({fixed} shared values + {per_column} per column)"
        ),
        needed: (fixed + per_column).saturating_mul(size) as u64,
        available: budget as u64,
    })?;
    ensure_fits(
        || format!("the Jacobian ({d_out}×{d0}) and plan {plan}'s panels"),
        bytes_of(&[d_out, d0], size).and_then(|j| {
            j.checked_add((fixed + per_column.saturating_mul(width)).saturating_mul(size) as u64)
        }),
    )?;
    let mut ws = Workspace::for_widths(&widths);
    let mut s_last = Array1::zeros(d_out);
    crate::primal::output(layers, x, &mut ws, Some(&mut s_last));
    let mut slopes = std::mem::take(&mut ws.s);
    slopes[layers.len() - 1] = s_last;
    let chain = Chain { layers, slopes };
    let mut fixed_vals: Vec<Val<T>> = lefts.iter().map(|t| chain.eval(t)).collect();
    // L·D_1 does not depend on the panel: fold it once.
    let folded = match fixed_vals.first_mut() {
        Some(Val::Dense(l)) => {
            *l = scale_cols(l.view(), chain.d(1));
            true
        }
        _ => false,
    };
    let mut jac = Array2::zeros((d_out, d0));
    for c0 in (0..d0).step_by(width) {
        let cols = (c0, (c0 + width).min(d0));
        let mut target = jac.slice_mut(s![.., cols.0..cols.1]);
        if fixed_vals.is_empty() {
            // One layer: J = D_1·W_1.
            let w1 = chain.w(1).slice_move(s![.., cols.0..cols.1]);
            target.assign(&scale_rows(w1, chain.d(1)));
        }
        let run = |i: usize, left: &Val<T>, right: &Val<T>, out: ArrayViewMut2<T>| match left {
            // (L·D_1)·W_1[:, P]: the diagonal is already in L.
            Val::Dense(l) if i == 0 && folded => {
                gemm(l.view(), chain.w(1).slice_move(s![.., cols.0..cols.1]), out)
            }
            _ => chain.mul_into(left, right, cols, out),
        };
        let mut prev = Val::Leaf(1);
        let top = fixed_vals.len().saturating_sub(1);
        for (i, left) in fixed_vals.iter().enumerate() {
            // The last product writes into J; those below it into temporaries.
            if i == top {
                run(i, left, &prev, target.view_mut());
            } else {
                let rows = match left {
                    Val::Leaf(j) => chain.w(*j).nrows(),
                    Val::Dense(l) => l.nrows(),
                };
                let mut next = Array2::zeros((rows, cols.1 - cols.0));
                run(i, left, &prev, next.view_mut());
                prev = Val::Dense(next);
            }
        }
    }
    Ok(jac)
}

/// Below this many values a scaling runs on the calling thread: waking rayon costs
/// ~10 µs, more than scaling a 100×100 matrix.
const PARALLEL_MIN: usize = 1 << 16;

/// diag(d)·m, a new row-major matrix.
fn scale_rows<T: Real>(m: ArrayView2<T>, d: ArrayView1<T>) -> Array2<T> {
    let mut out = Array2::zeros(m.dim());
    let zip = Zip::from(out.rows_mut()).and(m.rows()).and(&d);
    let f =
        |mut o: ArrayViewMut1<T>, r: ArrayView1<T>, &s: &T| o.zip_mut_with(&r, |o, &v| *o = s * v);
    if m.len() < PARALLEL_MIN {
        zip.for_each(f)
    } else {
        zip.par_for_each(f)
    }
    out
}

/// m·diag(d), a new row-major matrix.
fn scale_cols<T: Real>(m: ArrayView2<T>, d: ArrayView1<T>) -> Array2<T> {
    let mut out = Array2::zeros(m.dim());
    let zip = Zip::from(out.rows_mut()).and(m.rows());
    let f = |mut o: ArrayViewMut1<T>, r: ArrayView1<T>| {
        Zip::from(&mut o)
            .and(&r)
            .and(&d)
            .for_each(|o, &v, &s| *o = v * s)
    };
    if m.len() < PARALLEL_MIN {
        zip.for_each(f)
    } else {
        zip.par_for_each(f)
    }
    out
}

/// m ← diag(d)·m.
fn scale_rows_in_place<T: Real>(m: &mut ArrayViewMut2<T>, d: ArrayView1<T>) {
    let parallel = m.len() >= PARALLEL_MIN;
    let zip = Zip::from(m.axis_iter_mut(Axis(0))).and(&d);
    let f = |mut row: ArrayViewMut1<T>, &s: &T| row.mapv_inplace(|v| v * s);
    if parallel {
        zip.par_for_each(f)
    } else {
        zip.for_each(f)
    }
}
