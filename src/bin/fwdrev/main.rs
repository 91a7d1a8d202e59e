//! `fwdrev`: the seed notebook's experiment (default), gradients of .npy networks,
//! timings with their baselines, and the scaling report of the criterion sweep.

mod chain;
mod check;
mod json;
mod peers;
mod report;
mod report_chain;
mod timing;

use clap::{Parser, Subcommand, ValueEnum};
use fwdrev::{npy, Mode};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fwdrev",
    version,
    about = "Forward vs reverse mode for f(x) = sum(sigmoid(B·sigmoid(A·x))). \
             With no subcommand: check both modes at (100,105,95), then time them at d = 8000."
)]
struct Cli {
    /// Threads for rayon and the BLAS together (default: RAYON_NUM_THREADS, else every core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The default run: correctness check at the seed's shape, then both modes timed.
    Demo {
        /// d0 = d1 = d2 for the timing.
        #[arg(long, default_value_t = 8000)]
        d: usize,
        /// Timed runs of reverse mode (forward mode runs once: it takes seconds).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// f(x) and ∇f(x) for A, B, x read from float64 .npy files.
    Grad {
        #[command(flatten)]
        files: chain::NetworkFiles,
        #[arg(long, value_enum, default_value_t = ModeArg::Reverse)]
        mode: ModeArg,
        /// Write ∇f here as .npy (otherwise it is printed, one entry per line).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print one JSON object {"f", "grad", "mode", "backend"} instead.
        #[arg(long)]
        json: bool,
    },
    /// Time each mode and, in the same run, the bare GEMM and GEMV of the same shapes.
    Time(timing::TimeArgs),
    /// Write the seeded A, B, x (and X) of `time --seed` as .npy, for scripts/peers.py.
    Export(peers::ExportArgs),
    /// Time the reverse gradient (and the batch) on .npy inputs; one JSON line.
    Peer(peers::PeerArgs),
    /// The d2×d0 Jacobian of F(x) = σ(B·σ(A·x)) for A, B, x read from float64 .npy files.
    Jac(chain::JacArgs),
    /// ∇²f(x)·v for A, B, x, v read from float64 .npy files.
    Hvp(chain::HvpArgs),
    /// The bracketing of the Jacobian chain for seeded layers of given widths, its
    /// predicted cost, and (with --reps) its measured time.
    Plan(chain::PlanArgs),
    /// Read criterion's sweep (cargo bench --bench scaling), fit exponents, draw the plot.
    Report(report::ReportArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Forward,
    Reverse,
    Auto,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Forward => Mode::Forward,
            ModeArg::Reverse => Mode::Reverse,
            ModeArg::Auto => Mode::Auto,
        }
    }
}

/// A duration in the unit that reads best: "9.60 s", "67.45 ms", "11.3 µs".
fn seconds(s: f64) -> String {
    match s {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.1} µs", s * 1e6),
    }
}

/// A failure of the binary: printed as one line, exit status 1.
type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`fwdrev report | head`) would
    // panic; like other Unix tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: setting a signal's action to its default, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    fwdrev::linalg::reexec_with_openblas_coretype();
    let cli = Cli::parse();
    let threads = cli.threads.unwrap_or_else(fwdrev::threads::default_threads);
    if let Err(e) = fwdrev::set_threads(threads) {
        eprintln!("fwdrev: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.cmd.unwrap_or(Cmd::Demo { d: 8000, reps: 5 }) {
        Cmd::Demo { d, reps } => demo(d, reps),
        Cmd::Grad {
            files,
            mode,
            out,
            json,
        } => grad(&files, mode.into(), out, json),
        Cmd::Time(args) => timing::run(&args),
        Cmd::Report(args) => report::run(&args),
        Cmd::Export(args) => peers::export(&args),
        Cmd::Peer(args) => peers::peer(&args),
        Cmd::Jac(args) => chain::jac(&args),
        Cmd::Hvp(args) => chain::hvp(&args),
        Cmd::Plan(args) => chain::plan(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fwdrev: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn demo(d: usize, reps: usize) -> CliResult {
    println!("backend: {}", fwdrev::backend());
    check::seed_shape()?;
    timing::demo(d, reps)
}

fn grad(files: &chain::NetworkFiles, mode: Mode, out: Option<PathBuf>, json: bool) -> CliResult {
    let (net, x) = files.read()?;
    let (f, g) = net.value_and_grad(x.view(), mode)?;
    if let Some(path) = &out {
        npy::write(path, g.view().into_dyn())?;
    }
    if json {
        let obj = serde_json::json!({
            "f": json::number(f),
            "grad": json::numbers(&g),
            "mode": mode.name(),
            "backend": fwdrev::backend().name,
        });
        println!("{obj}");
    } else {
        println!("f = {f:.17e}");
        match &out {
            Some(path) => println!("grad ({} entries) written to {}", g.len(), path.display()),
            None => g.iter().for_each(|v| println!("{v:.17e}")),
        }
    }
    Ok(())
}
