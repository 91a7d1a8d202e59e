//! Small networks, one thread's worth of work: ∇f, JVP, VJP and HVP at (100, 105, 95),
//! the shape, and at (256, 256, 256), each beside its own floor measured in the
//! same run.
//!
//! Group `small`, ids `<call>/<d0>x<d1>x<d2>` for the calls `grad`, `jvp`, `vjp`, `hvp`,
//! each an `_into` call on the calling thread (`Par::Seq`) with scratch sized up front,
//! as a caller looping over many small problems would make it. Group `small_floor`:
//! `mac/4096` is 4096 multiply-adds at one core's peak (fused multiply-adds on the
//! widest vectors the CPU has, in registers, as many chains as hide their latency: no
//! arithmetic runs faster, and no loads slow it), `read/<d0>x<d1>x<d2>` is one
//! multiply-add per weight of that shape, each value loaded from where the weights stay
//! between calls (a bare sweep over as many values as the weights, on the widest loads:
//! a matrix-vector product loads each weight once for all the vectors it multiplies), `sigmoid/512` is σ and σ' of
//! 512 values in L1, as the calls evaluate a layer (`Activation::values_and_slopes`:
//! four lanes, glibc's exp). `fwdrev report` turns them into each call's two floors (its
//! multiply-adds at the register rate, or at the rate of the loads, plus its activations)
//! and the ratios to them.
//!
//! `cargo bench --bench small [--features openblas]` (≈ 1 min).

mod common;

use criterion::{BenchmarkId, Criterion};
use fwdrev::Activation;
use std::hint::black_box;
use std::time::Duration;

const SHAPES: [[usize; 3]; 2] = [[100, 105, 95], [256, 256, 256]];

fn small(c: &mut Criterion) {
    let mut group = c.benchmark_group("small");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for widths in SHAPES {
        let shape = format!("{}x{}x{}", widths[0], widths[1], widths[2]);
        let mut calls = Calls::of(&shape).expect("fits in memory");
        for call in Call::ALL {
            group.bench_function(BenchmarkId::new(call.name(), &shape), |b| {
                b.iter(|| calls.run(call).unwrap())
            });
        }
    }
    group.finish();

    let mut floor = c.benchmark_group("small_floor");
    floor
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    floor.bench_function(BenchmarkId::new("mac", peak::MACS), |b| {
        b.iter(|| peak::multiply_adds(black_box(1.0), peak::MACS))
    });
    // One multiply-add per weight, each loaded from where the shape's weights stay
    // between calls (L2 or beyond), as a matrix-vector sweep must: M values, on a line.
    for widths in SHAPES {
        let shape = format!("{}x{}x{}", widths[0], widths[1], widths[2]);
        let m: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
        let (buf, at) = peak::on_a_line(m).expect("fits in memory");
        let weights = &buf[at];
        floor.bench_function(BenchmarkId::new("read", &shape), |b| {
            b.iter(|| peak::read_multiply_adds(black_box(weights)))
        });
    }
    // σ and σ' of a layer's worth of units, over and over in place.
    let (mut ys, mut ss) = (peak::sigmoid_inputs(), vec![0.0; peak::UNITS]);
    floor.bench_function(BenchmarkId::new("sigmoid", peak::UNITS), |b| {
        b.iter(|| {
            Activation::Sigmoid
                .values_and_slopes(black_box(&mut ys), &mut ss)
                .expect("as many slopes as values")
        })
    });
    floor.finish();
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    small(&mut c);
    c.final_summary();
}

/// The calls and the floors' loops, shared with `examples/small_floor.rs` (and the
/// calls with `examples/call_cost.rs`).
#[path = "common/calls.rs"]
mod calls;
#[path = "common/peak.rs"]
mod peak;

use calls::{Call, Calls};
