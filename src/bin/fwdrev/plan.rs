//! `fwdrev plan`: the bracketing of the Jacobian chain that a mode picks for seeded
//! layers of given widths, its predicted cost, and its measured time.

use crate::timing::Stats;
use crate::{count, seconds, Budget, CliResult, MAX_REPS, MAX_WIDTH};
use clap::Args;
use fwdrev::{random, Activation, Calibration, Mlp, Mode};
use serde::Serialize;
use std::time::Instant;

#[derive(Args)]
pub struct PlanArgs {
    /// d0,d1,…,dL (at least two).
    #[arg(long, value_delimiter = ',', required = true, allow_negative_numbers = true, value_parser = count::<1, MAX_WIDTH>)]
    widths: Vec<usize>,
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// Also time the full Jacobian: the median of K runs after one warm-up.
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = count::<1, MAX_REPS>)]
    reps: Option<usize>,
    /// Print one JSON object {"widths", "mode", "plan", "predicted_flops", "median_s", …}.
    #[arg(long)]
    json: bool,
    /// The layers' activation.
    #[arg(long, value_enum, default_value_t = Activation::Sigmoid)]
    activation: Activation,
    /// Seed of the weights and of x.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Plan with the stored profile instead of timing this machine first (~0.1 s).
    #[arg(long)]
    stored: bool,
    #[command(flatten)]
    budget: Budget,
}

/// `fwdrev plan --json`.
#[derive(Serialize)]
struct PlanReport<'a> {
    widths: &'a [usize],
    mode: &'static str,
    plan: String,
    steps: Vec<String>,
    predicted_flops: f64,
    predicted_s: f64,
    /// Panels within the budget: {"side", "width", "count"}, null when none fits.
    panels: Option<PanelsReport>,
    budget_bytes: usize,
    activation: &'static str,
    backend: &'static str,
    calibration: CalibrationReport,
    /// The measured Jacobian (null without --reps).
    median_s: Option<f64>,
    min_s: Option<f64>,
}

#[derive(Serialize)]
struct PanelsReport {
    side: &'static str,
    width: usize,
    count: usize,
}

#[derive(Serialize)]
struct CalibrationReport {
    gemm_rate: f64,
    bandwidth_gbs: f64,
    call_s: f64,
    measured: bool,
}

/// Widths past this are refused: planning and printing cost O(L²) in the depth.
const MAX_WIDTHS: usize = 4097;

pub fn run(args: &PlanArgs) -> CliResult {
    if args.widths.len() > MAX_WIDTHS {
        return Err(format!(
            "--widths has {} entries: at most {MAX_WIDTHS} (d0 and {} layers)",
            args.widths.len(),
            MAX_WIDTHS - 1
        )
        .into());
    }
    let calibration = if args.stored {
        Calibration::stored()
    } else {
        Calibration::measure()
    };
    let net = Mlp::<f64>::from_seed(&args.widths, args.activation, args.seed)?;
    let net = args.budget.network(net).with_calibration(calibration);
    let plan = net.plan(args.mode);
    let timed = match args.reps {
        Some(reps) => {
            let x = random::standard_normal_vector::<f64>(args.widths[0], args.seed)?;
            net.jacobian_with_plan(x.view(), &plan)?;
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t = Instant::now();
                std::hint::black_box(net.jacobian_with_plan(x.view(), &plan)?);
                times.push(t.elapsed().as_secs_f64());
            }
            Some(Stats::of(times))
        }
        None => None,
    };
    if args.json {
        let report = PlanReport {
            widths: &args.widths,
            mode: args.mode.name(),
            plan: plan.to_string(),
            steps: plan.steps(),
            predicted_flops: plan.predicted_flops(),
            predicted_s: plan.predicted_seconds(),
            panels: plan.panels().map(|p| PanelsReport {
                side: p.side.name(),
                width: p.width,
                count: p.count,
            }),
            budget_bytes: args.budget.budget(),
            activation: args.activation.name(),
            backend: fwdrev::backend().name,
            calibration: CalibrationReport {
                gemm_rate: calibration.gemm_rate,
                bandwidth_gbs: calibration.bandwidth / 1e9,
                call_s: calibration.call_seconds,
                measured: !args.stored,
            },
            median_s: timed.map(|s| s.median_s),
            min_s: timed.map(|s| s.min_s),
        };
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    outln!("widths {:?}, {} mode: {plan}", args.widths, args.mode);
    for (i, step) in plan.steps().iter().enumerate() {
        outln!("  {}. {step}", i + 1);
    }
    match plan.panels() {
        Some(p) => outln!(
            "in {} panel{} of {} {} within the budget of {} bytes",
            p.count,
            if p.count == 1 { "" } else { "s" },
            p.width,
            p.side.name(),
            args.budget.budget()
        ),
        None => outln!(
            "no bracketing's panel of one column or row fits the budget of {} bytes",
            args.budget.budget()
        ),
    }
    outln!(
        "predicted: {:.3e} multiply-adds, {} (GEMM {:.1} G multiply-adds/s, {:.1} GB/s)",
        plan.predicted_flops(),
        seconds(plan.predicted_seconds()),
        calibration.gemm_rate / 1e9,
        calibration.bandwidth / 1e9
    );
    if let Some(s) = timed {
        outln!(
            "measured: {} (median of {})",
            seconds(s.median_s),
            args.reps.unwrap_or(1)
        );
    }
    Ok(())
}
