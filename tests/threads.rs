//! One thread count for rayon and the BLAS (its own test binary: rayon's global pool is
//! built once per process).

mod common;

use fwdrev::{set_threads, threads, Error, Mode};

#[test]
fn one_setting_governs_the_pool_and_a_second_count_is_refused() {
    set_threads(1).unwrap();
    assert_eq!(threads(), 1);
    set_threads(1).unwrap();
    let e = set_threads(2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Threads {
                requested: 2,
                running: 1
            }
        ),
        "{e}"
    );
    // The backend reports the same count (OpenBLAS and BLIS say so in their detail).
    let detail = fwdrev::backend().detail;
    if fwdrev::backend().name == "openblas" {
        assert!(detail.contains(", 1 BLAS threads"), "{detail}");
    }
    // And one thread computes what two would (fixed reduction orders).
    let net = common::seeded::<f64>(300, 400, 300, 0).unwrap();
    let x = fwdrev::random::standard_normal_vector::<f64>(300, 0).unwrap();
    let (f, g) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
    assert!(f.is_finite() && g.iter().all(|v| v.is_finite()));
}
