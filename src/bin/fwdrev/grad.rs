//! `fwdrev grad`: f(x) and ∇f(x) for the two-layer network read from .npy files.

use crate::inputs::NetworkFiles;
use crate::{json, CliResult};
use clap::Args;
use fwdrev::{npy, Mode};
use std::path::PathBuf;

#[derive(Args)]
pub struct GradArgs {
    #[command(flatten)]
    pub files: NetworkFiles,
    #[arg(long, value_enum, default_value_t = Mode::Reverse)]
    pub mode: Mode,
    /// Write ∇f here as .npy (otherwise it is printed, one entry per line).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object {"f", "grad", "mode", "backend"} instead.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &GradArgs) -> CliResult {
    let (net, x) = args.files.read(&[])?;
    let (f, g) = net.value_and_grad(x.view(), args.mode)?;
    print(args, f, &g)
}

/// Writes ∇f where --out says and prints f (and ∇f, or where it went).
pub fn print(args: &GradArgs, f: f64, g: &ndarray::Array1<f64>) -> CliResult {
    if let Some(path) = &args.out {
        npy::write(path, g.view())?;
    }
    if args.json {
        let obj = serde_json::json!({
            "f": json::number(f),
            "grad": json::numbers(g),
            "mode": args.mode.name(),
            "backend": fwdrev::backend().name,
        });
        outln!("{obj}");
    } else {
        outln!("f = {f:.17e}");
        match &args.out {
            Some(path) => outln!("grad ({} entries) written to {}", g.len(), path.display()),
            None => {
                for v in g {
                    outln!("{v:.17e}");
                }
            }
        }
    }
    Ok(())
}
