//! The scaling report: criterion's medians per size, log-log exponents, a PNG plot;
//! then, when the chain bench has run, its tables and plot (see `report_chain`).
//!
//! Reads `<criterion>/<group>/<d>/new/estimates.json` (as written by
//! `cargo bench --bench scaling`), fits log t = p·log d + c over d ≥ `--fit-from` for
//! each group, prints a markdown table and the exponents p, and draws the plot.

use crate::{seconds, CliResult};
use clap::Args;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `fwdrev report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Criterion's output folder.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// Where to write the PNG plot.
    #[arg(long, default_value = "docs/scaling.png")]
    plot: PathBuf,
    /// Where to write the chain bench's plot (measured vs predicted Jacobian times).
    #[arg(long, default_value = "docs/plans.png")]
    plans_plot: PathBuf,
    /// Smallest d used in the fits: below it fixed costs, not the O(d^p) term, dominate.
    #[arg(long, default_value_t = 1000)]
    fit_from: usize,
}

/// Series drawn and tabulated first, in this order; any other group follows by name.
const ORDER: &[&str] = &[
    "forward",
    "forward_64mib",
    "forward_f32",
    "reverse",
    "reverse_f32",
    "batch64_per_point",
    "batch64_f32_per_point",
    "thin64_per_point",
    "thin64_t_per_point",
    "gemm",
    "gemv",
    "stream",
];

/// (d, median seconds) per benchmark group, sorted by d.
pub type Series = BTreeMap<String, Vec<(usize, f64)>>;

/// Reads every `<group>/<d>/new/estimates.json` under `root`.
pub fn read_criterion(root: &Path) -> CliResult<Series> {
    let mut series = Series::new();
    let groups = std::fs::read_dir(root).map_err(|e| {
        format!(
            "{}: {e} (run `cargo bench --bench scaling` first)",
            root.display()
        )
    })?;
    for group in groups.flatten() {
        let Ok(sizes) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for size in sizes.flatten() {
            let Some(d) = size
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            let file = size.path().join("new/estimates.json");
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let ns = v["median"]["point_estimate"]
                .as_f64()
                .ok_or_else(|| format!("{}: no median.point_estimate", file.display()))?;
            let name = group.file_name().to_string_lossy().into_owned();
            series.entry(name).or_default().push((d, ns * 1e-9));
        }
    }
    series
        .values_mut()
        .for_each(|s| s.sort_unstable_by_key(|p| p.0));
    if series.is_empty() {
        return Err(format!("{}: no criterion estimates found", root.display()).into());
    }
    Ok(series)
}

/// Least-squares fit of log t = p·log d + c over the points with d ≥ `from`: (p, c).
/// None with fewer than two such sizes.
pub fn fit_loglog(points: &[(usize, f64)], from: usize) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.0 >= from && p.1 > 0.0)
        .map(|&(d, t)| ((d as f64).ln(), t.ln()))
        .collect();
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (pts.len() >= 2 && sxx > 0.0).then(|| {
        let p = sxy / sxx;
        (p, my - p * mx)
    })
}

fn ordered(series: &Series) -> Vec<&String> {
    let mut names: Vec<&String> = series.keys().collect();
    names.sort_by_key(|n| {
        (
            ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()),
            n.to_string(),
        )
    });
    names
}

/// A column of ratios: (p, q, s, name) gives p / (s(d)·q) at each d.
type Ratio = (&'static str, &'static str, fn(f64) -> f64, &'static str);

/// The markdown table: one row per d, one column per series, then the ratios.
pub fn table(series: &Series) -> String {
    let names = ordered(series);
    let at = |name: &str, d: usize| series.get(name)?.iter().find(|p| p.0 == d).map(|p| p.1);
    let mut ds: Vec<usize> = series.values().flatten().map(|p| p.0).collect();
    ds.sort_unstable();
    ds.dedup();
    // Floors at the square GEMM's rate: a batch point's 4·d² multiply-adds, 4·GEMM/d;
    // a thin product's d² per point, GEMM/d.
    let ratios: [Ratio; 11] = [
        ("forward", "reverse", |_| 1.0, "forward / reverse"),
        ("forward", "gemm", |_| 1.0, "forward / GEMM"),
        ("forward_64mib", "gemm", |_| 1.0, "64 MiB forward / GEMM"),
        ("reverse", "gemv", |_| 4.0, "reverse / 4 GEMV"),
        ("reverse", "stream", |_| 3.0, "reverse / 3 reads"),
        (
            "batch64_per_point",
            "reverse",
            |_| 1.0,
            "batch point / reverse",
        ),
        ("batch64_per_point", "gemm", |d| 4.0 / d, "batch / floor"),
        ("thin64_per_point", "gemm", |d| 1.0 / d, "W·X / floor"),
        ("thin64_t_per_point", "gemm", |d| 1.0 / d, "Wᵀ·X / floor"),
        ("reverse_f32", "reverse", |_| 1.0, "f32 / f64 reverse"),
        (
            "batch64_f32_per_point",
            "batch64_per_point",
            |_| 1.0,
            "f32 / f64 batch",
        ),
    ];
    let ratios: Vec<_> = ratios
        .into_iter()
        .filter(|r| series.contains_key(r.0) && series.contains_key(r.1))
        .collect();
    let mut out = String::from("| d |");
    names.iter().for_each(|n| out.push_str(&format!(" {n} |")));
    ratios
        .iter()
        .for_each(|r| out.push_str(&format!(" {} |", r.3)));
    out.push_str("\n|---:|");
    out.push_str(&"---:|".repeat(names.len() + ratios.len()));
    for d in ds {
        out.push_str(&format!("\n| {d} |"));
        for n in &names {
            out.push_str(&format!(" {} |", at(n, d).map_or("".into(), seconds)));
        }
        for r in &ratios {
            let v = at(r.0, d)
                .zip(at(r.1, d))
                .map(|(p, q)| p / (r.2(d as f64) * q));
            out.push_str(&format!(
                " {} |",
                v.map_or("".into(), |v| format!("{v:.3}"))
            ));
        }
    }
    out
}

/// `fwdrev report`: the scaling sweep's table, exponents and plot, then the small
/// networks' and the chain bench's parts, each where its bench has run.
pub fn run(args: &ReportArgs) -> CliResult {
    match read_criterion(&args.criterion) {
        Ok(series) => scaling(&series, args)?,
        // Only the other benches have run: report those alone.
        Err(_)
            if args.criterion.join("plans.json").exists()
                || args.criterion.join("small_floor").exists() => {}
        Err(e) => return Err(e),
    }
    crate::report_small::run(&args.criterion)?;
    crate::report_chain::run(&args.criterion, &args.plans_plot)
}

/// The scaling sweep's table, exponents and plot.
fn scaling(series: &Series, args: &ReportArgs) -> CliResult {
    outln!("{}\n", table(series));
    let mut fits = BTreeMap::new();
    for name in ordered(series) {
        match fit_loglog(&series[name], args.fit_from) {
            Some((p, c)) => {
                outln!(
                    "exponent of {name}: {p:.2} (time ∝ d^p, fitted over d ≥ {})",
                    args.fit_from
                );
                fits.insert(name.clone(), (p, c));
            }
            None => outln!(
                "exponent of {name}: fewer than two sizes ≥ {}",
                args.fit_from
            ),
        }
    }
    plot(series, &fits, args.fit_from, &args.plot)?;
    outln!("plot: {}\n", args.plot.display());
    Ok(())
}

/// Distinct on white, forward and reverse first.
const COLORS: [RGBColor; 8] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 100, 200),
    RGBColor(230, 130, 0),
    RGBColor(20, 150, 70),
    RGBColor(140, 60, 170),
    RGBColor(100, 100, 100),
    RGBColor(0, 170, 190),
    RGBColor(180, 120, 60),
];

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// A white PNG canvas of `size` pixels at `path` (its folder made), with the bundled
/// font registered as plotters' "sans-serif".
pub(crate) fn canvas(
    path: &Path,
    size: (u32, u32),
) -> CliResult<DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font is not a valid TrueType font")?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root)
}

/// Draws the legend (upper left, framed) and writes the image: how both reports end.
pub(crate) fn finish<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    root: &DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>,
) -> CliResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Time against d on log-log axes: measured points joined, fitted lines dashed.
fn plot(
    series: &Series,
    fits: &BTreeMap<String, (f64, f64)>,
    from: usize,
    path: &Path,
) -> CliResult {
    let all = series.values().flatten();
    let (dmin, dmax) = all
        .clone()
        .fold((usize::MAX, 0), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (tmin, tmax) = all.fold((f64::INFINITY, 0.0_f64), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let root = canvas(path, (900, 620))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "fwdrev: time per gradient, d0 = d1 = d2 = d ({})",
                fwdrev::backend().name
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (dmin as f64 / 1.2..dmax as f64 * 1.2).log_scale(),
            (tmin / 2.0..tmax * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("d")
        .y_desc("median time (s)")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (k, name) in ordered(series).into_iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let pts: Vec<(f64, f64)> = series[name].iter().map(|&(d, t)| (d as f64, t)).collect();
        let label = match fits.get(name) {
            Some((p, _)) => format!("{name} (slope {p:.2})"),
            None => name.clone(),
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        if let Some(&(p, c)) = fits.get(name) {
            let line = [from as f64, dmax as f64].map(|d| (d, (p * d.ln() + c).exp()));
            chart.draw_series(DashedLineSeries::new(line, 6, 4, color.stroke_width(1)))?;
        }
    }
    finish(&mut chart, &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_power_law() {
        let pts: Vec<(usize, f64)> = [100, 1000, 2000, 4000, 8000]
            .iter()
            .map(|&d| (d, 3e-11 * (d as f64).powi(3)))
            .collect();
        let (p, c) = fit_loglog(&pts, 1000).unwrap();
        assert!((p - 3.0).abs() < 1e-12, "{p}");
        assert!((c - 3e-11_f64.ln()).abs() < 1e-9);
        assert!(fit_loglog(&pts, 8000).is_none(), "one point fits no line");
    }

    #[test]
    fn table_has_a_row_per_size_and_the_ratios() {
        let mut s = Series::new();
        s.insert("forward".into(), vec![(100, 2e-3), (200, 16e-3)]);
        s.insert("reverse".into(), vec![(100, 1e-5), (200, 4e-5)]);
        let t = table(&s);
        assert_eq!(t.lines().count(), 4, "{t}");
        assert!(
            t.starts_with("| d | forward | reverse | forward / reverse |"),
            "{t}"
        );
        assert!(t.contains("| 200 | 16.00 ms | 40.0 µs | 400.000 |"), "{t}");
    }

    /// The f32 batch beside the f64 one: its series after it, and their ratio.
    #[test]
    fn the_f32_batch_is_tabulated_against_the_f64_one() {
        let mut s = Series::new();
        s.insert("batch64_f32_per_point".into(), vec![(1000, 1e-4)]);
        s.insert("batch64_per_point".into(), vec![(1000, 2e-4)]);
        let t = table(&s);
        assert!(
            t.starts_with("| d | batch64_per_point | batch64_f32_per_point | f32 / f64 batch |"),
            "{t}"
        );
        assert!(t.contains("| 1000 | 200.0 µs | 100.0 µs | 0.500 |"), "{t}");
    }
}
