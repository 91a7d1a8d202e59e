//! The one error type of the crate: every bad input ends here, never in a panic.

use std::path::PathBuf;

/// What went wrong, with the shapes, values, sizes or file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two operands whose shapes do not fit together.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// Which operand, and what its shape must agree with.
        what: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A dimension of zero: f would be a sum over nothing, or have no input.
    #[error("{what} must be at least 1, got 0")]
    EmptyDimension {
        /// Which dimension.
        what: &'static str,
    },
    /// A NaN or an infinity in an input; `index` is the first one found in row-major order.
    #[error("{what} has a non-finite entry {value} at index {index:?}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Multi-index of the first non-finite entry.
        index: Vec<usize>,
        /// The entry itself (NaN, inf or -inf), as f64.
        value: f64,
    },
    /// A request whose memory would not fit: refused before allocating.
    #[error("{what} needs {needed} bytes, but only {available} bytes are available")]
    TooLarge {
        /// What was being allocated.
        what: String,
        /// Bytes the request needs (saturated at `u64::MAX` on overflow).
        needed: u64,
        /// Bytes available: the machine's free memory or the caller's budget.
        available: u64,
    },
    /// A file that is not the .npy array it claims to be.
    #[error("{}: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A thread count that cannot be had: rayon's pool is built once per process.
    #[error("cannot run on {requested} threads: rayon's pool already runs {running}")]
    Threads {
        /// The count asked for.
        requested: usize,
        /// The count the pool runs.
        running: usize,
    },
    /// Threads the operating system would not start (a process or memory limit).
    #[error("cannot start {requested} threads: {reason}")]
    ThreadsRefused {
        /// The count asked for.
        requested: usize,
        /// What the operating system said.
        reason: String,
    },
    /// A name that is none of the known ones (an activation, a mode).
    #[error("unknown {what} {got:?}: expected one of {expected}")]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        got: String,
        /// The names known, comma-separated.
        expected: String,
    },
    /// A parameter outside the range its call accepts (a count of eigenvalues, a
    /// tolerance, a damping).
    #[error("{what} must be in {range}, got {got}")]
    OutOfRange {
        /// The parameter.
        what: String,
        /// Its value.
        got: String,
        /// What it may be.
        range: String,
    },
    /// A bug of this crate, caught before it could return a wrong result.
    #[error("internal error: {what} (a bug: please report it with the inputs)")]
    Internal {
        /// What went wrong.
        what: String,
    },
    /// A rank of an MPI job failed (or ranks disagreed): every rank returns this same
    /// error, so that none goes on alone (feature `mpi`).
    #[error("rank {rank}: {what}")]
    Rank {
        /// The lowest rank that failed.
        rank: usize,
        /// Its error.
        what: String,
    },
    /// The operating system refused to read or write a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The item of `all` whose `name` is `s`, else [`Error::Unknown`] listing the names: the
/// `FromStr` of [`Activation`](crate::Activation) and [`Mode`](crate::Mode).
pub(crate) fn by_name<E: Copy>(
    what: &'static str,
    all: &[E],
    name: impl Fn(E) -> &'static str,
    s: &str,
) -> Result<E> {
    all.iter()
        .copied()
        .find(|&e| name(e) == s)
        .ok_or_else(|| Error::Unknown {
            what,
            got: s.into(),
            expected: all.iter().map(|&e| name(e)).collect::<Vec<_>>().join(", "),
        })
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
