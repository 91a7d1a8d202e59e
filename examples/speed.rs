//! One benchmark case in its own process: `cargo run --release --example speed -- CASE
//! REPS` prints the median seconds per call of REPS samples (each ≥ 2 ms of calls, after
//! a warm-up). CASE is GROUP:PARAM with the benches' groups, e.g. `reverse:4000`,
//! `batch64:2000`, `batch64_f32:2000`, `jacobian_auto:1000-1000-10-1000-1000`,
//! `hvp:depth4`, `wide:1000`.
//!
//! `scripts/speed_compare.sh OLD NEW` runs two builds of it in alternating rounds, the
//! way a change that must keep speed unchanged is checked (docs/measured.md).

use fwdrev::{random, Activation, Layer, Mlp, Mode, Real};
use std::time::Instant;

fn widths(p: &str) -> Vec<usize> {
    if let Some(l) = p.strip_prefix("depth") {
        return vec![1000; l.parse::<usize>().unwrap() + 1];
    }
    p.split('-').map(|w| w.parse().unwrap()).collect()
}

/// The batched gradient of the d-d-d network at 64 seeded points.
fn batch64<T: Real>(d: usize) -> Box<dyn FnMut()> {
    let net = Mlp::<T>::from_seed(&[d, d, d], Activation::Sigmoid, 0).unwrap();
    let xs = random::standard_normal::<T>(d, 64, 0, 1 << 62).unwrap();
    Box::new(move || {
        std::hint::black_box(net.value_and_grad_batch(xs.view()).unwrap());
    })
}

fn main() {
    fwdrev::backend::restart_with_best_kernels();
    let args: Vec<String> = std::env::args().collect();
    let (group, param) = args[1].split_once(':').unwrap();
    let reps: usize = args[2].parse().unwrap();
    let d = || param.parse::<usize>().unwrap();
    let mut f: Box<dyn FnMut()> = match group {
        "forward" | "reverse" | "forward_64mib" | "value" => {
            let d = d();
            let mut net = Mlp::<f64>::from_seed(&[d, d, d], Activation::Sigmoid, 0).unwrap();
            if group == "forward_64mib" {
                net = net.with_memory_budget(64 << 20);
            }
            let x = random::standard_normal_vector::<f64>(d, 0).unwrap();
            let mode = if group == "reverse" {
                Mode::Reverse
            } else {
                Mode::Forward
            };
            if group == "value" {
                Box::new(move || {
                    std::hint::black_box(net.value(x.view()).unwrap());
                })
            } else {
                Box::new(move || {
                    std::hint::black_box(net.value_and_grad(x.view(), mode).unwrap());
                })
            }
        }
        "forward_f32" | "reverse_f32" => {
            let d = d();
            let net = Mlp::<f32>::from_seed(&[d, d, d], Activation::Sigmoid, 0).unwrap();
            let x = random::standard_normal_vector::<f32>(d, 0).unwrap();
            let mode = if group == "reverse_f32" {
                Mode::Reverse
            } else {
                Mode::Forward
            };
            Box::new(move || {
                std::hint::black_box(net.value_and_grad(x.view(), mode).unwrap());
            })
        }
        "batch64" => batch64::<f64>(d()),
        "batch64_f32" => batch64::<f32>(d()),
        "wide" => {
            let d = d();
            let net = Mlp::<f64>::from_seed(&[d, d, d], Activation::Sigmoid, 0).unwrap();
            let mut layers = net.layers().to_vec();
            layers[0] = Layer::new(layers[0].weights().mapv(|v| v * 1e306), Activation::Sigmoid);
            let huge = Mlp::new(layers).unwrap();
            let x = random::standard_normal_vector::<f64>(d, 1).unwrap();
            Box::new(move || {
                std::hint::black_box(huge.value_and_grad(x.view(), Mode::Reverse).unwrap());
            })
        }
        g => {
            let w = widths(param);
            let net = Mlp::<f64>::from_seed(&w, Activation::Tanh, 0).unwrap();
            let x = random::standard_normal_vector::<f64>(w[0], 0).unwrap() * 0.01;
            let v = random::standard_normal_vector::<f64>(w[0], 1).unwrap();
            let u = random::standard_normal_vector::<f64>(w[w.len() - 1], 2).unwrap();
            match g {
                "jacobian_forward" | "jacobian_reverse" | "jacobian_auto" => {
                    let mode = match g {
                        "jacobian_forward" => Mode::Forward,
                        "jacobian_reverse" => Mode::Reverse,
                        _ => Mode::Auto,
                    };
                    let plan = net.plan(mode);
                    Box::new(move || {
                        std::hint::black_box(net.jacobian_with_plan(x.view(), &plan).unwrap());
                    })
                }
                "jvp" => Box::new(move || {
                    std::hint::black_box(net.jvp(x.view(), v.view()).unwrap());
                }),
                "vjp" => Box::new(move || {
                    std::hint::black_box(net.vjp(x.view(), u.view()).unwrap());
                }),
                "hvp" => Box::new(move || {
                    std::hint::black_box(net.hvp(x.view(), v.view()).unwrap());
                }),
                "mlp_grad" => Box::new(move || {
                    std::hint::black_box(net.value_and_grad(x.view(), Mode::Reverse).unwrap());
                }),
                "hessian" => Box::new(move || {
                    std::hint::black_box(net.hessian(x.view()).unwrap());
                }),
                "weight_grads" => Box::new(move || {
                    std::hint::black_box(net.value_and_weight_grads(x.view()).unwrap());
                }),
                other => panic!("unknown group {other}"),
            }
        }
    };
    // Warm-up, then samples of ≥ 2 ms each.
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64();
    let n = ((2e-3 / once.max(1e-9)).ceil() as usize).clamp(1, 100_000);
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / n as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.6e}", times[times.len() / 2]);
}
