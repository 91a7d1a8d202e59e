//! Forward vs reverse vs finite differences on random shapes (1, odd, panel-splitting),
//! and the properties of σ that the stable forms promise.

mod common;

use common::{sigmoid, sigmoid_and_derivative, sigmoid_derivative};
use fwdrev::finite_difference::central_differences;
use fwdrev::{random, Mode};
use ndarray::Array1;
use proptest::prelude::*;

fn rel_max(p: &Array1<f64>, q: &Array1<f64>) -> f64 {
    let err = (p - q).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
    err / q.mapv(f64::abs).fold(f64::MIN_POSITIVE, |m, &v| m.max(v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Forward (with a budget that forces 1–4 panels) and reverse agree to 1e-12;
    /// both agree with central differences to 1e-6 relative, above FD's rounding floor.
    #[test]
    fn modes_agree_with_each_other_and_with_finite_differences(
        d0 in 1usize..40, d1 in 1usize..40, d2 in 1usize..40,
        seed in any::<u64>(), scale in 0.1f64..3.0, panels in 1usize..5,
    ) {
        // The two buffers of ⌈d0/panels⌉ columns, each carved in whole 64-byte lines.
        let (w, lines) = (d0.div_ceil(panels), |n: usize| n.div_ceil(8) * 64);
        let budget = lines(d1 * w) + lines(d2 * w);
        let net = common::seeded::<f64>(d0, d1, d2, seed).unwrap().with_memory_budget(budget);
        let x = random::standard_normal_vector::<f64>(d0, seed ^ 1).unwrap().mapv(|v| v * scale);
        let (f_fwd, fwd) = net.value_and_grad(x.view(), Mode::Forward).unwrap();
        let (f_rev, rev) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
        prop_assert_eq!(f_fwd, f_rev);
        prop_assert_eq!(f_rev, net.value(x.view()).unwrap());
        prop_assert!(rel_max(&fwd, &rev) <= 1e-12, "fwd vs rev {:e}", rel_max(&fwd, &rev));
        // FD carries rounding error ~ε·|f|/h = ε^(2/3)·|f| ≈ 4e-11·|f| whatever the
        // gradient's size, so the bound is relative to |∇f| plus that floor (×25).
        let fd = central_differences(&net, x.view()).unwrap();
        let err = (&rev - &fd).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
        let scale = rev.mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
        prop_assert!(err <= 1e-6 * scale + 1e-9 * f_rev.abs().max(1.0), "rev vs fd {:e} (|g| {:e})", err, scale);
    }

    /// f32 follows f64 on the same (rounded) network to f32 accuracy: error ≤ 1e-4 of
    /// the largest entry of |A|ᵀ·(σ'(y1) ∘ (|B|ᵀ·σ'(y2))), the gradient's terms without
    /// their signs. Relative to the gradient itself the bound would fail by cancellation
    /// (seen: d0 = 1, one entry summing terms 1e3× larger than itself).
    #[test]
    fn f32_follows_f64(d0 in 1usize..30, d1 in 1usize..30, d2 in 1usize..30, seed in any::<u64>()) {
        let n64 = common::seeded::<f64>(d0, d1, d2, seed).unwrap();
        let n32 = common::seeded::<f32>(d0, d1, d2, seed).unwrap();
        prop_assert_eq!(common::w(&n32, 0), common::w(&n64, 0).mapv(|v| v as f32));
        let x = random::standard_normal_vector::<f64>(d0, seed).unwrap();
        let (_, g64) = n64.value_and_grad(x.view(), Mode::Reverse).unwrap();
        let (a, b) = (common::w(&n64, 0), common::w(&n64, 1));
        let y1 = a.dot(&x);
        let y2 = b.dot(&y1.mapv(sigmoid));
        let z = b.mapv(f64::abs).t().dot(&y2.mapv(sigmoid_derivative)) * y1.mapv(sigmoid_derivative);
        let terms = a.mapv(f64::abs).t().dot(&z);
        let scale = terms.fold(f64::MIN_POSITIVE, |m, &v| m.max(v));
        for mode in [Mode::Forward, Mode::Reverse] {
            let (_, g32) = n32.value_and_grad(x.mapv(|v| v as f32).view(), mode).unwrap();
            let e = (&g32.mapv(|v| v as f64) - &g64).fold(0.0_f64, |m, &v| m.max(v.abs())) / scale;
            prop_assert!(e <= 1e-4, "{} {:e}", mode, e);
        }
    }

    /// σ'(t) = σ(t)(1−σ(t)) for t ≤ 0, where that product has no cancellation (σ ≤ ½),
    /// and σ' is even, σ(−t) = 1 − σ(t): together they pin σ' for every t down to the
    /// flush at ε·√(min normal) ≈ 3.3e-170 (|t| ≳ 390; see activation.rs).
    #[test]
    fn sigmoid_derivative_is_sigma_times_one_minus_sigma(t in -385.0f64..0.0) {
        let (s, ds) = sigmoid_and_derivative(t);
        prop_assert!((ds - s * (1.0 - s)).abs() <= 4.0 * f64::EPSILON * ds, "{} {}", ds, s * (1.0 - s));
        prop_assert!((sigmoid(-t) - (1.0 - s)).abs() <= 2.0 * f64::EPSILON);
        prop_assert_eq!(sigmoid_derivative(-t), ds);
    }
}

#[test]
fn sigmoid_never_overflows_and_its_derivative_keeps_the_tails() {
    for &t in &[
        f64::MAX,
        1e308,
        745.0,
        700.0,
        40.0,
        -40.0,
        -700.0,
        -1e308,
        -f64::MAX,
    ] {
        let (s, ds) = sigmoid_and_derivative(t);
        assert!(s.is_finite() && (0.0..=1.0).contains(&s), "σ({t}) = {s}");
        assert!(ds.is_finite() && ds >= 0.0, "σ'({t}) = {ds}");
    }
    // Where σ rounds to 1, σ' = e^-t exactly in the tail: relative error ≤ a few ε,
    // down to the flush (σ' < 3.3e-170 is 0: see activation.rs).
    assert_eq!(sigmoid_derivative(700.0_f64), 0.0);
    for t in [40.0_f64, 100.0, 385.0] {
        let want: f64 = (-t).exp();
        assert!(
            (sigmoid_derivative(t) - want).abs() <= 4.0 * f64::EPSILON * want,
            "σ'({t})"
        );
        assert_eq!(sigmoid(t), 1.0);
    }
    assert_eq!(sigmoid(f64::INFINITY), 1.0);
    assert_eq!(sigmoid(f64::NEG_INFINITY), 0.0);
    assert_eq!(sigmoid_derivative(f64::INFINITY), 0.0);
    assert_eq!(sigmoid_derivative(0.0), 0.25);
    assert!(sigmoid(f64::NAN).is_nan());
}

#[test]
fn huge_weights_give_finite_values_and_gradients() {
    // Entries up to ±1e300 saturate every unit: f is finite, ∇f is finite (mostly 0).
    let net = common::seeded::<f64>(7, 5, 3, 9).unwrap();
    let big = common::sigmoid2(
        common::w(&net, 0).mapv(|v| v * 1e300),
        common::w(&net, 1).mapv(|v| v * 1e300),
    )
    .unwrap();
    let x = random::standard_normal_vector::<f64>(7, 9).unwrap();
    for mode in [Mode::Forward, Mode::Reverse] {
        let (f, g) = big.value_and_grad(x.view(), mode).unwrap();
        assert!(f.is_finite() && (0.0..=3.0).contains(&f));
        assert!(g.iter().all(|v| v.is_finite()), "{mode}: {g}");
    }
}

#[test]
fn seeded_networks_are_reproducible_and_seed_dependent() {
    let a = common::seeded::<f64>(50, 60, 40, 7).unwrap();
    let b = common::seeded::<f64>(50, 60, 40, 7).unwrap();
    let c = common::seeded::<f64>(50, 60, 40, 8).unwrap();
    assert_eq!(common::w(&a, 0), common::w(&b, 0));
    assert_eq!(common::w(&a, 1), common::w(&b, 1));
    assert_ne!(common::w(&a, 0), common::w(&c, 0));
    // Standard normal: mean ≈ 0, variance ≈ 1 over 3000 draws (5σ bounds).
    let n = common::w(&a, 0).len() as f64;
    let mean = common::w(&a, 0).sum() / n;
    let var = common::w(&a, 0).mapv(|v| (v - mean).powi(2)).sum() / n;
    assert!(mean.abs() < 5.0 / n.sqrt() && (var - 1.0).abs() < 5.0 * (2.0 / n).sqrt());
    // A row is the same whatever the matrix's width beyond it: rows are streams.
    let wide = common::seeded::<f64>(50, 61, 40, 7).unwrap();
    assert_eq!(common::w(&wide, 0).row(3), common::w(&a, 0).row(3));
}

#[test]
fn results_are_bit_identical_across_runs_at_parallel_sizes() {
    // Large enough that the GEMVs, the row scaling and the GEMM all split across threads.
    let net = common::seeded::<f64>(700, 650, 600, 3)
        .unwrap()
        .with_memory_budget(4 << 20);
    let x = random::standard_normal_vector::<f64>(700, 3).unwrap();
    let f = net.value(x.view()).unwrap();
    for mode in [Mode::Forward, Mode::Reverse] {
        let first = net.value_and_grad(x.view(), mode).unwrap();
        // Every entry point shares the second layer's pass: f is the same bits.
        assert_eq!(first.0, f, "{mode}");
        for _ in 0..3 {
            assert_eq!(net.value_and_grad(x.view(), mode).unwrap(), first, "{mode}");
        }
    }
}
