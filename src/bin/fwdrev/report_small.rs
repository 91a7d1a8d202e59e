//! The small-network bench's part of the report: each call beside its multiply-add +
//! activation floors ([`small_model`](crate::small_model)), from `cargo bench --bench
//! small`, its floors at the rates the bench's `small_floor` group measured in the same
//! run (`mac`, `sigmoid`, and `read/<shape>` for the loads). Criterion runs each group
//! after the other, so a machine whose speed moves between them moves these ratios too;
//! `examples/small_floor.rs` measures the same ratios round by round, interleaved.

use crate::report_chain::medians;
use crate::small_model::{floors, Counts, Rates, CALLS};
use crate::{seconds, CliResult};
use std::path::Path;

/// Prints the table when the small bench has run; nothing otherwise.
pub fn run(root: &Path) -> CliResult {
    let unit = |what: &str| {
        let m = medians(root, &format!("small_floor/{what}"));
        m.iter()
            .next()
            .and_then(|(n, t)| Some(t / n.parse::<f64>().ok()?))
    };
    let (Some(mac), Some(act)) = (unit("mac"), unit("sigmoid")) else {
        return Ok(());
    };
    // Seconds per weight a sweep loads, by shape.
    let read = medians(root, "small_floor/read");
    outln!(
        "Small networks, one thread (`Par::Seq`), f64: each call beside its floors, its \
         multiply-adds at {:.3} ns (registers), or its weights loaded at the rate of a \
         sweep over them if slower (loads), and σ with σ' at {:.2} ns (measured in the \
         same run, after the calls: where the machine's speed moves, \
         `examples/small_floor.rs` times each call beside its floors, round by round)\n",
        mac * 1e9,
        act * 1e9
    );
    outln!(
        "| widths | call | time | multiply-adds | activations | floor (registers) | \
         ÷ registers | weights loaded (values) | load rate | floor (loads) | ÷ loads |"
    );
    outln!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (call, sweeps, reads, per_unit) in CALLS {
        for (shape, t) in medians(root, &format!("small/{call}")) {
            let Some(n) = Counts::of(&shape) else {
                continue;
            };
            let load = read.get(&shape).map(|t| t / n.m);
            let rates = Rates {
                mac,
                load: load.unwrap_or(0.0),
                act,
            };
            let (registers, loads) = floors(&n, (sweeps, reads, per_unit), rates);
            let by_loads = match load {
                Some(l) => format!(
                    "{:.0} GB/s | {} | {:.2}",
                    8.0 / l * 1e-9,
                    seconds(loads),
                    t / loads
                ),
                None => "– | – | –".into(),
            };
            outln!(
                "| {shape} | {call} | {} | {:.0} | {:.0} | {} | {:.2} | {:.0} | {by_loads} |",
                seconds(t),
                sweeps * n.m,
                per_unit * n.units,
                seconds(registers),
                t / registers,
                n.reads(reads)
            );
        }
    }
    outln!("");
    Ok(())
}
