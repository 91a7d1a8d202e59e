//! Everything about an activation φ, in one place: its value, slope φ' and curvature
//! φ'' in forms that neither overflow nor cancel, in f64/f32 for the kernels and with
//! an unbounded exponent for the wide-range path, and how much it can grow a value.
//! The rest of the crate asks an [`Activation`] only these; adding one is a variant and
//! its arm in each method here.
//!
//! The logistic sigmoid underlies most of them. With e = exp(−|t|) ∈ (0, 1]:
//! σ(t) = 1/(1+e) for t ≥ 0 and e/(1+e) for t < 0, σ'(t) = e/(1+e)² = 1/(2(1+cosh t)).
//! No exp of a positive number is taken, so nothing overflows; σ' is computed directly
//! rather than as σ(1−σ), which is 0 once σ rounds to 1 (t ≳ 37 in f64) while the true
//! value is e^−t; and 1 − 2σ(t) = −tanh(t/2), which keeps σ'' exact near 0.
//!
//! Flushes. Values below the smallest normal number, and slopes and curvatures below
//! ε·√(smallest normal) (≈ 6.5e−27 in f32, |t| ≳ 60 for σ'; ≈ 3.3e−170 in f64,
//! |t| ≳ 390), are 0 in the fast kernels: their products with weights of ordinary
//! size would be subnormal, which costs ~100× per operation on x86 (f32 forward mode
//! ran 4.5–25× slower than its GEMM with exact tiny slopes). Weights of 1e300 can bring
//! them back into range, so the guard (`guard.rs`) bounds what they could add to each
//! result and redoes in wide range every entry too small to be sure of; there
//! [`Activation::wide`] gives every value, slope and curvature with an unbounded
//! exponent.

use crate::kernels::{half_tanh, with_kernel, Kernel};
use crate::wide::Wide;
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

    /// (φ(t), φ'(t)), flushed as the module says: values below the smallest normal
    /// number and slopes below ε·√(smallest normal) are 0.
    #[inline]
    pub fn value_and_slope<T: Real>(self, t: T) -> (T, T) {
        let (v, s) = self.raw(t);
        self.flushed(t, v, s)
    }

    /// (φ(t), φ'(t)) = (v, s) flushed as [`value_and_slope`](Self::value_and_slope)
    /// flushes them.
    #[inline(always)]
    fn flushed<T: Real>(self, t: T, v: T, s: T) -> (T, T) {
        if !self.smooth() || t.abs() <= T::one() {
            return (v, s); // tiny values near 0 (tanh t ≈ t) are as small as t: kept
        }
        (flush(v, T::min_positive_value()), flush(s, slope_floor()))
    }

    /// [`value_and_slope`](Self::value_and_slope) of every t in `y`: φ(t) into `y` and
    /// φ'(t) into `s`, with the same bits. The logistic in f64 runs four lanes at a time
    /// (AVX2), or eight (AVX-512), with glibc's exp, operation for operation, and tanh
    /// and SiLU with glibc's tanh and exp likewise. Errors if `s` is not as long as `y`.
    ///
    /// ```
    /// use fwdrev::Activation;
    /// let (mut y, mut s) = (vec![-2.0, 0.0, 3.0], vec![0.0; 3]);
    /// Activation::Sigmoid.values_and_slopes(&mut y, &mut s)?;
    /// assert_eq!((y[1], s[1]), (0.5, 0.25));
    /// assert_eq!((y[2], s[2]), Activation::Sigmoid.value_and_slope(3.0));
    /// # Ok::<(), fwdrev::Error>(())
    /// ```
    pub fn values_and_slopes<T: Real>(self, y: &mut [T], s: &mut [T]) -> Result<(), Error> {
        if y.len() != s.len() {
            return Err(Error::Shape {
                what: "slopes for every value".into(),
                expected: format!("{} slopes", y.len()),
                got: format!("{}", s.len()),
            });
        }
        self.apply(y, s);
        Ok(())
    }

    /// [`values_and_slopes`](Self::values_and_slopes) of slices the caller made equal.
    #[inline]
    pub(crate) fn apply<T: Real>(self, y: &mut [T], s: &mut [T]) {
        match self {
            Activation::Sigmoid => with_kernel!(|k| k.sigmoid(y, s)),
            Activation::Tanh | Activation::Silu => {
                // t kept aside a chunk at a time.
                const CHUNK: usize = 64;
                for (y, s) in y.chunks_mut(CHUNK).zip(s.chunks_mut(CHUNK)) {
                    let mut t = [T::zero(); CHUNK];
                    let t = &mut t[..y.len()];
                    t.copy_from_slice(y);
                    self.values_and_slopes_of(t, y, s);
                }
            }
            _ => {
                for (y, s) in y.iter_mut().zip(s.iter_mut()) {
                    (*y, *s) = self.value_and_slope(*y);
                }
            }
        }
    }

    /// φ(t) into `v` and φ'(t) into `s` for every t in `t` (all three of one length),
    /// with [`values_and_slopes`](Self::values_and_slopes)' bits and kernels.
    #[inline]
    pub(crate) fn values_and_slopes_of<T: Real>(self, t: &[T], v: &mut [T], s: &mut [T]) {
        match self {
            Activation::Tanh => {
                tanh_lanes(t, v, s);
                for ((v, s), &t) in v.iter_mut().zip(s.iter_mut()).zip(t) {
                    (*v, *s) = self.flushed(t, *v, *s);
                }
            }
            Activation::Silu => {
                // SiLU = t·σ, SiLU' = σ + t·σ', σ from e^−|t| on the exp lanes.
                exps(t, s, |t| -t.abs());
                for ((v, s), &t) in v.iter_mut().zip(s.iter_mut()).zip(t) {
                    let (sg, ds) = logistic_of(t, *s);
                    (*v, *s) = self.flushed(t, t * sg, sg + t * ds);
                }
            }
            _ => {
                v.copy_from_slice(t);
                self.apply(v, s)
            }
        }
    }

    /// φ''(t), the curvature that Hessian-vector products need, flushed below
    /// ε·√(smallest normal) as slopes are.
    #[inline]
    pub fn curvature<T: Real>(self, t: T) -> T {
        flush_curvature(t, self.raw_curvature(t))
    }

    /// (φ'(t), φ''(t)) with the bits of [`value_and_slope`](Self::value_and_slope)'s
    /// slope and [`curvature`](Self::curvature), the exponential (and the logistic's
    /// or tanh's value) computed once for both where φ'' is made of them.
    #[inline]
    pub(crate) fn slope_and_curvature<T: Real>(self, t: T) -> (T, T) {
        let two = T::one() + T::one();
        let (v, s) = self.raw(t);
        let c = match self {
            Activation::Sigmoid => -s * half_tanh::of(t),
            Activation::Tanh => -two * v * s,
            _ => self.raw_curvature(t),
        };
        let s = match !self.smooth() || t.abs() <= T::one() {
            true => s,
            false => flush(s, slope_floor()),
        };
        (s, flush_curvature(t, c))
    }

    /// [`slope_and_curvature`](Self::slope_and_curvature) of every t in `t`: φ'(t) into
    /// `s`, φ''(t) into `c`, the same bits, f64's logistic, tanh and SiLU on the vector
    /// kernels. The logistic: σ' as [`values_and_slopes`](Self::values_and_slopes)
    /// gives it, then σ'' = −σ'·tanh(t/2) on tanh(t/2)'s lanes (`kernels::half_tanh`:
    /// one exp and one division a value; that σ' is flushed, the
    /// scalar's is not, but where the flush zeroes σ', |σ''| ≤ σ' is below the floor
    /// too and flushed to the same +0). tanh: tanh and tanh' on the lanes, unflushed,
    /// then tanh'' = −2·tanh·tanh' and the flushes. SiLU: e^−|t| and tanh(t/2) on the
    /// lanes, the rest as the scalar formulas.
    pub(crate) fn slopes_and_curvatures<T: Real>(self, t: &[T], s: &mut [T], c: &mut [T]) {
        debug_assert!(
            t.len() == s.len() && t.len() == c.len(),
            "one of each per t"
        );
        let two = T::one() + T::one();
        match self {
            Activation::Sigmoid => {
                c.copy_from_slice(t);
                with_kernel!(|k| k.sigmoid(c, s)); // σ into c, unused
                self.curvatures_given_slopes(t, s, c);
            }
            Activation::Silu => {
                // SiLU'' = σ'·(2 − t·tanh(t/2)): e^−|t| and tanh(t/2) on the lanes.
                exps(t, s, |t| -t.abs());
                c.copy_from_slice(t);
                with_kernel!(|k| k.half_tanh(c));
                for ((&t, s), c) in t.iter().zip(s.iter_mut()).zip(c.iter_mut()) {
                    let (sg, ds) = logistic_of(t, *s);
                    *c = flush_curvature(t, ds * (two - t * *c));
                    *s = self.flushed(t, T::zero(), sg + t * ds).1;
                }
            }
            Activation::Tanh => {
                tanh_lanes(t, c, s);
                for ((&t, s), c) in t.iter().zip(s.iter_mut()).zip(c.iter_mut()) {
                    *c = flush_curvature(t, -two * *c * *s);
                    *s = self.flushed(t, T::zero(), *s).1;
                }
            }
            _ => {
                for ((&t, s), c) in t.iter().zip(s.iter_mut()).zip(c.iter_mut()) {
                    (*s, *c) = self.slope_and_curvature(t);
                }
            }
        }
    }

    /// Whether φ''(t) follows from t and φ'(t) without φ' evaluated again (the logistic:
    /// −σ'·tanh(t/2)), so that a sweep which made φ' may keep it for φ''.
    pub(crate) fn curvature_from_slope(self) -> bool {
        self == Activation::Sigmoid
    }

    /// φ''(t) into `c` for every t in `t`, where `s` holds φ'(t) as
    /// [`values_and_slopes`](Self::values_and_slopes) gives it, with
    /// [`slopes_and_curvatures`](Self::slopes_and_curvatures)' bits: the logistic's
    /// −σ'·tanh(t/2) from those slopes (an HVP keeps a hidden layer's σ' from its forward
    /// sweep); the other activations by that call, `s` rewritten with the same bits.
    pub(crate) fn curvatures_given_slopes<T: Real>(self, t: &[T], s: &mut [T], c: &mut [T]) {
        debug_assert!(
            t.len() == s.len() && t.len() == c.len(),
            "one of each per t"
        );
        if !self.curvature_from_slope() {
            return self.slopes_and_curvatures(t, s, c);
        }
        c.copy_from_slice(t);
        with_kernel!(|k| k.half_tanh(c));
        for ((&t, &s), c) in t.iter().zip(s.iter()).zip(c.iter_mut()) {
            *c = flush_curvature(t, -s * *c);
        }
    }

    /// Whether the kernels lose φ, φ' or φ'' at t: flushed, or already below the floor
    /// as computed (σ(−800) underflows to 0 before any flush).
    pub(crate) fn flushes<T: Real>(self, t: T) -> bool {
        if !self.smooth() || t.abs() <= T::one() {
            return false;
        }
        let ((v, s), c) = (self.raw(t), self.raw_curvature(t));
        v.abs() < T::min_positive_value() || s.abs() < slope_floor() || c.abs() < slope_floor()
    }

    /// Whether φ is smooth, its value and derivatives nonzero but tiny far out (so
    /// flushed): all but ReLU and the identity, whose slopes are exactly 0 or 1.
    pub(crate) fn smooth(self) -> bool {
        !matches!(self, Activation::Relu | Activation::Identity)
    }

    /// A bound on |φ'|, |φ''| and |φ‴| over all t, and 1: how much a layer can grow a
    /// perturbation of its input, of its slopes' input or of its curvatures' input
    /// (max σ' = 1/4, max |tanh‴| = 2, max GELU' ≈ 1.13, max |φ''| ≤ 0.8 for all).
    pub(crate) fn max_derivative(self) -> f64 {
        match self {
            Activation::Tanh => 2.0,
            Activation::Silu | Activation::Gelu => 1.2,
            _ => 1.0,
        }
    }

    /// A |t| up to which nothing is flushed in `T`: the flushes happen in the tails,
    /// where the value, slope or curvature falls like e^−|t| (|t|·e^−|t| for SiLU,
    /// e^−2|t| for tanh, e^−t²/2 for GELU) below the floor δ; with L = −ln δ, each
    /// radius is below where its form reaches δ (390 in f64 and 60 in f32 for σ').
    pub(crate) fn flush_radius<T: Real>(self) -> f64 {
        let l = -Activation::flush_floor::<T>().ln();
        match self {
            Activation::Relu | Activation::Identity => f64::INFINITY,
            Activation::Sigmoid | Activation::Softplus => l - 1.0,
            Activation::Tanh => 0.5 * l - 1.0,
            Activation::Silu => l - l.ln() - 2.0,
            Activation::Gelu => (2.0 * (l - 1.0)).sqrt() - 1.0,
        }
    }

    /// The largest magnitude a flush sets to 0, in `T`: ε·√(smallest normal) (the
    /// smallest normal number, the values' floor, is below it).
    pub(crate) fn flush_floor<T: Real>() -> f64 {
        slope_floor::<T>().as_f64()
    }

    /// (φ(t), φ'(t)) as the formulas give them: accurate wherever the result is a
    /// normal number.
    #[inline(always)]
    fn raw<T: Real>(self, t: T) -> (T, T) {
        let one = T::one();
        match self {
            Activation::Sigmoid => logistic(t),
            Activation::Tanh => (t.tanh(), tanh_slope(t)),
            Activation::Softplus => {
                let (s, _) = logistic(t);
                (t.max(T::zero()) + (-t.abs()).exp().ln_1p(), s)
            }
            Activation::Relu => {
                if t > T::zero() {
                    (t, one)
                } else if t.is_nan() {
                    (t, t) // a NaN goes on, like every other activation's
                } else {
                    (T::zero(), T::zero())
                }
            }
            Activation::Identity => (t, one),
            Activation::Silu => {
                let (s, ds) = logistic(t);
                (t * s, s + t * ds)
            }
            Activation::Gelu => {
                let t64 = t.as_f64();
                let (phi, p) = normal(t64);
                (T::from_f64(t64 * phi), T::from_f64(phi + t64 * p))
            }
        }
    }

    /// φ''(t) as the formulas give it. 1 − 2σ(t) = −tanh(t/2) keeps σ'' and SiLU''
    /// accurate near 0, where σ(−t) − σ(t) would cancel.
    #[inline]
    fn raw_curvature<T: Real>(self, t: T) -> T {
        let two = T::one() + T::one();
        match self {
            Activation::Sigmoid => -logistic(t).1 * half_tanh::of(t),
            Activation::Tanh => -two * t.tanh() * self.raw(t).1,
            Activation::Softplus => logistic(t).1,
            Activation::Relu | Activation::Identity => T::zero(),
            Activation::Silu => logistic(t).1 * (two - t * half_tanh::of(t)),
            Activation::Gelu => {
                let (t64, (_, p)) = (t.as_f64(), normal(t.as_f64()));
                // ϕ·(2 − t²) as 2ϕ − t·(t·ϕ): t² overflows where ϕ is already 0.
                T::from_f64(2.0 * p - t64 * (t64 * p))
            }
        }
    }

    /// (φ(y), φ'(y), φ''(y)) at a pre-activation of any size, for the wide-range path:
    /// nothing flushed, nothing underflowing. |y| ≤ 20 by the f64 formulas (nothing
    /// there is below the normal range); beyond, by forms in E = e^−|y| (e^−y²/2 for
    /// GELU) held with an unbounded exponent; below 2^−61 (perhaps below f64's range) by
    /// the first terms of Taylor's series (their error is below 2^−60 relative there).
    pub(crate) fn wide(self, y: Wide) -> (Wide, Wide, Wide) {
        let w = Wide::from_f64;
        match self {
            Activation::Identity => return (y, w(1.0), Wide::ZERO),
            Activation::Relu if y.is_positive() => return (y, w(1.0), Wide::ZERO),
            Activation::Relu => return (Wide::ZERO, Wide::ZERO, Wide::ZERO),
            _ if y.is_nan() => return (y, y, y),
            _ => {}
        }
        if y.m == 0.0 || y.e < -60 {
            // φ ≈ c0 + c1·y, φ' ≈ c1 + c2·y, φ'' ≈ c2 + c3·y: the derivatives at 0.
            const TWO_PHI0: f64 = 0.797_884_560_802_865_4; // 2ϕ(0) = √(2/π)
            let [c0, c1, c2, c3] = match self {
                Activation::Sigmoid => [0.5, 0.25, 0.0, -0.125],
                Activation::Tanh => [0.0, 1.0, 0.0, -2.0],
                Activation::Softplus => [std::f64::consts::LN_2, 0.5, 0.25, 0.0],
                Activation::Silu => [0.0, 0.5, 0.5, 0.0],
                _ => [0.0, 0.5, TWO_PHI0, 0.0],
            };
            let line = |a: f64, b: f64| w(a).add(y.mul_f64(b));
            return (line(c0, c1), line(c1, c2), line(c2, c3));
        }
        let t = y.to_f64(); // ±inf beyond f64's range
        if t.abs() <= 20.0 {
            let (v, s) = self.raw(t);
            return (w(v), w(s), w(self.raw_curvature(t)));
        }
        let negative = t < 0.0;
        if self == Activation::Gelu {
            return gelu_far(y, t);
        }
        // σ(t), σ'(t) from E = e^−|t| (e^−2|t| for tanh) and its f64 rounding e.
        let rate = if self == Activation::Tanh { 2.0 } else { 1.0 };
        let big_e = exp_wide(-rate * t.abs());
        let e = big_e.to_f64();
        let r = 1.0 / (1.0 + e);
        let sigma = if negative { big_e.mul_f64(r) } else { w(r) };
        let dsigma = big_e.mul_f64(r * r);
        let bend = half_tanh::of(t); // −(1 − 2σ)
        match self {
            Activation::Sigmoid => (sigma, dsigma, dsigma.mul_f64(-bend)),
            Activation::Tanh => {
                let slope = dsigma.mul_f64(4.0);
                (w(t.tanh()), slope, slope.mul_f64(-2.0 * t.tanh()))
            }
            Activation::Softplus => {
                // log(1 + E) = E·log1p(e)/e, or y + log1p(e) above.
                let value = if negative {
                    big_e.mul_f64(if e > 0.0 { e.ln_1p() / e } else { 1.0 })
                } else {
                    y.add(w(e.ln_1p()))
                };
                (value, sigma, dsigma)
            }
            _ => {
                // SiLU: t·σ, σ + t·σ', σ'·(2 − t·tanh(t/2)).
                let slope = sigma.add(y.mul(dsigma));
                let bend = w(2.0).add(y.mul_f64(-bend));
                (y.mul(sigma), slope, dsigma.mul(bend))
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

/// tanh'(t) = 4e/(1 + e)², e = e^−2|t|: no cancellation where tanh → ±1.
#[inline(always)]
fn tanh_slope<T: Real>(t: T) -> T {
    tanh_slope_of(minus_twice_abs(t).exp())
}

/// −2|t|, the exponent of [`tanh_slope`]'s e.
#[inline(always)]
fn minus_twice_abs<T: Real>(t: T) -> T {
    -(t.abs() + t.abs())
}

/// [`tanh_slope`] from e = e^−2|t|.
#[inline(always)]
fn tanh_slope_of<T: Real>(e: T) -> T {
    let one = T::one();
    let r = one / (one + e);
    let four = (one + one) * (one + one);
    four * e * r * r
}

/// tanh t into `v` and [`tanh_slope`] into `s` for every t in `t`, neither flushed:
/// tanh and the slope's exp on the vector kernels' lanes, the same bits.
fn tanh_lanes<T: Real>(t: &[T], v: &mut [T], s: &mut [T]) {
    v.copy_from_slice(t);
    with_kernel!(|k| k.tanh(v));
    exps(t, s, minus_twice_abs);
    s.iter_mut().for_each(|s| *s = tanh_slope_of(*s));
}

/// e^{arg(t)} into `e` for every t in `t`, on the vector kernels' exp lanes (the
/// scalar exp's bits).
fn exps<T: Real>(t: &[T], e: &mut [T], arg: impl Fn(T) -> T) {
    e.iter_mut().zip(t).for_each(|(e, &t)| *e = arg(t));
    with_kernel!(|k| k.exp(e));
}

/// (σ(t), σ'(t)) from one exp, neither flushed: e = exp(−|t|), r = 1/(1+e).
#[inline]
fn logistic<T: Real>(t: T) -> (T, T) {
    logistic_of(t, (-t.abs()).exp())
}

/// [`logistic`] from e = exp(−|t|).
#[inline(always)]
fn logistic_of<T: Real>(t: T, e: T) -> (T, T) {
    let one = T::one();
    let r = one / (one + e);
    let s = if t >= T::zero() { r } else { e * r };
    (s, e * r * r)
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

/// ε·√(smallest normal): slopes and curvatures below it are not carried by the fast
/// kernels, whose products of them with ordinary weights would be subnormal.
#[inline]
fn slope_floor<T: Real>() -> T {
    T::epsilon() * T::min_positive_value().sqrt()
}

/// φ''(t) = c flushed as [`Activation::curvature`] flushes it: kept for |t| ≤ 1, where
/// σ''(t) ≈ −t/8 is as small as t.
#[inline]
fn flush_curvature<T: Real>(t: T, c: T) -> T {
    match t.abs() <= T::one() {
        true => c,
        false => flush(c, slope_floor()),
    }
}

/// `x`, or 0 where it is below `floor`.
#[inline]
fn flush<T: Real>(x: T, floor: T) -> T {
    if x.abs() < floor {
        T::zero()
    } else {
        x
    }
}

/// e^z for z ≤ 0 with an unbounded exponent: z = k·ln2 + r, |r| ≤ ln2/2 (Cody–Waite,
/// exact for |k| < 2^20; beyond, the error is of the order of z's own rounding).
/// 0 below −10^18, whose power of two no product of f64 factors can lift back.
fn exp_wide(z: f64) -> Wide {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    if z.is_nan() {
        return Wide::from_f64(z);
    }
    if z < -1e18 {
        return Wide::ZERO;
    }
    let k = (z * std::f64::consts::LOG2_E).round();
    let r = (z - k * LN2_HI) - k * LN2_LO;
    Wide::scaled(r.exp(), k as i64)
}

/// GELU's (φ, φ', φ'') for |t| > 20: ϕ = e^−t²/2/√(2π) and the upper tail
/// Q = Φ(−|t|) = ϕ/|t|·(1 − 1/t² + 3/t⁴ − …) (Mills' ratio; twelve terms reach 2e−20
/// relative at |t| = 20). Φ(t) is Q below 0 and 1 − Q above.
fn gelu_far(y: Wide, t: f64) -> (Wide, Wide, Wide) {
    const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    let square = y.mul(y);
    let phi = exp_wide(-0.5 * square.to_f64()).mul_f64(FRAC_1_SQRT_2PI);
    let u = 1.0 / square.to_f64();
    let mut series = 1.0;
    for k in (1..12).rev() {
        series = 1.0 - (2 * k - 1) as f64 * u * series;
    }
    let q = phi.mul_f64(series).mul(y.abs().recip());
    let big_phi = if t < 0.0 {
        q
    } else {
        Wide::from_f64(1.0 - q.to_f64())
    };
    let slope = big_phi.add(y.mul(phi));
    let curvature = phi.mul(Wide::from_f64(2.0).add(square.neg()));
    (y.mul(big_phi), slope, curvature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slice at once gives each value's bits, for every activation in f64 and f32
    /// (the logistic and tanh in f64 on the vector lanes), and slopes of another length are an
    /// error.
    #[test]
    fn a_slice_has_the_bits_of_each_value() {
        fn check<T: Real>(a: Activation) {
            let mut t: Vec<T> = (0..1003)
                .map(|i| T::from_f64(((i * 37 % 1003) as f64 - 501.0) * 0.9))
                .collect();
            t.extend([0.0, -0.0, 1.0, -1.0, 1e-20, f64::INFINITY, f64::NAN].map(T::from_f64));
            // Finer where tanh's lanes run (|t| < 22).
            t.extend((0..4000).map(|i| T::from_f64((i as f64 - 2000.0) * 0.0131)));
            let (mut y, mut s) = (t.clone(), vec![T::zero(); t.len()]);
            a.values_and_slopes(&mut y, &mut s).unwrap();
            for ((&t, y), s) in t.iter().zip(y).zip(s) {
                let (v, d) = a.value_and_slope(t);
                let bits = |x: T| x.as_f64().to_bits();
                assert_eq!(
                    (bits(y), bits(s)),
                    (bits(v), bits(d)),
                    "{a}({})",
                    t.as_f64()
                );
            }
            let e = a.values_and_slopes(&mut [T::one(); 3], &mut [T::zero(); 2]);
            assert!(matches!(e, Err(Error::Shape { .. })), "{e:?}");
        }
        for a in Activation::ALL {
            check::<f64>(a);
            check::<f32>(a);
        }
    }

    /// One exponential for both: the bits of the slope and the curvature made apart,
    /// across the flushes' radii, at ±1 (where the flush starts), ±0, ±inf and NaN; the
    /// slices' too, and the curvatures from the slopes a forward sweep keeps.
    #[test]
    fn slope_and_curvature_and_the_slices_have_the_bits_of_each() {
        fn check<T: Real>(a: Activation) {
            let bits = |x: T| x.as_f64().to_bits();
            let specials = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                1e-20,
                f64::INFINITY,
                -f64::INFINITY,
                f64::NAN,
            ];
            let grid = (0..2003).map(|i| ((i * 37 % 2003) as f64 - 1001.0) * 0.8);
            // A NaN's sign and payload from arithmetic are unspecified (the optimiser
            // may order a product's factors either way, and does in release builds), so
            // NaN matches any NaN; every other result matches bit for bit.
            let bits = |x: T| match x.is_nan() {
                true => f64::NAN.to_bits(),
                false => bits(x),
            };
            // Finer near 0 and out to the flushes (σ' flushed from |t| ≈ 390 in f64).
            let fine = (0..6000).map(|i| (i as f64 - 3000.0) * 0.0137);
            let far = (0..400).map(|i| (i as f64 - 200.0) * 3.77 + 0.31);
            let ts: Vec<T> = grid
                .chain(fine)
                .chain(far)
                .chain(specials)
                .map(T::from_f64)
                .collect();
            // The slice, by the vector kernels where there are some.
            let (mut ss, mut cs) = (vec![T::zero(); ts.len()], vec![T::zero(); ts.len()]);
            a.slopes_and_curvatures(&ts, &mut ss, &mut cs);
            // φ'' from the slopes a forward sweep keeps (an HVP's hidden layers).
            let nan = vec![T::nan(); ts.len()];
            let (mut vk, mut sk, mut ck) = (nan.clone(), nan.clone(), nan);
            a.values_and_slopes_of(&ts, &mut vk, &mut sk);
            a.curvatures_given_slopes(&ts, &mut sk, &mut ck);
            for (i, &t) in ts.iter().enumerate() {
                assert_eq!(
                    (bits(sk[i]), bits(ck[i])),
                    (bits(ss[i]), bits(cs[i])),
                    "{a}({}) from kept slopes",
                    t.as_f64()
                );
                let (s, c) = a.slope_and_curvature(t);
                let want = (a.value_and_slope(t).1, a.curvature(t));
                assert_eq!(
                    (bits(s), bits(c)),
                    (bits(want.0), bits(want.1)),
                    "{a}({})",
                    t.as_f64()
                );
                assert_eq!(
                    (bits(ss[i]), bits(cs[i])),
                    (bits(s), bits(c)),
                    "{a}({}) in a slice",
                    t.as_f64()
                );
            }
        }
        for a in Activation::ALL {
            check::<f64>(a);
            check::<f32>(a);
        }
    }

    #[test]
    fn values_and_slopes_below_the_floors_are_flushed_to_zero() {
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
        assert!(Activation::flush_floor::<f64>() < 3.4e-170);
        // NaN stays NaN, in ReLU too.
        for a in Activation::ALL {
            assert!(a.value_and_slope(f64::NAN).0.is_nan(), "{a}");
        }
    }

    /// Nothing is flushed within the radius, and something is within 30% beyond it.
    #[test]
    fn nothing_is_flushed_within_the_radius() {
        fn check<T: Real>() {
            for a in Activation::ALL.into_iter().filter(|a| a.smooth()) {
                let r = a.flush_radius::<T>();
                let flushed = |t: f64| {
                    let t = T::from_f64(t);
                    let (v, s) = a.value_and_slope(t);
                    let (rv, rs) = a.raw(t);
                    (v != rv || s != rs || a.curvature(t) != a.raw_curvature(t))
                        && !(rv.is_nan() || rs.is_nan())
                };
                let steps = 4000;
                for i in 0..=steps {
                    let t = r * i as f64 / steps as f64;
                    assert!(!flushed(t) && !flushed(-t), "{a} at ±{t} ({})", T::NAME);
                }
                let beyond = (0..=300).map(|i| r * (1.0 + i as f64 / 1000.0));
                assert!(
                    beyond.into_iter().any(|t| flushed(t) || flushed(-t)),
                    "{a} ({})",
                    T::NAME
                );
            }
        }
        check::<f64>();
        check::<f32>();
    }

    #[test]
    fn names_parse_back_and_unknown_names_list_the_known_ones() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        let e = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("swish") && e.contains("silu, gelu"), "{e}");
    }

    /// The derivatives against central differences of the function itself, away from
    /// kinks: a wrong formula is off by O(1).
    #[test]
    fn slope_and_curvature_are_the_derivatives() {
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

    /// Near 0, where odd parts are as small as t: relative accuracy (tanh from one exp,
    /// or σ'' from σ(−t) − σ(t), lost it all below t ≈ 1e−17).
    #[test]
    fn small_arguments_keep_their_relative_accuracy() {
        for t in [1e-300_f64, -3e-200, 1e-20, 2e-9] {
            let near = |got: f64, want: f64| (got - want).abs() <= 1e-15 * want.abs();
            assert!(near(Activation::Tanh.value_and_slope(t).0, t), "tanh({t})");
            assert!(
                near(Activation::Sigmoid.raw_curvature(t), -t / 8.0),
                "σ''({t})"
            );
            assert!(
                near(Activation::Tanh.raw_curvature(t), -2.0 * t),
                "tanh''({t})"
            );
            // SiLU(t) = t/2 + t²/4 + O(t⁴), GELU(t) = t/2 + ϕ(0)·t² + O(t⁴).
            let silu = t / 2.0 + t * t / 4.0;
            assert!(
                near(Activation::Silu.value_and_slope(t).0, silu),
                "silu({t})"
            );
            let gelu = t / 2.0 + 0.398_942_280_401_432_7 * t * t;
            assert!(
                near(Activation::Gelu.value_and_slope(t).0, gelu),
                "gelu({t})"
            );
        }
    }

    /// The wide-range forms against the f64 formulas wherever those are normal numbers
    /// (both sides of |t| = 20, far out, and near 0), then far beyond f64's range.
    #[test]
    fn the_wide_forms_agree_with_the_formulas_and_never_make_nan() {
        let grid = [
            1e-300, 1e-30, 1e-12, 1e-5, 0.7, 19.999, 20.0, 20.001, 25.0, 36.0, 60.0, 150.0, 300.0,
            600.0,
        ];
        for a in Activation::ALL {
            for t in grid.iter().flat_map(|&t| [t, -t]) {
                let (v, s) = a.raw(t);
                let c = a.raw_curvature(t);
                let (wv, ws, wc) = a.wide(Wide::from_f64(t));
                for (what, want, got) in [("φ", v, wv), ("φ'", s, ws), ("φ''", c, wc)] {
                    if want.abs() < f64::MIN_POSITIVE * 1e20 {
                        continue; // the formula is out of its range, not the form
                    }
                    let got = got.to_f64();
                    // GELU's formula rounds t/√2 inside erfc, whose relative slope is
                    // ~t²: an error of ~t²·ε relative.
                    let tol = (1e-13 + t * t * 1e-15) * want.abs();
                    assert!(
                        (got - want).abs() <= tol,
                        "{a} {what}({t}): {got} vs {want}"
                    );
                }
            }
            let huge = Wide::from_f64(f64::MAX).mul(Wide::from_f64(1e10));
            for y in [
                huge,
                huge.neg(),
                Wide::from_f64(-800.0),
                Wide::from_f64(5e-324),
            ] {
                let (v, s, c) = a.wide(y);
                assert!(!(v.is_nan() || s.is_nan() || c.is_nan()), "{a}");
            }
        }
        // Beyond f64's reach: σ'(−800) = e^−800 ≈ 3.7e−348, tanh'(1000) = 4e^−2000.
        let (_, s, _) = Activation::Sigmoid.wide(Wide::from_f64(-800.0));
        let ln = |w: Wide| w.m.ln() + w.e as f64 * std::f64::consts::LN_2;
        assert!((ln(s) + 800.0).abs() < 1e-12, "{}", ln(s));
        let (_, s, _) = Activation::Tanh.wide(Wide::from_f64(1000.0));
        assert!((ln(s) - (4.0_f64.ln() - 2000.0)).abs() < 1e-12);
        // GELU's tail at −50: ϕ(50)·(S/50 − 50), with ln ϕ(50) = −1250 − ln √(2π).
        let (_, s, _) = Activation::Gelu.wide(Wide::from_f64(-50.0));
        let want = -1250.0 - 0.5 * (2.0 * std::f64::consts::PI).ln() + (50.0_f64 - 1.0 / 50.0).ln();
        assert!(
            s.m < 0.0 && (ln(s.abs()) - want).abs() < 1e-6,
            "{}",
            ln(s.abs())
        );
    }

    #[test]
    fn values_stay_within_their_bound() {
        for a in Activation::ALL {
            for t in [f64::MAX, 1e300, 1e20, 3.0, -0.5, -1e20, -1e300, -f64::MAX] {
                let (v, _) = a.value_and_slope(t);
                assert!(v.abs() <= a.bound(t.abs()), "{a}({t})");
            }
        }
    }
}
