//! `fwdrev curvature`: the Hessian's extreme eigenvalues (Lanczos over HVPs, or the
//! dense decomposition), its trace (Hutchinson) and spectral density (stochastic
//! Lanczos quadrature) at x.

use crate::inputs::NetworkFiles;
use crate::progress::Progress;
use crate::{count, json, CliResult, MAX_REPS, MAX_WIDTH};
use clap::Args;
use fwdrev::{Density, Eigen, Extremes, Trace};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CurvatureArgs {
    #[command(flatten)]
    pub files: NetworkFiles,
    /// How many of the largest eigenvalues.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = count::<0, MAX_WIDTH>)]
    pub top: usize,
    /// How many of the smallest eigenvalues.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = count::<0, MAX_WIDTH>)]
    pub bottom: usize,
    /// Also estimate the trace from this many Rademacher probes (Hutchinson).
    #[arg(long, value_name = "PROBES", allow_negative_numbers = true, value_parser = count::<2, MAX_REPS>)]
    trace: Option<usize>,
    /// Also the spectral density by stochastic Lanczos quadrature: PROBES,STEPS.
    #[arg(long, value_name = "PROBES,STEPS", value_parser = probes_and_steps)]
    density: Option<(usize, usize)>,
    /// The eigenvalues from the dense Hessian (LAPACK or faer: see `fwdrev --version`'s
    /// backend) instead of Lanczos.
    #[arg(long)]
    pub dense: bool,
    /// Lanczos stops when every wanted residual is within this of the largest |value|.
    #[arg(long, default_value_t = 1e-8, value_parser = tolerance)]
    tol: f64,
    /// The most Hessian-vector products Lanczos may spend.
    #[arg(long, default_value_t = 300, allow_negative_numbers = true, value_parser = count::<1, MAX_REPS>)]
    max_steps: usize,
    /// Seed of the start vector and the probes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draw the density (with --density) as a PNG: the nodes' weights spread by a
    /// Gaussian of 1% of the spectrum's width.
    #[arg(long, value_name = "PNG", requires = "density")]
    plot: Option<PathBuf>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// `PROBES,STEPS`, each a count from 1.
fn probes_and_steps(s: &str) -> Result<(usize, usize), String> {
    let (p, k) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?}: expected PROBES,STEPS, e.g. 20,50"))?;
    Ok((count::<1, MAX_REPS>(p)?, count::<1, MAX_REPS>(k)?))
}

/// A tolerance in (0, 1).
fn tolerance(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(t) if t > 0.0 && t < 1.0 => Ok(t),
        _ => Err(format!(
            "{s:?}: expected a tolerance between 0 and 1, e.g. 1e-8"
        )),
    }
}

pub fn run(args: &CurvatureArgs) -> CliResult {
    let (net, x) = args.files.read(&[])?;
    let mut out = serde_json::Map::new();
    if args.dense && args.top + args.bottom > 0 {
        let _shown = Progress::start("forming and decomposing the Hessian");
        let values = net.hessian_eigen(x.view(), false)?.values;
        let n = values.len();
        let wanted = args.top.saturating_add(args.bottom);
        if wanted > n {
            return Err(format!("--top + --bottom = {wanted}, but d0 = {n}").into());
        }
        let top: Vec<f64> = values.iter().rev().take(args.top).copied().collect();
        let bottom: Vec<f64> = values.iter().take(args.bottom).copied().collect();
        out.insert("top".into(), json::numbers(&top));
        out.insert("bottom".into(), json::numbers(&bottom));
        out.insert("converged".into(), Value::from(true));
        out.insert("method".into(), Value::from("dense"));
    }
    let x = x.view();
    let spectra = Spectra {
        extremes: &|o| net.hessian_extremes(x, o),
        trace: &|p, seed| net.hessian_trace(x, p, seed),
        density: &|p, k, seed| net.hessian_density(x, p, k, seed),
    };
    let found = compute(args, spectra, out)?;
    print(args, found)
}

/// The calls `curvature` makes at x, of whichever network: one process's, or the
/// ranks' under mpirun.
pub struct Spectra<'a> {
    pub extremes: &'a dyn Fn(&Extremes) -> fwdrev::Result<Eigen>,
    pub trace: &'a dyn Fn(usize, u64) -> fwdrev::Result<Trace>,
    pub density: &'a dyn Fn(usize, usize, u64) -> fwdrev::Result<Density>,
}

/// What `curvature` found: its JSON fields, and the density to draw.
pub struct Found {
    fields: serde_json::Map<String, Value>,
    density: Option<Density>,
}

/// Lanczos's extremes (unless `out` holds the dense ones), the trace and the density,
/// as asked, added to `out`.
pub fn compute(
    args: &CurvatureArgs,
    net: Spectra,
    mut out: serde_json::Map<String, Value>,
) -> CliResult<Found> {
    let mut hvps = 0;
    if args.top + args.bottom > 0 && !out.contains_key("top") {
        let opts = Extremes {
            top: args.top,
            bottom: args.bottom,
            max_steps: args.max_steps,
            tol: args.tol,
            seed: args.seed,
            vectors: false,
        };
        let _shown = Progress::start("Lanczos over Hessian-vector products");
        let e = (net.extremes)(&opts)?;
        hvps += e.products;
        out.insert("top".into(), json::numbers(&e.top));
        out.insert("bottom".into(), json::numbers(&e.bottom));
        out.insert("residuals".into(), json::numbers(&e.residuals));
        out.insert("converged".into(), Value::from(e.converged));
        out.insert("method".into(), Value::from("lanczos"));
    }
    let trace = match args.trace {
        Some(probes) => {
            let _shown = Progress::start("Hutchinson's trace estimate");
            let t = (net.trace)(probes, args.seed)?;
            hvps += t.products;
            json!({"estimate": json::number(t.estimate), "stderr": json::number(t.stderr)})
        }
        None => Value::Null,
    };
    out.insert("trace".into(), trace);
    let density = match args.density {
        Some((probes, steps)) => {
            let _shown = Progress::start("stochastic Lanczos quadrature");
            Some((net.density)(probes, steps, args.seed)?)
        }
        None => None,
    };
    let shown = density.as_ref().map_or(
        Value::Null,
        |d| json!({"nodes": json::numbers(&d.nodes), "weights": json::numbers(&d.weights)}),
    );
    hvps += density.as_ref().map_or(0, |d| d.products);
    out.insert("density".into(), shown);
    out.insert("hvps".into(), Value::from(hvps));
    Ok(Found {
        fields: out,
        density,
    })
}

/// Draws the density where --plot says, and prints what was found.
pub fn print(args: &CurvatureArgs, found: Found) -> CliResult {
    if let (Some(path), Some(d)) = (&args.plot, &found.density) {
        plot(d, path)?;
    }
    if args.json {
        outln!("{}", Value::Object(found.fields));
        return Ok(());
    }
    for (key, value) in &found.fields {
        if !value.is_null() {
            outln!("{key}: {value}");
        }
    }
    Ok(())
}

/// The density as a smooth curve: Σ w_i·N(t; θ_i, s), s a hundredth of the spectrum's
/// width (a node alone is a bump, not a spike).
fn plot(d: &fwdrev::Density, path: &Path) -> CliResult {
    use plotters::prelude::*;
    let (lo, hi) = (d.nodes[0], d.nodes[d.nodes.len() - 1]);
    let s = ((hi - lo) / 100.0)
        .max(1e-12 * hi.abs().max(lo.abs()))
        .max(f64::MIN_POSITIVE);
    let (from, to) = (lo - 4.0 * s, hi + 4.0 * s);
    let norm = 1.0 / (s * (2.0 * std::f64::consts::PI).sqrt());
    let curve: Vec<(f64, f64)> = (0..=600)
        .map(|i| {
            let t = from + (to - from) * i as f64 / 600.0;
            let rho = d
                .nodes
                .iter()
                .zip(&d.weights)
                .map(|(&n, &w)| w * norm * (-0.5 * ((t - n) / s).powi(2)).exp())
                .sum::<f64>();
            (t, rho)
        })
        .collect();
    let top = curve.iter().fold(0.0_f64, |m, p| m.max(p.1));
    let root = crate::report::canvas(path, (900, 560))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Hessian spectral density (stochastic Lanczos quadrature)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(from..to, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("eigenvalue")
        .y_desc("density")
        .y_label_formatter(&|v| format!("{v:.1e}"))
        .x_label_formatter(&|v| format!("{v:.2e}"))
        .draw()?;
    let color = RGBColor(30, 100, 200);
    chart
        .draw_series(LineSeries::new(curve, color.stroke_width(2)))?
        .label(format!("{} nodes", d.nodes.len()))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    crate::report::finish(&mut chart, &root)
}
