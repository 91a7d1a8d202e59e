//! What curvature costs, against the HVP it is built on: the top Hessian eigenvalue by
//! Lanczos (relative residual 1e-6, full reorthogonalisation, the same start for every
//! size) beside one HVP, the spectral density by SLQ (20 probes × 50 steps, in
//! lock-step), and the dense eigen decomposition where it is affordable.
//!
//! Group `curvature`, parameters `hvp/d`, `hessian_at_apply/d` (the product Lanczos
//! uses), `lanczos_top/d`, `slq_density_20x50/d` and `dense_eigen/d` (d ≤ 500)
//! for d0 = d1 = d2 = d, weights standard normal / √fan-in. The number of HVPs Lanczos
//! used is printed before each size. `cargo bench --bench curvature [--features
//! openblas]`; `FWDREV_CURVATURE_DS=100,200` picks the sizes.

mod common;

use criterion::{BenchmarkId, Criterion};
use fwdrev::{random, Activation, Extremes, Layer, Mlp};
use std::time::Duration;

fn sizes() -> Vec<usize> {
    std::env::var("FWDREV_CURVATURE_DS")
        .ok()
        .map(|s| s.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![250, 500, 1000, 2000])
}

fn network(d: usize) -> Mlp<f64> {
    let layer = |seed: u64| {
        let w = random::standard_normal::<f64>(d, d, seed, 0).expect("fits") / (d as f64).sqrt();
        Layer::new(w, Activation::Tanh)
    };
    Mlp::new([layer(1), layer(2)]).expect("finite")
}

fn curvature(c: &mut Criterion) {
    let mut group = c.benchmark_group("curvature");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    let top = Extremes {
        tol: 1e-6,
        max_steps: 500,
        ..Extremes::default()
    };
    for d in sizes() {
        let net = network(d);
        let x = random::standard_normal_vector::<f64>(d, 3).unwrap();
        let v = random::standard_normal_vector::<f64>(d, 4).unwrap();
        let e = net.hessian_extremes(x.view(), &top).unwrap();
        println!(
            "d = {d}: top eigenvalue {:.6e} after {} HVPs (converged: {})",
            e.top[0], e.products, e.converged
        );
        group.bench_function(BenchmarkId::new("hvp", d), |b| {
            b.iter(|| std::hint::black_box(net.hvp(x.view(), v.view()).unwrap()))
        });
        let at = net.hessian_at(x.view()).unwrap();
        group.bench_function(BenchmarkId::new("hessian_at_apply", d), |b| {
            b.iter(|| std::hint::black_box(at.apply(v.view()).unwrap()))
        });
        group.bench_function(BenchmarkId::new("lanczos_top", d), |b| {
            b.iter(|| std::hint::black_box(net.hessian_extremes(x.view(), &top).unwrap()))
        });
        group.bench_function(BenchmarkId::new("slq_density_20x50", d), |b| {
            b.iter(|| std::hint::black_box(net.hessian_density(x.view(), 20, 50, 0).unwrap()))
        });
        if d <= 500 {
            group.bench_function(BenchmarkId::new("dense_eigen", d), |b| {
                b.iter(|| std::hint::black_box(net.hessian_eigen(x.view(), false).unwrap()))
            });
        }
    }
    group.finish();
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    curvature(&mut c);
    c.final_summary();
}
