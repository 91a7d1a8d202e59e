//! The Rust side of `scripts/peers.py`: write a seeded case to .npy, and time fwdrev on
//! a case read back from .npy, so that PyTorch, JAX and fwdrev work on the same bytes.

use crate::timing::Stats;
use crate::{count, Budget, CliResult, MAX_REPS, MAX_WIDTH};
use clap::Args;
use fwdrev::{npy, random, Activation, Mlp, Mode};
use ndarray::{Ix1, Ix2};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `fwdrev export`: A, B, x (and X with --k) of `fwdrev time --seed`, as float64 .npy.
#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    d0: usize,
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    d1: usize,
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    d2: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write X.npy: K points as the columns of a d0×K matrix.
    #[arg(long, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    k: Option<usize>,
    /// Directory to write A.npy, B.npy, x.npy (and X.npy) into; created if missing.
    #[arg(long)]
    dir: PathBuf,
}

/// `fwdrev peer`: time the reverse gradient (and the batch) on the case in a directory.
#[derive(Args)]
pub struct PeerArgs {
    /// Directory holding A.npy, B.npy, x.npy and optionally X.npy (float64).
    #[arg(long)]
    dir: PathBuf,
    /// Timed runs after one warm-up.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true, value_parser = count::<1, MAX_REPS>)]
    reps: usize,
    #[command(flatten)]
    budget: Budget,
}

/// `fwdrev export`.
pub fn export(args: &ExportArgs) -> CliResult {
    let widths = [args.d0, args.d1, args.d2];
    let net = Mlp::<f64>::from_seed(&widths, Activation::Sigmoid, args.seed)?;
    std::fs::create_dir_all(&args.dir)?;
    let x = random::standard_normal_vector::<f64>(args.d0, args.seed)?;
    npy::write(args.dir.join("A.npy"), net.layers()[0].weights())?;
    npy::write(args.dir.join("B.npy"), net.layers()[1].weights())?;
    npy::write(args.dir.join("x.npy"), x.view())?;
    if let Some(k) = args.k {
        // The points of `fwdrev time --batch K`.
        let points = random::standard_normal::<f64>(args.d0, k, args.seed, 1 << 62)?;
        npy::write(args.dir.join("X.npy"), points.view())?;
    }
    Ok(())
}

/// `fwdrev peer`: prints one JSON object; writes the gradient to grad.npy (and the
/// batch's to G.npy) beside the inputs for the script to compare.
pub fn peer(args: &PeerArgs) -> CliResult {
    let read2 = |name: &str| npy::read::<f64, Ix2>(args.dir.join(name));
    let layers = [
        (read2("A.npy")?, Activation::Sigmoid),
        (read2("B.npy")?, Activation::Sigmoid),
    ];
    let net = args.budget.network(Mlp::new(layers)?);
    let x = npy::read::<f64, Ix1>(args.dir.join("x.npy"))?;
    let points = match args.dir.join("X.npy").exists() {
        true => Some(read2("X.npy")?),
        false => None,
    };
    let (f, g) = net.value_and_grad(x.view(), Mode::Reverse)?;
    npy::write(args.dir.join("grad.npy"), g.view())?;
    let rev = per_call(args.reps, || {
        net.value_and_grad(x.view(), Mode::Reverse).map(drop)
    })?;
    let mut out = json!({
        "backend": fwdrev::backend().name,
        "dims": net.widths(),
        "f": f,
        "reverse": rev,
    });
    if let Some(points) = &points {
        let (_, gb) = net.value_and_grad_batch(points.view())?;
        npy::write(args.dir.join("G.npy"), gb.view())?;
        let s = per_call(args.reps, || {
            net.value_and_grad_batch(points.view()).map(drop)
        })?;
        out["batch"] = json!({"k": points.ncols(), "median_s": s.median_s, "min_s": s.min_s});
    }
    outln!("{out}");
    Ok(())
}

/// Median and minimum seconds per call over `reps` samples, after a warm-up call. A
/// sample runs the call n times, n chosen so that a sample lasts ≥ 2 ms: a microsecond
/// call is then timed without the clock's own cost (as the script times the peers).
fn per_call(reps: usize, mut f: impl FnMut() -> fwdrev::Result<()>) -> CliResult<Stats> {
    let start = Instant::now();
    f()?;
    let once = start.elapsed().as_secs_f64();
    let n = ((2e-3 / once.max(1e-9)).ceil() as usize).clamp(1, 1_000_000);
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        for _ in 0..n {
            f()?;
        }
        times.push(start.elapsed().as_secs_f64() / n as f64);
    }
    Ok(Stats::of(times))
}
