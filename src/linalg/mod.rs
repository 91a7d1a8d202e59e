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
// faer also takes over from LAPACK beyond the sizes its 32-bit workspace sizes reach
// (then only its eigen decomposition and SVD are used).
#[cfg_attr(feature = "openblas", allow(dead_code))]
mod pure;

#[cfg(feature = "openblas")]
pub(crate) use lapack::{cholesky_solve, eigh, svd, NAME};
#[cfg(not(feature = "openblas"))]
pub(crate) use pure::{cholesky_solve, eigh, svd, NAME};

use crate::Error;

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
