//! The `_into` calls with caller-owned scratch and `Par`: the plain calls' results bit
//! for bit, within the scratch `scratch_len` names; typed errors for outputs of the
//! wrong shape; threads sharing one network; strided arrays; weights kept, not copied.

mod common;

use fwdrev::{random, Activation, Call, Error, Layer, LayerGrad, Mlp, Mode, Par, Scratch};
use ndarray::{Array1, Array2, ShapeBuilder};
use std::num::NonZeroUsize;

const MODES: [Mode; 3] = [Mode::Forward, Mode::Reverse, Mode::Auto];

/// Networks that exercise every path: panels under a small budget, sizes that split
/// work over threads, biases, a bottleneck, one layer.
fn nets() -> Vec<Mlp<f64>> {
    let scaled = |widths: &[usize], acts: &[Activation], bias: bool, seed: u64| {
        let layers: Vec<Layer<f64>> = widths
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                let m = random::standard_normal::<f64>(w[1], w[0], seed, (k as u64) << 32).unwrap()
                    / (w[0] as f64).sqrt();
                let layer = Layer::new(m, acts[k % acts.len()]);
                match bias {
                    true => layer
                        .with_bias(random::standard_normal_vector(w[1], seed + k as u64).unwrap()),
                    false => layer,
                }
            })
            .collect();
        Mlp::new(layers).unwrap()
    };
    vec![
        common::seeded::<f64>(90, 70, 50, 5)
            .unwrap()
            .with_memory_budget(40 * 120 * 8),
        scaled(&[30, 40, 3, 40, 30], &Activation::ALL, true, 1),
        scaled(
            &[300, 280, 260],
            &[Activation::Tanh, Activation::Gelu],
            true,
            2,
        ),
        scaled(&[25, 17], &[Activation::Silu], true, 3).with_memory_budget(4096),
    ]
}

/// Every call's results, through the plain calls.
fn plain(net: &Mlp<f64>, seed: u64) -> Vec<Vec<f64>> {
    let w = net.widths();
    let (d0, dl) = (w[0], w[w.len() - 1]);
    let x = random::standard_normal_vector::<f64>(d0, seed).unwrap();
    let v = random::standard_normal_vector::<f64>(d0, seed + 1).unwrap();
    let u = random::standard_normal_vector::<f64>(dl, seed + 2).unwrap();
    let xs = random::standard_normal::<f64>(d0, 5, seed, 1 << 62).unwrap();
    let mut out = vec![
        net.output(x.view()).unwrap().to_vec(),
        vec![net.value(x.view()).unwrap()],
    ];
    for mode in MODES {
        let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
        out.push([vec![f], g.to_vec()].concat());
        out.push(
            net.jacobian(x.view(), mode)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
        );
    }
    let (o, jv) = net.jvp(x.view(), v.view()).unwrap();
    out.push([o.to_vec(), jv.to_vec()].concat());
    let (o, uj) = net.vjp(x.view(), u.view()).unwrap();
    out.push([o.to_vec(), uj.to_vec()].concat());
    let (g, hv) = net.hvp(x.view(), v.view()).unwrap();
    out.push([g.to_vec(), hv.to_vec()].concat());
    out.push(net.hessian(x.view()).unwrap().into_raw_vec_and_offset().0);
    let (f, dw) = net.value_and_weight_grads(x.view()).unwrap();
    out.push(flatten(f, &dw));
    let (fs, gs) = net.value_and_grad_batch(xs.view()).unwrap();
    out.push([fs.to_vec(), gs.t().iter().copied().collect()].concat());
    out
}

fn flatten(f: f64, dw: &[LayerGrad<f64>]) -> Vec<f64> {
    let mut v = vec![f];
    for g in dw {
        v.extend(g.weights.iter());
        v.extend(g.bias.iter().flatten());
    }
    v
}

/// Every call's results through the `_into` calls, each with a scratch of exactly its
/// `scratch_len` (asserted not to grow), or all with `shared`.
fn into(
    net: &Mlp<f64>,
    seed: u64,
    par: Par,
    mut shared: Option<&mut Scratch<f64>>,
) -> Vec<Vec<f64>> {
    let w = net.widths();
    let (d0, dl) = (w[0], w[w.len() - 1]);
    let x = random::standard_normal_vector::<f64>(d0, seed).unwrap();
    let v = random::standard_normal_vector::<f64>(d0, seed + 1).unwrap();
    let u = random::standard_normal_vector::<f64>(dl, seed + 2).unwrap();
    let xs = random::standard_normal::<f64>(d0, 5, seed, 1 << 62).unwrap();
    let mut out = Vec::new();
    let mut with = |call: Call, f: &mut dyn FnMut(&mut Scratch<f64>) -> Vec<f64>| {
        let r = match shared.as_deref_mut() {
            Some(s) => f(s),
            None => {
                let mut s = Scratch::with_len(net.scratch_len(call).unwrap()).unwrap();
                let len = s.len();
                let r = f(&mut s);
                assert_eq!(s.len(), len, "{call:?}: the scratch grew");
                r
            }
        };
        out.push(r);
    };
    with(Call::Output, &mut |s| {
        let mut o = Array1::zeros(dl);
        net.output_into(x.view(), o.view_mut(), par, s).unwrap();
        o.to_vec()
    });
    with(Call::Value, &mut |s| {
        vec![net.value_into(x.view(), par, s).unwrap()]
    });
    for mode in MODES {
        with(Call::Grad(mode), &mut |s| {
            let mut g = Array1::zeros(d0);
            let f = net
                .value_and_grad_into(x.view(), mode, g.view_mut(), par, s)
                .unwrap();
            [vec![f], g.to_vec()].concat()
        });
        let plan = net.plan(mode);
        with(Call::Jacobian(&plan), &mut |s| {
            let mut j = Array2::zeros((dl, d0));
            net.jacobian_into(x.view(), &plan, j.view_mut(), par, s)
                .unwrap();
            j.into_raw_vec_and_offset().0
        });
    }
    with(Call::Jvp, &mut |s| {
        let (mut o, mut jv) = (Array1::zeros(dl), Array1::zeros(dl));
        net.jvp_into(x.view(), v.view(), o.view_mut(), jv.view_mut(), par, s)
            .unwrap();
        [o.to_vec(), jv.to_vec()].concat()
    });
    with(Call::Vjp, &mut |s| {
        let (mut o, mut uj) = (Array1::zeros(dl), Array1::zeros(d0));
        net.vjp_into(x.view(), u.view(), o.view_mut(), uj.view_mut(), par, s)
            .unwrap();
        [o.to_vec(), uj.to_vec()].concat()
    });
    with(Call::Hvp, &mut |s| {
        let (mut g, mut hv) = (Array1::zeros(d0), Array1::zeros(d0));
        net.hvp_into(x.view(), v.view(), g.view_mut(), hv.view_mut(), par, s)
            .unwrap();
        [g.to_vec(), hv.to_vec()].concat()
    });
    with(Call::Hessian, &mut |s| {
        let mut h = Array2::zeros((d0, d0));
        net.hessian_into(x.view(), h.view_mut(), par, s).unwrap();
        h.into_raw_vec_and_offset().0
    });
    with(Call::WeightGrads, &mut |s| {
        let mut dw: Vec<LayerGrad<f64>> = net
            .layers()
            .iter()
            .map(|l| LayerGrad {
                weights: Array2::zeros(l.weights().dim()),
                bias: l.bias().map(|b| Array1::zeros(b.len())),
            })
            .collect();
        let f = net
            .value_and_weight_grads_into(x.view(), &mut dw, par, s)
            .unwrap();
        flatten(f, &dw)
    });
    with(Call::Batch(5), &mut |s| {
        let (mut f, mut g) = (Array1::zeros(5), Array2::zeros((d0, 5)));
        net.value_and_grad_batch_into(xs.view(), f.view_mut(), g.view_mut(), par, s)
            .unwrap();
        [f.to_vec(), g.t().iter().copied().collect()].concat()
    });
    out
}

fn bits(v: &[Vec<f64>]) -> Vec<Vec<u64>> {
    v.iter()
        .map(|r| r.iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn into_calls_with_exact_scratch_equal_the_plain_calls_bit_for_bit() {
    for (i, net) in nets().iter().enumerate() {
        let want = bits(&plain(net, i as u64));
        assert_eq!(
            bits(&into(net, i as u64, Par::Rayon, None)),
            want,
            "net {i}"
        );
        // One scratch for every call, in turn: it grows to the largest, and serves all.
        let mut shared = Scratch::new();
        for _ in 0..2 {
            let got = into(net, i as u64, Par::Rayon, Some(&mut shared));
            assert_eq!(bits(&got), want, "net {i}, shared scratch");
        }
        // Par::Threads(1) runs the same pieces on one thread.
        let one = Par::Threads(NonZeroUsize::new(1).unwrap());
        assert_eq!(
            bits(&into(net, i as u64, one, None)),
            want,
            "net {i}, one thread"
        );
    }
}

/// Par::Seq runs the same pieces on the calling thread: the GEMVs on the crate's
/// kernels cut their sums into blocks fixed by the matrix's size, not by the threads, so
/// the bits are the parallel call's on every backend (with a BLAS they differed in the
/// last bits above 64k weights, where the parallel call went to the BLAS's GEMV).
#[test]
fn sequential_calls_give_the_parallel_results() {
    for (i, net) in nets().iter().enumerate() {
        let want = plain(net, i as u64);
        let got = into(net, i as u64, Par::Seq, None);
        assert_eq!(bits(&got), bits(&want), "net {i}");
    }
}

#[test]
fn outputs_of_the_wrong_shape_are_refused_with_their_shapes() {
    let net = common::seeded::<f32>(6, 5, 4, 0).unwrap();
    let x = Array1::zeros(6);
    let mut s = Scratch::new();
    let mut short = Array1::zeros(5);
    let e = net
        .value_and_grad_into(x.view(), Mode::Forward, short.view_mut(), Par::Seq, &mut s)
        .unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. }) && e.to_string().contains("(5,)"),
        "{e}"
    );
    let mut j = Array2::zeros((4, 5));
    let plan = net.plan(Mode::Auto);
    let e = net
        .jacobian_into(x.view(), &plan, j.view_mut(), Par::Seq, &mut s)
        .unwrap_err();
    assert!(
        e.to_string().contains("(4, 6)") && e.to_string().contains("(4, 5)"),
        "{e}"
    );
    let other = common::seeded::<f32>(6, 5, 3, 0).unwrap().plan(Mode::Auto);
    let mut j = Array2::zeros((4, 6));
    let e = net
        .jacobian_into(x.view(), &other, j.view_mut(), Par::Seq, &mut s)
        .unwrap_err();
    assert!(e.to_string().contains("(6, 5, 3)"), "{e}");
    let mut dw = vec![LayerGrad {
        weights: Array2::zeros((5, 6)),
        bias: None,
    }];
    let e = net
        .value_and_weight_grads_into(x.view(), &mut dw, Par::Seq, &mut s)
        .unwrap_err();
    assert!(e.to_string().contains("one gradient per layer"), "{e}");
}

#[test]
fn threads_sharing_one_network_get_the_single_thread_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mlp<f64>>();
    let net = common::seeded::<f64>(300, 280, 260, 1).unwrap();
    let xs: Vec<Array1<f64>> = (0..4)
        .map(|s| random::standard_normal_vector(300, s).unwrap())
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
fn strided_inputs_and_outputs_give_the_contiguous_results_bit_for_bit() {
    // x as a column of a row-major matrix, grad as a column of another: neither is
    // contiguous; x is copied into the scratch first, so the results are the same bits.
    let net = common::seeded::<f64>(70, 60, 50, 8).unwrap();
    let xs = random::standard_normal::<f64>(70, 3, 4, 0).unwrap();
    let mut gs = Array2::<f64>::zeros((70, 3));
    let mut s = Scratch::new();
    for mode in MODES {
        let x = xs.column(1);
        assert!(x.as_slice().is_none());
        let want = net.value_and_grad(x.to_owned().view(), mode).unwrap();
        assert_eq!(net.value_and_grad(x, mode).unwrap(), want);
        let f = net
            .value_and_grad_into(x, mode, gs.column_mut(2), Par::Rayon, &mut s)
            .unwrap();
        assert_eq!((f, gs.column(2).to_owned()), want);
    }
    // X in column-major order: the same bits as row-major (one layout inside).
    let xf = Array2::from_shape_vec((70, 3).f(), xs.t().iter().copied().collect()).unwrap();
    assert_eq!(xf, xs);
    assert_eq!(
        net.value_and_grad_batch(xf.view()).unwrap(),
        net.value_and_grad_batch(xs.view()).unwrap()
    );
}

#[test]
fn a_jvp_into_strided_outputs_gives_the_contiguous_bits() {
    // A contiguous J·v takes φ' in place; a column of a row-major matrix, or a reversed
    // view, takes the chunked path (150 outputs: across a chunk's edge). The same bits.
    let net = common::seeded::<f64>(70, 60, 150, 3).unwrap();
    let xv = random::standard_normal::<f64>(70, 2, 5, 0).unwrap();
    let (x, v) = (xv.column(0), xv.column(1));
    let (want_f, want_jv) = net.jvp(x, v).unwrap();
    let mut s = Scratch::new();
    let mut f = Array1::<f64>::zeros(150);
    let mut columns = Array2::<f64>::zeros((150, 2));
    let jv = columns.column_mut(0);
    assert!(jv.as_slice().is_none());
    net.jvp_into(x, v, f.view_mut(), jv, Par::Seq, &mut s)
        .unwrap();
    assert_eq!((&f, &columns.column(0).to_owned()), (&want_f, &want_jv));
    let (mut f, mut jv) = (Array1::<f64>::zeros(150), Array1::<f64>::zeros(150));
    let (fr, jr) = (
        f.slice_mut(ndarray::s![..;-1]),
        jv.slice_mut(ndarray::s![..;-1]),
    );
    net.jvp_into(x, v, fr, jr, Par::Seq, &mut s).unwrap();
    let reversed = |a: &Array1<f64>| a.slice(ndarray::s![..;-1]).to_owned();
    assert_eq!((reversed(&f), reversed(&jv)), (want_f, want_jv));
}

#[test]
fn large_row_major_weights_are_kept_and_small_ones_put_on_lines() {
    // A copy would briefly double the weights' memory (1 GiB at d = 8000): row-major
    // matrices over 16 MiB (here 18 MB) are kept as given.
    let a = Array2::<f64>::from_elem((1500, 1500), 1e-3);
    let b = random::standard_normal::<f64>(10, 1500, 1, 99).unwrap();
    let pa = a.as_ptr();
    let net = common::sigmoid2(a, b.clone()).unwrap();
    assert_eq!(common::w(&net, 0).as_ptr(), pa);
    // Smaller ones are copied so that every row starts on a 64-byte line.
    assert!(common::rows_on_lines(common::w(&net, 1)) && common::w(&net, 1) == b);
    // Weights on lines already (here 64 columns, a row of eight lines, starting on a
    // line) are kept too.
    let lined = common::placed(Array2::from_elem((30, 64), 0.01).view(), 0);
    let p = lined.as_ptr();
    let net = common::sigmoid2(lined, b.slice(ndarray::s![.., ..30]).to_owned()).unwrap();
    assert_eq!(common::w(&net, 0).as_ptr(), p);
    // A column-major matrix (rows of 70 values), the same values, its rows on lines.
    let af = random::standard_normal::<f64>(70, 30, 1, 0)
        .unwrap()
        .reversed_axes();
    let net = common::sigmoid2(af.clone(), b.slice(ndarray::s![.., ..30]).to_owned()).unwrap();
    assert!(common::rows_on_lines(common::w(&net, 0)) && common::w(&net, 0) == af);
}

/// Panels of rows whose last, shorter panel folds a diagonal into the other operand
/// (a larger copy than the full panels'): once a panic, now sized for both.
#[test]
fn the_last_panel_of_rows_fits_its_scratch() {
    let f64_cases: [(&[usize], usize); 3] = [
        (&[54, 5, 10, 61], 6200),
        (&[48, 13, 7, 30, 38], 9136),
        (&[24, 8, 1, 7, 23, 17], 5832),
    ];
    for (widths, budget) in f64_cases {
        let net = Mlp::<f64>::from_seed(widths, Activation::Tanh, 0).unwrap();
        let x = random::standard_normal_vector::<f64>(widths[0], 1).unwrap() * 0.1;
        let want = net.jacobian(x.view(), Mode::Reverse).unwrap();
        let small = net.clone().with_memory_budget(budget);
        for mode in [Mode::Reverse, Mode::Auto] {
            let got = small.jacobian(x.view(), mode).unwrap();
            let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            let err = (&got - &want).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(err <= 1e-12 * scale, "{widths:?} {mode}: {err:e}");
        }
    }
    for (widths, budget) in [(&[47, 12, 41, 61][..], 7744), (&[6, 7, 7, 43][..], 2976)] {
        let net = Mlp::<f32>::from_seed(widths, Activation::Tanh, 0).unwrap();
        let x = Array1::from_elem(widths[0], 0.01_f32);
        let small = net.clone().with_memory_budget(budget);
        let want = net.jacobian(x.view(), Mode::Reverse).unwrap();
        let got = small.jacobian(x.view(), Mode::Reverse).unwrap();
        let scale = want.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        let err = (&got - &want).iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(err <= 1e-5 * scale, "{widths:?}: {err:e}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Any widths, budget and plan: the Jacobian through exactly its `scratch_len` (no
    /// panic, no growth) equals the one-panel Jacobian up to rounding.
    #[test]
    fn jacobians_in_panels_fit_their_scratch(
        widths in proptest::collection::vec(1usize..40, 2..6),
        budget in 500usize..40_000,
        mode in proptest::sample::select(vec![Mode::Forward, Mode::Reverse, Mode::Auto]),
    ) {
        let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, 3).unwrap();
        let x = random::standard_normal_vector::<f64>(widths[0], 4).unwrap() * 0.1;
        let want = net.jacobian(x.view(), mode).unwrap();
        let small = net.clone().with_memory_budget(budget);
        let plan = small.plan(mode);
        let Ok(len) = small.scratch_len(Call::Jacobian(&plan)) else {
            // Not one panel fits: the call refuses alike.
            proptest::prop_assert!(small.jacobian(x.view(), mode).is_err());
            return Ok(());
        };
        let mut s = Scratch::with_len(len).unwrap();
        let before = s.len();
        let mut got = Array2::zeros(want.dim());
        small.jacobian_into(x.view(), &plan, got.view_mut(), Par::Rayon, &mut s).unwrap();
        proptest::prop_assert_eq!(s.len(), before);
        let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let err = (&got - &want).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        proptest::prop_assert!(err <= 1e-12 * scale.max(f64::MIN_POSITIVE), "{:e}", err);
    }
}
