//! Fuzzing, proptest-driven, of the two doors where outside data comes in: the .npy
//! reader and the network constructors. Every input must give a value or a typed
//! error: no panic, no abort, no allocation beyond what the bytes hold.
//!
//! `FWDREV_FUZZ_CASES` sets the cases per target (default 2000, the CI smoke pass);
//! `FWDREV_FUZZ_CASES=1000000 cargo test --release --test fuzz` is the long run whose
//! figures the README reports. Inputs that once failed live in tests/data/fuzz/ and run
//! first, every time.

mod common;

use fwdrev::{npy, Activation, Error, Mlp, Mode};
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("FWDREV_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

/// A valid f64 .npy of the given shape, as NumPy writes it.
fn valid(shape: &[usize], fortran: bool) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': {}, 'shape': {tuple}, }}",
        if fortran { "True" } else { "False" }
    );
    let unpadded = 6 + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for i in 0..n {
        out.extend_from_slice(&(i as f64).to_le_bytes());
    }
    out
}

/// The reader's contract on one input: a typed .npy error, or an array whose size the
/// bytes really held.
fn check_npy(bytes: &[u8]) {
    match npy::from_bytes::<f64, ndarray::IxDyn>(bytes, "fuzz.npy") {
        Ok(a) => assert!(
            a.len() * 8 <= bytes.len(),
            "{} values from {} bytes",
            a.len(),
            bytes.len()
        ),
        Err(Error::Npy { reason, .. }) => {
            assert!(
                !reason.is_empty() && !reason.contains('\n'),
                "{reason:?} from {bytes:?}"
            )
        }
        Err(e) => panic!("not an .npy error: {e}"),
    }
}

/// Edits of a valid file: flipped bytes, a truncation, appended bytes, a header field
/// replaced by another value (huge, negative, wrong type, wrong order).
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let shape = prop::collection::vec(0usize..5, 0..4);
    let fields = prop::sample::select(vec![
        ("'<f8'", "'>f8'"),
        ("'<f8'", "'<f4'"),
        ("'<f8'", "'|u1'"),
        ("'<f8'", "<f8"),
        ("False", "True"),
        ("False", "0"),
        ("'shape': (", "'shape': (10000000000, 10000000000, "),
        ("'shape': (", "'shape': (18446744073709551615, "),
        ("'shape': (", "'shape': (-1, "),
        ("'shape': (", "'shape': [1, "),
        ("'shape'", "'shap'"),
        ("{", ""),
        ("}", ""),
        ("\x01\x00", "\x02\x00"),
        ("\x01\x00", "\x09\x00"),
    ]);
    (
        shape,
        any::<bool>(),
        fields,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(shape, fortran, (from, to), flips, cut, extra)| {
            let mut b = valid(&shape, fortran);
            if let Some(at) = find(&b, from.as_bytes()) {
                b.splice(at..at + from.len(), to.bytes());
            }
            for (i, v) in flips {
                let i = i.index(b.len());
                b[i] = v;
            }
            if let Some(c) = cut {
                b.truncate(c.index(b.len() + 1));
            }
            b.extend(extra);
            b
        })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn the_npy_reader_survives_random_and_mutated_files() {
    // Regressions first: every input that ever failed, one file each.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "npy") {
            check_npy(&std::fs::read(entry.path()).unwrap());
        }
    }
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..300), |b| {
            check_npy(&b);
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config);
    runner
        .run(&mutated(), |b| {
            check_npy(&b);
            Ok(())
        })
        .unwrap();
}

/// The tokens of NumPy's header and its near misses, for the grammar target.
const TOKENS: &[&str] = &[
    "{",
    "}",
    ":",
    ",",
    "(",
    ")",
    " ",
    "'descr'",
    "'fortran_order'",
    "'shape'",
    "\"shape\"",
    "'<f8'",
    "'<f4'",
    "'x'",
    "True",
    "False",
    "true",
    "0",
    "3",
    "3L",
    "03",
    "-1",
    "1.0",
    "'",
    "\\",
    "'shape': (9,)",
];

/// Token sequences near NumPy's header: the valid one with tokens deleted, repeated,
/// inserted or swapped.
fn header_tokens() -> impl Strategy<Value = Vec<&'static str>> {
    let valid = vec![
        "{",
        "'descr'",
        ":",
        " ",
        "'<f8'",
        ",",
        " ",
        "'fortran_order'",
        ":",
        " ",
        "False",
        ",",
        " ",
        "'shape'",
        ":",
        " ",
        "(",
        "3",
        ",",
        " ",
        "3",
        ")",
        ",",
        " ",
        "}",
    ];
    let edit = (
        0usize..4,
        any::<prop::sample::Index>(),
        prop::sample::select(TOKENS),
    );
    prop::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut t = valid.clone();
        for (kind, at, token) in edits {
            let i = at.index(t.len());
            match kind {
                0 => drop(t.remove(i)),
                1 => t.insert(i, t[i]),
                2 => t.insert(i, token),
                _ => t[i] = token,
            }
            if t.is_empty() {
                t.push(token);
            }
        }
        t
    })
}

#[test]
fn the_header_grammar_survives_token_mutations() {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&header_tokens(), |tokens| {
            let text = tokens.concat();
            if let Ok(h) = npy::parse_header(&text) {
                // What is accepted means one thing: written back as NumPy would, it
                // reads as the same header.
                let dims: Vec<String> = h.shape.iter().map(|d| format!("{d},")).collect();
                let canonical = format!(
                    "{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}",
                    h.descr,
                    if h.fortran_order { "True" } else { "False" },
                    dims.concat()
                );
                prop_assert_eq!(npy::parse_header(&canonical), Ok(h.clone()), "{}", text);
                let digits = |d: &usize| d.to_string().bytes().all(|c| c == b'0' || c == b'3');
                prop_assert!(h.shape.iter().all(digits), "{}", text);
            }
            // And inside a file, the reader's contract holds.
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(text.len() as u16).to_le_bytes());
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(&[0; 72]);
            check_npy(&b);
            Ok(())
        })
        .unwrap();
}

/// Values the constructors meet: ordinary, huge, tiny, zero, NaN, ±inf.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -3.0..3.0f64,
        1 => prop::sample::select(vec![
            0.0, -0.0, 1e308, -1e308, 5e-324, f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
        ]),
    ]
}

#[test]
fn the_constructors_and_a_gradient_survive_arbitrary_layers() {
    let layer = (0usize..5, 0usize..5, any::<u8>());
    let strategy = (
        prop::collection::vec(layer, 0..4),
        prop::collection::vec(value(), 64),
        prop::collection::vec(value(), 8),
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shapes, pool, xs)| {
            let mut k = 0;
            let mut take = |r: usize, c: usize| {
                Array2::from_shape_fn((r, c), |_| {
                    k += 1;
                    pool[k % pool.len()]
                })
            };
            let layers: Vec<(Array2<f64>, Activation)> = shapes
                .iter()
                .map(|&(r, c, a)| (take(r, c), Activation::ALL[a as usize % 5]))
                .collect();
            let two = layers.len() == 2;
            let (a, b) = match two {
                true => (layers[0].0.clone(), layers[1].0.clone()),
                false => (Array2::zeros((0, 0)), Array2::zeros((0, 0))),
            };
            match Mlp::new(layers) {
                Err(e) => prop_assert!(!e.to_string().is_empty()),
                Ok(net) => {
                    let d0 = net.widths()[0];
                    let x = Array1::from_shape_fn(d0, |i| xs[i % xs.len()]);
                    // x may hold NaN or ±inf: an error naming it; else a result,
                    // never NaN (entries of ±1e308 included).
                    match net.value_and_grad(x.view(), Mode::Reverse) {
                        Ok((f, g)) => {
                            prop_assert_eq!(g.len(), d0);
                            prop_assert!(!f.is_nan() && !g.iter().any(|v| v.is_nan()), "NaN");
                        }
                        Err(e) => {
                            prop_assert!(matches!(e, Error::NonFinite { what: "x", .. }), "{}", e)
                        }
                    }
                }
            }
            if two {
                if let Err(e) = common::sigmoid2(a, b) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
}
