//! The Rust side of `scripts/peers.py`: write a seeded case to .npy, and time fwdrev on
//! a case read back from .npy, so that PyTorch, JAX and fwdrev work on the same bytes.

use crate::timing::Stats;
use crate::{count, Budget, CliResult, MAX_REPS, MAX_WIDTH};
use clap::Args;
use fwdrev::{baseline, linalg, npy, random, Activation, Extremes, Mlp, Mode};
use ndarray::{ArrayView1, Ix1, Ix2};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// `fwdrev export`: A, B, x (and X with --k) of `fwdrev time --seed`, and the Lanczos
/// start vector q0 of `curvature --seed`, as float64 .npy; the network also as
/// model.npz (`--net`).
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
    /// Directory to write A.npy, B.npy, model.npz, x.npy, q0.npy (and X.npy) into;
    /// created if missing.
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
    /// Also time an HVP, Lanczos for the top Hessian eigenvalue from q0.npy (written by
    /// `export`), and a streaming read of A for the bandwidth; writes hv.npy = ∇²f·q0.
    #[arg(long)]
    curvature: bool,
    /// The seed `export` was given (its q0.npy is Lanczos's start for this seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Lanczos's tolerance on the residual, relative to the largest |Ritz value|.
    #[arg(long, default_value_t = 1e-6)]
    tol: f64,
    /// With --curvature: also write the Hessian to H.npy and time its eigen
    /// decomposition alone, with and without vectors.
    #[arg(long)]
    dense: bool,
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
    net.save_npz(args.dir.join("model.npz"))?;
    npy::write(args.dir.join("x.npy"), x.view())?;
    let lanczos = Extremes {
        seed: args.seed,
        ..Extremes::default()
    };
    npy::write(args.dir.join("q0.npy"), lanczos.start(args.d0).view())?;
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
    if args.curvature {
        out["curvature"] = curvature(args, &net, x.view())?;
    }
    outln!("{out}");
    Ok(())
}

/// The curvature rows' Rust side: one HVP (plain, and linearised), Lanczos for the top eigenvalue from q0 (the
/// script runs the same process over PyTorch's and JAX's HVPs), the bandwidth that
/// bounds both, and with `--dense` the eigen decomposition alone.
fn curvature(args: &PeerArgs, net: &Mlp<f64>, x: ArrayView1<f64>) -> CliResult<Value> {
    let q0 = npy::read::<f64, Ix1>(args.dir.join("q0.npy"))?;
    let opts = Extremes {
        seed: args.seed,
        tol: args.tol,
        ..Extremes::default()
    };
    // hessian_extremes draws its start from the seed: q0.npy must be that draw.
    if opts.start(q0.len()) != q0 {
        return Err(format!(
            "q0.npy is not the start of `fwdrev export --seed {}`",
            args.seed
        )
        .into());
    }
    let (_, hv) = net.hvp(x, q0.view())?;
    npy::write(args.dir.join("hv.npy"), hv.view())?;
    let hvp = per_call(args.reps, || net.hvp(x, q0.view()).map(drop))?;
    // What Lanczos multiplies by: ∇²f linearised at x (made once per run, as the
    // script's PyTorch graph and JAX linearisation are).
    let at = net.hessian_at(x)?;
    let applied = per_call(args.reps, || at.apply(q0.view()).map(drop))?;
    let eigen = net.hessian_extremes(x, &opts)?;
    let lanczos = per_call(args.reps, || net.hessian_extremes(x, &opts).map(drop))?;
    let a = net.layers()[0].weights();
    let read = per_call(args.reps, || {
        std::hint::black_box(baseline::stream_sum_rows(a));
        Ok(())
    })?;
    let sizes: Vec<usize> = net.layers().iter().map(|l| l.weights().len() * 8).collect();
    let total: usize = sizes.iter().sum();
    let mut out = json!({
        "hvp": {"median_s": hvp.median_s, "min_s": hvp.min_s},
        "hessian_at": {"median_s": applied.median_s, "min_s": applied.min_s},
        "lanczos": {
            "median_s": lanczos.median_s,
            "min_s": lanczos.min_s,
            "hvps": eigen.products,
            "top": eigen.top[0],
            "residual": eigen.residuals[0],
            "converged": eigen.converged,
            "tol": args.tol,
        },
        "bandwidth_gbs": (a.len() * 8) as f64 / read.median_s / 1e9,
        // hvp reads each weight matrix twice: forward W·[x v], then Wᵀ·[g ġ].
        "hvp_bytes": 2 * total,
        // The least, and what hessian_at's products read: the last layer's rows are
        // streamed once (ẏ_i, then Ġ_i, then its share of Wᵀ·Ġ); every other layer is
        // needed before and after the layers above it.
        "floor_bytes": 2 * total - sizes[sizes.len() - 1],
    });
    if args.dense {
        let h = net.hessian(x)?;
        npy::write(args.dir.join("H.npy"), h.view())?;
        let with = per_call(args.reps, || linalg::eigh(h.clone(), true).map(drop))?;
        let without = per_call(args.reps, || linalg::eigh(h.clone(), false).map(drop))?;
        out["eigh"] = json!({
            "library": fwdrev::backend().linalg,
            "vectors_s": with.median_s,
            "values_s": without.median_s,
        });
    }
    Ok(out)
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
