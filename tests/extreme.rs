//! Entries up to ±f64::MAX: sums whose terms leave f64's range. Exact answers by
//! construction here; 50-digit mpmath references in `deep_oracle.rs` (tests/data/extreme).
//! Every call either proves its fast pass cannot overflow or recomputes in wide-range
//! arithmetic (src/wide.rs); these tests fail if either half is missing.
//!
//! `FWDREV_EXTREME_CASES` sets the random networks per property (default 300; CI runs
//! 20 000 in release).

mod common;

use common::sigmoid_derivative;
use fwdrev::{Activation, Mlp, Mode};
use ndarray::{array, Array1, Array2, ArrayView1};
use proptest::prelude::*;

const MODES: [Mode; 3] = [Mode::Forward, Mode::Reverse, Mode::Auto];

fn cases() -> u32 {
    std::env::var("FWDREV_EXTREME_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

fn zeros(n: usize) -> Array1<f64> {
    Array1::zeros(n)
}

#[test]
fn a_sum_that_passes_plus_infinity_keeps_its_sign() {
    // y1 = 1e308·(1 + 1 − 1 − 1 − 1) = −1e308. Summed in order it reaches +inf and stays
    // there: σ(y1) would be 1 instead of 0, and f = σ(1) instead of σ(0) = ½, silently.
    let net = common::sigmoid2(array![[1.0, 1.0, -1.0, -1.0, -1.0]], array![[1.0]]).unwrap();
    let x = Array1::from_elem(5, 1e308);
    assert_eq!(net.value(x.view()).unwrap(), 0.5);
    assert_eq!(net.output(x.view()).unwrap(), array![0.5]);
    for mode in MODES {
        // σ'(y1) = 0: no path reaches x.
        assert_eq!(
            net.value_and_grad(x.view(), mode).unwrap(),
            (0.5, zeros(5)),
            "{mode}"
        );
        assert_eq!(net.jacobian(x.view(), mode).unwrap(), Array2::zeros((1, 5)));
    }
    let mlp = &net;
    assert_eq!(mlp.hvp(x.view(), x.view()).unwrap(), (zeros(5), zeros(5)));
    assert_eq!(mlp.hessian(x.view()).unwrap(), Array2::zeros((5, 5)));
    let (_, uj) = mlp.vjp(x.view(), array![1.0].view()).unwrap();
    assert_eq!(uj, zeros(5));
    let (f, dw) = mlp.value_and_weight_grads(x.view()).unwrap();
    // ∇_A f = σ'(y1)·(…)·xᵀ = 0; ∇_B f = σ'(y2)·σ(y1)ᵀ = ¼·0.
    assert_eq!(
        (f, &dw[0].weights, &dw[1].weights),
        (0.5, &Array2::zeros((1, 5)), &array![[0.0]])
    );
    // In a batch, beside an ordinary point.
    let mut xs = Array2::from_elem((5, 2), 0.25);
    xs.column_mut(0).assign(&x);
    let (fs, gs) = net.value_and_grad_batch(xs.view()).unwrap();
    assert_eq!((fs[0], gs.column(0).to_owned()), (0.5, zeros(5)));
    let (f1, g1) = net.value_and_grad(xs.column(1), Mode::Reverse).unwrap();
    assert!((fs[1] - f1).abs() <= 1e-15 && (&gs.column(1) - &g1).iter().all(|e| e.abs() <= 1e-15));
}

#[test]
fn products_beyond_f64_that_cancel_give_the_exact_gradient() {
    // y1 = 1e308·1e308 − 1e308·1e308 = 0: σ(0) = ½, σ'(0) = ¼; y2 = 2·½ = 1.
    // ∇f = Aᵀ·(σ'(y1)·B·σ'(y2)) = (1e308, −1e308)·½σ'(1): finite, near f64's top.
    let net = common::sigmoid2(array![[1e308, -1e308]], array![[2.0]]).unwrap();
    let x = array![1e308, 1e308];
    let want_f = common::sigmoid(1.0);
    let g = 1e308 * (0.5 * sigmoid_derivative(1.0));
    for mode in MODES {
        let (f, grad) = net.value_and_grad(x.view(), mode).unwrap();
        assert_eq!(f, want_f, "{mode}");
        for (got, want) in grad.iter().zip([g, -g]) {
            let (got, want): (f64, f64) = (*got, want);
            assert!(
                (got - want).abs() <= 2.0 * f64::EPSILON * g,
                "{mode}: {got:e} vs {want:e}"
            );
        }
    }
}

#[test]
fn values_beyond_f64_are_infinite_and_the_rest_exact() {
    // One identity layer: F = W·x = (1e308·1e308 − 1e308·1e308, 1e308·1e308 + 1e308·1e308)
    // = (0, 2e616): F₁ is exactly 0, F₂ and f are beyond f64 (+inf); ∇f = Wᵀ·1 =
    // (2e308, 0): +inf and an exact 0.
    let w = array![[1e308, -1e308], [1e308, 1e308]];
    let net = Mlp::new(vec![(w, Activation::Identity)]).unwrap();
    let x = array![1e308, 1e308];
    assert_eq!(net.output(x.view()).unwrap(), array![0.0, f64::INFINITY]);
    assert_eq!(net.value(x.view()).unwrap(), f64::INFINITY);
    for mode in MODES {
        let (f, grad) = net.value_and_grad(x.view(), mode).unwrap();
        assert_eq!(
            (f, grad),
            (f64::INFINITY, array![f64::INFINITY, 0.0]),
            "{mode}"
        );
        // J = W itself: every entry representable.
        assert_eq!(
            net.jacobian(x.view(), mode).unwrap(),
            array![[1e308, -1e308], [1e308, 1e308]]
        );
    }
    // J·v with v = (1, −1): (2e308, 0) → (+inf, 0); uᵀ·J with u = (1, −1): (0, −2e308).
    let (_, jv) = net.jvp(x.view(), array![1.0, -1.0].view()).unwrap();
    assert_eq!(jv, array![f64::INFINITY, 0.0]);
    let (_, uj) = net.vjp(x.view(), array![1.0, -1.0].view()).unwrap();
    assert_eq!(uj, array![0.0, f64::NEG_INFINITY]);
    // Linear: no curvature; ∇_W f = 1·xᵀ.
    assert_eq!(net.hessian(x.view()).unwrap(), Array2::zeros((2, 2)));
    let (_, dw) = net.value_and_weight_grads(x.view()).unwrap();
    assert_eq!(dw[0].weights, Array2::from_elem((2, 2), 1e308));
}

#[test]
fn an_overflow_after_a_safe_forward_pass_is_recomputed() {
    // A's rows are equal, so σ(y1) has equal entries and y2 = B·σ(y1) = 0 for every x:
    // f ≡ 100·σ(0) = 50, ∇f = 0, ∇²f = 0. The forward pass is safe (‖A‖_∞·|x| = 0.7),
    // so the fast kernels run; but Aᵀ·z with z = σ'(0.7)·(2500, −2500) meets
    // 7e305·554 = 3.9e308 = +inf, then −inf: not finite, which every call must catch and
    // redo.
    let a: Array2<f64> = array![[7e305], [7e305]];
    let b = Array2::from_shape_fn((100, 2), |(_, i)| if i == 0 { 100.0 } else { -100.0 });
    let x = array![1e-306];
    let z = b.t().dot(&Array1::from_elem(100, 0.25)) * sigmoid_derivative(0.7);
    // In plain f64 the sum meets +inf and −inf: NaN, or ±inf in a BLAS's order.
    assert!(!a.t().dot(&z)[0].is_finite(), "the plain computation fails");
    let net = common::sigmoid2(a, b).unwrap();
    // The exact results are 0; rounding allows ~ε times the terms' size (7e305·554 in
    // ∇f, 100·σ'·7e305 in J); NaN or inf fails.
    // (The tolerances are multiplied out from 1e−13 so that they do not overflow.)
    let near_zero = |v: &[f64], tol: f64| v.iter().all(|v| v.abs() <= tol);
    for mode in MODES {
        let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
        assert!((f - 50.0).abs() <= 1e-13 * 50.0, "{mode}: {f}");
        assert!(
            near_zero(g.as_slice().unwrap(), 1e-13 * 7e305 * 554.0),
            "{mode}: {g}"
        );
        let j = net.jacobian(x.view(), mode).unwrap();
        assert!(
            near_zero(j.as_slice().unwrap(), 1e-13 * 7e305 * 25.0),
            "{mode}: {j}"
        );
    }
    // The second-order terms (σ''·ẏ1·2500·7e305 ≈ 8.6e614) are beyond f64 themselves:
    // only the wide path gets these right, and there they cancel exactly.
    let mlp = &net;
    assert_eq!(mlp.hvp(x.view(), array![1.0].view()).unwrap().1, zeros(1));
    assert_eq!(mlp.hessian(x.view()).unwrap(), array![[0.0]]);
    let (_, uj) = mlp.vjp(x.view(), Array1::ones(100).view()).unwrap();
    assert!(
        near_zero(uj.as_slice().unwrap(), 1e-13 * 7e305 * 554.0),
        "{uj}"
    );
    let (fs, gs) = net
        .value_and_grad_batch(array![[1e-306, 2e-306]].view())
        .unwrap();
    assert!(fs.iter().all(|f| (f - 50.0).abs() <= 1e-13 * 50.0), "{fs}");
    assert!(
        near_zero(gs.as_slice().unwrap(), 1e-13 * 7e305 * 554.0 * 2.0),
        "{gs}"
    );
}

/// max |p − q| ≤ tol·max(|q|, tiny): exact answers rounded once in f64.
/// Slopes below ε·√(smallest normal) (σ'(500) ≈ 7e−218) and values below the normal
/// range (σ(−800) = e^−800 ≈ 3.7e−348, beyond f64) are too small for the fast kernels,
/// yet weights can carry them back into f64's range: every call, every mode, must give
/// the exact value (these were 0 before the kernels marked them for the wide path).
#[test]
fn tiny_slopes_and_values_that_weights_bring_back_are_kept() {
    let e500 = (-500.0_f64).exp(); // σ'(500) = e^−500/(1+e^−500)², to rounding
                                   // f = σ(y2), y2 = σ(500·x) at x = 1: ∇f = σ'(y2)·σ'(500)·500.
    let net = Mlp::new([
        (array![[500.0]], Activation::Sigmoid),
        (array![[1.0]], Activation::Sigmoid),
    ])
    .unwrap();
    let x = array![1.0];
    let want = sigmoid_derivative(1.0) * e500 * 500.0;
    for mode in MODES {
        let (_, g) = net.value_and_grad(x.view(), mode).unwrap();
        assert!(
            (g[0] / want - 1.0).abs() < 1e-13,
            "{mode}: {} vs {want}",
            g[0]
        );
        let j = net.jacobian(x.view(), mode).unwrap();
        assert!((j[[0, 0]] / want - 1.0).abs() < 1e-13, "{mode}");
    }
    let (_, jv) = net.jvp(x.view(), array![2.0].view()).unwrap();
    assert!((jv[0] / (2.0 * want) - 1.0).abs() < 1e-13);
    let (_, uj) = net.vjp(x.view(), array![3.0].view()).unwrap();
    assert!((uj[0] / (3.0 * want) - 1.0).abs() < 1e-13);
    let (_, grads) = net.value_and_weight_grads(x.view()).unwrap();
    let dw1 = sigmoid_derivative(1.0) * e500; // ∂f/∂W1 = σ'(y2)·σ'(500)·x
    assert!((grads[0].weights[[0, 0]] / dw1 - 1.0).abs() < 1e-13);
    let (_, g) = net.value_and_grad_batch(array![[1.0, 1.0]].view()).unwrap();
    assert!(g.iter().all(|&g| (g / want - 1.0).abs() < 1e-13), "{g}");
    // ∇²f = σ''(y2)·(σ'(500)·500)² + σ'(y2)·σ''(500)·500², σ''(500) = −σ'(500) to
    // rounding: the second term, ~1e−213, is all f64 can show.
    let h = net.hessian(x.view()).unwrap()[[0, 0]];
    let want_h = -sigmoid_derivative(1.0) * e500 * 250_000.0;
    assert!((h / want_h - 1.0).abs() < 1e-12, "{h} vs {want_h}");
    let (_, hv) = net.hvp(x.view(), array![1.0].view()).unwrap();
    assert_eq!(hv[0], h);

    // f = 1e300·σ(x) at x = −800: σ(−800) = e^−800 underflows f64, f does not.
    let net = Mlp::new([
        (array![[1.0]], Activation::Sigmoid),
        (array![[1e300]], Activation::Identity),
    ])
    .unwrap();
    let x = array![-800.0];
    let want = (-800.0 + 1e300_f64.ln()).exp(); // ≈ 3.7e−48
    let (f, g) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
    assert!((f / want - 1.0).abs() < 1e-12, "{f} vs {want}");
    assert!((g[0] / want - 1.0).abs() < 1e-12, "{} vs {want}", g[0]);
    assert!((net.output(x.view()).unwrap()[0] / want - 1.0).abs() < 1e-12);
}

/// A flushed value moves the next pre-activation, hence its slopes, which huge weights
/// carry on: the flushes' bound must count it one chain deeper (found in review: the
/// Jacobian was kept at 4.75e-6 relative error).
#[test]
fn a_flushed_value_that_moves_a_later_slope_is_redone() {
    // SiLU(−715) = −2.16e−308 is below the smallest normal number, so flushed; W2
    // multiplies it by 9e302 into σ's argument.
    let net = Mlp::new([
        (
            array![[0.0], [1.0]],
            Some(array![-715.0, 0.0]),
            Activation::Silu,
        ),
        (array![[9e302, 1e200]], None, Activation::Sigmoid),
    ])
    .unwrap();
    let x = array![1e-200];
    // y2 = 9e302·SiLU(−715) + 1e200·SiLU(1e−200) = 9e302·(−715·σ(−715)) + 5e−1; exact
    // J = σ'(y2)·1e200·SiLU'(1e−200), SiLU'(0) = 1/2.
    let silu = -715.0 * (-715.0_f64).exp() / (1.0 + (-715.0_f64).exp());
    let y2 = 9e302 * silu + 1e200 * 0.5e-200;
    let want = sigmoid_derivative(y2) * 1e200 * 0.5;
    for mode in MODES {
        let j = net.jacobian(x.view(), mode).unwrap()[[0, 0]];
        assert!((j / want - 1.0).abs() < 1e-12, "{mode}: {j:e} vs {want:e}");
    }
}

fn close(p: &[f64], q: &[f64], tol: f64) -> bool {
    let scale = q.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
    p.len() == q.len() && p.iter().zip(q).all(|(a, b)| (a - b).abs() <= tol * scale)
}

/// A zero term beside a huge one (a zero weight or an input of 0 facing 1e308, an
/// activation underflowing to 0 facing 1e300): the wide path once scaled every term to
/// the largest, and a zero's scale factor overflowed — 0·inf = NaN, then read as a
/// limit: f = 0.26894 instead of 0.37754 below. Each exact value by hand in the comments.
#[test]
fn zero_terms_beside_huge_ones_are_exact() {
    let (s, ds) = (
        |t: f64| Activation::Sigmoid.value_and_slope(t).0,
        |t: f64| Activation::Sigmoid.value_and_slope(t).1,
    );
    let curv = |t: f64| Activation::Sigmoid.curvature(t);
    // y1 = (2e−300, 1e308): σ(y1) = (½, 1), σ'(y1) = (¼, 0); y2 = ½ − 1 = −½.
    let net = common::sigmoid2(array![[0.0, 2.0], [1.0, 1.0]], array![[1.0, -1.0]]).unwrap();
    let x = array![1e308, 1e-300];
    let v = array![0.0, 1.0];
    let f = s(-0.5);
    // ∇f = Aᵀ·(σ'(y1) ∘ Bᵀσ'(y2)) = (0, 2·¼·σ'(−½)).
    let g = [0.0, 0.5 * ds(-0.5)];
    // Along v only y1₀ = 2x₂ moves (σ''(2e−300) = 0): ∇²f·v = (0, ¼·σ''(−½)).
    let hv = [0.0, 0.25 * curv(-0.5)];
    assert!(close(&[net.value(x.view()).unwrap()], &[f], 1e-15));
    for mode in MODES {
        let (fm, gm) = net.value_and_grad(x.view(), mode).unwrap();
        assert!(
            close(&[fm], &[f], 1e-15) && close(gm.as_slice().unwrap(), &g, 1e-15),
            "{mode}: {gm}"
        );
        let j = net.jacobian(x.view(), mode).unwrap();
        assert!(close(j.as_slice().unwrap(), &g, 1e-15), "{mode}: {j}");
    }
    let (gh, hvm) = net.hvp(x.view(), v.view()).unwrap();
    assert!(
        close(gh.as_slice().unwrap(), &g, 1e-15) && close(hvm.as_slice().unwrap(), &hv, 1e-15),
        "{hvm}"
    );
    let h = net.hessian(x.view()).unwrap();
    assert!(
        close(h.as_slice().unwrap(), &[0.0, 0.0, 0.0, hv[1]], 1e-15),
        "{h}"
    );
    let (_, jv) = net.jvp(x.view(), v.view()).unwrap();
    assert!(close(jv.as_slice().unwrap(), &[g[1]], 1e-15), "{jv}");
    let (_, uj) = net.vjp(x.view(), array![1.0].view()).unwrap();
    assert!(close(uj.as_slice().unwrap(), &g, 1e-15), "{uj}");
    // ∇_A f = ḡ1·xᵀ with ḡ1 = (¼σ'(−½), 0); ∇_B f = σ'(y2)·σ(y1)ᵀ.
    let (_, dw) = net.value_and_weight_grads(x.view()).unwrap();
    let g1 = 0.25 * ds(-0.5);
    let want_a = [g1 * 1e308, g1 * 1e-300, 0.0, 0.0];
    assert!(
        close(dw[0].weights.as_slice().unwrap(), &want_a, 1e-15),
        "{}",
        dw[0].weights
    );
    assert!(close(
        dw[1].weights.as_slice().unwrap(),
        &[0.5 * ds(-0.5), ds(-0.5)],
        1e-15
    ));
    let (fs, gs) = net
        .value_and_grad_batch(x.view().insert_axis(ndarray::Axis(1)))
        .unwrap();
    assert!(close(fs.as_slice().unwrap(), &[f], 1e-15) && close(gs.as_slice().unwrap(), &g, 1e-15));

    // σ(y1₀ = −1e5) underflows to 0 and meets B's 1e300 and −1e306: y2 = (−1e−10·σ(1),
    // σ(1)), f = σ(y2₀) + σ(y2₁) = 1.17504 (not 0.67504), and ∇f = σ'(1)·(σ'(y2₁) −
    // 1e−10·σ'(y2₀)) (σ'(−1e5) is 0 to f64).
    let net = common::sigmoid2(
        array![[-1e5], [1.0]],
        array![[1e300, -1e-10], [-1e306, 1.0]],
    )
    .unwrap();
    let x = array![1.0];
    let y2 = [-1e-10 * s(1.0), s(1.0)];
    let f = s(y2[0]) + s(y2[1]);
    let g = ds(1.0) * (ds(y2[1]) - 1e-10 * ds(y2[0]));
    for mode in MODES {
        let (fm, gm) = net.value_and_grad(x.view(), mode).unwrap();
        assert!(
            close(&[fm], &[f], 1e-15) && close(gm.as_slice().unwrap(), &[g], 1e-14),
            "{mode}: {fm} {gm}"
        );
    }
    assert!(close(&[net.value(x.view()).unwrap()], &[f], 1e-15));
    let out = net.output(x.view()).unwrap();
    assert!(
        close(out.as_slice().unwrap(), &[s(y2[0]), s(y2[1])], 1e-15),
        "{out}"
    );
}

#[test]
fn the_wide_path_is_bit_identical_across_runs_and_threads() {
    // 150×150 layers: every wide product splits over rayon's threads. x₀ = 1e308 meets a
    // zero column of A: harmless, but it puts the bound beyond f64, so every call runs
    // wide; the other entries keep A·x moderate, so the gradient is informative.
    let d = 150;
    let net = common::seeded::<f64>(d, d, d, 5).unwrap();
    let mut a = common::w(&net, 0).mapv(|v| v * 1e306);
    a.column_mut(0).fill(0.0);
    let huge = common::sigmoid2(a, common::w(&net, 1).to_owned()).unwrap();
    let mut x = fwdrev::random::standard_normal_vector::<f64>(d, 6)
        .unwrap()
        .mapv(|v| v * 1e-307);
    x[0] = 1e308;
    let v = fwdrev::random::standard_normal_vector::<f64>(d, 7).unwrap();
    let run = || {
        let (f, g) = huge.value_and_grad(x.view(), Mode::Forward).unwrap();
        let (_, hv) = huge.hvp(x.view(), v.view()).unwrap();
        let bits = |a: &Array1<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        (f.to_bits(), bits(&g), bits(&hv))
    };
    let first = run();
    let (_, g) = huge.value_and_grad(x.view(), Mode::Reverse).unwrap();
    assert!(
        g.iter().filter(|g| **g != 0.0 && g.is_finite()).count() > d / 2,
        "{g}"
    );
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(run)).collect();
        for r in runs {
            assert!(r.join().unwrap() == first);
        }
    });
}

/// An entry: anything up to ±f64::MAX, most of them huge.
fn entry() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -f64::MAX..f64::MAX,
        1 => -1.0..1.0f64,
        1 => (-300.0..308.0f64, any::<bool>()).prop_map(|(e, neg)| {
            let v = 10f64.powf(e);
            if neg { -v } else { v }
        }),
        1 => Just(0.0),
    ]
}

/// Networks of 1–3 layers, widths 1–5, any activation, a bias (of huge entries too) on
/// about half the layers.
fn network() -> impl Strategy<Value = (Mlp<f64>, Array1<f64>, Array1<f64>, Array1<f64>)> {
    (
        prop::collection::vec(1usize..6, 2..5),
        prop::collection::vec(0..Activation::ALL.len(), 4),
    )
        .prop_flat_map(|(widths, acts)| {
            let layers: Vec<_> = widths
                .windows(2)
                .enumerate()
                .map(|(k, w)| {
                    let (act, rows, cols) = (Activation::ALL[acts[k]], w[1], w[0]);
                    (
                        prop::collection::vec(entry(), rows * cols),
                        prop::option::of(prop::collection::vec(entry(), rows)),
                    )
                        .prop_map(move |(v, b)| {
                            let w = Array2::from_shape_vec((rows, cols), v).unwrap();
                            (w, b.map(Array1::from), act)
                        })
                })
                .collect();
            let (d0, d_out) = (widths[0], widths[widths.len() - 1]);
            (
                layers,
                prop::collection::vec(entry(), d0),
                prop::collection::vec(entry(), d0),
                prop::collection::vec(entry(), d_out),
            )
        })
        .prop_map(|(layers, x, v, u)| (Mlp::new(layers).unwrap(), x.into(), v.into(), u.into()))
}

fn no_nan<'a>(what: &str, values: impl IntoIterator<Item = &'a f64>) -> Result<(), TestCaseError> {
    for v in values {
        prop_assert!(!v.is_nan(), "{}: NaN", what);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// No call gives NaN from finite inputs, whatever their size; outputs of bounded
    /// activations stay in their range, so f is finite; the modes agree on which
    /// gradient entries are infinite.
    #[test]
    fn no_call_gives_nan_on_huge_entries((net, x, v, u) in network()) {
        let (x, v, u): (ArrayView1<f64>, _, _) = (x.view(), v.view(), u.view());
        let out = net.output(x).unwrap();
        no_nan("F", &out)?;
        let last = net.layers().last().unwrap().activation();
        if matches!(last, Activation::Sigmoid | Activation::Tanh) {
            prop_assert!(out.iter().all(|v| v.abs() <= 1.0));
            prop_assert!(net.value(x).unwrap().is_finite());
        }
        let f = net.value(x).unwrap();
        prop_assert!(!f.is_nan());
        let mut infinite = None;
        for mode in MODES {
            let (fm, g) = net.value_and_grad(x, mode).unwrap();
            prop_assert!(fm == f || (fm - f).abs() <= 1e-12 * f.abs(), "{}: f {} vs {}", mode, fm, f);
            no_nan("grad", &g)?;
            let inf: Vec<bool> = g.iter().map(|v| v.is_infinite()).collect();
            if let Some(first) = &infinite {
                prop_assert_eq!(first, &inf, "{}", mode);
            }
            infinite = Some(inf);
            no_nan("jacobian", &net.jacobian(x, mode).unwrap())?;
        }
        no_nan("jvp", &net.jvp(x, v).unwrap().1)?;
        no_nan("vjp", &net.vjp(x, u).unwrap().1)?;
        let (g, hv) = net.hvp(x, v).unwrap();
        no_nan("hvp grad", &g)?;
        no_nan("hvp", &hv)?;
        let at = net.hessian_at(x).unwrap();
        no_nan("hessian_at", &at.apply(v).unwrap())?;
        no_nan("apply_many", &at.apply_many(v.insert_axis(ndarray::Axis(1))).unwrap())?;
        no_nan("hessian", &net.hessian(x).unwrap())?;
        let (_, dw) = net.value_and_weight_grads(x).unwrap();
        for d in &dw {
            no_nan("weight grads", &d.weights)?;
            no_nan("bias grads", d.bias.iter().flatten())?;
        }
        let xs = x.insert_axis(ndarray::Axis(1));
        let (fs, gs) = net.value_and_grad_batch(xs).unwrap();
        no_nan("batch f", &fs)?;
        no_nan("batch grads", &gs)?;
    }

    /// The same in f32, whose range ends at 3.4e38: the wide path rounds to f32 last.
    #[test]
    fn no_call_gives_nan_in_f32((net, x, v, _u) in network()) {
        // ×1e−270 maps ±1.8e308 to ±1.8e38, inside f32's range.
        let small = |v: f64| (v * 1e-270) as f32;
        let layers: Vec<_> = net
            .layers()
            .iter()
            .map(|l| (l.weights().mapv(small), l.bias().map(|b| b.mapv(small)), l.activation()))
            .collect();
        let net = Mlp::<f32>::new(layers).unwrap();
        let small = |a: &Array1<f64>| a.mapv(small);
        let (x, v) = (small(&x), small(&v));
        for mode in MODES {
            let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
            prop_assert!(!f.is_nan() && g.iter().all(|v| !v.is_nan()), "{}", mode);
        }
        let (_, hv) = net.hvp(x.view(), v.view()).unwrap();
        prop_assert!(hv.iter().all(|v| !v.is_nan()));
        let at = net.hessian_at(x.view()).unwrap().apply(v.view()).unwrap();
        prop_assert!(at.iter().all(|v| !v.is_nan()));
    }
}
