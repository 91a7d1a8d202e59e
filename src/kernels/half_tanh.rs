//! tanh(t/2) = −(1 − 2σ(t)), the logistic's bend: σ'' = −σ'·tanh(t/2) and
//! SiLU'' = σ'·(2 − t·tanh(t/2)). With x = |t|/2, Cephes' tanh in one division:
//!
//! ```text
//! x ≤ 0.625:  tanh x = x + x·(s·P(s)/Q(s)),  s = x²  (P of degree 2, Q monic of degree 3)
//! x > 0.625:  tanh x = (1 − e)/(1 + e),      e = e^−2x = e^−|t| (glibc's exp)
//! ```
//!
//! then t's sign. Near 0 the correction x·(…) is tiny beside x, so the result is x's to
//! within an ulp (σ'' stays accurate where 1 − 2σ would cancel); above, e ≤ e^−1.25 keeps
//! 1 − e and 1 + e free of cancellation. Within 1.5 ulp of the exact value (1.50 at worst
//! over 200 000 random arguments, where glibc's tanh of t/2 reaches 2.10:
//! `scripts/half_tanh_reference.py --scan`), and within an ulp of the correctly rounded
//! value at the test's 3021 arguments. A lane computes both forms'
//! numerator and denominator, picks by x and divides once: one exp and one division a
//! value, where glibc's tanh (fdlibm's expm1, then 1 − 2/(t + 2)) takes two divisions and
//! a longer chain. e's argument is held to [1.25, 40] (the rational form's lanes do not
//! use it; beyond 40, 1 ± e rounds to 1), so every finite lane is on exp's fast path; ±∞
//! and NaN run the scalar function.

use crate::Real;

/// Cephes' P (of s = x²), highest power first.
const P: [f64; 3] = [
    -9.643_991_794_250_523e-1,
    -9.928_772_310_019_186e1,
    -1.614_687_684_417_084_5e3,
];
/// Cephes' Q (monic: s³ + Q0·s² + Q1·s + Q2).
const Q: [f64; 3] = [
    1.128_116_784_916_329_3e2,
    2.235_488_390_601_004_5e3,
    4.844_063_053_251_255e3,
];
/// The largest x = |t|/2 of the rational form.
const SPLIT: f64 = 0.625;
/// |t| past which e^−|t| is held: 1 ± e^−40 round to 1.
const FAR: f64 = 40.0;

/// tanh(t/2), the lanes' bits (see the module): plain multiplies and adds, no fused
/// ones, so that every kernel gives these bits.
pub(crate) fn half_tanh(t: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { t } else { 1f64.copysign(t) };
    }
    let u = t.abs();
    let x = 0.5 * u;
    let z = match x <= SPLIT {
        true => {
            let s = x * x;
            let p = (P[0] * s + P[1]) * s + P[2];
            let q = ((s + Q[0]) * s + Q[1]) * s + Q[2];
            x + x * (s * p / q)
        }
        false => {
            let e = (-u.min(FAR)).exp();
            (1.0 - e) / (1.0 + e)
        }
    };
    z.copysign(t)
}

/// [`half_tanh`] of any [`Real`], computed in f64 and rounded (f32's too): the scalar
/// that every φ'' path and the kernels without lanes share.
pub(crate) fn of<T: Real>(t: T) -> T {
    T::from_f64(half_tanh(t.as_f64()))
}

#[cfg(target_arch = "x86_64")]
pub(super) use lanes::HalfTanh;

#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::{half_tanh, FAR, P, Q, SPLIT};
    use crate::kernels::lanes::Lanes;
    use crate::kernels::logistic::{exp4, exp8, lanes_allowed};
    use std::arch::x86_64::*;

    /// [`half_tanh`] in lanes: e = e^−|t| in the head (exp's chain), the rest in the tail.
    pub(in crate::kernels) struct HalfTanh;

    impl Lanes for HalfTanh {
        type Head = __m256d;
        #[inline(always)]
        fn one(t: f64) -> f64 {
            half_tanh(t)
        }
        #[inline(always)]
        unsafe fn head(t: __m256d) -> Option<__m256d> {
            // SAFETY: the caller's promise for the features.
            unsafe { head4(t) }
        }
        #[inline(always)]
        unsafe fn tail(t: __m256d, e: __m256d) -> __m256d {
            // SAFETY: the caller's promise for the features.
            unsafe { tail4(t, e) }
        }
        #[inline(always)]
        unsafe fn eight(t: __m512d) -> Option<__m512d> {
            // SAFETY: the caller's promise for the features.
            unsafe { eight(t) }
        }
        #[inline(always)]
        unsafe fn allowed() -> bool {
            // SAFETY: the caller's promise for the features.
            unsafe { lanes_allowed() }
        }
    }

    /// e = e^−|t| held to [e^−40, e^−1.25] in four lanes, None where a lane is ±∞ or NaN.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn head4(t: __m256d) -> Option<__m256d> {
        let u = _mm256_andnot_pd(_mm256_set1_pd(-0.0), t);
        let finite = _mm256_cmp_pd::<_CMP_LT_OQ>(u, _mm256_set1_pd(f64::INFINITY));
        if _mm256_movemask_pd(finite) != 0b1111 {
            return None;
        }
        let held = _mm256_max_pd(u, _mm256_set1_pd(2.0 * SPLIT));
        let held = _mm256_min_pd(held, _mm256_set1_pd(FAR));
        exp4(_mm256_xor_pd(held, _mm256_set1_pd(-0.0)))
    }

    /// [`half_tanh`] of four lanes from their e ([`head4`]).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tail4(t: __m256d, e: __m256d) -> __m256d {
        let set = _mm256_set1_pd;
        let (add, mul) = (_mm256_add_pd, _mm256_mul_pd);
        let sign = set(-0.0);
        let x = mul(set(0.5), _mm256_andnot_pd(sign, t));
        let s = mul(x, x);
        let p = add(mul(add(mul(set(P[0]), s), set(P[1])), s), set(P[2]));
        let q = add(mul(add(mul(add(s, set(Q[0])), s), set(Q[1])), s), set(Q[2]));
        let one = set(1.0);
        let rational = _mm256_cmp_pd::<_CMP_LE_OQ>(x, set(SPLIT));
        let num = _mm256_blendv_pd(_mm256_sub_pd(one, e), mul(s, p), rational);
        let den = _mm256_blendv_pd(add(one, e), q, rational);
        let r = _mm256_div_pd(num, den);
        let z = _mm256_blendv_pd(r, add(x, mul(x, r)), rational);
        // z ≥ 0: t's sign bit onto it.
        _mm256_or_pd(z, _mm256_and_pd(t, sign))
    }

    /// [`head4`] and [`tail4`] in eight lanes (AVX-512F), step for step.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn eight(t: __m512d) -> Option<__m512d> {
        let set = _mm512_set1_pd;
        let (add, mul) = (_mm512_add_pd, _mm512_mul_pd);
        let sign = _mm512_set1_epi64(i64::MIN);
        let u = _mm512_abs_pd(t);
        if _mm512_cmp_pd_mask::<_CMP_LT_OQ>(u, set(f64::INFINITY)) != 0xff {
            return None;
        }
        let held = _mm512_min_pd(_mm512_max_pd(u, set(2.0 * SPLIT)), set(FAR));
        let e = exp8(_mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(held),
            sign,
        )))?;
        let x = mul(set(0.5), u);
        let s = mul(x, x);
        let p = add(mul(add(mul(set(P[0]), s), set(P[1])), s), set(P[2]));
        let q = add(mul(add(mul(add(s, set(Q[0])), s), set(Q[1])), s), set(Q[2]));
        let one = set(1.0);
        let rational = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(x, set(SPLIT));
        let num = _mm512_mask_blend_pd(rational, _mm512_sub_pd(one, e), mul(s, p));
        let den = _mm512_mask_blend_pd(rational, add(one, e), q);
        let r = _mm512_div_pd(num, den);
        let z = _mm512_mask_blend_pd(rational, r, add(x, mul(x, r)));
        // z ≥ 0: t's sign bit onto it.
        let t_sign = _mm512_and_si512(_mm512_castpd_si512(t), sign);
        Some(_mm512_castsi512_pd(_mm512_or_si512(
            _mm512_castpd_si512(z),
            t_sign,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::half_tanh;

    /// Within an ulp of tanh(t/2) correctly rounded (mpmath: 3021 arguments across the
    /// range and the forms' edges, `scripts/half_tanh_reference.py`); t/2 exactly where
    /// tanh(t/2) rounds to it (|t| < 2^−27), signs and zeros kept.
    #[test]
    fn half_tanh_is_within_an_ulp_of_mpmath() {
        let data = include_str!("../../tests/data/half_tanh/mpmath.txt");
        let bits = |h: &str| f64::from_bits(u64::from_str_radix(h, 16).expect("hex"));
        let mut worst = (0.0, 0.0);
        for line in data.lines() {
            let (t, want) = line
                .split_once(' ')
                .map(|(a, b)| (bits(a), bits(b)))
                .expect("two");
            let got = half_tanh(t);
            assert!(got.is_finite(), "tanh({t:e}/2): {got:e}");
            // In ulps of the correctly rounded value (an exact 0 only as itself).
            let ulps = match want == 0.0 {
                true if got == 0.0 => 0.0,
                true => f64::INFINITY,
                false => (got - want).abs() / (want.abs().next_up() - want.abs()),
            };
            assert!(
                got.is_sign_negative() == want.is_sign_negative(),
                "tanh({t:e}/2): {got:e}"
            );
            if ulps > worst.0 {
                worst = (ulps, t);
            }
            if t.abs() < 2f64.powi(-27) {
                assert_eq!(got, 0.5 * t, "tanh({t:e}/2) is t/2");
            }
        }
        assert!(data.lines().count() > 3000);
        assert!(worst.0 <= 1.0, "{} ulp at t = {:e}", worst.0, worst.1);
        assert!(half_tanh(f64::NAN).is_nan());
        assert_eq!(half_tanh(f64::INFINITY), 1.0);
        assert_eq!(half_tanh(f64::NEG_INFINITY), -1.0);
    }

    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    mod lanes {
        use super::super::HalfTanh;
        use crate::kernels::lanes::check::{
            eight_lanes_are_two_fours, slices_have_the_scalar_bits,
        };

        /// Both slice drivers give the scalar function's bits, special values and the last
        /// values short of a vector included, on either side of each form's edges.
        #[test]
        fn the_slice_has_the_scalar_bits() {
            let special = [
                0.0,
                -0.0,
                1e-300,
                1.25,
                -1.25f64.next_up(),
                40.0,
                -40.0f64.next_up(),
                f64::NAN,
                f64::NEG_INFINITY,
                1e300,
            ];
            slices_have_the_scalar_bits::<HalfTanh>(&special);
        }

        /// Eight lanes are two fours (AVX-512 machines only).
        #[test]
        fn eight_lanes_have_four_lanes_bits() {
            let edges = [1.25, 40.0, f64::INFINITY, f64::NAN, 0.0, 1e-300];
            eight_lanes_are_two_fours::<HalfTanh>(7, &edges, |slot, u, v| match slot {
                1..=6 => 100.0 * u - 50.0,
                _ => (u - 0.5) * 2f64.powf(-60.0 + 67.0 * v),
            });
        }
    }
}
