//! faer, in pure Rust.

use super::failed;
use crate::{memory, Result};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use ndarray::{Array1, Array2};

#[cfg_attr(feature = "openblas", allow(dead_code))]
pub(crate) const NAME: &str = "faer 0.22";

/// Under an address-space limit, faer's factorisations run on the calling thread alone,
/// and only where its GEMM's packing buffer fits there: each thread that runs faer's GEMM
/// maps its own (hundreds of MiB), and faer aborts where the mapping is refused. faer's
/// parallelism is process-wide, so it stays at one thread from then on. The buffer is
/// mapped by the check, so the factorisation's own copies are checked again after it.
/// Matrices of at most 16 rows and columns take only faer's nano-GEMM (in faer 0.22 its
/// triangular products reach the packing buffer at any size, but only Cholesky past
/// n = 64 runs them), which maps nothing.
fn within_limits(what: &str, rows: usize, cols: usize) -> Result<()> {
    if !memory::address_space_limited() || rows.max(cols) <= 16 {
        return Ok(());
    }
    faer::set_global_parallelism(faer::Par::Seq);
    memory::ensure_faer_buffer_fits(|| format!("{what} ({rows}×{cols})"))?;
    super::fits(what, rows, cols)
}

fn to_faer(a: &Array2<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_faer(m: faer::MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Eigenvalues of symmetric `a` (its lower triangle read), ascending, and the
/// orthonormal eigenvectors as columns if asked for.
pub(crate) fn eigh(a: Array2<f64>, vectors: bool) -> Result<(Array1<f64>, Option<Array2<f64>>)> {
    within_limits("the eigen decomposition", a.nrows(), a.ncols())?;
    let m = to_faer(&a);
    if !vectors {
        let values = m
            .self_adjoint_eigenvalues(Side::Lower)
            .map_err(|e| failed("faer's symmetric eigen decomposition", format!("{e:?}")))?;
        return Ok((Array1::from(values), None));
    }
    let e = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| failed("faer's symmetric eigen decomposition", format!("{e:?}")))?;
    let s = e.S().column_vector();
    let values = (0..s.nrows()).map(|i| s[i]).collect();
    Ok((values, Some(from_faer(e.U()))))
}

/// Singular values of `a` (m×n), descending, and the thin U (m×k), Vᵀ (k×n), k =
/// min(m, n), if asked for.
#[allow(clippy::type_complexity)]
pub(crate) fn svd(
    a: Array2<f64>,
    vectors: bool,
) -> Result<(Array1<f64>, Option<(Array2<f64>, Array2<f64>)>)> {
    within_limits("the SVD", a.nrows(), a.ncols())?;
    let m = to_faer(&a);
    if !vectors {
        let mut s = m
            .singular_values()
            .map_err(|e| failed("faer's SVD", format!("{e:?}")))?;
        s.sort_by(|a, b| b.total_cmp(a));
        return Ok((Array1::from(s), None));
    }
    let d = m
        .thin_svd()
        .map_err(|e| failed("faer's SVD", format!("{e:?}")))?;
    let s = d.S().column_vector();
    let values = (0..s.nrows()).map(|i| s[i]).collect();
    Ok((
        values,
        Some((from_faer(d.U()), from_faer(d.V()).reversed_axes())),
    ))
}

/// The solution p of a·p = b by Cholesky, or `None` where `a` is not (numerically)
/// positive definite.
pub(crate) fn cholesky_solve(a: Array2<f64>, b: &Array1<f64>) -> Result<Option<Array1<f64>>> {
    within_limits("the Cholesky factorisation", a.nrows(), a.ncols())?;
    let Ok(llt) = to_faer(&a).llt(Side::Lower) else {
        return Ok(None);
    };
    let rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    let p = llt.solve(&rhs);
    Ok(Some((0..b.len()).map(|i| p[(i, 0)]).collect()))
}
