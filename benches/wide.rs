//! What the wide-range path costs: a gradient whose entries could overflow (A scaled by
//! 1e306, so ‖A‖_∞·max|x| is beyond f64) beside the same network's ordinary gradient.
//!
//! Group `gradient`, parameters `fast/d` and `wide/d` for d0 = d1 = d2 = d.
//! `cargo bench --bench wide [--features openblas]` (≈ 1 min); `FWDREV_WIDE_DS=100,200`
//! picks the sizes.

mod common;

use criterion::{BenchmarkId, Criterion};
use fwdrev::{random, Activation, Layer, Mlp, Mode};
use std::time::Duration;

fn sizes() -> Vec<usize> {
    std::env::var("FWDREV_WIDE_DS")
        .ok()
        .map(|s| s.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![250, 1000, 2000])
}

fn wide(c: &mut Criterion) {
    let mut group = c.benchmark_group("gradient");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    for d in sizes() {
        let net =
            Mlp::<f64>::from_seed(&[d, d, d], Activation::Sigmoid, 0).expect("fits in memory");
        let mut layers = net.layers().to_vec();
        layers[0] = Layer::new(layers[0].weights().mapv(|v| v * 1e306), Activation::Sigmoid);
        let huge = Mlp::new(layers).expect("finite");
        let x = random::standard_normal_vector::<f64>(d, 1).unwrap();
        for (name, n) in [("fast", &net), ("wide", &huge)] {
            group.bench_function(BenchmarkId::new(name, d), |b| {
                b.iter(|| std::hint::black_box(n.value_and_grad(x.view(), Mode::Reverse).unwrap()))
            });
        }
    }
    group.finish();
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    wide(&mut c);
    c.final_summary();
}
