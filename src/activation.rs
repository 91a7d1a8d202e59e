//! The activations φ of the layers, with φ' and φ'', in forms that neither overflow nor
//! cancel; first of them the logistic sigmoid.
//!
//! With e = exp(−|t|) ∈ (0, 1]:
//! σ(t) = 1/(1+e) for t ≥ 0 and e/(1+e) for t < 0, σ'(t) = e/(1+e)² = 1/(2(1+cosh t)).
//! No exp of a positive number is taken, so nothing overflows; σ' is computed directly
//! rather than as σ(1−σ), which is 0 once σ rounds to 1 (t ≳ 37 in f64) while the true
//! value is e^−t, down to ~3e−170 (see [`sigmoid_and_derivative`] for the flushes). For
//! |t| = ∞ both are exact (σ ∈ {0, 1}, σ' = 0).

use crate::Real;

/// σ(t) = 1/(1+e^−t), without overflow for any t.
#[inline]
pub fn sigmoid<T: Real>(t: T) -> T {
    sigmoid_and_derivative(t).0
}

/// σ'(t) = σ(t)(1−σ(t)) = e/(1+e)² with e = exp(−|t|): finite for every t, exact in the tails.
#[inline]
pub fn sigmoid_derivative<T: Real>(t: T) -> T {
    sigmoid_and_derivative(t).1
}

/// (σ(t), σ'(t)) from a single exp.
///
/// Two flushes to 0, both far below what either type resolves: σ(t) below the smallest
/// normal number (t ≲ −87 in f32, ≲ −708 in f64), and σ'(t) below ε·√(smallest normal)
/// (≈ 6.5e−27 in f32, |t| ≳ 60; ≈ 3.3e−170 in f64, |t| ≳ 390). Such a slope's products
/// with weights of ordinary size would be subnormal, and subnormal arithmetic costs ~100×
/// on x86: with exact tiny slopes f32 forward mode at d = 4000 ran 4.5–25× slower than
/// its GEMM. A flushed slope changes a gradient only where every slope on a path is that
/// small (the gradient is then below 1e−26 in f32 anyway).
#[inline]
pub fn sigmoid_and_derivative<T: Real>(t: T) -> (T, T) {
    let one = T::one();
    let e = (-t.abs()).exp();
    let r = one / (one + e);
    let s = if t >= T::zero() { r } else { e * r };
    let ds = e * r * r;
    (
        if s < T::min_positive_value() {
            T::zero()
        } else {
            s
        },
        flush_slope(ds),
    )
}

/// A layer's elementwise activation φ, with φ' and φ'' in forms that neither overflow
/// nor cancel (e = exp(−|t|) or exp(−2|t|), never the exp of a positive number).
///
/// Derivatives at kinks follow PyTorch and JAX: ReLU'(0) = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// σ(t) = 1/(1+e^−t); σ' = σ(1−σ), σ'' = σ'·(1−2σ).
    Sigmoid,
    /// tanh t; tanh' = 1 − tanh² = 4e/(1+e)² with e = e^−2|t|, tanh'' = −2·tanh·tanh'.
    Tanh,
    /// log(1+e^t) = max(t, 0) + log1p(e^−|t|); softplus' = σ, softplus'' = σ'.
    Softplus,
    /// max(t, 0); slope 1 for t > 0, else 0; curvature 0.
    Relu,
    /// t; slope 1, curvature 0: a linear layer.
    Identity,
}

impl Activation {
    /// Every activation, in the order of the command line's list.
    pub const ALL: [Activation; 5] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Relu,
        Activation::Identity,
    ];

    /// `"sigmoid"`, `"tanh"`, `"softplus"`, `"relu"` or `"identity"`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        }
    }

    /// The activation of that [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// (φ(t), φ'(t)). Slopes below ε·√(smallest normal) are flushed to 0, as for
    /// [`sigmoid_and_derivative`].
    #[inline]
    pub fn value_and_slope<T: Real>(self, t: T) -> (T, T) {
        let one = T::one();
        match self {
            Activation::Sigmoid => sigmoid_and_derivative(t),
            Activation::Tanh => {
                let e = (-(t.abs() + t.abs())).exp();
                let r = one / (one + e);
                let th = (one - e) * r;
                let four = (one + one) * (one + one);
                let v = if t < T::zero() { -th } else { th };
                (v, flush_slope(four * e * r * r))
            }
            Activation::Softplus => {
                let (s, _) = sigmoid_and_derivative(t);
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
        }
    }

    /// φ''(t), the curvature that Hessian-vector products need.
    #[inline]
    pub fn curvature<T: Real>(self, t: T) -> T {
        let two = T::one() + T::one();
        match self {
            Activation::Sigmoid => {
                let (s, ds) = sigmoid_and_derivative(t);
                // 1 − 2σ = (1−σ) − σ; for t > 0 use 1−σ = σ(−t) to keep it exact.
                let (p, q) = if t > T::zero() {
                    (sigmoid_and_derivative(-t).0, s)
                } else {
                    (T::one() - s, s)
                };
                ds * (p - q)
            }
            Activation::Tanh => {
                let (th, d) = self.value_and_slope(t);
                -two * th * d
            }
            Activation::Softplus => sigmoid_and_derivative(t).1,
            Activation::Relu | Activation::Identity => T::zero(),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Slopes too small for their products with ordinary weights to be normal numbers are 0
/// (see [`sigmoid_and_derivative`]).
#[inline]
fn flush_slope<T: Real>(ds: T) -> T {
    if ds < T::epsilon() * T::min_positive_value().sqrt() {
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
        // f32: σ'(55) ≈ 1.3e-24 is kept, σ'(65) ≈ 5.9e-29 is below 6.5e-27.
        assert!(sigmoid_derivative(55.0_f32) > 1e-24);
        assert_eq!(sigmoid_derivative(65.0_f32), 0.0);
        // σ itself keeps every normal value: σ(−80) ≈ 1.8e-35, σ(−90) would be subnormal.
        assert!(sigmoid(-80.0_f32) >= f32::MIN_POSITIVE);
        assert_eq!(sigmoid(-90.0_f32), 0.0);
        // f64: σ'(380) ≈ 3e-165 kept, σ'(400) ≈ 1.9e-174 flushed; σ at −700 / −720.
        assert!(sigmoid_derivative(-380.0_f64) > 1e-166);
        assert_eq!(sigmoid_derivative(400.0_f64), 0.0);
        assert!(sigmoid(-700.0_f64) >= f64::MIN_POSITIVE);
        assert_eq!(sigmoid(-720.0_f64), 0.0);
    }
}
