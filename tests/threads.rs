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

/// The bits of every call on a few seeded networks, folded into one number (FNV-1a).
/// Shapes large enough that the BLAS (and rayon) split the work: 300×400 = 120 000
/// entries a layer, past the 65 536 below which the crate's own kernels run anyway.
fn bits_of_every_call() -> u64 {
    use fwdrev::random::{standard_normal, standard_normal_vector};
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut fold = |v: &[f64]| {
        for x in v {
            hash = (hash ^ x.to_bits()).wrapping_mul(0x100_0000_01b3);
        }
    };
    // The first two have layers past the size where matrix-vector sweeps split (2^18
    // entries: W_2 of the first, 400×700, is swept both ways, W_1ᵀ·ḡ and the fused pass),
    // the others exercise the GEMMs' and the maps' splits; the last one's 1100×1100
    // products (forward mode, the Jacobian) are cut into blocks on faer's GEMM with two
    // threads and run as one call with the others.
    for (seed, widths) in [
        (1, vec![40, 700, 400, 3]),
        (4, vec![300, 900, 300]),
        (2, vec![257, 513, 129, 64]),
        (3, vec![64, 700, 2]),
        (5, vec![1100, 40, 1100]),
    ] {
        let net = fwdrev::Mlp::<f64>::from_seed(&widths, fwdrev::Activation::Tanh, seed).unwrap();
        let (d0, dl) = (widths[0], *widths.last().unwrap());
        let x = standard_normal_vector::<f64>(d0, seed).unwrap();
        let v = standard_normal_vector::<f64>(d0, seed + 10).unwrap();
        let u = standard_normal_vector::<f64>(dl, seed + 20).unwrap();
        for mode in [Mode::Forward, Mode::Reverse] {
            let (f, g) = net.value_and_grad(x.view(), mode).unwrap();
            fold(&[f]);
            fold(g.as_slice().unwrap());
        }
        fold(net.jvp(x.view(), v.view()).unwrap().1.as_slice().unwrap());
        fold(net.vjp(x.view(), u.view()).unwrap().1.as_slice().unwrap());
        fold(net.hvp(x.view(), v.view()).unwrap().1.as_slice().unwrap());
        fold(
            net.jacobian(x.view(), Mode::Auto)
                .unwrap()
                .as_slice()
                .unwrap(),
        );
        // At k = 40 the batches of all networks but the third are cut in two pieces
        // on two threads or more, where no product goes to a BLAS (always in the
        // pure-Rust build; with the switch on in a BLAS build).
        for k in [3, 40] {
            let xs = standard_normal::<f64>(d0, k, seed, 77).unwrap();
            let (fs, gs) = net.value_and_grad_batch(xs.view()).unwrap();
            fold(fs.as_slice().unwrap());
            fold(gs.as_standard_layout().as_slice().unwrap());
        }
    }
    hash
}

/// Run as a child by the test below: sets the thread count (and the switch) its parent
/// asks for and prints the bits of every call.
#[test]
fn child_prints_the_bits_of_every_call() {
    let Ok(n) = std::env::var("FWDREV_CHILD_THREADS") else {
        return;
    };
    fwdrev::set_deterministic(std::env::var_os("FWDREV_CHILD_DETERMINISTIC").is_some());
    set_threads(n.parse().unwrap()).unwrap();
    println!("BITS {:016x}", bits_of_every_call());
}

/// Gradients, JVP/VJP/HVP, Jacobians and batches: the same bits on 1, 2, 3, 5 and 8
/// threads, with `set_deterministic(true)` on a BLAS backend, and in the pure-Rust build
/// without it (there the switch changes nothing: it only keeps products from a BLAS).
#[test]
fn results_are_bit_identical_for_one_to_eight_threads() {
    // The backend by its features, not `fwdrev::backend()`: that reports the thread
    // count, which builds rayon's global pool, and the test above, running beside this
    // one in this process, must be the first to build it (it lost that race once in CI).
    let deterministic = cfg!(any(feature = "openblas", feature = "blis"));
    let run = |n: usize| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "child_prints_the_bits_of_every_call",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FWDREV_CHILD_THREADS", n.to_string())
        .env_remove("RAYON_NUM_THREADS");
        if deterministic {
            cmd.env("FWDREV_CHILD_DETERMINISTIC", "1");
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let at = text.find("BITS ").expect("the child's line");
        text[at..at + 21].to_string()
    };
    let one = run(1);
    // Even, odd, prime and the most: each child costs seconds in a debug build.
    for n in [2, 3, 5, 8] {
        assert_eq!(
            run(n),
            one,
            "{n} threads vs 1, deterministic: {deterministic}"
        );
    }
}
