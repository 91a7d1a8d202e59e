//! Jacobians in each mode, JVP, VJP and HVP, over shapes and depths.
//!
//! Groups `jacobian_forward`, `jacobian_reverse`, `jacobian_auto` (parameter: the widths,
//! e.g. `1000-1000-10-1000-1000`, and `…@2048KiB` for the shapes run under a memory
//! budget that forces panels), and `jvp`, `vjp`, `hvp` (the same shapes, then
//! `depthL`: L layers of width 1000). At start the bench times the machine
//! ([`Calibration::measure`]) and writes every plan's bracketing and predicted cost to
//! `plans.json` beside criterion's output (`target/criterion`, or `CRITERION_HOME`), so
//! that `fwdrev report` can set measured beside predicted from one run.
//!
//! `cargo bench --bench chain` (≈ 10 min on 2 cores); `FWDREV_CHAIN_SCALE=10` divides
//! every width by 10 (the quick pass CI runs).

mod common;

use criterion::{BenchmarkId, Criterion};
use fwdrev::{random, Activation, Calibration, Mlp, Mode};
use std::time::Duration;

/// Realistic shapes: an autoencoder (the bottleneck case), a classifier (many inputs,
/// few outputs), a decoder (the reverse), square layers, and repeated bottlenecks.
const SHAPES: &[&[usize]] = &[
    &[1000, 1000, 10, 1000, 1000],
    &[2000, 2000, 50, 50, 2000],
    &[500, 2000, 20, 2000, 20, 2000, 500],
    &[4000, 1000, 100, 10],
    &[10, 100, 1000, 4000],
    &[1000, 1000, 1000, 1000],
    &[2000, 2000, 2000],
];

/// Shapes under memory budgets (bytes at full scale) that force panels: Auto then
/// prices each bracketing in the panels it needs.
const BUDGETED: &[(&[usize], usize)] = &[
    (&[1000, 1000, 10, 1000, 1000], 2 << 20),
    (&[2000, 2000, 50, 50, 2000], 8 << 20),
    (&[500, 2000, 20, 2000, 20, 2000, 500], 4 << 20),
    (&[199, 9, 195, 278, 283, 151], 64 << 10),
];

fn scale() -> usize {
    std::env::var("FWDREV_CHAIN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Ten samples in about `seconds` (a tenth of that in the quick pass).
fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    seconds: f64,
) {
    let quick = if scale() > 1 { 0.1 } else { 1.0 };
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs_f64(0.2 * quick))
        .measurement_time(Duration::from_secs_f64(seconds * quick));
}

fn name(widths: &[usize]) -> String {
    widths
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

fn chain(c: &mut Criterion) {
    let k = scale();
    let calibration = Calibration::measure();
    eprintln!(
        "fwdrev chain bench, backend: {}, calibration: {calibration:?}",
        fwdrev::backend()
    );
    let shapes: Vec<Vec<usize>> = SHAPES
        .iter()
        .map(|s| s.iter().map(|w| (w / k).max(1)).collect())
        .collect();
    let budgeted = BUDGETED.iter().map(|(s, budget)| {
        let widths: Vec<usize> = s.iter().map(|w| (w / k).max(1)).collect();
        (widths, Some((budget / (k * k)).max(1024)))
    });
    let cases: Vec<(Vec<usize>, Option<usize>)> = shapes
        .iter()
        .map(|w| (w.clone(), None))
        .chain(budgeted)
        .collect();
    let mut plans = Vec::new();
    for (widths, budget) in &cases {
        let mut net = Mlp::<f64>::from_seed(widths, Activation::Tanh, 0)
            .expect("fits in memory")
            .with_calibration(calibration);
        if let Some(b) = budget {
            net = net.with_memory_budget(*b);
        }
        // The budget in the parameter: `1000-1000-10-1000-1000@2048KiB`.
        let label = match budget {
            Some(b) => format!("{}@{}KiB", name(widths), b >> 10),
            None => name(widths),
        };
        // Small inputs keep tanh off its saturated tails, as a trained network would be.
        let x = random::standard_normal_vector::<f64>(widths[0], 0).unwrap() * 0.01;
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let plan = net.plan(mode);
            let panels = plan.panels().expect("every case fits its budget");
            plans.push(serde_json::json!({
                "group": format!("jacobian_{}", mode.name()),
                "shape": label,
                "widths": widths,
                "budget_bytes": budget,
                "mode": mode.name(),
                "plan": plan.to_string(),
                "panels": {"side": panels.side.name(), "width": panels.width, "count": panels.count},
                "predicted_s": plan.predicted_seconds(),
                "predicted_flops": plan.predicted_flops(),
            }));
            let mut group = c.benchmark_group(format!("jacobian_{}", mode.name()));
            configure(&mut group, 2.0);
            group.bench_function(BenchmarkId::from_parameter(&label), |b| {
                b.iter(|| net.jacobian_with_plan(x.view(), &plan).unwrap())
            });
            group.finish();
        }
    }
    // Beside criterion's own output (CRITERION_HOME, as the report reads it).
    let dir = std::env::var_os("CRITERION_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/criterion".into());
    let dir = dir.as_path();
    std::fs::create_dir_all(dir).expect("target/criterion is writable");
    std::fs::write(
        dir.join("plans.json"),
        serde_json::json!({"calibration": {
            "gemm_rate": calibration.gemm_rate,
            "bandwidth": calibration.bandwidth,
            "call_seconds": calibration.call_seconds,
            "narrow": calibration.narrow,
        }, "backend": fwdrev::backend().name, "plans": plans})
        .to_string(),
    )
    .expect("plans.json is writable");

    // Products and second derivatives: the shapes, then depth at width 1000.
    let deep: Vec<(String, Vec<usize>)> = [1, 2, 4, 8]
        .iter()
        .map(|&l| (format!("depth{l}"), vec![(1000 / k).max(1); l + 1]))
        .collect();
    let cases = shapes.iter().map(|w| (name(w), w.clone())).chain(deep);
    for (label, widths) in cases {
        let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, 0).expect("fits in memory");
        let x = random::standard_normal_vector::<f64>(widths[0], 0).unwrap() * 0.01;
        let v = random::standard_normal_vector::<f64>(widths[0], 1).unwrap();
        let u = random::standard_normal_vector::<f64>(widths[widths.len() - 1], 2).unwrap();
        let mut run = |group: &str, f: &mut dyn FnMut()| {
            let mut g = c.benchmark_group(group);
            configure(&mut g, 1.0);
            g.bench_function(BenchmarkId::from_parameter(&label), |b| b.iter(&mut *f));
            g.finish();
        };
        run("jvp", &mut || {
            std::hint::black_box(net.jvp(x.view(), v.view()).unwrap());
        });
        run("vjp", &mut || {
            std::hint::black_box(net.vjp(x.view(), u.view()).unwrap());
        });
        run("hvp", &mut || {
            std::hint::black_box(net.hvp(x.view(), v.view()).unwrap());
        });
    }
}

fn main() {
    common::prepare();
    let mut c = Criterion::default().configure_from_args();
    chain(&mut c);
    c.final_summary();
}
