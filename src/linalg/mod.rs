//! Dense factorisations of the matrices fwdrev forms — the Hessian, the Jacobian — in
//! f64: a symmetric eigen decomposition, a thin SVD, a Cholesky solve. One library does
//! them, chosen by cargo feature, each file with the same items (`NAME`, `eigh`, `svd`,
//! `cholesky_solve`):
//!
//! | build | library |
//! |---|---|
//! | `openblas` | LAPACK of the same OpenBLAS: `dsyevd` (divide and conquer) directly, `dgesdd` and `dpotrf`/`dpotrs` through ndarray-linalg; faer beyond n = 16384 (eigen) or min(m, n) = 16384 (SVD), where LAPACK's 32-bit workspace sizes (1 + 6n + 2n², 4k² + 7k) would overflow |
//! | default, `blis` | faer, in pure Rust (Debian's BLIS ships no LAPACK; faer needs none) |

#[cfg(feature = "openblas")]
mod lapack;
// faer also takes over from LAPACK beyond the sizes its 32-bit workspace sizes reach,
// and under an address-space limit too tight for OpenBLAS's buffers.
mod pure;

#[cfg(feature = "openblas")]
use lapack as library;
#[cfg(not(feature = "openblas"))]
use pure as library;

pub(crate) use library::NAME;

/// The decompositions without [`eigh`]'s and [`svd`]'s checks, for the crate's own
/// matrices (finite by construction, their memory checked against the budget before
/// they were formed).
pub(crate) mod unchecked {
    pub(crate) use super::library::{eigh, svd};
}

use crate::mlp::{check_finite, check_shape};
use crate::{memory, Error, Result};
use ndarray::{Array1, Array2};

/// Eigenvalues and, if asked for, eigenvectors as columns ([`eigh`]).
pub type Eigh = (Array1<f64>, Option<Array2<f64>>);

/// Singular values and, if asked for, the thin U and Vᵀ ([`svd`]).
pub type Svd = (Array1<f64>, Option<(Array2<f64>, Array2<f64>)>);

/// The eigenvalues (ascending) of the symmetric n×n matrix `a` (its lower triangle is
/// read) and, with `vectors`, its orthonormal eigenvectors as columns: what
/// [`Mlp::hessian_eigen`](crate::Mlp::hessian_eigen) does to the Hessian it forms.
/// Errors on a non-square or non-finite `a`, or when the solver's workspace (counted as
/// eight n×n matrices) would not fit in memory.
pub fn eigh(a: Array2<f64>, vectors: bool) -> Result<Eigh> {
    let n = a.nrows();
    check_shape("a symmetric matrix", a.shape(), &[n, n])?;
    check_finite("a", a.view())?;
    fits("the eigen decomposition", n, n)?;
    library::eigh(a, vectors)
}

/// The singular values (descending) of the m×n matrix `a` and, with `vectors`, the thin
/// U (m×k) and Vᵀ (k×n), k = min(m, n): what
/// [`Mlp::jacobian_svd`](crate::Mlp::jacobian_svd) does to the Jacobian it forms.
/// Errors as [`eigh`].
pub fn svd(a: Array2<f64>, vectors: bool) -> Result<Svd> {
    check_finite("a", a.view())?;
    fits("the SVD", a.nrows(), a.ncols())?;
    library::svd(a, vectors)
}

// p solving a·p = b by Cholesky, or None where `a` is not positive definite (Newton).
pub(crate) use library::cholesky_solve;

/// Errors unless eight rows×cols f64 matrices fit in the machine's memory.
fn fits(what: &str, rows: usize, cols: usize) -> Result<()> {
    let bytes = memory::bytes_of(&[rows, cols, 8], 8);
    memory::ensure_fits(|| format!("{what} ({rows}×{cols} in f64, 8 copies)"), bytes)
}

/// A factorisation the library could not finish (no convergence: not expected on
/// finite input).
fn failed(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Internal {
        what: format!("{what} did not finish: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};

    fn spd() -> Array2<f64> {
        array![[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]]
    }

    #[test]
    fn eigh_gives_ascending_orthonormal_pairs() {
        let a = spd();
        let (values, vectors) = eigh(a.clone(), true).unwrap();
        let v = vectors.unwrap();
        assert!(values.windows(2).into_iter().all(|w| w[0] <= w[1]));
        for j in 0..3 {
            let col = v.column(j);
            let r = &a.dot(&col) - &(&col * values[j]);
            assert!(r.iter().all(|e| e.abs() < 1e-13), "{r}");
        }
        let gram = v.t().dot(&v) - Array2::<f64>::eye(3);
        assert!(gram.iter().all(|e| e.abs() < 1e-13));
        let (alone, none) = eigh(a, false).unwrap();
        assert!(none.is_none() && (&alone - &values).iter().all(|e| e.abs() < 1e-13));
    }

    /// Only the lower triangle is read, on every backend (found in review: LAPACK was
    /// given the row-major buffer with the lower triangle named, which it read as the
    /// upper one).
    #[test]
    fn eigh_reads_the_lower_triangle() {
        let lower = array![[4.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.5, -0.2, 2.0]];
        let (got, _) = eigh(lower, false).unwrap();
        let (want, _) = eigh(spd(), false).unwrap();
        assert!(
            (&got - &want).iter().all(|e| e.abs() < 1e-13),
            "{got} vs {want}"
        );
    }

    #[test]
    fn svd_reconstructs_the_matrix() {
        let a = array![[1.0, 2.0, 0.0, -1.0], [0.5, -1.0, 3.0, 2.0]];
        let (s, uv) = svd(a.clone(), true).unwrap();
        let (u, vt) = uv.unwrap();
        assert_eq!((u.dim(), vt.dim(), s.len()), ((2, 2), (2, 4), 2));
        assert!(s[0] >= s[1]);
        let back = u.dot(&Array2::from_diag(&s)).dot(&vt);
        assert!((&back - &a).iter().all(|e| e.abs() < 1e-13));
    }

    #[test]
    fn cholesky_solves_or_says_not_positive_definite() {
        let a = spd();
        let b = Array1::from(vec![1.0, -2.0, 0.5]);
        let p = cholesky_solve(a.clone(), &b).unwrap().unwrap();
        assert!((&a.dot(&p) - &b).iter().all(|e| e.abs() < 1e-13));
        let indefinite = array![[1.0, 2.0], [2.0, 1.0]];
        let b = Array1::from(vec![1.0, 1.0]);
        assert!(cholesky_solve(indefinite, &b).unwrap().is_none());
    }
}
