//! The notebook's correctness check: forward vs reverse vs central finite differences.

use crate::CliResult;
use fwdrev::finite_difference::central_differences;
use fwdrev::{random, Activation, Mlp, Mode};
use ndarray::Array1;

/// max |p − q| / max |q|.
fn rel_max(p: &Array1<f64>, q: &Array1<f64>) -> f64 {
    let err = (p - q).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
    err / q.mapv(f64::abs).fold(f64::MIN_POSITIVE, |m, &v| m.max(v))
}

/// Forward vs reverse (≤ 1e-12) and vs finite differences (≤ 1e-7) at (100, 105, 95).
pub fn seed_shape() -> CliResult {
    let (d0, d1, d2) = (100, 105, 95);
    let net = Mlp::<f64>::from_seed(&[d0, d1, d2], Activation::Sigmoid, 0)?;
    let x = random::standard_normal_vector(d0, 0)?;
    let (f, fwd) = net.value_and_grad(x.view(), Mode::Forward)?;
    let (_, rev) = net.value_and_grad(x.view(), Mode::Reverse)?;
    let fd = central_differences(&net, x.view())?;
    let (e_fr, e_fd) = (rel_max(&fwd, &rev), rel_max(&rev, &fd));
    outln!("check at (d0, d1, d2) = ({d0}, {d1}, {d2}), f = {f:.6}:");
    outln!("  forward vs reverse:             {e_fr:.1e}  (max abs diff / max |grad|, must be ≤ 1e-12)");
    outln!("  reverse vs finite differences:  {e_fd:.1e}  (central, h = ε^(1/3); must be ≤ 1e-7)");
    if e_fr > 1e-12 || e_fd > 1e-7 {
        return Err("the modes disagree: see the errors above".into());
    }
    Ok(())
}
