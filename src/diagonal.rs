//! Products with diagonal matrices — diag(d)·M and M·diag(d) — the activation slopes'
//! share of every Jacobian product: row and column scalings, in parallel when large.

use crate::par::zip_for_each;
use crate::{Par, Real};
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// out ← diag(d)·m.
pub(crate) fn scale_rows_into<T: Real>(
    par: Par,
    mut out: ArrayViewMut2<T>,
    m: ArrayView2<T>,
    d: ArrayView1<T>,
) {
    zip_for_each!(
        par,
        m.len(),
        Zip::from(out.rows_mut()).and(m.rows()).and(&d),
        |mut o: ArrayViewMut1<T>, r: ArrayView1<T>, &s: &T| o.zip_mut_with(&r, |o, &v| *o = s * v)
    )
}

/// out ← m·diag(d).
pub(crate) fn scale_cols_into<T: Real>(
    par: Par,
    mut out: ArrayViewMut2<T>,
    m: ArrayView2<T>,
    d: ArrayView1<T>,
) {
    zip_for_each!(
        par,
        m.len(),
        Zip::from(out.rows_mut()).and(m.rows()),
        |mut o: ArrayViewMut1<T>, r: ArrayView1<T>| {
            Zip::from(&mut o)
                .and(&r)
                .and(&d)
                .for_each(|o, &v, &s| *o = v * s)
        }
    )
}

/// m ← diag(d)·m.
pub(crate) fn scale_rows_in_place<T: Real>(par: Par, m: &mut ArrayViewMut2<T>, d: ArrayView1<T>) {
    let work = m.len();
    zip_for_each!(
        par,
        work,
        Zip::from(m.axis_iter_mut(Axis(0))).and(&d),
        |mut row: ArrayViewMut1<T>, &s: &T| row.mapv_inplace(|v| v * s)
    )
}
