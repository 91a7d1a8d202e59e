//! Golden results: every computation the public API offers, hashed bit for bit.
//!
//! `cargo run --release --example golden [--features openblas|blis] > golden/<backend>.txt`
//! prints one line per computation (fixed seeds; every mode, f32 and f64, fast and wide
//! paths, batches, Jacobian and Hessian panels): its name and an FNV-1a hash of the f64
//! bits of every value it returns. BLAS results depend on the CPU, so these are compared
//! on one machine, not in CI: a change meant to keep results bit-identical keeps every
//! line; one that changes bits on purpose re-records them and says why.

use fwdrev::{random, Activation, Mlp, Mode, Par, Real, Scratch};
use ndarray::{Array1, Array2};

const MODES: [Mode; 3] = [Mode::Forward, Mode::Reverse, Mode::Auto];

/// The activations of version 0.1, whose cases keep their 0.1 hashes.
const FIVE: [Activation; 5] = [
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softplus,
    Activation::Relu,
    Activation::Identity,
];

/// FNV-1a over the f64 bits of every value.
fn hash<T: Real>(vals: impl IntoIterator<Item = T>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for v in vals {
        for b in v.as_f64().to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn emit(name: &str, h: u64) {
    println!("{name:<60} {h:016x}");
}

fn one<T: Real>(v: T) -> std::iter::Once<T> {
    std::iter::once(v)
}

fn two_layer<T: Real>(tag: &str, net: &Mlp<T>, seed: u64, budget: Option<usize>) {
    let d0 = net.widths()[0];
    let net = match budget {
        Some(b) => net.clone().with_memory_budget(b),
        None => net.clone(),
    };
    let x = random::standard_normal_vector::<T>(d0, seed).unwrap();
    emit(
        &format!("{tag}/value"),
        hash(one(net.value(x.view()).unwrap())),
    );
    let mut ws = Scratch::new();
    let mut g = Array1::zeros(d0);
    for mode in MODES {
        let (f, grad) = net.value_and_grad(x.view(), mode).unwrap();
        emit(
            &format!("{tag}/grad/{mode}"),
            hash(one(f).chain(grad.iter().copied())),
        );
        let f = net
            .value_and_grad_into(x.view(), mode, g.view_mut(), Par::Rayon, &mut ws)
            .unwrap();
        emit(
            &format!("{tag}/grad_with/{mode}"),
            hash(one(f).chain(g.iter().copied())),
        );
    }
    for k in [1, 7, 64] {
        let xs = random::standard_normal::<T>(d0, k, seed, 1 << 62).unwrap();
        let (f, gs) = net.value_and_grad_batch(xs.view()).unwrap();
        emit(
            &format!("{tag}/batch/{k}"),
            hash(f.iter().chain(gs.iter()).copied()),
        );
    }
}

fn general<T: Real>(tag: &str, net: &Mlp<T>, seed: u64) {
    let w = net.widths();
    let (d0, dl) = (w[0], w[w.len() - 1]);
    let x = random::standard_normal_vector::<T>(d0, seed).unwrap();
    let v = random::standard_normal_vector::<T>(d0, seed + 1).unwrap();
    let u = random::standard_normal_vector::<T>(dl, seed + 2).unwrap();
    emit(
        &format!("{tag}/output"),
        hash(net.output(x.view()).unwrap()),
    );
    emit(
        &format!("{tag}/value"),
        hash(one(net.value(x.view()).unwrap())),
    );
    for mode in MODES {
        let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
        emit(
            &format!("{tag}/grad/{mode}"),
            hash(one(f).chain(g.iter().copied())),
        );
    }
    let (o, jv) = net.jvp(x.view(), v.view()).unwrap();
    emit(
        &format!("{tag}/jvp"),
        hash(o.iter().chain(jv.iter()).copied()),
    );
    let (o, uj) = net.vjp(x.view(), u.view()).unwrap();
    emit(
        &format!("{tag}/vjp"),
        hash(o.iter().chain(uj.iter()).copied()),
    );
    for mode in MODES {
        let j = net.jacobian(x.view(), mode).unwrap();
        emit(&format!("{tag}/jacobian/{mode}"), hash(j.iter().copied()));
    }
    // Panels: budgets for a few columns or rows of the largest.
    let size = std::mem::size_of::<T>();
    for budget in [4096 * size, 40_000 * size] {
        let small = net.clone().with_memory_budget(budget);
        for mode in MODES {
            match small.jacobian(x.view(), mode) {
                Ok(j) => emit(
                    &format!("{tag}/jacobian/{mode}/budget{budget}"),
                    hash(j.iter().copied()),
                ),
                Err(_) => emit(&format!("{tag}/jacobian/{mode}/budget{budget}/refused"), 0),
            }
        }
        match small.hessian(x.view()) {
            Ok(h) => emit(
                &format!("{tag}/hessian/budget{budget}"),
                hash(h.iter().copied()),
            ),
            Err(_) => emit(&format!("{tag}/hessian/budget{budget}/refused"), 0),
        }
        match small.value_and_grad(x.view(), Mode::Forward) {
            Ok((f, g)) => emit(
                &format!("{tag}/grad/forward/budget{budget}"),
                hash(one(f).chain(g.iter().copied())),
            ),
            Err(_) => emit(&format!("{tag}/grad/forward/budget{budget}/refused"), 0),
        }
    }
    let (g, hv) = net.hvp(x.view(), v.view()).unwrap();
    emit(
        &format!("{tag}/hvp"),
        hash(g.iter().chain(hv.iter()).copied()),
    );
    let h = net.hessian(x.view()).unwrap();
    emit(&format!("{tag}/hessian"), hash(h.iter().copied()));
    let (f, dw) = net.value_and_weight_grads(x.view()).unwrap();
    emit(
        &format!("{tag}/weight_grads"),
        hash(one(f).chain(dw.iter().flat_map(|g| {
            let b = g.bias.iter().flat_map(|b| b.iter().copied());
            g.weights.iter().copied().chain(b)
        }))),
    );
    for k in [3, 20] {
        let xs = random::standard_normal::<T>(d0, k, seed, 1 << 62).unwrap();
        let (f, gs) = net.value_and_grad_batch(xs.view()).unwrap();
        emit(
            &format!("{tag}/batch/{k}"),
            hash(f.iter().chain(gs.iter()).copied()),
        );
    }
}

/// Layers of `widths`, weights N(0,1)·scale/√fan-in, activations cycling through `acts`.
fn scaled<T: Real>(
    widths: &[usize],
    acts: &[Activation],
    seed: u64,
    scale: f64,
) -> Vec<(Array2<T>, Activation)> {
    widths
        .windows(2)
        .enumerate()
        .map(|(k, w)| {
            let m = random::standard_normal::<f64>(w[1], w[0], seed, (k as u64) << 32).unwrap();
            let m = m.mapv(|v| T::from_f64(v * scale / (w[0] as f64).sqrt()));
            (m, acts[k % acts.len()])
        })
        .collect()
}

/// A deterministic generator of huge entries: log-uniform 1e-300 … 1e308, signed, some 0.
fn huge_layers(widths: &[usize], acts: &[Activation], seed: u64) -> Vec<(Array2<f64>, Activation)> {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    widths
        .windows(2)
        .enumerate()
        .map(|(k, w)| {
            let m = Array2::from_shape_fn((w[1], w[0]), |_| {
                let r = next();
                if r % 11 == 0 {
                    return 0.0;
                }
                let e = -300.0 + (r >> 11) as f64 / (1u64 << 53) as f64 * 608.0;
                let v = 10f64.powf(e).min(f64::MAX);
                if r & 2 == 0 {
                    v
                } else {
                    -v
                }
            });
            (m, acts[k % acts.len()])
        })
        .collect()
}

/// The network with its first layer's weights times `s`.
fn scale_first<T: Real>(net: &Mlp<T>, s: f64) -> Mlp<T> {
    let mut layers: Vec<_> = net.layers().to_vec();
    layers[0] = fwdrev::Layer::new(
        layers[0].weights().mapv(|v| v * T::from_f64(s)),
        layers[0].activation(),
    );
    Mlp::new(layers).unwrap()
}

fn all<T: Real>() {
    let t = T::NAME;
    for (d0, d1, d2, seed) in [(100, 105, 95, 42), (300, 280, 260, 1), (70, 60, 50, 8)] {
        let net = Mlp::<T>::from_seed(&[d0, d1, d2], Activation::Sigmoid, seed).unwrap();
        two_layer(&format!("{t}/net{d0}x{d1}x{d2}"), &net, seed, None);
    }
    let net = Mlp::<T>::from_seed(&[90, 70, 50], Activation::Sigmoid, 5).unwrap();
    two_layer(
        &format!("{t}/net90x70x50/budget"),
        &net,
        5,
        Some(40 * 120 * std::mem::size_of::<T>()),
    );

    let acts = FIVE;
    for act in acts {
        let net = Mlp::<T>::new(scaled(&[50, 80, 30, 70, 20], &[act], 3, 1.5)).unwrap();
        general(&format!("{t}/mlp50-80-30-70-20/{act}"), &net, 3);
    }
    let net = Mlp::<T>::new(scaled(&[40, 60, 2, 60, 40], &acts, 4, 1.0)).unwrap();
    general(&format!("{t}/mlp40-60-2-60-40/mixed"), &net, 4);
    let net = Mlp::<T>::new(scaled(&[30, 20], &[Activation::Sigmoid], 9, 2.0)).unwrap();
    general(&format!("{t}/mlp30-20/sigmoid"), &net, 9);
    let net = Mlp::<T>::new(scaled(
        &[400, 300, 200, 100],
        &[Activation::Softplus, Activation::Tanh],
        6,
        1.0,
    ))
    .unwrap();
    general(&format!("{t}/mlp400-300-200-100"), &net, 6);
    let net = Mlp::<T>::from_seed(&[300, 300, 10, 300, 300], Activation::Tanh, 2).unwrap();
    general(&format!("{t}/mlp300-300-10-300-300/seeded"), &net, 2);
}

fn wide() {
    // A scaled to ~1e306: every call on the wide path.
    let base = Mlp::<f64>::from_seed(&[50, 40, 30], Activation::Sigmoid, 11).unwrap();
    let big = scale_first(&base, 1e306);
    two_layer("wide/net50x40x30/a1e306", &big, 11, None);
    general("wide/net50x40x30/a1e306/mlp", &big, 11);
    let base32 = Mlp::<f32>::from_seed(&[50, 40, 30], Activation::Sigmoid, 12).unwrap();
    let big32 = scale_first(&base32, 1e37);
    two_layer("wide/f32/net50x40x30/a1e37", &big32, 12, None);
    general("wide/f32/net50x40x30/a1e37/mlp", &big32, 12);
    let acts = FIVE;
    for seed in 0..12 {
        let net = Mlp::new(huge_layers(&[6, 5, 4, 3], &acts[seed as usize % 5..], seed)).unwrap();
        general(&format!("wide/huge6-5-4-3/{seed}"), &net, seed);
    }
    // A safe forward pass whose gradient overflows (tests/extreme.rs).
    let a: Array2<f64> = ndarray::array![[7e305], [7e305]];
    let b = Array2::from_shape_fn((100, 2), |(_, i)| if i == 0 { 100.0 } else { -100.0 });
    let net = Mlp::new([(a, Activation::Sigmoid), (b, Activation::Sigmoid)]).unwrap();
    general("wide/safe-forward-overflow", &net, 0);
}

/// Added in 0.2: biases on every other layer, and every activation (SiLU and GELU
/// among them), in both types and on the wide path.
fn biased<T: Real>() {
    let t = T::NAME;
    let with_biases = |widths: &[usize], acts: &[Activation], seed: u64, scale: f64| {
        let layers = scaled::<T>(widths, acts, seed, scale)
            .into_iter()
            .enumerate()
            .map(|(k, (w, act))| {
                let layer = fwdrev::Layer::new(w, act);
                match k % 2 {
                    0 => {
                        let b = random::standard_normal_vector::<T>(widths[k + 1], seed + k as u64)
                            .unwrap();
                        layer.with_bias(b)
                    }
                    _ => layer,
                }
            });
        Mlp::new(layers).unwrap()
    };
    for act in Activation::ALL {
        let net = with_biases(&[50, 80, 30, 70, 20], &[act], 13, 1.5);
        general(&format!("{t}/biased50-80-30-70-20/{act}"), &net, 13);
    }
    let net = with_biases(
        &[400, 300, 200, 100],
        &[Activation::Gelu, Activation::Silu],
        14,
        1.0,
    );
    general(&format!("{t}/biased400-300-200-100/gelu-silu"), &net, 14);
}

fn wide_biased() {
    let acts = Activation::ALL;
    for seed in 0..7 {
        let layers = huge_layers(&[6, 5, 4, 3], &acts[seed as usize..], seed + 100)
            .into_iter()
            .enumerate()
            .map(|(k, (w, act))| {
                let rows = w.nrows();
                let b = huge_layers(&[1, rows], &[act], seed + 200 + k as u64)[0]
                    .0
                    .column(0)
                    .to_owned();
                fwdrev::Layer::new(w, act).with_bias(b)
            });
        let net = Mlp::new(layers).unwrap();
        general(&format!("wide/biased6-5-4-3/{seed}"), &net, seed);
    }
}

fn main() {
    fwdrev::backend::restart_with_best_kernels();
    fwdrev::set_threads(2).unwrap();
    eprintln!("golden: backend {}", fwdrev::backend());
    all::<f64>();
    all::<f32>();
    wide();
    biased::<f64>();
    biased::<f32>();
    wide_biased();
}
