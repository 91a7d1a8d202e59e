//! Slices (and thin products) of a generic `T` seen as the `f64` or `f32` they are, so
//! that the kernels can take their intrinsic paths: a check of `TypeId`, resolved at
//! compile time.

use super::RowSlices;
use fwdrev_thin::Product;
use std::any::TypeId;

/// N values of U as T, when T is U (callers have checked it).
#[inline(always)]
pub(super) fn same<T: Copy + 'static, U: Copy + 'static, const N: usize>(v: [U; N]) -> [T; N] {
    assert!(TypeId::of::<T>() == TypeId::of::<U>(), "T is U");
    // SAFETY: T and U are the same type.
    unsafe { std::mem::transmute_copy(&v) }
}

/// `s` as a slice of `U` when T is U.
#[inline(always)]
pub(super) fn cast<T: 'static, U: 'static>(s: &[T]) -> Option<&[U]> {
    (TypeId::of::<T>() == TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<U>(), s.len()) })
}

/// `s` as a mutable slice of `U` when T is U.
#[inline(always)]
pub(super) fn cast_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
    (TypeId::of::<T>() == TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<U>(), s.len()) })
}

/// N rows as slices of `U` when T is U.
#[inline(always)]
pub(super) fn cast_rows<T: 'static, U: 'static, const N: usize>(
    rows: [&[T]; N],
) -> Option<[&[U]; N]> {
    (TypeId::of::<T>() == TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| {
            rows.map(|r| unsafe { std::slice::from_raw_parts(r.as_ptr().cast::<U>(), r.len()) })
        })
}

/// N mutable slices as slices of `U` when T is U.
#[inline(always)]
pub(super) fn cast_rows_mut<T: 'static, U: 'static, const N: usize>(
    rows: [&mut [T]; N],
) -> Option<[&mut [U]; N]> {
    (TypeId::of::<T>() == TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| {
            rows.map(|r| unsafe {
                std::slice::from_raw_parts_mut(r.as_mut_ptr().cast::<U>(), r.len())
            })
        })
}

/// A matrix's rows as `U` when T is U.
#[inline(always)]
pub(super) fn cast_matrix<'a, T: 'static, U: 'static>(
    a: RowSlices<'a, T>,
) -> Option<RowSlices<'a, U>> {
    (TypeId::of::<T>() == TypeId::of::<U>())
        // SAFETY: T and U are the same type, so are the two views.
        .then(|| unsafe { std::mem::transmute_copy(&a) })
}

/// A thin product's operands as `U` when T is U.
#[inline(always)]
pub(super) fn product<T: 'static, U: 'static>(p: Product<T>) -> Option<Product<U>> {
    (TypeId::of::<T>() == TypeId::of::<U>()).then(|| Product {
        a: p.a.cast(),
        x: p.x.cast(),
        c: p.c.cast(),
        m: p.m,
        k: p.k,
        n: p.n,
        a_strides: p.a_strides,
        x_row_stride: p.x_row_stride,
        c_row_stride: p.c_row_stride,
    })
}
