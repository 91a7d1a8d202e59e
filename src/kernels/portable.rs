//! The kernels in plain Rust, generic over the type and over fused multiply-add: the
//! [`Portable`](super::Portable) kernel (SSE2 on x86-64, no FMA), and the bodies the
//! AVX2 and AVX-512 kernels compile with FMA for their tails and for what they have no
//! intrinsics for.
//! Each sum runs in a fixed order that every copy shares.

use crate::Real;

/// a·b + c, fused (one rounding) when `FMA`.
#[inline(always)]
pub(crate) fn madd<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Σ a_k·b_k: 16 interleaved partial sums, then a fixed tree (16 → 8 → 4 → 2 → 1),
/// then the tail.
#[inline(always)]
pub(crate) fn dot<T: Real, const FMA: bool>(a: &[T], b: &[T]) -> T {
    const W: usize = 16;
    let mut acc = [T::zero(); W];
    let (ca, cb) = (a.chunks_exact(W), b.chunks_exact(W));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(T::zero(), |s, (&x, &y)| madd::<T, FMA>(x, y, s));
    for (x, y) in ca.zip(cb) {
        for k in 0..W {
            acc[k] = madd::<T, FMA>(x[k], y[k], acc[k]);
        }
    }
    let mut n = W;
    while n > 1 {
        n /= 2;
        for k in 0..n {
            acc[k] = acc[k] + acc[k + n];
        }
    }
    acc[0] + tail
}

/// y ← y + α·x.
#[inline(always)]
pub(crate) fn axpy<T: Real, const FMA: bool>(alpha: T, x: &[T], y: &mut [T]) {
    y.iter_mut()
        .zip(x)
        .for_each(|(y, &x)| *y = madd::<T, FMA>(alpha, x, *y));
}

/// Partial sums per row of [`dot4`]: sum k ≡ lane (mod LANES).
pub(crate) const LANES: usize = 8;

/// The four dot products `rows[r]·x`, interleaved: LANES partial sums per row.
#[inline(always)]
pub(crate) fn dot4<T: Real, const FMA: bool>(rows: [&[T]; 4], x: &[T]) -> [T; 4] {
    let n = x.len();
    let rows = rows.map(|r| &r[..n]);
    let full = n - n % LANES;
    let mut acc = [[T::zero(); LANES]; 4];
    for i in (0..full).step_by(LANES) {
        let xs = &x[i..i + LANES];
        for (a, row) in acc.iter_mut().zip(rows) {
            for k in 0..LANES {
                a[k] = madd::<T, FMA>(row[i + k], xs[k], a[k]);
            }
        }
    }
    let [tails] = dot4_tails::<T, FMA, 4, 1>(rows, [x], full);
    let mut out = [T::zero(); 4];
    for r in 0..4 {
        out[r] = lane_tree(acc[r]) + tails[r];
    }
    out
}

/// A row's LANES partial sums added by the fixed tree 8 → 4 → 2 → 1.
#[inline(always)]
fn lane_tree<T: Real>(mut a: [T; LANES]) -> T {
    let mut m = LANES;
    while m > 1 {
        m /= 2;
        for k in 0..m {
            a[k] = a[k] + a[k + m];
        }
    }
    a[0]
}

/// `Σ rows[r][i]·xs[c][i]` for i ≥ `full` (below the vectors' length, the rows at least
/// as long), for every row and vector, each in order i: the tails every copy of dot4
/// adds last. One loop for all R·C sums, their chains side by side.
#[inline(always)]
pub(crate) fn dot4_tails<T: Real, const FMA: bool, const R: usize, const C: usize>(
    rows: [&[T]; R],
    xs: [&[T]; C],
    full: usize,
) -> [[T; R]; C] {
    let n = xs.first().map_or(full, |x| x.len());
    let rows = rows.map(|r| &r[full..n]);
    let xs = xs.map(|x| &x[full..n]);
    let mut t = [[T::zero(); R]; C];
    for i in 0..n - full {
        for (t, x) in t.iter_mut().zip(xs) {
            for (t, row) in t.iter_mut().zip(rows) {
                *t = madd::<T, FMA>(row[i], x[i], *t);
            }
        }
    }
    t
}

/// `y ← y + Σ_r α_r·rows[r]`, each entry's four terms added in order r = 0..4 (as four
/// [`axpy`] calls would).
#[inline(always)]
pub(crate) fn axpy4<T: Real, const FMA: bool>(alpha: [T; 4], rows: [&[T]; 4], y: &mut [T]) {
    let n = y.len();
    let [r0, r1, r2, r3] = rows.map(|r| &r[..n]);
    for i in 0..n {
        let mut v = y[i];
        v = madd::<T, FMA>(alpha[0], r0[i], v);
        v = madd::<T, FMA>(alpha[1], r1[i], v);
        v = madd::<T, FMA>(alpha[2], r2[i], v);
        y[i] = madd::<T, FMA>(alpha[3], r3[i], v);
    }
}

/// σ and σ' of each value, one at a time (see [`Kernel::sigmoid`](super::Kernel::sigmoid)).
#[inline]
pub(super) fn sigmoid<T: Real>(y: &mut [T], s: &mut [T]) {
    assert_eq!(y.len(), s.len(), "as many slopes as values");
    for (y, s) in y.iter_mut().zip(s.iter_mut()) {
        (*y, *s) = crate::Activation::Sigmoid.value_and_slope(*y);
    }
}
