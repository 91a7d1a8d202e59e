//! The general network against independent references: PyTorch's torch.func
//! (tests/data/deep) for every call on networks of mixed activations (SiLU and GELU
//! among them), depths and biases, and 50-digit mpmath (tests/data/extreme) for entries
//! up to ±1.7e308, where sums of products leave f64's range (see each folder's README).
//!
//! Tolerance: max-abs error / max-abs reference ≤ 1e-12 (as for the two-layer oracle:
//! different summation orders of ≤ 12-term sums differ by ~1e-15 relative; 1e-12 still
//! fails on any wrong derivative). The extreme cases' sums are well conditioned (Σ|terms|
//! ≤ 1e3·|Σ|, checked by the script), so the same bound holds there; an infinite
//! reference (an exact value beyond f64) must be met by the same infinity, and NaN never.

mod common;

use fwdrev::Mode;
use ndarray::{ArrayD, Ix1};

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert!(!a.is_nan(), "{what}: NaN where the reference is {b:e}");
        if !b.is_finite() {
            assert_eq!(a, b, "{what}: the exact value is beyond f64");
        }
    }
    let finite = || got.iter().zip(want).filter(|(_, b)| b.is_finite());
    let scale = finite().fold(0.0_f64, |m, (_, b)| m.max(b.abs()));
    let err = finite().fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err <= 1e-12 * scale, "{what}: {err:e} vs scale {scale:e}");
}

#[test]
fn every_call_matches_torch_func() {
    for case in [
        "mixed",
        "bottleneck",
        "one_layer",
        "biased",
        "some_biases",
        "tails",
    ] {
        check("deep", case);
    }
}

#[test]
fn entries_up_to_1e308_match_exact_arithmetic() {
    for case in ["adjoint", "saturated", "softplus", "biased"] {
        check("extreme", case);
    }
}

fn check(root: &str, case: &str) {
    let load = |file: &str| common::load(root, case, file);
    let net = common::case_net(root, case);
    let vec = |f: &str| load(f).into_dimensionality::<Ix1>().unwrap();
    let (x, v, u) = (vec("x"), vec("v"), vec("u"));
    let c = |what: &str| format!("{case}: {what}");

    assert_close(
        &net.output(x.view()).unwrap().into_dyn(),
        &load("F"),
        &c("F"),
    );
    for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
        let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
        assert_close(&ndarray::arr0(f).into_dyn(), &load("f"), &c("f"));
        assert_close(&g.into_dyn(), &load("grad"), &c("grad"));
        let j = net.jacobian(x.view(), mode).unwrap();
        assert_close(&j.into_dyn(), &load("jac"), &c(&format!("jac {mode}")));
    }
    let (_, jv) = net.jvp(x.view(), v.view()).unwrap();
    assert_close(&jv.into_dyn(), &load("jvp"), &c("jvp"));
    let (_, uj) = net.vjp(x.view(), u.view()).unwrap();
    assert_close(&uj.into_dyn(), &load("vjp"), &c("vjp"));
    let (_, hv) = net.hvp(x.view(), v.view()).unwrap();
    assert_close(&hv.into_dyn(), &load("hvp"), &c("hvp"));
    let h = net.hessian(x.view()).unwrap();
    assert_close(&h.into_dyn(), &load("hessian"), &c("hessian"));
    let (_, dws) = net.value_and_weight_grads(x.view()).unwrap();
    for (k, dw) in dws.into_iter().enumerate() {
        let name = format!("dW{}", k + 1);
        assert_close(&dw.weights.into_dyn(), &load(&name), &c(&name));
        let name = format!("db{}", k + 1);
        match dw.bias {
            Some(db) => assert_close(&db.into_dyn(), &load(&name), &c(&name)),
            None => assert!(!common::case_dir(root, case)
                .join(format!("{name}.npy"))
                .exists()),
        }
    }
}
