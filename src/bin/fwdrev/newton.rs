//! `fwdrev newton`: a damped Newton step from x (Cholesky of ∇²f + λI, or the
//! saddle-free step where that is not positive definite).

use crate::inputs::NetworkFiles;
use crate::progress::Progress;
use crate::{json, CliResult};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct NewtonArgs {
    #[command(flatten)]
    files: NetworkFiles,
    /// λ > 0, added to the Hessian's diagonal (and the floor of |eigenvalues| in the
    /// saddle-free step).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true, value_parser = damping)]
    damping: f64,
    /// Write the step to this float64 .npy file (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object {"step", "kind", "min_eigenvalue"} instead of lines.
    #[arg(long)]
    json: bool,
}

/// λ > 0 and finite.
fn damping(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(l) if l > 0.0 && l.is_finite() => Ok(l),
        _ => Err(format!("{s:?}: expected a damping λ > 0, e.g. 1e-3")),
    }
}

pub fn run(args: &NewtonArgs) -> CliResult {
    let (net, x) = args.files.read(&[])?;
    let n = {
        let _shown = Progress::start("the Newton step (forming and factorising the Hessian)");
        net.newton_step(x.view(), args.damping)?
    };
    if let Some(path) = &args.out {
        fwdrev::npy::write(path, n.step.view())?;
    }
    let min = n
        .min_eigenvalue
        .map_or(serde_json::Value::Null, json::number);
    if args.json {
        outln!(
            "{}",
            json!({"step": json::numbers(&n.step), "kind": n.kind.name(), "min_eigenvalue": min})
        );
    } else {
        outln!("kind: {}", n.kind.name());
        outln!("min_eigenvalue: {min}");
        for v in &n.step {
            outln!("{v:.17e}");
        }
    }
    Ok(())
}
