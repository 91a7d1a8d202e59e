//! `fwdrev`: the seed notebook's experiment (default), derivatives of networks read
//! from .npy files, timings beside their baselines, Jacobian plans, and the scaling
//! report of the criterion sweeps. One module per command.

/// `println!` that returns a failed write (a full disk, `/dev/full`) as the command's
/// error instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::write_line(format_args!($($t)*))?
    };
}

mod check;
mod curvature;
mod grad;
mod hvp;
mod inputs;
mod jac;
mod json;
mod newton;
mod peers;
mod plan;
mod progress;
#[cfg(feature = "mpi")]
mod ranks;
mod report;
mod report_chain;
mod report_small;
mod small_model;
mod timing;

use clap::{Parser, Subcommand};
use std::io::Write;
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
    #[arg(long, global = true, allow_negative_numbers = true, value_parser = count::<1, MAX_THREADS>)]
    threads: Option<usize>,
    /// The same bits for any --threads, on every backend: products whose sums a BLAS
    /// would split among threads run on fixed-order kernels instead (slower with a BLAS;
    /// no change in the pure-Rust build, which always works this way).
    #[arg(long, global = true)]
    deterministic: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// The memory budget every computing command takes.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Budget {
    /// Memory that forward mode, Jacobians and Hessians may use for their panels, in MiB
    /// (default 1024).
    #[arg(long, value_name = "MIB", allow_negative_numbers = true, value_parser = count::<0, { usize::MAX >> 20 }>)]
    budget_mib: Option<usize>,
    /// The same budget in KiB, for small networks' panels.
    #[arg(long, value_name = "KIB", conflicts_with = "budget_mib", allow_negative_numbers = true, value_parser = count::<0, { usize::MAX >> 10 }>)]
    budget_kib: Option<usize>,
}

impl Budget {
    /// The panel budget in bytes.
    pub fn budget(&self) -> usize {
        match (self.budget_mib, self.budget_kib) {
            (Some(m), _) => m.saturating_mul(1 << 20),
            (_, Some(k)) => k.saturating_mul(1 << 10),
            (None, None) => fwdrev::DEFAULT_MEMORY_BUDGET,
        }
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
        #[arg(long, default_value_t = 8000, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
        d: usize,
        /// Timed runs of reverse mode (forward mode runs once: it takes seconds).
        #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = count::<1, MAX_REPS>)]
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
    /// The Hessian's extreme eigenvalues (Lanczos over HVPs, or --dense), trace
    /// (Hutchinson) and spectral density (stochastic Lanczos quadrature) at x.
    Curvature(curvature::CurvatureArgs),
    /// A damped Newton step from x: Cholesky of ∇²f + λI, or saddle-free where that is
    /// not positive definite.
    Newton(newton::NewtonArgs),
    /// The bracketing of the Jacobian chain for seeded layers of given widths, its
    /// predicted cost, and (with --reps) its measured time.
    Plan(plan::PlanArgs),
    /// Read criterion's sweep (cargo bench --bench scaling), fit exponents, draw the plot.
    Report(report::ReportArgs),
}

/// Threads beyond this are refused: rayon would spawn every one of them.
pub const MAX_THREADS: usize = 1024;
/// Timed repetitions beyond this are refused.
pub const MAX_REPS: usize = 1_000_000;
/// A width (or batch size) beyond this is refused before any allocation; below it, the
/// memory checks decide.
pub const MAX_WIDTH: usize = 1 << 32;

/// A count the user typed, in `MIN..=MAX`; the error says the range, so that `0`, `-3`
/// and `1e12` each get a message saying what is expected.
pub fn count<const MIN: usize, const MAX: usize>(s: &str) -> Result<usize, String> {
    let range = || format!("expected a whole number from {MIN} to {MAX}");
    match s.trim().parse::<u128>() {
        Ok(n) if (MIN as u128..=MAX as u128).contains(&n) => Ok(n as usize),
        Ok(n) => Err(format!("{n} is out of range: {}", range())),
        Err(_) => Err(format!("{s:?} is not a count: {}", range())),
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

/// Set on MPI ranks other than 0, which print nothing: every rank computes the same
/// result and meets the same errors, and rank 0 reports them.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on this process prints nothing.
#[cfg(feature = "mpi")]
fn quiet() {
    QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn quiet_now() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// One line on standard output; a failed write is an error naming standard output.
fn write_line(args: std::fmt::Arguments) -> CliResult {
    if quiet_now() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| format!("cannot write to standard output: {e}").into())
}

/// A failure of the binary: printed as one line by [`fail`], exit status 1.
type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`fwdrev report | head`) would
    // panic; like other Unix tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: setting a signal's action to its default: process-wide, safe with the
    // threads OpenBLAS may have started already.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    fwdrev::backend::restart_with_best_kernels();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
    let threads = match cli.threads {
        Some(n) => n,
        // The environment's count is bounded as the flag's is.
        None => match fwdrev::default_threads() {
            n if n <= MAX_THREADS => n,
            n => {
                fail(&format!(
                    "RAYON_NUM_THREADS={n} is out of range: expected a whole number from 1 to {MAX_THREADS}"
                ));
                return exit_now(2);
            }
        },
    };
    fwdrev::set_deterministic(cli.deterministic);
    if let Err(e) = fwdrev::set_threads(threads) {
        fail(&e.to_string());
        return exit_now(1);
    }
    // Under mpirun the commands run across the ranks; MPI is finalised before the exit.
    #[cfg(feature = "mpi")]
    if ranks::launched() {
        return exit_now(ranks::run(cli.cmd));
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
        Cmd::Curvature(args) => curvature::run(&args),
        Cmd::Newton(args) => newton::run(&args),
        Cmd::Plan(args) => plan::run(&args),
    };
    finish(result)
}

/// Exits with the command's status: 0, or 1 with its error printed.
fn finish(result: CliResult) -> ExitCode {
    let status = match result {
        Ok(()) => 0,
        Err(e) => {
            fail(&e.to_string());
            1
        }
    };
    exit_now(status)
}

/// Ends the process at once, standard output flushed, without the C library's exit
/// handlers: OpenBLAS 0.3.21's frees its buffers there and, after a refused mapping
/// under a tight address-space limit, spins forever doing so. Nothing of fwdrev's runs
/// at exit: files are complete (written atomically) before this point.
fn exit_now(status: i32) -> ExitCode {
    let flushed = std::io::stdout().flush();
    let status = match flushed {
        Ok(()) => status,
        Err(e) if status == 0 => {
            fail(&format!("cannot write to standard output: {e}"));
            1
        }
        Err(_) => status,
    };
    // SAFETY: _exit ends the process; no Rust state is used after it.
    unsafe { libc::_exit(status) }
}

/// A failure: one line on standard error, exit status 1.
fn fail(message: &str) -> ExitCode {
    if quiet_now() {
        return ExitCode::FAILURE;
    }
    let line = message.replace('\n', " ");
    // Nowhere left to report a failing standard error; the status still says it.
    let _ = writeln!(std::io::stderr(), "fwdrev: {line}");
    ExitCode::FAILURE
}

/// A usage error: one line on standard error and status 2, as clap's first line says it
/// (`--help` and `--version` print in full, status 0).
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind::{
        DisplayHelp, DisplayHelpOnMissingArgumentOrSubcommand, DisplayVersion,
    };
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return match e.print().and_then(|()| std::io::stdout().flush()) {
            Err(err) => {
                fail(&format!("cannot write to standard output: {err}"));
                exit_now(1)
            }
            Ok(()) if e.kind() != DisplayHelpOnMissingArgumentOrSubcommand => exit_now(0),
            Ok(()) => exit_now(2),
        };
    }
    let text = e.render().to_string();
    // The first paragraph, on one line ("… not provided:" lists the arguments below it).
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    let _ = writeln!(std::io::stderr(), "fwdrev: {first} (see fwdrev --help)");
    ExitCode::from(2)
}

fn demo(budget: Budget, d: usize, reps: usize) -> CliResult {
    outln!("backend: {}", fwdrev::backend());
    check::seed_shape()?;
    timing::demo(budget, d, reps)
}
