//! Reading and writing NumPy .npy files of f32/f64, validated before any large allocation.
//!
//! Format (NumPy's `format.py`): magic `\x93NUMPY`, version (1.0: u16 header length;
//! 2.0/3.0: u32), then a Python dict literal `{'descr': '<f8', 'fortran_order': False,
//! 'shape': (d0, d1), }` padded with spaces to a multiple of 64 bytes, then the raw data.
//! The reader checks the header against the file's length before it allocates, so a
//! header that claims more than the file holds is an error, not an allocation; it reads
//! the data straight into the array, never holding the file twice.
//!
//! Types: `<f8` and `<f4` files read as either f64 or f32. f4 → f64 is exact; f8 → f32
//! rounds to nearest (ties to even), and a value beyond f32's range is an error naming
//! its index rather than an infinity.
//!
//! ```no_run
//! use fwdrev::npy;
//! use ndarray::{Array1, Array2};
//! let a: Array2<f64> = npy::read("A.npy")?;  // the rank is checked: 2
//! let x: Array1<f32> = npy::read("x.npy")?;  // an f8 file, rounded to f32
//! npy::write("x32.npy", x.view())?;
//! # Ok::<(), fwdrev::Error>(())
//! ```

use crate::{Error, Real, Result};
use ndarray::{Array, ArrayView, Dimension, IxDyn, ShapeBuilder};
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

/// Reads an .npy file of `<f8` or `<f4` values as an array of `T` with the dimension
/// `D` (`Ix1`, `Ix2`, …, or `IxDyn` for any rank), converting as the module says.
pub fn read<T: Real, D: Dimension>(path: impl AsRef<Path>) -> Result<Array<T, D>> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    read_from(std::io::BufReader::new(file), file_len, path)
}

/// Parses .npy bytes held in memory (errors name `name` as the file).
pub fn from_bytes<T: Real, D: Dimension>(
    bytes: &[u8],
    name: impl AsRef<Path>,
) -> Result<Array<T, D>> {
    read_from(bytes, bytes.len() as u64, name.as_ref())
}

/// The value types a file may hold.
#[derive(Clone, Copy)]
enum Stored {
    F8,
    F4,
}

impl Stored {
    fn of(descr: &str) -> Option<Stored> {
        match descr {
            "<f8" => Some(Stored::F8),
            "<f4" => Some(Stored::F4),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Stored::F8 => 8,
            Stored::F4 => 4,
        }
    }

    /// One little-endian value, as f64 (exact for both).
    fn decode(self, b: &[u8]) -> f64 {
        match self {
            Stored::F8 => f64::from_le_bytes(b.try_into().expect("8 bytes")),
            Stored::F4 => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
        }
    }
}

/// Reads an .npy stream of `file_len` bytes: header first, checked against the length
/// and against `D`, then exactly the data it declares.
fn read_from<T: Real, D: Dimension>(
    mut file: impl Read,
    file_len: u64,
    path: &Path,
) -> Result<Array<T, D>> {
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

    // Escaped: the header is the file's text, and an error stays one line.
    let stored = Stored::of(&header.descr).ok_or_else(|| {
        bad(format!(
            "dtype {} where <f8 or <f4 (little-endian float64 or float32) is required",
            header.descr.escape_debug(),
        ))
    })?;
    if let Some(rank) = D::NDIM {
        if header.shape.len() != rank {
            return Err(bad(format!(
                "rank {} (shape {:?}) where rank {rank} is required",
                header.shape.len(),
                header.shape
            )));
        }
    }
    let size = stored.size() as u64;
    let count = header
        .shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    let data_len = file_len - (prefix + header_len) as u64;
    if count.and_then(|c| c.checked_mul(size)) != Some(data_len) {
        return Err(bad(format!(
            "shape {:?} of {} needs {} data bytes, the file holds {data_len}",
            header.shape,
            header.descr.escape_debug(),
            count
                .and_then(|c| c.checked_mul(size))
                .map_or("more than 2^64".to_string(), |c| c.to_string())
        )));
    }
    let count = count.expect("checked above") as usize;
    let mut data: Vec<T> = crate::memory::try_vec(
        || format!("{} values of {}", count, path.display()),
        count,
        Some(count as u64 * std::mem::size_of::<T>() as u64),
    )?;
    // In chunks straight into the array: the file is never held twice.
    let mut chunk = vec![0u8; (64 << 10) * stored.size()];
    let mut at = 0;
    while at < count {
        let n = (count - at).min(chunk.len() / stored.size());
        let bytes = &mut chunk[..n * stored.size()];
        file.read_exact(bytes).map_err(io)?;
        for (k, b) in bytes.chunks_exact(stored.size()).enumerate() {
            let v = stored.decode(b);
            let t = T::from_f64(v);
            if t.is_infinite() && v.is_finite() {
                return Err(bad(format!(
                    "value {v:e} at flat index {} is beyond {}'s range",
                    at + k,
                    T::NAME
                )));
            }
            data[at + k] = t;
        }
        at += n;
    }
    let shape = IxDyn(&header.shape);
    let array = if header.fortran_order {
        Array::from_shape_vec(shape.f(), data)
    } else {
        Array::from_shape_vec(shape, data)
    }
    .map_err(|e| bad(e.to_string()))?;
    let array = if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned()
    };
    array
        .into_dimensionality::<D>()
        .map_err(|e| bad(e.to_string()))
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

/// Writes `a` as a version 1.0 .npy file in C order, dtype `<f8` or `<f4` by `T`.
pub fn write<T: Real, D: Dimension>(path: impl AsRef<Path>, a: ArrayView<T, D>) -> Result<()> {
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
