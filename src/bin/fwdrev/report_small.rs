//! The small-network bench's part of the report: each call beside its multiply-add +
//! activation floors, from `cargo bench --bench small`.
//!
//! A call on a network of layer sizes m_k = d_k·d_{k−1} (M = Σ m_k multiply-adds per
//! sweep) and E = d_1 + … + d_L units makes: ∇f, JVP and VJP two sweeps (2M: the
//! forward pass and the reverse, or the value and its tangent), HVP four (value and
//! tangent forward, then the reverse of both); each evaluates σ and σ' once per unit,
//! HVP σ'' too (counted as a second evaluation). Two floors, at the rates `small_floor`
//! measured in the same run, σ and σ' at the crate's own rate over a slice (four lanes)
//! in both:
//!
//! - registers: the multiply-adds at one core's peak, no loads;
//! - loads: the same, or the weights' loads at the rate a bare sweep over the shape's M
//!   weights makes them (`read/<shape>`, from L2 or beyond, where the weights stay between
//!   calls), whichever takes longer. A matrix-vector product loads each weight once
//!   for all the vectors it multiplies: the JVP sweeps the weights once (value and
//!   tangent together); ∇f, VJP and HVP twice, but the last layer once (its row's
//!   adjoint is known as soon as the row's dot is: m_L in the same pass).
//!
//! The loads floor is a model: it counts M unpadded values (the rows on whole lines load a
//! little more), takes no layer as staying in L1 between the sweeps, and adds the
//! activations to the loads where they could overlap them, so a call may come in just
//! under it.

use crate::report_chain::medians;
use crate::{seconds, CliResult};
use std::path::Path;

/// How many times a call must load the weights.
#[derive(Clone, Copy)]
enum Reads {
    /// Every weight once: M.
    Once,
    /// Forward and back, the last layer fused: 2M − m_L.
    TwiceButLast,
}

/// The calls in table order: (name, sweeps of M multiply-adds, weight loads,
/// activations per unit).
const CALLS: [(&str, f64, Reads, f64); 4] = [
    ("grad", 2.0, Reads::TwiceButLast, 1.0),
    ("jvp", 2.0, Reads::Once, 1.0),
    ("vjp", 2.0, Reads::TwiceButLast, 1.0),
    ("hvp", 4.0, Reads::TwiceButLast, 2.0),
];

/// Of the network "d0xd1x…": M (multiply-adds of a sweep), m_L (its last layer's) and E
/// (units).
struct Counts {
    m: f64,
    last: f64,
    units: f64,
}

impl Counts {
    fn of(shape: &str) -> Option<Self> {
        let d: Vec<f64> = shape
            .split('x')
            .map(|w| w.parse::<f64>().ok())
            .collect::<Option<_>>()?;
        let sizes: Vec<f64> = d.windows(2).map(|w| w[0] * w[1]).collect();
        Some(Counts {
            m: sizes.iter().sum(),
            last: *sizes.last()?,
            units: d[1..].iter().sum(),
        })
    }

    fn reads(&self, reads: Reads) -> f64 {
        match reads {
            Reads::Once => self.m,
            Reads::TwiceButLast => 2.0 * self.m - self.last,
        }
    }
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
    // Seconds per weight a sweep loads, by shape.
    let read = medians(root, "small_floor/read");
    let load = |shape: &str, n: &Counts| read.get(shape).map(|t| t / n.m);
    outln!(
        "Small networks, one thread (`Par::Seq`), f64: each call beside its floors, its \
         multiply-adds at {:.3} ns (registers), or its weights loaded at the rate of a \
         sweep over them if slower (loads), and σ with σ' at {:.2} ns (measured in the \
         same run)\n",
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
            let (macs, acts, loads) = (sweeps * n.m, per_unit * n.units, n.reads(reads));
            let floor = macs * mac + acts * act;
            let by_loads = match load(&shape, &n) {
                Some(l) => {
                    let f = (macs * mac).max(loads * l) + acts * act;
                    format!("{:.0} GB/s | {} | {:.2}", 8.0 / l * 1e-9, seconds(f), t / f)
                }
                None => "– | – | –".into(),
            };
            outln!(
                "| {shape} | {call} | {} | {macs:.0} | {acts:.0} | {} | {:.2} | {loads:.0} | \
                 {by_loads} |",
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
    use super::{Counts, Reads};

    #[test]
    fn counts_follow_the_widths() {
        let n = Counts::of("100x105x95").unwrap();
        let (first, last) = (105.0 * 100.0, 95.0 * 105.0);
        assert_eq!((n.m, n.last, n.units), (first + last, last, 200.0));
        assert_eq!(n.reads(Reads::Once), first + last);
        assert_eq!(n.reads(Reads::TwiceButLast), 2.0 * first + last);
        assert!(Counts::of("3").is_none());
        assert!(Counts::of("3xq").is_none());
    }
}
