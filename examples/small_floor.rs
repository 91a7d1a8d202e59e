//! The small calls against their floors, round by round: the ratios `fwdrev report`
//! takes from the small bench, each call timed beside the floors' loops instead of
//! groups apart.
//!
//! Criterion runs one group after another, so on a machine whose speed moves from
//! minute to minute a call and its floor may be timed in different states (a JVP at
//! 3.1 µs and at 5.0 µs within the hour, its floor in neither). Here each round times,
//! for each shape, the four calls (`Par::Seq`, as the bench: `benches/common/calls.rs`)
//! and a bare sweep over the shape's weights, then σ with σ' over a slice and the
//! multiply-add peak, each a sample of at least a millisecond of calls; each call's
//! ratio is to its floors at that round's rates (the model:
//! `src/bin/fwdrev/small_model.rs`, the loops: `benches/common/peak.rs`). After one
//! untimed round, prints per call the median time, the median of its ratios to each
//! floor over the rounds and the quartiles of its ratio to the loads floor (the lower
//! quartile rounded down, the upper up), and the rates' medians and ranges.
//!
//! ```text
//! cargo run --release --features openblas --example small_floor -- [ROUNDS] [SHAPE …]
//! ```
//!
//! ROUNDS defaults to 51, the shapes (`d0xd1x…`) to 100x105x95 and 256x256x256.

use fwdrev::Activation;
use std::error::Error;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

#[path = "../benches/common/calls.rs"]
mod calls;
#[path = "../benches/common/peak.rs"]
mod peak;
#[path = "../src/bin/fwdrev/small_model.rs"]
mod small_model;

use calls::{Call, Calls};
use small_model::{floors, Counts, Rates, CALLS};

const USAGE: &str = "usage: small_floor [ROUNDS] [SHAPE …]";

/// The shortest sample: calls are repeated until one takes this long.
const SAMPLE_S: f64 = 1e-3;

fn main() -> ExitCode {
    match parse_and_run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("small_floor: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn parse_and_run() -> Result<(), Box<dyn Error>> {
    fwdrev::backend::restart_with_best_kernels();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = match args.first() {
        Some(r) => r
            .parse::<usize>()
            .map_err(|e| format!("ROUNDS {r:?}: {e}"))?,
        None => 51,
    };
    if rounds == 0 {
        return Err("ROUNDS must be at least 1".into());
    }
    let shapes = match args.len() {
        0 | 1 => vec!["100x105x95".to_string(), "256x256x256".to_string()],
        _ => args[1..].to_vec(),
    };
    let mut cases = shapes
        .iter()
        .map(|s| Case::new(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut ys, mut ss) = (peak::sigmoid_inputs(), vec![0.0; peak::UNITS]);
    let mut sigmoid = Timer::default();
    let mut mac = Timer::default();
    let (mut acts, mut macs) = (vec![], vec![]);
    for round in 0..=rounds {
        for case in &mut cases {
            case.time(round > 0);
        }
        let act = sigmoid.time(|| {
            Activation::Sigmoid
                .values_and_slopes(black_box(&mut ys), &mut ss)
                .expect("as many slopes as values")
        }) / peak::UNITS as f64;
        let m = mac.time(|| {
            black_box(peak::multiply_adds(black_box(1.0), peak::MACS));
        }) / peak::MACS as f64;
        if round > 0 {
            acts.push(act);
            macs.push(m);
            for case in &mut cases {
                case.ratios(m, act);
            }
        }
    }
    println!(
        "Small networks, one thread (`Par::Seq`), f64, {rounds} rounds, each call beside its \
         floors in the same round: a multiply-add {} ns, σ with σ' {} ns (medians, ranges)\n",
        spread(&mut macs, 1e9, 3),
        spread(&mut acts, 1e9, 2),
    );
    println!(
        "| widths | call | time (median) | ÷ registers (median) | ÷ loads (median) | \
         ÷ loads (quartiles) | load rate, GB/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for case in &mut cases {
        let rate = spread(&mut case.load_rates, 1.0, 0);
        for (c, call) in case.calls.iter_mut().enumerate() {
            for v in [&mut call.times, &mut call.registers, &mut call.loads] {
                v.sort_by(f64::total_cmp);
            }
            // Sorted: the middle value (the upper of two), and the quartiles' ranks
            // (n − 1)/4 down and 3(n − 1)/4 up.
            let (n, mid) = (call.times.len(), |v: &[f64]| v[v.len() / 2]);
            let (low, high) = ((n - 1) / 4, (3 * (n - 1)).div_ceil(4));
            println!(
                "| {} | {} | {:.2} µs | {:.2} | {:.2} | {:.2}–{:.2} | {rate} |",
                case.shape,
                CALLS[c].0,
                mid(&call.times) * 1e6,
                mid(&call.registers),
                mid(&call.loads),
                call.loads[low],
                call.loads[high],
            );
        }
    }
    Ok(())
}

/// "median (least–most)" of `v` scaled by `scale`, with `digits` decimals.
fn spread(v: &mut [f64], scale: f64, digits: usize) -> String {
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v[i] * scale;
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        at(v.len() / 2),
        at(0),
        at(v.len() - 1)
    )
}

/// Times samples of repeated calls: the repeat count is set on the first sample (untimed
/// rounds included) to reach [`SAMPLE_S`].
#[derive(Default)]
struct Timer {
    repeats: usize,
}

impl Timer {
    /// Seconds per call of `f`, over one sample.
    fn time(&mut self, mut f: impl FnMut()) -> f64 {
        if self.repeats == 0 {
            let mut n = 1;
            loop {
                let t = Instant::now();
                (0..n).for_each(|_| f());
                if t.elapsed().as_secs_f64() >= SAMPLE_S {
                    break;
                }
                n *= 2;
            }
            self.repeats = n;
        }
        let t = Instant::now();
        (0..self.repeats).for_each(|_| f());
        t.elapsed().as_secs_f64() / self.repeats as f64
    }
}

/// One call's timer and its per-round results.
#[derive(Default)]
struct Timed {
    timer: Timer,
    /// This round's sample: seconds per call.
    last: f64,
    /// Seconds per call, and the ratios to each floor, a value per kept round.
    times: Vec<f64>,
    registers: Vec<f64>,
    loads: Vec<f64>,
}

/// One shape: its network and inputs, its four calls (in [`CALLS`] order) and its sweep.
struct Case {
    /// "d0xd1x…", as given.
    shape: String,
    counts: Counts,
    /// The network and the calls' inputs: the small bench's.
    inputs: Calls,
    /// A buffer, and where in it the sweep's weights lie (from a line on).
    weights: (Vec<f64>, std::ops::Range<usize>),
    read: Timer,
    /// This round's sweep: seconds per weight loaded.
    load: f64,
    /// The sweep's GB/s, a value per kept round.
    load_rates: Vec<f64>,
    calls: [Timed; 4],
}

impl Case {
    /// The case of "d0xd1x…" (at least two widths), or what is wrong with it.
    fn new(shape: &str) -> Result<Case, Box<dyn Error>> {
        // `time` fills the calls in this order.
        assert_eq!(CALLS.map(|c| c.0), Call::ALL.map(Call::name));
        let inputs = Calls::of(shape)?;
        let counts = Counts::of(shape).ok_or_else(|| format!("shape {shape:?}: d0xd1x…"))?;
        // As many values again as the network's weights, refused rather than aborting
        // where they do not fit.
        let m = counts.m as usize;
        let weights = peak::on_a_line(m)
            .map_err(|e| format!("shape {shape:?}: the sweep's {m} values: {e}"))?;
        Ok(Case {
            shape: shape.to_string(),
            counts,
            inputs,
            weights,
            read: Timer::default(),
            load: 0.0,
            load_rates: vec![],
            calls: Default::default(),
        })
    }

    /// One sample of each call, then of the sweep; kept where `keep`.
    fn time(&mut self, keep: bool) {
        for (call, c) in Call::ALL.into_iter().zip(&mut self.calls) {
            let inputs = &mut self.inputs;
            c.last = c.timer.time(|| inputs.run(call).expect("valid inputs"));
        }
        let weights = &self.weights.0[self.weights.1.clone()];
        self.load = self.read.time(|| {
            black_box(peak::read_multiply_adds(black_box(weights)));
        }) / self.counts.m;
        if keep {
            self.load_rates.push(8.0 / self.load * 1e-9);
        }
    }

    /// Each call's last sample against its floors at this round's rates.
    fn ratios(&mut self, mac: f64, act: f64) {
        let rates = Rates {
            mac,
            load: self.load,
            act,
        };
        for (call, (_, sweeps, reads, per_unit)) in self.calls.iter_mut().zip(CALLS) {
            let (registers, loads) = floors(&self.counts, (sweeps, reads, per_unit), rates);
            call.times.push(call.last);
            call.registers.push(call.last / registers);
            call.loads.push(call.last / loads);
        }
    }
}
