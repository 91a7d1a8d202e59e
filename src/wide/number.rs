//! Numbers of unbounded exponent: m·2^e with 0.5 ≤ |m| < 1 and a 64-bit e, so no
//! product or sum of finite f64 values overflows; and sums kept scaled to their
//! largest term.

use crate::Real;

/// m·2^e with 0.5 ≤ |m| < 1, or m = 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Wide {
    pub(crate) m: f64,
    pub(crate) e: i64,
}

/// x = m·2^e with 0.5 ≤ |m| < 1 (frexp); (0, 0) for 0; (x, 0) for ±inf and NaN, which
/// then propagate (the wide path makes neither from finite inputs; a NaN that reached
/// a result would be an internal error, reported as one).
pub(crate) fn split(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = split(x * pow2(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, biased - 1022)
}

/// 2^k for −1074 ≤ k ≤ 1023; 0 below, inf above.
pub(crate) fn pow2(k: i64) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1 << (k + 1074))
    } else {
        0.0
    }
}

/// m·2^k for |m| < 2^60, rounding once at most (into the subnormals or to ±inf).
pub(crate) fn ldexp(m: f64, k: i64) -> f64 {
    if m == 0.0 {
        m
    } else if k > 1023 {
        m * pow2(1023) * pow2((k - 1023).min(1100))
    } else if k < -1022 {
        if k < -2200 {
            0.0 * m
        } else {
            // m·2^(k+1022) stays normal unless the result is 0 anyway.
            m * pow2((k + 1022).max(-1022)) * pow2(-1022)
        }
    } else {
        m * pow2(k)
    }
}

impl Wide {
    pub(crate) const ZERO: Wide = Wide { m: 0.0, e: 0 };

    pub(crate) fn from_f64(x: f64) -> Wide {
        let (m, e) = split(x);
        Wide { m, e }
    }

    /// m·2^e renormalised (a NaN `m` stays NaN).
    pub(crate) fn scaled(m: f64, e: i64) -> Wide {
        let (m, k) = split(m);
        if m == 0.0 {
            Wide::ZERO
        } else {
            Wide { m, e: e + k }
        }
    }

    /// Whether this is NaN: the trace of an internal error.
    pub(crate) fn is_nan(self) -> bool {
        self.m.is_nan()
    }

    /// Rounded to f64: ±inf beyond its range, 0 or subnormal below.
    pub(crate) fn to_f64(self) -> f64 {
        ldexp(self.m, self.e)
    }

    pub(crate) fn to_real<T: Real>(self) -> T {
        T::from_f64(self.to_f64())
    }

    pub(crate) fn mul(self, o: Wide) -> Wide {
        Wide::scaled(self.m * o.m, self.e + o.e)
    }

    pub(crate) fn mul_f64(self, s: f64) -> Wide {
        self.mul(Wide::from_f64(s))
    }

    pub(crate) fn add(self, o: Wide) -> Wide {
        let mut acc = Acc::EMPTY;
        acc.add(self.m, self.e);
        acc.add(o.m, o.e);
        acc.wide()
    }

    pub(crate) fn is_positive(self) -> bool {
        self.m > 0.0
    }

    pub(crate) fn neg(self) -> Wide {
        Wide { m: -self.m, ..self }
    }

    pub(crate) fn abs(self) -> Wide {
        Wide {
            m: self.m.abs(),
            ..self
        }
    }

    /// 1/x (x ≠ 0): 1/m ∈ (1, 2], so one rounding.
    pub(crate) fn recip(self) -> Wide {
        Wide::scaled(1.0 / self.m, -self.e)
    }
}

/// A sum kept as sum·2^e, e the largest exponent added so far: every term is scaled by
/// a power of two ≤ 1 (exact unless it underflows, i.e. is 2^1074 below the largest).
#[derive(Clone, Copy)]
pub(crate) struct Acc {
    sum: f64,
    e: i64,
}

impl Acc {
    pub(crate) const EMPTY: Acc = Acc {
        sum: 0.0,
        e: i64::MIN,
    };

    /// Adds m·2^e, |m| < 1.
    pub(crate) fn add(&mut self, m: f64, e: i64) {
        if m == 0.0 {
            return;
        }
        if e > self.e {
            if self.e != i64::MIN {
                self.sum = ldexp(self.sum, self.e - e);
            }
            self.e = e;
        }
        self.sum += ldexp(m, e - self.e);
    }

    /// Adds w·x.
    pub(crate) fn add_product(&mut self, w: f64, x: Wide) {
        if w == 0.0 || x.m == 0.0 {
            return;
        }
        let (m, e) = split(w);
        self.add(m * x.m, e + x.e);
    }

    pub(crate) fn wide(self) -> Wide {
        if self.e == i64::MIN {
            Wide::ZERO
        } else {
            Wide::scaled(self.sum, self.e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_ldexp_round_trip_every_magnitude() {
        for x in [
            1.0,
            -0.75,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -3e-320,
            1e308,
            std::f64::consts::PI,
        ] {
            let (m, e) = split(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: {m}");
            assert_eq!(ldexp(m, e), x);
        }
        assert_eq!(ldexp(0.5, 1025), f64::INFINITY);
        assert_eq!(ldexp(-0.5, 5000), f64::NEG_INFINITY);
        assert_eq!(ldexp(0.5, -1074), 0.0); // 2^−1075 rounds to even: 0
        assert_eq!(ldexp(0.75, -1073), 5e-324 * 2.0); // 1.5·2^−1074 rounds to 2·2^−1074
    }

    #[test]
    fn sums_of_huge_terms_cancel_exactly() {
        // 1e308 + 1e308 − 1e308 − 1e308 − 1e308 = −1e308: a plain sum reaches +inf first.
        let big = Wide::from_f64(1e308);
        let mut acc = Acc::EMPTY;
        for w in [1.0, 1.0, -1.0, -1.0, -1.0] {
            acc.add_product(w, big);
        }
        assert_eq!(acc.wide().to_f64(), -1e308);
        // 1e308·1e10 − 1e308·1e10 + 1e300 = 1e300: the products are beyond f64, the sum not.
        let mut acc = Acc::EMPTY;
        acc.add_product(1e10, big);
        acc.add_product(-1e10, big);
        acc.add_product(1e300, Wide::from_f64(1.0));
        assert_eq!(acc.wide().to_f64(), 1e300);
        assert_eq!(big.mul(big).mul_f64(3.0).to_f64(), f64::INFINITY);
        // (1e308)²·(−1e−310) = −1e306 (to the subnormal's own rounding, ~2.5e−14).
        let v = big.mul(big).mul_f64(-1e-310).to_f64();
        assert!((v / -1e306 - 1.0).abs() < 1e-12, "{v}");
    }
}
