//! Cutting a bracketing's Jacobian into panels that fit a memory budget.
//!
//! Panels of J's columns: only the products on the path from the root of the bracketing
//! down to M_1 depend on which columns are computed; the subtrees hanging off that path
//! (products of later layers, e.g. M4·M3 in (M4·M3)·(M2·M1)) are computed once, then
//! M_1\[:, P\] is carried up the path for each panel P. Panels of J's rows are the mirror
//! image: M_L\[Q, :\] carried down the path to M_L, the subtrees right of it computed
//! once — what reverse mode needs, whose shared products (M_L···M_2, d_L×d1) grow with
//! the output.
//!
//! What panels of w units take is [`Layout::parts`]: the shared products, the one scaled
//! copy every product reuses, L·D_1 for panels of columns, and two buffers for the
//! path's products, exactly as the executor ([`super::jacobian`]) carves them; the
//! planner ([`super::plan`]) and the executor both size panels by it. Where no
//! bracketing fits, or the chain is too deep to try them all, [`leanest`] finds the
//! bracketings that need the least by a simpler, additive count: each shared product
//! with its smaller scaled copy, then for each unit one column (row) of every product on
//! the path.

use super::plan::programme;
use super::{Fold, Operand, Tree};
use crate::scratch::{padded_values, panel_width};

/// Which of J's sides the panels cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PanelSide {
    /// Columns: M_1\[:, P\] carried up the path from M_1.
    Columns,
    /// Rows: M_L\[Q, :\] carried down the path from M_L.
    Rows,
}

impl PanelSide {
    /// `"columns"` or `"rows"`, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            PanelSide::Columns => "columns",
            PanelSide::Rows => "rows",
        }
    }
}

/// How a plan's Jacobian is cut to fit its memory budget: `count` panels of `width`
/// columns or rows of J (the last one possibly narrower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Panels {
    /// The side cut.
    pub side: PanelSide,
    /// Columns (rows) per panel.
    pub width: usize,
    /// Panels: ⌈units / width⌉.
    pub count: usize,
}

/// Values held by a subtree computed whole, as [`leanest`] counts them: every product's
/// result and the smaller of its two possible scaled copies.
#[cfg(test)]
fn held_values(tree: &Tree, widths: &[usize]) -> usize {
    match tree {
        Tree::Leaf(_) => 0,
        Tree::Product(l, r) => {
            let (lo, mid) = r.span();
            let hi = l.span().1;
            (held_values(l, widths).saturating_add(held_values(r, widths)))
                .saturating_add(held_step(widths, lo, mid, hi))
        }
    }
}

/// [`leanest`]'s count of one product (M_hi···M_{mid+1})·(M_mid···M_lo) computed whole:
/// d_hi·d_{lo−1} and the smaller of its two possible copies.
pub(crate) fn held_step(widths: &[usize], lo: usize, mid: usize, hi: usize) -> usize {
    let copy = (widths[hi] * widths[mid]).min(widths[mid] * widths[lo - 1]);
    widths[hi] * widths[lo - 1] + copy
}

/// How a plan is split into panels along one side of J.
pub(crate) struct Layout<'t> {
    pub(crate) side: PanelSide,
    /// The subtrees off the path to M_1 (columns) or M_L (rows), nearest the leaf first.
    pub(crate) shared: Vec<&'t Tree>,
    widths: &'t [usize],
    /// Columns (rows) of J.
    pub(crate) units: usize,
}

impl<'t> Layout<'t> {
    pub(crate) fn new(tree: &'t Tree, widths: &'t [usize], side: PanelSide) -> Layout<'t> {
        let mut shared = Vec::new();
        let mut node = tree;
        while let Tree::Product(l, r) = node {
            let (off, on) = match side {
                PanelSide::Rows => (r, l),
                PanelSide::Columns => (l, r),
            };
            shared.push(off.as_ref());
            node = on;
        }
        shared.reverse();
        Layout {
            side,
            shared,
            widths,
            units: units(side, widths),
        }
    }

    /// Units per panel within `budget` bytes, None when not even one fits: the widest
    /// panels whose scratch ([`Layout::parts`]) fits, as even as their count allows.
    pub(crate) fn width(&self, size: usize, budget: usize) -> Option<usize> {
        panel_width(self.units, size, budget, |w| self.parts(w, size).total())
    }

    /// The panels of `width` units.
    pub(crate) fn panels(&self, width: usize) -> Panels {
        Panels {
            side: self.side,
            width,
            count: self.units.div_ceil(width),
        }
    }

    /// Values a panel of one unit needs.
    pub(crate) fn least(&self, size: usize) -> usize {
        self.parts(1, size).total()
    }

    /// The scratch the executor carves for panels of `width` units of `size`-byte
    /// values: the largest over the full panels and the last, shorter one, whose
    /// products may fold their diagonals into other operands (a copy of another size).
    /// The one count the budget is checked against.
    pub(crate) fn parts(&self, width: usize, size: usize) -> Parts {
        let widths = self.widths;
        let pad = |n| padded_values(n, size);
        let (mut held, mut copy) = (0, 0);
        for t in &self.shared {
            shared_len(t, widths, pad, &mut held, &mut copy);
        }
        let folded = folded_len(self.side, &self.shared, widths);
        let last = self.units - (self.units.div_ceil(width) - 1) * width;
        let mut path = 0;
        for (i, t) in self.shared.iter().enumerate() {
            for width in [width, last] {
                let (lo, hi) = t.span();
                let kind = |leaf: bool| match leaf {
                    true => Operand::Factor,
                    false => Operand::Product,
                };
                let (other, cur) = (kind(lo == hi), kind(i == 0));
                let (shape, out) = match self.side {
                    PanelSide::Columns => ([widths[hi], widths[lo - 1], width], widths[hi] * width),
                    PanelSide::Rows => {
                        ([width, widths[hi], widths[lo - 1]], width * widths[lo - 1])
                    }
                };
                let fold = match self.side {
                    PanelSide::Columns if i == 0 && folded.is_some() => Fold::Nothing,
                    PanelSide::Columns => Fold::choose(other, cur, shape),
                    PanelSide::Rows => Fold::choose(cur, other, shape),
                };
                copy = copy.max(fold.copy_len(shape));
                if i + 1 < self.shared.len() {
                    path = path.max(out);
                }
            }
        }
        Parts {
            held,
            folded: folded.map(pad),
            copy: pad(copy),
            path: pad(path),
        }
    }
}

/// The executor's scratch for one panel width, in values, each carve padded to whole
/// lines ([`Layout::parts`]).
pub(crate) struct Parts {
    /// The shared products.
    pub(crate) held: usize,
    /// L·D_1, when panels of columns take it once.
    pub(crate) folded: Option<usize>,
    /// The largest scaled copy, reused by every product.
    pub(crate) copy: usize,
    /// The largest product on the path below the root: two of them, ping-pong.
    pub(crate) path: usize,
}

impl Parts {
    pub(crate) fn total(&self) -> usize {
        let path = self.path.saturating_mul(2);
        [self.held, self.folded.unwrap_or(0), self.copy, path]
            .into_iter()
            .fold(0, usize::saturating_add)
    }
}

/// Results and the largest copy of a subtree computed whole, as the executor's
/// `Chain::eval` carves them.
fn shared_len(
    tree: &Tree,
    widths: &[usize],
    pad: impl Fn(usize) -> usize + Copy,
    held: &mut usize,
    copy: &mut usize,
) {
    if let Tree::Product(l, r) = tree {
        shared_len(l, widths, pad, held, copy);
        shared_len(r, widths, pad, held, copy);
        let ((lo, mid), hi) = (r.span(), l.span().1);
        let shape = [widths[hi], widths[mid], widths[lo - 1]];
        let kind = |t: &Tree| match t {
            Tree::Leaf(_) => Operand::Factor,
            Tree::Product(..) => Operand::Product,
        };
        *held = held.saturating_add(pad(widths[hi] * widths[lo - 1]));
        *copy = (*copy).max(Fold::choose(kind(l), kind(r), shape).copy_len(shape));
    }
}

/// The side and panel width of `tree` within `budget` bytes of `size`-byte values:
/// whichever side fits in fewer panels (columns on a tie); None when neither fits.
pub(crate) fn fit<'t>(
    tree: &'t Tree,
    widths: &'t [usize],
    size: usize,
    budget: usize,
) -> Option<(Layout<'t>, usize)> {
    let [cols, rows] = [PanelSide::Columns, PanelSide::Rows].map(|s| Layout::new(tree, widths, s));
    match (cols.width(size, budget), rows.width(size, budget)) {
        (Some(c), Some(r)) if cols.units.div_ceil(c) <= rows.units.div_ceil(r) => Some((cols, c)),
        (Some(c), None) => Some((cols, c)),
        (_, Some(r)) => Some((rows, r)),
        (None, None) => None,
    }
}

/// Columns (rows) of J: d0 (d_L).
fn units(side: PanelSide, widths: &[usize]) -> usize {
    match side {
        PanelSide::Rows => widths[widths.len() - 1],
        PanelSide::Columns => widths[0],
    }
}

/// Panels of columns take L·D_1 once when the product next to M_1 is a computed one:
/// its values.
pub(crate) fn folded_len(side: PanelSide, shared: &[&Tree], widths: &[usize]) -> Option<usize> {
    match (side, shared.first()) {
        (PanelSide::Columns, Some(t @ Tree::Product(..))) => Some(widths[t.span().1] * widths[1]),
        _ => None,
    }
}

/// The bracketing whose panels of one unit on `side` need the fewest values by the
/// additive count of the module docs (a heuristic for [`Layout::least`], the exact one),
/// and that number: a partition of the layers off the path into shared subtrees, each
/// bracketed to hold the least, found by two dynamic programmes, O(L³).
pub(crate) fn leanest(widths: &[usize], side: PanelSide) -> (Tree, usize) {
    let depth = widths.len() - 1;
    // held[lo][hi]: the least values a subtree over layers lo..=hi holds, and its split.
    let held = programme(depth, 0_usize, |lo, split, hi, inner| {
        inner.saturating_add(held_step(widths, lo, split, hi))
    });
    let subtree = |lo, hi| Tree::split_at(lo, hi, &|lo, hi| held[lo][hi].1);
    // The layers off the path, in order from the leaf: 2..=L (columns) or L−1..=1 (rows).
    // A segment of them is one shared subtree, [lo, hi]; its values: what it holds and
    // the one width per unit it adds to the path.
    let (first, last) = match side {
        PanelSide::Columns => (2, depth),
        PanelSide::Rows => (1, depth - 1),
    };
    let segment = |lo: usize, hi: usize| {
        let unit = match side {
            PanelSide::Columns => widths[hi],
            PanelSide::Rows => widths[lo - 1],
        };
        // Columns: the segment next to M_1, a product, is also kept scaled by D_1.
        let folded = match side {
            PanelSide::Columns if lo == 2 && hi > lo => widths[hi] * widths[1],
            _ => 0,
        };
        held[lo][hi].0.saturating_add(unit).saturating_add(folded)
    };
    // cover[j]: the least values for the layers first..j−1 (columns) or j..=last (rows),
    // walking away from the leaf, and where the last segment starts.
    let n = last + 1 - first;
    let mut cover = vec![(usize::MAX, 0_usize); n + 1];
    cover[0] = (0, 0);
    for j in 1..=n {
        for i in 0..j {
            // Segment of the i-th..(j−1)-th layers from the leaf.
            let (lo, hi) = match side {
                PanelSide::Columns => (first + i, first + j - 1),
                PanelSide::Rows => (last + 1 - j, last - i),
            };
            let v = cover[i].0.saturating_add(segment(lo, hi));
            if v < cover[j].0 {
                cover[j] = (v, i);
            }
        }
    }
    let fixed_leaf = match side {
        PanelSide::Columns => widths[1],
        PanelSide::Rows => widths[depth - 1],
    };
    // Rebuild from the leaf outwards.
    let mut bounds = Vec::new();
    let mut j = n;
    while j > 0 {
        let i = cover[j].1;
        bounds.push((i, j));
        j = i;
    }
    bounds.reverse();
    let mut tree = Tree::Leaf(match side {
        PanelSide::Columns => 1,
        PanelSide::Rows => depth,
    });
    for (i, j) in bounds {
        tree = match side {
            PanelSide::Columns => {
                Tree::Product(Box::new(subtree(first + i, first + j - 1)), Box::new(tree))
            }
            PanelSide::Rows => {
                Tree::Product(Box::new(tree), Box::new(subtree(last + 1 - j, last - i)))
            }
        };
    }
    (tree, cover[n].0 + fixed_leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::plan::every_tree;

    /// Values per unit of a panel whose shared subtrees span `spans`: one column (row) of
    /// each product on the path, and of the leaf's scaled copy.
    fn per_unit(
        side: PanelSide,
        spans: impl Iterator<Item = (usize, usize)>,
        widths: &[usize],
    ) -> usize {
        let depth = widths.len() - 1;
        match side {
            PanelSide::Rows => {
                spans.map(|(lo, _)| widths[lo - 1]).sum::<usize>() + widths[depth - 1]
            }
            PanelSide::Columns => spans.map(|(_, hi)| widths[hi]).sum::<usize>() + widths[1],
        }
    }

    /// [`leanest`]'s count for `tree`'s panels of one unit on `side`.
    fn estimate(tree: &Tree, widths: &[usize], side: PanelSide) -> usize {
        let layout = Layout::new(tree, widths, side);
        let held = layout.shared.iter().map(|t| held_values(t, widths));
        let mut fixed = held.fold(0, usize::saturating_add);
        if let Some(f) = folded_len(side, &layout.shared, widths) {
            fixed += f;
        }
        fixed + per_unit(side, layout.shared.iter().map(|t| t.span()), widths)
    }

    #[test]
    fn a_count_that_shrinks_as_panels_widen_still_gets_the_fewest_panels() {
        // Reverse mode's (M3·M2)·M1 cut by rows: the first step, M3[Q]·M2, copies the
        // panel's D_3·W_3 rows (w×100) while that is cheaper, then W_2 scaled (100×100):
        // 301 rows need less than 300.
        let widths = [1, 100, 100, 301];
        let reverse = Tree::Product(
            Box::new(Tree::Product(
                Box::new(Tree::Leaf(3)),
                Box::new(Tree::Leaf(2)),
            )),
            Box::new(Tree::Leaf(1)),
        );
        let rows = Layout::new(&reverse, &widths, PanelSide::Rows);
        let [narrower, whole] = [300, 301].map(|w| rows.parts(w, 8).total());
        assert!(whole < narrower, "{whole} vs {narrower}");
        // A budget that holds all 301 rows in one panel, but not 300 of them.
        assert_eq!(rows.width(8, 8 * whole), Some(301));
    }

    #[test]
    fn the_leanest_bracketing_needs_the_least_of_all() {
        let mut rng = crate::random::Lcg(11);
        let mut below = |n: usize| rng.below(n);
        for _ in 0..200 {
            let depth = 1 + below(7);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + below(50)).collect();
            for side in [PanelSide::Columns, PanelSide::Rows] {
                let (tree, least) = leanest(&widths, side);
                assert_eq!(estimate(&tree, &widths, side), least, "{widths:?}");
                let all = every_tree(1, depth)
                    .iter()
                    .map(|t| estimate(t, &widths, side))
                    .min()
                    .unwrap();
                assert_eq!(least, all, "{widths:?} {side:?}");
            }
        }
    }
}
