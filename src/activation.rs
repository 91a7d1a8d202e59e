//! Everything about an activation φ, in one place: its value, slope φ' and curvature
//! φ'' in forms that neither overflow nor cancel, how much it can grow a value, its
//! steepest slope, and its limits far out. The rest of the crate asks an
//! [`Activation`] only these; adding one is a variant and its arm in each method here.
//!
//! The logistic sigmoid underlies most of them. With e = exp(−|t|) ∈ (0, 1]:
//! σ(t) = 1/(1+e) for t ≥ 0 and e/(1+e) for t < 0, σ'(t) = e/(1+e)² = 1/(2(1+cosh t)).
//! No exp of a positive number is taken, so nothing overflows; σ' is computed directly
//! rather than as σ(1−σ), which is 0 once σ rounds to 1 (t ≳ 37 in f64) while the true
//! value is e^−t. For |t| = ∞ both are exact (σ ∈ {0, 1}, σ' = 0).
//!
//! Flushes. Values below the smallest normal number, and slopes and (for SiLU and
//! GELU) curvatures below ε·√(smallest normal) (≈ 6.5e−27 in f32, |t| ≳ 60 for σ';
//! ≈ 3.3e−170 in f64, |t| ≳ 390), are 0: their products with weights of ordinary size
//! would be subnormal, which costs ~100× per operation on x86 (f32 forward mode ran
//! 4.5–25× slower than its GEMM with exact tiny slopes).

use crate::{Error, Real};

/// A layer's elementwise activation φ.
///
/// Derivatives at kinks follow PyTorch and JAX: ReLU'(0) = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// σ(t) = 1/(1+e^−t); σ' = σ(1−σ), σ'' = σ'·(1−2σ).
    Sigmoid,
    /// tanh t; tanh' = 1 − tanh² = 4e/(1+e)² with e = e^−2|t|, tanh'' = −2·tanh·tanh'.
    Tanh,
    /// log(1+e^t) = max(t, 0) + log1p(e^−|t|); softplus' = σ, softplus'' = σ'
    /// (PyTorch's `Softplus()` with β = 1).
    Softplus,
    /// max(t, 0); slope 1 for t > 0, else 0; curvature 0.
    Relu,
    /// t; slope 1, curvature 0: a linear layer.
    Identity,
    /// SiLU (swish), t·σ(t); SiLU' = σ + t·σ', SiLU'' = σ'·(2 + t·(1−2σ)).
    Silu,
    /// GELU in its exact form t·Φ(t), Φ(t) = erfc(−t/√2)/2 (PyTorch's default
    /// `approximate='none'`); GELU' = Φ + t·ϕ, GELU'' = ϕ·(2 − t²), ϕ the normal density.
    Gelu,
}

/// Which way t goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Infinity {
    /// t → +∞.
    Plus,
    /// t → −∞.
    Minus,
}

/// What φ, φ' and φ'' tend to as t → +∞ or −∞: the wide-range path's values for
/// pre-activations beyond 2^1000, where no f64 evaluation is meaningful.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tail {
    /// φ(t): a constant, or t itself.
    pub(crate) value: TailValue,
    /// φ'(t).
    pub(crate) slope: f64,
    /// φ''(t).
    pub(crate) curvature: f64,
}

/// φ(t) far out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TailValue {
    /// A constant (σ → 0 or 1, tanh → ±1, ReLU → 0 below).
    Constant(f64),
    /// t itself (ReLU, softplus, SiLU and GELU above, the identity).
    Input,
}

const fn tail(value: TailValue, slope: f64) -> Tail {
    Tail {
        value,
        slope,
        curvature: 0.0,
    }
}

impl Activation {
    /// Every activation, in the order of the command line's list.
    pub const ALL: [Activation; 7] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Relu,
        Activation::Identity,
        Activation::Silu,
        Activation::Gelu,
    ];

    /// `"sigmoid"`, `"tanh"`, `"softplus"`, `"relu"`, `"identity"`, `"silu"` or `"gelu"`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
        }
    }

    /// (φ(t), φ'(t)), flushed as the module says.
    #[inline]
    pub fn value_and_slope<T: Real>(self, t: T) -> (T, T) {
        let one = T::one();
        match self {
            Activation::Sigmoid => sigmoid(t),
            Activation::Tanh => {
                let e = (-(t.abs() + t.abs())).exp();
                let r = one / (one + e);
                let th = (one - e) * r;
                let four = (one + one) * (one + one);
                let v = if t < T::zero() { -th } else { th };
                (v, flush_slope(four * e * r * r))
            }
            Activation::Softplus => {
                let (s, _) = sigmoid(t);
                (t.max(T::zero()) + (-t.abs()).exp().ln_1p(), s)
            }
            Activation::Relu => {
                if t > T::zero() {
                    (t, one)
                } else {
                    (T::zero(), T::zero())
                }
            }
            Activation::Identity => (t, one),
            Activation::Silu => {
                let (s, ds) = logistic(t);
                (flush_value(t * s), flush_slope(s + t * ds))
            }
            Activation::Gelu => {
                let (phi, p) = normal(t.as_f64());
                let t64 = t.as_f64();
                (
                    flush_value(T::from_f64(t64 * phi)),
                    flush_slope(T::from_f64(phi + t64 * p)),
                )
            }
        }
    }

    /// φ''(t), the curvature that Hessian-vector products need.
    #[inline]
    pub fn curvature<T: Real>(self, t: T) -> T {
        let two = T::one() + T::one();
        match self {
            Activation::Sigmoid => {
                let (s, ds) = sigmoid(t);
                // 1 − 2σ = (1−σ) − σ; for t > 0 use 1−σ = σ(−t) to keep it exact.
                let (p, q) = if t > T::zero() {
                    (sigmoid(-t).0, s)
                } else {
                    (T::one() - s, s)
                };
                ds * (p - q)
            }
            Activation::Tanh => {
                let (th, d) = self.value_and_slope(t);
                -two * th * d
            }
            Activation::Softplus => sigmoid(t).1,
            Activation::Relu | Activation::Identity => T::zero(),
            Activation::Silu => {
                let (s, ds) = logistic(t);
                // 1 − σ(t) = σ(−t), exact for t > 0 where σ rounds toward 1.
                let rest = if t > T::zero() {
                    logistic(-t).0
                } else {
                    T::one() - s
                };
                flush_slope(ds * (two + t * (rest - s)))
            }
            Activation::Gelu => {
                let (t64, (_, p)) = (t.as_f64(), normal(t.as_f64()));
                // ϕ·(2 − t²) as 2ϕ − t·(t·ϕ): t² overflows where ϕ is already 0.
                flush_slope(T::from_f64(2.0 * p - t64 * (t64 * p)))
            }
        }
    }

    /// An upper bound of |φ(y)| over |y| ≤ `y_max`: how large a layer's output can be.
    /// The forward pass's overflow bound (`guard.rs`) chains these.
    pub(crate) fn bound(self, y_max: f64) -> f64 {
        match self {
            Activation::Sigmoid | Activation::Tanh => 1.0,
            // log(1 + e^y) ≤ max(y, 0) + log 2.
            Activation::Softplus => y_max + 1.0,
            // |t·σ(t)|, |t·Φ(t)| ≤ |t|.
            Activation::Relu | Activation::Identity | Activation::Silu | Activation::Gelu => y_max,
        }
    }

    /// An upper bound of |φ'| over all t: the Jacobian chain's overflow bound.
    pub(crate) fn max_slope(self) -> f64 {
        match self {
            Activation::Sigmoid => 0.25,
            Activation::Tanh | Activation::Softplus | Activation::Relu | Activation::Identity => {
                1.0
            }
            // max SiLU' = 1.0998 (t ≈ 2.40), max GELU' = 1.1289 (t = √2).
            Activation::Silu => 1.1,
            Activation::Gelu => 1.13,
        }
    }

    /// φ, φ', φ'' as t → +∞ or −∞.
    pub(crate) fn tail(self, toward: Infinity) -> Tail {
        use Infinity::{Minus, Plus};
        use TailValue::{Constant, Input};
        match (self, toward) {
            (Activation::Sigmoid, Plus) => tail(Constant(1.0), 0.0),
            (Activation::Tanh, Plus) => tail(Constant(1.0), 0.0),
            (Activation::Tanh, Minus) => tail(Constant(-1.0), 0.0),
            (Activation::Identity, _) => tail(Input, 1.0),
            (
                Activation::Softplus | Activation::Relu | Activation::Silu | Activation::Gelu,
                Plus,
            ) => tail(Input, 1.0),
            (
                Activation::Sigmoid
                | Activation::Softplus
                | Activation::Relu
                | Activation::Silu
                | Activation::Gelu,
                Minus,
            ) => tail(Constant(0.0), 0.0),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The command line's `--activation` values: the names, without the formulas.
#[cfg(feature = "cli")]
impl clap::ValueEnum for Activation {
    fn value_variants<'a>() -> &'a [Self] {
        &Activation::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

/// Parses a [`name`](Activation::name); anything else is [`Error::Unknown`] listing them.
impl std::str::FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        crate::error::by_name("activation", &Activation::ALL, Activation::name, s)
    }
}

/// (σ(t), σ'(t)) from one exp, neither flushed: e = exp(−|t|), r = 1/(1+e).
#[inline]
fn logistic<T: Real>(t: T) -> (T, T) {
    let one = T::one();
    let e = (-t.abs()).exp();
    let r = one / (one + e);
    let s = if t >= T::zero() { r } else { e * r };
    (s, e * r * r)
}

/// (σ(t), σ'(t)), flushed.
#[inline]
fn sigmoid<T: Real>(t: T) -> (T, T) {
    let (s, ds) = logistic(t);
    (flush_value(s), flush_slope(ds))
}

/// (Φ(t), ϕ(t)) of the standard normal, in f64: Φ = erfc(−t/√2)/2 is accurate in
/// both tails, where 1 − erfc(t/√2)/2 would cancel.
#[inline]
fn normal(t: f64) -> (f64, f64) {
    const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    (
        0.5 * libm::erfc(-t * std::f64::consts::FRAC_1_SQRT_2),
        FRAC_1_SQRT_2PI * (-0.5 * t * t).exp(),
    )
}

/// Values below the smallest normal number are 0.
#[inline]
fn flush_value<T: Real>(v: T) -> T {
    if v.abs() < T::min_positive_value() {
        T::zero()
    } else {
        v
    }
}

/// Slopes too small for their products with ordinary weights to be normal numbers are 0.
#[inline]
fn flush_slope<T: Real>(ds: T) -> T {
    if ds.abs() < T::epsilon() * T::min_positive_value().sqrt() {
        T::zero()
    } else {
        ds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_below_the_normal_range_are_flushed_to_zero() {
        let s = |t: f32| Activation::Sigmoid.value_and_slope(t);
        // f32: σ'(55) ≈ 1.3e-24 is kept, σ'(65) ≈ 5.9e-29 is below 6.5e-27.
        assert!(s(55.0).1 > 1e-24);
        assert_eq!(s(65.0).1, 0.0);
        // σ itself keeps every normal value: σ(−80) ≈ 1.8e-35, σ(−90) would be subnormal.
        assert!(s(-80.0).0 >= f32::MIN_POSITIVE);
        assert_eq!(s(-90.0).0, 0.0);
        let s = |t: f64| Activation::Sigmoid.value_and_slope(t);
        // f64: σ'(380) ≈ 3e-165 kept, σ'(400) ≈ 1.9e-174 flushed; σ at −700 / −720.
        assert!(s(-380.0).1 > 1e-166);
        assert_eq!(s(400.0).1, 0.0);
        assert!(s(-700.0).0 >= f64::MIN_POSITIVE);
        assert_eq!(s(-720.0).0, 0.0);
    }

    #[test]
    fn names_parse_back_and_unknown_names_list_the_known_ones() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        let e = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("swish") && e.contains("silu, gelu"), "{e}");
    }

    /// The flushed derivatives against central differences of the function itself,
    /// away from kinks: a wrong formula is off by O(1).
    #[test]
    fn slopes_and_curvatures_are_the_derivatives() {
        for a in Activation::ALL {
            for t in [-7.3_f64, -2.0, -0.6, 0.3, 1.1, 4.0, 9.5] {
                let h = 1e-5;
                let f = |t: f64| a.value_and_slope(t).0;
                let g = |t: f64| a.value_and_slope(t).1;
                let (v, d) = a.value_and_slope(t);
                assert!(v.is_finite());
                let fd = (f(t + h) - f(t - h)) / (2.0 * h);
                assert!((d - fd).abs() <= 1e-8 * (1.0 + d.abs()), "{a} φ'({t})");
                let cd = (g(t + h) - g(t - h)) / (2.0 * h);
                let c = a.curvature(t);
                assert!((c - cd).abs() <= 1e-8 * (1.0 + c.abs()), "{a} φ''({t})");
            }
        }
    }

    /// Far out every value, slope and curvature is finite (no NaN from ∞·0 or ∞ − ∞),
    /// and matches the stated tail.
    #[test]
    fn extreme_arguments_meet_their_tails() {
        for a in Activation::ALL {
            for t in [f64::MAX, 1e300, 1e20, -1e20, -1e300, -f64::MAX] {
                let t: f64 = t;
                let (v, s) = a.value_and_slope(t);
                let c = a.curvature(t);
                assert!(v.is_finite() && s.is_finite() && c.is_finite(), "{a}({t})");
                let tail = a.tail(if t > 0.0 {
                    Infinity::Plus
                } else {
                    Infinity::Minus
                });
                let want = match tail.value {
                    TailValue::Constant(k) => k,
                    TailValue::Input => t,
                };
                assert_eq!((v, s, c), (want, tail.slope, tail.curvature), "{a}({t})");
                assert!(v.abs() <= a.bound(t.abs()), "{a}({t})");
            }
            for t in (-400..400).map(|i| i as f64 * 0.05) {
                assert!(a.value_and_slope(t).1.abs() <= a.max_slope(), "{a}'({t})");
            }
        }
    }
}
