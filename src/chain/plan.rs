//! Which product first: the bracketing of the Jacobian chain, chosen by cost.
//!
//! The Jacobian of F = φ_L(W_L·…φ_1(W_1·x + b_1) + b_L) is the chain
//!
//! ```text
//! J = M_L · M_{L−1} ··· M_1,   M_k = diag(φ'_k(y_k)) · W_k   (d_k × d_{k−1})
//! ```
//!
//! Forward mode brackets it from the right, M_L·(…·(M_2·M_1)); reverse mode from the
//! left, ((M_L·M_{L−1})·…)·M_1. Every other bracketing is also a valid way to compute
//! J, and for widths with a bottleneck one is far cheaper: for (1000, 1000, 10, 1000,
//! 1000) forward and reverse each cost ≈ 1.0e9 multiply-adds, (M4·M3)·(M2·M1) 3.0e7.
//! [`Plan::new`] with [`Mode::Auto`] finds the cheapest by the matrix-chain dynamic
//! programme, O(L³), on predicted seconds: each product m×k·k×n costs
//! max(m·k·n / (GEMM rate · s/(s+narrow)), bytes touched / bandwidth) + a per-call
//! overhead, s = min(m, k, n), with the rates of a [`Calibration`]; it keeps forward or
//! reverse mode unless the best bracketing is predicted ≥ 10% cheaper. Where that
//! bracketing's shared products do not fit the memory budget whole, Auto prices the
//! candidates in the panels each needs ([`super::panels`]; every bracketing up to 9
//! layers, a family of them beyond) and takes the cheapest that fits. The diagonal
//! factors are folded into a neighbouring operand or the result, whichever is cheaper
//! to scale ([`Fold`]: O(size) work, counted in the cost), so they never enter the
//! chain.
//!
//! Costs here count multiply-adds ("flops" in the binary's JSON).

use super::panels::{fit, held_step, leanest, Layout, PanelSide, Panels};
use super::Calibration;
use crate::{Error, Result};

/// Which way the Jacobian chain is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// From the input side, M_L·(…·(M_2·M_1)): dense tangents, O(d0·d1·d2) for the
    /// two-layer gradient.
    Forward,
    /// From the output side, ((M_L·M_{L−1})·…)·M_1: adjoint vectors only for a
    /// gradient, O(d0·d1 + d1·d2).
    Reverse,
    /// The cheapest bracketing of the chain that fits the memory budget, found by dynamic
    /// programming on the widths and this machine's speeds (forward or reverse mode
    /// unless another is predicted ≥ 10 % cheaper); for a gradient (scalar output) that
    /// is reverse mode.
    Auto,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 3] = [Mode::Forward, Mode::Reverse, Mode::Auto];

    /// `"forward"`, `"reverse"` or `"auto"`, as on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
            Mode::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The command line's `--mode` values: the names.
#[cfg(feature = "cli")]
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// Parses a [`name`](Mode::name); anything else is [`Error::Unknown`] listing them.
impl std::str::FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::error::by_name("mode", &Mode::ALL, Mode::name, s)
    }
}

/// Where a product is written: the whole plan needs no brackets, a factor of it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Inner,
}

/// A bracketing of M_L···M_1: a leaf is M_k (layer k, from 1), a node a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tree {
    Leaf(usize),
    Product(Box<Tree>, Box<Tree>),
}

impl Tree {
    /// The bracketing of M_hi···M_lo that a programme's table of splits records:
    /// (M_hi···M_{s+1})·(M_s···M_lo) with s = `split(lo, hi)`, recursively.
    pub(crate) fn split_at(lo: usize, hi: usize, split: &dyn Fn(usize, usize) -> usize) -> Tree {
        if lo == hi {
            return Tree::Leaf(lo);
        }
        let s = split(lo, hi);
        Tree::Product(
            Box::new(Tree::split_at(s + 1, hi, split)),
            Box::new(Tree::split_at(lo, s, split)),
        )
    }

    /// The layers it spans, (lowest, highest).
    pub(crate) fn span(&self) -> (usize, usize) {
        match self {
            Tree::Leaf(k) => (*k, *k),
            Tree::Product(l, r) => (r.span().0, l.span().1),
        }
    }

    fn write(&self, level: Level, out: &mut String) {
        match self {
            Tree::Leaf(k) => out.push_str(&format!("M{k}")),
            Tree::Product(l, r) => {
                let inner = level == Level::Inner;
                if inner {
                    out.push('(');
                }
                l.write(Level::Inner, out);
                out.push('·');
                r.write(Level::Inner, out);
                if inner {
                    out.push(')');
                }
            }
        }
    }

    /// Products in the order they run (left operand first, as the executor does),
    /// each with (m, k, n); returns the span. A step's name spells its operands out up
    /// to [`SPELLED`] layers and abbreviates longer ones as `(M9···M1)`, so that the
    /// steps of a deep chain print in O(L), not O(L²).
    fn products(&self, widths: &[usize], out: &mut Vec<(String, [usize; 3])>) -> (usize, usize) {
        let Tree::Product(l, r) = self else {
            return self.span();
        };
        let (mid, hi) = l.products(widths, out);
        let (lo, _) = r.products(widths, out);
        let name = if hi - lo < SPELLED {
            let mut name = String::new();
            self.write(Level::Top, &mut name);
            name
        } else {
            let operand = |t: &Tree, (lo, hi): (usize, usize)| match hi - lo {
                0 => format!("M{lo}"),
                n if n < SPELLED => {
                    let mut name = String::new();
                    t.write(Level::Inner, &mut name);
                    name
                }
                _ => format!("(M{hi}···M{lo})"),
            };
            format!("{}·{}", operand(l, (mid, hi)), operand(r, (lo, mid - 1)))
        };
        out.push((name, [widths[hi], widths[mid - 1], widths[lo - 1]]));
        (lo, hi)
    }
}

/// Steps over at most this many layers are named in full.
const SPELLED: usize = 8;

/// How a Jacobian will be computed: the bracketing, the panels it is cut into to fit a
/// memory budget, and its predicted cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    widths: Vec<usize>,
    mode: Mode,
    pub(crate) tree: Tree,
    panels: Option<Panels>,
    flops: f64,
    seconds: f64,
}

impl Plan {
    /// The plan of `mode` for widths d0 … dL, values of `size` bytes (4 or 8) and
    /// panels within `budget` bytes: forward and reverse are fixed bracketings, auto the
    /// cheapest in predicted seconds among the candidates whose panels fit (forward or
    /// reverse unless another is ≥ 10 % cheaper; see the module docs). Errors on fewer than
    /// two widths, a width of 0, or another size; a plan that does not fit is still made
    /// ([`panels`](Self::panels) is `None`), and computing its Jacobian is the error.
    pub fn new(
        widths: &[usize],
        mode: Mode,
        calibration: &Calibration,
        size: usize,
        budget: usize,
    ) -> Result<Plan> {
        if widths.len() < 2 || widths.contains(&0) || !matches!(size, 4 | 8) {
            return Err(Error::Shape {
                what: "a plan needs d0 and at least one layer's width, none 0, and values of 4 or 8 bytes".into(),
                expected: "widths d0, d1, …; size 4 or 8".into(),
                got: format!("widths {widths:?}, size {size}"),
            });
        }
        // The planner counts the bytes of products of any two widths (J itself is
        // d_L×d0), times small factors (a scaled copy moves its values 3 times): past
        // this no product of the chain could be held, and the counts would overflow.
        let widest = widths.iter().copied().max().unwrap_or(0) as u128;
        let pair_bytes = widest * widest * size as u128;
        if pair_bytes.saturating_mul(64) > usize::MAX as u128 {
            return Err(Error::TooLarge {
                what: format!("a plan for widths {widths:?} (a product of two of them)"),
                needed: pair_bytes.min(u64::MAX as u128) as u64,
                available: (usize::MAX / 64) as u64,
            });
        }
        Ok(Plan::checked(widths, mode, calibration, size, budget))
    }

    /// [`Plan::new`] for widths and a size already checked.
    pub(crate) fn checked(
        widths: &[usize],
        mode: Mode,
        calibration: &Calibration,
        size: usize,
        budget: usize,
    ) -> Plan {
        let depth = widths.len() - 1;
        let costs = Costs {
            widths,
            cal: calibration,
            size,
            budget,
        };
        let tree = match mode {
            Mode::Forward | Mode::Reverse => fixed_tree(depth, mode),
            Mode::Auto => costs.auto(),
        };
        let fit = costs.fit(&tree);
        let (flops, whole) = cost(&tree, widths, calibration, size, None);
        let products = fit.map_or(whole, |(_, s)| s);
        // Every plan also runs the primal (each W_k read once) and writes J (d_L×d0,
        // fresh pages: about twice the traffic of the values).
        let values = |a: usize, b: usize| a as f64 * b as f64;
        let primal: f64 = widths.windows(2).map(|w| values(w[0], w[1])).sum();
        let output = 2.0 * values(widths[0], widths[depth]);
        let seconds = products + (primal + output) * size as f64 / calibration.bandwidth;
        Plan {
            widths: widths.to_vec(),
            mode,
            tree,
            panels: fit.map(|(p, _)| p),
            flops,
            seconds,
        }
    }

    /// The widths d0 … dL it is for.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// The mode it was made for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Predicted multiply-adds of its matrix products.
    pub fn predicted_flops(&self) -> f64 {
        self.flops
    }

    /// Predicted seconds of the whole Jacobian (primal, products in their panels,
    /// writing J) under the calibration and budget it was made with.
    pub fn predicted_seconds(&self) -> f64 {
        self.seconds
    }

    /// The panels its Jacobian is cut into within the budget it was made with; `None`
    /// when not even a panel of one column or row fits.
    pub fn panels(&self) -> Option<Panels> {
        self.panels
    }

    /// The products in the order they run, e.g. `["M2·M1 (10×1000 by 1000×1000)", …]`.
    pub fn steps(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.tree.products(&self.widths, &mut out);
        out.into_iter()
            .map(|(name, [m, k, n])| format!("{name} ({m}×{k} by {k}×{n})"))
            .collect()
    }
}

/// `(M4·M3)·(M2·M1)`, where M_k = diag(φ'_k(y_k))·W_k.
impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.tree.write(Level::Top, &mut s);
        f.write_str(&s)
    }
}

/// Mode::Auto leaves forward or reverse mode only for a bracketing predicted at least
/// this many times cheaper.
const AUTO_MARGIN: f64 = 1.1;

/// Forward mode's M_L·(M_{L−1}·(…·M_1)), the input side first, or reverse mode's
/// ((M_L·M_{L−1})·…)·M_1, the output side first.
fn fixed_tree(depth: usize, mode: Mode) -> Tree {
    if mode == Mode::Forward {
        (1..depth).fold(Tree::Leaf(1), |t, k| {
            Tree::Product(Box::new(Tree::Leaf(k + 1)), Box::new(t))
        })
    } else {
        (1..depth).rev().fold(Tree::Leaf(depth), |t, k| {
            Tree::Product(Box::new(t), Box::new(Tree::Leaf(k)))
        })
    }
}

/// (multiply-adds, predicted seconds) of a bracketing, whole or in `panels`: the
/// products on the path to the cut leaf run once per panel, the others once. A lone
/// leaf is a scaled copy.
fn cost(
    tree: &Tree,
    widths: &[usize],
    cal: &Calibration,
    size: usize,
    panels: Option<Panels>,
) -> (f64, f64) {
    match tree {
        Tree::Leaf(k) => (
            0.0,
            widths[*k] as f64 * widths[k - 1] as f64 * size as f64 / cal.bandwidth,
        ),
        Tree::Product(l, r) => {
            let (lo, mid) = r.span();
            let hi = l.span().1;
            let inner = |t: &Tree| match t {
                Tree::Leaf(_) => (0.0, 0.0),
                _ => cost(t, widths, cal, size, panels),
            };
            let ((lf, ls), (rf, rs)) = (inner(l), inner(r));
            // Unpanelled, the executor cuts columns (its choice on a tie).
            let side = panels.map_or(PanelSide::Columns, |p| p.side);
            let step = Step::new(widths, lo, mid, hi, side);
            let [m, k, n] = step.shape;
            let seconds = match panels {
                Some(p) if step.on_path(p.side, widths) => step.panelled(cal, size, p),
                _ => step.seconds(cal, size),
            };
            (lf + rf + m as f64 * k as f64 * n as f64, ls + rs + seconds)
        }
    }
}

/// The search of [`Mode::Auto`]: bracketings priced in the panels they need within a
/// budget.
struct Costs<'a> {
    widths: &'a [usize],
    cal: &'a Calibration,
    size: usize,
    budget: usize,
}

impl Costs<'_> {
    /// The panels of `tree` within the budget (as the executor cuts them), and the
    /// predicted seconds of its products in them; None when not even one unit fits.
    fn fit(&self, tree: &Tree) -> Option<(Panels, f64)> {
        let (layout, width) = fit(tree, self.widths, self.size, self.budget)?;
        let panels = layout.panels(width);
        let seconds = cost(tree, self.widths, self.cal, self.size, Some(panels)).1;
        Some((panels, seconds))
    }

    /// The bracketing predicted fastest among those whose panels fit the budget;
    /// forward or reverse mode unless it is clearly cheaper ([`AUTO_MARGIN`]). Where
    /// none fits, the one needing the least memory, whose error then names that least.
    fn auto(&self) -> Tree {
        let (widths, depth) = (self.widths, self.widths.len() - 1);
        let fitted = |t: &Tree| self.fit(t).map(|(_, s)| s);
        let known = [Mode::Forward, Mode::Reverse]
            .into_iter()
            .filter_map(|mode| {
                let t = fixed_tree(depth, mode);
                let s = fitted(&t)?;
                Some((t, s))
            })
            .fold(None, cheaper);
        // The programme's choice without a budget, where it fits whole and is not
        // predicted dearer than forward or reverse mode in their panels: the budget
        // costs it nothing, and every plan stays as it was where memory is ample.
        // The budget-free programme's choice: every candidate set below holds it.
        let best = cheapest(widths, self.cal, self.size);
        let free = self.unbounded(best.clone());
        if let Some((p, s)) = self.fit(&free) {
            if p.count == 1 && known.as_ref().is_none_or(|k| s <= k.1) {
                return free;
            }
        }
        let candidates = self.candidates(best);
        let found = candidates
            .iter()
            .filter_map(|t| Some((t, fitted(t)?)))
            .fold(None, |b: Option<(&Tree, f64)>, n| match b {
                Some(b) if b.1 <= n.1 => Some(b),
                _ => Some(n),
            });
        match (found, known) {
            (Some((_, s)), Some((k, ks))) if s * AUTO_MARGIN >= ks => k,
            (Some((t, _)), _) => t.clone(),
            (None, _) if depth > MAX_SEARCHED_DEPTH => free,
            // None fits: the candidate needing the least (every bracketing up to
            // EXHAUSTIVE_DEPTH layers), whose error then names that least.
            (None, _) => {
                let least = |t: &Tree| {
                    [PanelSide::Columns, PanelSide::Rows]
                        .map(|side| Layout::new(t, widths, side).least(self.size))
                        .into_iter()
                        .min()
                        .unwrap_or(usize::MAX)
                };
                candidates
                    .into_iter()
                    .min_by_key(|t| least(t))
                    .unwrap_or(free)
            }
        }
    }

    /// Auto's choice with memory unbounded: the programme's cheapest bracketing where
    /// it is predicted clearly cheaper than forward or reverse mode, else the cheaper of
    /// those (the model errs by ~10–40% on a busy machine, and they are the plans whose
    /// behaviour users know).
    fn unbounded(&self, best: Tree) -> Tree {
        let depth = self.widths.len() - 1;
        let seconds_of = |t: &Tree| cost(t, self.widths, self.cal, self.size, None).1;
        let (fwd, rev) = (
            fixed_tree(depth, Mode::Forward),
            fixed_tree(depth, Mode::Reverse),
        );
        let (f, r) = (seconds_of(&fwd), seconds_of(&rev));
        let (known, known_s) = if f <= r { (fwd, f) } else { (rev, r) };
        if seconds_of(&best) * AUTO_MARGIN < known_s {
            best
        } else {
            known
        }
    }

    /// The bracketings priced under the budget: every one for chains up to
    /// [`EXHAUSTIVE_DEPTH`] layers; beyond, forward, reverse, the programme's cheapest
    /// when each product's memory is charged at a range of prices (up to
    /// [`PRICED_DEPTH`]), and the two that need the least memory and `best`, the
    /// budget-free cheapest (up to [`MAX_SEARCHED_DEPTH`]), so that some candidate fits
    /// whenever any bracketing does; past that, forward and reverse only (where `best`
    /// is reverse mode's tree).
    fn candidates(&self, best: Tree) -> Vec<Tree> {
        let (widths, depth) = (self.widths, self.widths.len() - 1);
        if depth <= EXHAUSTIVE_DEPTH {
            return every_tree(1, depth);
        }
        let mut out = vec![
            fixed_tree(depth, Mode::Forward),
            fixed_tree(depth, Mode::Reverse),
        ];
        if depth > MAX_SEARCHED_DEPTH {
            return out;
        }
        out.extend([PanelSide::Columns, PanelSide::Rows].map(|s| leanest(widths, s).0));
        // The budget-free cheapest, in panels: often still the best where it fits at all.
        out.push(best);
        if depth <= PRICED_DEPTH {
            // Seconds per byte held, around a byte's streaming time (2.5e-11 s at
            // 40 GB/s), three per decade.
            for e in 0..=24 {
                let price = 1e-14 * 10_f64.powf(e as f64 / 3.0);
                out.push(priced(widths, self.cal, self.size, price));
            }
        }
        out
    }
}

/// The cheaper of two (tree, seconds), the first on a tie.
fn cheaper(best: Option<(Tree, f64)>, next: (Tree, f64)) -> Option<(Tree, f64)> {
    match best {
        Some(b) if b.1 <= next.1 => Some(b),
        _ => Some(next),
    }
}

/// Chains up to this deep have every bracketing priced under a budget: C(L−1) of them,
/// 1 430 at 9 layers.
const EXHAUSTIVE_DEPTH: usize = 9;

/// Chains up to this deep also have memory-priced programmes (25 of O(L³) each).
const PRICED_DEPTH: usize = 64;

/// Every bracketing of M_hi···M_lo.
pub(crate) fn every_tree(lo: usize, hi: usize) -> Vec<Tree> {
    // all[i][j]: every bracketing of M_{lo+i+j}···M_{lo+i}, shortest spans first, so
    // each span's list is built once.
    let n = hi + 1 - lo;
    let mut all: Vec<Vec<Vec<Tree>>> = vec![vec![Vec::new(); n]; n];
    for (i, spans) in all.iter_mut().enumerate() {
        spans[0] = vec![Tree::Leaf(lo + i)];
    }
    for len in 1..n {
        for i in 0..n - len {
            let mut out = Vec::new();
            for cut in 0..len {
                // (M_top···M_{lo+i+cut+1})·(M_{lo+i+cut}···M_{lo+i})
                for l in &all[i + cut + 1][len - cut - 1] {
                    for r in &all[i][cut] {
                        out.push(Tree::Product(Box::new(l.clone()), Box::new(r.clone())));
                    }
                }
            }
            all[i][len] = out;
        }
    }
    std::mem::take(&mut all[0][n - 1])
}

/// An operand of a product in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operand {
    /// A factor M_k = D_k·W_k, still in its parts.
    Factor,
    /// A computed product, its diagonals already in.
    Product,
}

/// Where the diagonals of one product go: into a scaled copy of an operand, or onto
/// the result's rows. For M_j·M_i = D_j·W_j·D_i·W_i (m×k by k×n), L·M_i and M_j·R:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// (D_j·W_j·D_i)·W_i: both into one copy of W_j (m×k).
    BothIntoLeft,
    /// D_j·(W_j·(D_i·W_i)): a copy of W_i's rows scaled (k×n), the result's rows after.
    RightThenResult,
    /// (D_j·W_j)·R: a copy of W_j (m×k).
    RowsOfLeft,
    /// D_j·(W_j·R): the result's rows, in place.
    RowsOfResult,
    /// (L·D_i)·W_i: a copy of L's columns scaled (m×k).
    ColumnsOfLeft,
    /// L·(D_i·W_i): a copy of W_i's rows scaled (k×n).
    RowsOfRight,
    /// L·R: no diagonal left.
    Nothing,
}

impl Fold {
    /// The cheapest way for these operands (values moved: a copy reads, writes and
    /// faults in fresh pages, 3 passes; scaling in place reads and writes, 2).
    pub(crate) fn choose(left: Operand, right: Operand, [m, k, n]: [usize; 3]) -> Fold {
        use Operand::{Factor, Product};
        match (left, right) {
            (Factor, Factor) if 3 * m * k <= 3 * k * n + 2 * m * n => Fold::BothIntoLeft,
            (Factor, Factor) => Fold::RightThenResult,
            (Factor, Product) if 3 * m * k <= 2 * m * n => Fold::RowsOfLeft,
            (Factor, Product) => Fold::RowsOfResult,
            (Product, Factor) if m * k <= k * n => Fold::ColumnsOfLeft,
            (Product, Factor) => Fold::RowsOfRight,
            (Product, Product) => Fold::Nothing,
        }
    }

    /// Values of the scaled copy it makes.
    pub(crate) fn copy_len(self, [m, k, n]: [usize; 3]) -> usize {
        match self {
            Fold::BothIntoLeft | Fold::RowsOfLeft | Fold::ColumnsOfLeft => m * k,
            Fold::RightThenResult | Fold::RowsOfRight => k * n,
            Fold::RowsOfResult | Fold::Nothing => 0,
        }
    }

    /// Values moved: 3 per copied value, 2 per value scaled in place.
    fn moved(self, shape: [usize; 3]) -> usize {
        let [m, _, n] = shape;
        let in_place = match self {
            Fold::RightThenResult | Fold::RowsOfResult => 2 * m * n,
            _ => 0,
        };
        3 * self.copy_len(shape) + in_place
    }
}

/// Where a product's result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The root: straight into J.
    Jacobian,
    /// A temporary, whose fresh pages cost a write's worth of traffic more.
    Temporary,
}

/// One product of a bracketing, (M_hi···M_{mid+1})·(M_mid···M_lo), as the executor
/// runs it.
struct Step {
    /// (m, k, n).
    shape: [usize; 3],
    left: Operand,
    right: Operand,
    fold: Fold,
    output: Output,
    /// Layers (lo, hi) it spans.
    span: (usize, usize),
}

impl Step {
    /// The step as the executor runs it when panels cut `side` (or J is one panel,
    /// cut as `side`).
    fn new(widths: &[usize], lo: usize, mid: usize, hi: usize, side: PanelSide) -> Step {
        let shape = [widths[hi], widths[mid], widths[lo - 1]];
        let kind = |leaf: bool| {
            if leaf {
                Operand::Factor
            } else {
                Operand::Product
            }
        };
        let (left, right) = (kind(mid + 1 == hi), kind(lo == mid));
        // Panels of columns scale the product left of M_1 by D_1 once for all of them
        // (panels of rows compute it whole, folded as any other).
        let once = side == PanelSide::Columns && lo == 1;
        let fold = if once && (left, right) == (Operand::Product, Operand::Factor) {
            Fold::ColumnsOfLeft
        } else {
            Fold::choose(left, right, shape)
        };
        let output = if lo == 1 && hi == widths.len() - 1 {
            Output::Jacobian
        } else {
            Output::Temporary
        };
        Step {
            shape,
            left,
            right,
            fold,
            output,
            span: (lo, hi),
        }
    }

    /// Predicted seconds: the product, the folding, and a temporary's fresh pages.
    fn seconds(&self, cal: &Calibration, size: usize) -> f64 {
        let [m, k, n] = self.shape;
        let pages = match self.output {
            Output::Jacobian => 0,
            Output::Temporary => 2 * m * n,
        };
        let moved = self.fold.moved(self.shape) + pages;
        cal.product_seconds(m, k, n, size) + (moved * size) as f64 / cal.bandwidth
    }

    /// Whether panels on `side` cut it: it spans the leaf they cut, M_1 or M_L.
    fn on_path(&self, side: PanelSide, widths: &[usize]) -> bool {
        match side {
            PanelSide::Columns => self.span.0 == 1,
            PanelSide::Rows => self.span.1 == widths.len() - 1,
        }
    }

    /// Predicted seconds in `panels`: once per panel, each its slice of the result,
    /// with the fold the executor picks for that slice. Panels of columns scale L·D_1
    /// once for all of them.
    fn panelled(&self, cal: &Calibration, size: usize, panels: Panels) -> f64 {
        let [m, k, n] = self.shape;
        let units = match panels.side {
            PanelSide::Columns => n,
            PanelSide::Rows => m,
        };
        let once = panels.side == PanelSide::Columns
            && (self.left, self.right) == (Operand::Product, Operand::Factor);
        let slice = |units: usize| {
            let shape = match panels.side {
                PanelSide::Columns => [m, k, units],
                PanelSide::Rows => [units, k, n],
            };
            let fold = match once {
                true => Fold::Nothing,
                false => Fold::choose(self.left, self.right, shape),
            };
            Step {
                shape,
                fold,
                ..*self
            }
            .seconds(cal, size)
        };
        let last = units - (panels.count - 1) * panels.width;
        let folded = match once {
            true => (3 * m * k * size) as f64 / cal.bandwidth,
            false => 0.0,
        };
        (panels.count - 1) as f64 * slice(panels.width) + slice(last) + folded
    }
}

/// Chains deeper than this are not searched: the programme costs O(L³) time and O(L²)
/// memory (256 layers: ~0.1 s; 20 000: hours), and Auto takes the cheaper of forward
/// and reverse instead.
pub(crate) const MAX_SEARCHED_DEPTH: usize = 256;

/// The matrix-chain dynamic programme over M_L…M_1 on predicted seconds (reverse mode's
/// tree past [`MAX_SEARCHED_DEPTH`], which Auto then weighs against forward's).
fn cheapest(widths: &[usize], cal: &Calibration, size: usize) -> Tree {
    if widths.len() - 1 > MAX_SEARCHED_DEPTH {
        return fixed_tree(widths.len() - 1, Mode::Reverse);
    }
    priced(widths, cal, size, 0.0)
}

/// The programme on predicted seconds plus `price` seconds per byte each product holds
/// (its result and scaled copy, as a panel's shared products count them).
fn priced(widths: &[usize], cal: &Calibration, size: usize, price: f64) -> Tree {
    let depth = widths.len() - 1;
    if depth == 1 {
        return Tree::Leaf(1);
    }
    let best = programme(depth, 0.0, |lo, split, hi, inner| {
        let held = (held_step(widths, lo, split, hi) * size) as f64;
        let step = Step::new(widths, lo, split, hi, PanelSide::Columns);
        inner + step.seconds(cal, size) + price * held
    });
    Tree::split_at(1, depth, &|lo, hi| best[lo][hi].1)
}

/// The matrix-chain programme over layers 1..=depth: `table[lo][hi]` is the least cost
/// of a bracketing of M_hi···M_lo and its split (the first on a tie), where splitting
/// at s, (M_hi···M_{s+1})·(M_s···M_lo), costs `step(lo, s, hi, inner)` with `inner` the
/// two factors' least costs added. O(L³) steps, O(L²) memory.
pub(crate) fn programme<C: Copy + PartialOrd + std::ops::Add<Output = C>>(
    depth: usize,
    zero: C,
    step: impl Fn(usize, usize, usize, C) -> C,
) -> Vec<Vec<(C, usize)>> {
    let mut table = vec![vec![(zero, 0_usize); depth + 1]; depth + 1];
    for len in 2..=depth {
        for lo in 1..=depth + 1 - len {
            let hi = lo + len - 1;
            let mut best: Option<(C, usize)> = None;
            for split in lo..hi {
                let c = step(lo, split, hi, table[lo][split].0 + table[split + 1][hi].0);
                if best.is_none_or(|(b, _)| c < b) {
                    best = Some((c, split));
                }
            }
            table[lo][hi] = best.expect("len ≥ 2");
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widths whose products could not be counted are a typed error, not an overflow;
    /// large ones that can be counted make a plan (that fits no ordinary budget).
    #[test]
    fn absurd_widths_are_refused_and_large_ones_planned() {
        let cal = Calibration::stored();
        for widths in [vec![1 << 40, 1 << 40], vec![3, 1 << 62, 3]] {
            match Plan::new(&widths, Mode::Auto, &cal, 8, usize::MAX) {
                Err(Error::TooLarge { needed, .. }) => assert!(needed > 0, "{widths:?}"),
                other => panic!("{widths:?}: {other:?}"),
            }
        }
        let big = [1 << 26, 1 << 26, 1 << 26, 1 << 26, 1 << 26];
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let plan = Plan::new(&big, mode, &cal, 8, 1 << 30).expect("countable");
            assert!(plan.predicted_seconds().is_finite() && plan.panels().is_none());
        }
    }

    fn flops_only() -> Calibration {
        Calibration {
            gemm_rate: 1.0,
            bandwidth: f64::INFINITY,
            call_seconds: 0.0,
            narrow: 0.0,
        }
    }

    #[test]
    fn the_autoencoder_is_bracketed_at_its_bottleneck() {
        let w = [1000, 1000, 10, 1000, 1000];
        let cal = flops_only();
        let fwd = Plan::new(&w, Mode::Forward, &cal, 8, usize::MAX).unwrap();
        let rev = Plan::new(&w, Mode::Reverse, &cal, 8, usize::MAX).unwrap();
        let auto = Plan::new(&w, Mode::Auto, &cal, 8, usize::MAX).unwrap();
        assert_eq!(fwd.to_string(), "M4·(M3·(M2·M1))");
        assert_eq!(rev.to_string(), "((M4·M3)·M2)·M1");
        assert_eq!(auto.to_string(), "(M4·M3)·(M2·M1)");
        assert_eq!(fwd.predicted_flops(), 1e7 + 1e7 + 1e9);
        assert_eq!(rev.predicted_flops(), 1e7 + 1e7 + 1e9);
        assert_eq!(auto.predicted_flops(), 3e7);
        assert_eq!(
            auto.steps(),
            [
                "M4·M3 (1000×1000 by 1000×10)",
                "M2·M1 (10×1000 by 1000×1000)",
                "(M4·M3)·(M2·M1) (1000×10 by 10×1000)"
            ]
        );
    }

    #[test]
    fn auto_is_never_predicted_dearer_than_forward_or_reverse() {
        let cal = Calibration::stored();
        let mut seed = 12345_u64;
        for _ in 0..300 {
            let mut next = || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1 + (seed >> 33) as usize % 2000
            };
            let depth = 1 + next() % 6;
            let widths: Vec<usize> = (0..=depth).map(|_| next()).collect();
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8, usize::MAX)
                .unwrap()
                .predicted_seconds();
            for mode in [Mode::Forward, Mode::Reverse] {
                let other = Plan::new(&widths, mode, &cal, 8, usize::MAX)
                    .unwrap()
                    .predicted_seconds();
                assert!(auto <= other * (1.0 + 1e-12), "{widths:?} {mode}");
            }
        }
    }

    #[test]
    fn one_and_two_layers_have_one_bracketing() {
        let cal = flops_only();
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            assert_eq!(
                Plan::new(&[3, 4], mode, &cal, 8, usize::MAX)
                    .unwrap()
                    .to_string(),
                "M1"
            );
            let p = Plan::new(&[3, 4, 5], mode, &cal, 8, usize::MAX).unwrap();
            assert_eq!(p.to_string(), "M2·M1");
            assert_eq!(p.predicted_flops(), 60.0);
        }
    }

    use crate::random::Lcg;

    /// The fewest bytes any bracketing's panel of one unit needs, by trying them all.
    fn least_bytes(widths: &[usize]) -> usize {
        let depth = widths.len() - 1;
        every_tree(1, depth)
            .iter()
            .flat_map(|t| {
                [PanelSide::Columns, PanelSide::Rows].map(|s| Layout::new(t, widths, s).least(8))
            })
            .min()
            .unwrap()
            * 8
    }

    #[test]
    fn auto_fits_where_forward_and_reverse_do_and_the_cheapest_does_not() {
        // Unaware of the budget, Auto picked (M5·(M4·(M3·M2)))·M1 and refused 64 KiB,
        // where forward and reverse mode fit.
        let w = [199, 9, 195, 278, 283, 151];
        let cal = Calibration::stored();
        let budget = 64 << 10;
        let auto = Plan::new(&w, Mode::Auto, &cal, 8, budget).unwrap();
        let panels = auto.panels().expect("a bracketing fits 64 KiB");
        for mode in [Mode::Forward, Mode::Reverse] {
            let other = Plan::new(&w, mode, &cal, 8, budget).unwrap();
            assert!(other.panels().is_some(), "{mode}");
            assert!(
                auto.predicted_seconds() <= other.predicted_seconds(),
                "{mode}"
            );
        }
        let (layout, width) = fit(&auto.tree, &w, 8, budget).unwrap();
        assert_eq!(layout.panels(width), panels);
        assert!(layout.parts(width, 8).total() * 8 <= budget);
    }

    #[test]
    fn auto_fits_whenever_some_bracketing_does_and_is_never_predicted_dearer() {
        let cal = Calibration::stored();
        let mut rng = Lcg(7);
        for case in 0..400 {
            let depth = 1 + rng.below(7);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + rng.below(300)).collect();
            // Budgets around the least any bracketing needs, where the choice matters.
            let least = least_bytes(&widths);
            let budget = least / 2 + rng.below(4 * least.max(64));
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8, budget).unwrap();
            assert_eq!(
                auto.panels().is_some(),
                budget >= least,
                "case {case}: {widths:?}, budget {budget}, least {least}: {auto}"
            );
            if budget < least {
                // The error will name the least any bracketing needs.
                let l = [PanelSide::Columns, PanelSide::Rows]
                    .map(|s| Layout::new(&auto.tree, &widths, s).least(8))
                    .into_iter()
                    .min()
                    .unwrap();
                assert_eq!(l * 8, least, "case {case}");
                continue;
            }
            for mode in [Mode::Forward, Mode::Reverse] {
                let other = Plan::new(&widths, mode, &cal, 8, budget).unwrap();
                if other.panels().is_some() {
                    assert!(
                        auto.predicted_seconds() <= other.predicted_seconds(),
                        "case {case}: {widths:?}, budget {budget}: {auto} vs {mode}"
                    );
                }
            }
        }
    }

    #[test]
    fn deep_chains_fit_whenever_the_leanest_bracketing_does() {
        // Past EXHAUSTIVE_DEPTH the search prices candidates; the leanest trees among
        // them keep the guarantee.
        let cal = Calibration::stored();
        let mut rng = Lcg(3);
        for case in 0..60 {
            let depth = EXHAUSTIVE_DEPTH + 1 + rng.below(8);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + rng.below(200)).collect();
            let sides = [PanelSide::Columns, PanelSide::Rows];
            let least = sides
                .map(|s| {
                    let tree = leanest(&widths, s).0;
                    sides.map(|t| Layout::new(&tree, &widths, t).least(8))
                })
                .into_iter()
                .flatten()
                .min()
                .unwrap()
                * 8;
            let budget = least / 2 + rng.below(4 * least);
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8, budget).unwrap();
            if budget >= least {
                assert!(auto.panels().is_some(), "case {case}");
            }
            for mode in [Mode::Forward, Mode::Reverse] {
                let other = Plan::new(&widths, mode, &cal, 8, budget).unwrap();
                if other.panels().is_some() {
                    assert!(auto.predicted_seconds() <= other.predicted_seconds());
                }
            }
        }
    }

    #[test]
    fn past_the_exhaustive_depth_auto_is_never_predicted_dearer_than_the_cheapest_in_panels() {
        // Depth 70: no memory-priced programmes; the budget-free cheapest bracketing,
        // cut into panels, is still a candidate (the review found it was not).
        let cal = Calibration::stored();
        let mut rng = Lcg(13);
        let mut cut = 0;
        for case in 0..12 {
            let depth = 70;
            let widths: Vec<usize> = (0..=depth)
                .map(|i| if i % 9 == 4 { 2 } else { 100 + rng.below(200) })
                .collect();
            let costs = |budget| Costs {
                widths: &widths,
                cal: &cal,
                size: 8,
                budget,
            };
            let best = cheapest(&widths, &cal, 8);
            let Some((layout, _)) = fit(&best, &widths, 8, usize::MAX) else {
                unreachable!()
            };
            // Room for the cheapest's shared products and a few units: several panels.
            let budget = 8 * layout.parts(2 + rng.below(6), 8).total();
            let c = costs(budget);
            let Some((panels, s)) = c.fit(&best) else {
                panic!("case {case}: the budget holds a few units")
            };
            if panels.count == 1 {
                // Its panels' scratch does not grow with their width.
                continue;
            }
            cut += 1;
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8, budget).unwrap();
            let auto_s = c.fit(&auto.tree).expect("fits").1;
            assert!(auto_s <= s * AUTO_MARGIN, "case {case}: {auto_s} vs {s}");
        }
        assert!(cut >= 6, "only {cut} of 12 cases in several panels");
    }

    #[test]
    fn an_ample_budget_keeps_the_plans_made_without_one() {
        let cal = Calibration::stored();
        let mut rng = Lcg(5);
        for _ in 0..200 {
            let depth = 1 + rng.below(6);
            let widths: Vec<usize> = (0..=depth).map(|_| 1 + rng.below(2000)).collect();
            let costs = Costs {
                widths: &widths,
                cal: &cal,
                size: 8,
                budget: usize::MAX,
            };
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8, usize::MAX).unwrap();
            let best = cheapest(&widths, &cal, 8);
            assert_eq!(auto.tree, costs.unbounded(best), "{widths:?}");
            assert_eq!(auto.panels().map(|p| p.count), Some(1));
        }
    }

    #[test]
    fn under_panels_of_rows_each_shared_product_is_priced_as_the_executor_folds_it() {
        // M4·((M3·M2)·M1) cut by rows: (M3·M2)·M1 is shared, computed whole, its
        // diagonal D_1 folded by Fold::choose (here into W_1's 1000×10 copy, not the
        // 1000×1000 product's), as every step of one full panel of rows is. It was priced
        // as panels of columns fold it, into the product's copy.
        let w = [10, 1000, 1000, 1000, 5];
        let cal = Calibration::stored();
        let tree = Tree::Product(
            Box::new(Tree::Leaf(4)),
            Box::new(Tree::Product(
                Box::new(Tree::Product(
                    Box::new(Tree::Leaf(3)),
                    Box::new(Tree::Leaf(2)),
                )),
                Box::new(Tree::Leaf(1)),
            )),
        );
        let one = Panels {
            side: PanelSide::Rows,
            width: 5,
            count: 1,
        };
        let mut steps = Vec::new();
        tree.products(&w, &mut steps);
        let executor: f64 = [(2, 2, 3), (1, 1, 3), (1, 3, 4)]
            .into_iter()
            .map(|(lo, mid, hi)| {
                let step = Step::new(&w, lo, mid, hi, PanelSide::Rows);
                let fold = Fold::choose(step.left, step.right, step.shape);
                Step { fold, ..step }.seconds(&cal, 8)
            })
            .sum();
        let (_, priced) = cost(&tree, &w, &cal, 8, Some(one));
        // The shared (M3·M2)·M1 is one the two sides fold differently.
        let shared = Step::new(&w, 1, 1, 3, PanelSide::Rows);
        assert_eq!(shared.fold, Fold::RowsOfRight);
        assert_eq!(
            Step::new(&w, 1, 1, 3, PanelSide::Columns).fold,
            Fold::ColumnsOfLeft
        );
        assert_eq!(steps.len(), 3);
        assert!(
            (priced - executor).abs() <= 1e-12 * executor,
            "{priced} vs {executor}"
        );
    }

    #[test]
    fn panels_cost_more_the_more_there_are() {
        let w = [1000, 1000, 10, 1000, 1000];
        let cal = Calibration::stored();
        let seconds = |budget| {
            Plan::new(&w, Mode::Forward, &cal, 8, budget)
                .unwrap()
                .predicted_seconds()
        };
        let (whole, some, many) = (seconds(1 << 30), seconds(4 << 20), seconds(256 << 10));
        assert!(whole < some && some < many, "{whole} {some} {many}");
    }

    #[test]
    fn chains_past_the_searched_depth_weigh_forward_and_reverse_only() {
        // 2 000 layers: the O(L³) programmes would take minutes; under a budget that
        // forces panels, Auto still answers with forward or reverse mode at once.
        let widths: Vec<usize> = (0..=2000).map(|i| 5 + i % 7).collect();
        let cal = Calibration::stored();
        let (fwd, rev) = (
            fixed_tree(2000, Mode::Forward),
            fixed_tree(2000, Mode::Reverse),
        );
        // Room for panels of two units, the smaller of the two modes'.
        let two = |tree, side| Layout::new(tree, &widths, side).parts(2, 8).total();
        let budget = 8 * two(&fwd, PanelSide::Columns).min(two(&rev, PanelSide::Rows));
        let auto = Plan::new(&widths, Mode::Auto, &cal, 8, budget).unwrap();
        assert!(auto.tree == fwd || auto.tree == rev);
        assert!(auto.panels().is_some_and(|p| p.count > 1));
    }
}
