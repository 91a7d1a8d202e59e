//! tanh over a slice of f64, four lanes at a time (AVX2 and FMA) or eight (AVX-512F, the
//! same operations), with the bits of the scalar `f64::tanh`. glibc's tanh is fdlibm's:
//! tanh x = 1 − 2/(t + 2) with t = e^{2|x|} − 1 for |x| ≥ 1, −t/(t + 2) with
//! t = e^{−2|x|} − 1 below; its expm1 is fdlibm's as glibc's FMA build runs it
//! (`__expm1_fma`), here operation for operation, a fused multiply-add wherever that
//! build has one: x = k·ln2 + r (k = 0 where |x| ≤ ln2/2, −1 where |x| ≤ 1.5·ln2), e^r − 1
//! by a rational form in r²/2, then k put back by one of four formulas after k; from
//! |x| = 22 on tanh is ±1, below 2^−55 x·(1 + x). Lanes holding ±∞ or NaN run the
//! scalar function. As with the logistic's exp, the lanes run only on Linux with glibc, and only
//! once this process's tanh has given their bits on 512 arguments across the range;
//! elsewhere the slice runs the scalar function throughout.

use super::lanes::Lanes;
use std::arch::x86_64::*;
use std::hint::black_box;
use std::sync::OnceLock;

/// ln2 in two parts, the high one with trailing zeros (k·hi is exact for k < 2^11).
const LN2_HI: f64 = f64::from_bits(0x3fe62e42fee00000);
const LN2_LO: f64 = f64::from_bits(0x3dea39ef35793c76);
const INV_LN2: f64 = f64::from_bits(0x3ff71547652b82fe);
/// fdlibm's expm1 coefficients Q1 … Q5 (of r²/2's powers).
const Q1: f64 = f64::from_bits(0xbfa11111111110f4);
const Q2: f64 = f64::from_bits(0x3f5a01a019fe5585);
const Q3: f64 = f64::from_bits(0xbf14ce199eaadbb7);
const Q4: f64 = f64::from_bits(0x3ed0cfca86e65239);
const Q5: f64 = f64::from_bits(0xbe8afdb76e09c32d);

/// tanh, with glibc's bits in lanes (see the module).
pub(super) struct Tanh;

impl Lanes for Tanh {
    type Head = Expm1Head;
    #[inline(always)]
    fn one(x: f64) -> f64 {
        x.tanh()
    }
    #[inline(always)]
    unsafe fn head(x: __m256d) -> Option<Expm1Head> {
        // SAFETY: the caller's promise for the features.
        unsafe { tanh4_head(x) }
    }
    #[inline(always)]
    unsafe fn tail(x: __m256d, h: Expm1Head) -> __m256d {
        // SAFETY: the caller's promise for the features.
        unsafe { tanh4_tail(x, expm1_4_tail(h)) }
    }
    #[inline(always)]
    unsafe fn eight(x: __m512d) -> Option<__m512d> {
        // SAFETY: the caller's promise for the features.
        unsafe { tanh8(x) }
    }
    #[inline(always)]
    unsafe fn allowed() -> bool {
        // SAFETY: the caller's promise for the features.
        cfg!(all(target_os = "linux", target_env = "gnu")) && unsafe { libm_is_glibcs() }
    }
}

/// Whether this process's tanh gives [`tanh4`]'s bits, checked once: on 512 arguments,
/// 128 in each of four families (log-uniform magnitudes from 2^−60 to 32 of either sign;
/// uniform in (−32, 32) going up and going down).
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn libm_is_glibcs() -> bool {
    static SAME: OnceLock<bool> = OnceLock::new();
    // Argument i: the (i/4)-th of family i mod 4 (no allocation).
    let arg = |i: usize| {
        let u = ((i / 4) as f64 + 0.5) / 128.0;
        match i % 4 {
            0 => 2f64.powf(-60.0 + 65.0 * u),
            1 => 64.0 * u - 32.0,
            2 => -(2f64.powf(-60.0 + 65.0 * u)),
            _ => 32.0 - 64.0 * u,
        }
    };
    *SAME.get_or_init(|| {
        (0..128).all(|c| {
            let x: [f64; 4] = std::array::from_fn(|j| arg(4 * c + j));
            let mut got = [f64::NAN; 4];
            // SAFETY: four values; the caller's promise for the features.
            if let Some(v) = unsafe { tanh4(_mm256_loadu_pd(x.as_ptr())) } {
                // SAFETY: four values.
                unsafe { _mm256_storeu_pd(got.as_mut_ptr(), v) };
            }
            x.iter()
                .zip(got)
                .all(|(&x, t)| black_box(x).tanh().to_bits() == t.to_bits())
        })
    })
}

/// tanh in four lanes, each as glibc's tanh computes it, or None where a lane is not a
/// finite number.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh4(x: __m256d) -> Option<__m256d> {
    tanh4_head(x).map(|h| tanh4_tail(x, expm1_4_tail(h)))
}

/// The first part of [`tanh4`]'s t = expm1(2|x|) where |x| ≥ 1, expm1(−2|x|) below
/// ([`expm1_4_head`]), or None where a lane is not a finite number.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh4_head(x: __m256d) -> Option<Expm1Head> {
    let set = _mm256_set1_pd;
    let ax = _mm256_andnot_pd(set(-0.0), x);
    // fdlibm's tests are on the high word of |x|.
    let ix = _mm256_srli_epi64::<32>(_mm256_castpd_si256(ax));
    let finite = _mm256_cmpgt_epi64(_mm256_set1_epi64x(0x7ff00000), ix);
    if _mm256_movemask_pd(_mm256_castsi256_pd(finite)) != 0xf {
        return None;
    }
    let big = _mm256_cmp_pd::<_CMP_GE_OQ>(ax, set(1.0));
    let a = _mm256_blendv_pd(_mm256_mul_pd(ax, set(-2.0)), _mm256_add_pd(ax, ax), big);
    Some(expm1_4_head(a))
}

/// [`tanh4`] from x and t = expm1 (of its [`tanh4_head`], by [`expm1_4_tail`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh4_tail(x: __m256d, t: __m256d) -> __m256d {
    let set = _mm256_set1_pd;
    let int = _mm256_set1_epi64x;
    let sign = set(-0.0);
    let ax = _mm256_andnot_pd(sign, x);
    let ix = _mm256_srli_epi64::<32>(_mm256_castpd_si256(ax));
    // |x| ≥ 1: tanh = 1 − 2/(t + 2); else tanh = −t/(t + 2); from |x| = 22 on, 1 −
    // tiny = 1; the sign of x put back. Below 2^−55 (and at ±0), x·(1 + x).
    let big = _mm256_cmp_pd::<_CMP_GE_OQ>(ax, set(1.0));
    let q = _mm256_div_pd(
        _mm256_blendv_pd(_mm256_xor_pd(t, sign), set(2.0), big),
        _mm256_add_pd(t, set(2.0)),
    );
    let z = _mm256_blendv_pd(q, _mm256_sub_pd(set(1.0), q), big);
    let huge = _mm256_castsi256_pd(_mm256_cmpgt_epi64(ix, int(0x4035ffff)));
    let z = _mm256_xor_pd(_mm256_blendv_pd(z, set(1.0), huge), _mm256_and_pd(x, sign));
    let tiny = _mm256_castsi256_pd(_mm256_cmpgt_epi64(int(0x3c800000), ix));
    let small = _mm256_mul_pd(_mm256_add_pd(set(1.0), x), x);
    _mm256_blendv_pd(z, small, tiny)
}

/// What [`expm1_4_tail`] takes from [`expm1_4_head`]: the rational form's numerator and
/// denominator (their quotient is the tail's first step), r = a − k·ln2 (a where
/// k = 0), its rounding c, r²/2 and k. Cut at the division so that the head is about
/// half of tanh's chain of dependent steps, not most of it (the tail holds both
/// divisions): a run of vectors' heads, then their tails, overlap more of them
/// ([`Lanes::head`]).
#[derive(Clone, Copy)]
pub(super) struct Expm1Head {
    num: __m256d,
    den: __m256d,
    r: __m256d,
    c: __m256d,
    hxs: __m256d,
    k: __m256i,
}

/// e^a − 1 in four lanes as glibc's `__expm1_fma` computes it, up to its division
/// ([`expm1_4_tail`] the rest), for the arguments tanh gives it: 2 ≤ a < 44 or
/// −2 < a ≤ −2^−54 (so k ≠ 1, and no lane overflows or is tiny; lanes with other a give
/// values that [`tanh4`] does not use).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn expm1_4_head(a: __m256d) -> Expm1Head {
    let set = _mm256_set1_pd;
    let int = _mm256_set1_epi64x;
    let one = set(1.0);
    let hx = _mm256_and_si256(
        _mm256_srli_epi64::<32>(_mm256_castpd_si256(a)),
        int(0x7fffffff),
    );
    let neg = _mm256_cmp_pd::<_CMP_LT_OQ>(a, _mm256_setzero_pd());
    // k = 0 where |a| ≤ ln2/2, −1 where |a| ≤ 1.5·ln2 (a < 0 there), else
    // trunc(a/ln2 ± 1/2), the product rounded before the sum.
    let k0 = _mm256_cmpgt_epi64(int(0x3fd62e43), hx);
    let km1 = _mm256_andnot_si256(k0, _mm256_cmpgt_epi64(int(0x3ff0a2b2), hx));
    let half = _mm256_blendv_pd(set(0.5), set(-0.5), neg);
    let k32 = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(a, set(INV_LN2)), half));
    let kd = _mm256_cvtepi32_pd(k32);
    let k = _mm256_cvtepi32_epi64(k32);
    let k = _mm256_andnot_si256(k0, _mm256_or_si256(km1, k));
    // a = hi − lo, hi = a − k·ln2_hi (exact), lo = k·ln2_lo; r = hi − lo and c the
    // rounding of r.
    let km1d = _mm256_castsi256_pd(km1);
    let hi = _mm256_blendv_pd(
        _mm256_fnmadd_pd(kd, set(LN2_HI), a),
        _mm256_add_pd(a, set(LN2_HI)),
        km1d,
    );
    let lo = _mm256_blendv_pd(_mm256_mul_pd(kd, set(LN2_LO)), set(-LN2_LO), km1d);
    let rr = _mm256_sub_pd(hi, lo);
    let c = _mm256_sub_pd(_mm256_sub_pd(hi, rr), lo);
    let r = _mm256_blendv_pd(rr, a, _mm256_castsi256_pd(k0));
    // e = e^r − 1 − r − r²/2 in fdlibm's rational form.
    let hfx = _mm256_mul_pd(r, set(0.5));
    let hxs = _mm256_mul_pd(r, hfx);
    let r2 = _mm256_fmadd_pd(hxs, set(Q3), set(Q2));
    let r3 = _mm256_fmadd_pd(hxs, set(Q5), set(Q4));
    let h2 = _mm256_mul_pd(hxs, hxs);
    let r1 = _mm256_fmadd_pd(hxs, set(Q1), one);
    let h4 = _mm256_mul_pd(h2, h2);
    let r1 = _mm256_fmadd_pd(h4, r3, _mm256_fmadd_pd(h2, r2, r1));
    let t = _mm256_fnmadd_pd(r1, hfx, set(3.0));
    let (num, den) = (_mm256_sub_pd(r1, t), _mm256_fnmadd_pd(r, t, set(6.0)));
    Expm1Head {
        num,
        den,
        r,
        c,
        hxs,
        k,
    }
}

/// e^a − 1 from [`expm1_4_head`]'s parts: its division on.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn expm1_4_tail(h: Expm1Head) -> __m256d {
    let Expm1Head {
        num,
        den,
        r,
        c,
        hxs,
        k,
    } = h;
    let set = _mm256_set1_pd;
    let int = _mm256_set1_epi64x;
    let one = set(1.0);
    let e = _mm256_mul_pd(_mm256_div_pd(num, den), hxs);
    // k = 0: r − (r·e − r²/2).
    let at0 = _mm256_sub_pd(r, _mm256_fmsub_pd(e, r, hxs));
    // Otherwise e ← r·(e − c) − c − r²/2, then by k.
    let e = _mm256_sub_pd(_mm256_fmsub_pd(_mm256_sub_pd(e, c), r, c), hxs);
    let at_m1 = _mm256_fmadd_pd(set(0.5), _mm256_sub_pd(r, e), set(-0.5));
    let e_r = _mm256_sub_pd(e, r);
    // Adding k to the exponent: k·2^52 added to the bits.
    let scale = |y: __m256d| {
        _mm256_castsi256_pd(_mm256_add_epi64(
            _mm256_castpd_si256(y),
            _mm256_slli_epi64::<52>(k),
        ))
    };
    // k ≤ −2 or k > 56: 2^k·(1 − (e − r)) − 1.
    let far = _mm256_sub_pd(scale(_mm256_sub_pd(one, e_r)), one);
    // 2 ≤ k < 20: 2^k·((1 − 2^−k) − (e − r)).
    let high = _mm256_sub_epi64(int(0x3ff00000), _mm256_srlv_epi64(int(0x200000), k));
    let low_k = scale(_mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_slli_epi64::<32>(high)),
        e_r,
    ));
    // 20 ≤ k ≤ 56: 2^k·((r − (e + 2^−k)) + 1).
    let two_mk = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_sub_epi64(int(0x3ff), k)));
    let mid_k = scale(_mm256_add_pd(
        _mm256_sub_pd(r, _mm256_add_pd(e, two_mk)),
        one,
    ));
    let is_far = _mm256_or_si256(
        _mm256_cmpgt_epi64(int(-1), k),
        _mm256_cmpgt_epi64(k, int(56)),
    );
    let is_mid = _mm256_cmpgt_epi64(k, int(19));
    let pd = _mm256_castsi256_pd;
    let v = _mm256_blendv_pd(low_k, mid_k, pd(is_mid));
    let v = _mm256_blendv_pd(v, far, pd(is_far));
    // (Truncation gives k = −1 also past the high-word edge, just below 1.5·ln2.)
    let v = _mm256_blendv_pd(v, at_m1, pd(_mm256_cmpeq_epi64(k, int(-1))));
    // k = 0 exactly on k0's lanes (high word below ln2/2's); elsewhere |k| ≥ 1, NaN
    // and ∞ included.
    _mm256_blendv_pd(v, at0, pd(_mm256_cmpeq_epi64(k, _mm256_setzero_si256())))
}

/// [`tanh4`] in eight lanes (AVX-512F): the same operations, masks for the comparisons
/// and the blends.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn tanh8(x: __m512d) -> Option<__m512d> {
    let set = _mm512_set1_pd;
    let int = _mm512_set1_epi64;
    let ax = _mm512_abs_pd(x);
    let ix = _mm512_srli_epi64::<32>(_mm512_castpd_si512(ax));
    if _mm512_cmplt_epi64_mask(ix, int(0x7ff00000)) != 0xff {
        return None;
    }
    let big = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(ax, set(1.0));
    let a = _mm512_mask_blend_pd(big, _mm512_mul_pd(ax, set(-2.0)), _mm512_add_pd(ax, ax));
    let t = expm1_8(a);
    let sign = int(i64::MIN);
    let minus_t = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(t), sign));
    let q = _mm512_div_pd(
        _mm512_mask_blend_pd(big, minus_t, set(2.0)),
        _mm512_add_pd(t, set(2.0)),
    );
    let z = _mm512_mask_blend_pd(big, q, _mm512_sub_pd(set(1.0), q));
    let z = _mm512_mask_blend_pd(_mm512_cmpgt_epi64_mask(ix, int(0x4035ffff)), z, set(1.0));
    let x_sign = _mm512_and_si512(_mm512_castpd_si512(x), sign);
    let z = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(z), x_sign));
    let small = _mm512_mul_pd(_mm512_add_pd(set(1.0), x), x);
    Some(_mm512_mask_blend_pd(
        _mm512_cmplt_epi64_mask(ix, int(0x3c800000)),
        z,
        small,
    ))
}

/// [`expm1_4_head`] and [`expm1_4_tail`] in eight lanes (AVX-512F), step for step.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn expm1_8(a: __m512d) -> __m512d {
    let set = _mm512_set1_pd;
    let int = _mm512_set1_epi64;
    let one = set(1.0);
    let hx = _mm512_and_si512(
        _mm512_srli_epi64::<32>(_mm512_castpd_si512(a)),
        int(0x7fffffff),
    );
    let neg = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, _mm512_setzero_pd());
    let k0 = _mm512_cmplt_epi64_mask(hx, int(0x3fd62e43));
    let km1 = !k0 & _mm512_cmplt_epi64_mask(hx, int(0x3ff0a2b2));
    let half = _mm512_mask_blend_pd(neg, set(0.5), set(-0.5));
    let k32 = _mm512_cvttpd_epi32(_mm512_add_pd(_mm512_mul_pd(a, set(INV_LN2)), half));
    let kd = _mm512_cvtepi32_pd(k32);
    let k = _mm512_mask_mov_epi64(_mm512_cvtepi32_epi64(k32), km1, int(-1));
    let k = _mm512_maskz_mov_epi64(!k0, k);
    let hi = _mm512_mask_blend_pd(
        km1,
        _mm512_fnmadd_pd(kd, set(LN2_HI), a),
        _mm512_add_pd(a, set(LN2_HI)),
    );
    let lo = _mm512_mask_blend_pd(km1, _mm512_mul_pd(kd, set(LN2_LO)), set(-LN2_LO));
    let rr = _mm512_sub_pd(hi, lo);
    let c = _mm512_sub_pd(_mm512_sub_pd(hi, rr), lo);
    let r = _mm512_mask_blend_pd(k0, rr, a);
    let hfx = _mm512_mul_pd(r, set(0.5));
    let hxs = _mm512_mul_pd(r, hfx);
    let r2 = _mm512_fmadd_pd(hxs, set(Q3), set(Q2));
    let r3 = _mm512_fmadd_pd(hxs, set(Q5), set(Q4));
    let h2 = _mm512_mul_pd(hxs, hxs);
    let r1 = _mm512_fmadd_pd(hxs, set(Q1), one);
    let h4 = _mm512_mul_pd(h2, h2);
    let r1 = _mm512_fmadd_pd(h4, r3, _mm512_fmadd_pd(h2, r2, r1));
    let t = _mm512_fnmadd_pd(r1, hfx, set(3.0));
    let e = _mm512_mul_pd(
        _mm512_div_pd(_mm512_sub_pd(r1, t), _mm512_fnmadd_pd(r, t, set(6.0))),
        hxs,
    );
    let at0 = _mm512_sub_pd(r, _mm512_fmsub_pd(e, r, hxs));
    let e = _mm512_sub_pd(_mm512_fmsub_pd(_mm512_sub_pd(e, c), r, c), hxs);
    let at_m1 = _mm512_fmadd_pd(set(0.5), _mm512_sub_pd(r, e), set(-0.5));
    let e_r = _mm512_sub_pd(e, r);
    let scale = |y: __m512d| {
        _mm512_castsi512_pd(_mm512_add_epi64(
            _mm512_castpd_si512(y),
            _mm512_slli_epi64::<52>(k),
        ))
    };
    let far = _mm512_sub_pd(scale(_mm512_sub_pd(one, e_r)), one);
    let high = _mm512_sub_epi64(int(0x3ff00000), _mm512_srlv_epi64(int(0x200000), k));
    let low_k = scale(_mm512_sub_pd(
        _mm512_castsi512_pd(_mm512_slli_epi64::<32>(high)),
        e_r,
    ));
    let two_mk = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_sub_epi64(int(0x3ff), k)));
    let mid_k = scale(_mm512_add_pd(
        _mm512_sub_pd(r, _mm512_add_pd(e, two_mk)),
        one,
    ));
    let is_far = _mm512_cmplt_epi64_mask(k, int(-1)) | _mm512_cmpgt_epi64_mask(k, int(56));
    let v = _mm512_mask_blend_pd(_mm512_cmpgt_epi64_mask(k, int(19)), low_k, mid_k);
    let v = _mm512_mask_blend_pd(is_far, v, far);
    let v = _mm512_mask_blend_pd(_mm512_cmpeq_epi64_mask(k, int(-1)), v, at_m1);
    _mm512_mask_blend_pd(k0, v, at0)
}

#[cfg(all(test, target_env = "gnu"))]
mod tests {
    use super::super::lanes::check::{eight_lanes_are_two_fours, slices_have_the_scalar_bits};
    use super::*;

    /// Every lane against the C library's tanh, bit for bit: a million values across
    /// each of tanh's and expm1's cases (log-uniform magnitudes from 2^−60 to 2^6, either
    /// sign; uniform in (−30, 30); values near each edge the two functions test, and
    /// near every multiple of ln2/2 where k changes), zeros, subnormals and huge values;
    /// and None for ±∞ and NaN.
    #[test]
    fn tanh4_has_glibcs_bits() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let mut state = 11_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Edges of |x|, of 2|x| (expm1's high-word tests: ln2/2, 1.5·ln2, 56·ln2) and of
        // every k (x = (j + 1/2)·ln2/2 for j < 64).
        let mut edges = vec![2f64.powi(-55), 1.0, 22.0];
        edges.extend(
            [
                0x3fd62e42_u64,
                0x3fd62e43,
                0x3ff0a2b1,
                0x3ff0a2b2,
                0x4043687a,
            ]
            .map(|h| f64::from_bits(h << 32) / 2.0),
        );
        edges.extend((0..64).map(|j| (j as f64 + 0.5) * std::f64::consts::LN_2 / 2.0));
        let mut checked = 0;
        for i in 0..250_000 {
            let near = |e: f64, u: f64| e * (1.0 + (u - 0.5) * 1e-9);
            let xs = [
                2f64.powf(-60.0 + 66.0 * next()) * if next() < 0.5 { 1.0 } else { -1.0 },
                60.0 * next() - 30.0,
                near(edges[i % edges.len()], next()),
                -near(edges[(i / 7) % edges.len()], next()),
            ];
            // SAFETY: AVX2 and FMA, checked above.
            let got = unsafe { tanh4(_mm256_loadu_pd(xs.as_ptr())) };
            let inside = xs.iter().all(|x| x.is_finite());
            match got {
                Some(v) => {
                    assert!(inside, "{xs:?}");
                    let mut out = [0.0; 4];
                    // SAFETY: four values.
                    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) };
                    for (x, t) in xs.iter().zip(out) {
                        assert_eq!(t.to_bits(), x.tanh().to_bits(), "tanh({x:e})");
                    }
                    checked += 4;
                }
                None => assert!(!inside, "{xs:?}"),
            }
        }
        assert!(checked > 500_000, "{checked}");
        let edges = [
            0.0,
            -0.0,
            5e-324,
            -1e-300,
            2f64.powi(-56),
            22.0,
            -30.0,
            1e300,
        ];
        for xs in edges.chunks(4) {
            let mut out = [0.0; 4];
            // SAFETY: AVX2 and FMA, checked above; four values.
            unsafe {
                let v = tanh4(_mm256_loadu_pd(xs.as_ptr())).expect("finite");
                _mm256_storeu_pd(out.as_mut_ptr(), v);
            }
            for (x, t) in xs.iter().zip(out) {
                assert_eq!(t.to_bits(), x.tanh().to_bits(), "tanh({x:e})");
            }
        }
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            // SAFETY: AVX2 and FMA, checked above.
            let v = unsafe { tanh4(_mm256_loadu_pd([x, 0.5, -1.5, 3.0].as_ptr())) };
            assert!(v.is_none(), "{x:e} is off the lanes' range");
        }
        // SAFETY: AVX2 and FMA, checked above.
        assert!(unsafe { libm_is_glibcs() });
    }

    /// tanh8's lanes are tanh4's (hence glibc's), and it leaves the range where tanh4
    /// does, on vectors whose lanes mix both sides of each edge.
    #[test]
    fn tanh8_has_tanh4s_bits() {
        let edges = [
            2f64.powi(-55),
            2f64.powi(-56),
            22.0,
            f64::INFINITY,
            f64::NAN,
            0.0,
        ];
        eight_lanes_are_two_fours::<Tanh>(5, &edges, |slot, u, v| match slot {
            1..=6 => 44.0 * u - 22.0,
            _ => (u - 0.5) * 2f64.powf(-54.0 + 59.0 * v),
        });
    }

    /// Both slice drivers have `f64::tanh`'s bits, special values and tails included.
    #[test]
    fn the_slice_has_the_scalar_bits() {
        let special = [0.0, -0.0, 1e-300, 22.0, -40.0, f64::NAN, f64::NEG_INFINITY];
        slices_have_the_scalar_bits::<Tanh>(&special);
    }
}
