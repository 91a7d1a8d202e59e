//! The general network against PyTorch's torch.func (tests/data/deep, see its README):
//! every call of issue 4 on networks of mixed activations and depths.
//!
//! Tolerance: max-abs error / max-abs reference ≤ 1e-12 (as for the two-layer oracle:
//! different summation orders of ≤ 12-term sums differ by ~1e-15 relative; 1e-12 still
//! fails on any wrong derivative).

use fwdrev::{npy, Activation, Mlp, Mode};
use ndarray::{ArrayD, Ix1, Ix2};
use std::path::PathBuf;

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/deep")
        .join(case)
}

fn load(case: &str, file: &str) -> ArrayD<f64> {
    npy::read::<f64>(dir(case).join(format!("{file}.npy"))).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err <= 1e-12 * scale, "{what}: {err:e} vs scale {scale:e}");
}

#[test]
fn every_call_matches_torch_func() {
    for case in ["mixed", "bottleneck", "one_layer"] {
        let acts = std::fs::read_to_string(dir(case).join("activations.txt")).unwrap();
        let layers = acts
            .lines()
            .enumerate()
            .map(|(k, name)| {
                let w = load(case, &format!("W{}", k + 1))
                    .into_dimensionality::<Ix2>()
                    .unwrap();
                (w, Activation::from_name(name).expect("a known activation"))
            })
            .collect();
        let net = Mlp::new(layers).unwrap();
        let vec = |f: &str| load(case, f).into_dimensionality::<Ix1>().unwrap();
        let (x, v, u) = (vec("x"), vec("v"), vec("u"));
        let c = |what: &str| format!("{case}: {what}");

        assert_close(
            &net.output(x.view()).unwrap().into_dyn(),
            &load(case, "F"),
            &c("F"),
        );
        for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
            let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
            assert_close(&ndarray::arr0(f).into_dyn(), &load(case, "f"), &c("f"));
            assert_close(&g.into_dyn(), &load(case, "grad"), &c("grad"));
            let j = net.jacobian(x.view(), mode).unwrap();
            assert_close(
                &j.into_dyn(),
                &load(case, "jac"),
                &c(&format!("jac {mode}")),
            );
        }
        let (_, jv) = net.jvp(x.view(), v.view()).unwrap();
        assert_close(&jv.into_dyn(), &load(case, "jvp"), &c("jvp"));
        let (_, uj) = net.vjp(x.view(), u.view()).unwrap();
        assert_close(&uj.into_dyn(), &load(case, "vjp"), &c("vjp"));
        let (_, hv) = net.hvp(x.view(), v.view()).unwrap();
        assert_close(&hv.into_dyn(), &load(case, "hvp"), &c("hvp"));
        let h = net.hessian(x.view()).unwrap();
        assert_close(&h.into_dyn(), &load(case, "hessian"), &c("hessian"));
        let (_, dws) = net.value_and_weight_grads(x.view()).unwrap();
        for (k, dw) in dws.into_iter().enumerate() {
            let name = format!("dW{}", k + 1);
            assert_close(&dw.into_dyn(), &load(case, &name), &c(&name));
        }
    }
}
