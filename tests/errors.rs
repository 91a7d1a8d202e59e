//! Every bad input gets a typed error that names the shapes, the value or the file.

mod common;

use common::tmp;

use fwdrev::{npy, Error, Mode};
use ndarray::{arr1, Array1, Array2};

#[test]
fn mismatched_weight_shapes_name_both_shapes() {
    let e = common::sigmoid2::<f64>(Array2::zeros((3, 2)), Array2::zeros((4, 5))).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }));
    let msg = e.to_string();
    assert!(msg.contains("(3, 2)") && msg.contains("(4, 5)"), "{msg}");
}

#[test]
fn zero_dimensions_are_refused() {
    for (a, b, layer) in [
        ((0, 2), (1, 0), 1),
        ((2, 0), (1, 2), 1),
        ((2, 2), (0, 2), 2),
    ] {
        let e = common::sigmoid2::<f64>(Array2::zeros(a), Array2::zeros(b)).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::Shape { .. })
                && msg.contains(&format!("layer {layer}'s weights must not be empty")),
            "{a:?} {b:?}: {e}"
        );
    }
    assert!(matches!(
        common::seeded::<f32>(3, 0, 2, 1),
        Err(Error::EmptyDimension { what: "a width" })
    ));
    let e = fwdrev::Mlp::<f64>::new(Vec::<fwdrev::Layer<f64>>::new()).unwrap_err();
    assert!(matches!(e, Error::EmptyDimension { .. }), "{e}");
}

#[test]
fn x_of_the_wrong_length_names_both_lengths() {
    let net = common::seeded::<f64>(4, 3, 2, 0).unwrap();
    for mode in [Mode::Forward, Mode::Reverse] {
        let e = net
            .value_and_grad(Array1::zeros(5).view(), mode)
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("(4,)") && msg.contains("(5,)"), "{msg}");
    }
    assert!(net.value(Array1::zeros(3).view()).is_err());
}

#[test]
fn non_finite_entries_are_reported_with_their_index() {
    let mut a = Array2::<f64>::ones((3, 4));
    a[[2, 1]] = f64::NAN;
    let e = common::sigmoid2(a, Array2::ones((2, 3))).unwrap_err();
    match e {
        Error::NonFinite {
            what: "the weights (layer, row, column)",
            index,
            value,
        } => {
            assert_eq!(index, vec![1, 2, 1]);
            assert!(value.is_nan());
        }
        e => panic!("{e}"),
    }
    let mut b = Array2::<f32>::ones((2, 3));
    b[[1, 0]] = f32::NEG_INFINITY;
    let msg = common::sigmoid2(Array2::ones((3, 4)), b)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("weights") && msg.contains("-inf") && msg.contains("[2, 1, 0]"),
        "{msg}"
    );
    // A bias: [layer, row].
    let layer = fwdrev::Layer::new(Array2::<f64>::ones((2, 3)), fwdrev::Activation::Tanh)
        .with_bias(arr1(&[0.5, f64::INFINITY]));
    let msg = fwdrev::Mlp::new([layer]).unwrap_err().to_string();
    assert!(msg.contains("biases") && msg.contains("[1, 1]"), "{msg}");

    let net = common::seeded::<f64>(3, 2, 2, 0).unwrap();
    let x = arr1(&[0.0, f64::INFINITY, f64::NAN]);
    for mode in [Mode::Forward, Mode::Reverse] {
        match net.value_and_grad(x.view(), mode).unwrap_err() {
            Error::NonFinite {
                what: "x", index, ..
            } => assert_eq!(index, vec![1]),
            e => panic!("{e}"),
        }
    }
}

#[test]
fn sizes_beyond_memory_are_refused_before_allocating() {
    // 1e6 × 1e6 f64 is 8 TB; usize::MAX overflows the byte count itself.
    for (d0, d1) in [(1_000_000, 1_000_000), (usize::MAX, 2)] {
        match common::seeded::<f64>(d0, d1, 1, 0).unwrap_err() {
            Error::TooLarge {
                needed, available, ..
            } => assert!(needed > available),
            e => panic!("{e}"),
        }
    }
}

#[test]
fn a_budget_too_small_for_one_panel_is_an_error_with_the_numbers() {
    let net = common::seeded::<f64>(5, 10, 6, 0)
        .unwrap()
        .with_memory_budget(100);
    let x = Array1::zeros(5);
    match net.value_and_grad(x.view(), Mode::Forward).unwrap_err() {
        Error::TooLarge {
            needed, available, ..
        } => {
            // One column of the two buffers, d1 = 10 and d2 = 6 values, each carved in
            // whole 64-byte lines: 16 + 8 values.
            assert_eq!((needed, available), (24 * 8, 100));
        }
        e => panic!("{e}"),
    }
    // Reverse mode needs no panels.
    assert!(net.value_and_grad(x.view(), Mode::Reverse).is_ok());
}

/// `bytes` with the first `from` replaced by `to`, padded with spaces to the same length
/// so the header length field stays true.
fn edit(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert!(to.len() <= from.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .expect("present");
    let mut out = bytes.to_vec();
    let new = format!("{to:<width$}", width = from.len());
    out[at..at + from.len()].copy_from_slice(new.as_bytes());
    out
}

#[test]
fn npy_files_that_are_not_what_they_claim() {
    let good = tmp("good.npy");
    npy::write(&good, Array2::<f64>::ones((2, 3)).view().into_dyn()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header_end = bytes.iter().position(|&c| c == b'\n').unwrap() + 1;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text.npy", b"just some text, not numpy".to_vec(), "magic"),
        ("short.npy", b"\x93NUM".to_vec(), "too short"),
        (
            "truncated.npy",
            bytes[..bytes.len() - 8].to_vec(),
            "needs 48 data bytes, the file holds 40",
        ),
        (
            "long.npy",
            [&bytes[..], &[0u8; 8]].concat(),
            "the file holds 56",
        ),
        (
            "lying.npy",
            edit(&bytes, "(2, 3), }          ", "(100000, 100000), }"),
            "needs 80000000000 data bytes, the file holds 48",
        ),
        (
            "overflow.npy",
            edit(
                &bytes,
                "(2, 3), }                    ",
                "(4294967296, 4294967296), }",
            ),
            "more than 2^64",
        ),
        // An f4 header over f8 data: twice the bytes the header claims.
        (
            "f32.npy",
            edit(&bytes, "<f8", "<f4"),
            "needs 24 data bytes, the file holds 48",
        ),
        ("int.npy", edit(&bytes, "<f8", "<i8"), "dtype <i8"),
        ("bigendian.npy", edit(&bytes, "<f8", ">f8"), "dtype >f8"),
        (
            "badshape.npy",
            edit(&bytes, "(2, 3)", "(2, x)"),
            "where a dimension",
        ),
        (
            "version.npy",
            [&b"\x93NUMPY\x09\x00"[..], &bytes[8..]].concat(),
            "version 9.0",
        ),
        (
            "nodict.npy",
            [&bytes[..10], &vec![b' '; header_end - 10][..]].concat(),
            "'{' belongs",
        ),
    ];
    for (name, content, expect) in cases {
        let p = tmp(name);
        std::fs::write(&p, &content).unwrap();
        let e = npy::read::<f64, ndarray::IxDyn>(&p).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Npy { .. }), "{name}: {msg}");
        assert!(msg.contains(expect) && msg.contains(name), "{name}: {msg}");
    }
    let e = npy::read::<f64, ndarray::IxDyn>(tmp("missing.npy")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    let e = npy::read::<f64, ndarray::Ix1>(&good).unwrap_err();
    assert!(
        e.to_string().contains("rank 2 (shape [2, 3]) where rank 1"),
        "{e}"
    );
}

#[test]
fn npy_round_trips_and_reads_fortran_order() {
    let a = Array2::from_shape_fn((3, 5), |(i, j)| i as f64 * 10.0 + j as f64 + 0.25);
    let p = tmp("rt.npy");
    npy::write(&p, a.view()).unwrap();
    assert_eq!(
        npy::read::<f64, ndarray::IxDyn>(&p).unwrap(),
        a.clone().into_dyn()
    );
    // The same values stored column-major, as NumPy writes np.asfortranarray(a).
    let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 5), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let h = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    for v in a.t().iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&p, bytes).unwrap();
    assert_eq!(
        npy::read::<f64, ndarray::IxDyn>(&p).unwrap(),
        a.clone().into_dyn()
    );
    // Any rows alone, from either order, as f64 and rounded to f32.
    let f = tmp("rt_c.npy");
    npy::write(&f, a.view()).unwrap();
    for file in [&p, &f] {
        for (r0, r1) in [(0, 3), (1, 2), (2, 3), (1, 1), (0, 0), (3, 3)] {
            let got = npy::read_rows::<f64>(file, r0..r1).unwrap();
            assert_eq!(got, a.slice(ndarray::s![r0..r1, ..]), "rows {r0}..{r1}");
        }
        let low = npy::read_rows::<f32>(file, 1..3).unwrap();
        assert_eq!(low, a.slice(ndarray::s![1..3, ..]).mapv(|v| v as f32));
        let e = npy::read_rows::<f64>(file, 2..4).unwrap_err();
        assert!(
            e.to_string()
                .contains("rows 2..4 asked of a matrix of 3 rows"),
            "{e}"
        );
    }
    // A float32 file read as f64 (exact), and a read of more than one chunk (65 536
    // values) whose error names the value's flat index in the file.
    let f4 = tmp("rt_f4.npy");
    let low = a.mapv(|v| v as f32);
    npy::write(&f4, low.view()).unwrap();
    let got = npy::read_rows::<f64>(&f4, 1..3).unwrap();
    assert_eq!(got, low.slice(ndarray::s![1..3, ..]).mapv(f64::from));
    let mut wide = Array2::<f64>::zeros((3, 30_000));
    wide[[2, 29_999]] = 1e300;
    let big = tmp("rt_big.npy");
    npy::write(&big, wide.view()).unwrap();
    assert_eq!(npy::read_rows::<f64>(&big, 0..3).unwrap(), wide);
    let e = npy::read_rows::<f32>(&big, 0..3).unwrap_err();
    assert!(
        e.to_string().contains("value 1e300 at flat index 89999"),
        "{e}"
    );
    let e = npy::read_rows::<f32>(&big, 2..3).unwrap_err();
    assert!(e.to_string().contains("at flat index 89999"), "{e}");
    let v = tmp("rt_v.npy");
    npy::write(&v, a.row(0)).unwrap();
    let e = npy::read_rows::<f64>(&v, 0..1).unwrap_err();
    assert!(
        e.to_string().contains("rank 1 (shape [5]) where rank 2"),
        "{e}"
    );
}
