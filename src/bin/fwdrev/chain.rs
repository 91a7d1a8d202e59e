//! `fwdrev jac`, `fwdrev hvp` and `fwdrev plan`: Jacobians, Hessian-vector products, and
//! the bracketing Mode::Auto picks, on the command line.

use crate::json::numbers;
use crate::timing::Stats;
use crate::{seconds, CliResult, ModeArg};
use clap::Args;
use fwdrev::{npy, random, Activation, Calibration, Mlp, Mode, Network};
use ndarray::{Array1, Ix1, Ix2};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A, B and x of the two-layer network, as float64 .npy files (`grad`, `jac`, `hvp`).
#[derive(Args)]
pub struct NetworkFiles {
    /// A, d1×d0 (float64 .npy).
    #[arg(long)]
    a: PathBuf,
    /// B, d2×d1.
    #[arg(long)]
    b: PathBuf,
    /// x, d0.
    #[arg(long)]
    x: PathBuf,
}

impl NetworkFiles {
    /// The network and the point, each file checked (see `npy`).
    pub fn read(&self) -> CliResult<(Network<f64>, Array1<f64>)> {
        let a = npy::read_rank::<f64>(&self.a, 2)?.into_dimensionality::<Ix2>()?;
        let b = npy::read_rank::<f64>(&self.b, 2)?.into_dimensionality::<Ix2>()?;
        Ok((Network::new(a, b)?, read_vector(&self.x)?))
    }
}

/// `fwdrev jac`: the d2×d0 Jacobian of F(x) = σ(B·σ(A·x)).
#[derive(Args)]
pub struct JacArgs {
    #[command(flatten)]
    files: NetworkFiles,
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    mode: ModeArg,
    /// Write J here as .npy (otherwise it is printed, one row per line).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object {"jac": [[…], …], "mode", "plan"} instead.
    #[arg(long)]
    json: bool,
}

/// `fwdrev hvp`: ∇²f(x)·v for f(x) = Σσ(B·σ(A·x)).
#[derive(Args)]
pub struct HvpArgs {
    #[command(flatten)]
    files: NetworkFiles,
    /// v, d0.
    #[arg(long)]
    v: PathBuf,
    /// Print one JSON object {"hvp": […]} instead of one entry per line.
    #[arg(long)]
    json: bool,
}

/// `fwdrev plan`: the bracketing of the Jacobian chain for seeded layers of given widths.
#[derive(Args)]
pub struct PlanArgs {
    /// d0,d1,…,dL (at least two).
    #[arg(long, value_delimiter = ',', required = true)]
    widths: Vec<usize>,
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    mode: ModeArg,
    /// Also time the full Jacobian: the median of K runs after one warm-up.
    #[arg(long, value_name = "K")]
    reps: Option<usize>,
    /// Print one JSON object {"widths", "mode", "plan", "predicted_flops", "median_s", …}.
    #[arg(long)]
    json: bool,
    /// The layers' activation.
    #[arg(long, default_value = "sigmoid", value_parser = activation)]
    activation: Activation,
    /// Seed of the weights and of x.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Memory the Jacobian's panels may use, in MiB (default 1024).
    #[arg(long)]
    budget_mib: Option<usize>,
    /// Plan with the stored profile instead of timing this machine first (~0.1 s).
    #[arg(long)]
    stored: bool,
}

fn activation(name: &str) -> Result<Activation, String> {
    Activation::from_name(name).ok_or_else(|| {
        let names: Vec<_> = Activation::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

fn read_vector(p: &Path) -> CliResult<Array1<f64>> {
    Ok(npy::read_rank::<f64>(p, 1)?.into_dimensionality::<Ix1>()?)
}

/// `fwdrev jac`.
pub fn jac(args: &JacArgs) -> CliResult {
    let (net, x) = args.files.read()?;
    let mode = Mode::from(args.mode);
    let plan = net.mlp().plan(mode);
    let j = net.mlp().jacobian_with_plan(x.view(), &plan)?;
    if let Some(path) = &args.out {
        npy::write(path, j.view().into_dyn())?;
    }
    if args.json {
        let rows: Vec<_> = j.rows().into_iter().map(numbers).collect();
        let obj = json!({"jac": rows, "mode": mode.name(), "plan": plan.to_string()});
        println!("{obj}");
        return Ok(());
    }
    println!("plan ({mode}): {plan}");
    match &args.out {
        Some(path) => println!(
            "J ({}×{}) written to {}",
            j.nrows(),
            j.ncols(),
            path.display()
        ),
        None => {
            for row in j.rows() {
                let line: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
                println!("{}", line.join(" "));
            }
        }
    }
    Ok(())
}

/// `fwdrev hvp`.
pub fn hvp(args: &HvpArgs) -> CliResult {
    let (net, x) = args.files.read()?;
    let v = read_vector(&args.v)?;
    let (_, hv) = net.mlp().hvp(x.view(), v.view())?;
    if args.json {
        println!("{}", json!({"hvp": numbers(&hv)}));
    } else {
        hv.iter().for_each(|v| println!("{v:.17e}"));
    }
    Ok(())
}

/// `fwdrev plan`.
pub fn plan(args: &PlanArgs) -> CliResult {
    let calibration = if args.stored {
        Calibration::stored::<f64>()
    } else {
        Calibration::measure::<f64>()
    };
    let mut net = Mlp::<f64>::from_seed(&args.widths, args.activation, args.seed)?
        .with_calibration(calibration);
    if let Some(mib) = args.budget_mib {
        net = net.with_memory_budget(mib.saturating_mul(1 << 20));
    }
    let mode = Mode::from(args.mode);
    let plan = net.plan(mode);
    let timed = match args.reps {
        Some(reps) => {
            let x = random::standard_normal_vector::<f64>(args.widths[0], args.seed);
            net.jacobian_with_plan(x.view(), &plan)?;
            let mut times = Vec::with_capacity(reps.max(1));
            for _ in 0..reps.max(1) {
                let t = Instant::now();
                std::hint::black_box(net.jacobian_with_plan(x.view(), &plan)?);
                times.push(t.elapsed().as_secs_f64());
            }
            Some(Stats::of(times))
        }
        None => None,
    };
    if args.json {
        let mut obj = json!({
            "widths": args.widths,
            "mode": mode.name(),
            "plan": plan.to_string(),
            "steps": plan.steps(),
            "predicted_flops": plan.predicted_flops(),
            "predicted_s": plan.predicted_seconds(),
            "activation": args.activation.name(),
            "backend": fwdrev::backend().name,
            "calibration": {
                "gemm_rate": calibration.gemm_rate,
                "bandwidth_gbs": calibration.bandwidth / 1e9,
                "call_s": calibration.call_seconds,
                "measured": !args.stored,
            },
        });
        let extra = match timed {
            Some(s) => s.json(),
            None => json!({"median_s": null, "min_s": null}),
        };
        if let (Some(o), Some(e)) = (obj.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        println!("{obj}");
        return Ok(());
    }
    println!("widths {:?}, {mode} mode: {plan}", args.widths);
    for (i, step) in plan.steps().iter().enumerate() {
        println!("  {}. {step}", i + 1);
    }
    println!(
        "predicted: {:.3e} multiply-adds, {} (GEMM {:.1} G multiply-adds/s, {:.1} GB/s)",
        plan.predicted_flops(),
        seconds(plan.predicted_seconds()),
        calibration.gemm_rate / 1e9,
        calibration.bandwidth / 1e9
    );
    if let Some(s) = timed {
        println!(
            "measured: {} (median of {})",
            seconds(s.median_s),
            args.reps.unwrap_or(1).max(1)
        );
    }
    Ok(())
}
