//! The .npy header is the Python dict literal NumPy writes; the reader accepts what
//! NumPy's reader accepts and rejects the rest with a message, before reading any data.

mod common;

use fwdrev::npy::{self, Header};
use fwdrev::Error;

fn header(descr: &str, fortran_order: bool, shape: &[usize]) -> Header {
    Header {
        descr: descr.into(),
        fortran_order,
        shape: shape.to_vec(),
    }
}

#[test]
fn what_numpy_writes_and_reads_is_accepted() {
    let cases = [
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
            header("<f8", false, &[3, 4]),
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }   \n",
            header("<f8", false, &[3]),
        ),
        (
            "{'descr': '<f4', 'fortran_order': True, 'shape': (), }",
            header("<f4", true, &[]),
        ),
        (
            "{\"shape\": (2, 0, 5), \"descr\": \"<f8\", \"fortran_order\": False}",
            header("<f8", false, &[2, 0, 5]),
        ),
        (
            "{'descr':'<f8','fortran_order':False,'shape':(7 , 1 ,)}",
            header("<f8", false, &[7, 1]),
        ),
        // Python 2 wrote longs; NumPy still reads them from version 1.0/2.0 files.
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L), }",
            header("<f8", false, &[3, 4]),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(npy::parse_header(text), Ok(want), "{text}");
    }
}

#[test]
fn what_numpy_would_not_accept_is_rejected_with_a_reason() {
    let cases = [
        (
            "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
            "twice",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
            "unknown key",
        ),
        ("{'descr': '<f8', 'fortran_order': False}", "no 'shape'"),
        // Decoy text inside a string is not a key.
        (
            "{'descr': \"'shape': (9,)\", 'fortran_order': False, 'x': (3,)}",
            "unknown key",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4}",
            "')'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,,)}",
            "dimension",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3)}",
            "1-tuple",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}",
            "dimension",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (03,)}",
            "dimension",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}",
            "'.'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': false, 'shape': (3,)}",
            "True or False",
        ),
        (
            "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3,)}",
            "True or False",
        ),
        (
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}",
            "True or False",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} trailing",
            "after its dict",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)",
            "ends",
        ),
        (
            "{'descr': '<f8\\', 'fortran_order': False, 'shape': (3,)}",
            "string",
        ),
        (
            "{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}",
            "','",
        ),
        (
            "{'shape': (99999999999999999999999,), 'descr': '<f8', 'fortran_order': False}",
            "beyond",
        ),
    ];
    for (text, reason) in cases {
        match npy::parse_header(text) {
            Err(e) => assert!(e.contains(reason), "{text}: {e}"),
            Ok(h) => panic!("{text} accepted as {h:?}"),
        }
    }
}

/// A file of the given version bytes and header text, with data for shape (2,).
fn file(version: [u8; 2], text: &str) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&version);
    match version[0] {
        1 => b.extend_from_slice(&(text.len() as u16).to_le_bytes()),
        _ => b.extend_from_slice(&(text.len() as u32).to_le_bytes()),
    }
    b.extend_from_slice(text.as_bytes());
    b.extend_from_slice(&[0; 16]);
    b
}

fn npy_reason(bytes: &[u8]) -> String {
    match npy::from_bytes::<f64, ndarray::Ix1>(bytes, "h.npy") {
        Err(Error::Npy { reason, .. }) => reason,
        other => panic!("not an .npy error: {other:?}"),
    }
}

#[test]
fn versions_are_checked_and_longs_belong_to_the_old_ones() {
    let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
    for v in [[1, 0], [2, 0], [3, 0]] {
        assert!(npy::from_bytes::<f64, ndarray::Ix1>(&file(v, text), "h.npy").is_ok());
    }
    for v in [[1, 1], [0, 0], [4, 0], [3, 9]] {
        assert!(npy_reason(&file(v, text)).contains("version"));
    }
    let long = "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }\n";
    assert!(npy::from_bytes::<f64, ndarray::Ix1>(&file([1, 0], long), "h.npy").is_ok());
    assert!(npy_reason(&file([3, 0], long)).contains("dimension"));
}

#[test]
fn a_header_longer_than_the_reader_allows_says_so() {
    let text = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }}{}\n",
        " ".repeat(70_000)
    );
    assert!(npy_reason(&file([2, 0], &text)).contains("longer than"));
}

#[cfg(unix)]
#[test]
fn a_directory_or_a_fifo_is_named_for_what_it_is() {
    let dir = common::fresh_dir("fwdrev-kind");
    let reason = |p: &std::path::Path| match npy::read::<f64, ndarray::Ix1>(p) {
        Err(Error::Npy { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason(&dir).contains("a directory"));
    let fifo = dir.join("pipe.npy");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Opening a FIFO for reading would block until a writer came: it must not be opened.
    assert!(reason(&fifo).contains("FIFO"));
    assert!(npy::read_header(&fifo).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
