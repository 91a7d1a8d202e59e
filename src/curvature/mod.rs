//! Curvature without forming ∇²f or J: extreme eigenvalues of the Hessian by Lanczos
//! over HVPs, its trace by Hutchinson's estimator, its spectral density by stochastic
//! Lanczos quadrature, and the top singular values of F's Jacobian by Golub–Kahan
//! bidiagonalisation over JVPs and VJPs. Each costs a few dozen products of the kind
//! fwdrev computes in O(one gradient), so they reach any d0.
//!
//! - Lanczos: Qᵀ·∇²f·Q = T tridiagonal on the Krylov space of a start vector; T's extreme
//!   eigenvalues converge to ∇²f's first, and a Ritz pair (θ, y) has residual
//!   ‖∇²f·y − θ·y‖ = β_m·|s_m|, which stops it (`tol` relative to the largest |θ|).
//! - Hutchinson: tr H = E[zᵀ·H·z] for z with independent ±1 entries; the mean over
//!   probes, with its standard error s/√probes.
//! - Stochastic Lanczos quadrature: for a unit probe z, zᵀ·g(H)·z ≈ Σ_i τ_i²·g(θ_i) over
//!   the m-step Lanczos T = S·Θ·Sᵀ, τ_i = S_1i (Gauss quadrature, exact for polynomials
//!   of degree < 2m); averaged over probes, the nodes θ and weights τ²/probes are a
//!   discrete density of H's spectrum (weights sum to 1).
//! - Golub–Kahan: J·V = U·B with B upper bidiagonal (α, β); B's singular values converge
//!   to J's largest first, from the eigenvalues of BᵀB (tridiagonal), with residual
//!   β_m·α_m·|s_m|/σ.

mod bidiagonal;
mod dense;
mod lanczos;
mod tridiagonal;

pub use dense::{HessianEigen, JacobianSvd, Newton, StepKind};

use crate::{Error, Mlp, Real, Result, Scratch};
use lanczos::Lanczos;
use ndarray::{Array1, Array2, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to find and when to stop, for [`Mlp::hessian_extremes`] and
/// [`Mlp::jacobian_singular_values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extremes {
    /// How many of the largest eigenvalues (or singular values).
    pub top: usize,
    /// How many of the smallest eigenvalues (Hessian only).
    pub bottom: usize,
    /// The most products to spend (each one HVP, or one JVP and one VJP); also capped at
    /// the dimension, where the answer is exact.
    pub max_steps: usize,
    /// Converged when every wanted residual ≤ `tol` × the largest |Ritz value|.
    pub tol: f64,
    /// Seed of the start vector (uniform on the sphere, from ChaCha8).
    pub seed: u64,
    /// Whether to return the (unit) vectors too.
    pub vectors: bool,
}

impl Default for Extremes {
    /// The top eigenvalue, within 300 products, to 1e-8, seed 0, no vectors.
    fn default() -> Self {
        Extremes {
            top: 1,
            bottom: 0,
            max_steps: 300,
            tol: 1e-8,
            seed: 0,
            vectors: false,
        }
    }
}

impl Extremes {
    /// The start vector that [`Mlp::hessian_extremes`] and
    /// [`Mlp::jacobian_singular_values`] draw for `seed` and n = d0 (standard normal
    /// entries from ChaCha8; Lanczos divides by its norm): to run the same process
    /// elsewhere, as `scripts/peers.py` does.
    pub fn start(&self, n: usize) -> Array1<f64> {
        Array1::from(start(n, self.seed))
    }
}

/// Extreme eigenvalues of ∇²f(x) ([`Mlp::hessian_extremes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    /// The largest, descending.
    pub top: Vec<f64>,
    /// The smallest, ascending.
    pub bottom: Vec<f64>,
    /// Their unit eigenvectors, in the same order, if asked for.
    pub top_vectors: Vec<Array1<f64>>,
    /// See `top_vectors`.
    pub bottom_vectors: Vec<Array1<f64>>,
    /// ‖∇²f·y − θ·y‖ of each value in `top`, then of each in `bottom`.
    pub residuals: Vec<f64>,
    /// Whether every residual met the tolerance (or the whole space was spanned).
    pub converged: bool,
    /// Hessian-vector products used.
    pub products: usize,
}

/// Hutchinson's estimate of tr ∇²f(x) ([`Mlp::hessian_trace`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trace {
    /// The mean of zᵀ·∇²f·z over the probes.
    pub estimate: f64,
    /// Its standard error: the probes' sample standard deviation over √probes.
    pub stderr: f64,
    /// Hessian-vector products used (one per probe).
    pub products: usize,
}

/// A discrete spectral density of ∇²f(x) ([`Mlp::hessian_density`]): nodes with
/// weights summing to 1, ascending by node.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    /// Ritz values of all probes.
    pub nodes: Vec<f64>,
    /// Their quadrature weights τ²/probes.
    pub weights: Vec<f64>,
    /// Hessian-vector products used.
    pub products: usize,
}

/// The largest singular values of J(x) ([`Mlp::jacobian_singular_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Singular {
    /// Descending.
    pub values: Vec<f64>,
    /// Unit left singular vectors (d_L entries), if asked for (0 where σ is 0 and J·v
    /// leaves no direction to take).
    pub left: Vec<Array1<f64>>,
    /// Unit right singular vectors (d0 entries), if asked for.
    pub right: Vec<Array1<f64>>,
    /// ‖Jᵀ·u − σ·v‖ of each.
    pub residuals: Vec<f64>,
    /// Whether every residual met the tolerance (or the whole space was spanned).
    pub converged: bool,
    /// Products used: each step is one JVP and one VJP.
    pub products: usize,
}

/// A vector of ±1 entries from ChaCha8 seeded with `seed`.
fn rademacher(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// What a Krylov basis is called in a refusal.
pub(crate) fn krylov_basis(what: &str, vectors: usize, len: usize) -> String {
    format!("{what} ({vectors} vectors of {len} f64)")
}

/// Fresh start vectors for a Krylov basis that closed early: seeded draws made
/// orthogonal to the basis and normalised; None where the basis spans everything (to
/// rounding), after 16 draws.
pub(super) struct Fresh {
    seed: u64,
    drawn: u64,
}

impl Fresh {
    pub(super) fn new(seed: u64) -> Fresh {
        Fresh { seed, drawn: 0 }
    }

    pub(super) fn next(&mut self, basis: &[Vec<f64>], len: usize) -> Option<Vec<f64>> {
        if basis.len() >= len {
            return None;
        }
        (0..16).find_map(|_| {
            self.drawn += 1;
            let mut w = start(len, self.seed.wrapping_add(self.drawn));
            let scale = lanczos::dot(&w, &w).sqrt();
            lanczos::orthogonalise(&mut w, basis);
            let norm = lanczos::dot(&w, &w).sqrt();
            (norm > 1e-8 * scale).then(|| w.iter().map(|v| v / norm).collect())
        })
    }
}

/// A start vector uniform on the sphere (normal draws; the norm is taken later).
fn start(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
        .collect()
}

fn out_of_range(what: &str, got: impl std::fmt::Display, range: &str) -> Error {
    Error::OutOfRange {
        what: what.into(),
        got: got.to_string(),
        range: range.into(),
    }
}

/// The calls.
impl<T: Real> Mlp<T> {
    /// The `top` largest and `bottom` smallest eigenvalues of ∇²f(x) (and their vectors
    /// on request), by Lanczos with full reorthogonalisation over HVPs, never forming
    /// ∇²f. Stops when every wanted residual is within `tol` of the largest |Ritz
    /// value|, the whole space is spanned (then exact), or `max_steps` products are
    /// spent — then `converged` is false and the values are the best so far. Where the
    /// Krylov space of the start closes early (it holds each distinct eigenvalue once),
    /// Lanczos goes on from a fresh start orthogonal to it, so repeated eigenvalues are
    /// found as often as they occur. The basis (`max_steps` × d0 f64, at most d0²) must
    /// fit the memory budget.
    pub fn hessian_extremes(&self, x: ArrayView1<T>, opts: &Extremes) -> Result<Eigen> {
        let d0 = self.width(0);
        let steps = lanczos_steps(d0, opts)?;
        self.fits_budget(krylov_basis("the Lanczos basis", steps, d0), &[steps, d0])?;
        // ∇²f(x) linearised once; each step's product in f64 (Krylov vectors are kept in
        // f64 whatever T), with buffers and scratch made once.
        let at = self.hessian_at(x)?;
        let (mut vt, mut hv) = (Array1::<T>::zeros(d0), Array1::<T>::zeros(d0));
        let mut scratch = Scratch::default();
        let mut apply = |v: &[f64], out: &mut [f64]| {
            vt.iter_mut().zip(v).for_each(|(t, &v)| *t = T::from_f64(v));
            at.apply_into(vt.view(), hv.view_mut(), self.par(), &mut scratch)?;
            out.iter_mut().zip(&hv).for_each(|(o, h)| *o = h.as_f64());
            Ok(())
        };
        extremes(d0, steps, opts, &mut apply)
    }

    /// Hutchinson's estimate of tr ∇²f(x) from `probes` (≥ 2) Rademacher vectors, probe
    /// i seeded with `seed + i`, their HVPs in panels through [`hvp_many`](Self::hvp_many).
    pub fn hessian_trace(&self, x: ArrayView1<T>, probes: usize, seed: u64) -> Result<Trace> {
        let many = |z: Array2<f64>| -> Result<Array2<f64>> {
            let hz = self.hvp_many(x, z.mapv(T::from_f64).view())?;
            Ok(hz.mapv(|h| h.as_f64()))
        };
        trace(self.width(0), probes, seed, many)
    }

    /// The spectral density of ∇²f(x) by stochastic Lanczos quadrature: `probes`
    /// Rademacher starts (seeded `seed + i`), `steps` Lanczos steps each (fewer where
    /// the Krylov space is exhausted). The probes run in lock-step, up to 32 at a time
    /// (fewer where their bases would not fit the memory budget): each step's HVPs are
    /// one [`HessianAt::apply_many`](crate::HessianAt::apply_many), matrix products
    /// rather than matrix-vector ones.
    pub fn hessian_density(
        &self,
        x: ArrayView1<T>,
        probes: usize,
        steps: usize,
        seed: u64,
    ) -> Result<Density> {
        let d0 = self.width(0);
        let (steps, chunk) = lockstep(d0, probes, steps, self.memory_budget())?;
        let at = self.hessian_at(x)?;
        let many = |v: Array2<f64>| -> Result<Array2<f64>> {
            let hv = at.apply_many(v.mapv(T::from_f64).view())?;
            Ok(hv.mapv(|h| h.as_f64()))
        };
        density(d0, probes, steps, seed, chunk, many)
    }

    /// The `top` largest singular values of J(x) (and their vectors on request), by
    /// Golub–Kahan bidiagonalisation with full reorthogonalisation over JVPs and VJPs,
    /// never forming J; stopping as [`hessian_extremes`](Self::hessian_extremes) does.
    /// `bottom` must be 0.
    pub fn jacobian_singular_values(&self, x: ArrayView1<T>, opts: &Extremes) -> Result<Singular> {
        let (d0, dl) = (self.width(0), self.width(self.depth()));
        let rank = d0.min(dl);
        if opts.bottom != 0 {
            return Err(out_of_range(
                "bottom",
                opts.bottom,
                "0 (only the top singular values)",
            ));
        }
        if opts.top == 0 || opts.top > rank {
            return Err(out_of_range(
                "top",
                opts.top,
                &format!("1 ..= min(d0, d_L) = {rank}"),
            ));
        }
        if !(opts.tol > 0.0 && opts.tol < 1.0) {
            return Err(out_of_range("tol", opts.tol, "(0, 1)"));
        }
        let steps = opts.max_steps.min(rank);
        let (vectors, len) = (steps.saturating_add(1), d0 + dl);
        self.fits_budget(
            krylov_basis("the Golub–Kahan bases", vectors, len),
            &[vectors, len],
        )?;
        if steps < opts.top {
            return Err(out_of_range(
                "max_steps",
                opts.max_steps,
                &format!("{} ..", opts.top),
            ));
        }
        let convert = |v: &[f64]| -> Array1<T> { v.iter().map(|&v| T::from_f64(v)).collect() };
        let mut jv = |v: &[f64], out: &mut [f64]| -> Result<()> {
            let (_, r) = self.jvp(x, convert(v).view())?;
            out.iter_mut().zip(&r).for_each(|(o, r)| *o = r.as_f64());
            Ok(())
        };
        let mut jtu = |u: &[f64], out: &mut [f64]| -> Result<()> {
            let (_, r) = self.vjp(x, convert(u).view())?;
            out.iter_mut().zip(&r).for_each(|(o, r)| *o = r.as_f64());
            Ok(())
        };
        bidiagonal::top_singular(&mut jv, &mut jtu, &start(d0, opts.seed), dl, steps, opts)
    }
}

impl<T: Real> Mlp<T> {
    /// Errors unless an f64 buffer of `dims` (their product of values; `what` names it,
    /// with its shape) fits the memory budget and the machine: the Krylov bases and the
    /// dense decompositions' matrices.
    pub(super) fn fits_budget(&self, what: String, dims: &[usize]) -> Result<()> {
        fits(what, dims, self.memory_budget())
    }
}

/// Errors unless an f64 buffer of `dims` (their product of values; `what` names it,
/// with its shape) fits `budget` bytes and the machine.
pub(crate) fn fits(what: String, dims: &[usize], budget: usize) -> Result<()> {
    let bytes = crate::memory::bytes_of(dims, 8);
    let budget = budget as u64;
    if bytes.is_none_or(|b| b > budget) {
        return Err(Error::TooLarge {
            what,
            needed: bytes.unwrap_or(u64::MAX),
            available: budget,
        });
    }
    crate::memory::ensure_fits(|| what, bytes)
}

/// Stochastic Lanczos quadrature's steps (at most d0) and how many probes run in
/// lock-step: as many bases as `budget` and the machine's free memory hold, up to 32;
/// an error where `probes` or `steps` is 0 or even one basis does not fit.
pub(crate) fn lockstep(
    d0: usize,
    probes: usize,
    steps: usize,
    budget: usize,
) -> Result<(usize, usize)> {
    if probes == 0 {
        return Err(out_of_range("probes", probes, "1 .."));
    }
    if steps == 0 {
        return Err(out_of_range("steps", steps, "1 .."));
    }
    let steps = steps.min(d0);
    const LOCKSTEP: usize = 32;
    let basis_bytes = steps.saturating_mul(d0).saturating_mul(8).max(1);
    let room = crate::memory::available_bytes()
        .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX))
        .min(budget);
    let chunk = (room / basis_bytes).clamp(1, LOCKSTEP.min(probes));
    let what = krylov_basis(
        &format!("{chunk} Lanczos bases in lock-step"),
        chunk * steps,
        d0,
    );
    fits(what, &[chunk, steps, d0], budget)?;
    Ok((steps, chunk))
}

/// The Lanczos steps `opts` allow on an operator of dimension d0 (at most d0), or why
/// `opts` ask for what cannot be.
pub(crate) fn lanczos_steps(d0: usize, opts: &Extremes) -> Result<usize> {
    let wanted = opts.top.saturating_add(opts.bottom);
    if wanted == 0 || wanted > d0 {
        return Err(out_of_range(
            "top + bottom",
            wanted,
            &format!("1 ..= d0 = {d0}"),
        ));
    }
    if !(opts.tol > 0.0 && opts.tol < 1.0) {
        return Err(out_of_range("tol", opts.tol, "(0, 1)"));
    }
    let steps = opts.max_steps.min(d0);
    if steps < wanted {
        return Err(out_of_range(
            "max_steps",
            opts.max_steps,
            &format!("{wanted} .."),
        ));
    }
    Ok(steps)
}

/// [`Mlp::hessian_extremes`]'s Lanczos iteration on any symmetric operator of dimension
/// d0, `apply(v, out)` writing H·v into `out`, within `steps` products (from
/// [`lanczos_steps`]).
pub(crate) fn extremes(
    d0: usize,
    steps: usize,
    opts: &Extremes,
    apply: &mut impl FnMut(&[f64], &mut [f64]) -> Result<()>,
) -> Result<Eigen> {
    let wanted = opts.top + opts.bottom;
    let mut krylov = Lanczos::new(&start(d0, opts.seed));
    let (mut fresh, mut block) = (Fresh::new(opts.seed), 0);
    let (ritz, converged) = loop {
        krylov.step(apply)?;
        let m = krylov.steps();
        if krylov.exhausted() && m < d0 {
            // The block closed. From one start it held each distinct eigenvalue
            // once; a block from a fresh start shows every distinct eigenvalue of
            // what is left. Done once such a block shows nothing beyond the wanted
            // k-th values (so no more copies of the wanted ones exist); else go on.
            let ritz = krylov.ritz()?;
            let closed = tridiagonal::eigen(&krylov.alpha[block..m], &krylov.beta[block..m - 1])
                .ok_or_else(|| Error::Internal {
                    what: "the tridiagonal QL iteration did not converge".into(),
                })?
                .0;
            let settled = block > 0
                && m >= wanted
                && !beyond(&closed, &ritz.values, opts.top, opts.bottom, opts.tol);
            if settled {
                break (ritz, true);
            }
            // (No fresh start: the span is everything, and nothing is left to find.)
            let Some(q) = fresh.next(&krylov.basis, d0) else {
                break (ritz, true);
            };
            if m == steps {
                break (ritz, false);
            }
            krylov.restart(q);
            block = m;
            continue;
        }
        if m < wanted && m < d0 {
            continue;
        }
        let ritz = krylov.ritz()?;
        let scale = ritz.values.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
        let picked = picks(m, opts.top, opts.bottom);
        let small = |j: &usize| ritz.residuals[*j] <= opts.tol * scale;
        let done = m == d0 || picked.iter().all(small);
        if done || m == steps {
            break (ritz, done);
        }
    };
    let m = krylov.steps();
    let (top, bottom): (Vec<usize>, Vec<usize>) = {
        let top = (0..opts.top.min(m)).map(|i| m - 1 - i).collect();
        let bottom = (0..opts.bottom.min(m)).collect();
        (top, bottom)
    };
    let vectors = |idx: &[usize]| -> Vec<Array1<f64>> {
        match opts.vectors {
            true => idx
                .iter()
                .map(|&j| Array1::from(krylov.ritz_vector(&ritz, j)))
                .collect(),
            false => Vec::new(),
        }
    };
    Ok(Eigen {
        top: top.iter().map(|&j| ritz.values[j]).collect(),
        bottom: bottom.iter().map(|&j| ritz.values[j]).collect(),
        top_vectors: vectors(&top),
        bottom_vectors: vectors(&bottom),
        residuals: top
            .iter()
            .chain(&bottom)
            .map(|&j| ritz.residuals[j])
            .collect(),
        converged,
        products: m,
    })
}

/// Hutchinson's estimate of tr H from `probes` (≥ 2) Rademacher vectors, probe i seeded
/// with `seed + i`; `many(Z)` gives H·Z for up to 32 probes at a time (the columns of
/// a d0 × n matrix), so that an operator may share its sweeps among them.
pub(crate) fn trace(
    d0: usize,
    probes: usize,
    seed: u64,
    mut many: impl FnMut(Array2<f64>) -> Result<Array2<f64>>,
) -> Result<Trace> {
    if probes < 2 {
        return Err(out_of_range("probes", probes, "2 .."));
    }
    const CHUNK: usize = 32;
    let mut samples = Vec::with_capacity(probes);
    for first in (0..probes).step_by(CHUNK) {
        let n = CHUNK.min(probes - first);
        let mut z = Array2::<f64>::zeros((d0, n));
        for (p, mut column) in z.columns_mut().into_iter().enumerate() {
            column.assign(&Array1::from(rademacher(
                d0,
                seed.wrapping_add((first + p) as u64),
            )));
        }
        let hz = many(z.clone())?;
        samples.extend(
            z.columns()
                .into_iter()
                .zip(hz.columns())
                .map(|(z, hz)| z.iter().zip(hz).map(|(a, b)| a * b).sum::<f64>()),
        );
    }
    let n = probes as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Ok(Trace {
        estimate: mean,
        stderr: (var / n).sqrt(),
        products: probes,
    })
}

/// Stochastic Lanczos quadrature on a symmetric operator of dimension d0: `probes`
/// Rademacher starts (seeded `seed + i`), `steps` (≤ d0) Lanczos steps each, `chunk`
/// probes in lock-step, each step's products one `many(V)` (V d0 × n, H·V returned).
pub(crate) fn density(
    d0: usize,
    probes: usize,
    steps: usize,
    seed: u64,
    chunk: usize,
    mut many: impl FnMut(Array2<f64>) -> Result<Array2<f64>>,
) -> Result<Density> {
    let (mut pairs, mut products) = (Vec::new(), 0);
    for first in (0..probes).step_by(chunk) {
        let mut bases: Vec<Lanczos> = (first..probes.min(first + chunk))
            .map(|i| Lanczos::new(&rademacher(d0, seed.wrapping_add(i as u64))))
            .collect();
        loop {
            let active: Vec<&mut Lanczos> = bases
                .iter_mut()
                .filter(|b| b.steps() < steps && !b.exhausted())
                .collect();
            if active.is_empty() {
                break;
            }
            let mut v = Array2::<f64>::zeros((d0, active.len()));
            for (mut column, b) in v.columns_mut().into_iter().zip(&active) {
                column.assign(&ArrayView1::from(b.next()));
            }
            let hv = many(v)?;
            for (column, b) in hv.columns().into_iter().zip(active) {
                b.extend(column.to_vec())?;
            }
        }
        for krylov in &bases {
            let (ritz, m) = (krylov.ritz()?, krylov.steps());
            products += m;
            pairs.extend((0..m).map(|j| (ritz.values[j], ritz.vectors[j].powi(2) / probes as f64)));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Density {
        nodes: pairs.iter().map(|p| p.0).collect(),
        weights: pairs.iter().map(|p| p.1).collect(),
        products,
    })
}

/// Whether `block`'s values reach beyond the wanted ones among `all` (ascending): above
/// the `top`-th largest or below the `bottom`-th smallest, by more than `tol` of the
/// largest |value|.
pub(crate) fn beyond(block: &[f64], all: &[f64], top: usize, bottom: usize, tol: f64) -> bool {
    let eps = tol * all.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
    let m = all.len();
    let above = top > 0 && top <= m && block.iter().any(|&v| v > all[m - top] + eps);
    let below = bottom > 0 && bottom <= m && block.iter().any(|&v| v < all[bottom - 1] - eps);
    above || below
}

/// Indices (into m ascending Ritz values) of the `top` largest and `bottom` smallest.
fn picks(m: usize, top: usize, bottom: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..top.min(m)).map(|i| m - 1 - i).collect();
    p.extend(0..bottom.min(m));
    p
}
