//! The batched call against the single-point one, column by column.
//!
//! Tolerance 1e-13 of each column's absolute scale: both are reverse mode in f64 and
//! differ only in the order of their sums (GEMM blocking vs the fused row pass), so
//! their gradients differ by ~(d0 + d1 + d2)·ε times what the terms of each entry add up
//! to in absolute value, |A|ᵀ·(σ'(y1) ∘ |B|ᵀ·σ'(y2)) — not times |∇f|, which a
//! cancelling sum can make far smaller (d0 = 1, d1 = 41, d2 = 37 once gave 1.8e-13
//! relative to |∇f|). The bound holds where the pre-activations are moderate, as here;
//! at d = 8000 with x ~ N(0, I), |y1| reaches ~90 and σ' = e^{−|y|} turns the ~1e-14
//! absolute rounding of y into a relative difference of ~1e-13 between any two
//! summation orders (README, "Conditioning").

mod common;

use common::{sigmoid, sigmoid_derivative};
use fwdrev::{npy, random, Error, Mode};
use ndarray::{Array1, Array2, ArrayView1, Ix2};
use proptest::prelude::*;
use std::path::PathBuf;

/// max|p − q| over max of `scale`.
fn rel_max(p: ArrayView1<f64>, q: ArrayView1<f64>, scale: ArrayView1<f64>) -> f64 {
    let err = (&p - &q).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
    err / scale.fold(f64::MIN_POSITIVE, |m, &v| m.max(v))
}

/// |A|ᵀ·(σ'(y1) ∘ |B|ᵀ·σ'(y2)) at x: each gradient entry's terms in absolute value.
fn absolute_gradient(net: &fwdrev::Mlp<f64>, x: ArrayView1<f64>) -> Array1<f64> {
    let y1 = common::w(net, 0).dot(&x);
    let y2 = common::w(net, 1).dot(&y1.mapv(sigmoid));
    let z = common::w(net, 1)
        .mapv(f64::abs)
        .t()
        .dot(&y2.mapv(sigmoid_derivative));
    let w = &y1.mapv(sigmoid_derivative) * &z;
    common::w(net, 0).mapv(f64::abs).t().dot(&w)
}

/// Asserts every column of the batch against the single-point reverse call.
fn check_columns(net: &fwdrev::Mlp<f64>, x: &Array2<f64>) -> Result<(), TestCaseError> {
    let (f, g) = net.value_and_grad_batch(x.view()).unwrap();
    prop_assert_eq!(f.len(), x.ncols());
    prop_assert_eq!(g.dim(), x.dim());
    for j in 0..x.ncols() {
        let (f1, g1) = net.value_and_grad(x.column(j), Mode::Reverse).unwrap();
        let rel_f = (f[j] - f1).abs() / f1.abs().max(f64::MIN_POSITIVE);
        prop_assert!(
            rel_f <= 1e-13,
            "column {}: f {} vs {} ({:e})",
            j,
            f[j],
            f1,
            rel_f
        );
        let scale = absolute_gradient(net, x.column(j));
        let rel = rel_max(g.column(j), g1.view(), scale.view());
        prop_assert!(
            rel <= 1e-13,
            "column {}: gradient off by {:e} relative",
            j,
            rel
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn every_column_matches_the_single_point_call(
        d0 in 1usize..60, d1 in 1usize..60, d2 in 1usize..60, k in 1usize..12,
        seed in any::<u64>(), scale in 0.1f64..2.0,
    ) {
        let net = common::seeded::<f64>(d0, d1, d2, seed).unwrap();
        let x = random::standard_normal::<f64>(d0, k, seed ^ 7, 0).unwrap().mapv(|v| v * scale);
        check_columns(&net, &x)?;
    }
}

#[test]
fn oracle_cases_batched_match_single_points() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/oracle");
    for case in ["seed_shape", "tall", "wide", "tiny"] {
        let load = |f: &str| {
            npy::read::<f64, ndarray::IxDyn>(dir.join(case).join(f))
                .unwrap()
                .into_dimensionality::<Ix2>()
                .unwrap()
        };
        let net = common::sigmoid2(load("A.npy"), load("B.npy")).unwrap();
        let d0 = net.widths()[0];
        // The oracle's x among 16 seeded points (some scaled up, into saturation).
        let mut x = random::standard_normal::<f64>(d0, 16, 3, 0).unwrap();
        x.column_mut(5).mapv_inplace(|v| 4.0 * v);
        let xo = npy::read::<f64, ndarray::IxDyn>(dir.join(case).join("x.npy")).unwrap();
        x.column_mut(0)
            .assign(&xo.into_shape_with_order(d0).unwrap());
        check_columns(&net, &x).unwrap();
    }
}

#[test]
fn a_batch_in_any_memory_order_gives_the_same_bits() {
    let net = common::seeded::<f64>(30, 20, 10, 5).unwrap();
    let x = random::standard_normal::<f64>(30, 7, 9, 0).unwrap();
    let xf = x.t().as_standard_layout().reversed_axes().to_owned();
    assert!(xf.t().is_standard_layout() && xf == x);
    let (f, g) = net.value_and_grad_batch(x.view()).unwrap();
    let (ff, gf) = net.value_and_grad_batch(xf.view()).unwrap();
    assert_eq!((f, g), (ff, gf));
}

/// The batch on 1, 2 and 3 threads of its own pool: the same bits. Where its products
/// run on faer's kernels or the crate's (the pure-Rust build; a BLAS build with
/// `set_deterministic`, which tests/threads.rs covers), its points are cut one piece
/// per thread (in f64 at k = 64, 71 and 200, uneven at 71 and 200; in f32, whose
/// multiply-adds count half, at 200), each point's sums in the same order as in the
/// whole batch; a BLAS build keeps these batches whole.
#[test]
fn a_batch_cut_among_threads_gives_the_bits_of_one_thread() {
    use fwdrev::{Activation, Mlp, Par, Scratch};
    use ndarray::ShapeBuilder;
    use std::num::NonZeroUsize;
    fn run<T: fwdrev::Real>(widths: &[usize], k: usize) {
        let net = Mlp::<T>::from_seed(widths, Activation::Sigmoid, 3).unwrap();
        let x = random::standard_normal::<T>(widths[0], k, 8, 0).unwrap();
        let call = |par: Par| {
            let (mut f, mut g) = (Array1::zeros(k), Array2::zeros((widths[0], k).f()));
            let mut scratch = Scratch::new();
            net.value_and_grad_batch_into(x.view(), f.view_mut(), g.view_mut(), par, &mut scratch)
                .unwrap();
            // The bits, so that −0 and 0 differ.
            let bits = f.iter().chain(g.iter()).map(|v| v.as_f64().to_bits());
            bits.collect::<Vec<u64>>()
        };
        let one = call(Par::Seq);
        for threads in [1, 2, 3] {
            let par = Par::Threads(NonZeroUsize::new(threads).unwrap());
            assert!(call(par) == one, "{widths:?}, k = {k}, {threads} threads");
        }
    }
    for k in [64, 71, 200] {
        run::<f64>(&[100, 105, 95], k);
        run::<f32>(&[100, 105, 95], k);
    }
    run::<f64>(&[64, 300, 50, 200, 1], 96);
}

#[test]
fn f32_batch_agrees_with_f64() {
    let net64 = common::seeded::<f64>(50, 40, 30, 11).unwrap();
    let net32 = common::seeded::<f32>(50, 40, 30, 11).unwrap();
    let x = random::standard_normal::<f64>(50, 5, 2, 0).unwrap();
    let (_, g64) = net64.value_and_grad_batch(x.view()).unwrap();
    let (_, g32) = net32
        .value_and_grad_batch(x.mapv(|v| v as f32).view())
        .unwrap();
    for j in 0..5 {
        let g = g32.column(j).mapv(f64::from);
        let scale = absolute_gradient(&net64, x.column(j));
        assert!(rel_max(g.view(), g64.column(j), scale.view()) <= 1e-4);
    }
}

#[test]
fn bad_batches_are_typed_errors() {
    let net = common::seeded::<f64>(4, 3, 2, 0).unwrap();
    let wrong = Array2::<f64>::zeros((5, 2));
    let err = net.value_and_grad_batch(wrong.view()).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("(4, k)") && err.to_string().contains("[5, 2]"));
    let mut x = Array2::<f64>::zeros((4, 3));
    x[[2, 1]] = f64::NAN;
    let err = net.value_and_grad_batch(x.view()).unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite { what: "X", index, .. } if index == &vec![2, 1]),
        "{err}"
    );
    let (f, g) = net
        .value_and_grad_batch(Array2::zeros((4, 0)).view())
        .unwrap();
    assert_eq!((f.len(), g.dim()), (0, (4, 0)));
}
