//! The pure-Rust GEMM against the BLAS's, interleaved in one process.
//!
//! The default build's GEMM is the crate's blocks on faer; with `openblas` (or `blis`)
//! [`set_deterministic`](fwdrev::set_deterministic)`(true)` sends the same square
//! products there, so one binary times both. Each round runs C ← A·B of D×D on each,
//! in the order BLAS, pure, pure, BLAS on even rounds and reversed on odd ones (a
//! machine whose speed drifts within a round, or one library's threads still winding
//! down in the next's timing, then favours neither over each pair of rounds), and
//! divides the pure-Rust time by the BLAS's. After one untimed round, prints the median
//! ratio and its range over the rounds, and each GEMM's median rate (docs/measured.md,
//! "The goals on Emerald Rapids again, a command for the GEMM ratio, …"). Without a
//! BLAS there is nothing to compare: it says so and fails. Under an address-space limit
//! the crate keeps products off the BLAS whatever the switch (its buffers might not
//! fit), so both sides would be the pure-Rust GEMM: run it without one.
//!
//! ```text
//! cargo run --release --features openblas --example gemm_ratio -- [f64|f32] [D] [ROUNDS]
//! ```
//!
//! D defaults to 4000 (at least 2: a 1×1 product is not a GEMM) and ROUNDS to 8; a
//! round is four products of D³ multiply-adds.

#[path = "common/rounds.rs"]
mod rounds;

use fwdrev::{backend, baseline, memory, random, set_deterministic, Real};
use ndarray::Array2;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use rounds::{Dtype, Rounds};

const USAGE: &str = "usage: gemm_ratio [f64|f32] [D] [ROUNDS]";

fn main() -> ExitCode {
    fwdrev::backend::restart_with_best_kernels();
    match parse_and_run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gemm_ratio: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn parse_and_run() -> Result<(), Box<dyn Error>> {
    let Rounds { dtype, d, rounds } = Rounds::from_args(4000, 8)?;
    if d < 2 {
        return Err("D must be at least 2: a 1×1 product runs as a dot, not a GEMM".into());
    }
    if backend().name == "pure-rust" {
        return Err("this build has no BLAS: build with --features openblas (or blis)".into());
    }
    match dtype {
        Dtype::F64 => run::<f64>(d, rounds),
        Dtype::F32 => run::<f32>(d, rounds),
    }
}

/// Which GEMM a timing ran on.
#[derive(Clone, Copy)]
enum Gemm {
    /// The BLAS's.
    Blas,
    /// The pure-Rust one (faer's kernels in the crate's blocks).
    Pure,
}

fn run<T: Real>(d: usize, rounds: usize) -> Result<(), Box<dyn Error>> {
    let a: Array2<T> = random::standard_normal(d, d, 1, 0)?;
    let b: Array2<T> = random::standard_normal(d, d, 2, 0)?;
    let mut c: Array2<T> = memory::zeros(d, d)?;
    let mut time = |gemm: Gemm| {
        set_deterministic(matches!(gemm, Gemm::Pure));
        let t0 = Instant::now();
        baseline::gemm(a.view(), b.view(), c.view_mut());
        t0.elapsed().as_secs_f64()
    };
    let (mut ratios, mut blas, mut pure) = (vec![], vec![], vec![]);
    for round in 0..=rounds {
        let order = match round % 2 {
            0 => [Gemm::Blas, Gemm::Pure, Gemm::Pure, Gemm::Blas],
            _ => [Gemm::Pure, Gemm::Blas, Gemm::Blas, Gemm::Pure],
        };
        let (mut tb, mut tp) = (0.0, 0.0);
        for gemm in order {
            let t = time(gemm);
            match gemm {
                Gemm::Blas => tb += t / 2.0,
                Gemm::Pure => tp += t / 2.0,
            }
        }
        if round > 0 {
            ratios.push(tp / tb);
            blas.push(tb);
            pure.push(tp);
        }
    }
    set_deterministic(false);
    for v in [&mut ratios, &mut blas, &mut pure] {
        v.sort_by(f64::total_cmp);
    }
    // Sorted: the middle (the upper of two) is the median.
    let median = |v: &[f64]| v[v.len() / 2];
    let rate = |t: f64| (d as f64).powi(3) / t / 1e9;
    let name = backend().name;
    println!(
        "d = {d}, {}, {rounds} rounds: pure-Rust / {name} median {:.3} ({:.3}–{:.3}); \
         {name} {:.1} G multiply-adds/s, pure-Rust {:.1} (medians)",
        std::any::type_name::<T>(),
        median(&ratios),
        ratios[0],
        ratios[ratios.len() - 1],
        rate(median(&blas)),
        rate(median(&pure)),
    );
    Ok(())
}
