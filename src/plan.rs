//! Which product first: the bracketing of the Jacobian chain, chosen by cost.
//!
//! The Jacobian of F = φ_L(W_L·…φ_1(W_1·x)) is the chain
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
//! reverse mode unless the best bracketing is predicted ≥ 10% cheaper. The diagonal
//! factors are folded into a neighbouring operand or the result, whichever is cheaper
//! to scale (O(size) work, counted in the cost), so they never enter the chain.
//!
//! Costs here count multiply-adds ("flops" in this crate's JSON, as in
//! [`Dims::forward_flops`](crate::Dims::forward_flops)).

use crate::linalg::{gemm, stream_sum};
use crate::{Mode, Real};
use ndarray::Array2;
use std::time::Instant;

/// The machine speeds that turn a product's shape into predicted seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Multiply-adds per second of a large matrix product.
    pub gemm_rate: f64,
    /// Bytes per second of a streaming read from memory.
    pub bandwidth: f64,
    /// Seconds each product costs beyond its arithmetic and traffic (call, threads).
    pub call_seconds: f64,
    /// A product whose smallest dimension is s runs at s/(s + `narrow`) of the square
    /// rate (packing and edge handling are not amortised): with OpenBLAS here (≈ 35) a
    /// 1000×10 by 10×1000 product runs at ~0.2 of it, a 50-wide one at ~0.6.
    pub narrow: f64,
}

impl Calibration {
    /// A stored profile: what was measured on the 2-core development machine
    /// (2026-11-29/30, Xeon, 38.9 GB/s read; DGEMM 7.7e10 multiply-adds/s with OpenBLAS
    /// and `narrow` 35, 3.1e10 and 30 pure-Rust, 1.9e10 BLIS; f32 twice as fast).
    pub fn stored<T: Real>() -> Calibration {
        let (f64_rate, narrow) = match crate::backend().name {
            "openblas" => (7.7e10, 35.0),
            "blis" => (1.9e10, 35.0),
            _ => (3.1e10, 30.0),
        };
        let scale = 8.0 / std::mem::size_of::<T>() as f64;
        Calibration {
            gemm_rate: f64_rate * scale,
            bandwidth: 3.89e10,
            call_seconds: 3e-6,
            narrow,
        }
    }

    /// Times this machine (about 0.15 s): a 384³ GEMM, a 384×16 by 16×384 one, a
    /// streaming read of 64 MiB, and a 4³ GEMM for the per-call overhead, each the best
    /// of a few runs.
    pub fn measure<T: Real>() -> Calibration {
        fn best(reps: usize, mut f: impl FnMut()) -> f64 {
            f();
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        }
        let n = 384;
        let a = Array2::<T>::from_elem((n, n), T::one());
        let mut c = Array2::<T>::zeros((n, n));
        let gemm_s = best(7, || gemm(a.view(), a.view(), c.view_mut()));
        let thin = 16;
        let (p, q) = (
            Array2::<T>::from_elem((n, thin), T::one()),
            Array2::<T>::from_elem((thin, n), T::one()),
        );
        let thin_s = best(7, || gemm(p.view(), q.view(), c.view_mut()));
        let len = (64 << 20) / std::mem::size_of::<T>();
        let big = vec![T::one(); len];
        let read_s = best(5, || {
            std::hint::black_box(stream_sum(&big));
        });
        let s = Array2::<T>::from_elem((4, 4), T::one());
        let mut cs = Array2::<T>::zeros((4, 4));
        let call_s = best(50, || gemm(s.view(), s.view(), cs.view_mut()));
        let gemm_rate = (n * n * n) as f64 / gemm_s;
        let thin_rate = (n * n * thin) as f64 / thin_s;
        Calibration {
            gemm_rate,
            bandwidth: (len * std::mem::size_of::<T>()) as f64 / read_s,
            call_seconds: call_s,
            // thin_rate = gemm_rate·thin/(thin + narrow)
            narrow: (thin as f64 * (gemm_rate / thin_rate - 1.0)).clamp(0.0, n as f64),
        }
    }

    /// Predicted seconds of an m×k by k×n product of `size`-byte values (the diagonal
    /// folded into one operand included in the traffic).
    pub fn product_seconds(&self, m: usize, k: usize, n: usize, size: usize) -> f64 {
        let (m, k, n) = (m as f64, k as f64, n as f64);
        let smallest = m.min(k).min(n);
        let efficiency = smallest / (smallest + self.narrow);
        let arithmetic = m * k * n / (self.gemm_rate * efficiency);
        let traffic = (m * k + k * n + m * n) * size as f64 / self.bandwidth;
        arithmetic.max(traffic) + self.call_seconds
    }
}

/// A bracketing of M_L···M_1: a leaf is M_k (layer k, from 1), a node a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tree {
    Leaf(usize),
    Product(Box<Tree>, Box<Tree>),
}

impl Tree {
    /// The layers it spans, (lowest, highest).
    pub(crate) fn span(&self) -> (usize, usize) {
        match self {
            Tree::Leaf(k) => (*k, *k),
            Tree::Product(l, r) => (r.span().0, l.span().1),
        }
    }

    fn write(&self, top: bool, out: &mut String) {
        match self {
            Tree::Leaf(k) => out.push_str(&format!("M{k}")),
            Tree::Product(l, r) => {
                if !top {
                    out.push('(');
                }
                l.write(false, out);
                out.push('·');
                r.write(false, out);
                if !top {
                    out.push(')');
                }
            }
        }
    }

    /// Products in the order they run (left operand first, as the executor does),
    /// each with (m, k, n).
    fn products(&self, widths: &[usize], out: &mut Vec<(String, [usize; 3])>) {
        if let Tree::Product(l, r) = self {
            l.products(widths, out);
            r.products(widths, out);
            let ((lo, _), (_, hi), (mid, _)) = (r.span(), l.span(), l.span());
            let mut name = String::new();
            self.write(true, &mut name);
            out.push((name, [widths[hi], widths[mid - 1], widths[lo - 1]]));
        }
    }
}

/// How a Jacobian will be computed: the bracketing, and its predicted cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    widths: Vec<usize>,
    mode: Mode,
    pub(crate) tree: Tree,
    flops: f64,
    seconds: f64,
}

impl Plan {
    /// The plan of `mode` for widths d0 … dL and values of `size` bytes: forward and
    /// reverse are fixed bracketings, auto the cheapest in predicted seconds.
    pub fn new(widths: &[usize], mode: Mode, calibration: &Calibration, size: usize) -> Plan {
        let depth = widths.len() - 1;
        let seconds_of = |t: &Tree| cost(t, widths, calibration, size).1;
        let tree = match mode {
            Mode::Forward | Mode::Reverse => fixed_tree(depth, mode),
            Mode::Auto => {
                // Forward or reverse unless the cheapest bracketing is predicted clearly
                // cheaper: the model errs by ~10–40% on a busy machine, and forward and
                // reverse are the plans whose behaviour users know.
                let best = cheapest(widths, calibration, size);
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
        };
        let (flops, products) = cost(&tree, widths, calibration, size);
        // Every plan also runs the primal (each W_k read once) and writes J (d_L×d0,
        // fresh pages: about twice the traffic of the values).
        let primal: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
        let output = 2 * widths[0] * widths[depth];
        let seconds = products + ((primal + output) * size) as f64 / calibration.bandwidth;
        Plan {
            widths: widths.to_vec(),
            mode,
            tree,
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

    /// Predicted seconds of the whole Jacobian (primal, products, writing J) under the
    /// calibration it was made with.
    pub fn predicted_seconds(&self) -> f64 {
        self.seconds
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
        self.tree.write(true, &mut s);
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

/// (multiply-adds, predicted seconds) of a bracketing. A lone leaf is a scaled copy.
fn cost(tree: &Tree, widths: &[usize], cal: &Calibration, size: usize) -> (f64, f64) {
    match tree {
        Tree::Leaf(k) => (
            0.0,
            (widths[*k] * widths[k - 1] * size) as f64 / cal.bandwidth,
        ),
        Tree::Product(l, r) => {
            let (lo, mid) = r.span();
            let hi = l.span().1;
            let (m, k, n) = (widths[hi], widths[mid], widths[lo - 1]);
            let (lf, ls) = match **l {
                Tree::Leaf(_) => (0.0, 0.0),
                _ => cost(l, widths, cal, size),
            };
            let (rf, rs) = match **r {
                Tree::Leaf(_) => (0.0, 0.0),
                _ => cost(r, widths, cal, size),
            };
            let leaves = (matches!(**l, Tree::Leaf(_)), matches!(**r, Tree::Leaf(_)));
            let root = lo == 1 && hi == widths.len() - 1;
            let step = step_seconds(cal, [m, k, n], leaves, lo == 1, root, size);
            (lf + rf + (m * k * n) as f64, ls + rs + step)
        }
    }
}

/// For M_j·M_i = D_j·W_j·D_i·W_i (m×k by k×n): true when one scaled copy of W_j
/// (3 passes over m·k values: read, write, fresh pages) beats a scaled copy of W_i and
/// scaling the result's rows in place (3·k·n + 2·m·n).
pub(crate) fn fold_left_of_leaves(m: usize, k: usize, n: usize) -> bool {
    3 * m * k <= 3 * k * n + 2 * m * n
}

/// For M_j·R = D_j·W_j·R (m×k by k×n): true when a scaled copy of W_j (3·m·k) beats
/// scaling the result's rows in place (2·m·n).
pub(crate) fn fold_into_weights(m: usize, k: usize, n: usize) -> bool {
    3 * m * k <= 2 * m * n
}

/// Values moved to fold the diagonals into one step, as the executor does it
/// (`right_first`: the right operand is M_1, whose partner is folded once for all
/// panels).
fn fold_values(
    [m, k, n]: [usize; 3],
    (left_leaf, right_leaf): (bool, bool),
    right_first: bool,
) -> usize {
    match (left_leaf, right_leaf) {
        (true, true) if fold_left_of_leaves(m, k, n) => 3 * m * k,
        (true, true) => 3 * k * n + 2 * m * n,
        (true, false) => (3 * m * k).min(2 * m * n),
        (false, true) if right_first => 3 * m * k,
        (false, true) => 3 * (m * k).min(k * n),
        (false, false) => 0,
    }
}

/// Predicted seconds of one step of a plan: the product, the diagonals folded in
/// ([`fold_values`]), and, below the root (which writes into J), the fresh pages of
/// its result.
fn step_seconds(
    cal: &Calibration,
    shape: [usize; 3],
    leaves: (bool, bool),
    right_first: bool,
    root: bool,
    size: usize,
) -> f64 {
    let [m, k, n] = shape;
    let pages = if root { 0 } else { 2 * m * n };
    let moved = fold_values(shape, leaves, right_first) + pages;
    cal.product_seconds(m, k, n, size) + (moved * size) as f64 / cal.bandwidth
}

/// The matrix-chain dynamic programme over M_L…M_1 on predicted seconds.
fn cheapest(widths: &[usize], cal: &Calibration, size: usize) -> Tree {
    let depth = widths.len() - 1;
    if depth == 1 {
        return Tree::Leaf(1);
    }
    // best[lo][hi]: cheapest seconds and split of M_hi···M_lo (layers lo ≤ hi).
    let mut best = vec![vec![(0.0_f64, 0_usize); depth + 1]; depth + 1];
    for len in 2..=depth {
        for lo in 1..=depth + 1 - len {
            let hi = lo + len - 1;
            best[lo][hi] = (lo..hi)
                .map(|split| {
                    // (M_hi···M_{split+1})·(M_split···M_lo)
                    let shape = [widths[hi], widths[split], widths[lo - 1]];
                    let leaves = (split + 1 == hi, lo == split);
                    let root = lo == 1 && hi == depth;
                    let s = best[lo][split].0
                        + best[split + 1][hi].0
                        + step_seconds(cal, shape, leaves, lo == 1, root, size);
                    (s, split)
                })
                .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
        }
    }
    fn build(best: &[Vec<(f64, usize)>], lo: usize, hi: usize) -> Tree {
        if lo == hi {
            return Tree::Leaf(lo);
        }
        let split = best[lo][hi].1;
        Tree::Product(
            Box::new(build(best, split + 1, hi)),
            Box::new(build(best, lo, split)),
        )
    }
    build(&best, 1, depth)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let fwd = Plan::new(&w, Mode::Forward, &cal, 8);
        let rev = Plan::new(&w, Mode::Reverse, &cal, 8);
        let auto = Plan::new(&w, Mode::Auto, &cal, 8);
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
        let cal = Calibration::stored::<f64>();
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
            let auto = Plan::new(&widths, Mode::Auto, &cal, 8).predicted_seconds();
            for mode in [Mode::Forward, Mode::Reverse] {
                let other = Plan::new(&widths, mode, &cal, 8).predicted_seconds();
                assert!(auto <= other * (1.0 + 1e-12), "{widths:?} {mode}");
            }
        }
    }

    #[test]
    fn one_and_two_layers_have_one_bracketing() {
        let cal = flops_only();
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            assert_eq!(Plan::new(&[3, 4], mode, &cal, 8).to_string(), "M1");
            let p = Plan::new(&[3, 4, 5], mode, &cal, 8);
            assert_eq!(p.to_string(), "M2·M1");
            assert_eq!(p.predicted_flops(), 60.0);
        }
    }
}
