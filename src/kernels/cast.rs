//! Slices of a generic `T` seen as the `f64` or `f32` they are, so that the kernels can
//! take their intrinsic paths: a check of `TypeId`, resolved at compile time.

use std::any::TypeId;

/// Four values of U as T, when T is U (callers have checked it).
#[inline(always)]
pub(super) fn same4<T: Copy + 'static, U: Copy + 'static>(v: [U; 4]) -> [T; 4] {
    let s = cast::<U, T>(&v).expect("T is U");
    [s[0], s[1], s[2], s[3]]
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

/// Four rows as slices of `U` when T is U.
#[inline(always)]
pub(super) fn cast4<T: 'static, U: 'static>(rows: [&[T]; 4]) -> Option<[&[U]; 4]> {
    let [a, b, c, d] = rows;
    Some([cast(a)?, cast(b)?, cast(c)?, cast(d)?])
}

/// Eight values of U as T, when T is U (callers have checked it).
#[inline(always)]
pub(super) fn same8<T: Copy + 'static, U: Copy + 'static>(v: [U; 8]) -> [T; 8] {
    let s = cast::<U, T>(&v).expect("T is U");
    std::array::from_fn(|i| s[i])
}

/// Eight rows as slices of `U` when T is U.
#[inline(always)]
pub(super) fn cast8<T: 'static, U: 'static>(rows: [&[T]; 8]) -> Option<[&[U]; 8]> {
    let [a, b] = super::halves(rows);
    Some(super::joined([cast4(a)?, cast4(b)?]))
}
