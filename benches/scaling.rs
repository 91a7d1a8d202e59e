//! The scaling sweep: both modes and their bare BLAS baselines at d0 = d1 = d2 = d.
//!
//! Groups: `forward` (default budget: one GEMM up to d ≈ 8000), `forward_64mib` (column
//! panels within 64 MiB, d ≥ 4000, where it differs), `reverse` (the fused pass: B read
//! once), `batch64_per_point` (the batched call at k = 64, time per point) and its
//! products alone, `thin64_per_point` (W·X) and `thin64_t_per_point` (Wᵀ·X),
//! `forward_f32`, `reverse_f32` and `batch64_f32_per_point`, and the baselines `gemm`
//! (B·A), `gemv` (A·x) and `stream` (a plain streaming read of A,
//! `baseline::stream_sum_rows`: reverse mode's floor is three of them).
//!
//! `cargo bench --bench scaling` runs d = 100 … 8000 (≈ 5–10 min on 2 cores);
//! `FWDREV_BENCH_DS=100,200,500` picks other sizes. `fwdrev report` then fits the
//! exponents and draws the plot from criterion's estimates.

mod common;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use fwdrev::baseline::{gemm, gemv, stream_sum_rows};
use fwdrev::{random, Activation, Mlp, Mode, Real};
use ndarray::{Array1, Array2, ArrayView2};
use std::time::Duration;
use std::time::Instant;

const DEFAULT_DS: &[usize] = &[100, 200, 500, 1000, 2000, 4000, 8000];

fn sizes() -> Vec<usize> {
    match std::env::var("FWDREV_BENCH_DS") {
        Ok(s) => s
            .split(',')
            .map(|d| {
                d.trim()
                    .parse()
                    .expect("FWDREV_BENCH_DS: comma-separated sizes")
            })
            .collect(),
        Err(_) => DEFAULT_DS.to_vec(),
    }
}

/// Few samples where one run takes seconds: 10 flat samples of one iteration each.
fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    seconds_per_run: f64,
) {
    if seconds_per_run > 0.05 {
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs_f64(seconds_per_run * 10.0));
    } else {
        group
            .sample_size(30)
            .sampling_mode(SamplingMode::Auto)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
}

/// One measurement: group `group`, parameter d, sampled for a run of ~`secs` seconds.
fn bench(
    c: &mut Criterion,
    group: &str,
    d: usize,
    secs: f64,
    f: impl FnMut(&mut criterion::Bencher<'_>),
) {
    let mut group = c.benchmark_group(group);
    configure(&mut group, secs);
    group.bench_function(BenchmarkId::from_parameter(d), f);
    group.finish();
}

/// W_k (A for 0, B for 1).
fn weights(net: &Mlp<f64>, k: usize) -> ndarray::ArrayView2<'_, f64> {
    net.layers()[k].weights()
}

fn scaling(c: &mut Criterion) {
    eprintln!("fwdrev scaling sweep, backend: {}", fwdrev::backend());
    let nets: Vec<(usize, Mlp<f64>, Array1<f64>)> = sizes()
        .into_iter()
        .map(|d| {
            let net = Mlp::from_seed(&[d, d, d], Activation::Sigmoid, 0).expect("fits in memory");
            (d, net, random::standard_normal_vector(d, 0).unwrap())
        })
        .collect();
    // Rough seconds per run (78 GFLOP/s GEMM, 10 GB/s GEMV) to choose the sampling.
    let cubic = |d: usize| 2.0 * (d as f64).powi(3) / 78e9;
    let square = |d: usize| 32.0 * (d as f64).powi(2) / 10e9;

    // Size by size, each mode beside its baseline: a shared machine's speed drifts over
    // minutes, and interleaving keeps that drift out of the ratios.
    for (d, net, x) in &nets {
        let d = *d;
        bench(c, "forward", d, cubic(d), |b| {
            b.iter(|| net.value_and_grad(x.view(), Mode::Forward).unwrap())
        });
        let mut out = Array2::zeros((d, d));
        bench(c, "gemm", d, cubic(d), |b| {
            b.iter(|| gemm(weights(net, 1), weights(net, 0), out.view_mut()))
        });
        drop(out);
        bench(c, "reverse", d, square(d), |b| {
            b.iter(|| net.value_and_grad(x.view(), Mode::Reverse).unwrap())
        });
        let mut y = Array1::zeros(d);
        bench(c, "gemv", d, square(d) / 4.0, |b| {
            b.iter(|| gemv(weights(net, 0), x.view(), y.view_mut()))
        });
        // The read floor: reverse mode reads A twice and B once, 3·d² values, each at
        // the rate of a plain streaming read of A.
        let a = weights(net, 0);
        bench(c, "stream", d, square(d) / 4.0, |b| {
            b.iter(|| stream_sum_rows(a))
        });

        // Forward mode within 64 MiB of panels: d0 / w panels, each re-reading B.
        if d >= 4000 {
            let panelled = net.clone().with_memory_budget(64 << 20);
            bench(c, "forward_64mib", d, cubic(d), |b| {
                b.iter(|| panelled.value_and_grad(x.view(), Mode::Forward).unwrap())
            });
        }

        // The batched call at k = 64, reported per point (comparable with `reverse`).
        let points = random::standard_normal::<f64>(d, K as usize, 0, 1 << 62).unwrap();
        bench(
            c,
            "batch64_per_point",
            d,
            square(d) * 4.0,
            per_point(net, points.view()),
        );

        // Its two kinds of product alone, W·X and Wᵀ·X for the k points as columns, on
        // the route backend::gemm gives them (time per point, as above).
        let mut out = Array2::zeros((d, K as usize));
        for (name, transposed) in [("thin64_per_point", false), ("thin64_t_per_point", true)] {
            let w = weights(net, 0);
            let w = if transposed { w.t() } else { w };
            bench(c, name, d, square(d), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        gemm(w, points.view(), out.view_mut());
                    }
                    start.elapsed() / K
                })
            });
        }

        // float32: the same network rounded, half the bytes.
        let net32 =
            Mlp::<f32>::from_seed(&[d, d, d], Activation::Sigmoid, 0).expect("fits in memory");
        let x32 = x.mapv(|v| v as f32);
        for (name, mode, secs) in [
            ("forward_f32", Mode::Forward, cubic(d) / 2.0),
            ("reverse_f32", Mode::Reverse, square(d) / 2.0),
        ] {
            bench(c, name, d, secs, |b| {
                b.iter(|| net32.value_and_grad(x32.view(), mode).unwrap())
            });
        }
        let points32 = points.mapv(|v| v as f32);
        let batch32 = per_point(&net32, points32.view());
        bench(c, "batch64_f32_per_point", d, square(d) * 2.0, batch32);
        drop(net32);

        // Forward mode's pooled panels (up to 1 GiB) are not needed past this size.
        net.release_scratch();
    }
}

/// Points a batch takes at once in the `batch64` groups.
const K: u32 = 64;

/// The batched call at `points` (K of them), timed per point (comparable with
/// `reverse`).
fn per_point<'a, T: Real>(
    net: &'a Mlp<T>,
    points: ArrayView2<'a, T>,
) -> impl FnMut(&mut criterion::Bencher) + 'a {
    move |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(net.value_and_grad_batch(points).unwrap());
            }
            start.elapsed() / K
        })
    }
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    scaling(&mut c);
    c.final_summary();
}
