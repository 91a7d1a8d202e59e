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

    /// The same split of rows of `w` values each (row-major), in values.
    pub(crate) fn times(&self, w: usize) -> Split {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_rows_once_in_rank_order() {
        for d in 0..20 {
            for p in 1..7 {
                let s = Split::block(d, p).unwrap();
                assert_eq!((s.len(), s.ranks()), (d, p));
                let rows: Vec<usize> = (0..p).flat_map(|r| s.rows(r)).collect();
                assert_eq!(rows, (0..d).collect::<Vec<_>>());
                // Whole quads but the last rank's rows: sizes differ by less than two quads.
                assert!((0..p).all(|r| s.rows(r).is_empty() || s.rows(r).start.is_multiple_of(4)));
                let sizes: Vec<usize> = (0..p).map(|r| s.rows(r).len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() < 8);
            }
        }
    }

    #[test]
    fn uneven_counts_and_refusals() {
        let s = Split::from_counts(&[0, 3, 0, 2]).unwrap();
        assert_eq!((s.rows(1), s.rows(2), s.rows(3)), (0..3, 3..3, 3..5));
        assert!(Split::from_counts(&[]).is_err());
        assert!(Split::block(5, 0).is_err());
        assert!(Split::from_counts(&[1 << 31]).is_err());
    }
}
