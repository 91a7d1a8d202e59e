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
use ndarray::{Array, Array2, ArrayView, Dimension, IxDyn, ShapeBuilder};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// The longest header NumPy reads (its `max_header_size` default, without
/// `allow_pickle`); longer ones are refused here too, and never written.
const MAX_HEADER: usize = 10_000;

/// An `Error::Npy` about `path`, from its reason.
pub(crate) fn bad(path: &Path) -> impl Fn(String) -> Error + Copy + '_ {
    move |reason| Error::Npy {
        path: path.to_path_buf(),
        reason,
    }
}

/// An `Error::Io` about `path`, from its cause.
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + Copy + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

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
    let (file, file_len) = open(path)?;
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

/// Reads the header of an .npy file: what it declares, checked against the file's
/// length, without reading the data (so that shapes can be checked against each other
/// before any data is read).
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let path = path.as_ref();
    let (file, file_len) = open(path)?;
    Ok(header_from(&mut std::io::BufReader::new(file), file_len, path)?.0)
}

/// Opens `path` for reading, with its length; a directory, FIFO or other non-file is an
/// error saying what it is (a FIFO would otherwise block).
pub(crate) fn open(path: &Path) -> Result<(std::fs::File, u64)> {
    let io = io(path);
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(bad(path)(format!(
            "is {}, not a file",
            file_kind(&meta.file_type())
        )));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    Ok((file, meta.len()))
}

/// What a path that is not a regular file is, in words.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The header of an .npy stream of `file_len` bytes, of float values, checked against
/// that length; the stream is left at the first data byte.
fn header_from(file: &mut impl Read, file_len: u64, path: &Path) -> Result<(Header, Stored)> {
    let (header, data_len) = raw_header(file, file_len, path)?;
    // Escaped: the header is the file's text, and an error stays one line.
    let stored = Stored::of(&header.descr).ok_or_else(|| {
        bad(path)(format!(
            "dtype {} where <f8 or <f4 (little-endian float64 or float32) is required",
            header.descr.escape_debug(),
        ))
    })?;
    data_fits(&header, stored.size(), data_len, path)?;
    Ok((header, stored))
}

/// Errors unless the header's shape of `size`-byte values needs exactly `data_len` bytes.
fn data_fits(header: &Header, size: usize, data_len: u64, path: &Path) -> Result<()> {
    let needed = header
        .shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .and_then(|c| c.checked_mul(size as u64));
    if needed == Some(data_len) {
        return Ok(());
    }
    Err(bad(path)(format!(
        "shape {:?} of {} needs {} data bytes, the file holds {data_len}",
        header.shape,
        header.descr.escape_debug(),
        needed.map_or("more than 2^64".to_string(), |c| c.to_string())
    )))
}

/// The header of an .npy stream of `file_len` bytes and the length of its data.
fn raw_header(file: &mut impl Read, file_len: u64, path: &Path) -> Result<(Header, u64)> {
    let bad = bad(path);
    let io = io(path);
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
        _ => {
            return Err(bad(format!(
                "unsupported .npy version {major}.{minor} (1.0, 2.0 or 3.0)"
            )))
        }
    };
    if minor != 0 {
        return Err(bad(format!(
            "unsupported .npy version {major}.{minor} (1.0, 2.0 or 3.0)"
        )));
    }
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "header of {header_len} bytes is longer than the {MAX_HEADER} NumPy reads"
        )));
    }
    if (prefix + header_len) as u64 > file_len {
        return Err(bad(format!(
            "header claims {header_len} bytes but the file holds {file_len}"
        )));
    }
    let mut text = vec![0u8; header_len];
    file.read_exact(&mut text).map_err(io)?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("header is not text".into()))?;
    let header = parse_header_of(text, major < 3).map_err(bad)?;
    Ok((header, file_len - (prefix + header_len) as u64))
}

/// Reads an .npy stream of `file_len` bytes: header first, checked against the length
/// and against `D`, then exactly the data it declares.
pub(crate) fn read_from<T: Real, D: Dimension>(
    mut file: impl Read,
    file_len: u64,
    path: &Path,
) -> Result<Array<T, D>> {
    let bad = bad(path);
    let (header, stored) = header_from(&mut file, file_len, path)?;
    if let Some(rank) = D::NDIM {
        if header.shape.len() != rank {
            return Err(bad(format!(
                "rank {} (shape {:?}) where rank {rank} is required",
                header.shape.len(),
                header.shape
            )));
        }
    }
    let count: usize = header.shape.iter().product();
    let mut data: Vec<T> = crate::memory::try_vec(
        || format!("{} values of {}", count, path.display()),
        count,
        (count as u64).checked_mul(std::mem::size_of::<T>() as u64),
    )?;
    read_values(&mut file, stored, &mut data, 0, path)?;
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

/// Values a read decodes at a time: the file is never held twice.
const CHUNK: usize = 1 << 16;

/// Reads `out.len()` values from `file` into `out`, [`CHUNK`] at a time; `at` is the
/// first one's flat index in the file, for errors.
fn read_values<T: Real>(
    file: &mut impl Read,
    stored: Stored,
    out: &mut [T],
    at: usize,
    path: &Path,
) -> Result<()> {
    let mut chunk = vec![0u8; out.len().min(CHUNK) * stored.size()];
    for (c, part) in out.chunks_mut(CHUNK).enumerate() {
        let bytes = &mut chunk[..part.len() * stored.size()];
        file.read_exact(bytes).map_err(io(path))?;
        for (k, (b, o)) in bytes.chunks_exact(stored.size()).zip(part).enumerate() {
            let v = stored.decode(b);
            *o = T::from_f64(v);
            if o.is_infinite() && v.is_finite() {
                return Err(bad(path)(format!(
                    "value {v:e} at flat index {} is beyond {}'s range",
                    at + c * CHUNK + k,
                    T::NAME
                )));
            }
        }
    }
    Ok(())
}

/// Rows `rows` of the matrix in an .npy file (rank 2, either order), read alone: the
/// file's other rows are never read, so a process can hold its share of a matrix
/// larger than its memory. Errors as [`read`], and on rows beyond the matrix.
///
/// ```no_run
/// use fwdrev::npy;
/// use ndarray::Array2;
/// let mine: Array2<f64> = npy::read_rows("W1.npy", 4000..8000)?; // rows 4000 … 7999
/// # Ok::<(), fwdrev::Error>(())
/// ```
pub fn read_rows<T: Real>(
    path: impl AsRef<Path>,
    rows: std::ops::Range<usize>,
) -> Result<Array2<T>> {
    use std::io::{Seek, SeekFrom};
    let path = path.as_ref();
    let (file, file_len) = open(path)?;
    let mut file = std::io::BufReader::new(file);
    let (header, stored) = header_from(&mut file, file_len, path)?;
    let &[m, n] = &header.shape[..] else {
        return Err(bad(path)(format!(
            "rank {} (shape {:?}) where rank 2 is required",
            header.shape.len(),
            header.shape
        )));
    };
    if rows.start > rows.end || rows.end > m {
        return Err(bad(path)(format!(
            "rows {}..{} asked of a matrix of {m} rows",
            rows.start, rows.end
        )));
    }
    let data = file.stream_position().map_err(io(path))?;
    let r = rows.len();
    let count = r * n;
    let mut values: Vec<T> = crate::memory::try_vec(
        || format!("rows {rows:?} of {}", path.display()),
        count,
        (count as u64).checked_mul(std::mem::size_of::<T>() as u64),
    )?;
    let size = stored.size() as u64;
    let seek = |file: &mut std::io::BufReader<std::fs::File>, at: usize| {
        let to = SeekFrom::Start(data + at as u64 * size);
        file.seek(to).map(drop).map_err(io(path))
    };
    if !header.fortran_order {
        // C order: the rows are one run of r·n values.
        seek(&mut file, rows.start * n)?;
        read_values(&mut file, stored, &mut values, rows.start * n, path)?;
        return Array2::from_shape_vec((r, n), values).map_err(|e| bad(path)(e.to_string()));
    }
    // Fortran order: each column holds the rows as one run of r values.
    for j in 0..n {
        let at = j * m + rows.start;
        seek(&mut file, at)?;
        read_values(&mut file, stored, &mut values[j * r..(j + 1) * r], at, path)?;
    }
    let columns =
        Array2::from_shape_vec((r, n).f(), values).map_err(|e| bad(path)(e.to_string()))?;
    Ok(columns.as_standard_layout().into_owned())
}

/// Parses the dict literal of an .npy header as the Python literal it is, accepting
/// exactly what NumPy's reader accepts: the three keys `descr` (a string),
/// `fortran_order` (`True` or `False`) and `shape` (a tuple of non-negative integers),
/// each once, in any order, with Python's spacing and trailing commas; an `L` after a
/// dimension only in version 1.0/2.0 files (`legacy`), which Python 2 wrote. Anything
/// else (unknown or repeated keys, other literals, malformed tuples, text after the
/// dict) is an error saying what and where.
pub fn parse_header(text: &str) -> std::result::Result<Header, String> {
    parse_header_of(text, true)
}

fn parse_header_of(text: &str, legacy: bool) -> std::result::Result<Header, String> {
    let mut p = Literal {
        s: text.as_bytes(),
        at: 0,
        legacy,
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    p.expect(b'{')?;
    while !p.eat(b'}') {
        let key = p.string()?;
        p.expect(b':')?;
        let repeated = match key.as_str() {
            "descr" => descr.replace(p.string()?).is_some(),
            "fortran_order" => fortran_order.replace(p.boolean()?).is_some(),
            "shape" => shape.replace(p.tuple()?).is_some(),
            other => return Err(format!("header has an unknown key {:?}", other)),
        };
        if repeated {
            return Err(format!("header has the key '{key}' twice"));
        }
        if !p.eat(b',') {
            if !p.eat(b'}') {
                return Err(p.unexpected("',' or '}'"));
            }
            break;
        }
    }
    p.skip_space();
    if p.at < p.s.len() {
        return Err(format!("header has text after its dict at byte {}", p.at));
    }
    let missing = |k: &str| format!("header has no '{k}'");
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// A cursor over the header's text, one method per Python literal it may hold.
struct Literal<'a> {
    s: &'a [u8],
    at: usize,
    legacy: bool,
}

impl Literal<'_> {
    fn skip_space(&mut self) {
        while self
            .s
            .get(self.at)
            .is_some_and(|c| b" \t\n\r\x0c".contains(c))
        {
            self.at += 1;
        }
    }

    /// Skips spaces, then takes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        let next = self.s.get(self.at) == Some(&c);
        self.at += next as usize;
        next
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        match self.eat(c) {
            true => Ok(()),
            false => Err(self.unexpected(&format!("'{}'", c as char))),
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.s.get(self.at) {
            Some(&c) => format!(
                "header has {:?} at byte {} where {wanted} belongs",
                c as char, self.at
            ),
            None => format!("header ends where {wanted} belongs"),
        }
    }

    /// A quoted string without escapes (NumPy writes none in these three values).
    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_space();
        let quote = match self.s.get(self.at) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(self.unexpected("a quoted string")),
        };
        let start = self.at + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote || c == b'\\' || c == b'\n')
            .filter(|&n| self.s[start + n] == quote)
            .ok_or_else(|| {
                format!("header has an unterminated or escaped string at byte {start}")
            })?;
        self.at = start + len + 1;
        String::from_utf8(self.s[start..start + len].to_vec())
            .map_err(|_| "header string is not UTF-8".to_string())
    }

    fn word(&mut self) -> &[u8] {
        self.skip_space();
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.at += 1;
        }
        &self.s[start..self.at]
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        let at = self.at;
        match self.word() {
            b"True" => Ok(true),
            b"False" => Ok(false),
            _ => {
                self.at = at;
                self.skip_space();
                Err(self.unexpected("True or False"))
            }
        }
    }

    /// `()`, `(d,)`, `(d0, d1)`, `(d0, d1,)`: decimal integers, no leading zeros.
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims); // () or a trailing comma
            }
            let at = self.at;
            let word = self.word().to_vec();
            let digits = match (self.legacy, word.strip_suffix(b"L")) {
                (true, Some(d)) => d,
                _ => &word[..],
            };
            let ok = !digits.is_empty()
                && digits.iter().all(u8::is_ascii_digit)
                && (digits == b"0" || digits[0] != b'0');
            let dim = std::str::from_utf8(digits)
                .ok()
                .filter(|_| ok)
                .and_then(|d| d.parse::<usize>().ok());
            match dim {
                Some(d) => dims.push(d),
                None if ok => {
                    return Err(format!(
                        "header 'shape' has a dimension beyond {}",
                        usize::MAX
                    ))
                }
                None => {
                    self.at = at;
                    self.skip_space();
                    return Err(self.unexpected("a dimension (a non-negative integer)"));
                }
            }
            if !self.eat(b',') {
                self.expect(b')')?;
                return match dims.len() {
                    1 => Err("header 'shape' is (d), an integer: a 1-tuple is (d,)".into()),
                    _ => Ok(dims),
                };
            }
        }
    }
}

/// Writes `a` as a version 1.0 .npy file in C order, dtype `<f8` or `<f4` by `T`.
///
/// Atomically: the bytes go to a temporary file in the same folder, which is synced and
/// then renamed over `path`; a failed or interrupted write leaves no partial file, and
/// an existing file is only ever replaced by a complete one. Errors name `path`.
pub fn write<T: Real, D: Dimension>(path: impl AsRef<Path>, a: ArrayView<T, D>) -> Result<()> {
    let path = path.as_ref();
    let header = header_text(T::NPY_DESCR, a.shape()).map_err(bad(path))?;
    atomically(path, |out| write_to(out, &header, a.view()))
}

/// The padded header of an array of `descr` and `shape`, or why it cannot be written.
pub(crate) fn header_text(descr: &str, shape: &[usize]) -> std::result::Result<String, String> {
    let dims = match shape {
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
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad so that magic + version + length + header + '\n' is a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    if header.len() > MAX_HEADER {
        return Err(format!(
            "rank {}: a header of {} bytes, longer than the {MAX_HEADER} NumPy reads",
            shape.len(),
            header.len()
        ));
    }
    Ok(header)
}

/// The bytes before a version 1.0 file's data: magic, version, length and `header`
/// (from [`header_text`]).
pub(crate) fn preamble(header: &str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend([1, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// The .npy bytes of `a` under `header` (from [`header_text`]), to any stream.
pub(crate) fn write_to<T: Real, D: Dimension>(
    out: &mut impl Write,
    header: &str,
    a: ArrayView<T, D>,
) -> std::io::Result<()> {
    out.write_all(&preamble(header))?;
    let mut bytes = Vec::with_capacity(8);
    for &v in a.iter() {
        bytes.clear();
        v.write_le_bytes(&mut bytes);
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// The longest string [`strings_from`] reads, in characters.
const MAX_STRING: usize = 64;
/// The most strings [`strings_from`] reads: at most 1 MiB of them.
const MAX_STRINGS: usize = 4096;

/// The .npy bytes of `items` as a 1-d NumPy str array (`<U{n}`: UTF-32LE, n the
/// longest, padded with NULs), as `numpy.array(["tanh", "sigmoid"])` is stored.
pub(crate) fn strings_bytes(items: &[&str]) -> Vec<u8> {
    let width = items
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let header = header_text(&format!("<U{width}"), &[items.len()]).expect("a 1-d header is short");
    let mut out = preamble(&header);
    for s in items {
        let pad = std::iter::repeat_n(0, width - s.chars().count());
        for c in s.chars().map(u32::from).chain(pad) {
            out.extend(c.to_le_bytes());
        }
    }
    out
}

/// Reads a 0-d or 1-d NumPy str array (`<U{n}`, at most 64 characters and 4096 items)
/// from an .npy stream of `len` bytes; trailing NULs end each string.
pub(crate) fn strings_from(mut file: impl Read, len: u64, name: &Path) -> Result<Vec<String>> {
    let bad = bad(name);
    let (header, data_len) = raw_header(&mut file, len, name)?;
    let width = header
        .descr
        .strip_prefix("<U")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| (1..=MAX_STRING).contains(&n))
        .ok_or_else(|| {
            bad(format!(
                "dtype {} where <U1 … <U{MAX_STRING} (NumPy str) is required",
                header.descr.escape_debug()
            ))
        })?;
    if header.shape.len() > 1 || header.shape.first().is_some_and(|&n| n > MAX_STRINGS) {
        return Err(bad(format!(
            "shape {:?} where a 0-d or 1-d array of at most {MAX_STRINGS} strings is required",
            header.shape
        )));
    }
    data_fits(&header, 4 * width, data_len, name)?;
    let count = header.shape.first().copied().unwrap_or(1);
    let mut bytes = vec![0u8; count * width * 4];
    file.read_exact(&mut bytes).map_err(io(name))?;
    bytes
        .chunks_exact(width * 4)
        .map(|item| {
            item.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .take_while(|&c| c != 0)
                .map(|c| char::from_u32(c).ok_or_else(|| bad(format!("{c:#x} is not a character"))))
                .collect()
        })
        .collect()
}

/// Runs `fill` on a buffered temporary file beside `path`, then syncs it and renames it
/// to `path`; on any error the temporary file is removed and the error names `path`.
/// A symbolic link is followed (its target is replaced, the link kept); an existing
/// file keeps its permissions; a target that is not a regular file (`/dev/null`, a
/// FIFO, a terminal) is a stream, written through directly.
pub(crate) fn atomically(
    path: &Path,
    fill: impl Fn(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let write_to = |file: &std::fs::File| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut out)?;
        out.flush()
    };
    match Target::open(path)? {
        Target::Stream(file) => write_to(&file),
        Target::Regular(beside) => {
            let written = write_to(&beside.file);
            beside.finish(written)
        }
    }
    .map_err(io(path))
}

/// Where a file is written: a temporary file beside a regular (or new) one, or a
/// stream written through.
pub(crate) enum Target {
    Regular(Box<Beside>),
    Stream(std::fs::File),
}

/// A new temporary file in the folder of the file it will replace.
pub(crate) struct Beside {
    pub(crate) file: std::fs::File,
    /// The temporary file's path.
    pub(crate) temp: std::path::PathBuf,
    /// The file the name finally stands for (a link followed).
    target: std::path::PathBuf,
    existing: Option<std::fs::Metadata>,
}

impl Target {
    /// Opens where `path` is written (errors name it): a temporary file beside it with a
    /// name no other run uses (the process id and the clock, retried if one exists), or
    /// the stream `path` is if it is not a regular file; a folder is refused.
    pub(crate) fn open(path: &Path) -> Result<Target> {
        let io = io(path);
        // Absolute where the folder exists (a new file's too): the temporary file's path
        // may be handed to other processes, MPI ranks, that run elsewhere.
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            let folder = std::fs::canonicalize(folder.unwrap_or(Path::new(".")));
            match (folder, path.file_name()) {
                (Ok(folder), Some(name)) => folder.join(name),
                _ => path.to_path_buf(),
            }
        });
        let existing = std::fs::metadata(&target).ok();
        if let Some(meta) = existing.as_ref().filter(|m| !m.is_file()) {
            if meta.is_dir() {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "is a directory",
                )));
            }
            let file = std::fs::OpenOptions::new().write(true).open(&target);
            return file.map(Target::Stream).map_err(io);
        }
        let name = target.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        let (file, temp) = (0..16)
            .find_map(|attempt| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let mut temp_name = std::ffi::OsString::from(".");
                temp_name.push(name);
                temp_name.push(format!(".{}-{nanos}-{attempt}.tmp", std::process::id()));
                let temp = target.with_file_name(temp_name);
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&temp)
                {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                    opened => Some(opened.map(|f| (f, temp))),
                }
            })
            .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into()))
            .map_err(io)?;
        Ok(Target::Regular(Box::new(Beside {
            file,
            temp,
            target,
            existing,
        })))
    }
}

impl Beside {
    /// Where `written` is Ok: gives the file the replaced one's permissions, syncs it
    /// and renames it over the target. Where that or any of these failed, the temporary
    /// file is removed instead, and the target left as it was.
    pub(crate) fn finish(self, written: std::io::Result<()>) -> std::io::Result<()> {
        let done = written.and_then(|()| {
            if let Some(meta) = &self.existing {
                self.file.set_permissions(meta.permissions())?;
            }
            self.file.sync_all()?;
            std::fs::rename(&self.temp, &self.target)
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        done
    }
}
