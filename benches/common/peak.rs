//! The small calls' floor loops (`benches/small.rs`, `examples/small_floor.rs`): one
//! core's peak multiply-add rate, independent chains of fused multiply-adds on the
//! widest vectors this CPU has (AVX-512F, else AVX2 with FMA), held in registers; and
//! a bare sweep's multiply-adds over weights loaded as fast as they arrive.

/// Multiply-adds per call of [`multiply_adds`] in the peak's floor
/// (`small_floor/mac/4096`).
pub const MACS: usize = 4096;

/// Units of the σ and σ' floor (`small_floor/sigmoid/512`): a layer's worth, in L1 as
/// a layer's are.
pub const UNITS: usize = 512;

/// The σ floor's [`UNITS`] inputs, evaluated over and over in place: σ's working range
/// first, then (0, 1) (the cost does not depend on it).
pub fn sigmoid_inputs() -> Vec<f64> {
    (0..UNITS)
        .map(|i| -8.0 + 16.0 * i as f64 / UNITS as f64)
        .collect()
}

/// `m` values for [`read_multiply_adds`] starting on a 64-byte line, as a network's
/// weights do: a buffer and the range of it they fill, or the error where they do not
/// fit.
pub fn on_a_line(
    m: usize,
) -> Result<(Vec<f64>, std::ops::Range<usize>), std::collections::TryReserveError> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(m + 8)?;
    buf.resize(m + 8, 1.0);
    let lead = buf.as_ptr().align_offset(64).min(8);
    Ok((buf, lead..lead + m))
}

/// Runs at least `n` multiply-adds; returns a sum of them, so none is optimised away.
pub fn multiply_adds(seed: f64, n: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(seed, n) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { avx2(seed, n) };
        }
    }
    // Elsewhere: 8 independent scalar chains, as the compiler vectorises them.
    let mut acc = [seed; 8];
    for _ in 0..n.div_ceil(8) {
        for a in &mut acc {
            *a = *a * 0.999_999 + 1e-9;
        }
    }
    acc.iter().sum()
}

/// Σ a_i·c over `a` with the widest loads and as many chains as keep them in
/// flight: the multiply-adds of a sweep over `a` at the rate its values arrive.
pub fn read_multiply_adds(a: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { read_avx512(a) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { read_avx2(a) };
        }
    }
    scalar(a)
}

/// Eight scalar chains (the compiler vectorises them), then the tail.
fn scalar(a: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let steps = a.chunks_exact(8);
    let tail = steps.remainder();
    for c in steps {
        for (s, &v) in acc.iter_mut().zip(c) {
            *s += v * 0.999_999;
        }
    }
    for (s, &v) in acc.iter_mut().zip(tail) {
        *s += v * 0.999_999;
    }
    acc.iter().sum()
}

/// 16 chains of 8 lanes, 128 values a step (then the tail).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_avx512(a: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let c = _mm512_set1_pd(0.999_999);
    let mut acc = [_mm512_setzero_pd(); 16];
    let steps = a.chunks_exact(128);
    let tail = scalar(steps.remainder());
    for step in steps {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: 8 values at 8·j within the step's 128.
            let v = unsafe { _mm512_loadu_pd(step.as_ptr().add(8 * j)) };
            *s = _mm512_fmadd_pd(v, c, *s);
        }
    }
    acc.iter().map(|&s| _mm512_reduce_add_pd(s)).sum::<f64>() + tail
}

/// 12 chains of 4 lanes (with the constant, as many as the 16 registers hold), 48
/// values a step (then the tail).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn read_avx2(a: &[f64]) -> f64 {
    use std::arch::x86_64::*;
    let c = _mm256_set1_pd(0.999_999);
    let mut acc = [_mm256_setzero_pd(); 12];
    let steps = a.chunks_exact(48);
    let tail = scalar(steps.remainder());
    for step in steps {
        for (j, s) in acc.iter_mut().enumerate() {
            // SAFETY: 4 values at 4·j within the step's 48.
            let v = unsafe { _mm256_loadu_pd(step.as_ptr().add(4 * j)) };
            *s = _mm256_fmadd_pd(v, c, *s);
        }
    }
    let mut out = [0.0; 4];
    acc.iter().fold(tail, |t, &s| {
        _mm256_storeu_pd(out.as_mut_ptr(), s);
        t + out.iter().sum::<f64>()
    })
}

/// 12 chains of 8 lanes: 96 multiply-adds per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(seed: f64, n: usize) -> f64 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm512_set1_pd(0.999_999), _mm512_set1_pd(1e-9));
    let mut acc = [_mm512_set1_pd(seed); 12];
    for _ in 0..n.div_ceil(96) {
        for a in &mut acc {
            *a = _mm512_fmadd_pd(*a, m, c);
        }
    }
    acc.iter().map(|&a| _mm512_reduce_add_pd(a)).sum()
}

/// 12 chains of 4 lanes: 48 multiply-adds per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(seed: f64, n: usize) -> f64 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm256_set1_pd(0.999_999), _mm256_set1_pd(1e-9));
    let mut acc = [_mm256_set1_pd(seed); 12];
    for _ in 0..n.div_ceil(48) {
        for a in &mut acc {
            *a = _mm256_fmadd_pd(*a, m, c);
        }
    }
    let mut out = [0.0; 4];
    acc.iter().fold(0.0, |s, &a| {
        _mm256_storeu_pd(out.as_mut_ptr(), a);
        s + out.iter().sum::<f64>()
    })
}
