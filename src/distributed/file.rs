//! One .npy file written by every rank at its own offsets, so that a Jacobian or a
//! Hessian larger than any one rank's memory reaches the disk whole: rank 0 makes a
//! temporary file beside the target (its header, and its full length), every rank
//! writes its blocks into it, and once every rank's writes are synced rank 0 renames it
//! over the target — or removes it where any rank failed, leaving the target as it was.
//! The ranks must share the file system the path is on.

use super::ranks::Ranks;
use crate::npy::{self, Beside, Target};
use crate::{Error, Real, Result};
use mpi::traits::Communicator;
use ndarray::ArrayView2;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An rows × cols C-order .npy file of `T` being written by every rank.
pub(crate) struct SharedNpy<'r, 'c, C> {
    ranks: &'r Ranks<'c, C>,
    /// The target, which errors name.
    path: PathBuf,
    file: File,
    /// Rank 0's: the temporary file to rename or remove.
    beside: Option<Box<Beside>>,
    /// Where the data begins, after the header.
    start: u64,
    cols: usize,
}

impl<'r, 'c, C: Communicator> SharedNpy<'r, 'c, C> {
    /// Rank 0 makes the temporary file with the header of a (rows, cols) array of `T`,
    /// at its full length; every rank then opens it. Collective; errors are agreed.
    pub(crate) fn create<T: Real>(
        ranks: &'r Ranks<'c, C>,
        path: &Path,
        (rows, cols): (usize, usize),
    ) -> Result<Self> {
        let header = npy::header_text(T::NPY_DESCR, &[rows, cols]).map_err(npy::bad(path))?;
        let preamble = npy::preamble(&header);
        let len = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
            .and_then(|n| n.checked_add(preamble.len()))
            .ok_or_else(|| Error::TooLarge {
                what: format!("a {rows}×{cols} .npy file"),
                needed: u64::MAX,
                available: u64::MAX,
            })?;
        let made = match ranks.rank {
            0 => Self::make(path, &preamble, len as u64).map(Some),
            _ => Ok(None),
        };
        let beside = ranks.agree(made)?;
        let mut temp = beside
            .as_ref()
            .map_or_else(Vec::new, |b| b.temp.as_os_str().as_bytes().to_vec());
        ranks.broadcast_bytes(0, &mut temp);
        let temp = PathBuf::from(std::ffi::OsStr::from_bytes(&temp));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .open(&temp)
            .map_err(npy::io(path));
        match ranks.agree(opened) {
            Ok(file) => Ok(SharedNpy {
                ranks,
                path: path.to_path_buf(),
                file,
                beside,
                start: preamble.len() as u64,
                cols,
            }),
            Err(e) => {
                if let Some(b) = beside {
                    let _ = b.finish(Err(std::io::ErrorKind::Interrupted.into()));
                }
                Err(e)
            }
        }
    }

    /// Rank 0's temporary file beside `path`: the preamble, then zeros to `len` bytes.
    fn make(path: &Path, preamble: &[u8], len: u64) -> Result<Box<Beside>> {
        match Target::open(path)? {
            Target::Stream(_) => Err(npy::bad(path)(
                "is not a regular file: the ranks write their parts at offsets".into(),
            )),
            Target::Regular(beside) => {
                let sized =
                    (beside.file.write_all_at(preamble, 0)).and_then(|()| beside.file.set_len(len));
                match sized {
                    Ok(()) => Ok(beside),
                    Err(e) => Err(npy::io(path)(beside.finish(Err(e)).unwrap_err())),
                }
            }
        }
    }

    /// Writes `block` at rows row0 … and columns col0 … of the array: a write a row.
    /// Not collective: the caller agrees on the outcome.
    pub(crate) fn write<T: Real>(
        &self,
        row0: usize,
        col0: usize,
        block: ArrayView2<T>,
    ) -> Result<()> {
        let size = std::mem::size_of::<T>();
        let mut bytes = Vec::with_capacity(block.ncols() * size);
        for (i, row) in block.rows().into_iter().enumerate() {
            bytes.clear();
            row.iter().for_each(|&v| v.write_le_bytes(&mut bytes));
            let at = self.start + (((row0 + i) * self.cols + col0) * size) as u64;
            self.file
                .write_all_at(&bytes, at)
                .map_err(npy::io(&self.path))?;
        }
        Ok(())
    }

    /// After the writes, `outcome` their result agreed across the ranks: each rank syncs
    /// its writes, and where every rank's are on disk rank 0 renames the file over the
    /// target; otherwise the temporary file is removed. Collective.
    pub(crate) fn finish(self, outcome: Result<()>) -> Result<()> {
        let synced = match outcome {
            Ok(()) => self
                .ranks
                .agree(self.file.sync_all().map_err(npy::io(&self.path))),
            Err(e) => Err(e),
        };
        let renamed = match self.beside {
            Some(b) => {
                let written = synced
                    .as_ref()
                    .map_err(|_| std::io::ErrorKind::Interrupted.into());
                b.finish(written.copied()).map_err(npy::io(&self.path))
            }
            None => Ok(()),
        };
        synced?;
        self.ranks.agree(renamed)
    }
}
