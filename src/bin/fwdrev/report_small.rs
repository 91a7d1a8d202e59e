//! The small-network bench's part of the report: each call beside its multiply-add +
//! activation floor, from `cargo bench --bench small`.
//!
//! A call on a network of layer sizes m_k = d_k·d_{k−1} (M = Σ m_k multiply-adds per
//! sweep) and E = d_1 + … + d_L units makes: ∇f, JVP and VJP two sweeps (2M: the
//! forward pass and the reverse, or the value and its tangent), HVP four (value and
//! tangent forward, then the reverse of both); each evaluates σ and σ' once per unit,
//! HVP σ'' too (counted as a second evaluation). The floor is those counts at the rates
//! `small_floor` measured in the same run: multiply-adds at one core's peak (registers
//! only, no loads), σ and σ' at the crate's own rate over a slice (four lanes).

use crate::report_chain::medians;
use crate::{seconds, CliResult};
use std::path::Path;

/// The calls in table order: (name, sweeps of M multiply-adds, activations per unit).
const CALLS: [(&str, f64, f64); 4] = [
    ("grad", 2.0, 1.0),
    ("jvp", 2.0, 1.0),
    ("vjp", 2.0, 1.0),
    ("hvp", 4.0, 2.0),
];

/// Multiply-adds (M) and units (E) of the network "d0xd1x…".
fn counts(shape: &str) -> Option<(f64, f64)> {
    let d: Vec<f64> = shape
        .split('x')
        .map(|w| w.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let m = d.windows(2).map(|w| w[0] * w[1]).sum();
    (d.len() >= 2).then(|| (m, d[1..].iter().sum()))
}

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
    outln!(
        "Small networks, one thread (`Par::Seq`), f64: each call beside its floor, its \
         multiply-adds at {:.3} ns and σ with σ' at {:.2} ns (measured in the same run)\n",
        mac * 1e9,
        act * 1e9
    );
    outln!("| widths | call | time | multiply-adds | activations | floor | time / floor |");
    outln!("|---|---|---:|---:|---:|---:|---:|");
    for (call, sweeps, per_unit) in CALLS {
        for (shape, t) in medians(root, &format!("small/{call}")) {
            let Some((m, e)) = counts(&shape) else {
                continue;
            };
            let (macs, acts) = (sweeps * m, per_unit * e);
            let floor = macs * mac + acts * act;
            outln!(
                "| {shape} | {call} | {} | {macs:.0} | {acts:.0} | {} | {:.2} |",
                seconds(t),
                seconds(floor),
                t / floor
            );
        }
    }
    outln!("");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_follow_the_widths() {
        assert_eq!(
            super::counts("100x105x95"),
            Some((105.0 * 100.0 + 95.0 * 105.0, 200.0))
        );
        assert_eq!(super::counts("3"), None);
        assert_eq!(super::counts("3xq"), None);
    }
}
