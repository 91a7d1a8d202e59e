//! Networks split by rows over MPI ranks (feature `mpi`): the same calls across
//! machines, on the same kernels, with rsmpi and the system's MPI.
//!
//! Each W_k (d_k × d_{k−1}) is split by rows ([`Split`]): rank r holds W_k\[rows_r\] and
//! b_k\[rows_r\], and nothing else of it, so a network P times larger than one rank's
//! memory fits on P ranks. The sweeps:
//!
//! - forward: each rank computes its rows y_k\[rows_r\] = W_k\[rows_r\]·a_{k−1} + b_k\[rows_r\]
//!   and a_k\[rows_r\], then an allgather gives every rank all of a_k (d_k values);
//! - reverse: each rank computes W_k\[rows_r\]ᵀ·ḡ_k\[rows_r\], a full d_{k−1} vector, and
//!   the sum over ranks arrives at each rank for its own rows of layer k−1 only (an
//!   all-to-all of d_{k−1} values, then P pieces added in rank order);
//! - the last layer's fused pass (W_L read once, [`Mlp::value_and_grad`]) runs per rank
//!   on its rows, and f is the rank-order sum of the ranks' parts.
//!
//! A gradient thus reads Σ_k 2·d_k·d_{k−1}/P entries a rank (W_L once) and receives
//! about Σ_k 2·d_k values; a JVP gathers a_k and its tangent, 2·d_k values a layer.
//!
//! Every sum over ranks is added in rank order by this module, never by MPI's
//! reductions (whose order is unspecified), so a given rank count gives the same bits
//! on every run. A row's dot product is the single-process one, so values and tangents
//! of hidden layers are bit-identical to [`Mlp`]'s; sums over rows (f, Wᵀ·ḡ) are added
//! in another order, and agree to rounding: the tests allow 1e−12 relative to the sum of
//! the terms' magnitudes.
//!
//! Inputs are rank 0's: x, v and u are broadcast from rank 0 (each rank passes its own
//! of the right shape), and every rank returns the whole result. Weights are never
//! whole on any rank: [`DistMlp::from_seed`] draws only the local rows (the per-row
//! random streams give the single-process matrices). Shapes are checked across ranks
//! before any compute; a rank that cannot allocate its rows makes every rank return the
//! same [`Error::Rank`].
//!
//! Unlike [`Mlp`], the distributed calls have no wide-range path: a network and input
//! whose forward bound ‖W_k‖_∞·max|a_{k−1}| + max|b_k| exceeds the type's range over 2⁸
//! are refused ([`Error::OutOfRange`]) instead of computed wide, and values in the
//! activations' far tails are flushed as by the fast kernels ([`Mlp`]'s guard module
//! bounds what a flush can change).
//!
//! ```no_run
//! use fwdrev::distributed::DistMlp;
//! use fwdrev::{random, Activation};
//! let universe = mpi::initialize().expect("MPI initialises once");
//! let world = universe.world();
//! // Each rank draws only its rows of A (8000×8000) and B (8000×8000).
//! let net = DistMlp::<f64, _>::from_seed(&world, &[8000, 8000, 8000], Activation::Sigmoid, 7)?;
//! let x = random::standard_normal_vector::<f64>(8000, 1)?;
//! let (f, grad) = net.value_and_grad(x.view())?; // on every rank
//! # Ok::<(), fwdrev::Error>(())
//! ```

mod ranks;
mod split;

pub use split::Split;

use crate::backend::gemv_t_scratch_len;
use crate::guard::overflow_limit;
use crate::kernels::gemv::gemv_few;
use crate::mlp::{check_finite, check_shape};
use crate::reverse::{last_layer, Fused};
use crate::{memory, primal, random, Activation, Error, Layer, Mlp, Par, Real, Result, Scratch};
use mpi::datatype::Equivalence;
use mpi::traits::Communicator;
use ndarray::{s, Array1, ArrayView1, ArrayViewMut1};
use ranks::Ranks;

/// The element types MPI sends: `f64` and `f32`.
pub trait Element: Real + Equivalence {}

impl<T: Real + Equivalence> Element for T {}

/// A network whose layers are split by rows over the ranks of an MPI communicator: this
/// rank's rows of each W_k and b_k. Every rank makes the same calls in the same order
/// (they are collective).
pub struct DistMlp<'c, T: Element, C: Communicator> {
    ranks: Ranks<'c, C>,
    /// This rank's rows of each layer.
    layers: Vec<Layer<T>>,
    /// `splits[k]`: d_k over the ranks, k = 0 … L (d_0's splits the gradient's sums).
    splits: Vec<Split>,
    /// Per layer, ‖W_k‖_∞ and max|b_k| over all ranks: the forward bound's.
    bounds: Vec<(f64, f64)>,
    par: Par,
}

impl<'c, T: Element, C: Communicator> DistMlp<'c, T, C> {
    /// The network of [`Mlp::from_seed`]`(widths, activation, seed)`, each layer split in
    /// blocks of rows ([`Split::block`]); each rank draws only its own rows.
    pub fn from_seed(
        comm: &'c C,
        widths: &[usize],
        activation: Activation,
        seed: u64,
    ) -> Result<Self> {
        let p = comm.size() as usize;
        let splits = widths
            .iter()
            .map(|&d| Split::block(d, p))
            .collect::<Result<Vec<_>>>()?;
        Self::from_seed_split(comm, widths, activation, seed, splits)
    }

    /// [`from_seed`](Self::from_seed) with the rows of d_k split by `splits[k]`
    /// (k = 0 … L; uneven splits, and ranks without rows, allowed).
    pub fn from_seed_split(
        comm: &'c C,
        widths: &[usize],
        activation: Activation,
        seed: u64,
        splits: Vec<Split>,
    ) -> Result<Self> {
        let ranks = Ranks::new(comm);
        check_widths(&ranks, widths, &splits)?;
        let layers = widths.windows(2).enumerate().map(|(k, w)| {
            let rows = splits[k + 1].rows(ranks.rank);
            let mut weights = memory::zeros_on_lines(rows.len(), w[0])?;
            // Row i of W_k is stream (k << 32) + i of the seed: these rows alone.
            let stream0 = ((k as u64) << 32) + rows.start as u64;
            random::fill_standard_normal(weights.view_mut(), seed, stream0);
            Ok(Layer::new(weights, activation))
        });
        let layers = ranks.agree(layers.collect::<Result<Vec<_>>>())?;
        Ok(Self::from_local(ranks, layers, splits))
    }

    /// `net`'s rows of this rank, each layer split in blocks of rows: for a network that
    /// every rank holds whole (a small one, or in tests).
    pub fn from_mlp(comm: &'c C, net: &Mlp<T>) -> Result<Self> {
        let p = comm.size() as usize;
        let splits = net
            .widths()
            .iter()
            .map(|&d| Split::block(d, p))
            .collect::<Result<Vec<_>>>()?;
        Self::from_mlp_split(comm, net, splits)
    }

    /// [`from_mlp`](Self::from_mlp) with the rows of d_k split by `splits[k]`.
    pub fn from_mlp_split(comm: &'c C, net: &Mlp<T>, splits: Vec<Split>) -> Result<Self> {
        let ranks = Ranks::new(comm);
        check_widths(&ranks, &net.widths(), &splits)?;
        let layers = net.layers().iter().enumerate().map(|(k, l)| {
            let rows = splits[k + 1].rows(ranks.rank);
            let mut weights = memory::zeros_on_lines(rows.len(), l.weights.ncols())?;
            weights.assign(&l.weights.slice(s![rows.clone(), ..]));
            let layer = Layer::new(weights, l.activation);
            Ok(match &l.bias {
                Some(b) => layer.with_bias(b.slice(s![rows]).to_owned()),
                None => layer,
            })
        });
        let layers = ranks.agree(layers.collect::<Result<Vec<_>>>())?;
        Ok(Self::from_local(ranks, layers, splits))
    }

    /// The network of this rank's `layers` (their rows of `splits`), with the forward
    /// bound's norms taken over all ranks.
    fn from_local(ranks: Ranks<'c, C>, layers: Vec<Layer<T>>, splits: Vec<Split>) -> Self {
        let bounds = layers
            .iter()
            .map(|l| {
                let row_sum = |r: ArrayView1<T>| r.iter().map(|v| v.as_f64().abs()).sum::<f64>();
                let norm = l
                    .weights
                    .rows()
                    .into_iter()
                    .map(row_sum)
                    .fold(0.0, f64::max);
                let bias = l.bias.iter().flatten().map(|b| b.as_f64().abs());
                (ranks.max(norm), ranks.max(bias.fold(0.0, f64::max)))
            })
            .collect();
        DistMlp {
            ranks,
            layers,
            splits,
            bounds,
            par: Par::default(),
        }
    }

    /// The same network, its local work run under `par` on each rank.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// d_0 … d_L.
    pub fn widths(&self) -> Vec<usize> {
        self.splits.iter().map(Split::len).collect()
    }

    /// How d_k is split over the ranks, k = 0 … L.
    pub fn splits(&self) -> &[Split] {
        &self.splits
    }

    /// This rank's rows of each layer.
    pub fn local_layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// This rank's index and the number of ranks.
    pub fn rank(&self) -> (usize, usize) {
        (self.ranks.rank, self.ranks.size)
    }

    /// Bytes this rank has received from the others since the network was made.
    pub fn received_bytes(&self) -> u64 {
        self.ranks.received()
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    fn width(&self, k: usize) -> usize {
        self.splits[k].len()
    }

    /// This rank's rows of d_k.
    fn local(&self, k: usize) -> usize {
        self.splits[k].rows(self.ranks.rank).len()
    }

    /// Rank 0's `input` (`what`, length d_k) on every rank, checked finite.
    fn input(&self, what: &'static str, input: ArrayView1<T>, k: usize) -> Result<Vec<T>> {
        let shape = format!("{what} must have {} entries (d_{k})", self.width(k));
        // Collective from here: a rank with a wrong shape must not leave the others
        // waiting in the broadcast.
        self.ranks
            .agree(check_shape(shape, input.shape(), &[self.width(k)]))?;
        let mut buf = input.to_vec();
        self.ranks.broadcast(&mut buf);
        check_finite(what, ArrayView1::from(&buf))?;
        Ok(buf)
    }

    /// Refuses x where some partial sum of the forward pass could overflow (the module
    /// says why), alike on every rank.
    fn check_range(&self, x: &[T]) -> Result<()> {
        let limit = overflow_limit::<T>();
        let mut a = x.iter().fold(0.0_f64, |m, v| m.max(v.as_f64().abs()));
        for (k, (l, &(norm, bias))) in self.layers.iter().zip(&self.bounds).enumerate() {
            let y = norm * a + bias;
            if y.is_nan() || y > limit {
                return Err(Error::OutOfRange {
                    what: format!(
                        "layer {}'s forward bound ‖W‖_∞·max|a| + max|b| (distributed \
                         calls have no wide-range path; Mlp's calls do)",
                        k + 1
                    ),
                    got: format!("{y:e}"),
                    range: format!("[0, {limit:e}]"),
                });
            }
            a = l.activation.bound(y);
        }
        Ok(())
    }

    /// The forward pass through layers 1 … `upto`: a_k whole for k < `upto` in
    /// `values[k]` (a_0 = x), and this rank's rows of φ'_k(y_k) in `slopes[k − 1]`;
    /// with `tangent` (ȧ_0 = v), the tangents ȧ_k likewise. Returns `values`, `slopes`
    /// and the tangents.
    fn forward(&self, x: Vec<T>, v: Option<Vec<T>>, upto: usize) -> Sweep<T> {
        let mut sweep = Sweep {
            values: vec![x],
            tangents: v.into_iter().collect(),
            slopes: Vec::with_capacity(upto),
        };
        for k in 1..=upto {
            let (n, d) = (self.local(k), self.width(k));
            let (mut h, mut s) = (vec![T::zero(); n], vec![T::zero(); n]);
            let layer = &self.layers[k - 1];
            let a = &sweep.values[k - 1];
            let mut t = vec![T::zero(); n];
            match sweep.tangents.last() {
                // The value and its tangent from one read of the rows: [y ẏ] = W·[a ȧ].
                Some(at) => {
                    let mut y2 = vec![T::zero(); 2 * n];
                    let par = self.par;
                    par.install(|| gemv_few(par, layer.weights.view(), &[a, at], &mut y2));
                    for (i, y) in y2.chunks_exact(2).enumerate() {
                        (h[i], t[i]) = (y[0], y[1]);
                    }
                    if let Some(b) = layer.bias_slice() {
                        h.iter_mut().zip(b).for_each(|(h, &b)| *h = *h + b);
                    }
                    layer.activation.apply(&mut h, &mut s);
                    t.iter_mut().zip(&s).for_each(|(t, &s)| *t = *t * s);
                }
                None => {
                    let par = self.par;
                    par.install(|| {
                        primal::layer_into(par, layer, ArrayView1::from(a), &mut h, &mut s)
                    })
                }
            }
            let split = &self.splits[k];
            let mut full = vec![T::zero(); d];
            self.ranks.gather_all(&h, split, &mut full);
            sweep.values.push(full);
            if !sweep.tangents.is_empty() {
                let mut full = vec![T::zero(); d];
                self.ranks.gather_all(&t, split, &mut full);
                sweep.tangents.push(full);
            }
            sweep.slopes.push(s);
        }
        sweep
    }

    /// From `partial` (this rank's W_kᵀ·ḡ_k, all d_{k−1} entries) at layer k down to
    /// x: the rank-order sums, ḡ_{k−1} = φ'(y_{k−1}) ∘ (that sum) on this rank's rows,
    /// and so on; returns the adjoint of x, whole, on every rank.
    fn backward(&self, sweep: &Sweep<T>, mut partial: Vec<T>, k: usize) -> Vec<T> {
        let p = self.ranks.size;
        for j in (1..k).rev() {
            // ḡ_j on this rank's rows of layer j.
            let n = self.local(j);
            let (mut g, mut recv) = (vec![T::zero(); n], vec![T::zero(); p * n]);
            self.ranks
                .sum_rows(&partial, &self.splits[j], &mut g, &mut recv);
            g.iter_mut()
                .zip(&sweep.slopes[j - 1])
                .for_each(|(g, &s)| *g = *g * s);
            partial = self.transposed(j, &g);
        }
        let (n0, d0) = (self.local(0), self.width(0));
        let (mut g, mut recv) = (vec![T::zero(); n0], vec![T::zero(); p * n0]);
        self.ranks
            .sum_rows(&partial, &self.splits[0], &mut g, &mut recv);
        let mut grad = vec![T::zero(); d0];
        self.ranks.gather_all(&g, &self.splits[0], &mut grad);
        grad
    }

    /// W_k\[rows\]ᵀ·g for this rank's rows of layer k: a whole d_{k−1} vector.
    fn transposed(&self, k: usize, g: &[T]) -> Vec<T> {
        let w = self.layers[k - 1].weights.view();
        let mut out = vec![T::zero(); w.ncols()];
        if w.nrows() > 0 {
            let mut scratch = vec![T::zero(); gemv_t_scratch_len(w.nrows(), w.ncols())];
            let par = self.par;
            par.install(|| {
                crate::backend::gemv_t(
                    par,
                    w,
                    ArrayView1::from(g),
                    ArrayViewMut1::from(&mut out[..]),
                    &mut scratch,
                )
            });
        }
        out
    }

    /// f(x) = Σ_i φ_L(y_L)_i and ∇f(x), by reverse accumulation across the ranks; the
    /// same on every rank.
    pub fn value_and_grad(&self, x: ArrayView1<T>) -> Result<(T, Array1<T>)> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let depth = self.depth();
        let mut sweep = self.forward(x, None, depth - 1);
        // The fused pass on this rank's rows of W_L: its part of f, its slopes, and its
        // W_L[rows]ᵀ·φ'(y_L[rows]).
        let last = &self.layers[depth - 1];
        let d_in = self.width(depth - 1);
        let mut partial = vec![T::zero(); d_in];
        let mut slopes = vec![T::zero(); self.local(depth)];
        let mut f = T::zero();
        if !slopes.is_empty() {
            let mut scratch = Scratch::new();
            let mut stack = scratch.stack(Fused::<T>::len(d_in))?;
            let mut fused = Fused::carve(d_in, &mut stack);
            let input = &sweep.values[depth - 1];
            let par = self.par;
            f = par.install(|| {
                last_layer(
                    par,
                    last,
                    input,
                    &mut slopes,
                    Some(&mut partial),
                    &mut fused,
                )
            });
        }
        let f = self.ranks.sum(f);
        sweep.slopes.push(slopes);
        let grad = self.backward(&sweep, partial, depth);
        Ok((f, Array1::from_vec(grad)))
    }

    /// F(x) = φ_L(y_L), whole on every rank.
    pub fn output(&self, x: ArrayView1<T>) -> Result<Array1<T>> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let mut sweep = self.forward(x, None, self.depth());
        Ok(Array1::from_vec(sweep.values.pop().expect("the output")))
    }

    /// (F(x), J(x)·v): values and tangents in one forward sweep, each rank reading its
    /// rows once for both.
    pub fn jvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let x = self.input("x", x, 0)?;
        let v = self.input("v", v, 0)?;
        self.check_range(&x)?;
        let mut sweep = self.forward(x, Some(v), self.depth());
        let jv = sweep.tangents.pop().expect("the output's tangent");
        let out = sweep.values.pop().expect("the output");
        Ok((Array1::from_vec(out), Array1::from_vec(jv)))
    }

    /// (F(x), uᵀ·J(x)): the forward sweep, then the reverse one from ḡ_L = u ∘ φ'_L(y_L).
    pub fn vjp(&self, x: ArrayView1<T>, u: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let depth = self.depth();
        let x = self.input("x", x, 0)?;
        let u = self.input("u", u, depth)?;
        self.check_range(&x)?;
        let mut sweep = self.forward(x, None, depth);
        let rows = self.splits[depth].rows(self.ranks.rank);
        let g: Vec<T> = sweep.slopes[depth - 1]
            .iter()
            .zip(&u[rows])
            .map(|(&s, &u)| s * u)
            .collect();
        let partial = self.transposed(depth, &g);
        let uj = self.backward(&sweep, partial, depth);
        let out = sweep.values.pop().expect("the output");
        Ok((Array1::from_vec(out), Array1::from_vec(uj)))
    }
}

/// The forward pass's values on one rank: a_k whole, slopes on its rows.
struct Sweep<T> {
    values: Vec<Vec<T>>,
    tangents: Vec<Vec<T>>,
    slopes: Vec<Vec<T>>,
}

/// Errors on every rank unless the widths are valid, agree across ranks, and `splits`
/// splits each over all ranks.
fn check_widths<C: Communicator>(
    ranks: &Ranks<C>,
    widths: &[usize],
    splits: &[Split],
) -> Result<()> {
    let ours: Vec<u64> = widths.iter().map(|&d| d as u64).collect();
    ranks.same("the widths", &ours)?;
    let counts: Vec<u64> = splits
        .iter()
        .flat_map(|s| s.counts().iter().map(|&c| c as u64))
        .collect();
    ranks.same("the splits", &counts)?;
    if widths.len() < 2 {
        return Err(Error::Shape {
            what: "widths must list d0 and at least one layer".into(),
            expected: "d0, d1, …".into(),
            got: format!("{widths:?}"),
        });
    }
    if widths.contains(&0) {
        return Err(Error::EmptyDimension { what: "a width" });
    }
    let got: Vec<(usize, usize)> = splits.iter().map(|s| (s.len(), s.ranks())).collect();
    let want: Vec<(usize, usize)> = widths.iter().map(|&d| (d, ranks.size)).collect();
    if got != want {
        return Err(Error::Shape {
            what: "splits must split each width over every rank".into(),
            expected: format!("(rows, ranks) {want:?}"),
            got: format!("{got:?}"),
        });
    }
    Ok(())
}
