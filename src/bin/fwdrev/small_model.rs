//! The small calls' floor model, shared by `fwdrev report` (from the small bench's
//! medians) and `examples/small_floor.rs` (round by round, interleaved).
//!
//! A call on a network of layer sizes m_k = d_k·d_{k−1} (M = Σ m_k multiply-adds per
//! sweep) and E = d_1 + … + d_L units makes: ∇f, JVP and VJP two sweeps (2M: the
//! forward pass and the reverse, or the value and its tangent), HVP four (value and
//! tangent forward, then the reverse of both); each evaluates σ and σ' once per unit,
//! HVP σ'' too (counted as a second evaluation). Two floors, at rates measured beside
//! the calls, σ and σ' at the crate's own rate over a slice (four lanes) in both:
//!
//! - registers: the multiply-adds at one core's peak, no loads;
//! - loads: the same, or the weights' loads at the rate a bare sweep over the shape's M
//!   weights makes them (from L2 or beyond, where the weights stay between calls),
//!   whichever takes longer. A matrix-vector product loads each weight once for all the
//!   vectors it multiplies: the JVP sweeps the weights once (value and tangent
//!   together); ∇f, VJP and HVP twice, but the last layer once (its row's adjoint is
//!   known as soon as the row's dot is: m_L in the same pass).
//!
//! The loads floor is a model: it counts M unpadded values (the rows on whole lines load a
//! little more), takes no layer as staying in L1 between the sweeps, and adds the
//! activations to the loads where they could overlap them, so a call may come in just
//! under it.

/// How many times a call must load the weights.
#[derive(Clone, Copy)]
pub enum Reads {
    /// Every weight once: M.
    Once,
    /// Forward and back, the last layer fused: 2M − m_L.
    TwiceButLast,
}

/// The calls in table order: (name, sweeps of M multiply-adds, weight loads,
/// activations per unit).
pub const CALLS: [(&str, f64, Reads, f64); 4] = [
    ("grad", 2.0, Reads::TwiceButLast, 1.0),
    ("jvp", 2.0, Reads::Once, 1.0),
    ("vjp", 2.0, Reads::TwiceButLast, 1.0),
    ("hvp", 4.0, Reads::TwiceButLast, 2.0),
];

/// Of the network "d0xd1x…": M (multiply-adds of a sweep), m_L (its last layer's) and E
/// (units).
pub struct Counts {
    /// Multiply-adds of a sweep: Σ m_k.
    pub m: f64,
    /// The last layer's: m_L.
    pub last: f64,
    /// Units: E.
    pub units: f64,
}

impl Counts {
    /// The counts of "d0xd1x…", None unless every width is a number.
    pub fn of(shape: &str) -> Option<Self> {
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

    /// Weights loaded by a call that loads them `reads` times.
    pub fn reads(&self, reads: Reads) -> f64 {
        match reads {
            Reads::Once => self.m,
            Reads::TwiceButLast => 2.0 * self.m - self.last,
        }
    }
}

/// Seconds per multiply-add, per weight loaded and per unit's activations, measured.
#[derive(Clone, Copy)]
pub struct Rates {
    /// A multiply-add at one core's peak.
    pub mac: f64,
    /// A weight loaded by a bare sweep over the shape's weights.
    pub load: f64,
    /// σ and σ' of one unit.
    pub act: f64,
}

/// A call's two floors, in seconds: (registers, loads).
pub fn floors(n: &Counts, (sweeps, reads, per_unit): (f64, Reads, f64), r: Rates) -> (f64, f64) {
    let (macs, acts) = (sweeps * n.m, per_unit * n.units);
    let registers = macs * r.mac + acts * r.act;
    let loads = (macs * r.mac).max(n.reads(reads) * r.load) + acts * r.act;
    (registers, loads)
}

#[cfg(test)]
mod tests {
    use super::{floors, Counts, Rates, Reads};

    #[test]
    fn counts_follow_the_widths() {
        let n = Counts::of("100x105x95").unwrap();
        let (first, last) = (105.0 * 100.0, 95.0 * 105.0);
        assert_eq!((n.m, n.last, n.units), (first + last, last, 200.0));
        assert_eq!(n.reads(Reads::Once), first + last);
        assert_eq!(n.reads(Reads::TwiceButLast), 2.0 * first + last);
        assert!(Counts::of("3").is_none());
        // The HVP's loads floor: its 4M multiply-adds at 1 ns, or 2M − m_L loads at 3 ns,
        // whichever is longer, + 2 activations a unit at 10 ns.
        let r = Rates {
            mac: 1e-9,
            load: 3e-9,
            act: 10e-9,
        };
        let (registers, loads) = floors(&n, (4.0, Reads::TwiceButLast, 2.0), r);
        let acts = 2.0 * 200.0 * 10e-9;
        assert!((registers - (4.0 * (first + last) * 1e-9 + acts)).abs() < 1e-15);
        assert!((loads - ((2.0 * first + last) * 3e-9 + acts)).abs() < 1e-15);
        assert!(Counts::of("3xq").is_none());
    }
}
