//! A slice mapped through a function of one f64 whose vector lanes have its scalar
//! function's bits (the C library's tanh and exp; tanh(t/2), the crate's own on the C
//! library's exp): eight lanes at a time (AVX-512F) or four (AVX2 and FMA). A vector
//! with a lane off the lanes' range, and the last values short of a vector, go to
//! fewer lanes or to the scalar function; where this process's C library is not the
//! one the lanes copy, the scalar function runs throughout.

use std::arch::x86_64::*;

/// A function of one f64 and its lanes, with the same bits.
pub(super) trait Lanes {
    /// What a [`head`](Lanes::head) leaves its [`tail`](Lanes::tail).
    type Head: Copy;
    /// The scalar function (the C library's, or one of the crate's on its exp).
    fn one(x: f64) -> f64;
    /// Four lanes up to a point (for tanh, its expm1 up to expm1's division; for exp, all
    /// of it), or None where a lane is off their range: a slice's vectors all take their
    /// heads before any takes its [`tail`](Lanes::tail), so that their chains of
    /// dependent steps, each longer than the reorder buffer holds a few of, overlap.
    ///
    /// SAFETY: the CPU has AVX2 and FMA.
    unsafe fn head(x: __m256d) -> Option<Self::Head>;
    /// The four lanes' values from x and its [`head`](Lanes::head).
    ///
    /// SAFETY: the CPU has AVX2 and FMA.
    unsafe fn tail(x: __m256d, head: Self::Head) -> __m256d;
    /// Eight lanes with the four lanes' bits, or None where a lane is off their range.
    ///
    /// SAFETY: the CPU has AVX-512F, AVX2 and FMA.
    unsafe fn eight(x: __m512d) -> Option<__m512d>;
    /// Whether the lanes may run: this process's function gives their bits (checked
    /// once).
    ///
    /// SAFETY: the CPU has AVX2 and FMA.
    unsafe fn allowed() -> bool;
}

/// F of every value in `x`, in place, four lanes at a time where allowed.
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn map4<F: Lanes>(x: &mut [f64]) {
    // SAFETY: the caller's promise for the features (both calls).
    match unsafe { F::allowed() } {
        true => unsafe { quads::<F>(x) },
        false => x.iter_mut().for_each(|x| *x = F::one(*x)),
    }
}

/// [`map4`] eight lanes at a time, with the same bits.
///
/// SAFETY: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) unsafe fn map8<F: Lanes>(x: &mut [f64]) {
    // SAFETY: the caller's promise for the features.
    if !unsafe { F::allowed() } {
        return x.iter_mut().for_each(|x| *x = F::one(*x));
    }
    let mut eights = x.chunks_exact_mut(8);
    for e in &mut eights {
        // SAFETY: eight values; the caller's promise for the features.
        unsafe {
            match F::eight(_mm512_loadu_pd(e.as_ptr())) {
                Some(v) => _mm512_storeu_pd(e.as_mut_ptr(), v),
                None => quads::<F>(e),
            }
        }
    }
    // SAFETY: the caller's promise for the features.
    unsafe { quads::<F>(eights.into_remainder()) }
}

/// Four lanes at a time (the last values short of four padded), the scalar function for
/// a vector with a lane off their range. Up to [`RUN`] vectors at a time take their
/// [`head`](Lanes::head)s, then their [`tail`](Lanes::tail)s: in one pass each tanh
/// vector is a chain of two divisions and some hundred operations, and tanh's samples on
/// Zen 3 piled up behind the divisions.
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn quads<F: Lanes>(x: &mut [f64]) {
    let whole = x.len() / 4 * 4;
    let (vectors, rest) = x.split_at_mut(whole);
    for run in vectors.chunks_mut(4 * RUN) {
        // The run's heads (None: a vector off the lanes' range).
        let mut heads = [None; RUN];
        for (q, h) in run.chunks_exact(4).zip(&mut heads) {
            // SAFETY: four values; the caller's promise for the features.
            *h = unsafe { F::head(_mm256_loadu_pd(q.as_ptr())) };
        }
        for (q, &h) in run.chunks_exact_mut(4).zip(&heads) {
            match h {
                // SAFETY: four values; the caller's promise for the features.
                Some(h) => unsafe {
                    let x = _mm256_loadu_pd(q.as_ptr());
                    _mm256_storeu_pd(q.as_mut_ptr(), F::tail(x, h))
                },
                None => q.iter_mut().for_each(|x| *x = F::one(*x)),
            }
        }
    }
    if !rest.is_empty() {
        let x = padded4(rest);
        // SAFETY: the caller's promise for the features.
        match unsafe { F::head(x) } {
            // SAFETY: as above.
            Some(h) => first_lanes(unsafe { F::tail(x, h) }, rest),
            None => rest.iter_mut().for_each(|x| *x = F::one(*x)),
        }
    }
}

/// Up to four values as a vector, the lanes past them 1 (the last values short of a
/// vector, or σ's four off exp's fast path): in the range of every function here, and
/// the lanes cost less than the scalar function even for one value.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn padded4(rest: &[f64]) -> __m256d {
    let mut t = [1.0; 4];
    t[..rest.len()].copy_from_slice(rest);
    // SAFETY: four values.
    unsafe { _mm256_loadu_pd(t.as_ptr()) }
}

/// The first `out.len()` (at most four) lanes of `v` into `out`: [`padded4`]'s values
/// back.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn first_lanes(v: __m256d, out: &mut [f64]) {
    let mut t = [0.0; 4];
    // SAFETY: four values.
    unsafe { _mm256_storeu_pd(t.as_mut_ptr(), v) };
    out.copy_from_slice(&t[..out.len()]);
}

/// The vectors of a run in [`quads`]: their heads on the stack (3.5 KiB of tanh's, 1 KiB
/// of exp's).
const RUN: usize = 16;

/// Checks of any [`Lanes`], for their tests.
#[cfg(all(test, target_env = "gnu"))]
pub(super) mod check {
    use super::*;

    /// Both slice drivers ([`map4`], and [`map8`] on AVX-512) give F's scalar bits, over
    /// 4001 values from −24.6 to 24.6 with the `special` ones (a NaN among them) spread
    /// in, from the start and ending on the NaN (so that the last values short of a
    /// vector hold a special one), at lengths from one value to all; a value after the
    /// slice stays.
    pub(in crate::kernels) fn slices_have_the_scalar_bits<F: Lanes>(special: &[f64]) {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let mut x: Vec<f64> = (0..4001).map(|i| (i as f64 - 2000.0) * 0.0123).collect();
        for (i, s) in special.iter().enumerate() {
            x[7 * i + 3] = *s;
        }
        type Driver = unsafe fn(&mut [f64]);
        let mut drivers: Vec<Driver> = vec![map4::<F>];
        if is_x86_feature_detected!("avx512f") {
            drivers.push(map8::<F>);
        }
        let runs = drivers
            .into_iter()
            .flat_map(|d| [x.len(), 1, 2, 3, 5, 7, 8, 13, 43].map(|n| (d, n)));
        let nan_at = x.iter().position(|x| x.is_nan()).expect("a NaN among x");
        let starts = |len: usize| [Some(0), (nan_at + 1).checked_sub(len)];
        let at = |r: (Driver, usize)| starts(r.1).into_iter().flatten().map(move |f| (r, f));
        for ((run, len), from) in runs.flat_map(at) {
            let x = &x[from..from + len];
            let mut y = x.to_vec();
            y.push(-7.25);
            // SAFETY: AVX2 and FMA, checked above, and AVX-512F for map8.
            unsafe { run(&mut y[..len]) };
            assert_eq!(y.pop(), Some(-7.25), "beyond {len} values");
            for (&x, y) in x.iter().zip(&y) {
                assert_eq!(y.to_bits(), F::one(x).to_bits(), "at {x:e}");
            }
        }
    }

    /// F's eight lanes are its four lanes' (so the scalar function's where those are), and
    /// leave their range where four lanes do: 200 000 vectors of `ordinary(u)` values (u
    /// uniform in [0, 1), two draws a value, the second a sign or scale), one vector in
    /// 16 with an edge of `edges` (either sign) in one lane, each lane in turn.
    pub(in crate::kernels) fn eight_lanes_are_two_fours<F: Lanes>(
        seed: u64,
        edges: &[f64],
        ordinary: impl Fn(usize, f64, f64) -> f64,
    ) {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut state = seed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..200_000 {
            let (edge, lane) = (edges[(i / 128) % edges.len()], (i / 16) % 8);
            let sign = if (i / 16) % 3 == 0 { 1.0 } else { -1.0 };
            let x: [f64; 8] = std::array::from_fn(|j| match (i + j) % 16 {
                _ if i % 16 == 0 && j == lane => sign * edge,
                slot => ordinary(slot, next(), next()),
            });
            // SAFETY: AVX-512F (checked above) comes with AVX2 and FMA here.
            let (wide, halves) = unsafe {
                let four = |x| F::head(x).map(|h| F::tail(x, h));
                let halves = [0, 4].map(|o| four(_mm256_loadu_pd(x[o..].as_ptr())));
                (F::eight(_mm512_loadu_pd(x.as_ptr())), halves)
            };
            match (wide, halves) {
                (Some(w), [Some(lo), Some(hi)]) => {
                    let (mut a, mut b) = ([0.0; 8], [0.0; 8]);
                    // SAFETY: eight values each.
                    unsafe {
                        _mm512_storeu_pd(a.as_mut_ptr(), w);
                        _mm256_storeu_pd(b.as_mut_ptr(), lo);
                        _mm256_storeu_pd(b[4..].as_mut_ptr(), hi);
                    }
                    assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{x:?}");
                }
                (None, [lo, hi]) => assert!(lo.is_none() || hi.is_none(), "{x:?}"),
                _ => panic!("eight lanes stayed in range where four left it: {x:?}"),
            }
        }
    }
}
