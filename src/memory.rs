//! Memory accounting: requests that cannot fit are refused before they allocate.

use crate::{Error, Real, Result};

/// Bytes the operating system says can still be allocated (`MemAvailable` on Linux),
/// or `None` where that cannot be read.
pub(crate) fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Bytes of `count` values of `size` bytes each, `None` on overflow.
pub(crate) fn bytes_of(count: &[usize], size: usize) -> Option<u64> {
    count
        .iter()
        .try_fold(size as u64, |n, &c| n.checked_mul(c as u64))
}

/// Requests below this are not checked: reading /proc/meminfo costs ~5 µs, the whole
/// Jacobian of a small network.
const UNCHECKED: u64 = 16 << 20;

/// Errors unless `bytes` (None: overflowed u64) fit in the machine's available memory
/// (requests under 16 MiB pass unchecked).
pub(crate) fn ensure_fits(what: impl FnOnce() -> String, bytes: Option<u64>) -> Result<()> {
    if bytes.is_some_and(|b| b < UNCHECKED) {
        return Ok(());
    }
    let available = available_bytes().unwrap_or(u64::MAX);
    match bytes {
        Some(b) if b <= available => Ok(()),
        _ => Err(Error::TooLarge {
            what: what(),
            needed: bytes.unwrap_or(u64::MAX),
            available,
        }),
    }
}

/// `n` zeros, refused before allocating (as [`ensure_fits`]) or when the allocator says
/// no: [`Error::TooLarge`] naming `what`, never an abort. The zeros come from the
/// allocator's zeroed pages (calloc), as `vec![0.0; n]`'s do: a large result is not
/// written twice.
pub(crate) fn try_vec<T: Real>(
    what: impl FnOnce() -> String,
    n: usize,
    bytes: Option<u64>,
) -> Result<Vec<T>> {
    let what = std::cell::Cell::new(Some(what));
    let name = || what.take().map_or_else(String::new, |f| f());
    ensure_fits(name, bytes)?;
    let refused = || Error::TooLarge {
        what: name(),
        needed: bytes.unwrap_or(u64::MAX),
        available: available_bytes().unwrap_or(0),
    };
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| refused())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: a non-zero layout; all-zero bits are 0.0 in f32 and f64, so the n values
    // are initialised, and the Vec owns the block with the layout it was made with.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            return Err(refused());
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}
