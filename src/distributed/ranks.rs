//! The communication the distributed calls make, on rsmpi: gathers, sums over ranks in
//! rank order (never MPI's reductions, whose order is unspecified), and agreement on
//! errors and shapes. Counts the bytes this rank receives.

use super::split::Split;
use crate::kernels::gemv::add_parts;
use crate::{Error, Real, Result};
use mpi::datatype::{Equivalence, Partition, PartitionMut};
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use mpi::Count;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// A communicator with this rank's place in it.
pub(crate) struct Ranks<'c, C> {
    comm: &'c C,
    pub(crate) rank: usize,
    pub(crate) size: usize,
    received: Cell<u64>,
    /// Time in communication calls, waiting for the other ranks included.
    waited: Cell<Duration>,
}

impl<'c, C: Communicator> Ranks<'c, C> {
    pub(crate) fn new(comm: &'c C) -> Self {
        Ranks {
            comm,
            rank: comm.rank() as usize,
            size: comm.size() as usize,
            received: Cell::new(0),
            waited: Cell::new(Duration::ZERO),
        }
    }

    /// The communicator.
    pub(crate) fn comm(&self) -> &'c C {
        self.comm
    }

    /// Bytes this rank has received from the others since it was made.
    pub(crate) fn received(&self) -> u64 {
        self.received.get()
    }

    /// Time this rank has spent in communication since it was made.
    pub(crate) fn waited(&self) -> Duration {
        self.waited.get()
    }

    /// Runs one communication call, its time counted.
    fn timed<R>(&self, call: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let r = call();
        self.waited.set(self.waited.get() + start.elapsed());
        r
    }

    fn count<T>(&self, values: usize) {
        let bytes = (values * std::mem::size_of::<T>()) as u64;
        self.received.set(self.received.get() + bytes);
    }

    /// Every rank's `local` rows of `split`, in rank order, into `full` on every rank.
    pub(crate) fn gather_all<T: Real + Equivalence>(
        &self,
        local: &[T],
        split: &Split,
        full: &mut [T],
    ) {
        debug_assert_eq!(local.len(), split.rows(self.rank).len());
        let mut parts = PartitionMut::new(full, split.counts(), split.displs());
        self.timed(|| self.comm.all_gather_varcount_into(local, &mut parts));
        self.count::<T>(split.len() - local.len());
    }

    /// This rank's rows of Σ_r partial_r (each rank's `partial` has all d rows of
    /// `split`), summed in rank order r = 0 … P−1 into `out`: each rank receives only
    /// its rows from every rank, so the sum costs d values a rank. `recv` holds P times
    /// this rank's rows.
    pub(crate) fn sum_rows<T: Real + Equivalence>(
        &self,
        partial: &[T],
        split: &Split,
        out: &mut [T],
        recv: &mut [T],
    ) {
        let n = split.rows(self.rank).len();
        debug_assert_eq!((partial.len(), out.len()), (split.len(), n));
        let recv = &mut recv[..self.size * n];
        let counts = vec![n as Count; self.size];
        let displs: Vec<Count> = (0..self.size).map(|r| (r * n) as Count).collect();
        let send = Partition::new(partial, split.counts(), split.displs());
        let mut parts = PartitionMut::new(&mut *recv, counts, displs);
        self.timed(|| self.comm.all_to_all_varcount_into(&send, &mut parts));
        self.count::<T>((self.size - 1) * n);
        let (first, rest) = recv.split_at(n);
        out.copy_from_slice(first);
        add_parts(out, rest);
    }

    /// Σ_r x_r in rank order, on every rank.
    pub(crate) fn sum<T: Real + Equivalence>(&self, x: T) -> T {
        self.sum_each(&[x])[0]
    }

    /// Σ_r x_r entry by entry, in rank order, on every rank.
    pub(crate) fn sum_each<T: Real + Equivalence>(&self, x: &[T]) -> Vec<T> {
        let n = x.len();
        let mut all = vec![T::zero(); self.size * n];
        self.timed(|| self.comm.all_gather_into(x, &mut all[..]));
        self.count::<T>((self.size - 1) * n);
        let (first, rest) = all.split_at(n);
        let mut sum = first.to_vec();
        add_parts(&mut sum, rest);
        sum
    }

    /// max_r x_r, on every rank (exact in any order).
    pub(crate) fn max(&self, x: f64) -> f64 {
        self.all(x).into_iter().fold(f64::NEG_INFINITY, f64::max)
    }

    /// Every rank's x, in rank order.
    fn all<T: Equivalence + Copy + Default>(&self, x: T) -> Vec<T> {
        let mut all = vec![T::default(); self.size];
        self.timed(|| self.comm.all_gather_into(&x, &mut all[..]));
        self.count::<T>(self.size - 1);
        all
    }

    /// Rank 0's `values` on every rank.
    pub(crate) fn broadcast<T: Equivalence>(&self, values: &mut [T]) {
        self.timed(|| self.comm.process_at_rank(0).broadcast_into(values));
        if self.rank != 0 {
            self.count::<T>(values.len());
        }
    }

    /// Rank `root`'s `bytes` (any length) on every rank.
    pub(crate) fn broadcast_bytes(&self, root: usize, bytes: &mut Vec<u8>) {
        let root = self.comm.process_at_rank(root as i32);
        let mut len = bytes.len() as u64;
        self.timed(|| root.broadcast_into(&mut len));
        bytes.resize(len as usize, 0);
        self.timed(|| root.broadcast_into(&mut bytes[..]));
    }

    /// Every rank's outcome made one: `Ok` where every rank's is, else the error of the
    /// lowest failing rank, on every rank alike. A step that can fail on some ranks only
    /// (an allocation, a file) ends with this, so that no rank goes on to a collective
    /// the others never reach.
    pub(crate) fn agree<R>(&self, outcome: Result<R>) -> Result<R> {
        let failed = self.all(i32::from(outcome.is_err()));
        let Some(first) = failed.iter().position(|&f| f != 0) else {
            return outcome;
        };
        let mut what = match (&outcome, self.rank == first) {
            (Err(e), true) => e.to_string().into_bytes(),
            _ => Vec::new(),
        };
        self.broadcast_bytes(first, &mut what);
        Err(Error::Rank {
            rank: first,
            what: String::from_utf8_lossy(&what).into_owned(),
        })
    }

    /// Errors on every rank unless every rank passed the same `values` (`what` names
    /// them): the shapes the ranks were given, checked before any compute.
    pub(crate) fn same(&self, what: &str, values: &[u64]) -> Result<()> {
        let mismatch = |r: usize, expected: String, got: String| Error::Shape {
            what: format!("{what} must be the same on every rank; rank {r}'s differ"),
            expected,
            got,
        };
        let lens = self.all(values.len() as u64);
        if let Some(r) = lens.iter().position(|&n| n != lens[0]) {
            let (want, got) = (lens[0], lens[r]);
            return Err(mismatch(
                r,
                format!("{want} values (rank 0's)"),
                format!("{got}"),
            ));
        }
        let n = values.len();
        let mut all = vec![0u64; self.size * n];
        self.comm.all_gather_into(values, &mut all[..]);
        self.count::<u64>((self.size - 1) * n);
        let rank = |r: usize| &all[r * n..(r + 1) * n];
        match (0..self.size).find(|&r| rank(r) != rank(0)) {
            Some(r) => Err(mismatch(
                r,
                format!("{:?} (rank 0's)", rank(0)),
                format!("{:?}", rank(r)),
            )),
            None => Ok(()),
        }
    }
}
