//! The inputs of `grad`, `jac`, `hvp`, `curvature` and `newton`: a network — the
//! two-layer sigmoid network's A and B, any depth's W_1 … W_L with optional biases and
//! an activation per layer, or all of that in one .npz — and the point x, as float64
//! .npy files.

use crate::{Budget, CliResult};
use clap::Args;
use fwdrev::{npy, Activation, Layer, Mlp};
use ndarray::{Array1, Ix1, Ix2};
use std::path::{Path, PathBuf};

/// The network and x.
#[derive(Args)]
pub struct NetworkFiles {
    /// A, d1×d0 (float64 .npy): with --b, f(x) = Σσ(B·σ(A·x)).
    #[arg(
        long,
        required_unless_present_any = ["w", "net"],
        requires = "b",
        conflicts_with_all = ["w", "net"]
    )]
    a: Option<PathBuf>,
    /// B, d2×d1.
    #[arg(long, requires = "a")]
    b: Option<PathBuf>,
    /// W_k of a general network, d_k×d_{k−1}: one --w per layer, the first layer first
    /// (instead of --a and --b).
    #[arg(long = "w", value_name = "W.npy", conflicts_with = "net")]
    w: Vec<PathBuf>,
    /// The whole network as one .npz (numpy.savez): W1 … WL, biases bK, activations by
    /// name (instead of --a/--b or --w).
    #[arg(long, value_name = "MODEL.npz")]
    net: Option<PathBuf>,
    /// b_k, d_k: one --bias per layer, in the order of --w, `none` for a layer without
    /// one (or no --bias at all).
    #[arg(long = "bias", value_name = "B.npy", requires = "w")]
    bias: Vec<PathBuf>,
    /// With --w: the activations, one per layer or one for all, comma-separated
    /// (default sigmoid).
    #[arg(long, value_delimiter = ',', requires = "w")]
    act: Vec<Activation>,
    /// x, d0.
    #[arg(long)]
    pub x: PathBuf,
    #[command(flatten)]
    budget: Budget,
}

/// The shape in an .npy file's header.
fn shape(p: &Path) -> CliResult<Vec<usize>> {
    Ok(npy::read_header(p)?.shape)
}

fn mismatch(p: &Path, what: String) -> Box<dyn std::error::Error> {
    format!("shape mismatch: {}: {what}", p.display()).into()
}

impl NetworkFiles {
    /// The weight files, their biases and activations, first layer first (not for an
    /// .npz, which is read whole).
    pub fn layers(&self) -> CliResult<Vec<(&Path, Option<&Path>, Activation)>> {
        if let (Some(a), Some(b)) = (&self.a, &self.b) {
            let sigmoid = Activation::Sigmoid;
            return Ok(vec![
                (a.as_path(), None, sigmoid),
                (b.as_path(), None, sigmoid),
            ]);
        }
        let depth = self.w.len();
        let acts = match self.act.len() {
            0 => vec![Activation::Sigmoid; depth],
            1 => vec![self.act[0]; depth],
            n if n == depth => self.act.clone(),
            n => {
                return Err(format!(
                    "--act: {n} activations for {depth} layers (give 1 or {depth})"
                )
                .into())
            }
        };
        if !self.bias.is_empty() && self.bias.len() != depth {
            let n = self.bias.len();
            return Err(
                format!("--bias: {n} biases for {depth} layers (give none or {depth})").into(),
            );
        }
        let bias = |k: usize| {
            let path = self.bias.get(k)?;
            (path.as_os_str() != "none").then_some(path.as_path())
        };
        Ok((0..depth)
            .map(|k| (self.w[k].as_path(), bias(k), acts[k]))
            .collect())
    }

    /// The network (with the run's budget) and the point, each file checked; the
    /// shapes of all of them, and of `also` (vectors of length d0, like x), are checked
    /// against each other from their headers before any data is read.
    pub fn read(&self, also: &[&Path]) -> CliResult<(Mlp<f64>, Array1<f64>)> {
        if let Some(model) = &self.net {
            // The archive is read whole (each array's header checked as it is read);
            // then x and the others against its d0.
            let net = Mlp::load_npz(model)?;
            let d0 = net.widths()[0];
            self.check_points(also, d0, &format!("{} has d0 = {d0}", model.display()))?;
            return Ok((self.budget.network(net), vector(&self.x)?));
        }
        let layers = self.layers()?;
        // Each W_k is d_k×d_{k−1}: its columns are the rows of the one before. (A file
        // that is not a matrix is left to the read below, which names it.)
        let shapes = layers
            .iter()
            .map(|&(w, _, _)| shape(w))
            .collect::<CliResult<Vec<_>>>()?;
        if shapes.iter().all(|s| s.len() == 2) {
            for (k, &(w, bias, _)) in layers.iter().enumerate() {
                let (rows, cols) = (shapes[k][0], shapes[k][1]);
                if k > 0 && cols != shapes[k - 1][0] {
                    let (before, want) = (layers[k - 1].0.display(), shapes[k - 1][0]);
                    let what =
                        format!("{cols} columns, but the layer before ({before}) has {want} rows");
                    return Err(mismatch(w, what));
                }
                if let Some(b) = bias {
                    if let [n] = shape(b)?[..] {
                        if n != rows {
                            let what = format!(
                                "{n} entries, but its layer's W ({}) has {rows} rows",
                                w.display()
                            );
                            return Err(mismatch(b, what));
                        }
                    }
                }
            }
            let (d0, first) = (shapes[0][1], layers[0].0);
            let owner = format!(
                "the first layer ({}) has d0 = {d0} columns",
                first.display()
            );
            self.check_points(also, d0, &owner)?;
        }
        let layers = layers
            .into_iter()
            .map(|(w, bias, act)| {
                let layer = Layer::new(npy::read::<f64, Ix2>(w)?, act);
                Ok(match bias {
                    Some(b) => layer.with_bias(vector(b)?),
                    None => layer,
                })
            })
            .collect::<CliResult<Vec<_>>>()?;
        let net = Mlp::new(layers)?;
        Ok((self.budget.network(net), vector(&self.x)?))
    }

    /// Errors unless x and `also` (vectors, by their headers; a file that is not one is
    /// left to the read, which names it) have d0 entries; `owner` says what fixes d0.
    fn check_points(&self, also: &[&Path], d0: usize, owner: &str) -> CliResult {
        for p in std::iter::once(self.x.as_path()).chain(also.iter().copied()) {
            if let [n] = shape(p)?[..] {
                if n != d0 {
                    return Err(mismatch(p, format!("{n} entries, but {owner}")));
                }
            }
        }
        Ok(())
    }
}

/// A float64 vector from an .npy file.
pub fn vector(p: &Path) -> CliResult<Array1<f64>> {
    Ok(npy::read::<f64, Ix1>(p)?)
}
