//! Small networks, one thread's worth of work: ∇f, JVP, VJP and HVP at (100, 105, 95),
//! the shape, and at (256, 256, 256), each beside its own floor measured in the
//! same run.
//!
//! Group `small`, ids `<call>/<d0>x<d1>x<d2>` for the calls `grad`, `jvp`, `vjp`, `hvp`,
//! each an `_into` call on the calling thread (`Par::Seq`) with scratch sized up front,
//! as a caller looping over many small problems would make it. Group `small_floor`:
//! `mac/4096` is one multiply-add of matrix-vector work at one core's best rate (the
//! crate's GEMV kernel on a 32×96 matrix held in L1, per multiply-add, ×4096: each
//! multiply-add loads one weight, so no matrix-vector product runs faster), `exp/4096`
//! is one libm `exp` (the one the activations call) in a throughput loop, ×4096. `fwdrev report` turns the two into
//! each call's floor (its multiply-adds and exps at those rates) and the ratio to it.
//!
//! `cargo bench --bench small [--features openblas]` (≈ 1 min).

mod common;

use criterion::{BenchmarkId, Criterion};
use fwdrev::baseline::gemv;
use fwdrev::{random, Activation, Mlp, Mode, Par, Scratch};
use ndarray::Array1;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SHAPES: [[usize; 3]; 2] = [[100, 105, 95], [256, 256, 256]];

/// Multiply-adds and exps per unit of the floor group: the ids' "4096".
const UNIT: u32 = 4096;

fn small(c: &mut Criterion) {
    let mut group = c.benchmark_group("small");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for widths in SHAPES {
        let shape = format!("{}x{}x{}", widths[0], widths[1], widths[2]);
        let net = Mlp::<f64>::from_seed(&widths, Activation::Sigmoid, 0).expect("fits in memory");
        let x = random::standard_normal_vector::<f64>(widths[0], 1).unwrap();
        let v = random::standard_normal_vector::<f64>(widths[0], 2).unwrap();
        let u = random::standard_normal_vector::<f64>(widths[2], 3).unwrap();
        let mut s = Scratch::new();
        let (mut g, mut h) = (Array1::zeros(widths[0]), Array1::zeros(widths[0]));
        let (mut out, mut jv) = (Array1::zeros(widths[2]), Array1::zeros(widths[2]));
        let seq = Par::Seq;
        group.bench_function(BenchmarkId::new("grad", &shape), |b| {
            b.iter(|| {
                net.value_and_grad_into(x.view(), Mode::Reverse, g.view_mut(), seq, &mut s)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("jvp", &shape), |b| {
            b.iter(|| {
                net.jvp_into(
                    x.view(),
                    v.view(),
                    out.view_mut(),
                    jv.view_mut(),
                    seq,
                    &mut s,
                )
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("vjp", &shape), |b| {
            b.iter(|| {
                net.vjp_into(
                    x.view(),
                    u.view(),
                    out.view_mut(),
                    g.view_mut(),
                    seq,
                    &mut s,
                )
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("hvp", &shape), |b| {
            b.iter(|| {
                net.hvp_into(x.view(), v.view(), g.view_mut(), h.view_mut(), seq, &mut s)
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut floor = c.benchmark_group("small_floor");
    floor
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    // 24 KiB of weights and the vector: L1-resident, below the size where GEMVs split.
    let a = random::standard_normal::<f64>(32, 96, 4, 0).unwrap();
    let xv = random::standard_normal_vector::<f64>(96, 5).unwrap();
    let mut y = Array1::zeros(32);
    let macs = a.len() as u32;
    floor.bench_function(BenchmarkId::new("mac", UNIT), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                gemv(a.view(), black_box(xv.view()), y.view_mut());
                black_box(&mut y);
            }
            start.elapsed() * UNIT / macs
        })
    });
    // Arguments spread over σ's working range, as pre-activations are.
    let ts: Vec<f64> = (0..UNIT)
        .map(|i| -8.0 + 16.0 * i as f64 / UNIT as f64)
        .collect();
    floor.bench_function(BenchmarkId::new("exp", UNIT), |b| {
        b.iter(|| black_box(&ts).iter().map(|t| (-t.abs()).exp()).sum::<f64>())
    });
    floor.finish();
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    small(&mut c);
    c.final_summary();
}
