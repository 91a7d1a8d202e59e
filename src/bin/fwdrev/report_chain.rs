//! The chain bench's part of the report: Jacobians by mode, measured beside predicted,
//! and JVP/VJP/HVP per shape, from `cargo bench --bench chain`.

use crate::{seconds, CliResult};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Median seconds per parameter of one criterion group (any parameter, not only d).
pub(crate) fn medians(root: &Path, group: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root.join(group)) else {
        return out;
    };
    for e in entries.flatten() {
        let file = e.path().join("new/estimates.json");
        let Some(ns) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64())
        else {
            continue;
        };
        out.insert(e.file_name().to_string_lossy().into_owned(), ns * 1e-9);
    }
    out
}

/// One plan of plans.json with its measured median.
struct Row {
    shape: String,
    mode: String,
    plan: String,
    /// "19 × 8 rows" where the budget cuts more than one panel.
    panels: Option<String>,
    predicted: f64,
    flops: f64,
    measured: Option<f64>,
}

/// Reads plans.json and the jacobian_* groups; None when the chain bench has not run.
fn rows(root: &Path) -> CliResult<Option<(Vec<Row>, Value)>> {
    let Ok(text) = std::fs::read_to_string(root.join("plans.json")) else {
        return Ok(None);
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("plans.json: {e}"))?;
    let mut groups: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut rows = Vec::new();
    for p in v["plans"].as_array().into_iter().flatten() {
        let group = p["group"].as_str().unwrap_or_default().to_string();
        let times = groups
            .entry(group.clone())
            .or_insert_with(|| medians(root, &group));
        let shape = p["shape"].as_str().unwrap_or_default().to_string();
        rows.push(Row {
            measured: times.get(&shape).copied(),
            shape,
            mode: p["mode"].as_str().unwrap_or_default().into(),
            plan: p["plan"].as_str().unwrap_or_default().into(),
            panels: match p["panels"]["count"].as_u64() {
                Some(n) if n > 1 => Some(format!(
                    "{n} × {} {}",
                    p["panels"]["width"],
                    p["panels"]["side"].as_str().unwrap_or_default()
                )),
                _ => None,
            },
            predicted: p["predicted_s"].as_f64().unwrap_or(f64::NAN),
            flops: p["predicted_flops"].as_f64().unwrap_or(f64::NAN),
        });
    }
    Ok(Some((rows, v["calibration"].clone())))
}

/// The markdown tables and the plot; nothing when the chain bench has not run.
pub fn run(root: &Path, plot_path: &Path) -> CliResult {
    let Some((rows, calibration)) = rows(root)? else {
        return Ok(());
    };
    let mut shapes: Vec<&str> = rows.iter().map(|r| r.shape.as_str()).collect();
    shapes.dedup();
    let find = |shape: &str, mode: &str| rows.iter().find(|r| r.shape == shape && r.mode == mode);
    let cell = |r: Option<&Row>| match r {
        Some(r) => format!(
            "{} / {}",
            seconds(r.predicted),
            r.measured.map_or("–".into(), seconds)
        ),
        None => "–".into(),
    };
    outln!(
        "Jacobians, predicted / measured (calibration of the bench run: {calibration}); \
            `@KiB`: run within that memory budget, the plan's panels in brackets\n"
    );
    outln!("| widths | forward | reverse | auto plan | auto multiply-adds | auto | best of forward, reverse / auto |");
    outln!("|---|---:|---:|---|---:|---:|---:|");
    for shape in &shapes {
        let (f, r, a) = (
            find(shape, "forward"),
            find(shape, "reverse"),
            find(shape, "auto"),
        );
        let best = f
            .and_then(|f| f.measured)
            .zip(r.and_then(|r| r.measured))
            .map(|(p, q)| p.min(q));
        // Where auto runs forward's or reverse's own plan the ratio is run-to-run noise.
        let same = [f, r]
            .into_iter()
            .flatten()
            .find(|o| a.is_some_and(|a| a.plan == o.plan))
            .map(|o| format!(" (= {} plan)", o.mode))
            .unwrap_or_default();
        let speedup = best
            .zip(a.and_then(|a| a.measured))
            .map_or("–".into(), |(b, a)| format!("{:.2}×{same}", b / a));
        outln!(
            "| {} | {} | {} | {} | {:.2e} | {} | {} |",
            shape.replace('-', ","),
            cell(f),
            cell(r),
            a.map_or("–".into(), |a| match &a.panels {
                Some(p) => format!("{} [{p}]", a.plan),
                None => a.plan.clone(),
            }),
            a.map_or(f64::NAN, |a| a.flops),
            cell(a),
            speedup
        );
    }
    let products: Vec<(&str, BTreeMap<String, f64>)> = ["jvp", "vjp", "hvp"]
        .into_iter()
        .map(|g| (g, medians(root, g)))
        .collect();
    // This run's shapes and depths (older runs at other scales may share the folder).
    let mut labels: Vec<&String> = products
        .iter()
        .flat_map(|(_, m)| m.keys())
        .filter(|l| l.starts_with("depth") || shapes.contains(&l.as_str()))
        .collect();
    labels.sort_by_key(|l| {
        (
            l.starts_with("depth"),
            shapes.iter().position(|s| s == l),
            l.to_string(),
        )
    });
    labels.dedup();
    if !labels.is_empty() {
        outln!("\n| widths | jvp | vjp | hvp | hvp / vjp |");
        outln!("|---|---:|---:|---:|---:|");
        for label in labels {
            let t: Vec<Option<f64>> = products
                .iter()
                .map(|(_, m)| m.get(label).copied())
                .collect();
            let ratio = t[2]
                .zip(t[1])
                .map_or("–".into(), |(h, v)| format!("{:.2}", h / v));
            outln!(
                "| {} | {} | {} | {} | {ratio} |",
                label.replace('-', ","),
                t[0].map_or("–".into(), seconds),
                t[1].map_or("–".into(), seconds),
                t[2].map_or("–".into(), seconds)
            );
        }
    }
    plot(&rows, plot_path)?;
    outln!("\nplot: {}", plot_path.display());
    Ok(())
}

/// Measured against predicted seconds, log-log, one colour per mode, the line y = x.
fn plot(rows: &[Row], path: &Path) -> CliResult {
    let pts: Vec<(&str, f64, f64)> = rows
        .iter()
        .filter_map(|r| r.measured.map(|m| (r.mode.as_str(), r.predicted, m)))
        .filter(|p| p.1 > 0.0 && p.2 > 0.0)
        .collect();
    if pts.is_empty() {
        return Ok(());
    }
    let lo = pts
        .iter()
        .map(|p| p.1.min(p.2))
        .fold(f64::INFINITY, f64::min)
        / 1.5;
    let hi = pts.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max) * 1.5;
    let root = crate::report::canvas(path, (760, 640))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Jacobians: measured vs predicted ({})",
                fwdrev::backend().name
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("predicted (s)")
        .y_desc("measured median (s)")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))?;
    let colors = [
        ("forward", RGBColor(200, 30, 30)),
        ("reverse", RGBColor(30, 100, 200)),
        ("auto", RGBColor(20, 150, 70)),
    ];
    for (mode, color) in colors {
        let mine: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.0 == mode)
            .map(|p| (p.1, p.2))
            .collect();
        chart
            .draw_series(mine.iter().map(|&p| Circle::new(p, 5, color.filled())))?
            .label(mode)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    crate::report::finish(&mut chart, &root)
}
