//! The general network: Jacobians (every mode), JVP, VJP, HVP, Hessian and weight
//! gradients, against PyTorch (tests/data/oracle), finite differences, and each other.
//!
//! Tolerances (f64). Products computed two ways (different bracketings, or a product vs
//! the Jacobian it comes from) sum the same terms in different orders: they agree to
//! ~(Σ d_k)·ε relative to the largest entry, ≈ 1e-13 at these sizes, so 1e-12 (as for the
//! gradients). Against central differences, whose error is ~ε^(2/3) ≈ 4e-11 relative to
//! the function's scale times its third derivative: 1e-6 relative to the largest entry,
//! which still fails on a wrong derivative (O(1) off).

mod common;

use fwdrev::{npy, Activation, Call, Error, Layer, Mlp, Mode};
use ndarray::{Array1, Array2, ArrayD, Axis, Ix1, Ix2};
use std::path::PathBuf;

fn load(case: &str, file: &str) -> ArrayD<f64> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracle")
        .join(case)
        .join(file);
    npy::read::<f64, ndarray::IxDyn>(p).unwrap_or_else(|e| panic!("{e}"))
}

/// max |p − q| / max |q| (the absolute error where q is 0: a dead ReLU network).
fn rel<D: ndarray::Dimension>(p: &ndarray::Array<f64, D>, q: &ndarray::Array<f64, D>) -> f64 {
    let scale = q.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let err = p
        .iter()
        .zip(q)
        .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 {
        err
    } else {
        err / scale
    }
}

/// A small deterministic generator for random shapes and budgets: `below(n)` in 0..n.
fn lcg(mut state: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    }
}

fn vector(n: usize, seed: u64) -> Array1<f64> {
    fwdrev::random::standard_normal_vector(n, seed).unwrap()
}

/// Small deep networks of every activation, with weights scaled by 1/√fan-in so that
/// nothing saturates and finite differences see every layer; each once without biases
/// and once with a bias on every other layer (N(0, 0.5²) entries).
fn nets() -> Vec<Mlp<f64>> {
    let shapes: &[&[usize]] = &[&[7, 5], &[6, 9, 4], &[5, 8, 3, 7, 6], &[12, 12, 2, 12, 12]];
    let mut out = Vec::new();
    for (i, widths) in shapes.iter().enumerate() {
        for act in Activation::ALL {
            for biased in [false, true] {
                let layers = widths.windows(2).enumerate().map(|(k, w)| {
                    let m = fwdrev::random::standard_normal::<f64>(
                        w[1],
                        w[0],
                        i as u64,
                        k as u64 * 100,
                    )
                    .unwrap();
                    let layer = Layer::new(m / (w[0] as f64).sqrt(), act);
                    match biased && k % 2 == 0 {
                        true => layer.with_bias(vector(w[1], 50 + k as u64) * 0.5),
                        false => layer,
                    }
                });
                out.push(Mlp::new(layers).unwrap());
            }
        }
    }
    out
}

/// `net` with one parameter moved by t: W_k[i, j], or b_k[i] when `j` is None.
fn nudged(net: &Mlp<f64>, k: usize, i: usize, j: Option<usize>, t: f64) -> Mlp<f64> {
    let layers = net.layers().iter().enumerate().map(|(m, l)| {
        let (mut w, mut b) = (l.weights().to_owned(), l.bias().map(|b| b.to_owned()));
        if m == k {
            match (j, &mut b) {
                (Some(j), _) => w[[i, j]] += t,
                (None, Some(b)) => b[i] += t,
                (None, None) => unreachable!("no bias to move"),
            }
        }
        (w, b, l.activation())
    });
    Mlp::new(layers).unwrap()
}

/// Central differences of F along each input: the Jacobian column by column.
fn fd_jacobian(net: &Mlp<f64>, x: &Array1<f64>) -> Array2<f64> {
    let widths = net.widths();
    let mut j = Array2::zeros((widths[widths.len() - 1], widths[0]));
    let h = f64::EPSILON.cbrt();
    for c in 0..widths[0] {
        let (mut p, mut m) = (x.clone(), x.clone());
        p[c] += h;
        m[c] -= h;
        let col = (net.output(p.view()).unwrap() - net.output(m.view()).unwrap()) / (2.0 * h);
        j.column_mut(c).assign(&col);
    }
    j
}

#[test]
fn jacobians_match_pytorch_in_every_mode() {
    for case in ["seed_shape", "tall", "wide", "tiny", "saturating"] {
        let a = load(case, "A.npy").into_dimensionality::<Ix2>().unwrap();
        let b = load(case, "B.npy").into_dimensionality::<Ix2>().unwrap();
        let x = load(case, "x.npy").into_dimensionality::<Ix1>().unwrap();
        // saturating: PyTorch's σ(1−σ) underflows (see the oracle README); jac_mp.npy
        // is the 60-digit reference, compared entry by entry.
        let mp = case == "saturating";
        let want = load(case, if mp { "jac_mp.npy" } else { "jac.npy" })
            .into_dimensionality::<Ix2>()
            .unwrap();
        let net = common::sigmoid2(a, b).unwrap();
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let got = net.jacobian(x.view(), mode).unwrap();
            assert!(
                rel(&got, &want) <= 1e-12,
                "{case} {mode}: {}",
                rel(&got, &want)
            );
            if mp {
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-12 * w.abs(), "{case}: {g} vs {w}");
                }
            }
        }
    }
}

#[test]
fn hessian_vector_products_match_pytorch() {
    for case in ["seed_shape", "tall", "wide", "tiny", "saturating"] {
        let net = common::sigmoid2(
            load(case, "A.npy").into_dimensionality::<Ix2>().unwrap(),
            load(case, "B.npy").into_dimensionality::<Ix2>().unwrap(),
        )
        .unwrap();
        let x = load(case, "x.npy").into_dimensionality::<Ix1>().unwrap();
        let v = load(case, "v.npy").into_dimensionality::<Ix1>().unwrap();
        // saturating: PyTorch's second derivatives are built on its underflowed σ(1−σ)
        // too; hvp_mp.npy and grad_mp.npy are the 60-digit references.
        let mp = case == "saturating";
        let want = load(case, if mp { "hvp_mp.npy" } else { "hvp.npy" })
            .into_dimensionality::<Ix1>()
            .unwrap();
        let grad = load(case, if mp { "grad_mp.npy" } else { "grad.npy" })
            .into_dimensionality::<Ix1>()
            .unwrap();
        let (g, hv) = net.hvp(x.view(), v.view()).unwrap();
        assert!(rel(&hv, &want) <= 1e-12, "{case}: {}", rel(&hv, &want));
        assert!(rel(&g, &grad) <= 1e-12, "{case}");
        // H·v sums terms far larger than the result where they cancel (saturating:
        // 100× larger): bound its rounding by the unsigned sum |H|·|v| instead.
        let h = net.hessian(x.view()).unwrap();
        let terms = h.mapv(f64::abs).dot(&v.mapv(f64::abs));
        let scale = terms.iter().fold(0.0_f64, |m, t| m.max(*t));
        let err = (&h.dot(&v) - &want)
            .iter()
            .fold(0.0_f64, |m, e| m.max(e.abs()));
        assert!(
            err <= 1e-12 * scale,
            "{case}: H·v {err:e} vs terms {scale:e}"
        );
    }
}

#[test]
fn every_mode_agrees_with_finite_differences_and_with_each_other() {
    for net in nets() {
        let widths = net.widths();
        let x = vector(widths[0], 1);
        let fd = fd_jacobian(&net, &x);
        let fwd = net.jacobian(x.view(), Mode::Forward).unwrap();
        let what = format!("{widths:?} {}", net.layers()[0].activation());
        assert!(rel(&fwd, &fd) <= 1e-6, "{what}: {}", rel(&fwd, &fd));
        for mode in [Mode::Reverse, Mode::Auto] {
            let j = net.jacobian(x.view(), mode).unwrap();
            assert!(rel(&j, &fwd) <= 1e-12, "{what} {mode}");
        }
        // JVP and VJP are the Jacobian's products; F is the same from every call.
        let v = vector(widths[0], 2);
        let u = vector(widths[widths.len() - 1], 3);
        let (out, jv) = net.jvp(x.view(), v.view()).unwrap();
        assert!(rel(&jv, &fwd.dot(&v)) <= 1e-12, "{what}");
        let (out2, uj) = net.vjp(x.view(), u.view()).unwrap();
        assert!(rel(&uj, &u.dot(&fwd)) <= 1e-12, "{what}");
        // The same sums, as GEMVs or as one two-column GEMM: equal up to a rounding.
        let plain = net.output(x.view()).unwrap();
        assert!(
            rel(&out, &plain) <= 1e-15 && rel(&out2, &plain) <= 1e-15,
            "{what}"
        );
        // The gradient of f = ΣF is 1ᵀ·J in every mode.
        let ones = Array1::ones(widths[widths.len() - 1]);
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
            assert!(rel(&g, &ones.dot(&fwd)) <= 1e-12, "{what} {mode}");
            assert!((f - out.sum()).abs() <= 1e-14 * out.sum().abs().max(1.0));
        }
    }
}

#[test]
fn hessians_agree_with_differences_of_the_gradient() {
    for net in nets() {
        let widths = net.widths();
        let x = vector(widths[0], 4);
        let act = net.layers()[0].activation();
        let h = net.hessian(x.view()).unwrap();
        let v = vector(widths[0], 5);
        let (g, hv) = net.hvp(x.view(), v.view()).unwrap();
        let (_, g_rev) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
        assert!(rel(&g, &g_rev) <= 1e-12);
        if act == Activation::Relu || act == Activation::Identity {
            // Piecewise linear: the Hessian is exactly 0.
            assert!(h.iter().chain(&hv).all(|&v| v == 0.0), "{widths:?} {act}");
            continue;
        }
        // Symmetric up to rounding, and its own products.
        assert!(rel(&h, &h.t().to_owned()) <= 1e-12, "{widths:?} {act}");
        assert!(rel(&h.dot(&v), &hv) <= 1e-12, "{widths:?} {act}");
        let step = f64::EPSILON.cbrt();
        let grad_at = |t: f64| {
            let p = &x + &(&v * t);
            net.value_and_grad(p.view(), Mode::Reverse).unwrap().1
        };
        let fd = (grad_at(step) - grad_at(-step)) / (2.0 * step);
        assert!(rel(&hv, &fd) <= 1e-6, "{widths:?} {act}: {}", rel(&hv, &fd));
    }
}

#[test]
fn weight_gradients_agree_with_finite_differences() {
    for net in nets() {
        let widths = net.widths();
        let x = vector(widths[0], 6);
        let (f, grads) = net.value_and_weight_grads(x.view()).unwrap();
        assert_eq!(f, net.value(x.view()).unwrap());
        let h = f64::EPSILON.cbrt();
        let act = net.layers()[0].activation();
        for (k, g) in grads.iter().enumerate() {
            assert_eq!(g.weights.dim(), net.layers()[k].weights().dim());
            let fd_at = |i, j| {
                let f_at = |t| nudged(&net, k, i, j, t).value(x.view()).unwrap();
                (f_at(h) - f_at(-h)) / (2.0 * h)
            };
            let fd = Array2::from_shape_fn(g.weights.dim(), |(i, j)| fd_at(i, Some(j)));
            let err = rel(&g.weights, &fd);
            assert!(err <= 1e-6, "{widths:?} {act} layer {}: {err}", k + 1);
            assert_eq!(g.bias.is_some(), net.layers()[k].bias().is_some());
            if let Some(db) = &g.bias {
                let fd = Array1::from_shape_fn(db.len(), |i| fd_at(i, None));
                let err = rel(db, &fd);
                assert!(err <= 1e-6, "{widths:?} {act} layer {} bias: {err}", k + 1);
            }
        }
    }
}

#[test]
fn the_autoencoder_plan_is_used_and_agrees() {
    let net = Mlp::<f64>::from_seed(&[40, 40, 3, 40, 40], Activation::Tanh, 9).unwrap();
    let plan = net.plan(Mode::Auto);
    assert_eq!(plan.to_string(), "(M4·M3)·(M2·M1)");
    let x = vector(40, 0) * 0.01;
    let auto = net.jacobian(x.view(), Mode::Auto).unwrap();
    let fwd = net.jacobian(x.view(), Mode::Forward).unwrap();
    assert!(rel(&auto, &fwd) <= 1e-12);
}

#[test]
fn panels_within_a_small_budget_give_the_same_results() {
    let x = vector(30, 7);
    let net = Mlp::<f64>::from_seed(&[30, 20, 4, 20, 25], Activation::Sigmoid, 3).unwrap();
    for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
        let whole = net.jacobian(x.view(), mode).unwrap();
        // Room for a few columns only: several panels.
        let small = net.clone().with_memory_budget(8 * 1500);
        let panelled = small.jacobian(x.view(), mode).unwrap();
        assert!(rel(&panelled, &whole) <= 1e-14, "{mode}");
        let e = net
            .clone()
            .with_memory_budget(64)
            .jacobian(x.view(), mode)
            .unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        assert!(
            e.to_string().contains("panel") || e.to_string().contains("share"),
            "{e}"
        );
    }
    let h = net.hessian(x.view()).unwrap();
    let h_small = net
        .clone()
        .with_memory_budget(8 * 1000)
        .hessian(x.view())
        .unwrap();
    assert!(rel(&h_small, &h) <= 1e-14);
    let e = net
        .clone()
        .with_memory_budget(8)
        .hessian(x.view())
        .unwrap_err();
    assert!(e.to_string().contains("Hessian panel"), "{e}");
}

#[test]
fn auto_plans_run_within_budgets_where_its_cheapest_bracketing_does_not_fit() {
    // Auto once picked (M5·(M4·(M3·M2)))·M1 here whatever the budget, and refused 64 KiB.
    let w = [199, 9, 195, 278, 283, 151];
    let net = Mlp::<f64>::from_seed(&w, Activation::Tanh, 1).unwrap();
    let x = vector(199, 2) * 0.1;
    let whole = net.jacobian(x.view(), Mode::Forward).unwrap();
    let small = net.clone().with_memory_budget(64 << 10);
    let plan = small.plan(Mode::Auto);
    assert!(plan.panels().is_some_and(|p| p.count > 1), "{plan}");
    let auto = small.jacobian(x.view(), Mode::Auto).unwrap();
    assert!(rel(&auto, &whole) <= 1e-12);
}

#[test]
fn a_plan_follows_the_budget_and_calibration_it_is_asked_under() {
    // Plans are kept per network; a new budget or calibration makes them again.
    let w = [199, 9, 195, 278, 283, 151];
    let net = Mlp::<f64>::from_seed(&w, Activation::Tanh, 1).unwrap();
    let ample = net.plan(Mode::Auto);
    assert_eq!(ample.panels().map(|p| p.count), Some(1));
    // At 40 KiB the cheapest bracketing's shared products no longer fit.
    let small = net.clone().with_memory_budget(40 << 10);
    let tight = small.plan(Mode::Auto);
    assert!(tight.panels().is_some_and(|p| p.count > 1), "{tight}");
    assert_ne!(ample.to_string(), tight.to_string());
    assert_eq!(small.plan(Mode::Auto), tight);
    let back = small.with_memory_budget(fwdrev::DEFAULT_MEMORY_BUDGET);
    assert_eq!(back.plan(Mode::Auto), ample);
    let slow = fwdrev::Calibration {
        gemm_rate: 1.0,
        ..fwdrev::Calibration::stored()
    };
    let recalibrated = back.with_calibration(slow);
    assert_ne!(
        recalibrated.plan(Mode::Auto).predicted_seconds(),
        ample.predicted_seconds()
    );
}

#[test]
fn auto_jacobians_within_random_budgets_match_forward_mode() {
    // Random shapes and budgets from a panel of one unit up to the whole: Auto runs
    // wherever its plan says it fits, and agrees with forward mode without a budget
    // (1e-12: the bracketings sum in different orders; the entries are O(1)).
    let mut below = lcg(99);
    for case in 0..40 {
        let depth = 1 + below(5);
        let widths: Vec<usize> = (0..=depth).map(|_| 1 + below(60)).collect();
        let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, case).unwrap();
        let x = vector(widths[0], case) * 0.1;
        let whole = net.jacobian(x.view(), Mode::Forward).unwrap();
        // Up to a few columns of every layer: from no panel fitting to a few panels
        // (forward and reverse mode take a few columns of the widest layers per unit).
        let column: usize = widths.iter().sum();
        let budget = 8 * (1 + below(6 * column));
        let small = net.clone().with_memory_budget(budget);
        let plan = small.plan(Mode::Auto);
        match small.jacobian(x.view(), Mode::Auto) {
            Ok(j) => assert!(rel(&j, &whole) <= 1e-12, "case {case}: {widths:?} {plan}"),
            Err(e) => {
                assert!(
                    plan.panels().is_none(),
                    "case {case}: {widths:?} {plan}: {e}"
                );
                // Then forward and reverse mode do not fit either.
                for mode in [Mode::Forward, Mode::Reverse] {
                    assert!(
                        small.jacobian(x.view(), mode).is_err(),
                        "case {case} {mode}"
                    );
                }
            }
        }
    }
}

#[test]
fn reverse_jacobians_take_row_panels_when_their_shared_products_do_not_fit() {
    // Reverse mode shares M4·M3·M2 (300×400) across column panels: 2 MB, more than the
    // budget; panels of J's rows share nothing and fit.
    let x = vector(300, 1) * 0.05;
    let net = Mlp::<f64>::from_seed(&[300, 400, 20, 400, 300], Activation::Tanh, 5).unwrap();
    let whole = net.jacobian(x.view(), Mode::Reverse).unwrap();
    let small = net.clone().with_memory_budget(8 * 300 * 200);
    let rows = small.jacobian(x.view(), Mode::Reverse).unwrap();
    assert!(rel(&rows, &whole) <= 1e-14);
    // Forward mode in the same budget: column panels.
    let fwd = small.jacobian(x.view(), Mode::Forward).unwrap();
    assert!(rel(&fwd, &whole) <= 1e-12);
    // Too small for one row or one column: the error gives both.
    let e = net
        .with_memory_budget(4096)
        .jacobian(x.view(), Mode::Reverse)
        .unwrap_err();
    assert!(
        e.to_string().contains("one column") && e.to_string().contains("one row"),
        "{e}"
    );
}

#[test]
fn the_two_layer_network_is_the_two_layer_mlp() {
    let net = common::seeded::<f64>(20, 15, 10, 1).unwrap();
    let mlp = Mlp::<f64>::from_seed(&[20, 15, 10], Activation::Sigmoid, 1).unwrap();
    assert_eq!(common::w(&net, 0), mlp.layers()[0].weights());
    assert_eq!(common::w(&net, 1), mlp.layers()[1].weights());
    let x = vector(20, 0);
    for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
        assert_eq!(
            net.value_and_grad(x.view(), mode).unwrap(),
            mlp.value_and_grad(x.view(), mode).unwrap()
        );
    }
}

#[test]
fn batches_of_deep_networks_match_single_points() {
    for net in nets() {
        let widths = net.widths();
        let xs = fwdrev::random::standard_normal::<f64>(widths[0], 5, 8, 0).unwrap();
        let (f, g) = net.value_and_grad_batch(xs.view()).unwrap();
        for (j, col) in xs.axis_iter(Axis(1)).enumerate() {
            let (fj, gj) = net.value_and_grad(col, Mode::Reverse).unwrap();
            assert!((f[j] - fj).abs() <= 1e-13 * fj.abs().max(1.0));
            let r = rel(&g.column(j).to_owned(), &gj);
            let act = net.layers()[0].activation();
            assert!(r <= 1e-13, "{widths:?} {act}: {r}");
        }
    }
}

#[test]
fn bad_layers_and_vectors_are_refused_with_their_shapes() {
    let w = |r, c| Array2::<f64>::zeros((r, c));
    let e = Mlp::<f64>::new(Vec::<fwdrev::Layer<f64>>::new()).unwrap_err();
    assert!(matches!(e, Error::EmptyDimension { .. }), "{e}");
    let e = Mlp::new(vec![
        (w(3, 4), Activation::Tanh),
        (w(2, 5), Activation::Relu),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains("layer 2") && e.to_string().contains("(2, 5)"),
        "{e}"
    );
    let e = Mlp::new(vec![(w(0, 4), Activation::Tanh)]).unwrap_err();
    assert!(e.to_string().contains("(0, 4)"), "{e}");
    let mut bad = w(3, 4);
    bad[[2, 1]] = f64::NAN;
    let e = Mlp::new(vec![(w(4, 2), Activation::Tanh), (bad, Activation::Tanh)]).unwrap_err();
    assert!(
        matches!(&e, Error::NonFinite { index, .. } if index == &[2, 2, 1]),
        "{e}"
    );
    let net = Mlp::new(vec![(w(3, 4), Activation::Tanh)]).unwrap();
    let e = net
        .jvp(Array1::zeros(4).view(), Array1::zeros(3).view())
        .unwrap_err();
    assert!(e.to_string().contains("v must have"), "{e}");
    let e = net
        .vjp(Array1::zeros(4).view(), Array1::zeros(4).view())
        .unwrap_err();
    assert!(e.to_string().contains("u must have"), "{e}");
    let mut x = Array1::zeros(4);
    x[3] = f64::INFINITY;
    let e = net.hessian(x.view()).unwrap_err();
    assert!(matches!(e, Error::NonFinite { what: "x", .. }), "{e}");
    assert!(Mlp::<f64>::from_seed(&[3], Activation::Tanh, 0).is_err());
    assert!(Mlp::<f64>::from_seed(&[3, 0, 2], Activation::Tanh, 0).is_err());
}

#[test]
fn every_call_is_bit_identical_across_runs_at_parallel_sizes() {
    // Layers of 120 000 entries: above every parallel threshold (65 536 values), so
    // rayon splits the scalings, GEMVs, few-column kernels and fused pass.
    let net = Mlp::<f64>::from_seed(&[300, 400, 20, 400, 300], Activation::Tanh, 5)
        .unwrap()
        .with_memory_budget(8 * 300 * 200);
    let x = vector(300, 1) * 0.05;
    let v = vector(300, 2);
    let u = vector(300, 3);
    let xs = fwdrev::random::standard_normal::<f64>(300, 3, 4, 0).unwrap() * 0.05;
    let run = || {
        let mut out: Vec<Vec<f64>> = Vec::new();
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            out.push(
                net.jacobian(x.view(), mode)
                    .unwrap()
                    .into_raw_vec_and_offset()
                    .0,
            );
            out.push(net.value_and_grad(x.view(), mode).unwrap().1.to_vec());
        }
        out.push(net.jvp(x.view(), v.view()).unwrap().1.to_vec());
        out.push(net.vjp(x.view(), u.view()).unwrap().1.to_vec());
        out.push(net.hvp(x.view(), v.view()).unwrap().1.to_vec());
        out.push(net.hessian(x.view()).unwrap().into_raw_vec_and_offset().0);
        let (_, dws) = net.value_and_weight_grads(x.view()).unwrap();
        out.extend(
            dws.into_iter()
                .map(|w| w.weights.into_raw_vec_and_offset().0),
        );
        out.push(
            net.value_and_grad_batch(xs.view())
                .unwrap()
                .1
                .t()
                .iter()
                .copied()
                .collect(),
        );
        out
    };
    let first = run();
    for _ in 0..3 {
        let again = run();
        for (k, (p, q)) in first.iter().zip(&again).enumerate() {
            let same = p.iter().zip(q).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same && p.len() == q.len(),
                "result {k} changed between runs"
            );
        }
    }
}

#[test]
fn threads_sharing_one_mlp_get_the_single_thread_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mlp<f64>>();
    let net = Mlp::<f64>::from_seed(&[120, 300, 8, 300, 60], Activation::Softplus, 2).unwrap();
    let xs: Vec<Array1<f64>> = (0..3).map(|s| vector(120, s) * 0.05).collect();
    let v = vector(120, 9);
    let run = |x: &Array1<f64>| {
        (
            net.value_and_grad(x.view(), Mode::Reverse).unwrap(),
            net.jacobian(x.view(), Mode::Auto).unwrap(),
            net.hvp(x.view(), v.view()).unwrap(),
        )
    };
    let want: Vec<_> = xs.iter().map(run).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..3 {
                    for (x, w) in xs.iter().zip(&want) {
                        assert_eq!(&run(x), w);
                    }
                }
            });
        }
    });
}

/// Whatever a call's panels hold stays within the memory budget, on random shapes and
/// budgets: a Jacobian's shared products, scaled copies and path products, forward
/// mode's buffers and partial sums, a Hessian's directions, tangents and working columns.
/// Beside them only the call's vectors (the primal's, x's copy, the gradient), fixed by
/// the widths. Before, each call sized its panels by a count that left out some of what
/// it took: a Jacobian up to 1.8× the budget (widths 95, 272, 42, 277 in reverse mode at
/// 256 479 bytes took 456 960), forward mode and Hessians more. Results in those panels
/// are the unpanelled ones.
#[test]
fn panelled_calls_stay_within_the_memory_budget() {
    let mut below = lcg(12345);
    let mut panelled = 0;
    for case in 0..300 {
        let depth = 1 + below(4);
        let widths: Vec<usize> = (0..=depth).map(|_| 1 + below(120)).collect();
        let budget = 64 + below(100_000);
        let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, case).unwrap();
        let small = net.clone().with_memory_budget(budget);
        let x = vector(widths[0], case);
        // The vectors beside the panels: the primal's, and x's and the gradient's.
        let line = |n: usize| n.div_ceil(8) * 8;
        let d0 = line(widths[0]);
        let primal = small.scratch_len(Call::Output).unwrap();
        let value = small.scratch_len(Call::Value).unwrap();
        let check = |call: Call, beside: usize| {
            if let Ok(len) = small.scratch_len(call) {
                let panels = (len - beside) * 8;
                assert!(
                    panels <= budget,
                    "case {case}: {widths:?} {call:?}: {panels} bytes of panels, budget {budget}"
                );
            }
        };
        check(Call::Grad(Mode::Forward), value + d0);
        check(Call::Hessian, 2 * d0);
        check(Call::HvpMany(7), 2 * d0);
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let plan = small.plan(mode);
            check(Call::Jacobian(&plan), primal);
            if case % 10 == 0 && plan.panels().is_some() {
                let whole = net.jacobian(x.view(), mode).unwrap();
                let cut = small.jacobian(x.view(), mode).unwrap();
                assert!(rel(&cut, &whole) <= 1e-13, "case {case}: {widths:?} {mode}");
                panelled += usize::from(plan.panels().is_some_and(|p| p.count > 1));
            }
        }
        if case % 10 == 0 {
            if let Ok((_, g)) = small.value_and_grad(x.view(), Mode::Forward) {
                let (_, want) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
                assert!(rel(&g, &want) <= 1e-12, "case {case}: {widths:?} forward");
            }
            if let Ok(h) = small.hessian(x.view()) {
                let want = net.hessian(x.view()).unwrap();
                // Other panel widths sum the GEMMs' entries in another order; ∇²f's
                // terms cancel (≈ 1.6e-13 of its largest entry seen at depth 4).
                assert!(rel(&h, &want) <= 1e-12, "case {case}: {widths:?} Hessian");
            }
        }
    }
    assert!(panelled > 10, "only {panelled} Jacobians in several panels");
}

/// A network keeps each row of its weights on a 64-byte line (the kernels never split a
/// load over two lines), whatever the alignment of the arrays it was given, in its
/// clones too; and its results do not depend on where those arrays sat: the same bits
/// from arrays placed at every offset within a line, in every mode and product.
#[test]
fn weights_start_on_lines_wherever_the_given_arrays_sat() {
    let seeded = Mlp::<f64>::from_seed(&[100, 105, 95], Activation::Sigmoid, 3).unwrap();
    let on_lines = |net: &Mlp<f64>| {
        net.layers()
            .iter()
            .all(|l| common::rows_on_lines(l.weights()))
    };
    assert!(on_lines(&seeded) && on_lines(&seeded.clone()));
    let (x, v) = (vector(100, 1), vector(100, 2));
    let results = |net: &Mlp<f64>| {
        let modes = [Mode::Forward, Mode::Reverse, Mode::Auto];
        let grads: Vec<_> = modes
            .iter()
            .map(|&m| net.value_and_grad(x.view(), m).unwrap())
            .collect();
        let jac = net.jacobian(x.view(), Mode::Auto).unwrap();
        let (jvp, hvp) = (
            net.jvp(x.view(), v.view()).unwrap(),
            net.hvp(x.view(), v.view()).unwrap(),
        );
        let batch = net
            .value_and_grad_batch(ndarray::stack![Axis(1), x, v].view())
            .unwrap();
        (grads, jac, jvp, hvp, batch)
    };
    let want = results(&seeded);
    for off in 0..8 {
        let layers = seeded
            .layers()
            .iter()
            .map(|l| Layer::new(common::placed(l.weights(), off), l.activation()));
        let net = Mlp::new(layers).unwrap();
        assert!(on_lines(&net) && on_lines(&net.clone()), "offset {off}");
        assert_eq!(results(&net), want, "offset {off}");
    }
}

/// A VJP runs ∇f's fused pass over W_L (read once) with ḡ_L = u ∘ φ'(y_L). Its F, and
/// a JVP's (dot products, on small networks too), keep the bits of `output` on one
/// thread or many (520 × 520 runs the blocks in parallel,
/// from 2^18 entries): the pass dots whole quads of rows, as the
/// forward GEMV does, where the last layer is cut into blocks (from 65 536 entries; a row
/// dotted alone sums in another order, and F differed in the last bits at the 300-wide
/// last layers when the blocks were ∇f's). u = 1 gives ∇f: bit for bit where the last
/// layer is one block, within 1e-14 where the blocks differ. Not GELU: there the VJP
/// takes the guard's wide path at these points (its bound for uᵀ·J is not ∇f's).
#[test]
fn a_vjp_and_a_jvp_keep_the_forward_pass_bits_and_a_vjp_of_ones_is_the_gradient() {
    let bits = |a: &Array1<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let shapes: &[&[usize]] = &[
        &[300, 300, 10, 300, 300],
        &[40, 300, 303],
        &[20, 520, 520],
        &[300, 200, 100],
        &[6, 9, 4],
        &[7, 5],
    ];
    for (i, widths) in shapes.iter().enumerate() {
        let last = widths[widths.len() - 2] * widths[widths.len() - 1];
        for act in [
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::Identity,
        ] {
            for par in [fwdrev::Par::Seq, fwdrev::Par::Rayon] {
                let net = Mlp::<f64>::from_seed(widths, act, i as u64)
                    .unwrap()
                    .with_par(par);
                let x = vector(widths[0], 7);
                let what = format!("{widths:?} {act} {par:?}");
                let u = vector(widths[widths.len() - 1], 8);
                let (out, _) = net.vjp(x.view(), u.view()).unwrap();
                assert_eq!(bits(&out), bits(&net.output(x.view()).unwrap()), "{what}");
                let (out, _) = net.jvp(x.view(), x.view()).unwrap();
                assert_eq!(bits(&out), bits(&net.output(x.view()).unwrap()), "{what}");
                let ones = Array1::ones(widths[widths.len() - 1]);
                let (_, uj) = net.vjp(x.view(), ones.view()).unwrap();
                let (_, g) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
                match last < 1 << 16 {
                    true => assert_eq!(bits(&uj), bits(&g), "{what}"),
                    false => assert!(rel(&uj, &g) <= 1e-14, "{what}: {}", rel(&uj, &g)),
                }
            }
        }
    }
}

/// The HVP of a small network multiplies by its kept Wᵀ (each entry summed in row order,
/// where the gradient's forward pass dots rows by lanes), so its ∇f agrees with
/// `value_and_grad`'s to rounding: within 1e-12 of the largest entry (sums of at most
/// 105 terms in two orders, each within 105·ε of the terms' magnitudes). A clone keeps
/// the copies: its HVP has the same bits.
#[test]
fn an_hvps_gradient_is_value_and_grads_to_rounding_and_a_clone_keeps_its_bits() {
    let shapes: &[&[usize]] = &[&[100, 105, 95], &[40, 60, 2, 60, 40], &[33, 64, 1]];
    for (i, widths) in shapes.iter().enumerate() {
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Softplus] {
            let net = Mlp::<f64>::from_seed(widths, act, i as u64).unwrap();
            let (x, v) = (vector(widths[0], 5), vector(widths[0], 6));
            let (g, hv) = net.hvp(x.view(), v.view()).unwrap();
            let (_, want) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
            let largest = want.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
            let err = (&g - &want).iter().fold(0.0_f64, |m, e| m.max(e.abs()));
            assert!(err <= 1e-12 * largest, "{widths:?} {act}: {err:e}");
            assert_eq!(net.clone().hvp(x.view(), v.view()).unwrap(), (g, hv));
        }
    }
}
