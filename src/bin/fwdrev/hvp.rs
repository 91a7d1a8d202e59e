//! `fwdrev hvp`: ∇²f(x)·v for f(x) = Σσ(B·σ(A·x)).

use crate::inputs::{vector, NetworkFiles};
use crate::{json, CliResult};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct HvpArgs {
    #[command(flatten)]
    pub files: NetworkFiles,
    /// v, d0.
    #[arg(long)]
    pub v: PathBuf,
    /// Print one JSON object {"hvp": […]} instead of one entry per line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &HvpArgs) -> CliResult {
    let (net, x) = args.files.read(&[&args.v])?;
    let v = vector(&args.v)?;
    let (_, hv) = net.hvp(x.view(), v.view())?;
    print(args, &hv)
}

/// Prints ∇²f·v.
pub fn print(args: &HvpArgs, hv: &ndarray::Array1<f64>) -> CliResult {
    if args.json {
        outln!("{}", serde_json::json!({"hvp": json::numbers(hv)}));
    } else {
        for v in hv {
            outln!("{v:.17e}");
        }
    }
    Ok(())
}
