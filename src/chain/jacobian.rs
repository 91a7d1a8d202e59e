//! Running a [`Plan`]: the Jacobian M_L···M_1 (M_k = diag(φ'_k)·W_k) in the panels
//! of [`super::panels`]: the shared subtrees once, then each panel up (down) the path.
//!
//! Each product's diagonals go where [`Fold`] says (a scaled copy of the cheaper
//! operand, or the result's rows); the cost model predicts by the same rule.

use super::panels::{fit, Layout, PanelSide};
use super::{Fold, Operand, Plan, Tree};
use crate::backend::gemm;
use crate::diagonal::{scale_cols_into, scale_rows_in_place, scale_rows_into};
use crate::primal::{self, Sweep};
use crate::scratch::{padded, Stack};
use crate::{Error, Layer, Mlp, Par, Real, Result};
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut2};

/// An operand: a factor M_k still in its parts, or a computed product.
enum Val<'a, T> {
    Factor(usize),
    Product(ArrayView2<'a, T>),
}

impl<T> Val<'_, T> {
    fn kind(&self) -> Operand {
        match self {
            Val::Factor(_) => Operand::Factor,
            Val::Product(_) => Operand::Product,
        }
    }
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

/// The chain at one x: the layers and their slopes.
struct Chain<'s, T> {
    layers: &'s [Layer<T>],
    sweep: &'s Sweep<'s, T>,
    par: Par,
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
        let d = ArrayView1::from(self.sweep.slopes(k - 1));
        match p {
            Panel::Rows(r0, r1) if k == self.layers.len() => d.slice_move(s![r0..r1]),
            _ => d,
        }
    }

    fn dim(&self, v: &Val<T>, p: Panel) -> (usize, usize) {
        match v {
            Val::Factor(k) => self.w(*k, p).dim(),
            Val::Product(m) => m.dim(),
        }
    }

    /// out ← left·right for panel `p`, the diagonals folded as [`Fold::choose`] says;
    /// `copy` holds the scaled copy.
    fn mul_into(
        &self,
        left: &Val<T>,
        right: &Val<T>,
        p: Panel,
        mut out: ArrayViewMut2<T>,
        copy: &mut [T],
    ) {
        let (w, d, par) = (|k| self.w(k, p), |k| self.d(k, p), self.par);
        let (m, n) = out.dim();
        let k = self.dim(left, p).1;
        match (
            Fold::choose(left.kind(), right.kind(), [m, k, n]),
            left,
            right,
        ) {
            (Fold::BothIntoLeft, Val::Factor(j), Val::Factor(i)) => {
                let mut l = region(copy, m, k);
                scale_cols_into(par, l.view_mut(), w(*j), d(*i));
                scale_rows_in_place(par, &mut l, d(*j));
                gemm(l.view(), w(*i), out);
            }
            (Fold::RightThenResult, Val::Factor(j), Val::Factor(i)) => {
                let mut r = region(copy, k, n);
                scale_rows_into(par, r.view_mut(), w(*i), d(*i));
                gemm(w(*j), r.view(), out.view_mut());
                scale_rows_in_place(par, &mut out, d(*j));
            }
            (Fold::RowsOfLeft, Val::Factor(j), Val::Product(r)) => {
                let mut l = region(copy, m, k);
                scale_rows_into(par, l.view_mut(), w(*j), d(*j));
                gemm(l.view(), r.view(), out);
            }
            (Fold::RowsOfResult, Val::Factor(j), Val::Product(r)) => {
                gemm(w(*j), r.view(), out.view_mut());
                scale_rows_in_place(par, &mut out, d(*j));
            }
            (Fold::ColumnsOfLeft, Val::Product(l), Val::Factor(i)) => {
                let mut c = region(copy, m, k);
                scale_cols_into(par, c.view_mut(), l.view(), d(*i));
                gemm(c.view(), w(*i), out);
            }
            (Fold::RowsOfRight, Val::Product(l), Val::Factor(i)) => {
                let mut r = region(copy, k, n);
                scale_rows_into(par, r.view_mut(), w(*i), d(*i));
                gemm(l.view(), r.view(), out);
            }
            (Fold::Nothing, Val::Product(l), Val::Product(r)) => gemm(l.view(), r.view(), out),
            _ => unreachable!("Fold::choose matches the operands"),
        }
    }

    /// A subtree shared by every panel, whole, its products carved from `stack`.
    fn eval<'a>(&self, tree: &Tree, stack: &mut Stack<'a, T>, copy: &mut [T]) -> Val<'a, T> {
        match tree {
            Tree::Leaf(k) => Val::Factor(*k),
            Tree::Product(l, r) => {
                let (l, r) = (self.eval(l, stack, copy), self.eval(r, stack, copy));
                let (m, n) = (self.dim(&l, Panel::Whole).0, self.dim(&r, Panel::Whole).1);
                let out = stack.take(m * n);
                let view = ArrayViewMut2::from_shape((m, n), &mut *out).expect("sized");
                self.mul_into(&l, &r, Panel::Whole, view, copy);
                let out: &'a [T] = out;
                Val::Product(ArrayView2::from_shape((m, n), out).expect("sized"))
            }
        }
    }
}

/// The first rows·cols values of `buf` as a row-major matrix.
fn region<T>(buf: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), &mut buf[..rows * cols]).expect("sized")
}

/// The side and panel width for `plan` within `budget` bytes, as [`fit`] picks them.
fn layout<'p, T: Real>(plan: &'p Plan, budget: usize) -> Result<(Layout<'p>, usize)> {
    let size = std::mem::size_of::<T>();
    fit(&plan.tree, plan.widths(), size, budget).ok_or_else(|| {
        let [c, r] = [PanelSide::Columns, PanelSide::Rows]
            .map(|side| Layout::new(&plan.tree, plan.widths(), side).least(size));
        Error::TooLarge {
            what: format!(
                "one panel of plan {plan} (of one column: {c} values; \
                 one row: {r})"
            ),
            needed: c.min(r).saturating_mul(size) as u64,
            available: budget as u64,
        }
    })
}

/// Scratch of [`jacobian`]: the forward pass and the executor's.
pub(crate) fn scratch_len<T: Real>(net: &Mlp<T>, plan: &Plan, budget: usize) -> Result<usize> {
    let (layout, width) = layout::<T>(plan, budget)?;
    let parts = layout.parts(width, std::mem::size_of::<T>());
    Ok(Sweep::len(net) + padded::<T>(net.width(net.depth())) + parts.total())
}

/// The d_L×d0 Jacobian of F at x into `jac`, by `plan`, within `budget` bytes of panels.
pub(crate) fn jacobian<'a, T: Real>(
    net: &'a Mlp<T>,
    par: Par,
    x: &[T],
    plan: &Plan,
    budget: usize,
    mut jac: ArrayViewMut2<T>,
    stack: &mut Stack<'a, T>,
) -> Result<()> {
    let (layout, width) = layout::<T>(plan, budget)?;
    let (layers, depth) = (net.layers(), net.depth());
    let mut sweep = Sweep::carve(net, stack);
    let out = stack.take(net.width(depth));
    primal::output(net, par, x, &mut sweep, out);
    let chain = Chain {
        layers,
        sweep: &sweep,
        par,
    };
    let parts = layout.parts(width, std::mem::size_of::<T>());
    let copy = stack.take(parts.copy);
    let mut shared: Vec<Val<T>> = layout
        .shared
        .iter()
        .map(|t| chain.eval(t, stack, copy))
        .collect();
    // Columns: L·D_1 does not depend on the panel, so fold it once.
    if let (Some(_), Some(Val::Product(l))) = (parts.folded, shared.first()) {
        let l = *l;
        let out = stack.take(l.len());
        let view = ArrayViewMut2::from_shape(l.dim(), &mut *out).expect("sized");
        scale_cols_into(par, view, l, chain.d(1, Panel::Whole));
        let out: &'a [T] = out;
        shared[0] = Val::Product(ArrayView2::from_shape(l.dim(), out).expect("sized"));
    }
    let (mut path_a, mut path_b) = (stack.take(parts.path), stack.take(parts.path));
    let leaf = match layout.side {
        PanelSide::Rows => depth,
        PanelSide::Columns => 1,
    };
    for u0 in (0..layout.units).step_by(width) {
        let u1 = (u0 + width).min(layout.units);
        let (p, mut target) = match layout.side {
            PanelSide::Rows => (Panel::Rows(u0, u1), jac.slice_mut(s![u0..u1, ..])),
            PanelSide::Columns => (Panel::Cols(u0, u1), jac.slice_mut(s![.., u0..u1])),
        };
        if shared.is_empty() {
            // One layer: J = D_1·W_1.
            scale_rows_into(par, target.view_mut(), chain.w(1, p), chain.d(1, p));
        }
        // The path's product so far: the leaf, then a product in `path_a`.
        let mut cur: Option<(usize, usize)> = None;
        let top = shared.len().saturating_sub(1);
        for (i, other) in shared.iter().enumerate() {
            let here = match cur {
                None => Val::Factor(leaf),
                Some(dim) => Val::Product(
                    ArrayView2::from_shape(dim, &path_a[..dim.0 * dim.1]).expect("sized"),
                ),
            };
            let dim = match layout.side {
                PanelSide::Rows => (u1 - u0, chain.dim(other, p).1),
                PanelSide::Columns => (chain.dim(other, p).0, u1 - u0),
            };
            // The last product writes into J; those before it into `path_b`.
            let mut next = match i == top {
                true => target.view_mut(),
                false => {
                    ArrayViewMut2::from_shape(dim, &mut path_b[..dim.0 * dim.1]).expect("sized")
                }
            };
            match (layout.side, other) {
                (PanelSide::Rows, _) => chain.mul_into(&here, other, p, next.view_mut(), copy),
                // (L·D_1)·W_1[:, P]: the diagonal is already in L.
                (PanelSide::Columns, Val::Product(l)) if i == 0 && parts.folded.is_some() => {
                    gemm(l.view(), chain.w(1, p), next.view_mut())
                }
                (PanelSide::Columns, _) => chain.mul_into(other, &here, p, next.view_mut(), copy),
            }
            if i < top {
                cur = Some(dim);
                std::mem::swap(&mut path_a, &mut path_b);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::{carves_exactly, Scratch};
    use crate::{Activation, Mode};

    /// The executor carves exactly what its panels were sized by ([`Layout::parts`],
    /// through [`scratch_len`]): all of it, so the count is never short (a carve past
    /// it panics) nor long, for random shapes, budgets and modes; and a refusal means
    /// one unit's panel does not fit.
    #[test]
    fn the_executor_carves_exactly_what_its_panels_were_sized_by() {
        let mut rng = crate::random::Lcg(5);
        let mut below = |n: usize| rng.below(n);
        let mut run = 0;
        for case in 0..200 {
            let depth = 1 + below(5);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + below(60)).collect();
            let budget = 64 + below(60_000);
            let net = Mlp::<f64>::from_seed(&widths, Activation::Sigmoid, case as u64)
                .unwrap()
                .with_memory_budget(budget);
            let x = vec![0.3; widths[0]];
            for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
                let plan = net.plan(mode);
                let len = scratch_len(&net, &plan, budget);
                let ran = carves_exactly(&mut Scratch::new(), len, budget, |stack| {
                    let mut jac = ndarray::Array2::zeros((widths[depth], widths[0]));
                    jacobian(&net, Par::Seq, &x, &plan, budget, jac.view_mut(), stack).unwrap();
                });
                run += usize::from(ran);
            }
        }
        assert!(run > 300, "only {run} Jacobians ran");
    }
}
