//! A whole network as one .npz archive, as `numpy.savez` writes it: `W1` … `WL` (d_k ×
//! d_{k−1}, float64 or float32), a bias `bK` for the layers that have one, and
//! `activations`, the activations by name — one per layer, or one for all:
//!
//! ```python
//! np.savez("model.npz", W1=W1, b1=b1, W2=W2, activations=["tanh", "sigmoid"])
//! ```
//!
//! Compressed archives (`numpy.savez_compressed`) read too. The archive is checked as
//! the .npy files are: an entry other than these, a gap in the layers, a bias without
//! its layer or an unknown activation is an error naming the archive and the entry, and
//! each array is read straight from the archive, its header checked before any large
//! allocation.
//!
//! ```no_run
//! use fwdrev::Mlp;
//! let net: Mlp<f64> = Mlp::load_npz("model.npz")?;
//! net.save_npz("copy.npz")?;
//! # Ok::<(), fwdrev::Error>(())
//! ```

use crate::{npy, Activation, Error, Layer, Mlp, Real, Result};
use ndarray::{Ix1, Ix2};
use std::collections::BTreeSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// The activations' entry (absent: sigmoid for every layer, as the CLI's `--act`).
const ACTIVATIONS: &str = "activations";

/// An `Error::Npy` about the archive at `path` (or one of its entries).
fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// What an archive entry is called in errors: `model.npz/W1.npy`.
fn entry_path(path: &Path, name: &str) -> PathBuf {
    path.join(name)
}

impl<T: Real> Mlp<T> {
    /// The network stored in an .npz archive (see the module [`npz`](crate::npz)).
    pub fn load_npz(path: impl AsRef<Path>) -> Result<Mlp<T>> {
        let path = path.as_ref();
        // As an .npy is opened: a FIFO or a directory is an error saying what it is.
        let (file, _) = npy::open(path)?;
        let mut archive = ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| bad(path, format!("not a .npz (zip) archive: {e}")))?;
        // Every entry must be one of W<k>, b<k>, activations (".npy" as numpy adds it).
        let (mut weights, mut biases) = (BTreeSet::new(), Vec::new());
        let mut keys = BTreeSet::new();
        for i in 0..archive.len() {
            let name = archive
                .name_for_index(i)
                .ok_or_else(|| bad(path, format!("entry {i} has no name")))?;
            let key = name.strip_suffix(".npy").unwrap_or(name);
            // numpy would take `W1` where `W1` and `W1.npy` both exist, and this reader
            // the other: such an archive is ambiguous.
            if !keys.insert(key.to_string()) {
                return Err(bad(
                    path,
                    format!("both {key} and {key}.npy: which is meant?"),
                ));
            }
            // W<k> or b<k>, k ≥ 1 written plainly (no sign, no leading zero).
            let layer = |prefix: char| {
                let n = key.strip_prefix(prefix)?;
                n.parse::<usize>()
                    .ok()
                    .filter(|&k| k >= 1 && n == k.to_string())
            };
            if let Some(k) = layer('W') {
                weights.insert(k);
            } else if let Some(k) = layer('b') {
                biases.push(k);
            } else if key != ACTIVATIONS {
                return Err(bad(
                    path,
                    format!(
                        "entry {:?}: a model holds W1 … WL, biases bK and activations",
                        name.escape_debug().to_string()
                    ),
                ));
            }
        }
        let depth = weights.last().copied().unwrap_or(0);
        // W1 … W_depth all present exactly when there are depth of them; else the first
        // missing k is where the k-th smallest is not k.
        if depth == 0 || weights.len() != depth {
            let k = (1..)
                .zip(&weights)
                .find(|(k, w)| k != *w)
                .map_or(1, |p| p.0);
            let what = match depth {
                0 => "a model holds W1 … WL, biases bK and activations".to_string(),
                _ => format!("the layers run W1 … W{depth} without a gap"),
            };
            return Err(bad(path, format!("no W{k}: {what}")));
        }
        if let Some(&k) = biases.iter().find(|&&k| k > depth) {
            return Err(bad(
                path,
                format!("b{k} has no layer: the weights end at W{depth}"),
            ));
        }
        let names = read_activations(&mut archive, path)?;
        let acts = match names.len() {
            1 => vec![names[0]; depth],
            n if n == depth => names,
            n => {
                return Err(bad(
                    path,
                    format!("{n} activations for {depth} layers (give 1 or {depth})"),
                ))
            }
        };
        let layers = (1..=depth)
            .map(|k| {
                let w = read_array::<T, Ix2, _>(&mut archive, path, &format!("W{k}"))?
                    .ok_or_else(|| bad(path, format!("no W{k}")))?;
                let layer = Layer::new(w, acts[k - 1]);
                Ok(
                    match read_array::<T, Ix1, _>(&mut archive, path, &format!("b{k}"))? {
                        Some(b) => layer.with_bias(b),
                        None => layer,
                    },
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // The layers' shapes against each other: the error names the archive.
        Mlp::new(layers).map_err(|e| match e {
            Error::Shape {
                what,
                expected,
                got,
            } => Error::Shape {
                what: format!("{}: {what}", path.display()),
                expected,
                got,
            },
            e => e,
        })
    }

    /// Writes the network as an .npz archive that `numpy.load` reads (W1 … WL, the
    /// biases bK, and the activations by name; uncompressed, float64 or float32 by T),
    /// atomically as [`npy::write`] writes — to a regular file (a zip archive is
    /// finished by seeking back: a FIFO or terminal is an error).
    pub fn save_npz(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let names: Vec<&str> = self
            .layers()
            .iter()
            .map(|l| l.activation().name())
            .collect();
        // Every header first: nothing is written if one cannot be.
        let headers = self
            .layers()
            .iter()
            .map(|l| {
                let header = |shape: &[usize]| {
                    npy::header_text(T::NPY_DESCR, shape).map_err(|reason| bad(path, reason))
                };
                Ok((
                    header(l.weights().shape())?,
                    l.bias().map(|b| header(b.shape())).transpose()?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let large = self
            .layers()
            .iter()
            .any(|l| l.weights().len() * std::mem::size_of::<T>() >= u32::MAX as usize);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(large);
        npy::atomically(path, |out| {
            // Finished only on success: on an error zip's drop would try to finish the
            // archive and print its own message; the failed archive (a few entries'
            // bookkeeping) is left, and the temporary file removed.
            let mut zip = std::mem::ManuallyDrop::new(zip::ZipWriter::new(&mut *out));
            for (k, (layer, (w_header, b_header))) in self.layers().iter().zip(&headers).enumerate()
            {
                zip.start_file(format!("W{}.npy", k + 1), options)?;
                npy::write_to(&mut *zip, w_header, layer.weights())?;
                if let (Some(b), Some(header)) = (layer.bias(), b_header) {
                    zip.start_file(format!("b{}.npy", k + 1), options)?;
                    npy::write_to(&mut *zip, header, b)?;
                }
            }
            zip.start_file(format!("{ACTIVATIONS}.npy"), options)?;
            std::io::Write::write_all(&mut *zip, &npy::strings_bytes(&names))?;
            std::mem::ManuallyDrop::into_inner(zip).finish()?;
            Ok(())
        })
    }
}

/// The entry `key` (or `key.npy`) as an array, or None where there is none.
fn read_array<T: Real, D: ndarray::Dimension, R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    path: &Path,
    key: &str,
) -> Result<Option<ndarray::Array<T, D>>> {
    let array = read_entry(archive, path, key, |entry, len, at| {
        npy::read_from(entry, len, at)
    })?;
    Ok(array.map(|(a, _)| a))
}

/// The activations entry's names (Sigmoid for every layer where there is none).
fn read_activations<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    path: &Path,
) -> Result<Vec<Activation>> {
    let Some((names, at)) = read_entry(archive, path, ACTIVATIONS, |entry, len, at| {
        npy::strings_from(entry, len, at)
    })?
    else {
        return Ok(vec![Activation::Sigmoid]);
    };
    names
        .iter()
        .map(|s| {
            s.parse::<Activation>().map_err(|_| {
                let known = Activation::ALL.map(|a| a.name()).join(", ");
                bad(
                    &at,
                    format!(
                        "activation {:?}: one of {known}",
                        s.escape_debug().to_string()
                    ),
                )
            })
        })
        .collect()
}

/// The entry `key` (or `key.npy`) read by `read` (given the entry, its length and the
/// name errors use), with that name; None where there is no such entry. The entry is
/// then read past its last byte: zip checks an entry's CRC only there, so a corrupted
/// entry is an error rather than other numbers.
fn read_entry<X, R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    path: &Path,
    key: &str,
    read: impl FnOnce(&mut dyn Read, u64, &Path) -> Result<X>,
) -> Result<Option<(X, PathBuf)>> {
    let Some(name) = entry_name(archive, key) else {
        return Ok(None);
    };
    let mut entry = archive
        .by_name(&name)
        .map_err(|e| bad(path, format!("{name}: {e}")))?;
    let (len, at) = (entry.size(), entry_path(path, &name));
    let value = read(&mut entry, len, &at)?;
    match entry.read(&mut [0u8; 1]) {
        Ok(0) => Ok(Some((value, at))),
        Ok(_) => Err(bad(&at, "bytes after the data its header declares")),
        Err(e) => Err(bad(&at, format!("corrupted entry: {e}"))),
    }
}

/// The archive's name for `key`: `key.npy` as numpy writes it, or `key` itself.
fn entry_name<R: Read + Seek>(archive: &ZipArchive<R>, key: &str) -> Option<String> {
    let with = format!("{key}.npy");
    let found = [with.as_str(), key]
        .into_iter()
        .find(|n| archive.index_for_name(n).is_some())
        .map(str::to_string);
    found
}
