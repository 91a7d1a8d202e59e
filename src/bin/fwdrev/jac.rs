//! `fwdrev jac`: the d2×d0 Jacobian of F(x) = σ(B·σ(A·x)) by a plan.

use crate::inputs::NetworkFiles;
use crate::progress::Progress;
use crate::{json, CliResult};
use clap::Args;
use fwdrev::{npy, Mode};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct JacArgs {
    #[command(flatten)]
    pub files: NetworkFiles,
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
    /// Write J here as .npy (otherwise it is printed, one row per line).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object {"jac": [[…], …], "mode", "plan"} instead.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &JacArgs) -> CliResult {
    let (net, x) = args.files.read(&[])?;
    let mode = args.mode;
    let plan = net.plan(mode);
    let j = {
        let _shown = Progress::start(&format!("the Jacobian ({})", plan.mode().name()));
        net.jacobian_with_plan(x.view(), &plan)?
    };
    print(args, &j, &plan.to_string())
}

/// Writes J where --out says and prints it (or where it went) with its plan.
pub fn print(args: &JacArgs, j: &ndarray::Array2<f64>, plan: &str) -> CliResult {
    let mode = args.mode;
    if let Some(path) = &args.out {
        npy::write(path, j.view())?;
    }
    if args.json {
        let rows: Vec<_> = j.rows().into_iter().map(json::numbers).collect();
        let obj = serde_json::json!({"jac": rows, "mode": mode.name(), "plan": plan});
        outln!("{obj}");
        return Ok(());
    }
    if let Some(path) = &args.out {
        return print_written(args, j.dim(), plan, path);
    }
    outln!("plan ({mode}): {plan}");
    for row in j.rows() {
        let line: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
        outln!("{}", line.join(" "));
    }
    Ok(())
}

/// The lines that say J of `shape` went to `path`, by its plan.
pub fn print_written(args: &JacArgs, shape: (usize, usize), plan: &str, path: &Path) -> CliResult {
    outln!("plan ({}): {plan}", args.mode);
    outln!("J ({}×{}) written to {}", shape.0, shape.1, path.display());
    Ok(())
}
