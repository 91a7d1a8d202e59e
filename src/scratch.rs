//! Caller-owned scratch: every temporary of a call carved from one buffer, in faer's
//! style — a size requirement ([`Mlp::scratch_len`]) and the buffer ([`Scratch`]) that
//! the `*_into` calls take. Plain calls keep a pool of them inside the network.
//!
//! A fresh 64 MiB buffer costs 16 384 page faults on first touch, tens of milliseconds;
//! a gradient at d = 100 costs microseconds, so even its few small vectors matter.
//! Given a [`Scratch`] of at least its [`Mlp::scratch_len`], the `*_into` calls made of
//! matrix-vector products (output, value, the reverse gradient, JVP, VJP, HVP, weight
//! gradients) allocate nothing at all under [`Par::Seq`](crate::Par::Seq); those built
//! on GEMMs may allocate inside the BLAS (which packs its operands) and a few small
//! tables; the wide-range path allocates as it goes. A smaller scratch grows to the
//! requirement first (checked against available memory).
//!
//! Every carved buffer starts on a 64-byte line: BLAS kernels round differently by the
//! alignment of their operands (BLIS's small-matrix path does), so buffers placed
//! wherever the allocator left them would give results that depend on the heap.
//!
//! [`Mlp::scratch_len`]: crate::Mlp::scratch_len

use crate::memory::{bytes_of, try_vec};
use crate::{Real, Result};
use ndarray::ArrayViewMut2;

/// Bytes every carved buffer is aligned to: a cache line. The weights' rows start on
/// one too (`memory::copy_on_lines`).
pub(crate) const LINE: usize = 64;

/// Values a carve of `n` values takes: whole lines, so that the next one is aligned.
pub(crate) fn padded<T>(n: usize) -> usize {
    padded_values(n, std::mem::size_of::<T>())
}

/// Units per panel, of `units` in all, whose scratch — `values(width)` values of `size`
/// bytes — fits in `budget` bytes: the fewest panels that fit, each as narrow as that
/// count allows (10 units with room for 4 make three panels, so width ⌈10/3⌉ = 4; room
/// for 3 makes four, width 3). None when one unit does not fit. Every panelled call
/// (forward mode, Jacobians, Hessians) sizes its panels here by its own exact count.
///
/// Counts mostly grow with the width, and a bisection finds a width that fits; but a
/// Jacobian's may shrink where a fold turns (a copy of the panel's operand becomes a
/// copy of the other), so counts from one up, below [`TRIED_COUNTS`], are tried before
/// the bisection's.
pub(crate) fn panel_width(
    units: usize,
    size: usize,
    budget: usize,
    values: impl Fn(usize) -> usize,
) -> Option<usize> {
    debug_assert!(units > 0, "panels of nothing");
    let fits = |w: usize| values(w).saturating_mul(size) <= budget;
    if units == 0 || !fits(1) {
        return None;
    }
    let (mut lo, mut hi) = (1, units);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let most = units.div_ceil(lo);
    let even = (1..most.min(TRIED_COUNTS))
        .chain([most])
        .map(|count| units.div_ceil(count))
        .find(|&w| fits(w));
    Some(even.unwrap_or(lo))
}

/// [`panel_width`], or the refusal: `what(v)` names one unit's panel of v values, and
/// the error its bytes against the budget.
pub(crate) fn panel_width_or_refuse(
    units: usize,
    size: usize,
    budget: usize,
    values: impl Fn(usize) -> usize,
    what: impl FnOnce(usize) -> String,
) -> Result<usize> {
    panel_width(units, size, budget, &values).ok_or_else(|| {
        let v = values(1);
        crate::Error::TooLarge {
            what: what(v),
            needed: v.saturating_mul(size) as u64,
            available: budget as u64,
        }
    })
}

/// Panel counts [`panel_width`] tries from one up before the bisection's count.
const TRIED_COUNTS: usize = 16;

/// Values of `T` from `p` to the first 64-byte line at or after it: where a buffer's
/// first aligned value is (the scratch's, the weights' in `memory::zeros_on_lines`).
pub(crate) fn values_to_line<T>(p: *const T) -> usize {
    (LINE - p as usize % LINE) % LINE / std::mem::size_of::<T>()
}

/// [`padded`] for values of `size` bytes.
pub(crate) fn padded_values(n: usize, size: usize) -> usize {
    let line = LINE / size;
    n.div_ceil(line).saturating_mul(line)
}

/// Temporaries for the calls of one network, reused from call to call.
#[derive(Debug, Clone, Default)]
pub struct Scratch<T> {
    buf: Vec<T>,
}

impl<T: Real> Scratch<T> {
    /// An empty scratch: it grows to what the first call needs.
    pub fn new() -> Self {
        Scratch { buf: Vec::new() }
    }

    /// A scratch of `values` values of T (from [`Mlp::scratch_len`]), or
    /// [`Error::TooLarge`] if that cannot be allocated.
    ///
    /// [`Mlp::scratch_len`]: crate::Mlp::scratch_len
    /// [`Error::TooLarge`]: crate::Error::TooLarge
    pub fn with_len(values: usize) -> Result<Self> {
        let mut s = Scratch::new();
        s.reserve(values)?;
        Ok(s)
    }

    /// Values held (a line more than the largest requirement served, for alignment).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether it holds nothing yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len() * std::mem::size_of::<T>()
    }

    /// Grows to at least `values` past the first aligned one (never shrinks: a later
    /// call may need them).
    fn reserve(&mut self, values: usize) -> Result<()> {
        let values = values + LINE / std::mem::size_of::<T>();
        if self.buf.len() < values {
            let bytes = bytes_of(&[values], std::mem::size_of::<T>());
            self.buf = try_vec(|| "the call's scratch".into(), values, bytes)?;
        }
        Ok(())
    }

    /// `values` values from the first 64-byte line on, to carve a call's temporaries
    /// from.
    pub(crate) fn stack(&mut self, values: usize) -> Result<Stack<'_, T>> {
        self.reserve(values)?;
        let skip = values_to_line(self.buf.as_ptr());
        Ok(Stack {
            rest: &mut self.buf[skip..skip + values],
        })
    }
}

/// Values not yet handed out, carved front to back. Carved values hold whatever the
/// last call left: every user writes before it reads.
#[derive(Debug)]
pub(crate) struct Stack<'a, T> {
    rest: &'a mut [T],
}

impl<'a, T: Real> Stack<'a, T> {
    /// Values not yet taken.
    #[cfg(test)]
    pub(crate) fn left(&self) -> usize {
        self.rest.len()
    }

    /// A stack over `buf`, which a carve of this crate started (so it is aligned).
    pub(crate) fn new(buf: &'a mut [T]) -> Self {
        Stack { rest: buf }
    }

    /// The next `n` values, from [`padded`]`(n)` taken. Asking for more than is left is
    /// a bug in a `scratch_len`.
    pub(crate) fn take(&mut self, n: usize) -> &'a mut [T] {
        let rest = std::mem::take(&mut self.rest);
        let whole = padded::<T>(n).min(rest.len());
        assert!(
            n <= rest.len(),
            "scratch: {n} values wanted, {} left",
            rest.len()
        );
        let (head, tail) = rest.split_at_mut(whole);
        self.rest = tail;
        &mut head[..n]
    }

    /// The next rows·cols values as a row-major matrix.
    pub(crate) fn matrix(&mut self, rows: usize, cols: usize) -> ArrayViewMut2<'a, T> {
        ArrayViewMut2::from_shape((rows, cols), self.take(rows * cols)).expect("sized")
    }
}

/// For the executors' tests: runs `call` on a stack of exactly `len` values of
/// `scratch`, the count its panels were sized by, and checks it took all of them (a
/// carve past the count panics); or, where the count was refused, that it needed more
/// than `budget`. Whether it ran.
#[cfg(test)]
pub(crate) fn carves_exactly<'a, T: Real>(
    scratch: &'a mut Scratch<T>,
    len: Result<usize>,
    budget: usize,
    call: impl FnOnce(&mut Stack<'a, T>),
) -> bool {
    match len {
        Ok(len) => {
            let mut stack = scratch.stack(len).expect("fits");
            call(&mut stack);
            assert_eq!(
                stack.left(),
                0,
                "{len} values counted, {} not taken",
                stack.left()
            );
            true
        }
        Err(crate::Error::TooLarge { needed, .. }) => {
            assert!(
                needed as usize > budget,
                "refused {needed} bytes within {budget}"
            );
            false
        }
        Err(e) => panic!("{e}"),
    }
}
