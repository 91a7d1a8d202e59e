//! Networks as .npz archives: numpy.savez and savez_compressed archives (written by
//! scripts/npz_cases.py from the deep reference cases) load into the network the
//! reference's .npy files make, with PyTorch's gradient; saving and loading again gives
//! the same network; malformed archives are typed errors naming the archive and entry.

mod common;

use fwdrev::{Activation, Error, Mlp, Mode};
use std::path::PathBuf;

fn archive(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/npz/{name}.npz"))
}

fn same_network<T: fwdrev::Real>(a: &Mlp<T>, b: &Mlp<T>) {
    assert_eq!(a.widths(), b.widths());
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        assert_eq!(la.weights(), lb.weights());
        assert_eq!(la.bias(), lb.bias());
        assert_eq!(la.activation(), lb.activation());
    }
}

#[test]
fn numpy_archives_load_as_the_reference_networks() {
    for case in ["biased", "some_biases", "mixed"] {
        let want = common::case_net("deep", case);
        let x = common::load_vector("deep", case, "x");
        let torch = common::load_vector("deep", case, "grad");
        for file in [case.to_string(), format!("{case}_compressed")] {
            let net: Mlp<f64> = Mlp::load_npz(archive(&file)).unwrap();
            same_network(&net, &want);
            // And PyTorch's gradient, to the oracle tests' tolerance.
            let (_, g) = net.value_and_grad(x.view(), Mode::Reverse).unwrap();
            let scale = torch.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(
                g.iter()
                    .zip(&torch)
                    .all(|(a, b)| (a - b).abs() <= 1e-12 * scale),
                "{file}"
            );
        }
    }
    // One activation for all layers (a 0-d str array), float32 weights read as f32.
    let net: Mlp<f32> = Mlp::load_npz(archive("one_layer_f32")).unwrap();
    let want = common::case_net("deep", "one_layer");
    assert_eq!(net.layers()[0].activation(), want.layers()[0].activation());
    assert_eq!(
        net.layers()[0].weights(),
        want.layers()[0].weights().mapv(|v| v as f32)
    );
}

#[test]
fn saving_and_loading_gives_the_same_network() {
    let dir = common::fresh_dir("fwdrev-npz");
    for case in [
        "biased",
        "some_biases",
        "mixed",
        "bottleneck",
        "one_layer",
        "tails",
    ] {
        let net = common::case_net("deep", case);
        let path = dir.join(format!("{case}.npz"));
        net.save_npz(&path).unwrap();
        same_network(&Mlp::<f64>::load_npz(&path).unwrap(), &net);
    }
    let net = common::seeded::<f32>(7, 5, 3, 1).unwrap();
    let path = dir.join("f32.npz");
    net.save_npz(&path).unwrap();
    same_network(&Mlp::<f32>::load_npz(&path).unwrap(), &net);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_archives_are_errors_naming_what_is_wrong() {
    for (name, says) in [
        ("bad_gap", "no W2"),
        ("bad_orphan_bias", "b2 has no layer"),
        ("bad_unknown_activation", "swish"),
        ("bad_unknown_entry", "extra"),
        ("bad_activation_count", "3 activations for 2 layers"),
        ("bad_no_weights", "no W1"),
        ("bad_int_weights", "<i8"),
        ("bad_shape_chain", "bad_shape_chain.npz: layer 2's columns"),
        ("bad_not_zip", "not a .npz"),
        ("bad_ambiguous", "both W1 and W1.npy"),
    ] {
        let e = Mlp::<f64>::load_npz(archive(name)).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, Error::Npy { .. } | Error::Shape { .. }),
            "{name}: {e:?}"
        );
        assert!(text.contains(says), "{name}: {text}");
        assert!(!text.contains('\n'), "{name}: one line: {text}");
    }
    let e = Mlp::<f64>::load_npz(archive("nowhere")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert_eq!(Activation::ALL.len(), 7);
}

/// A corrupted entry is an error (zip checks an entry's CRC only after its last byte,
/// which the reader now asks for), not other numbers; a FIFO is refused, not waited on.
#[test]
fn corrupted_entries_and_fifos_are_refused() {
    let bytes = std::fs::read(archive("biased")).unwrap();
    // A byte of W1's data: past the magic after W1.npy's name, past the .npy header.
    let find = |from: usize, what: &[u8]| {
        from + bytes[from..]
            .windows(what.len())
            .position(|w| w == what)
            .unwrap()
    };
    let magic = find(find(0, b"W1.npy"), b"\x93NUMPY");
    let header = u16::from_le_bytes([bytes[magic + 8], bytes[magic + 9]]) as usize;
    let at = magic + 10 + header + 3;
    let mut bad = bytes.clone();
    bad[at] ^= 0x40;
    let dir = common::fresh_dir("fwdrev-npz-corrupt");
    let path = dir.join("corrupt.npz");
    std::fs::write(&path, &bad).unwrap();
    let e = Mlp::<f64>::load_npz(&path).unwrap_err();
    assert!(e.to_string().contains("corrupted"), "{e}");
    std::fs::remove_file(&path).unwrap();
    #[cfg(unix)]
    {
        let fifo = dir.join("fifo.npz");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Mlp::<f64>::load_npz(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        std::fs::remove_file(&fifo).unwrap();
    }
}
