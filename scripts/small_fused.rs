//! Reverse mode's fused pass at a small width, against its two halves run apart: the
//! measurement behind docs/measured.md's "The fused pass at (100, 105, 95)" (Zen 4).
//!
//! A 96×112 f64 matrix (B of the (100, 105, 95) network, rows padded to whole lines)
//! sits in L2, not L1 (each call follows a read of 256 KB): `dot4` dots four rows at a
//! time with h (as the forward pass), `axpy4` adds four rows at a time, scaled, into z
//! (as Aᵀ·ḡ), `fused lagK` does both in one sweep, dotting quad u while adding quad
//! u − K (K quads behind; the crate's fused pass adds a group of three quads while it
//! dots the next), `fused8` eight rows each way. Prints the fastest of five means over 20 000 calls.
//!
//! Needs AVX-512F. Build and run (not part of the crate's build):
//!
//! ```text
//! rustc --edition 2021 -O -C target-cpu=native scripts/small_fused.rs -o /tmp/small_fused
//! /tmp/small_fused
//! ```
use std::arch::x86_64::*;
use std::time::Instant;
/// Entries per row (105 padded to whole lines).
const N: usize = 112;
/// Rows (95, to whole quads).
const M: usize = 96;
/// Four rows at a time dotted with h.
#[target_feature(enable = "avx512f,fma")]
unsafe fn dot4s(w: &[f64], h: &[f64], y: &mut [f64]) {
    for u in 0..M / 4 {
        let p: [*const f64; 4] = std::array::from_fn(|r| w[(4 * u + r) * N..].as_ptr());
        let mut acc = [_mm512_setzero_pd(); 4];
        for i in (0..N).step_by(8) {
            let xv = _mm512_loadu_pd(h.as_ptr().add(i));
            for r in 0..4 {
                acc[r] = _mm512_fmadd_pd(_mm512_loadu_pd(p[r].add(i)), xv, acc[r]);
            }
        }
        for r in 0..4 {
            y[4 * u + r] = _mm512_reduce_add_pd(acc[r]);
        }
    }
}
/// z += Σ c_i·row_i, four rows at a time.
#[target_feature(enable = "avx512f,fma")]
unsafe fn axpy4s(w: &[f64], c: &[f64], z: &mut [f64]) {
    let zp = z.as_mut_ptr();
    for u in 0..M / 4 {
        let p: [*const f64; 4] = std::array::from_fn(|r| w[(4 * u + r) * N..].as_ptr());
        let al: [__m512d; 4] = std::array::from_fn(|r| _mm512_set1_pd(c[4 * u + r]));
        for i in (0..N).step_by(8) {
            let mut v = _mm512_loadu_pd(zp.add(i));
            for r in 0..4 {
                v = _mm512_fmadd_pd(al[r], _mm512_loadu_pd(p[r].add(i)), v);
            }
            _mm512_storeu_pd(zp.add(i), v);
        }
    }
}
/// Group u of R rows dotted with h while group u − lag is added into z, scaled by its
/// dots.
#[target_feature(enable = "avx512f,fma")]
unsafe fn fused<const R: usize>(w: &[f64], h: &[f64], y: &mut [f64], z: &mut [f64], lag: usize) {
    let zp = z.as_mut_ptr();
    for u in 0..M / R + lag {
        let cur = u < M / R;
        let pu = u.checked_sub(lag);
        let p: [*const f64; R] = std::array::from_fn(|r| w[((R * u + r) % M) * N..].as_ptr());
        let q: [*const f64; R] =
            std::array::from_fn(|r| w[(R * pu.unwrap_or(0) + r) * N..].as_ptr());
        let al: [__m512d; R] =
            std::array::from_fn(|r| _mm512_set1_pd(pu.map_or(0.0, |pu| y[R * pu + r])));
        let mut acc = [_mm512_setzero_pd(); R];
        for i in (0..N).step_by(8) {
            let xv = _mm512_loadu_pd(h.as_ptr().add(i));
            let mut v = _mm512_loadu_pd(zp.add(i));
            for r in 0..R {
                if cur {
                    acc[r] = _mm512_fmadd_pd(_mm512_loadu_pd(p[r].add(i)), xv, acc[r]);
                }
                v = _mm512_fmadd_pd(al[r], _mm512_loadu_pd(q[r].add(i)), v);
            }
            _mm512_storeu_pd(zp.add(i), v);
        }
        if cur {
            for r in 0..R {
                y[R * u + r] = _mm512_reduce_add_pd(acc[r]) * 1e-3;
            }
        }
    }
}
/// A read of `buf` (larger than L1): what a call's matrix leaves L1 by.
fn evict(buf: &[f64]) -> f64 {
    buf.iter().step_by(8).sum()
}
fn main() {
    assert!(is_x86_feature_detected!("avx512f"), "needs AVX-512F");
    let w: Vec<f64> = (0..M * N).map(|i| ((i % 977) as f64) * 1e-3).collect();
    let ev: Vec<f64> = (0..(256 * 1024 / 8)).map(|i| i as f64).collect();
    let h = vec![0.5; N];
    let mut y = vec![0.0; M];
    let mut z = vec![0.0; N];
    let reps = 20000;
    let t = |name: &str, f: &mut dyn FnMut()| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut tot = 0.0;
            let mut s = 0.0;
            for _ in 0..reps {
                s += evict(&ev);
                let t0 = Instant::now();
                f();
                tot += t0.elapsed().as_secs_f64();
            }
            std::hint::black_box(s);
            best = best.min(tot / reps as f64);
        }
        println!("{name:>12}: {:.3} us", best * 1e6);
    };
    unsafe {
        t("dot4", &mut || dot4s(&w, &h, &mut y));
        t("axpy4", &mut || axpy4s(&w, &y, &mut z));
        t("dot+axpy", &mut || {
            dot4s(&w, &h, &mut y);
            axpy4s(&w, &y, &mut z)
        });
        t("fused8", &mut || fused::<8>(&w, &h, &mut y, &mut z, 1));
        for lag in [1, 2, 3] {
            t(&format!("fused lag{lag}"), &mut || {
                fused::<4>(&w, &h, &mut y, &mut z, lag)
            });
        }
    }
    std::hint::black_box((&y, &z));
}
