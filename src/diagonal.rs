//! Products with diagonal matrices — diag(d)·M and M·diag(d) — the activation slopes'
//! share of every Jacobian product: row and column scalings, in parallel when large.

use crate::Real;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// Below this many values an elementwise pass runs on the calling thread: waking rayon
/// costs ~10 µs, more than scaling a 100×100 matrix.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// out ← diag(d)·m.
pub(crate) fn scale_rows_into<T: Real>(
    mut out: ArrayViewMut2<T>,
    m: ArrayView2<T>,
    d: ArrayView1<T>,
) {
    let parallel = m.len() >= PARALLEL_MIN;
    let zip = Zip::from(out.rows_mut()).and(m.rows()).and(&d);
    let f =
        |mut o: ArrayViewMut1<T>, r: ArrayView1<T>, &s: &T| o.zip_mut_with(&r, |o, &v| *o = s * v);
    if parallel {
        zip.par_for_each(f)
    } else {
        zip.for_each(f)
    }
}

/// diag(d)·m, a new row-major matrix.
pub(crate) fn scale_rows<T: Real>(m: ArrayView2<T>, d: ArrayView1<T>) -> Array2<T> {
    let mut out = Array2::zeros(m.dim());
    scale_rows_into(out.view_mut(), m, d);
    out
}

/// m·diag(d), a new row-major matrix.
pub(crate) fn scale_cols<T: Real>(m: ArrayView2<T>, d: ArrayView1<T>) -> Array2<T> {
    let mut out = Array2::zeros(m.dim());
    let zip = Zip::from(out.rows_mut()).and(m.rows());
    let f = |mut o: ArrayViewMut1<T>, r: ArrayView1<T>| {
        Zip::from(&mut o)
            .and(&r)
            .and(&d)
            .for_each(|o, &v, &s| *o = v * s)
    };
    if m.len() < PARALLEL_MIN {
        zip.for_each(f)
    } else {
        zip.par_for_each(f)
    }
    out
}

/// m ← diag(d)·m.
pub(crate) fn scale_rows_in_place<T: Real>(m: &mut ArrayViewMut2<T>, d: ArrayView1<T>) {
    let parallel = m.len() >= PARALLEL_MIN;
    let zip = Zip::from(m.axis_iter_mut(Axis(0))).and(&d);
    let f = |mut row: ArrayViewMut1<T>, &s: &T| row.mapv_inplace(|v| v * s);
    if parallel {
        zip.par_for_each(f)
    } else {
        zip.for_each(f)
    }
}
