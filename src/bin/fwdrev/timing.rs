//! Wall-clock timings: each mode beside the bare BLAS calls it is built from.

use crate::{seconds, CliResult};
use clap::{Args, ValueEnum};
use fwdrev::linalg::{gemm, gemv, stream_sum};
use fwdrev::{random, Dims, Mode, Network, Real};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// `fwdrev time`: the flags other tools depend on.
#[derive(Args)]
pub struct TimeArgs {
    /// d0 (inputs), and d1, d2 unless given.
    #[arg(long)]
    d: usize,
    /// Hidden width (default: d).
    #[arg(long)]
    d1: Option<usize>,
    /// Output width (default: d).
    #[arg(long)]
    d2: Option<usize>,
    #[arg(long, value_enum, default_value_t = Which::Both)]
    mode: Which,
    /// Timed runs of each measurement, after one untimed warm-up.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    dtype: Dtype,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Seed of A, B and x.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Memory forward mode may use for its panels, in MiB (default 1024).
    #[arg(long)]
    budget_mib: Option<usize>,
    /// Also time the batched gradient at K seeded points (reverse mode with GEMMs).
    #[arg(long, value_name = "K")]
    batch: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Forward,
    Reverse,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dtype {
    F64,
    F32,
}

/// Median and minimum of the timed runs, in seconds.
#[derive(Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) median_s: f64,
    min_s: f64,
}

impl Stats {
    /// Median (mean of the middle two for an even count) and minimum of `times`, which
    /// must not be empty.
    pub(crate) fn of(mut times: Vec<f64>) -> Stats {
        times.sort_by(f64::total_cmp);
        let mid = times.len() / 2;
        let median_s = if times.len() % 2 == 1 {
            times[mid]
        } else {
            0.5 * (times[mid - 1] + times[mid])
        };
        Stats {
            median_s,
            min_s: times[0],
        }
    }

    /// `{"median_s", "min_s"}`.
    pub(crate) fn json(&self) -> Value {
        json!({"median_s": self.median_s, "min_s": self.min_s})
    }
}

fn bar(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A named computation to time.
type Task<'a> = (&'a str, Box<dyn FnMut() -> fwdrev::Result<()> + 'a>);

/// Times every task `reps` times, in rounds (each round runs each task once), after one
/// untimed warm-up round when `warm_up`. Interleaving keeps slow drift of a shared
/// machine out of the ratios between tasks. Stops at the first error.
fn measure(
    pb: &ProgressBar,
    reps: usize,
    warm_up: bool,
    tasks: &mut [Task],
) -> fwdrev::Result<Vec<Stats>> {
    let mut times = vec![Vec::with_capacity(reps); tasks.len()];
    for round in 0..reps + usize::from(warm_up) {
        for ((what, f), t) in tasks.iter_mut().zip(&mut times) {
            pb.set_message(what.to_string());
            let start = Instant::now();
            f()?;
            if round > 0 || !warm_up {
                t.push(start.elapsed().as_secs_f64());
            }
            pb.inc(1);
        }
    }
    Ok(times.into_iter().map(Stats::of).collect())
}

fn build<T: Real>(dims: Dims, seed: u64) -> CliResult<(Network<T>, Array1<T>)> {
    let pb = ProgressBar::new_spinner();
    pb.enable_steady_tick(Duration::from_millis(200));
    pb.set_message(format!("drawing A and B for {dims} ({})", T::NAME));
    let net = Network::<T>::from_seed(dims.d0, dims.d1, dims.d2, seed)?;
    pb.finish_and_clear();
    Ok((net, random::standard_normal_vector(dims.d0, seed)))
}

/// `fwdrev time`.
pub fn run(args: &TimeArgs) -> CliResult {
    if args.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let dims = Dims {
        d0: args.d,
        d1: args.d1.unwrap_or(args.d),
        d2: args.d2.unwrap_or(args.d),
    };
    let report = match args.dtype {
        Dtype::F64 => time_all::<f64>(dims, args)?,
        Dtype::F32 => time_all::<f32>(dims, args)?,
    };
    if args.json {
        println!("{}", Value::Object(report));
    } else {
        print_table(dims, &report);
    }
    Ok(())
}

fn time_all<T: Real>(dims: Dims, args: &TimeArgs) -> CliResult<Map<String, Value>> {
    let (mut net, x) = build::<T>(dims, args.seed)?;
    if let Some(mib) = args.budget_mib {
        net = net.with_memory_budget(mib << 20);
    }
    let modes: Vec<Mode> = match args.mode {
        Which::Forward => vec![Mode::Forward],
        Which::Reverse => vec![Mode::Reverse],
        Which::Both => vec![Mode::Forward, Mode::Reverse],
    };
    let extra = u64::from(args.batch.is_some());
    let runs = (args.reps as u64 + 1) * (modes.len() as u64 + 3 + extra);
    let pb = bar(runs);
    let backend = fwdrev::backend();
    let mut out = Map::new();
    for (k, v) in [
        ("d0", json!(dims.d0)),
        ("d1", json!(dims.d1)),
        ("d2", json!(dims.d2)),
        ("dtype", json!(T::NAME)),
        ("backend", json!(backend.name)),
        ("backend_detail", json!(backend.detail)),
        ("reps", json!(args.reps)),
        ("rayon_threads", json!(rayon::current_num_threads())),
    ] {
        out.insert(k.into(), v);
    }
    // The bare products: B·A (d2×d1 · d1×d0) and A·x, same backend, same shapes.
    let mut c = Array2::<T>::zeros((dims.d2, dims.d0));
    let mut y = Array1::<T>::zeros(dims.d1);
    // The batch's points: X (d0×k), row i from ChaCha8 stream 2⁶² + i.
    let points = match args.batch {
        Some(0) => return Err("--batch must be at least 1".into()),
        Some(k) => Some(random::standard_normal::<T>(dims.d0, k, args.seed, 1 << 62)),
        None => None,
    };
    let (net, x) = (&net, &x);
    let mut tasks: Vec<Task> = modes
        .iter()
        .map(|&mode| -> Task {
            (
                mode.name(),
                Box::new(move || net.value_and_grad(x.view(), mode).map(drop)),
            )
        })
        .collect();
    tasks.push((
        "bare GEMM B·A",
        Box::new(|| {
            gemm(net.b(), net.a(), c.view_mut());
            Ok(())
        }),
    ));
    tasks.push((
        "bare GEMV A·x",
        Box::new(|| {
            gemv(net.a(), x.view(), y.view_mut());
            Ok(())
        }),
    ));
    // Memory bandwidth, in the same rounds: a streaming read of A.
    let a_slice = net.a().to_slice().expect("row-major");
    tasks.push((
        "streaming read of A",
        Box::new(move || {
            std::hint::black_box(stream_sum(a_slice));
            Ok(())
        }),
    ));
    if let Some(points) = &points {
        tasks.push((
            "batch",
            Box::new(move || net.value_and_grad_batch(points.view()).map(drop)),
        ));
    }
    let stats = measure(&pb, args.reps, true, &mut tasks)?;
    let names = modes
        .iter()
        .map(|m| m.name())
        .chain(["gemm", "gemv", "read"]);
    for (name, s) in names.zip(&stats) {
        out.insert(name.into(), s.json());
    }
    if let Some(k) = args.batch {
        let s = stats[stats.len() - 1];
        out.insert(
            "batch".into(),
            json!({"k": k, "median_s": s.median_s, "min_s": s.min_s,
                   "per_point_s": s.median_s / k as f64}),
        );
    }
    pb.finish_and_clear();
    let size = std::mem::size_of::<T>();
    let read = stats[modes.len() + 2];
    let bandwidth = (dims.d0 * dims.d1 * size) as f64 / read.median_s;
    out.insert("bandwidth_gbs".into(), json!(bandwidth / 1e9));
    out.insert("reverse_bytes".into(), json!(dims.reverse_bytes(size)));
    out.insert("forward_flops".into(), json!(dims.forward_flops()));
    out.insert("reverse_flops".into(), json!(dims.reverse_flops()));
    Ok(out)
}

fn median(report: &Map<String, Value>, key: &str) -> Option<f64> {
    report.get(key)?.get("median_s")?.as_f64()
}

fn print_table(dims: Dims, r: &Map<String, Value>) {
    println!(
        "d = {dims}, {}, {} ({}), median of {} runs after a warm-up",
        r["dtype"].as_str().unwrap_or(""),
        r["backend"].as_str().unwrap_or(""),
        r["backend_detail"].as_str().unwrap_or(""),
        r["reps"]
    );
    println!(
        "{:<10} {:>12} {:>12} {:>14}  vs its baseline",
        "what", "median", "min", "multiply-adds"
    );
    let gemm = median(r, "gemm");
    let gemv = median(r, "gemv");
    // (key, multiply-adds, (baseline seconds, what the baseline is))
    type Row<'a> = (&'a str, f64, Option<(f64, &'a str)>);
    let rows: [Row; 5] = [
        (
            "forward",
            dims.forward_flops(),
            gemm.map(|g| (g, "× bare GEMM B·A")),
        ),
        (
            "reverse",
            dims.reverse_flops(),
            gemv.map(|g| (4.0 * g, "× four bare GEMVs")),
        ),
        ("read", (dims.d0 * dims.d1) as f64, None),
        ("gemm", dims.forward_flops(), None),
        ("gemv", (dims.d0 * dims.d1) as f64, None),
    ];
    for (key, flops, base) in rows {
        let Some(s) = r.get(key) else { continue };
        let (med, min) = (
            s["median_s"].as_f64().unwrap_or(0.0),
            s["min_s"].as_f64().unwrap_or(0.0),
        );
        let vs = base.map_or(String::new(), |(b, what)| format!("{:.3}{what}", med / b));
        println!(
            "{key:<10} {:>12} {:>12} {flops:>14.3e}  {vs}",
            seconds(med),
            seconds(min)
        );
    }
    if let (Some(f), Some(rv)) = (median(r, "forward"), median(r, "reverse")) {
        println!("forward / reverse = {:.0}×", f / rv);
    }
    if let Some(b) = r.get("batch") {
        let (k, per_point) = (&b["k"], b["per_point_s"].as_f64().unwrap_or(0.0));
        let vs = median(r, "reverse").map_or(String::new(), |rv| {
            format!(" = {:.3}× a single-point reverse gradient", per_point / rv)
        });
        println!(
            "batch of {k}: {} per call, {} per point{vs}",
            seconds(b["median_s"].as_f64().unwrap_or(0.0)),
            seconds(per_point)
        );
    }
    if let (Some(rv), Some(bw), Some(bytes)) = (
        median(r, "reverse"),
        r["bandwidth_gbs"].as_f64(),
        r["reverse_bytes"].as_f64(),
    ) {
        let floor = bytes / (bw * 1e9);
        println!(
            "bandwidth {bw:.1} GB/s (streaming read of A); reverse reads {:.2} GB: \
             floor {}, reverse at {:.3}× the floor",
            bytes / 1e9,
            seconds(floor),
            rv / floor
        );
    }
}

/// The default run's timing: forward once (it takes seconds), reverse `reps` times.
pub fn demo(d: usize, reps: usize) -> CliResult {
    let dims = Dims {
        d0: d,
        d1: d,
        d2: d,
    };
    let (net, x) = build::<f64>(dims, 0)?;
    let pb = bar(1 + reps as u64 + 1);
    let (net, x) = (&net, &x);
    let run = |mode: Mode| -> Task {
        (
            mode.name(),
            Box::new(move || net.value_and_grad(x.view(), mode).map(drop)),
        )
    };
    let fwd = measure(&pb, 1, false, &mut [run(Mode::Forward)])?[0];
    let rev = measure(&pb, reps.max(1), true, &mut [run(Mode::Reverse)])?[0];
    pb.finish_and_clear();
    println!("\ntiming at d0 = d1 = d2 = {d}, f64, {}", fwdrev::backend());
    println!(
        "{:<9} {:>12} {:>22} {:>12}",
        "mode", "time", "predicted multiply-adds", "GFLOP/s"
    );
    for (name, s, flops) in [
        ("forward", fwd, dims.forward_flops()),
        ("reverse", rev, dims.reverse_flops()),
    ] {
        let gflops = 2.0 * flops / s.median_s / 1e9;
        println!(
            "{name:<9} {:>12} {flops:>22.3e} {gflops:>12.1}",
            seconds(s.median_s)
        );
    }
    println!(
        "forward / reverse = {:.0}× (multiply-adds: {:.0}×; forward runs at GEMM speed, \
         reverse at memory speed)",
        fwd.median_s / rev.median_s,
        dims.forward_flops() / dims.reverse_flops()
    );
    Ok(())
}
