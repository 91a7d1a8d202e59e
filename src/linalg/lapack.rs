//! LAPACK of the OpenBLAS the crate links: `dsyevd` called directly (ndarray-linalg's
//! `eigh` calls `dsyev`, the slower QR iteration), `dgesdd` and `dpotrf`/`dpotrs`
//! through ndarray-linalg.

use super::failed;
use crate::{memory, Result};
use ndarray::{Array1, Array2};
use ndarray_linalg::{FactorizeC, JobSvd, SolveC, SVDDC, UPLO};
use std::os::raw::{c_char, c_int};

pub(crate) const NAME: &str = "LAPACK (OpenBLAS) via ndarray-linalg";

/// The largest order handed to LAPACK: its workspace sizes are 32-bit integers
/// (`dsyevd`: 1 + 6n + 2n², overflowing from n = 32767; `dgesdd`: about 4k² + 7k, from
/// k = 23170); beyond, faer.
const LAPACK_LIMIT: usize = 16384;

/// Eigenvalues of symmetric `a`, ascending, and the orthonormal eigenvectors as
/// columns if asked for, by `dsyevd`. `a` is symmetric, so its row-major storage is
/// also its column-major storage; the eigenvectors come back column-major.
pub(crate) fn eigh(a: Array2<f64>, vectors: bool) -> Result<(Array1<f64>, Option<Array2<f64>>)> {
    let n = a.nrows();
    if n > LAPACK_LIMIT || !memory::blas_fits() {
        return super::pure::eigh(a, vectors);
    }
    let mut a = a.as_standard_layout().into_owned();
    let mut w = vec![0.0; n];
    let jobz = if vectors { b'V' } else { b'N' } as c_char;
    // Row-major `a` read column-major is aᵀ: its upper triangle is a's lower one, the
    // triangle faer reads too.
    let uplo = b'U' as c_char;
    let len = n.max(1) as c_int;
    let n_c = n as c_int;
    let buf = a.as_slice_mut().expect("standard layout");
    let mut dsyevd = |work: &mut [f64], lwork: c_int, iwork: &mut [c_int], liwork: c_int| {
        let mut info = 0 as c_int;
        // SAFETY: every pointer is to a live buffer at least as long as LAPACK reads:
        // A n×n, w n, and work/iwork as long as `lwork`/`liwork` say (a query, −1,
        // reads one of each).
        unsafe {
            lapack_sys::dsyevd_(
                &jobz,
                &uplo,
                &n_c,
                buf.as_mut_ptr(),
                &len,
                w.as_mut_ptr(),
                work.as_mut_ptr(),
                &lwork,
                iwork.as_mut_ptr(),
                &liwork,
                &mut info,
            );
        }
        info
    };
    // A workspace query, then the call.
    let (mut lwork, mut liwork) = ([0.0_f64], [0 as c_int]);
    let info = dsyevd(&mut lwork, -1, &mut liwork, -1);
    if info != 0 {
        return Err(failed("dsyevd's workspace query", format!("info = {info}")));
    }
    let mut work = vec![0.0; lwork[0] as usize];
    let mut iwork = vec![0 as c_int; liwork[0] as usize];
    let info = dsyevd(&mut work, lwork[0] as c_int, &mut iwork, liwork[0]);
    if info != 0 {
        return Err(failed("dsyevd", format!("info = {info}")));
    }
    // Column-major eigenvectors read row-major are their transpose.
    Ok((Array1::from(w), vectors.then(|| a.reversed_axes())))
}

/// Singular values of `a`, descending, and the thin U, Vᵀ if asked for, by `dgesdd`.
#[allow(clippy::type_complexity)]
pub(crate) fn svd(
    a: Array2<f64>,
    vectors: bool,
) -> Result<(Array1<f64>, Option<(Array2<f64>, Array2<f64>)>)> {
    if a.nrows().min(a.ncols()) > LAPACK_LIMIT || !memory::blas_fits() {
        return super::pure::svd(a, vectors);
    }
    let job = if vectors { JobSvd::Some } else { JobSvd::None };
    let (u, s, vt) = a.svddc(job).map_err(|e| failed("dgesdd", e))?;
    Ok((s, u.zip(vt)))
}

/// The solution p of a·p = b by Cholesky (`dpotrf`, `dpotrs`), or `None` where `a` is
/// not (numerically) positive definite.
pub(crate) fn cholesky_solve(a: Array2<f64>, b: &Array1<f64>) -> Result<Option<Array1<f64>>> {
    if !memory::blas_fits() {
        return super::pure::cholesky_solve(a, b);
    }
    let Ok(factor) = a.factorizec(UPLO::Lower) else {
        return Ok(None);
    };
    factor.solvec(b).map(Some).map_err(|e| failed("dpotrs", e))
}
