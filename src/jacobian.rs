//! Running a [`Plan`]: the Jacobian M_L···M_1 (M_k = diag(φ'_k)·W_k) in panels.
//!
//! Panels of J's columns: only the products on the path from the root of the bracketing
//! down to M_1 depend on which columns are computed; the subtrees hanging off that path
//! (products of later layers, e.g. M4·M3 in (M4·M3)·(M2·M1)) are computed once, then
//! M_1\[:, P\] is carried up the path for each panel P. Panels of J's rows are the mirror
//! image: M_L\[Q, :\] carried down the path to M_L, the subtrees right of it computed
//! once — what reverse mode needs, whose shared products (M_L···M_2, d_L×d1) grow with
//! the output. The orientation with fewer panels that fits the memory budget is used.
//!
//! A diagonal is folded into an operand as a scaled copy of the smaller side:
//! M_j·M_i = D_j·(W_j·(D_i·W_i)) copies D_i·W_i or W_j·D_i, whichever is smaller;
//! L·M_i = (L·D_i)·W_i scales L's columns; M_j·R = D_j·(W_j·R) scales the result's rows.

use crate::diagonal::{scale_cols, scale_rows, scale_rows_in_place};
use crate::forward::panel_width;
use crate::linalg::gemm;
use crate::memory::{bytes_of, ensure_fits};
use crate::plan::{fold_into_weights, fold_left_of_leaves, Plan, Tree};
use crate::{Error, Layer, Real, Result, Workspace};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

/// An operand: a factor M_k still in its parts, or a computed product.
enum Val<T> {
    Leaf(usize),
    Dense(Array2<T>),
}

/// Which panel of J a product is computed for.
#[derive(Clone, Copy)]
enum Panel {
    /// All of it (the shared products).
    Whole,
    /// Columns c0..c1: M_1 stands for M_1[:, c0..c1].
    Cols(usize, usize),
    /// Rows r0..r1: M_L stands for M_L[r0..r1, :].
    Rows(usize, usize),
}

struct Chain<'a, T> {
    layers: &'a [Layer<T>],
    /// φ'_k(y_k), entry k−1.
    slopes: Vec<Array1<T>>,
}

impl<T: Real> Chain<'_, T> {
    /// W_k, restricted to the panel.
    fn w(&self, k: usize, p: Panel) -> ArrayView2<'_, T> {
        let w = self.layers[k - 1].weights.view();
        match p {
            Panel::Cols(c0, c1) if k == 1 => w.slice_move(s![.., c0..c1]),
            Panel::Rows(r0, r1) if k == self.layers.len() => w.slice_move(s![r0..r1, ..]),
            _ => w,
        }
    }

    /// φ'_k(y_k), restricted to the panel.
    fn d(&self, k: usize, p: Panel) -> ArrayView1<'_, T> {
        let d = self.slopes[k - 1].view();
        match p {
            Panel::Rows(r0, r1) if k == self.layers.len() => d.slice_move(s![r0..r1]),
            _ => d,
        }
    }

    fn rows(&self, v: &Val<T>, p: Panel) -> usize {
        match v {
            Val::Leaf(k) => self.w(*k, p).nrows(),
            Val::Dense(m) => m.nrows(),
        }
    }

    fn cols(&self, v: &Val<T>, p: Panel) -> usize {
        match v {
            Val::Leaf(k) => self.w(*k, p).ncols(),
            Val::Dense(m) => m.ncols(),
        }
    }

    /// left·right for panel `p`.
    fn mul(&self, left: &Val<T>, right: &Val<T>, p: Panel) -> Array2<T> {
        let mut out = Array2::zeros((self.rows(left, p), self.cols(right, p)));
        self.mul_into(left, right, p, out.view_mut());
        out
    }

    /// out ← left·right (see [`mul`](Self::mul)): the last product of a panel writes
    /// straight into the Jacobian.
    fn mul_into(&self, left: &Val<T>, right: &Val<T>, p: Panel, mut out: ArrayViewMut2<T>) {
        let (w, d) = (|k| self.w(k, p), |k| self.d(k, p));
        let (m, n) = (out.nrows(), out.ncols());
        // Each diagonal goes into whichever operand (or the result) is cheapest to
        // scale; plan::fold_values counts the same choices.
        match (left, right) {
            (Val::Leaf(j), Val::Leaf(i)) => {
                let (wj, wi) = (w(*j), w(*i));
                let k = wj.ncols();
                if fold_left_of_leaves(m, k, n) {
                    // (D_j·W_j·D_i)·W_i: one copy, nothing left to scale.
                    let mut l = scale_cols(wj, d(*i));
                    scale_rows_in_place(&mut l.view_mut(), d(*j));
                    gemm(l.view(), wi, out);
                } else {
                    gemm(wj, scale_rows(wi, d(*i)).view(), out.view_mut());
                    scale_rows_in_place(&mut out, d(*j));
                }
            }
            (Val::Leaf(j), Val::Dense(r)) => {
                let wj = w(*j);
                if fold_into_weights(m, wj.ncols(), n) {
                    gemm(scale_rows(wj, d(*j)).view(), r.view(), out);
                } else {
                    gemm(wj, r.view(), out.view_mut());
                    scale_rows_in_place(&mut out, d(*j));
                }
            }
            (Val::Dense(l), Val::Leaf(i)) => {
                let wi = w(*i);
                if l.len() <= wi.len() {
                    gemm(scale_cols(l.view(), d(*i)).view(), wi, out)
                } else {
                    gemm(l.view(), scale_rows(wi, d(*i)).view(), out)
                }
            }
            (Val::Dense(l), Val::Dense(r)) => gemm(l.view(), r.view(), out),
        }
    }

    /// A subtree shared by every panel, whole.
    fn eval(&self, tree: &Tree) -> Val<T> {
        match tree {
            Tree::Leaf(k) => Val::Leaf(*k),
            Tree::Product(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Val::Dense(self.mul(&l, &r, Panel::Whole))
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

/// How a plan is split into panels along one side of J.
struct Layout<'t> {
    /// The subtrees off the path to M_1 (columns) or M_L (rows), nearest the leaf first.
    shared: Vec<&'t Tree>,
    /// Values the shared products hold.
    fixed: usize,
    /// Values per column (row) of a panel.
    per_unit: usize,
    /// Columns (rows) of J.
    units: usize,
    rows: bool,
}

impl<'t> Layout<'t> {
    fn new(tree: &'t Tree, widths: &[usize], rows: bool) -> Layout<'t> {
        let depth = widths.len() - 1;
        let mut shared = Vec::new();
        let mut node = tree;
        while let Tree::Product(l, r) = node {
            let (off, on) = if rows { (r, l) } else { (l, r) };
            shared.push(off.as_ref());
            node = on;
        }
        shared.reverse();
        let mut fixed: usize = shared.iter().map(|t| held_values(t, widths)).sum();
        // Columns: a product next to M_1 is folded with D_1 once (a copy of it).
        if let (false, Some(Tree::Product(..))) = (rows, shared.first()) {
            fixed += widths[shared[0].span().1] * widths[1];
        }
        // Per unit: the path's products (their rows, or columns), and the leaf's copy.
        let per_unit = if rows {
            shared.iter().map(|t| widths[t.span().0 - 1]).sum::<usize>() + widths[depth - 1]
        } else {
            shared.iter().map(|t| widths[t.span().1]).sum::<usize>() + widths[1]
        };
        Layout {
            shared,
            fixed,
            per_unit,
            units: if rows { widths[depth] } else { widths[0] },
            rows,
        }
    }

    /// Units per panel within `budget` bytes, None when not even one fits.
    fn width(&self, size: usize, budget: usize) -> Option<usize> {
        let room = budget.checked_sub(self.fixed.saturating_mul(size))?;
        panel_width(self.units, self.per_unit, size, room).ok()
    }
}

/// The d_L×d0 Jacobian of F at x by `plan`, within `budget` bytes of temporaries.
pub(crate) fn jacobian<T: Real>(
    layers: &[Layer<T>],
    x: ArrayView1<T>,
    plan: &Plan,
    budget: usize,
) -> Result<Array2<T>> {
    let widths = plan.widths();
    let (d0, d_out) = (widths[0], widths[widths.len() - 1]);
    let size = std::mem::size_of::<T>();
    // Column or row panels: whichever fits in fewer panels (columns on a tie).
    let options = [false, true].map(|rows| Layout::new(&plan.tree, widths, rows));
    let (layout, width) = options
        .iter()
        .filter_map(|l| l.width(size, budget).map(|w| (l, w)))
        .min_by_key(|(l, w)| l.units.div_ceil(*w))
        .ok_or_else(|| {
            let [c, r] = options.each_ref().map(|l| l.fixed + l.per_unit);
            Error::TooLarge {
                what: format!(
                    "one panel of plan {plan} (shared products and one column: {c} values; \
                     one row: {r})"
                ),
                needed: c.min(r).saturating_mul(size) as u64,
                available: budget as u64,
            }
        })?;
    let panel_bytes = (layout.fixed + layout.per_unit.saturating_mul(width)).saturating_mul(size);
    ensure_fits(
        || format!("the Jacobian ({d_out}×{d0}) and plan {plan}'s panels"),
        bytes_of(&[d_out, d0], size).and_then(|j| j.checked_add(panel_bytes as u64)),
    )?;
    let mut ws = Workspace::for_widths(widths);
    let mut s_last = Array1::zeros(d_out);
    crate::primal::output(layers, x, &mut ws, Some(&mut s_last));
    let mut slopes = std::mem::take(&mut ws.s);
    slopes[layers.len() - 1] = s_last;
    let chain = Chain { layers, slopes };
    let mut shared: Vec<Val<T>> = layout.shared.iter().map(|t| chain.eval(t)).collect();
    // Columns: L·D_1 does not depend on the panel, so fold it once.
    let folded = match shared.first_mut() {
        Some(Val::Dense(l)) if !layout.rows => {
            *l = scale_cols(l.view(), chain.d(1, Panel::Whole));
            true
        }
        _ => false,
    };
    let leaf = if layout.rows { layers.len() } else { 1 };
    let mut jac = Array2::zeros((d_out, d0));
    for u0 in (0..layout.units).step_by(width) {
        let u1 = (u0 + width).min(layout.units);
        let (p, mut target) = if layout.rows {
            (Panel::Rows(u0, u1), jac.slice_mut(s![u0..u1, ..]))
        } else {
            (Panel::Cols(u0, u1), jac.slice_mut(s![.., u0..u1]))
        };
        if shared.is_empty() {
            // One layer: J = D_1·W_1.
            target.assign(&scale_rows(chain.w(1, p), chain.d(1, p)));
        }
        // One step up (columns) or down (rows) the path: the leaf's side stays `cur`.
        let step = |i: usize, other: &Val<T>, cur: &Val<T>, out: ArrayViewMut2<T>| {
            match (layout.rows, other) {
                (true, _) => chain.mul_into(cur, other, p, out),
                // (L·D_1)·W_1[:, P]: the diagonal is already in L.
                (false, Val::Dense(l)) if i == 0 && folded => gemm(l.view(), chain.w(1, p), out),
                (false, _) => chain.mul_into(other, cur, p, out),
            }
        };
        let mut cur = Val::Leaf(leaf);
        let top = shared.len().saturating_sub(1);
        for (i, other) in shared.iter().enumerate() {
            // The last product writes into J; those before it into temporaries.
            if i == top {
                step(i, other, &cur, target.view_mut());
            } else {
                let dim = if layout.rows {
                    (u1 - u0, chain.cols(other, p))
                } else {
                    (chain.rows(other, p), u1 - u0)
                };
                let mut next = Array2::zeros(dim);
                step(i, other, &cur, next.view_mut());
                cur = Val::Dense(next);
            }
        }
    }
    Ok(jac)
}
