//! Wall-clock timings: each mode beside the bare BLAS calls it is built from, in one
//! typed report that is printed as a table or serialised once as JSON.

use crate::{count, seconds, Budget, CliResult, MAX_REPS, MAX_WIDTH};
use clap::{Args, ValueEnum};
use fwdrev::baseline::{gemm, gemv, stream_sum_rows};
use fwdrev::{random, Activation, Mlp, Mode, Real};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array1;
use serde::Serialize;
use std::time::Instant;

/// `fwdrev time`: the flags other tools depend on.
#[derive(Args)]
pub struct TimeArgs {
    /// d0 (inputs), and d1, d2 unless given.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    pub d: usize,
    /// Hidden width (default: d).
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    pub d1: Option<usize>,
    /// Output width (default: d).
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    pub d2: Option<usize>,
    #[arg(long, value_enum, default_value_t = Which::Both)]
    pub mode: Which,
    /// Timed runs of each measurement, after one untimed warm-up.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = count::<1, MAX_REPS>)]
    pub reps: usize,
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seed of A, B and x.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also time the batched gradient at K seeded points (reverse mode with GEMMs).
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    pub batch: Option<usize>,
    #[command(flatten)]
    budget: Budget,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    Forward,
    Reverse,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Dtype {
    F64,
    F32,
}

/// The widths of the timed network: x ∈ R^d0, A is d1×d0, B is d2×d1.
#[derive(Clone, Copy)]
struct Dims {
    d0: usize,
    d1: usize,
    d2: usize,
}

impl Dims {
    /// Multiply-adds of forward mode's B·(D1·A): d0·d1·d2.
    fn forward_flops(&self) -> f64 {
        self.d0 as f64 * self.d1 as f64 * self.d2 as f64
    }
    /// Multiply-adds of reverse mode's four matrix-vector products: 2·(d0·d1 + d1·d2).
    fn reverse_flops(&self) -> f64 {
        2.0 * (self.d0 as f64 * self.d1 as f64 + self.d1 as f64 * self.d2 as f64)
    }
    /// Bytes reverse mode reads from memory for values of `size` bytes: A twice
    /// (A·x, Aᵀ·z) and B once (the fused pass), (2·d0·d1 + d1·d2)·size.
    fn reverse_bytes(&self, size: usize) -> f64 {
        (2.0 * self.d0 as f64 * self.d1 as f64 + self.d1 as f64 * self.d2 as f64) * size as f64
    }
}

impl std::fmt::Display for Dims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {}, {})", self.d0, self.d1, self.d2)
    }
}

/// Median and minimum of the timed runs, in seconds.
#[derive(Clone, Copy, Serialize)]
pub(crate) struct Stats {
    pub(crate) median_s: f64,
    pub(crate) min_s: f64,
}

impl Stats {
    /// Median (mean of the middle two for an even count) and minimum of `times`, which
    /// must not be empty.
    pub(crate) fn of(times: Vec<f64>) -> Stats {
        Spread::of(times).into()
    }
}

impl From<Spread> for Stats {
    fn from(s: Spread) -> Stats {
        Stats {
            median_s: s.median,
            min_s: s.min,
        }
    }
}

/// Median (mean of the middle two for an even count), minimum and maximum of values
/// taken once a round.
#[derive(Clone, Copy, Serialize)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    /// Of `values`, which must not be empty.
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Spread {
            median: match values.len() % 2 {
                1 => values[mid],
                _ => 0.5 * (values[mid - 1] + values[mid]),
            },
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

/// Reverse mode over its read floor, round by round: run r over `copies` reads of A at
/// the rate of round r's read (`read[r]`), its bytes being `copies` times A's.
fn vs_floor(reverse: &[f64], read: &[f64], copies: f64) -> Spread {
    Spread::of(
        reverse
            .iter()
            .zip(read)
            .map(|(t, read)| t / (copies * read))
            .collect(),
    )
}

/// The batched gradient's timing, and its floor.
#[derive(Clone, Copy, Serialize)]
struct BatchStats {
    k: usize,
    median_s: f64,
    min_s: f64,
    per_point_s: f64,
    /// k·2·(d0·d1 + d1·d2) multiply-adds (the products A·X, B·H, Bᵀ·Z and Aᵀ·Z, reverse
    /// mode's four matrix-vector products k times over) at the rate of the bare GEMM B·A
    /// of the same rounds: the floor, 4·d²·k at the square DGEMM's rate, where
    /// d0 = d1 = d2. With a narrow width B·A is no longer a square GEMM, its rate falls,
    /// and this floor with it is no longer what the batch's products could reach.
    floor_s: f64,
    /// median_s / floor_s (null in JSON should the GEMM time at 0).
    vs_floor: f64,
}

impl BatchStats {
    fn new(k: usize, s: Stats, dims: Dims, gemm: Stats) -> BatchStats {
        let floor_s = k as f64 * dims.reverse_flops() * gemm.median_s / dims.forward_flops();
        BatchStats {
            k,
            median_s: s.median_s,
            min_s: s.min_s,
            per_point_s: s.median_s / k as f64,
            floor_s,
            vs_floor: s.median_s / floor_s,
        }
    }
}

/// Everything `fwdrev time` measured: the table's rows and the JSON object's fields.
#[derive(Serialize)]
struct TimeReport {
    d0: usize,
    d1: usize,
    d2: usize,
    dtype: &'static str,
    backend: &'static str,
    backend_detail: String,
    reps: usize,
    rayon_threads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse: Option<Stats>,
    gemm: Stats,
    gemv: Stats,
    read: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<BatchStats>,
    bandwidth_gbs: f64,
    /// The streaming read's rate over the rounds: [slowest, fastest].
    bandwidth_spread_gbs: [f64; 2],
    /// Reverse mode over its floor, each round's run against the read just before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse_vs_floor: Option<Spread>,
    reverse_bytes: f64,
    forward_flops: f64,
    reverse_flops: f64,
}

fn bar(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    // Drawn as runs finish, not by indicatif's ticker thread: a thread that cannot be
    // spawned (under a tight memory limit) would panic.
    pb.tick();
    pb
}

/// A named computation to time.
type Task<'a> = (&'a str, Box<dyn FnMut() -> fwdrev::Result<()> + 'a>);

/// Times every task `reps` times, in rounds (each round runs each task once, in order),
/// after one untimed warm-up round when `warm_up`: each task's times, round by round.
/// Interleaving keeps slow drift of a shared machine out of the ratios between tasks.
/// Stops at the first error.
fn measure(
    pb: &ProgressBar,
    reps: usize,
    warm_up: bool,
    tasks: &mut [Task],
) -> fwdrev::Result<Vec<Vec<f64>>> {
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
    Ok(times)
}

fn build<T: Real>(budget: Budget, dims: Dims, seed: u64) -> CliResult<(Mlp<T>, Array1<T>)> {
    let pb = ProgressBar::new_spinner();
    pb.set_message(format!("drawing A and B for {dims} ({})", T::NAME));
    pb.tick();
    let widths = [dims.d0, dims.d1, dims.d2];
    let net = budget.network(Mlp::<T>::from_seed(&widths, Activation::Sigmoid, seed)?);
    pb.finish_and_clear();
    Ok((net, random::standard_normal_vector(dims.d0, seed)?))
}

/// `fwdrev time`.
pub fn run(args: &TimeArgs) -> CliResult {
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
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(dims, &report)?;
    }
    Ok(())
}

fn time_all<T: Real>(dims: Dims, args: &TimeArgs) -> CliResult<TimeReport> {
    let (net, x) = build::<T>(args.budget, dims, args.seed)?;
    let modes: Vec<Mode> = match args.mode {
        Which::Forward => vec![Mode::Forward],
        Which::Reverse => vec![Mode::Reverse],
        Which::Both => vec![Mode::Forward, Mode::Reverse],
    };
    let extra = u64::from(args.batch.is_some());
    let runs = (args.reps as u64 + 1) * (modes.len() as u64 + 3 + extra);
    let pb = bar(runs);
    // The bare products: B·A (d2×d1 · d1×d0) and A·x, same backend, same shapes.
    let mut c = fwdrev::memory::zeros::<T>(dims.d2, dims.d0)?;
    let mut y = Array1::<T>::zeros(dims.d1);
    // The batch's points: X (d0×k), row i from ChaCha8 stream 2⁶² + i.
    let points = args
        .batch
        .map(|k| random::standard_normal::<T>(dims.d0, k, args.seed, 1 << 62))
        .transpose()?;
    let (net, x) = (&net, &x);
    let (a, b) = (net.layers()[0].weights(), net.layers()[1].weights());
    let grad = |mode: Mode| -> Task {
        (
            mode.name(),
            Box::new(move || net.value_and_grad(x.view(), mode).map(drop)),
        )
    };
    // Each round: forward mode, the streaming read of A (memory bandwidth), reverse mode
    // right after it (so each run has a floor of its own), the bare products B·A and
    // A·x (same backend, same shapes), the batch.
    let mut tasks: Vec<Task> = Vec::new();
    let mut slot = |task| {
        tasks.push(task);
        tasks.len() - 1
    };
    let forward = modes
        .contains(&Mode::Forward)
        .then(|| slot(grad(Mode::Forward)));
    let read = slot((
        "streaming read of A",
        Box::new(move || {
            std::hint::black_box(stream_sum_rows(a));
            Ok(())
        }),
    ));
    let reverse = modes
        .contains(&Mode::Reverse)
        .then(|| slot(grad(Mode::Reverse)));
    let bare_gemm = slot((
        "bare GEMM B·A",
        Box::new(|| {
            gemm(b, a, c.view_mut());
            Ok(())
        }),
    ));
    let bare_gemv = slot((
        "bare GEMV A·x",
        Box::new(|| {
            gemv(a, x.view(), y.view_mut());
            Ok(())
        }),
    ));
    let batch = points.as_ref().map(|points| {
        slot((
            "batch",
            Box::new(move || net.value_and_grad_batch(points.view()).map(drop)),
        ))
    });
    let times = measure(&pb, args.reps, true, &mut tasks)?;
    pb.finish_and_clear();
    let size = std::mem::size_of::<T>();
    let a_bytes = (dims.d0 * dims.d1 * size) as f64;
    let reverse_vs_floor =
        reverse.map(|i| vs_floor(&times[i], &times[read], dims.reverse_bytes(size) / a_bytes));
    let spreads: Vec<Spread> = times.into_iter().map(Spread::of).collect();
    let stats = |i: usize| Stats::from(spreads[i]);
    let (gemm_s, gemv_s, read_s) = (stats(bare_gemm), stats(bare_gemv), stats(read));
    let rate = |t: f64| a_bytes / t / 1e9;
    let backend = fwdrev::backend();
    Ok(TimeReport {
        d0: dims.d0,
        d1: dims.d1,
        d2: dims.d2,
        dtype: T::NAME,
        backend: backend.name,
        backend_detail: backend.detail,
        reps: args.reps,
        rayon_threads: fwdrev::threads(),
        forward: forward.map(stats),
        reverse: reverse.map(stats),
        gemm: gemm_s,
        gemv: gemv_s,
        read: read_s,
        batch: args
            .batch
            .zip(batch)
            .map(|(k, i)| BatchStats::new(k, stats(i), dims, gemm_s)),
        bandwidth_gbs: rate(read_s.median_s),
        bandwidth_spread_gbs: [rate(spreads[read].max), rate(spreads[read].min)],
        reverse_vs_floor,
        reverse_bytes: dims.reverse_bytes(size),
        forward_flops: dims.forward_flops(),
        reverse_flops: dims.reverse_flops(),
    })
}

fn print_table(dims: Dims, r: &TimeReport) -> CliResult {
    outln!(
        "d = {dims}, {}, {} ({}), median of {} runs after a warm-up",
        r.dtype,
        r.backend,
        r.backend_detail,
        r.reps
    );
    outln!(
        "{:<10} {:>12} {:>12} {:>14}  vs its baseline",
        "what",
        "median",
        "min",
        "multiply-adds"
    );
    let rows = [
        (
            "forward",
            r.forward,
            dims.forward_flops(),
            Some((r.gemm.median_s, "× bare GEMM B·A")),
        ),
        (
            "reverse",
            r.reverse,
            dims.reverse_flops(),
            Some((4.0 * r.gemv.median_s, "× four bare GEMVs")),
        ),
        ("read", Some(r.read), (dims.d0 * dims.d1) as f64, None),
        ("gemm", Some(r.gemm), dims.forward_flops(), None),
        ("gemv", Some(r.gemv), (dims.d0 * dims.d1) as f64, None),
    ];
    for (key, stats, flops, base) in rows {
        let Some(s) = stats else { continue };
        let vs = base.map_or(String::new(), |(b, what)| {
            format!("{:.3}{what}", s.median_s / b)
        });
        outln!(
            "{key:<10} {:>12} {:>12} {flops:>14.3e}  {vs}",
            seconds(s.median_s),
            seconds(s.min_s)
        );
    }
    if let (Some(f), Some(rv)) = (r.forward, r.reverse) {
        outln!("forward / reverse = {:.0}×", f.median_s / rv.median_s);
    }
    if let Some(b) = r.batch {
        let vs = r.reverse.map_or(String::new(), |rv| {
            format!(
                " = {:.3}× a single-point reverse gradient",
                b.per_point_s / rv.median_s
            )
        });
        outln!(
            "batch of {}: {} per call, {} per point{vs}",
            b.k,
            seconds(b.median_s),
            seconds(b.per_point_s)
        );
        outln!(
            "batch floor {} ({:.3e} multiply-adds at the bare GEMM's {:.1} G multiply-adds/s), \
             batch at {:.3}× the floor",
            seconds(b.floor_s),
            b.k as f64 * dims.reverse_flops(),
            dims.forward_flops() / r.gemm.median_s / 1e9,
            b.vs_floor
        );
    }
    let [slow, fast] = r.bandwidth_spread_gbs;
    outln!(
        "bandwidth {:.1} GB/s (streaming read of A; {slow:.1}–{fast:.1} over the rounds)",
        r.bandwidth_gbs
    );
    if let Some(v) = r.reverse_vs_floor {
        outln!(
            "reverse reads {:.2} GB: floor {} at the median rate; reverse at {:.3}× the floor \
             (median of the rounds, each against the read just before it; {:.3}–{:.3})",
            r.reverse_bytes / 1e9,
            seconds(r.reverse_bytes / (r.bandwidth_gbs * 1e9)),
            v.median,
            v.min,
            v.max
        );
    }
    Ok(())
}

/// The default run's timing: forward once (it takes seconds), reverse `reps` times.
pub fn demo(budget: Budget, d: usize, reps: usize) -> CliResult {
    let dims = Dims {
        d0: d,
        d1: d,
        d2: d,
    };
    let (net, x) = build::<f64>(budget, dims, 0)?;
    let pb = bar(1 + reps as u64 + 1);
    let (net, x) = (&net, &x);
    let run = |mode: Mode| -> Task {
        (
            mode.name(),
            Box::new(move || net.value_and_grad(x.view(), mode).map(drop)),
        )
    };
    let time = |reps, warm_up, mode| -> fwdrev::Result<Stats> {
        let [times] = <[_; 1]>::try_from(measure(&pb, reps, warm_up, &mut [run(mode)])?)
            .expect("one task, one list of times");
        Ok(Stats::of(times))
    };
    let fwd = time(1, false, Mode::Forward)?;
    let rev = time(reps.max(1), true, Mode::Reverse)?;
    pb.finish_and_clear();
    outln!("\ntiming at d0 = d1 = d2 = {d}, f64, {}", fwdrev::backend());
    outln!(
        "{:<9} {:>12} {:>22} {:>12}",
        "mode",
        "time",
        "predicted multiply-adds",
        "GFLOP/s"
    );
    for (name, s, flops) in [
        ("forward", fwd, dims.forward_flops()),
        ("reverse", rev, dims.reverse_flops()),
    ] {
        let gflops = 2.0 * flops / s.median_s / 1e9;
        outln!(
            "{name:<9} {:>12} {flops:>22.3e} {gflops:>12.1}",
            seconds(s.median_s)
        );
    }
    outln!(
        "forward / reverse = {:.0}× (multiply-adds: {:.0}×; forward runs at GEMM speed, \
         reverse at memory speed)",
        fwd.median_s / rev.median_s,
        dims.forward_flops() / dims.reverse_flops()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reverse run is set against its own round's read: with the two moving in
    /// opposite directions, ratios of medians (or of shifted rounds) would all be 1.
    #[test]
    fn the_floor_is_taken_round_by_round() {
        let v = vs_floor(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0], 2.0);
        assert_eq!([v.min, v.median, v.max], [1.0 / 6.0, 0.5, 1.5]);
        let v = vs_floor(&[4.0, 1.0], &[1.0, 1.0], 0.5);
        assert_eq!([v.min, v.median, v.max], [2.0, 5.0, 8.0]);
    }
}
