//! Reverse mode's fused pass over a d×d matrix with and without prefetch hints, beside
//! a plain streaming read of the same bytes, on two threads (each over half the rows):
//! the measurement behind the kernels' hints (`fetch_ahead` in src/kernels/mod.rs).
//!
//! The fused pass dots four rows with h while adding the previous four, scaled by their
//! coefficients, into z: four rows stream from memory while four more, z and h come
//! from L2. Each variant runs once per round, interleaved with the read, and each ratio
//! is to that round's read; rounds are sorted by the read's rate and split in thirds,
//! so that a VM whose bandwidth moves shows each variant in each state.
//!
//! Eight rows a sweep (`dot8`, `axpy8`) read x or z once for eight rows instead of four:
//! the measurement behind `kernels::octets`.
//!
//! Last, the same read and the fused pass of four and of eight rows over rows that stay
//! in L2 (each thread its own 750 KB, swept over and over), in GB/s of W a core: how fast
//! the fused pass can go where memory is not involved at all, the bound that L2 sets on
//! it (docs/measured.md, one point at d = 8000 where memory reads fast).
//!
//! Needs AVX-512F. Build and run (not part of the crate's build):
//!
//! ```text
//! rustc --edition 2021 -O -C target-cpu=native scripts/fused_prefetch.rs -o /tmp/fused_prefetch
//! /tmp/fused_prefetch 8000 45     # d, rounds
//! ```
use std::arch::x86_64::*;
use std::time::Instant;

/// Prefetch distances in f64 entries: `near` into L1, `far` into L2 (0: none).
#[derive(Clone, Copy)]
struct Ahead {
    near: usize,
    far: usize,
}

const NONE: Ahead = Ahead { near: 0, far: 0 };

#[target_feature(enable = "avx512f,fma")]
fn hint(p: *const f64, i: usize, ahead: Ahead) {
    if ahead.near > 0 {
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(i + ahead.near).cast());
    }
    if ahead.far > 0 {
        _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(i + ahead.far).cast());
    }
}

/// Σ of all entries: one stream, eight accumulators.
#[target_feature(enable = "avx512f,fma")]
unsafe fn read(w: &[f64]) -> f64 {
    let mut acc = [_mm512_setzero_pd(); 8];
    let p = w.as_ptr();
    let mut i = 0;
    while i + 64 <= w.len() {
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = _mm512_add_pd(*acc, unsafe { _mm512_loadu_pd(p.add(i + 8 * j)) });
        }
        i += 64;
    }
    acc.iter().map(|&a| _mm512_reduce_add_pd(a)).sum()
}

/// Σ of all entries in 1 MiB blocks, each four interleaved streams (the crate's probe).
#[target_feature(enable = "avx512f,fma")]
unsafe fn read4(w: &[f64]) -> f64 {
    let mut s = 0.0;
    for c in w.chunks(1 << 17) {
        let q = c.len() / 4 / 8 * 8;
        let p = c.as_ptr();
        let mut acc = [_mm512_setzero_pd(); 4];
        let mut i = 0;
        while i < q {
            for (k, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_add_pd(*acc, unsafe { _mm512_loadu_pd(p.add(k * q + i)) });
            }
            i += 8;
        }
        s += acc.iter().map(|&a| _mm512_reduce_add_pd(a)).sum::<f64>();
    }
    s
}

/// The dots of R rows at a time with h (A·x): x read once for each R rows.
#[target_feature(enable = "avx512f,fma")]
unsafe fn dots<const R: usize>(w: &[f64], n: usize, h: &[f64], ahead: Ahead) -> f64 {
    let mut f = 0.0;
    for u in 0..w.len() / n / R {
        let p: [*const f64; R] = std::array::from_fn(|r| w[(R * u + r) * n..].as_ptr());
        let mut acc = [_mm512_setzero_pd(); R];
        for i in (0..n).step_by(8) {
            let xv = unsafe { _mm512_loadu_pd(h.as_ptr().add(i)) };
            for r in 0..R {
                hint(p[r], i, ahead);
                let a = unsafe { _mm512_loadu_pd(p[r].add(i)) };
                acc[r] = _mm512_fmadd_pd(a, xv, acc[r]);
            }
        }
        f += acc.iter().map(|&a| _mm512_reduce_add_pd(a)).sum::<f64>();
    }
    f
}

/// z += Σ h_i·row_i, R rows at a time (Aᵀ·g): z read and written once for each R rows.
#[target_feature(enable = "avx512f,fma")]
unsafe fn axpys<const R: usize>(
    w: &[f64],
    n: usize,
    h: &[f64],
    z: &mut [f64],
    ahead: Ahead,
) -> f64 {
    let zp = z.as_mut_ptr();
    for u in 0..w.len() / n / R {
        let p: [*const f64; R] = std::array::from_fn(|r| w[(R * u + r) * n..].as_ptr());
        let al: [__m512d; R] = std::array::from_fn(|r| _mm512_set1_pd(h[(R * u + r) % n]));
        for i in (0..n).step_by(8) {
            let mut v = unsafe { _mm512_loadu_pd(zp.add(i)) };
            for r in 0..R {
                hint(p[r], i, ahead);
                v = _mm512_fmadd_pd(al[r], unsafe { _mm512_loadu_pd(p[r].add(i)) }, v);
            }
            unsafe { _mm512_storeu_pd(zp.add(i), v) };
        }
    }
    z[0]
}

/// The fused pass: R rows' dots with h while the previous R rows, scaled by σ of their
/// dots, are added into z.
#[target_feature(enable = "avx512f,fma")]
unsafe fn fused<const R: usize>(
    w: &[f64],
    n: usize,
    h: &[f64],
    z: &mut [f64],
    ahead: Ahead,
) -> f64 {
    let mut f = 0.0;
    let mut prev: Option<(usize, [f64; R])> = None;
    let (hp, zp) = (h.as_ptr(), z.as_mut_ptr());
    for u in 0..w.len() / n / R {
        let p: [*const f64; R] = std::array::from_fn(|r| w[(R * u + r) * n..].as_ptr());
        let mut acc = [_mm512_setzero_pd(); R];
        let (pu, c) = prev.unwrap_or((u, [0.0; R]));
        let q: [*const f64; R] = std::array::from_fn(|r| w[(R * pu + r) * n..].as_ptr());
        let al: [__m512d; R] = std::array::from_fn(|r| _mm512_set1_pd(c[r]));
        for i in (0..n).step_by(8) {
            let xv = unsafe { _mm512_loadu_pd(hp.add(i)) };
            let mut v = unsafe { _mm512_loadu_pd(zp.add(i)) };
            for r in 0..R {
                hint(p[r], i, ahead);
                acc[r] = _mm512_fmadd_pd(unsafe { _mm512_loadu_pd(p[r].add(i)) }, xv, acc[r]);
                v = _mm512_fmadd_pd(al[r], unsafe { _mm512_loadu_pd(q[r].add(i)) }, v);
            }
            unsafe { _mm512_storeu_pd(zp.add(i), v) };
        }
        let y: [f64; R] = std::array::from_fn(|r| _mm512_reduce_add_pd(acc[r]));
        f += y.iter().sum::<f64>();
        prev = Some((u, y.map(|t| 1.0 / (1.0 + (-t).exp()))));
    }
    f
}

/// Weights of n·n entries or fewer: values that round, the same in every pass.
fn weights(len: usize) -> Vec<f64> {
    (0..len).map(|i| ((i % 977) as f64) * 1e-3 - 0.4).collect()
}

type Pass<'a> = &'a (dyn Fn(&[f64], &mut [f64]) -> f64 + Sync);
type Boxed<'a> = Box<dyn Fn(&[f64], &mut [f64]) -> f64 + Sync + 'a>;

fn main() {
    assert!(is_x86_feature_detected!("avx512f"), "needs AVX-512F");
    let arg = |k: usize, or: usize| std::env::args().nth(k).map_or(or, |s| s.parse().unwrap());
    let (n, rounds) = (arg(1, 8000) / 8 * 8, arg(2, 45));
    let w = weights(n * n);
    let h: Vec<f64> = (0..n).map(|i| ((i % 13) as f64) * 0.01).collect();
    let bytes = (n * n * 8) as f64;
    // Two threads, each over half the rows with its own z.
    let time = |go: Pass| -> f64 {
        let (a, b) = w.split_at(n / 2 / 4 * 4 * n);
        let t = Instant::now();
        std::thread::scope(|s| {
            let j = s.spawn(|| go(b, &mut vec![0.0; n]));
            std::hint::black_box(go(a, &mut vec![0.0; n]) + j.join().unwrap());
        });
        t.elapsed().as_secs_f64()
    };
    let (near, page) = (Ahead { near: 64, far: 0 }, Ahead { near: 64, far: 512 });
    let passes: Vec<(&str, Boxed)> = vec![
        ("read4", Box::new(|w, _| unsafe { read4(w) })),
        (
            "dot4",
            Box::new(|w, _| unsafe { dots::<4>(w, n, &h, NONE) }),
        ),
        (
            "dot4 +hints",
            Box::new(|w, _| unsafe { dots::<4>(w, n, &h, page) }),
        ),
        (
            "axpy4",
            Box::new(|w, z| unsafe { axpys::<4>(w, n, &h, z, NONE) }),
        ),
        (
            "axpy4 +hints",
            Box::new(|w, z| unsafe { axpys::<4>(w, n, &h, z, page) }),
        ),
        (
            "dot8",
            Box::new(|w, _| unsafe { dots::<8>(w, n, &h, NONE) }),
        ),
        (
            "dot8 +hints",
            Box::new(|w, _| unsafe { dots::<8>(w, n, &h, page) }),
        ),
        (
            "axpy8",
            Box::new(|w, z| unsafe { axpys::<8>(w, n, &h, z, NONE) }),
        ),
        (
            "axpy8 +hints",
            Box::new(|w, z| unsafe { axpys::<8>(w, n, &h, z, page) }),
        ),
        (
            "fused",
            Box::new(|w, z| unsafe { fused::<4>(w, n, &h, z, NONE) }),
        ),
        (
            "fused +512 B",
            Box::new(|w, z| unsafe { fused::<4>(w, n, &h, z, near) }),
        ),
        (
            "fused +512 B +4 KB",
            Box::new(|w, z| unsafe { fused::<4>(w, n, &h, z, page) }),
        ),
    ];
    let mut rows: Vec<Vec<f64>> = (0..rounds)
        .map(|_| {
            let r = time(&|w, _| unsafe { read(w) });
            let mut row = vec![bytes / r / 1e9];
            row.extend(passes.iter().map(|(_, go)| time(&**go) / r));
            row
        })
        .collect();
    rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    println!("d = {n}, {rounds} rounds; each pass's time ÷ the read's in its round, medians");
    let names: Vec<&str> = passes.iter().map(|p| p.0).collect();
    println!("| read GB/s | {} |", names.join(" | "));
    println!("|---:|{}", "---:|".repeat(names.len()));
    for third in rows.chunks(rows.len().div_ceil(3)) {
        let med = |k: usize| {
            let mut v: Vec<f64> = third.iter().map(|r| r[k]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let cells: Vec<String> = (1..=names.len())
            .map(|k| format!("{:.3}", med(k)))
            .collect();
        println!("| {:.1} | {} |", med(0), cells.join(" | "));
    }
    in_l2();
}

/// The read and the fused pass (four and eight rows a group, no hints) over 24 rows of
/// 4000 (750 KB) that stay in L2, on two threads (each its own rows, h and z): GB/s of
/// W a core, best of ten runs of many sweeps. Bytes crossing from L2 a byte of W do not
/// depend on the row's length once rows are long, and sixteen rows of 8000 with h and z
/// would not fit in a 1 MB L2.
fn in_l2() {
    let (rows, n) = (24, 4000);
    let rate = |pass: usize| -> Vec<f64> {
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(move || {
                        let w = weights(rows * n);
                        let (h, mut z) = (vec![0.01; n], vec![0.0; n]);
                        let sweeps = ((200 << 20) / (rows * n * 8)).max(1);
                        let mut best = f64::MAX;
                        for _ in 0..10 {
                            let t = Instant::now();
                            for _ in 0..sweeps {
                                std::hint::black_box(match pass {
                                    4 => unsafe { fused::<4>(&w, n, &h, &mut z, NONE) },
                                    8 => unsafe { fused::<8>(&w, n, &h, &mut z, NONE) },
                                    _ => unsafe { read(&w) },
                                });
                            }
                            best = best.min(t.elapsed().as_secs_f64());
                        }
                        (sweeps * rows * n * 8) as f64 / best / 1e9
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        })
    };
    let show = |v: Vec<f64>| {
        v.iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    println!(
        "From L2 ({rows} rows of {n} a thread, two threads), GB/s of W a core: read {}, fused pass of four rows {}, of eight {}",
        show(rate(0)),
        show(rate(4)),
        show(rate(8))
    );
}
