//! The workspace API gives the plain calls' results, refuses the wrong workspace, and
//! the pooled plain calls are safe to share across threads.

use fwdrev::{random, Error, Mode, Network, Workspace};
use ndarray::Array1;

#[test]
fn workspace_calls_equal_plain_calls_bit_for_bit_on_reuse() {
    let net = Network::<f64>::from_seed(90, 70, 50, 5)
        .unwrap()
        .with_memory_budget(40 * 120 * 8);
    let mut ws = net.workspace();
    let mut g = Array1::zeros(90);
    let mut held = Vec::new();
    for seed in 0..3 {
        let x = random::standard_normal_vector::<f64>(90, seed);
        for mode in [Mode::Forward, Mode::Reverse, Mode::Forward] {
            let (f, want) = net.value_and_grad(x.view(), mode).unwrap();
            let got = net
                .value_and_grad_with(x.view(), mode, &mut ws, g.view_mut())
                .unwrap();
            assert_eq!((got, &g), (f, &want), "{mode}");
        }
        held.push(ws.bytes());
    }
    // The budget allows 40 columns of d1 + d2 = 120 values: 90 columns in 3 even panels
    // of 30. The panels grew to that in the first round and stayed.
    let vectors = (3 * 70 + 50) * 8;
    assert!(
        held[0] >= vectors + 30 * 120 * 8 && held[0] < vectors + 40 * 120 * 8,
        "{held:?}"
    );
    assert!(held.iter().all(|&b| b == held[0]), "{held:?}");
}

#[test]
fn a_workspace_or_output_of_the_wrong_size_is_refused() {
    let net = Network::<f32>::from_seed(6, 5, 4, 0).unwrap();
    let x = Array1::zeros(6);
    let mut other = Network::<f32>::from_seed(6, 5, 3, 0).unwrap().workspace();
    let mut g = Array1::zeros(6);
    let e = net
        .value_and_grad_with(x.view(), Mode::Reverse, &mut other, g.view_mut())
        .unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. }) && e.to_string().contains("[6, 5, 3]"),
        "{e}"
    );
    let mut ws = Workspace::new(net.dims());
    let mut short = Array1::zeros(5);
    let e = net
        .value_and_grad_with(x.view(), Mode::Forward, &mut ws, short.view_mut())
        .unwrap_err();
    assert!(e.to_string().contains("(5,)"), "{e}");
}

#[test]
fn threads_sharing_one_network_get_the_single_thread_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Network<f64>>();
    let net = Network::<f64>::from_seed(300, 280, 260, 1).unwrap();
    let xs: Vec<Array1<f64>> = (0..4)
        .map(|s| random::standard_normal_vector(300, s))
        .collect();
    let want: Vec<_> = xs
        .iter()
        .map(|x| net.value_and_grad(x.view(), Mode::Reverse).unwrap())
        .collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    for (x, w) in xs.iter().zip(&want) {
                        assert_eq!(&net.value_and_grad(x.view(), Mode::Reverse).unwrap(), w);
                        let (f, _) = net.value_and_grad(x.view(), Mode::Forward).unwrap();
                        assert_eq!(f, w.0);
                    }
                }
            });
        }
    });
}

#[test]
fn strided_inputs_and_outputs_give_the_contiguous_results() {
    // x as a column of a row-major matrix, grad as a column of another: neither is
    // contiguous, which the pure-Rust kernels cannot take directly.
    let net = Network::<f64>::from_seed(70, 60, 50, 8).unwrap();
    let xs = random::standard_normal::<f64>(70, 3, 4, 0);
    let mut gs = ndarray::Array2::<f64>::zeros((70, 3));
    let mut ws = net.workspace();
    for mode in [Mode::Forward, Mode::Reverse] {
        let x = xs.column(1);
        assert!(x.as_slice().is_none());
        let (f, want) = net.value_and_grad(x.to_owned().view(), mode).unwrap();
        let (f_strided, got) = net.value_and_grad(x, mode).unwrap();
        let f_with = net
            .value_and_grad_with(x, mode, &mut ws, gs.column_mut(2))
            .unwrap();
        let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        for g in [&got, &gs.column(2).to_owned()] {
            let err = (g - &want).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(err <= 1e-13 * scale, "{mode}: {err:e}");
        }
        assert!((f - f_strided).abs() <= 1e-13 * f && (f - f_with).abs() <= 1e-13 * f);
    }
}

#[test]
fn row_major_weights_are_kept_not_copied() {
    // A copy would briefly double the weights' memory (1 GiB at d = 8000).
    let a = random::standard_normal::<f64>(30, 20, 1, 0);
    let b = random::standard_normal::<f64>(10, 30, 1, 99);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let net = Network::new(a, b).unwrap();
    assert_eq!((net.a().as_ptr(), net.b().as_ptr()), (pa, pb));
    // A column-major matrix is stored row-major, with the same values.
    let af = random::standard_normal::<f64>(20, 30, 1, 0).reversed_axes();
    let net = Network::new(af.clone(), net.b().to_owned()).unwrap();
    assert!(net.a().is_standard_layout() && net.a() == af);
}
