//! How the d entries of one layer's output (the rows of its W) are split over P ranks.

use crate::{Error, Result};
use mpi::Count;
use std::ops::Range;

/// Consecutive rows per rank, in rank order: rank r holds rows `rows(r)`, and a rank may
/// hold none. MPI counts are C ints, so d is at most `i32::MAX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    counts: Vec<Count>,
    displs: Vec<Count>,
}

impl Split {
    /// Block rows in whole quads: the ⌈d/4⌉ quads of rows split as evenly as they go
    /// (⌊q/P⌋ each, one more for the first q mod P ranks), the last quad cut at d. The
    /// kernels take rows four at a time from a block's first row, so with these blocks
    /// each row's dot product is the one a single process computes, to the bit.
    pub fn block(d: usize, ranks: usize) -> Result<Split> {
        if ranks == 0 {
            return Err(Error::EmptyDimension { what: "the ranks" });
        }
        let quads = d.div_ceil(4);
        let start = |r: usize| (4 * (r * (quads / ranks) + r.min(quads % ranks))).min(d);
        let counts: Vec<usize> = (0..ranks).map(|r| start(r + 1) - start(r)).collect();
        Split::from_counts(&counts)
    }

    /// Rank r holds `counts[r]` rows, after those of ranks 0 … r−1.
    pub fn from_counts(counts: &[usize]) -> Result<Split> {
        if counts.is_empty() {
            return Err(Error::EmptyDimension { what: "the ranks" });
        }
        let total = counts.iter().try_fold(0usize, |s, &c| s.checked_add(c));
        if total.is_none_or(|d| d > Count::MAX as usize) {
            return Err(Error::OutOfRange {
                what: "a layer's rows split over ranks (MPI counts are C ints)".into(),
                got: format!("{counts:?}"),
                range: format!("at most {} rows in all", Count::MAX),
            });
        }
        let counts: Vec<Count> = counts.iter().map(|&c| c as Count).collect();
        let displs = counts
            .iter()
            .scan(0, |s, &c| {
                let d = *s;
                *s += c;
                Some(d)
            })
            .collect();
        Ok(Split { counts, displs })
    }

    /// d: the rows of all ranks.
    pub fn len(&self) -> usize {
        self.displs[self.ranks() - 1] as usize + self.counts[self.ranks() - 1] as usize
    }

    /// Whether no rank holds a row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// P: the ranks it splits over.
    pub fn ranks(&self) -> usize {
        self.counts.len()
    }

    /// The rows of rank r.
    pub fn rows(&self, r: usize) -> Range<usize> {
        let d = self.displs[r] as usize;
        d..d + self.counts[r] as usize
    }

    /// The same split of rows of `w` values each (row-major), in values; the caller
    /// keeps d·w within a C int.
    pub(crate) fn scaled(&self, w: usize) -> Split {
        let scale = |v: &[Count]| v.iter().map(|&c| c * w as Count).collect();
        Split {
            counts: scale(&self.counts),
            displs: scale(&self.displs),
        }
    }

    /// Rows per rank, as MPI takes them.
    pub(crate) fn counts(&self) -> &[Count] {
        &self.counts
    }

    /// First row per rank, as MPI takes them.
    pub(crate) fn displs(&self) -> &[Count] {
        &self.displs
    }
}
