//! One reverse-mode gradient at d0 = d1 = d2 = D against its read floor, interleaved.
//!
//! The gradient reads 3·D² weights (A twice, B once), so its floor is their bytes at
//! the machine's read rate. That rate moves from minute to minute on a shared machine,
//! so each round times a plain streaming read of A (`baseline::stream_sum_rows`) and then
//! one gradient (`Par::Rayon`), and the gradient's time is divided by three reads of A
//! at the rate of the read just before it. After one untimed round, prints the median
//! ratio over the rounds and its minimum, the gradient's median time, and the read
//! rate's median and spread (docs/measured.md, "One point at d = 8000"). `fwdrev time
//! --mode reverse` pairs each gradient with the read before it the same way, but also
//! times the bare GEMM and GEMV every round (ten seconds at D = 8000); this loop's rounds
//! come a fraction of a second apart. The ratio is
//! against memory only where A is far larger than the last-level cache (D = 8000: 512 MB
//! of f64); at small D both read from cache.
//!
//! ```text
//! cargo run --release --features openblas --example read_floor -- [f64|f32] [D] [ROUNDS]
//! ```
//!
//! D defaults to 8000 and ROUNDS to 11.

#[path = "common/rounds.rs"]
mod rounds;

use fwdrev::{baseline, random, Activation, Mlp, Mode, Par, Real, Scratch};
use ndarray::Array1;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use rounds::{Dtype, Rounds};

const USAGE: &str = "usage: read_floor [f64|f32] [D] [ROUNDS]";

fn main() -> ExitCode {
    match parse_and_run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read_floor: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn parse_and_run() -> Result<(), Box<dyn Error>> {
    let Rounds { dtype, d, rounds } = Rounds::from_args(8000, 11)?;
    match dtype {
        Dtype::F64 => run::<f64>(d, rounds),
        Dtype::F32 => run::<f32>(d, rounds),
    }
}

fn run<T: Real>(d: usize, rounds: usize) -> Result<(), Box<dyn Error>> {
    let net = Mlp::<T>::from_seed(&[d, d, d], Activation::Sigmoid, 0)?;
    let x = random::standard_normal_vector::<T>(d, 1)?;
    let a = net.layers()[0].weights();
    let (mut scratch, mut grad) = (Scratch::new(), Array1::zeros(d));
    let bytes = (d * d * std::mem::size_of::<T>()) as f64;
    let (mut ratios, mut rates, mut times) = (vec![], vec![], vec![]);
    // The sums keep the reads from being optimised away.
    let mut sink = T::zero();
    for round in 0..=rounds {
        let t0 = Instant::now();
        sink = sink + baseline::stream_sum_rows(a);
        let read = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        net.value_and_grad_into(
            x.view(),
            Mode::Reverse,
            grad.view_mut(),
            Par::Rayon,
            &mut scratch,
        )?;
        let gradient = t0.elapsed().as_secs_f64();
        if round > 0 {
            rates.push(bytes / read / 1e9);
            times.push(gradient * 1e3);
            ratios.push(gradient / (3.0 * read));
        }
    }
    for v in [&mut ratios, &mut rates, &mut times] {
        v.sort_by(f64::total_cmp);
    }
    // Sorted: the first is the least, the middle (the upper of two) the median.
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "d = {d}, {}, {rounds} rounds: gradient / read floor median {:.3} (min {:.3}); \
         gradient median {:.4} ms; read {:.1} GB/s median ({:.1}–{:.1}); sum {:.3e}",
        std::any::type_name::<T>(),
        median(&ratios),
        ratios[0],
        median(&times),
        median(&rates),
        rates[0],
        rates[rates.len() - 1],
        sink.as_f64(),
    );
    Ok(())
}
