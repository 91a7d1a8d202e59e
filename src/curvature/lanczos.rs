//! The Lanczos process on a symmetric operator A given only as products v ↦ A·v:
//! q_1 = start/‖start‖, then A·q_j = β_{j−1}·q_{j−1} + α_j·q_j + β_j·q_{j+1}, so that
//! Qᵀ·A·Q = T is tridiagonal (α on the diagonal, β beside it). T's eigenvalues (Ritz
//! values) converge to A's extreme eigenvalues first; with y = Q·s for T·s = θ·s,
//! ‖A·y − θ·y‖ = β_m·|s_m| exactly, the residual that says when to stop. In floating
//! point the q_j lose orthogonality as Ritz values converge (Paige): each new vector is
//! orthogonalised against all earlier ones, twice ("twice is enough", Kahan–Parlett).

use super::tridiagonal;
use crate::kernels::{with_kernel, Kernel};
use crate::{Error, Result};

/// A Krylov basis Q (columns q_1 … q_m) and its tridiagonal T.
pub(crate) struct Lanczos {
    /// q_1 … q_m, each of length n.
    pub(crate) basis: Vec<Vec<f64>>,
    /// α_1 … α_m.
    pub(crate) alpha: Vec<f64>,
    /// β_1 … β_m (β_m couples q_m to the next vector; 0 at an invariant subspace).
    pub(crate) beta: Vec<f64>,
    /// The next vector, q_{m+1} (unused once `beta` ends in 0).
    next: Vec<f64>,
}

/// T's eigenpairs: the Ritz values θ (ascending), the eigenvectors s of T (column j of
/// a row-major m×m matrix), and each pair's residual β_m·|s_mj|.
pub(crate) struct Ritz {
    pub(crate) values: Vec<f64>,
    pub(crate) vectors: Vec<f64>,
    pub(crate) residuals: Vec<f64>,
}

impl Lanczos {
    /// The basis started at `start` (not all zero).
    pub(crate) fn new(start: &[f64]) -> Lanczos {
        let norm = dot(start, start).sqrt();
        Lanczos {
            basis: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            next: start.iter().map(|v| v / norm).collect(),
        }
    }

    /// Steps taken.
    pub(crate) fn steps(&self) -> usize {
        self.basis.len()
    }

    /// Whether the basis spans an invariant subspace (the last β is 0 to rounding):
    /// T's eigenvalues are then eigenvalues of A, exactly — but from one start vector
    /// only the distinct ones, each once. [`restart`](Self::restart) goes on.
    pub(crate) fn exhausted(&self) -> bool {
        self.beta.last().is_some_and(|&b| b == 0.0)
    }

    /// After [`exhausted`](Self::exhausted): continues from `q`, a unit vector
    /// orthogonal to the basis (β stays 0, so T becomes block diagonal and its
    /// eigenvalues are those of both blocks: repeated eigenvalues of A appear as often as
    /// they occur).
    pub(crate) fn restart(&mut self, q: Vec<f64>) {
        self.next = q;
    }

    /// One step: `apply(q, out)` writes A·q into `out`.
    pub(crate) fn step(
        &mut self,
        apply: &mut impl FnMut(&[f64], &mut [f64]) -> Result<()>,
    ) -> Result<()> {
        let mut w = vec![0.0; self.next.len()];
        apply(&self.next, &mut w)?;
        self.extend(w)
    }

    /// The vector the next step multiplies: q_{m+1}.
    pub(crate) fn next(&self) -> &[f64] {
        &self.next
    }

    /// One step, given w = A·[`next`](Self::next) computed elsewhere (several bases
    /// stepping in lock-step share one matrix product).
    pub(crate) fn extend(&mut self, mut w: Vec<f64>) -> Result<()> {
        if w.iter().any(|v| !v.is_finite()) {
            return Err(Error::Internal {
                what: "an operator product in Lanczos was not finite".into(),
            });
        }
        let q = std::mem::take(&mut self.next);
        let alpha = dot(&q, &w);
        self.basis.push(q);
        // w ← w − Q·(Qᵀ·w), twice: the three-term recurrence's α_j·q_j and β_{j−1}·q_{j−1}
        // are the largest of these projections, the rest is lost orthogonality.
        orthogonalise(&mut w, &self.basis);
        let norm = dot(&w, &w).sqrt();
        let scale = alpha.abs().max(self.beta.last().copied().unwrap_or(0.0));
        // A β at rounding level of the step's scale: the subspace is invariant.
        let beta = if norm <= 1e-13 * scale || norm == 0.0 {
            0.0
        } else {
            norm
        };
        self.alpha.push(alpha);
        self.beta.push(beta);
        if beta > 0.0 {
            w.iter_mut().for_each(|v| *v /= beta);
        }
        self.next = w;
        Ok(())
    }

    /// The Ritz pairs of the basis so far.
    pub(crate) fn ritz(&self) -> Result<Ritz> {
        let m = self.steps();
        let (values, vectors) =
            tridiagonal::eigen(&self.alpha, &self.beta[..m - 1]).ok_or_else(|| {
                Error::Internal {
                    what: "the tridiagonal QL iteration did not converge".into(),
                }
            })?;
        let last = self.beta[m - 1];
        let residuals = (0..m)
            .map(|j| last * vectors[(m - 1) * m + j].abs())
            .collect();
        Ok(Ritz {
            values,
            vectors,
            residuals,
        })
    }

    /// Q·s for column `j` of `ritz`'s vectors: the Ritz vector, of unit norm.
    pub(crate) fn ritz_vector(&self, ritz: &Ritz, j: usize) -> Vec<f64> {
        let m = self.steps();
        let mut y = vec![0.0; self.basis[0].len()];
        for (i, q) in self.basis.iter().enumerate() {
            let s = ritz.vectors[i * m + j];
            y.iter_mut().zip(q).for_each(|(y, q)| *y += s * q);
        }
        y
    }
}

/// Removes from `w` its components along the orthonormal `basis`, twice ("twice is
/// enough"), on the crate's vector kernels: O(m·n) per step, the driver's main cost.
pub(crate) fn orthogonalise(w: &mut [f64], basis: &[Vec<f64>]) {
    with_kernel!(|k| {
        for _ in 0..2 {
            for b in basis {
                let c = k.dot(b, w);
                k.axpy(-c, b, w);
            }
        }
    })
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    with_kernel!(|k| k.dot(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a diagonal matrix with known eigenvalues the extreme Ritz values converge, and
    /// n steps recover the whole spectrum.
    #[test]
    fn ritz_values_converge_to_the_extremes() {
        let n = 60;
        let diag: Vec<f64> = (0..n).map(|i| (i as f64 - 20.0) * 0.5).collect();
        let mut apply = |v: &[f64], out: &mut [f64]| {
            out.iter_mut()
                .zip(v)
                .zip(&diag)
                .for_each(|((o, v), d)| *o = v * d);
            Ok(())
        };
        let start: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect();
        let mut l = Lanczos::new(&start);
        while l.steps() < n && !l.exhausted() {
            l.step(&mut apply).unwrap();
        }
        let ritz = l.ritz().unwrap();
        for (got, want) in ritz.values.iter().zip(&diag) {
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        }
        let top = l.ritz_vector(&ritz, n - 1);
        assert!((top[n - 1].abs() - 1.0).abs() < 1e-8);
    }
}
