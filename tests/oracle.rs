//! Against PyTorch autograd (float64): the cases in tests/data/oracle (see its README).
//!
//! Tolerances. f64: max-abs error / max-abs reference ≤ 1e-12. Each gradient entry is a
//! sum of ~d1·d2 rounded products, and two correct f64 programs that sum in different
//! orders (BLAS blocking vs PyTorch's) differ by up to ~(d1+d2)·ε relative to the terms'
//! magnitude: ≈ 4.5e-14 here. 1e-12 leaves 20× on that and still fails on any real
//! mistake (a wrong σ' is off by O(1)). f32: the network is the f64 one rounded, so
//! inputs carry 6e-8 relative error amplified by the conditioning of the sums; 1e-4
//! relative to the largest entry.

mod common;

use fwdrev::{npy, Mode, Real};
use ndarray::{Array1, Array2, ArrayD, Ix0, Ix1, Ix2};
use std::path::PathBuf;

const CASES: &[&str] = &["seed_shape", "tall", "wide", "tiny", "saturating"];

fn path(case: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracle")
        .join(case)
        .join(file)
}

fn load(case: &str, file: &str) -> ArrayD<f64> {
    npy::read::<f64, ndarray::IxDyn>(path(case, file)).unwrap_or_else(|e| panic!("{e}"))
}

struct Case {
    a: Array2<f64>,
    b: Array2<f64>,
    x: Array1<f64>,
    f: f64,
    grad: Array1<f64>,
}

fn case(name: &str) -> Case {
    Case {
        a: load(name, "A.npy").into_dimensionality::<Ix2>().unwrap(),
        b: load(name, "B.npy").into_dimensionality::<Ix2>().unwrap(),
        x: load(name, "x.npy").into_dimensionality::<Ix1>().unwrap(),
        f: load(name, "f.npy")
            .into_dimensionality::<Ix0>()
            .unwrap()
            .into_scalar(),
        grad: reference_grad(name),
    }
}

/// The gradient to trust: PyTorch's, except where a 60-digit recomputation exists
/// (grad_mp.npy, see tests/data/oracle/README.md: PyTorch's σ(1−σ) underflows in
/// `saturating`).
fn reference_grad(name: &str) -> Array1<f64> {
    let file = if path(name, "grad_mp.npy").exists() {
        "grad_mp.npy"
    } else {
        "grad.npy"
    };
    load(name, file).into_dimensionality::<Ix1>().unwrap()
}

/// max |got − want| / max |want|.
fn rel_max(got: &Array1<f64>, want: &Array1<f64>) -> f64 {
    let err = (got - want).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
    err / want.mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v))
}

#[test]
fn f64_value_and_gradient_match_pytorch_in_both_modes() {
    for name in CASES {
        let c = case(name);
        let net = common::sigmoid2(c.a.clone(), c.b.clone()).unwrap();
        let f = net.value(c.x.view()).unwrap();
        assert!(
            ((f - c.f) / c.f).abs() <= 1e-13,
            "{name}: f = {f}, torch {}",
            c.f
        );
        for mode in [Mode::Forward, Mode::Reverse] {
            let (f, g) = net.value_and_grad(c.x.view(), mode).unwrap();
            assert!(((f - c.f) / c.f).abs() <= 1e-13, "{name} {mode}: f");
            let e = rel_max(&g, &c.grad);
            assert!(e <= 1e-12, "{name} {mode}: gradient error {e:e}");
        }
    }
}

#[test]
fn f64_forward_mode_with_many_panels_matches_pytorch() {
    // A budget of 3 columns' worth forces several panels and a narrow last one.
    for name in CASES {
        let c = case(name);
        // The two buffers of 3 columns, each carved in whole 64-byte lines.
        let lines = |n: usize| n.div_ceil(8) * 64;
        let budget = lines(3 * c.a.nrows()) + lines(3 * c.b.nrows());
        let net = common::sigmoid2(c.a, c.b)
            .unwrap()
            .with_memory_budget(budget);
        let (_, g) = net.value_and_grad(c.x.view(), Mode::Forward).unwrap();
        let e = rel_max(&g, &c.grad);
        assert!(e <= 1e-12, "{name}: gradient error {e:e}");
    }
}

#[test]
fn saturating_case_matches_the_60_digit_reference_entry_by_entry() {
    // Pre-activations reach ±1e4: σ'(y1) is e^-|t| for most units and the true gradient
    // entries are ~1e-39. σ(1−σ) on a rounded σ is exactly 0 for t ≳ 37: every entry
    // must keep its own relative accuracy instead.
    let c = case("saturating");
    let net = common::sigmoid2(c.a, c.b).unwrap();
    for mode in [Mode::Forward, Mode::Reverse] {
        let (_, g) = net.value_and_grad(c.x.view(), mode).unwrap();
        for (j, (&got, &want)) in g.iter().zip(&c.grad).enumerate() {
            let e = ((got - want) / want).abs();
            assert!(
                e <= 1e-12,
                "{mode} entry {j}: {got:e} vs 60 digits {want:e} ({e:e})"
            );
        }
    }
}

#[test]
fn pytorch_saturating_gradient_is_the_underflowed_sigma_one_minus_sigma() {
    // Why the saturating case is checked against grad_mp.npy and not grad.npy: PyTorch's
    // answer is reproduced exactly by σ'(t) = σ(t)(1 − σ(t)) with σ rounded first, and is
    // ~1e160 times smaller than the true gradient.
    use ndarray::Zip;
    let c = case("saturating");
    let torch = load("saturating", "grad.npy")
        .into_dimensionality::<Ix1>()
        .unwrap();
    let sig = |t: f64| 1.0 / (1.0 + (-t).exp());
    let naive = |y: Array1<f64>| y.mapv(|t| sig(t) * (1.0 - sig(t)));
    let y1 = c.a.dot(&c.x);
    let y2 = c.b.dot(&y1.mapv(sig));
    let mut z = c.b.t().dot(&naive(y2));
    Zip::from(&mut z).and(&naive(y1)).for_each(|z, &s| *z *= s);
    let g_naive = c.a.t().dot(&z);
    assert!(rel_max(&g_naive, &torch) <= 1e-12);
    assert!(
        rel_max(&torch, &c.grad) > 0.99,
        "torch's saturating gradient is not the truth"
    );
}

fn to_f32(a: &Array2<f64>) -> Array2<f32> {
    a.mapv(|v| v as f32)
}

#[test]
fn f32_matches_the_f64_oracle_loosely() {
    for name in CASES.iter().filter(|&&n| n != "saturating") {
        let c = case(name);
        let net = common::sigmoid2::<f32>(to_f32(&c.a), to_f32(&c.b)).unwrap();
        let x = c.x.mapv(|v| v as f32);
        for mode in [Mode::Forward, Mode::Reverse] {
            let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
            assert!(
                ((f.as_f64() - c.f) / c.f).abs() <= 1e-5,
                "{name} {mode}: f32 f"
            );
            let e = rel_max(&g.mapv(|v| v as f64), &c.grad);
            assert!(e <= 1e-4, "{name} {mode}: f32 gradient error {e:e}");
        }
    }
}

#[test]
fn f32_saturating_case_stays_finite_and_nonnegative_where_f64_underflows() {
    // In f32 the 1e-199 gradients underflow to 0 (below 1e-45): they must come out as
    // exact zeros or tiny finite numbers, never NaN, and agree with f64 where f64 is large.
    let c = case("saturating");
    let net = common::sigmoid2::<f32>(to_f32(&c.a), to_f32(&c.b)).unwrap();
    let x = c.x.mapv(|v| v as f32);
    let (_, g) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
    let scale = c.grad.mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
    for (&got, &want) in g.iter().zip(&c.grad) {
        assert!(got.is_finite());
        assert!((got as f64 - want).abs() <= 1e-3 * scale + 1e-30);
    }
}
