//! `fwdrev`: the seed notebook's experiment (default), derivatives of networks read
//! from .npy files, timings beside their baselines, Jacobian plans, and the scaling
//! report of the criterion sweeps. One module per command.

mod check;
mod grad;
mod hvp;
mod inputs;
mod jac;
mod json;
mod peers;
mod plan;
mod report;
mod report_chain;
mod timing;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fwdrev",
    version,
    about = "Forward vs reverse mode for f(x) = sum(sigmoid(B·sigmoid(A·x))) and any MLP. \
             With no subcommand: check both modes at (100,105,95), then time them at d = 8000."
)]
struct Cli {
    /// Threads for rayon and the BLAS together (default: RAYON_NUM_THREADS, else every
    /// core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// The memory budget every computing command takes.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Budget {
    /// Memory that forward mode, Jacobians and Hessians may use for their panels, in MiB
    /// (default 1024).
    #[arg(long, value_name = "MIB")]
    budget_mib: Option<usize>,
}

impl Budget {
    /// The panel budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget_mib
            .map_or(fwdrev::DEFAULT_MEMORY_BUDGET, |m| m.saturating_mul(1 << 20))
    }

    /// A network with this run's budget.
    pub fn network<T: fwdrev::Real>(&self, net: fwdrev::Mlp<T>) -> fwdrev::Mlp<T> {
        net.with_memory_budget(self.budget())
    }
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
        #[command(flatten)]
        budget: Budget,
    },
    /// f(x) and ∇f(x) for A, B, x read from float64 .npy files.
    Grad(grad::GradArgs),
    /// Time each mode and, in the same run, the bare GEMM and GEMV of the same shapes.
    Time(timing::TimeArgs),
    /// Write the seeded A, B, x (and X) of `time --seed` as .npy, for scripts/peers.py.
    Export(peers::ExportArgs),
    /// Time the reverse gradient (and the batch) on .npy inputs; one JSON line.
    Peer(peers::PeerArgs),
    /// The d2×d0 Jacobian of F(x) = σ(B·σ(A·x)) for A, B, x read from float64 .npy files.
    Jac(jac::JacArgs),
    /// ∇²f(x)·v for A, B, x, v read from float64 .npy files.
    Hvp(hvp::HvpArgs),
    /// The bracketing of the Jacobian chain for seeded layers of given widths, its
    /// predicted cost, and (with --reps) its measured time.
    Plan(plan::PlanArgs),
    /// Read criterion's sweep (cargo bench --bench scaling), fit exponents, draw the plot.
    Report(report::ReportArgs),
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
    fwdrev::backend::restart_with_best_kernels();
    let cli = Cli::parse();
    let threads = cli.threads.unwrap_or_else(fwdrev::default_threads);
    if let Err(e) = fwdrev::set_threads(threads) {
        eprintln!("fwdrev: {e}");
        return ExitCode::FAILURE;
    }
    let demo_default = Cmd::Demo {
        d: 8000,
        reps: 5,
        budget: Budget::default(),
    };
    let result = match cli.cmd.unwrap_or(demo_default) {
        Cmd::Demo { d, reps, budget } => demo(budget, d, reps),
        Cmd::Grad(args) => grad::run(&args),
        Cmd::Time(args) => timing::run(&args),
        Cmd::Report(args) => report::run(&args),
        Cmd::Export(args) => peers::export(&args),
        Cmd::Peer(args) => peers::peer(&args),
        Cmd::Jac(args) => jac::run(&args),
        Cmd::Hvp(args) => hvp::run(&args),
        Cmd::Plan(args) => plan::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fwdrev: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn demo(budget: Budget, d: usize, reps: usize) -> CliResult {
    println!("backend: {}", fwdrev::backend());
    check::seed_shape()?;
    timing::demo(budget, d, reps)
}
