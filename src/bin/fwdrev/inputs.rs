//! The inputs of `grad`, `jac` and `hvp`: the two-layer network's A and B and the point
//! x, as float64 .npy files.

use crate::{Budget, CliResult};
use clap::Args;
use fwdrev::{npy, Activation, Mlp};
use ndarray::{Array1, Ix1, Ix2};
use std::path::{Path, PathBuf};

/// A, B and x of f(x) = Σσ(B·σ(A·x)).
#[derive(Args)]
pub struct NetworkFiles {
    /// A, d1×d0 (float64 .npy).
    #[arg(long)]
    a: PathBuf,
    /// B, d2×d1.
    #[arg(long)]
    b: PathBuf,
    /// x, d0.
    #[arg(long)]
    x: PathBuf,
    #[command(flatten)]
    budget: Budget,
}

impl NetworkFiles {
    /// The network (with the run's budget) and the point, each file checked; the
    /// shapes of all of them, and of `also` (vectors of length d0, like x), are checked
    /// against each other from their headers before any data is read.
    pub fn read(&self, also: &[&Path]) -> CliResult<(Mlp<f64>, Array1<f64>)> {
        let shape = |p: &Path| npy::read_header(p).map(|h| h.shape);
        let (a, b) = (shape(&self.a)?, shape(&self.b)?);
        if let ([d1, d0], [_, k]) = (&a[..], &b[..]) {
            if k != d1 {
                return Err(format!(
                    "shape mismatch: {}: B has {k} columns, but A ({}) is {d1}×{d0}: B needs {d1}",
                    self.b.display(),
                    self.a.display()
                )
                .into());
            }
            for p in std::iter::once(self.x.as_path()).chain(also.iter().copied()) {
                if let [n] = shape(p)?[..] {
                    if n != *d0 {
                        return Err(format!(
                            "shape mismatch: {}: {n} entries, but A ({}) has d0 = {d0} columns",
                            p.display(),
                            self.a.display()
                        )
                        .into());
                    }
                }
            }
        }
        let a = npy::read::<f64, Ix2>(&self.a)?;
        let b = npy::read::<f64, Ix2>(&self.b)?;
        let net = Mlp::new([(a, Activation::Sigmoid), (b, Activation::Sigmoid)])?;
        Ok((self.budget.network(net), vector(&self.x)?))
    }
}

/// A float64 vector from an .npy file.
pub fn vector(p: &Path) -> CliResult<Array1<f64>> {
    Ok(npy::read::<f64, Ix1>(p)?)
}
