//! With scratch of their `scratch_len` and `Par::Seq`, the calls made of matrix-vector
//! products allocate nothing: not a byte per call, whatever the depth. (Calls built on
//! GEMMs — forward mode, Jacobians, Hessians with many directions, batches — may
//! allocate inside the BLAS, which packs its operands.) A counting allocator sees
//! every allocation of this test's thread.

mod common;

use fwdrev::{random, Activation, Call, Layer, LayerGrad, Mlp, Mode, Par, Scratch};
use ndarray::{Array1, Array2};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator, counting calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|c| c.get());
    f();
    ALLOCATIONS.with(|c| c.get()) - before
}

#[test]
fn matrix_vector_calls_allocate_nothing_given_their_scratch() {
    let mk = |k: usize, w: &[usize]| {
        let m =
            random::standard_normal::<f64>(w[1], w[0], 7, k as u64).unwrap() / (w[0] as f64).sqrt();
        Layer::new(m, Activation::ALL[k % 7]).with_bias(Array1::from_elem(w[1], 0.1))
    };
    let widths = [40, 300, 250, 3, 35];
    let net = Mlp::new(widths.windows(2).enumerate().map(|(k, w)| mk(k, w))).unwrap();
    let x = random::standard_normal_vector::<f64>(40, 1).unwrap();
    let (v, u) = (x.mapv(|t| t * 0.5), Array1::from_elem(35, 1.0));
    let calls = [
        Call::Output,
        Call::Value,
        Call::Grad(Mode::Reverse),
        Call::Jvp,
        Call::Vjp,
        Call::Hvp,
        Call::HessianAt,
        Call::WeightGrads,
    ];
    let len = calls
        .iter()
        .map(|&c| net.scratch_len(c).unwrap())
        .max()
        .unwrap();
    let mut s = Scratch::with_len(len).unwrap();
    let (mut o, mut g, mut h) = (Array1::zeros(35), Array1::zeros(40), Array1::zeros(40));
    let mut dw: Vec<LayerGrad<f64>> = net
        .layers()
        .iter()
        .map(|l| LayerGrad {
            weights: Array2::zeros(l.weights().dim()),
            bias: Some(Array1::zeros(l.weights().nrows())),
        })
        .collect();
    let seq = Par::Seq;
    let at = net.hessian_at(x.view()).unwrap();
    let n = allocations(|| {
        for _ in 0..3 {
            net.output_into(x.view(), o.view_mut(), seq, &mut s)
                .unwrap();
            net.value_into(x.view(), seq, &mut s).unwrap();
            net.value_and_grad_into(x.view(), Mode::Reverse, g.view_mut(), seq, &mut s)
                .unwrap();
            net.jvp_into(
                x.view(),
                v.view(),
                o.view_mut(),
                h.view_mut().slice_move(ndarray::s![..35]),
                seq,
                &mut s,
            )
            .unwrap();
            net.vjp_into(x.view(), u.view(), o.view_mut(), g.view_mut(), seq, &mut s)
                .unwrap();
            net.hvp_into(x.view(), v.view(), g.view_mut(), h.view_mut(), seq, &mut s)
                .unwrap();
            at.apply_into(v.view(), h.view_mut(), seq, &mut s).unwrap();
            net.value_and_weight_grads_into(x.view(), &mut dw, seq, &mut s)
                .unwrap();
        }
    });
    assert_eq!(n, 0, "allocations in 24 calls");
    // The plain calls allocate their results, and nothing per call beyond them once
    // their pooled scratch exists.
    let net = common::seeded::<f64>(100, 105, 95, 42)
        .unwrap()
        .with_par(Par::Seq);
    let x = random::standard_normal_vector::<f64>(100, 2).unwrap();
    net.value_and_grad(x.view(), Mode::Reverse).unwrap();
    let n = allocations(|| {
        net.value_and_grad(x.view(), Mode::Reverse).unwrap();
    });
    assert_eq!(n, 1, "the plain gradient allocates its result only");
}

/// The seeded networks (standard-normal weights, f32) have forward bounds far beyond
/// σ's flush radius (~59 in f32), so their results are checked against the flushes'
/// bound: their entries are large enough to keep, and the wide path (which allocates)
/// never runs for them.
#[test]
fn seeded_f32_networks_stay_on_the_fast_path() {
    let net = Mlp::<f32>::from_seed(&[300, 280, 260], Activation::Sigmoid, 3)
        .unwrap()
        .with_par(Par::Seq);
    let x = random::standard_normal_vector::<f32>(300, 4).unwrap();
    let mut s = Scratch::with_len(net.scratch_len(Call::Grad(Mode::Reverse)).unwrap()).unwrap();
    let mut g = Array1::zeros(300);
    let n = allocations(|| {
        for _ in 0..3 {
            net.value_and_grad_into(x.view(), Mode::Reverse, g.view_mut(), Par::Seq, &mut s)
                .unwrap();
        }
    });
    assert_eq!(n, 0, "allocations in 3 gradients");
}
