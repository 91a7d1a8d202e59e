//! The logistic σ(t) = 1/(1 + e^−t) and σ'(t) over a slice of f64, four lanes at a time
//! (AVX2 and FMA) or eight (AVX-512F, the same operations), with the bits of the scalar
//! [`Activation::value_and_slope`]: the exp is glibc's (since 2.28; Szabolcs Nagy's
//! from Arm's optimized-routines, MIT), operation for operation as its FMA build runs
//! it — e^x = 2^(k/N)·e^r with x = k·ln2/N + r, N = 128: 2^(k/N) from the table below,
//! e^r by a degree-5 polynomial — and the rest of the formula is IEEE arithmetic, the
//! same in any lane. Lanes where glibc leaves its fast path (|x| ≥ 512, |x| < 2^−54,
//! NaN, ±∞) run the scalar formula instead. Other exps differ (other C libraries, glibc
//! before 2.28, glibc told by a tunable not to use FMA, an exp put in its place), so the
//! lanes run only on Linux with glibc, and only once this process's exp has given the
//! lanes' bits on 512 arguments across the fast path; elsewhere the slice runs the
//! scalar formula throughout.
//!
//! [`Activation::value_and_slope`]: crate::Activation::value_and_slope

use super::lanes::{first_lanes, padded4, Lanes};
use super::portable;
use std::arch::x86_64::*;
use std::hint::black_box;
use std::sync::OnceLock;

/// Table entries per unit of the exponent: 2^(k/N) for k mod N.
const N: usize = 128;
const _: () = assert!(N.is_power_of_two(), "k mod N is a mask");
/// N/ln2, N = 128.
const INV_LN2_N: f64 = f64::from_bits(0x40671547652b82fe);
/// −ln2/N in two parts, the high one with trailing zeros (k·hi is exact).
const NEG_LN2_HI_N: f64 = f64::from_bits(0xbf762e42fefa0000);
const NEG_LN2_LO_N: f64 = f64::from_bits(0xbd0cf79abc9e3b3a);
/// 1.5·2^52: adding it rounds to an integer, which the low bits then hold.
const SHIFT: f64 = f64::from_bits(0x4338000000000000);
/// e^r − 1 − r ≈ r²·(C2 + r·C3) + r⁴·(C4 + r·C5) on |r| ≤ ln2/(2N).
const C2: f64 = f64::from_bits(0x3fdffffffffffdbd);
const C3: f64 = f64::from_bits(0x3fc555555555543c);
const C4: f64 = f64::from_bits(0x3fa55555cf172b91);
const C5: f64 = f64::from_bits(0x3f81111167a4d017);

/// For k < N: entry 2k the bits of t_k, entry 2k+1 those of h_k less k·2^45, where
/// 2^(k/N) ≈ h_k·(1 + t_k) (h_k a double, t_k its relative error).
static TABLE: [u64; 2 * N] = [
    0x0000000000000000,
    0x3ff0000000000000,
    0x3c9b3b4f1a88bf6e,
    0x3feff63da9fb3335,
    0xbc7160139cd8dc5d,
    0x3fefec9a3e778061,
    0xbc905e7a108766d1,
    0x3fefe315e86e7f85,
    0x3c8cd2523567f613,
    0x3fefd9b0d3158574,
    0xbc8bce8023f98efa,
    0x3fefd06b29ddf6de,
    0x3c60f74e61e6c861,
    0x3fefc74518759bc8,
    0x3c90a3e45b33d399,
    0x3fefbe3ecac6f383,
    0x3c979aa65d837b6d,
    0x3fefb5586cf9890f,
    0x3c8eb51a92fdeffc,
    0x3fefac922b7247f7,
    0x3c3ebe3d702f9cd1,
    0x3fefa3ec32d3d1a2,
    0xbc6a033489906e0b,
    0x3fef9b66affed31b,
    0xbc9556522a2fbd0e,
    0x3fef9301d0125b51,
    0xbc5080ef8c4eea55,
    0x3fef8abdc06c31cc,
    0xbc91c923b9d5f416,
    0x3fef829aaea92de0,
    0x3c80d3e3e95c55af,
    0x3fef7a98c8a58e51,
    0xbc801b15eaa59348,
    0x3fef72b83c7d517b,
    0xbc8f1ff055de323d,
    0x3fef6af9388c8dea,
    0x3c8b898c3f1353bf,
    0x3fef635beb6fcb75,
    0xbc96d99c7611eb26,
    0x3fef5be084045cd4,
    0x3c9aecf73e3a2f60,
    0x3fef54873168b9aa,
    0xbc8fe782cb86389d,
    0x3fef4d5022fcd91d,
    0x3c8a6f4144a6c38d,
    0x3fef463b88628cd6,
    0x3c807a05b0e4047d,
    0x3fef3f49917ddc96,
    0x3c968efde3a8a894,
    0x3fef387a6e756238,
    0x3c875e18f274487d,
    0x3fef31ce4fb2a63f,
    0x3c80472b981fe7f2,
    0x3fef2b4565e27cdd,
    0xbc96b87b3f71085e,
    0x3fef24dfe1f56381,
    0x3c82f7e16d09ab31,
    0x3fef1e9df51fdee1,
    0xbc3d219b1a6fbffa,
    0x3fef187fd0dad990,
    0x3c8b3782720c0ab4,
    0x3fef1285a6e4030b,
    0x3c6e149289cecb8f,
    0x3fef0cafa93e2f56,
    0x3c834d754db0abb6,
    0x3fef06fe0a31b715,
    0x3c864201e2ac744c,
    0x3fef0170fc4cd831,
    0x3c8fdd395dd3f84a,
    0x3feefc08b26416ff,
    0xbc86a3803b8e5b04,
    0x3feef6c55f929ff1,
    0xbc924aedcc4b5068,
    0x3feef1a7373aa9cb,
    0xbc9907f81b512d8e,
    0x3feeecae6d05d866,
    0xbc71d1e83e9436d2,
    0x3feee7db34e59ff7,
    0xbc991919b3ce1b15,
    0x3feee32dc313a8e5,
    0x3c859f48a72a4c6d,
    0x3feedea64c123422,
    0xbc9312607a28698a,
    0x3feeda4504ac801c,
    0xbc58a78f4817895b,
    0x3feed60a21f72e2a,
    0xbc7c2c9b67499a1b,
    0x3feed1f5d950a897,
    0x3c4363ed60c2ac11,
    0x3feece086061892d,
    0x3c9666093b0664ef,
    0x3feeca41ed1d0057,
    0x3c6ecce1daa10379,
    0x3feec6a2b5c13cd0,
    0x3c93ff8e3f0f1230,
    0x3feec32af0d7d3de,
    0x3c7690cebb7aafb0,
    0x3feebfdad5362a27,
    0x3c931dbdeb54e077,
    0x3feebcb299fddd0d,
    0xbc8f94340071a38e,
    0x3feeb9b2769d2ca7,
    0xbc87deccdc93a349,
    0x3feeb6daa2cf6642,
    0xbc78dec6bd0f385f,
    0x3feeb42b569d4f82,
    0xbc861246ec7b5cf6,
    0x3feeb1a4ca5d920f,
    0x3c93350518fdd78e,
    0x3feeaf4736b527da,
    0x3c7b98b72f8a9b05,
    0x3feead12d497c7fd,
    0x3c9063e1e21c5409,
    0x3feeab07dd485429,
    0x3c34c7855019c6ea,
    0x3feea9268a5946b7,
    0x3c9432e62b64c035,
    0x3feea76f15ad2148,
    0xbc8ce44a6199769f,
    0x3feea5e1b976dc09,
    0xbc8c33c53bef4da8,
    0x3feea47eb03a5585,
    0xbc845378892be9ae,
    0x3feea34634ccc320,
    0xbc93cedd78565858,
    0x3feea23882552225,
    0x3c5710aa807e1964,
    0x3feea155d44ca973,
    0xbc93b3efbf5e2228,
    0x3feea09e667f3bcd,
    0xbc6a12ad8734b982,
    0x3feea012750bdabf,
    0xbc6367efb86da9ee,
    0x3fee9fb23c651a2f,
    0xbc80dc3d54e08851,
    0x3fee9f7df9519484,
    0xbc781f647e5a3ecf,
    0x3fee9f75e8ec5f74,
    0xbc86ee4ac08b7db0,
    0x3fee9f9a48a58174,
    0xbc8619321e55e68a,
    0x3fee9feb564267c9,
    0x3c909ccb5e09d4d3,
    0x3feea0694fde5d3f,
    0xbc7b32dcb94da51d,
    0x3feea11473eb0187,
    0x3c94ecfd5467c06b,
    0x3feea1ed0130c132,
    0x3c65ebe1abd66c55,
    0x3feea2f336cf4e62,
    0xbc88a1c52fb3cf42,
    0x3feea427543e1a12,
    0xbc9369b6f13b3734,
    0x3feea589994cce13,
    0xbc805e843a19ff1e,
    0x3feea71a4623c7ad,
    0xbc94d450d872576e,
    0x3feea8d99b4492ed,
    0x3c90ad675b0e8a00,
    0x3feeaac7d98a6699,
    0x3c8db72fc1f0eab4,
    0x3feeace5422aa0db,
    0xbc65b6609cc5e7ff,
    0x3feeaf3216b5448c,
    0x3c7bf68359f35f44,
    0x3feeb1ae99157736,
    0xbc93091fa71e3d83,
    0x3feeb45b0b91ffc6,
    0xbc5da9b88b6c1e29,
    0x3feeb737b0cdc5e5,
    0xbc6c23f97c90b959,
    0x3feeba44cbc8520f,
    0xbc92434322f4f9aa,
    0x3feebd829fde4e50,
    0xbc85ca6cd7668e4b,
    0x3feec0f170ca07ba,
    0x3c71affc2b91ce27,
    0x3feec49182a3f090,
    0x3c6dd235e10a73bb,
    0x3feec86319e32323,
    0xbc87c50422622263,
    0x3feecc667b5de565,
    0x3c8b1c86e3e231d5,
    0x3feed09bec4a2d33,
    0xbc91bbd1d3bcbb15,
    0x3feed503b23e255d,
    0x3c90cc319cee31d2,
    0x3feed99e1330b358,
    0x3c8469846e735ab3,
    0x3feede6b5579fdbf,
    0xbc82dfcd978e9db4,
    0x3feee36bbfd3f37a,
    0x3c8c1a7792cb3387,
    0x3feee89f995ad3ad,
    0xbc907b8f4ad1d9fa,
    0x3feeee07298db666,
    0xbc55c3d956dcaeba,
    0x3feef3a2b84f15fb,
    0xbc90a40e3da6f640,
    0x3feef9728de5593a,
    0xbc68d6f438ad9334,
    0x3feeff76f2fb5e47,
    0xbc91eee26b588a35,
    0x3fef05b030a1064a,
    0x3c74ffd70a5fddcd,
    0x3fef0c1e904bc1d2,
    0xbc91bdfbfa9298ac,
    0x3fef12c25bd71e09,
    0x3c736eae30af0cb3,
    0x3fef199bdd85529c,
    0x3c8ee3325c9ffd94,
    0x3fef20ab5fffd07a,
    0x3c84e08fd10959ac,
    0x3fef27f12e57d14b,
    0x3c63cdaf384e1a67,
    0x3fef2f6d9406e7b5,
    0x3c676b2c6c921968,
    0x3fef3720dcef9069,
    0xbc808a1883ccb5d2,
    0x3fef3f0b555dc3fa,
    0xbc8fad5d3ffffa6f,
    0x3fef472d4a07897c,
    0xbc900dae3875a949,
    0x3fef4f87080d89f2,
    0x3c74a385a63d07a7,
    0x3fef5818dcfba487,
    0xbc82919e2040220f,
    0x3fef60e316c98398,
    0x3c8e5a50d5c192ac,
    0x3fef69e603db3285,
    0x3c843a59ac016b4b,
    0x3fef7321f301b460,
    0xbc82d52107b43e1f,
    0x3fef7c97337b9b5f,
    0xbc892ab93b470dc9,
    0x3fef864614f5a129,
    0x3c74b604603a88d3,
    0x3fef902ee78b3ff6,
    0x3c83c5ec519d7271,
    0x3fef9a51fbc74c83,
    0xbc8ff7128fd391f0,
    0x3fefa4afa2a490da,
    0xbc8dae98e223747d,
    0x3fefaf482d8e67f1,
    0x3c8ec3bc41aa2008,
    0x3fefba1bee615a27,
    0x3c842b94c3a9eb32,
    0x3fefc52b376bba97,
    0x3c8a64a931d185ee,
    0x3fefd0765b6e4540,
    0xbc8e37bae43be3ed,
    0x3fefdbfdad9cbe14,
    0x3c77893b4d91cd9d,
    0x3fefe7c1819e90d8,
    0x3c5305c14160cc89,
    0x3feff3c22b8f71f1,
];

/// σ and σ' of each t in `y` (σ into `y`, σ' into `s`), as
/// `Activation::Sigmoid.value_and_slope` gives them, bit for bit: four lanes at a time
/// where this process's exp is glibc's, else the scalar formula.
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn sigmoid(y: &mut [f64], s: &mut [f64]) {
    // SAFETY: the caller's promise for the features (both calls).
    match unsafe { lanes_allowed() } {
        true => unsafe { lanes4(y, s) },
        false => portable::sigmoid(y, s),
    }
}

/// [`sigmoid`] eight lanes at a time (AVX-512F), with the same bits: a vector whose
/// lanes leave glibc's fast path, and the last values short of eight, take four lanes.
///
/// SAFETY: the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) unsafe fn sigmoid8s(y: &mut [f64], s: &mut [f64]) {
    // SAFETY: the caller's promise for the features (both calls).
    match unsafe { lanes_allowed() } {
        true => unsafe { stretches::<Eight>(y, s) },
        false => portable::sigmoid(y, s),
    }
}

/// exp, with glibc's bits in lanes ([`exp4`], [`exp8`]).
pub(super) struct Exp;

impl Lanes for Exp {
    type Head = __m256d;
    #[inline(always)]
    fn one(x: f64) -> f64 {
        x.exp()
    }
    #[inline(always)]
    unsafe fn head(x: __m256d) -> Option<__m256d> {
        // SAFETY: the caller's promise for the features.
        unsafe { exp4(x) }
    }
    #[inline(always)]
    unsafe fn tail(_: __m256d, e: __m256d) -> __m256d {
        e
    }
    #[inline(always)]
    unsafe fn eight(x: __m512d) -> Option<__m512d> {
        // SAFETY: the caller's promise for the features.
        unsafe { exp8(x) }
    }
    #[inline(always)]
    unsafe fn allowed() -> bool {
        // SAFETY: the caller's promise for the features.
        unsafe { lanes_allowed() }
    }
}

/// Whether the lanes may run: on Linux with glibc, once [`libm_is_glibcs`].
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn lanes_allowed() -> bool {
    // SAFETY: the caller's promise for the features.
    cfg!(all(target_os = "linux", target_env = "gnu")) && unsafe { libm_is_glibcs() }
}

/// [`sigmoid`]'s four lanes, where [`lanes_allowed`].
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn lanes4(y: &mut [f64], s: &mut [f64]) {
    // SAFETY: the caller's promise for the features.
    unsafe { stretches::<Four>(y, s) }
}

/// σ's lanes of one width, for [`stretches`]. SAFETY (every method): the CPU has the
/// width's features.
trait Width {
    /// Values a vector.
    const N: usize;
    type V: Copy;
    /// SAFETY: also, [`N`](Width::N) values at `p`.
    unsafe fn load(p: *const f64) -> Self::V;
    /// SAFETY: also, [`N`](Width::N) values at `p`.
    unsafe fn store(p: *mut f64, v: Self::V);
    /// exp(−|t|) with glibc's bits, or None where a lane leaves its fast path.
    unsafe fn exp_minus_abs(t: Self::V) -> Option<Self::V>;
    /// σ and σ' from t and e = exp(−|t|).
    unsafe fn sigmoid_of(t: Self::V, e: Self::V) -> (Self::V, Self::V);
    /// σ and σ' by fewer lanes or the scalar formula: a vector off the fast path, or
    /// the last values short of a vector.
    unsafe fn fewer(y: &mut [f64], s: &mut [f64]);
}

/// Four lanes (AVX2 and FMA); fewer: the lanes padded ([`chunk4`]).
struct Four;

impl Width for Four {
    const N: usize = 4;
    type V = __m256d;
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m256d {
        // SAFETY: the caller's promise.
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m256d) {
        // SAFETY: the caller's promise.
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn exp_minus_abs(t: __m256d) -> Option<__m256d> {
        // SAFETY: the caller's promise for the features.
        unsafe { exp4(minus_abs4(t)) }
    }
    #[inline(always)]
    unsafe fn sigmoid_of(t: __m256d, e: __m256d) -> (__m256d, __m256d) {
        // SAFETY: the caller's promise for the features.
        unsafe { sigmoid_of4(t, e) }
    }
    #[inline(always)]
    unsafe fn fewer(y: &mut [f64], s: &mut [f64]) {
        // SAFETY: the caller's promise for the features.
        unsafe { chunk4(y, s) }
    }
}

/// Eight lanes (AVX-512F); fewer: four lanes.
struct Eight;

impl Width for Eight {
    const N: usize = 8;
    type V = __m512d;
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m512d {
        // SAFETY: the caller's promise.
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m512d) {
        // SAFETY: the caller's promise.
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn exp_minus_abs(t: __m512d) -> Option<__m512d> {
        // SAFETY: the caller's promise for the features.
        unsafe { exp8(minus_abs8(t)) }
    }
    #[inline(always)]
    unsafe fn sigmoid_of(t: __m512d, e: __m512d) -> (__m512d, __m512d) {
        // SAFETY: the caller's promise for the features.
        unsafe { sigmoid_of8(t, e) }
    }
    #[inline(always)]
    unsafe fn fewer(y: &mut [f64], s: &mut [f64]) {
        // SAFETY: the caller's promise for the features.
        unsafe { lanes4(y, s) }
    }
}

/// σ and σ' of each t in `y` (σ into `y`, σ' into `s`) in W's lanes, a vector off exp's
/// fast path and the last values short of a vector by [`Width::fewer`].
///
/// Two passes over each stretch of vectors on the fast path: e = exp(−|t|) into `s`,
/// then σ and σ' from t and e. In one pass each vector is a chain of some 60 cycles
/// (exp's table, polynomial and scale, then the division and the slope) and the reorder
/// buffer holds only three or four of them: the samples pile up behind the division.
/// Apart, each pass's chains are short and many overlap. The same operations: the same
/// bits. (tanh's lanes, in place with no second slice, go in runs: `lanes::quads`.)
///
/// SAFETY: the CPU has W's features.
#[inline(always)]
unsafe fn stretches<W: Width>(y: &mut [f64], s: &mut [f64]) {
    assert_eq!(y.len(), s.len(), "as many slopes as values");
    let n = W::N;
    let whole = y.len() / n * n;
    let mut start = 0;
    while start < whole {
        // The vectors from `start` up to the next one off the fast path, their e in s.
        let mut end = start;
        while end < whole {
            // SAFETY: n values at `end` in each slice; the caller's promise for the
            // features.
            match unsafe { W::exp_minus_abs(W::load(y.as_ptr().add(end))) } {
                // SAFETY: as above.
                Some(e) => unsafe { W::store(s.as_mut_ptr().add(end), e) },
                None => break,
            }
            end += n;
        }
        for i in (start..end).step_by(n) {
            // SAFETY: as above, and s holds exp(−|t|) of these n.
            unsafe {
                let t = W::load(y.as_ptr().add(i));
                let (v, d) = W::sigmoid_of(t, W::load(s.as_ptr().add(i)));
                W::store(y.as_mut_ptr().add(i), v);
                W::store(s.as_mut_ptr().add(i), d);
            }
        }
        if end < whole {
            // SAFETY: the caller's promise for the features.
            unsafe { W::fewer(&mut y[end..end + n], &mut s[end..end + n]) };
        }
        start = end + n;
    }
    if whole < y.len() {
        // SAFETY: the caller's promise for the features.
        unsafe { W::fewer(&mut y[whole..], &mut s[whole..]) };
    }
}

/// σ and σ' of up to four values, in four lanes padded with 1 ([`padded4`]: on exp's
/// fast path), or by the scalar formula where a lane leaves the fast path.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn chunk4(y: &mut [f64], s: &mut [f64]) {
    match sigmoid4(padded4(y)) {
        Some((v, d)) => {
            first_lanes(v, y);
            first_lanes(d, s);
        }
        None => portable::sigmoid(y, s),
    }
}

/// Whether this process's exp gives [`exp4`]'s bits, checked once: on 256 arguments
/// log-uniform from −2^−54 to −512 and 256 uniform in (−512, 512).
///
/// SAFETY: the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn libm_is_glibcs() -> bool {
    static SAME: OnceLock<bool> = OnceLock::new();
    // Argument i: the (i/2)-th of each family, alternately (no allocation: the first
    // call may come from a loop that promises none).
    let arg = |i: usize| {
        let u = ((i / 2) as f64 + 0.5) / 256.0;
        match i % 2 {
            0 => -(2f64.powf(-54.0 + 63.0 * u)),
            _ => 1024.0 * u - 512.0,
        }
    };
    *SAME.get_or_init(|| {
        (0..128).all(|c| {
            let x: [f64; 4] = std::array::from_fn(|j| arg(4 * c + j));
            // SAFETY: four values; the caller's promise for the features.
            let lanes = unsafe { exp4(_mm256_loadu_pd(x.as_ptr())) };
            let mut got = [f64::NAN; 4];
            if let Some(v) = lanes {
                // SAFETY: four values.
                unsafe { _mm256_storeu_pd(got.as_mut_ptr(), v) };
            }
            x.iter()
                .zip(got)
                .all(|(&x, e)| black_box(x).exp().to_bits() == e.to_bits())
        })
    })
}

/// (σ(t), σ'(t)) in four lanes as `logistic` and `value_and_slope` compute them: e =
/// exp(−|t|), r = 1/(1+e), σ = r (t ≥ 0) or e·r, σ' = e·r·r; outside |t| ≤ 1 a value
/// below the smallest normal and a slope below ε·√(smallest normal) are 0. None where
/// a lane's exp leaves glibc's fast path.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid4(t: __m256d) -> Option<(__m256d, __m256d)> {
    Some(sigmoid_of4(t, exp4(minus_abs4(t))?))
}

/// −|t| in four lanes: the sign bit set.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn minus_abs4(t: __m256d) -> __m256d {
    _mm256_or_pd(t, _mm256_set1_pd(-0.0))
}

/// [`sigmoid4`] from t and e = exp(−|t|).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid_of4(t: __m256d, e: __m256d) -> (__m256d, __m256d) {
    let one = _mm256_set1_pd(1.0);
    let a = _mm256_andnot_pd(_mm256_set1_pd(-0.0), t);
    let r = _mm256_div_pd(one, _mm256_add_pd(one, e));
    let er = _mm256_mul_pd(e, r);
    let v = _mm256_blendv_pd(er, r, _mm256_cmp_pd::<_CMP_GE_OQ>(t, _mm256_setzero_pd()));
    let d = _mm256_mul_pd(er, r);
    // Flushes, only where |t| > 1 (v and d are ≥ 0 here: no abs needed).
    let far = _mm256_cmp_pd::<_CMP_GT_OQ>(a, one);
    let floor = f64::EPSILON * f64::MIN_POSITIVE.sqrt();
    let flush = |x: __m256d, below: f64| {
        let tiny = _mm256_cmp_pd::<_CMP_LT_OQ>(x, _mm256_set1_pd(below));
        _mm256_andnot_pd(_mm256_and_pd(far, tiny), x)
    };
    (flush(v, f64::MIN_POSITIVE), flush(d, floor))
}

/// e^x in four lanes with glibc's bits (its `__exp_fma`, step for step), or None where a
/// lane is outside its fast path, 2^−54 ≤ |x| < 512.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn exp4(x: __m256d) -> Option<__m256d> {
    let bits = _mm256_castpd_si256(x);
    let abstop = _mm256_and_si256(_mm256_srli_epi64::<52>(bits), _mm256_set1_epi64x(0x7ff));
    let off = _mm256_sub_epi64(abstop, _mm256_set1_epi64x(0x3c9));
    let below = _mm256_cmpgt_epi64(_mm256_setzero_si256(), off);
    let above = _mm256_cmpgt_epi64(off, _mm256_set1_epi64x(0x3e));
    let out = _mm256_or_si256(below, above);
    if _mm256_testz_si256(out, out) == 0 {
        return None;
    }
    let set = _mm256_set1_pd;
    // k = round(x·N/ln2), in kd's low bits; r = x − k·ln2/N.
    let kd = _mm256_fmadd_pd(x, set(INV_LN2_N), set(SHIFT));
    let ki = _mm256_castpd_si256(kd);
    let kd = _mm256_sub_pd(kd, set(SHIFT));
    let r = _mm256_fmadd_pd(kd, set(NEG_LN2_HI_N), x);
    let r = _mm256_fmadd_pd(kd, set(NEG_LN2_LO_N), r);
    // 2^(k/N) = 2^(k div N)·h_{k mod N}·(1 + t_{k mod N}).
    let top = _mm256_slli_epi64::<45>(ki);
    let (tail, high) = table_pairs(ki);
    let scale = _mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(high), top));
    let r2 = _mm256_mul_pd(r, r);
    let low = _mm256_fmadd_pd(r, set(C3), set(C2));
    let high_terms = _mm256_fmadd_pd(r, set(C5), set(C4));
    let tmp = _mm256_fmadd_pd(low, r2, _mm256_add_pd(r, tail));
    let tmp = _mm256_fmadd_pd(_mm256_mul_pd(r2, r2), high_terms, tmp);
    Some(_mm256_fmadd_pd(scale, tmp, scale))
}

/// TABLE's entries 2j and 2j + 1 (t_j's bits, and h_j's less j·2^45) for each lane's
/// j = k mod N (k in the lane's low bits), one 16-byte load a lane, then transposed.
/// Four plain loads, not two gathers: on Zen 3 (AVX2 only) σ's samples piled up behind
/// the gathers, and σ with σ' over a slice took 2.54 ns a unit against 3.05 (medians of
/// three paired runs, docs/measured.md).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn table_pairs(k: __m256i) -> (__m256d, __m256d) {
    let j = _mm256_and_si256(k, _mm256_set1_epi64x(N as i64 - 1));
    let (low, high) = (_mm256_castsi256_si128(j), _mm256_extracti128_si256::<1>(j));
    let lanes = [
        _mm_cvtsi128_si64(low),
        _mm_extract_epi64::<1>(low),
        _mm_cvtsi128_si64(high),
        _mm_extract_epi64::<1>(high),
    ];
    // SAFETY: each j is below N (masked above), so entries 2·j and 2·j + 1 are within
    // the table's 2·N.
    let [p0, p1, p2, p3] =
        lanes.map(|j| unsafe { TABLE.as_ptr().add(2 * j as usize).cast::<f64>() });
    // (t0, h0, t2, h2) and (t1, h1, t3, h3): their low and high halves interleaved.
    // SAFETY: two values at each pointer, as above.
    let (even, odd) = unsafe { (_mm256_loadu2_m128d(p2, p0), _mm256_loadu2_m128d(p3, p1)) };
    (_mm256_unpacklo_pd(even, odd), _mm256_unpackhi_pd(even, odd))
}

/// −|t| in eight lanes: the sign bit set.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn minus_abs8(t: __m512d) -> __m512d {
    _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_castpd_si512(t),
        _mm512_set1_epi64(i64::MIN),
    ))
}

/// [`sigmoid_of4`] in eight lanes (AVX-512F): the same operations, masks for the
/// comparisons and the flushes.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn sigmoid_of8(t: __m512d, e: __m512d) -> (__m512d, __m512d) {
    let one = _mm512_set1_pd(1.0);
    let a = _mm512_abs_pd(t);
    let r = _mm512_div_pd(one, _mm512_add_pd(one, e));
    let er = _mm512_mul_pd(e, r);
    let v = _mm512_mask_blend_pd(
        _mm512_cmp_pd_mask::<_CMP_GE_OQ>(t, _mm512_setzero_pd()),
        er,
        r,
    );
    let d = _mm512_mul_pd(er, r);
    // Flushes, only where |t| > 1 (v and d are ≥ 0 here: no abs needed), to +0.
    let far = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, one);
    let floor = f64::EPSILON * f64::MIN_POSITIVE.sqrt();
    let flush = |x: __m512d, below: f64| {
        let tiny = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, _mm512_set1_pd(below));
        _mm512_maskz_mov_pd(!(far & tiny), x)
    };
    (flush(v, f64::MIN_POSITIVE), flush(d, floor))
}

/// [`exp4`] in eight lanes (AVX-512F), step for step.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn exp8(x: __m512d) -> Option<__m512d> {
    let bits = _mm512_castpd_si512(x);
    let abstop = _mm512_and_si512(_mm512_srli_epi64::<52>(bits), _mm512_set1_epi64(0x7ff));
    let off = _mm512_sub_epi64(abstop, _mm512_set1_epi64(0x3c9));
    let below = _mm512_cmplt_epi64_mask(off, _mm512_setzero_si512());
    let above = _mm512_cmpgt_epi64_mask(off, _mm512_set1_epi64(0x3e));
    if below | above != 0 {
        return None;
    }
    let set = _mm512_set1_pd;
    let kd = _mm512_fmadd_pd(x, set(INV_LN2_N), set(SHIFT));
    let ki = _mm512_castpd_si512(kd);
    let kd = _mm512_sub_pd(kd, set(SHIFT));
    let r = _mm512_fmadd_pd(kd, set(NEG_LN2_HI_N), x);
    let r = _mm512_fmadd_pd(kd, set(NEG_LN2_LO_N), r);
    let idx = _mm512_slli_epi64::<1>(_mm512_and_si512(ki, _mm512_set1_epi64(0x7f)));
    let top = _mm512_slli_epi64::<45>(ki);
    // SAFETY: idx ≤ 254, so idx and idx + 1 are within the table.
    let (tail, high) = unsafe {
        let base = TABLE.as_ptr().cast::<i64>();
        (
            _mm512_castsi512_pd(_mm512_i64gather_epi64::<8>(idx, base)),
            _mm512_i64gather_epi64::<8>(idx, base.add(1)),
        )
    };
    let scale = _mm512_castsi512_pd(_mm512_add_epi64(high, top));
    let r2 = _mm512_mul_pd(r, r);
    let low = _mm512_fmadd_pd(r, set(C3), set(C2));
    let high_terms = _mm512_fmadd_pd(r, set(C5), set(C4));
    let tmp = _mm512_fmadd_pd(low, r2, _mm512_add_pd(r, tail));
    let tmp = _mm512_fmadd_pd(_mm512_mul_pd(r2, r2), high_terms, tmp);
    Some(_mm512_fmadd_pd(scale, tmp, scale))
}

#[cfg(all(test, target_env = "gnu"))]
mod tests {
    use super::super::lanes::check::eight_lanes_are_two_fours;
    use super::*;
    use crate::Activation;

    /// Every lane of exp4 against the C library's exp, bit for bit, over the fast path's
    /// whole range (about 0.76 M values: the vectors whose four lanes are all on it), and
    /// None outside it; then fixed arguments at the path's edges.
    #[test]
    fn exp4_has_glibcs_bits() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let mut state = 1_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for _ in 0..400_000 {
            // Uniform in [−600, 600], and log-uniform magnitudes from 2^−60 to 2^9.
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let m = 2f64.powf(-60.0 + 69.0 * ((next() >> 11) as f64 / (1u64 << 53) as f64));
            let sign = if next() & 1 == 0 { 1.0 } else { -1.0 };
            let xs = [1200.0 * u - 600.0, sign * m, -m, 700.0 * u - 745.0];
            // SAFETY: AVX2 and FMA, checked above.
            let got = unsafe { exp4(_mm256_loadu_pd(xs.as_ptr())) };
            let fast = xs
                .iter()
                .all(|x| (2f64.powi(-54)..512.0).contains(&x.abs()));
            match got {
                Some(v) => {
                    assert!(fast, "{xs:?}");
                    let mut out = [0.0; 4];
                    // SAFETY: four values.
                    unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) };
                    for (x, e) in xs.iter().zip(out) {
                        assert_eq!(e.to_bits(), x.exp().to_bits(), "exp({x:e})");
                    }
                    checked += 4;
                }
                None => assert!(!fast, "{xs:?}"),
            }
        }
        assert!(checked > 400_000, "{checked}");
        let tiny = 2f64.powi(-54);
        let edges = [
            [-tiny, -511.999_999, 511.999_999, tiny],
            [-1.0, 1.0, -0.5, -(2f64.powi(-53))],
            [-512.0 + 1e-9, -708.0 / 2.0, 709.0 / 2.0, -1e-16],
        ];
        for xs in edges {
            // SAFETY: AVX2 and FMA, checked above.
            let v = unsafe { exp4(_mm256_loadu_pd(xs.as_ptr())) }.expect("on the path");
            let mut out = [0.0; 4];
            // SAFETY: four values.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) };
            for (x, e) in xs.iter().zip(out) {
                assert_eq!(e.to_bits(), x.exp().to_bits(), "exp({x:e})");
            }
        }
        let off = [
            0.0,
            -0.0,
            2f64.powi(-55),
            -1e-300,
            -512.0,
            600.0,
            f64::NAN,
            f64::NEG_INFINITY,
        ];
        for x in off {
            // SAFETY: AVX2 and FMA, checked above.
            let v = unsafe { exp4(_mm256_loadu_pd([x, -1.0, -2.0, -3.0].as_ptr())) };
            assert!(v.is_none(), "{x:e} is off glibc's fast path");
        }
        // SAFETY: AVX2 and FMA, checked above.
        assert!(unsafe { libm_is_glibcs() });
    }

    /// exp8's lanes are exp4's (hence glibc's), and it leaves the fast path where exp4
    /// does, on vectors whose lanes mix both sides of each edge.
    #[test]
    fn exp8_has_exp4s_bits() {
        let edges = [
            2f64.powi(-54),
            2f64.powi(-55),
            511.999,
            512.0,
            f64::NAN,
            0.0,
        ];
        eight_lanes_are_two_fours::<Exp>(3, &edges, |slot, u, v| match slot {
            1..=4 => 1000.0 * u - 500.0,
            _ => -(2f64.powf(-54.0 + 63.0 * v)),
        });
    }

    /// The slice has the scalar formula's bits everywhere: random t, flushed tails, and
    /// lengths with tails; and each special argument (|t| = 1 on either side, flushed
    /// values and slopes, ±0, subnormals, ±∞, NaN) in every lane of a vector of ordinary
    /// ones.
    #[test]
    fn the_slice_has_the_scalar_bits() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.0 + f64::EPSILON,
            -1.0 - f64::EPSILON,
            1e-300,
            -5e-324,
            f64::MIN_POSITIVE / 2.0,
            -1e-17,
            390.0,
            -390.5,
            708.0,
            -745.2,
            800.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut state = 7_u64;
        let mut t: Vec<f64> = (0..20_000)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                match i % 3 {
                    0 => 20.0 * u - 10.0,
                    1 => 900.0 * u - 450.0,
                    _ => (u - 0.5) * 2.5,
                }
            })
            .collect();
        for sp in special {
            for lane in 0..4 {
                let mut v = [0.5, -2.0, 3.0, -0.25];
                v[lane] = sp;
                t.extend(v);
            }
            // And in every lane of eight (t's length stays a multiple of eight).
            for lane in 0..8 {
                let mut v = [0.5, -2.0, 3.0, -0.25, 1.5, -0.75, 2.5, -3.5];
                v[lane] = sp;
                t.extend(v);
            }
        }
        // The eight-lane driver too, where the CPU has AVX-512F.
        type Driver = unsafe fn(&mut [f64], &mut [f64]);
        let mut drivers: Vec<Driver> = vec![sigmoid];
        if is_x86_feature_detected!("avx512f") {
            drivers.push(sigmoid8s);
        }
        let lengths = [t.len(), 1, 2, 3, 5, 7, 4 * 9 + 3, 8 * 5 + 7, 4 * 16 * 4];
        // From t's start (ordinary values) and from its end (a special value in the last
        // vector), each with a value after the slice that must stay.
        let after = -7.25;
        let runs = drivers.into_iter().flat_map(|d| lengths.map(|n| (d, n)));
        for ((run, len), from) in runs.flat_map(|r| [(r, 0), (r, t.len() - r.1)]) {
            let t = &t[from..from + len];
            let (mut y, mut s) = (t.to_vec(), vec![0.0; len + 1]);
            y.push(after);
            s[len] = after;
            // SAFETY: AVX2 and FMA, checked above, and AVX-512F for the second driver.
            unsafe { run(&mut y[..len], &mut s[..len]) };
            assert_eq!([y[len], s[len]], [after; 2], "beyond {len} values");
            for (i, &ti) in t.iter().enumerate() {
                let (v, d) = Activation::Sigmoid.value_and_slope(ti);
                assert_eq!(
                    (y[i].to_bits(), s[i].to_bits()),
                    (v.to_bits(), d.to_bits()),
                    "σ({ti:e})"
                );
            }
        }
    }
}
