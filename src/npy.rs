//! Reading and writing NumPy .npy files of f32/f64, validated before any large allocation.
//!
//! Format (NumPy's `format.py`): magic `\x93NUMPY`, version (1.0: u16 header length;
//! 2.0/3.0: u32), then a Python dict literal `{'descr': '<f8', 'fortran_order': False,
//! 'shape': (d0, d1), }` padded with spaces to a multiple of 64 bytes, then the raw data.
//! The reader checks the header against the file's length before it allocates, so a
//! header that claims more than the file holds is an error, not an allocation.

use crate::{Error, Real, Result};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use std::io::Read;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// Headers longer than this are not written by NumPy for arrays of a few dimensions.
const MAX_HEADER: usize = 1 << 16;

/// What an .npy header declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// dtype string, e.g. `<f8`.
    pub descr: String,
    /// True if the data are stored column-major.
    pub fortran_order: bool,
    /// The shape; empty for a 0-d array.
    pub shape: Vec<usize>,
}

/// Reads an .npy file of dtype `T` (`<f8` for f64, `<f4` for f32) of any rank.
pub fn read<T: Real>(path: impl AsRef<Path>) -> Result<ArrayD<T>> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    read_from(file, file_len, path)
}

/// Parses .npy bytes held in memory (errors name `name` as the file).
pub fn from_bytes<T: Real>(bytes: &[u8], name: impl AsRef<Path>) -> Result<ArrayD<T>> {
    read_from(bytes, bytes.len() as u64, name.as_ref())
}

/// Reads an .npy stream of `file_len` bytes: header first, checked against the length,
/// then exactly the data it declares.
fn read_from<T: Real>(mut file: impl Read, file_len: u64, path: &Path) -> Result<ArrayD<T>> {
    let bad = |reason: String| Error::Npy {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut pre = [0u8; 10];
    file.read_exact(&mut pre)
        .map_err(|_| bad(format!("{file_len} bytes is too short for an .npy header")))?;
    if &pre[..6] != MAGIC {
        return Err(bad("not an .npy file (no \\x93NUMPY magic)".into()));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (header_len, prefix) = match major {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        2 | 3 => {
            let mut more = [0u8; 2];
            file.read_exact(&mut more)
                .map_err(|_| bad("truncated .npy header".into()))?;
            (
                u32::from_le_bytes([pre[8], pre[9], more[0], more[1]]) as usize,
                12,
            )
        }
        _ => return Err(bad(format!("unsupported .npy version {major}.{minor}"))),
    };
    if header_len > MAX_HEADER || (prefix + header_len) as u64 > file_len {
        return Err(bad(format!(
            "header claims {header_len} bytes but the file holds {file_len}"
        )));
    }
    let mut text = vec![0u8; header_len];
    file.read_exact(&mut text).map_err(io)?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("header is not text".into()))?;
    let header = parse_header(text).map_err(bad)?;

    if header.descr != T::NPY_DESCR {
        // Escaped: the header is the file's text, and an error stays one line.
        return Err(bad(format!(
            "dtype {} where {} ({}) is required",
            header.descr.escape_debug(),
            T::NPY_DESCR,
            T::NAME
        )));
    }
    let size = std::mem::size_of::<T>() as u64;
    let count = header
        .shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .and_then(|n| n.checked_mul(size));
    let data_len = file_len - (prefix + header_len) as u64;
    if count != Some(data_len) {
        return Err(bad(format!(
            "shape {:?} of {} needs {} data bytes, the file holds {data_len}",
            header.shape,
            header.descr.escape_debug(),
            count.map_or("more than 2^64".to_string(), |c| c.to_string())
        )));
    }
    let mut bytes = vec![0u8; data_len as usize];
    file.read_exact(&mut bytes).map_err(io)?;
    let data: Vec<T> = bytes
        .chunks_exact(size as usize)
        .map(T::from_le_bytes)
        .collect();
    let shape = IxDyn(&header.shape);
    let array = if header.fortran_order {
        ArrayD::from_shape_vec(shape.f(), data)
    } else {
        ArrayD::from_shape_vec(shape, data)
    }
    .map_err(|e| bad(e.to_string()))?;
    Ok(array.as_standard_layout().into_owned())
}

/// Reads an .npy file and checks that it has `rank` dimensions.
pub fn read_rank<T: Real>(path: impl AsRef<Path>, rank: usize) -> Result<ArrayD<T>> {
    let path = path.as_ref();
    let a = read::<T>(path)?;
    if a.ndim() != rank {
        return Err(Error::Npy {
            path: path.to_path_buf(),
            reason: format!(
                "rank {} (shape {:?}) where rank {rank} is required",
                a.ndim(),
                a.shape()
            ),
        });
    }
    Ok(a)
}

/// Parses the dict literal of an .npy header; the error says what is wrong with it.
pub fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let t = text.trim_end_matches(['\n', ' ', '\0']).trim();
    let body = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("header is not a dict: {t:?}"))?;
    let value_of = |key: &str| -> std::result::Result<&str, String> {
        let k = format!("'{key}':");
        let at = body
            .find(&k)
            .ok_or_else(|| format!("header has no '{key}'"))?;
        Ok(body[at + k.len()..].trim_start())
    };
    let descr = value_of("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|s| s.split_once('\''))
        .map(|(d, _)| d.to_string())
        .ok_or_else(|| "header 'descr' is not a string".to_string())?;
    let fo = value_of("fortran_order")?;
    let fortran_order = if fo.starts_with("True") {
        true
    } else if fo.starts_with("False") {
        false
    } else {
        return Err("header 'fortran_order' is neither True nor False".into());
    };
    let shape = value_of("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .ok_or_else(|| "header 'shape' is not a tuple".to_string())?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("header 'shape' has a bad dimension {s:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

/// Writes `a` as a version 1.0 .npy file in C order.
pub fn write<T: Real>(path: impl AsRef<Path>, a: ArrayViewD<T>) -> Result<()> {
    let path = path.as_ref();
    let shape = match a.shape() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        T::NPY_DESCR
    );
    // Pad so that magic + version + length + header + '\n' is a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + a.len() * std::mem::size_of::<T>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in a.iter() {
        v.write_le_bytes(&mut out);
    }
    std::fs::write(path, out).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
