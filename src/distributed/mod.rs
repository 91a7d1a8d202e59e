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
//! A gradient thus reads about (2·Σ_k d_k·d_{k−1} − d_L·d_{L−1})/P entries a rank and
//! receives, besides x (d0, from rank 0), the other ranks' shares of a_1 … a_{L−1}, of
//! the L sums and of ∇f: about 2·Σ_{k<L} d_k + 2·d0 values. A JVP gathers a_k and its
//! tangent, 2·d_k values a layer.
//!
//! Every sum over ranks is added in rank order by this module, never by MPI's
//! reductions (whose order is unspecified), so a given rank count gives the same bits
//! on every run. With [`Split::block`]'s splits (whole quads of rows) a row's dot
//! product is the one a single process computes, so outputs, JVPs and hidden values are
//! bit-identical to [`Mlp`]'s; with other splits the kernels' tails take some rows,
//! and those agree to rounding. Sums over rows (f, Wᵀ·ḡ) are added in another order
//! and agree to rounding: the tests allow 1e−12 of the largest entry.
//!
//! Inputs are rank 0's: x, v and u are broadcast from rank 0 (each rank passes its own
//! of the right shape), and every rank returns the whole result — but for
//! [`DistMlp::write_jacobian`] and [`DistMlp::write_hessian`], which write J or ∇²f into
//! one .npy file from every rank at its own offsets, so that no rank holds more than its
//! part of a panel. The curvature calls ([`DistMlp::hessian_extremes`], …) run
//! [`Mlp`]'s iterations on the distributed HVP. Weights are never
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
//! A rank that panics would leave the others waiting in their next collective, and its
//! own `Universe`, dropped as the panic unwinds, waiting in `MPI_Finalize` for them: a
//! hung job. [`end_job_on_panic`] makes a panic end the job instead.
//!
//! ```no_run
//! use fwdrev::distributed::{end_job_on_panic, DistMlp};
//! use fwdrev::{random, Activation, Mode};
//! let universe = mpi::initialize().expect("MPI initialises once");
//! end_job_on_panic();
//! let world = universe.world();
//! // Each rank draws only its rows of A (8000×8000) and B (8000×8000).
//! let net = DistMlp::<f64, _>::from_seed(&world, &[8000, 8000, 8000], Activation::Sigmoid, 7)?;
//! let x = random::standard_normal_vector::<f64>(8000, 1)?;
//! let (f, grad) = net.value_and_grad(x.view(), Mode::Reverse)?; // on every rank
//! # Ok::<(), fwdrev::Error>(())
//! ```

mod curvature;
mod file;
mod ranks;
mod split;

pub use split::Split;

use crate::backend::{self, gemv_t_scratch_len};
use crate::guard::overflow_limit;
use crate::kernels::gemv::gemv_few;
use crate::mlp::{check_finite, check_layer, check_shape, lined_up, zeros};
use crate::reverse::{last_layer, Fused};
use crate::{
    memory, npy, primal, random, scan, Activation, Error, Layer, Mlp, Mode, Par, Real, Result,
    Scratch, DEFAULT_MEMORY_BUDGET,
};
use file::SharedNpy;
use mpi::datatype::Equivalence;
use mpi::traits::Communicator;
use ndarray::{
    s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix1, ShapeBuilder,
};
use ranks::Ranks;
use std::cell::RefCell;
use std::path::Path;

/// Makes a panic on this rank, in any thread, end the whole MPI job: the panic hook
/// that was set (by default, the message and location on standard error) runs, then
/// `MPI_Abort` on the world communicator (error code 101, Rust's for a panic), which
/// ends every rank under any launcher; before `mpi::initialize` or after finalisation,
/// a plain abort. Without it, the others wait in their next collective and this rank
/// in `MPI_Finalize` as its `Universe` is dropped: the job hangs. Call it once, after
/// `mpi::initialize`; each call wraps the hook set before it.
pub fn end_job_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
            mpi::topology::SimpleCommunicator::world().abort(PANIC_CODE);
        }
        std::process::abort();
    }));
}

/// The exit code of a panicking Rust program, passed to `MPI_Abort`.
const PANIC_CODE: i32 = 101;

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
    /// Bytes the Jacobian's panels may take.
    budget: usize,
    /// The fused last-layer pass's temporaries, made with the network.
    fused: RefCell<Scratch<T>>,
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
        let splits = Ranks::new(comm).agree(block_splits(widths, comm.size() as usize))?;
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
        check_across_ranks(&ranks, widths, &splits)?;
        let layers = widths.windows(2).enumerate().map(|(k, w)| {
            let rows = splits[k + 1].rows(ranks.rank);
            let mut weights = memory::zeros_on_lines(rows.len(), w[0])?;
            // Row i of W_{k+1} is stream k·2³² + i of the seed: these rows alone.
            let stream0 = ((k as u64) << 32) + rows.start as u64;
            random::fill_standard_normal(weights.view_mut(), seed, stream0);
            Ok(Layer::new(weights, activation))
        });
        let layers = ranks.agree(layers.collect::<Result<Vec<_>>>())?;
        Self::from_local(ranks, layers, splits)
    }

    /// `net`'s rows of this rank, each layer split in blocks of rows: for a network that
    /// every rank holds whole (a small one, or in tests).
    pub fn from_mlp(comm: &'c C, net: &Mlp<T>) -> Result<Self> {
        let splits = Ranks::new(comm).agree(block_splits(&net.widths(), comm.size() as usize))?;
        Self::from_mlp_split(comm, net, splits)
    }

    /// [`from_mlp`](Self::from_mlp) with the rows of d_k split by `splits[k]`.
    pub fn from_mlp_split(comm: &'c C, net: &Mlp<T>, splits: Vec<Split>) -> Result<Self> {
        let ranks = Ranks::new(comm);
        check_across_ranks(&ranks, &net.widths(), &splits)?;
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
        Self::from_local(ranks, layers, splits)
    }

    /// The network in .npy files, each layer split in blocks of rows, each rank
    /// reading only its own rows of each W_k ([`npy::read_rows`]; b_k, d_k values, is
    /// read whole).
    pub fn from_npy(comm: &'c C, files: &[LayerFiles]) -> Result<Self> {
        let ranks = Ranks::new(comm);
        let widths = ranks.agree(npy_widths(files))?;
        let splits = ranks.agree(block_splits(&widths, ranks.size))?;
        Self::read_npy(ranks, files, &widths, splits)
    }

    /// [`from_npy`](Self::from_npy) with the rows of d_k split by `splits[k]`.
    pub fn from_npy_split(comm: &'c C, files: &[LayerFiles], splits: Vec<Split>) -> Result<Self> {
        let ranks = Ranks::new(comm);
        let widths = ranks.agree(npy_widths(files))?;
        Self::read_npy(ranks, files, &widths, splits)
    }

    /// Each rank's rows of the files of `widths` (from their headers).
    fn read_npy(
        ranks: Ranks<'c, C>,
        files: &[LayerFiles],
        widths: &[usize],
        splits: Vec<Split>,
    ) -> Result<Self> {
        check_across_ranks(&ranks, widths, &splits)?;
        let layers = files.iter().enumerate().map(|(k, file)| {
            let rows = splits[k + 1].rows(ranks.rank);
            // Laid out as Mlp::new lays weights out: a large row-major read is kept as
            // it is, so a rank holds its rows once (a Fortran-order file's are
            // transposed into a copy).
            let weights = lined_up(npy::read_rows::<T>(file.weights, rows.clone())?)?;
            let what = "the weights (layer, row, column)";
            check_rows(what, k + 1, rows.start, weights.view())?;
            let layer = Layer::new(weights, file.activation);
            Ok(match file.bias {
                Some(path) => {
                    let b = npy::read::<T, Ix1>(path)?.slice_move(s![rows.clone()]);
                    check_rows("the biases (layer, row)", k + 1, rows.start, b.view())?;
                    layer.with_bias(b)
                }
                None => layer,
            })
        });
        let layers = ranks.agree(layers.collect::<Result<Vec<_>>>())?;
        Self::from_local(ranks, layers, splits)
    }

    /// The network of this rank's `layers` (their rows of `splits`), with the forward
    /// bound's norms taken over all ranks and the fused pass's scratch made (agreed).
    fn from_local(ranks: Ranks<'c, C>, layers: Vec<Layer<T>>, splits: Vec<Split>) -> Result<Self> {
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
        let d_in = splits[splits.len() - 2].len();
        let fused = ranks.agree(Scratch::with_len(Fused::<T>::len(d_in)))?;
        Ok(DistMlp {
            ranks,
            layers,
            splits,
            bounds,
            par: Par::default(),
            budget: DEFAULT_MEMORY_BUDGET,
            fused: RefCell::new(fused),
        })
    }

    /// The same network, its local work run under `par` on each rank.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// The same network, its Jacobians' panels within `bytes` (three d_max × w panels:
    /// at least one column or row a panel, whatever the budget).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
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

    /// The communicator its ranks share.
    pub fn comm(&self) -> &'c C {
        self.ranks.comm()
    }

    /// This rank's index and the number of ranks.
    pub fn rank(&self) -> (usize, usize) {
        (self.ranks.rank, self.ranks.size)
    }

    /// Bytes this rank has received from the others since the network was made.
    pub fn received_bytes(&self) -> u64 {
        self.ranks.received()
    }

    /// The mode [`jacobian`](Self::jacobian) runs for `mode`: [`Mode::Auto`] is forward
    /// mode where d0 ≤ d_L (fewer products), else reverse mode.
    pub fn jacobian_mode(&self, mode: Mode) -> Mode {
        match mode {
            Mode::Auto if self.width(0) <= self.width(self.depth()) => Mode::Forward,
            Mode::Auto => Mode::Reverse,
            m => m,
        }
    }

    /// Every rank's outcome of a step made one (collective): `Ok` where every rank's
    /// is, else the lowest failing rank's error as [`Error::Rank`], on every rank alike.
    /// For a caller's own step that may fail on some ranks only (a file, an allocation),
    /// before its next collective call, so that no rank is left waiting in it.
    pub fn agree<R>(&self, outcome: Result<R>) -> Result<R> {
        self.ranks.agree(outcome)
    }

    /// Seconds this rank has spent in communication since the network was made,
    /// waiting for slower ranks included: with a call's wall time, its split into
    /// compute and communication.
    pub fn comm_seconds(&self) -> f64 {
        self.ranks.waited().as_secs_f64()
    }

    /// The float vector in an .npy file, read by rank 0 and sent to every rank (the
    /// calls' inputs are rank 0's): for a file only rank 0 can see, and the same error
    /// on every rank where rank 0 cannot read it.
    pub fn read_vector(&self, path: impl AsRef<Path>) -> Result<Array1<T>> {
        let read = match self.ranks.rank {
            0 => npy::read::<T, Ix1>(path.as_ref()),
            _ => Ok(Array1::zeros(0)),
        };
        let mut v = self.ranks.agree(read)?;
        let mut len = [v.len() as u64];
        self.ranks.broadcast(&mut len);
        if self.ranks.rank != 0 {
            v = Array1::zeros(len[0] as usize);
        }
        self.ranks.broadcast(v.as_slice_mut().expect("contiguous"));
        Ok(v)
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
        let mut a = scan::max_abs(ArrayView1::from(x));
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

    /// The forward pass through layers 1 … `upto`: a_k whole on every rank (a_0 = x),
    /// and this rank's rows of φ'_k(y_k); with `v`, the tangents ȧ_k (ȧ_0 = v) whole,
    /// and with [`Keep::Bends`] this rank's rows of φ''_k(y_k)·ẏ_k.
    fn forward(&self, x: Vec<T>, v: Option<Vec<T>>, upto: usize, keep: Keep) -> Sweep<T> {
        let mut sweep = Sweep {
            values: vec![x],
            tangents: v.into_iter().collect(),
            slopes: Vec::with_capacity(upto),
            bends: Vec::new(),
        };
        let par = self.par;
        for k in 1..=upto {
            let n = self.local(k);
            let (mut h, mut s) = (vec![T::zero(); n], vec![T::zero(); n]);
            let layer = &self.layers[k - 1];
            let a = &sweep.values[k - 1];
            let mut t = vec![T::zero(); n];
            match sweep.tangents.last() {
                // The value and its tangent from one read of the rows: [y ẏ] = W·[a ȧ].
                Some(at) => {
                    let mut y2 = Array2::zeros((n, 2).f());
                    par.install(|| gemv_few(par, layer.weights.view(), &[a, at], y2.view_mut()));
                    h.copy_from_slice(y2.column(0).as_slice().expect("a column"));
                    t.copy_from_slice(y2.column(1).as_slice().expect("a column"));
                    add_bias(layer, &mut h, 1);
                    if keep == Keep::Bends {
                        let bend = h.iter().zip(&t);
                        let act = layer.activation;
                        sweep
                            .bends
                            .push(bend.map(|(&y, &t)| act.curvature(y) * t).collect());
                    }
                    layer.activation.apply(&mut h, &mut s);
                    t.iter_mut().zip(&s).for_each(|(t, &s)| *t = *t * s);
                }
                None if keep == Keep::Curvatures => {
                    par.install(|| {
                        backend::gemv(
                            par,
                            layer.weights.view(),
                            ArrayView1::from(a),
                            ArrayViewMut1::from(&mut h[..]),
                        )
                    });
                    add_bias(layer, &mut h, 1);
                    let act = layer.activation;
                    sweep
                        .bends
                        .push(h.iter().map(|&y| act.curvature(y)).collect());
                    act.apply(&mut h, &mut s);
                }
                None => par.install(|| {
                    primal::layer_into(par, layer, ArrayView1::from(a), &mut h, &mut s)
                }),
            }
            sweep.values.push(self.gather(&h, k, 1));
            if !sweep.tangents.is_empty() {
                sweep.tangents.push(self.gather(&t, k, 1));
            }
            sweep.slopes.push(s);
        }
        sweep
    }

    /// Every rank's rows of d_k (`w` values a row, row-major), whole on every rank.
    fn gather(&self, local: &[T], k: usize, w: usize) -> Vec<T> {
        let split = self.splits[k].scaled(w);
        let mut full = vec![T::zero(); split.len()];
        self.ranks.gather_all(local, &split, &mut full);
        full
    }

    /// This rank's rows of the rank-order sum of every rank's `partial` (all d_k rows,
    /// `w` values a row, row-major).
    fn sum_rows(&self, partial: &[T], k: usize, w: usize) -> Vec<T> {
        let split = self.splits[k].scaled(w);
        let n = split.rows(self.ranks.rank).len();
        let (mut out, mut recv) = (vec![T::zero(); n], vec![T::zero(); self.ranks.size * n]);
        self.ranks.sum_rows(partial, &split, &mut out, &mut recv);
        out
    }

    /// The reverse sweep from layer k down to x, for N adjoints at once, `w` values a
    /// unit: `partials` are this rank's W_kᵀ·ḡ_k (all d_{k−1} rows); at each hidden layer
    /// j the rank-order sums arrive on this rank's rows, `step(j, sums)` turns them into
    /// the ḡ_j, and W_j\[rows\]ᵀ·ḡ_j are the next partials. Returns this rank's rows
    /// (of d0's split) of the adjoints of x.
    fn backward<const N: usize>(
        &self,
        mut partials: [Vec<T>; N],
        k: usize,
        w: usize,
        step: impl Fn(usize, &mut [Vec<T>; N]),
    ) -> [Vec<T>; N] {
        for j in (1..k).rev() {
            let mut g = partials.each_ref().map(|p| self.sum_rows(p, j, w));
            step(j, &mut g);
            partials = g.each_ref().map(|g| self.transposed(j, g, w));
        }
        partials.map(|p| self.sum_rows(&p, 0, w))
    }

    /// W_k\[rows\]·P for this rank's rows of layer k, P whole (d_{k−1} × `w`,
    /// row-major): this rank's rows × w.
    fn rows_times(&self, k: usize, p: &[T], w: usize) -> Vec<T> {
        let wk = self.layers[k - 1].weights.view();
        let mut out = vec![T::zero(); wk.nrows() * w];
        if wk.nrows() > 0 {
            let p = ArrayView2::from_shape((wk.ncols(), w), p).expect("d×w");
            let o = ArrayViewMut2::from_shape((wk.nrows(), w), &mut out[..]).expect("n×w");
            self.par.install(|| backend::gemm(wk, p, o));
        }
        out
    }

    /// W_k\[rows\]ᵀ·G for this rank's rows of layer k (`w` columns, row-major): all
    /// d_{k−1} rows.
    fn transposed(&self, k: usize, g: &[T], w: usize) -> Vec<T> {
        let wk = self.layers[k - 1].weights.view();
        let mut out = vec![T::zero(); wk.ncols() * w];
        let par = self.par;
        match (wk.nrows(), w) {
            (0, _) => {}
            (_, 1) => {
                let mut scratch = vec![T::zero(); gemv_t_scratch_len(wk.nrows(), wk.ncols())];
                par.install(|| {
                    let (g, out) = (ArrayView1::from(g), ArrayViewMut1::from(&mut out[..]));
                    backend::gemv_t(par, wk, g, out, &mut scratch)
                })
            }
            (n, _) => par.install(|| {
                let g = ArrayView2::from_shape((n, w), g).expect("n×w");
                let out = ArrayViewMut2::from_shape((wk.ncols(), w), &mut out[..]).expect("d×w");
                backend::gemm(wk.t(), g, out)
            }),
        }
        out
    }

    /// f(x) = Σ_i φ_L(y_L)_i and ∇f(x), the same on every rank. Reverse mode (and
    /// [`Mode::Auto`]): the fused pass on each rank's rows of W_L, then the reverse
    /// sweep across the ranks. Forward mode: ∇f = 1ᵀ·J accumulated from the input side
    /// in panels of J's columns ([`jacobian`](Self::jacobian)'s forward panels), each
    /// panel's column sums added over the ranks in rank order; d0 times the work, as on
    /// one process. f has the same bits in both modes.
    pub fn value_and_grad(&self, x: ArrayView1<T>, mode: Mode) -> Result<(T, Array1<T>)> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let depth = self.depth();
        let adjoint = mode != Mode::Forward;
        let (f, sweep, partial) = self.value(x, adjoint)?;
        if adjoint {
            let [grad] = self.backward([partial], depth, 1, |j, [g]| {
                scale(g, &sweep.slopes[j - 1]);
            });
            return Ok((f, Array1::from_vec(self.gather(&grad, 0, 1))));
        }
        let d0 = self.width(0);
        let mut grad = vec![T::zero(); d0];
        for (c0, w) in Self::panels(d0, self.panel_width(d0)) {
            let panel = self.forward_panel(&sweep, c0, w, |_, _| {});
            let mut sums = vec![T::zero(); w];
            panel
                .chunks_exact(w)
                .for_each(|row| add_into(&mut sums, row));
            grad[c0..c0 + w].copy_from_slice(&self.ranks.sum_each(&sums));
        }
        Ok((f, Array1::from_vec(grad)))
    }

    /// f's forward pass: the hidden layers, then the fused pass on this rank's rows of
    /// W_L (its part of f, φ'_L on its rows, and with `adjoint` its W_L\[rows\]ᵀ·φ'_L);
    /// returns f summed over the ranks in rank order, the sweep with every layer's
    /// slopes, and the adjoint part (zeros without `adjoint`).
    fn value(&self, x: Vec<T>, adjoint: bool) -> Result<(T, Sweep<T>, Vec<T>)> {
        let depth = self.depth();
        let mut sweep = self.forward(x, None, depth - 1, Keep::Slopes);
        let last = &self.layers[depth - 1];
        let d_in = self.width(depth - 1);
        let mut partial = vec![T::zero(); d_in];
        let mut slopes = vec![T::zero(); self.local(depth)];
        let mut f = T::zero();
        let mut scratch = self.fused.borrow_mut();
        // Sized at construction: no allocation, nothing here for one rank to fail alone.
        let mut stack = scratch.stack(Fused::<T>::len(d_in))?;
        if !slopes.is_empty() {
            let mut fused = Fused::carve(d_in, &mut stack);
            let input = &sweep.values[depth - 1];
            let z = adjoint.then_some(&mut partial[..]);
            let par = self.par;
            f = par.install(|| last_layer(par, last, input, &mut slopes, z, &mut fused));
        }
        sweep.slopes.push(slopes);
        Ok((self.ranks.sum(f), sweep, partial))
    }

    /// Columns a Jacobian panel takes: the most that keep three d_max × w panels within
    /// the memory budget, at least 1, at most `n`.
    fn panel_width(&self, n: usize) -> usize {
        let widest = self.widths().into_iter().max().unwrap_or(1);
        let budget = self.budget / (3 * widest * std::mem::size_of::<T>());
        budget.min(self.most_columns()).clamp(1, n.max(1))
    }

    /// The most values a row MPI's counts allow ([`max_count`]).
    fn most_columns(&self) -> usize {
        let one = max_count(&self.splits, 1).expect("checked at construction");
        mpi::Count::MAX as usize / one.max(1)
    }

    /// One panel of forward mode: the identity's columns c0 … c0+w−1 pushed through
    /// the ranks (W_1·E is W_1's columns; then each layer multiplies its rows by the
    /// gathered tangents), `at_layer(k, Ẏ_k)` seeing each layer's tangent pre-activations
    /// on this rank's rows before they are scaled by its slopes. Returns this rank's rows
    /// of J\[:, c0 … c0+w−1\] (row-major).
    fn forward_panel(
        &self,
        sweep: &Sweep<T>,
        c0: usize,
        w: usize,
        mut at_layer: impl FnMut(usize, &[T]),
    ) -> Vec<T> {
        let first = self.layers[0].weights.slice(s![.., c0..c0 + w]);
        let mut t: Vec<T> = first.iter().copied().collect();
        for k in 1..=self.depth() {
            if k > 1 {
                let prev = self.gather(&t, k - 1, w);
                t = self.rows_times(k, &prev, w);
            }
            at_layer(k, &t);
            scale_rows(&mut t, &sweep.slopes[k - 1], w);
        }
        t
    }

    /// The panels of `n` columns (or rows) `w` at a time: (first, width) of each.
    fn panels(n: usize, w: usize) -> impl Iterator<Item = (usize, usize)> {
        (0..n).step_by(w.max(1)).map(move |c0| (c0, w.min(n - c0)))
    }

    /// F(x) = φ_L(y_L), whole on every rank.
    pub fn output(&self, x: ArrayView1<T>) -> Result<Array1<T>> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let mut sweep = self.forward(x, None, self.depth(), Keep::Slopes);
        Ok(Array1::from_vec(sweep.values.pop().expect("the output")))
    }

    /// (F(x), J(x)·v): values and tangents in one forward sweep, each rank reading its
    /// rows once for both.
    pub fn jvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let x = self.input("x", x, 0)?;
        let v = self.input("v", v, 0)?;
        self.check_range(&x)?;
        let mut sweep = self.forward(x, Some(v), self.depth(), Keep::Slopes);
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
        let mut sweep = self.forward(x, None, depth, Keep::Slopes);
        let rows = self.splits[depth].rows(self.ranks.rank);
        let mut g = sweep.slopes[depth - 1].clone();
        scale(&mut g, &u[rows]);
        let partial = self.transposed(depth, &g, 1);
        let [uj] = self.backward([partial], depth, 1, |j, [g]| {
            scale(g, &sweep.slopes[j - 1]);
        });
        let out = sweep.values.pop().expect("the output");
        Ok((
            Array1::from_vec(out),
            Array1::from_vec(self.gather(&uj, 0, 1)),
        ))
    }

    /// (∇f(x), ∇²f(x)·v) by forward-over-reverse, as [`Mlp::hvp`]: the forward sweep
    /// with the tangent ẏ_k along v, then the reverse sweep and its tangent,
    /// ḡ_L = φ'_L, ġ_L = φ''_L∘ẏ_L, and for the hidden layers (z = Wᵀ·ḡ, ż = Wᵀ·ġ)
    /// ḡ_j = φ'_j∘z, ġ_j = φ''_j∘ẏ_j∘z + φ'_j∘ż.
    pub fn hvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let x = self.input("x", x, 0)?;
        let v = self.input("v", v, 0)?;
        self.check_range(&x)?;
        let [grad, hv] = self
            .hvp_at(x, v)
            .map(|g| Array1::from_vec(self.gather(&g, 0, 1)));
        Ok((grad, hv))
    }

    /// [`hvp`](Self::hvp) of inputs already checked and whole on every rank: this
    /// rank's rows (of d0's split) of ∇f and ∇²f·v.
    fn hvp_at(&self, x: Vec<T>, v: Vec<T>) -> [Vec<T>; 2] {
        let depth = self.depth();
        let sweep = self.forward(x, Some(v), depth, Keep::Bends);
        let partials = [&sweep.slopes[depth - 1], &sweep.bends[depth - 1]]
            .map(|g| self.transposed(depth, g, 1));
        let [grad, hv] = self.backward(partials, depth, 1, |j, [z, dz]| {
            let (s, b) = (&sweep.slopes[j - 1], &sweep.bends[j - 1]);
            for i in 0..z.len() {
                (z[i], dz[i]) = (s[i] * z[i], b[i] * z[i] + s[i] * dz[i]);
            }
        });
        [grad, hv]
    }

    /// J(x) = ∂F/∂x (d_L × d0), whole on every rank, in panels of `w` columns or rows,
    /// each panel a sweep of all ranks: forward mode pushes w columns of the identity
    /// through (J·V: each rank multiplies its rows of W_k by the gathered d_{k−1}×w
    /// tangents), reverse mode pulls w rows back (Uᵀ·J: the transposed products summed
    /// in rank order, d_{k−1}·w values a rank). [`Mode::Auto`] takes forward mode where
    /// d0 ≤ d_L (fewer products), else reverse; the panel width is the most that keeps
    /// three d_max×w panels within the memory budget
    /// ([`with_memory_budget`](Self::with_memory_budget), default
    /// [`DEFAULT_MEMORY_BUDGET`]). Every panel is gathered whole on every rank;
    /// [`write_jacobian`](Self::write_jacobian) keeps each rank to its part.
    pub fn jacobian(&self, x: ArrayView1<T>, mode: Mode) -> Result<Array2<T>> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let shape = (self.width(self.depth()), self.width(0));
        let mut jac = self.ranks.agree(zeros::<T, _>("the Jacobian", shape))?;
        self.jacobian_panels(x, mode, |p| self.place(&p, &mut jac))?;
        Ok(jac)
    }

    /// J(x) as [`jacobian`](Self::jacobian) computes it, written to `path` as one
    /// d_L × d0 C-order .npy file, each rank writing its rows of each panel at their
    /// offsets: no rank holds more of J than its part of a panel. The file appears
    /// whole or not at all (a temporary file beside it, renamed by rank 0 once every
    /// rank's writes are synced); the ranks must share the file system `path` is on.
    pub fn write_jacobian(
        &self,
        x: ArrayView1<T>,
        mode: Mode,
        path: impl AsRef<Path>,
    ) -> Result<()> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let shape = (self.width(self.depth()), self.width(0));
        let file = SharedNpy::create::<T>(&self.ranks, path.as_ref(), shape)?;
        let written = self.jacobian_panels(x, mode, |p| self.write_block(&p, &file));
        file.finish(written)
    }

    /// The Jacobian's panels (see [`jacobian`](Self::jacobian)), each handed to `each`
    /// as the sweep leaves it, its outcome agreed before the next.
    fn jacobian_panels(
        &self,
        x: Vec<T>,
        mode: Mode,
        mut each: impl FnMut(Panel<T>) -> Result<()>,
    ) -> Result<()> {
        let depth = self.depth();
        let (d0, dl) = (self.width(0), self.width(depth));
        let sweep = self.forward(x, None, depth, Keep::Slopes);
        let slopes = |k: usize| &sweep.slopes[k - 1][..];
        if self.jacobian_mode(mode) == Mode::Forward {
            for (c0, w) in Self::panels(d0, self.panel_width(d0)) {
                let local = self.forward_panel(&sweep, c0, w, |_, _| {});
                let panel = Panel {
                    local,
                    layer: depth,
                    at: c0,
                    w,
                    holds: Holds::Columns,
                };
                self.ranks.agree(each(panel))?;
            }
            return Ok(());
        }
        let rows = self.splits[depth].rows(self.ranks.rank);
        for (r0, w) in Self::panels(dl, self.panel_width(dl)) {
            // Ḡ_L = diag(φ'_L)·U, U = rows r0 … r0+w−1 of the identity, on this rank's
            // rows.
            let mut g = vec![T::zero(); rows.len() * w];
            for j in 0..w {
                if rows.contains(&(r0 + j)) {
                    let i = r0 + j - rows.start;
                    g[i * w + j] = slopes(depth)[i];
                }
            }
            let partial = self.transposed(depth, &g, w);
            let [local] = self.backward([partial], depth, w, |k, [g]| {
                scale_rows(g, slopes(k), w);
            });
            let panel = Panel {
                local,
                layer: 0,
                at: r0,
                w,
                holds: Holds::Rows,
            };
            self.ranks.agree(each(panel))?;
        }
        Ok(())
    }

    /// ∇²f(x) (d0 × d0), whole on every rank: HVPs along panels of `w` columns of the
    /// identity ([`hvp`](Self::hvp) with w tangents), each panel one forward and one
    /// reverse sweep across the ranks. The gradient's reverse sweep runs once first and
    /// leaves z_j = W_{j+1}ᵀ·ḡ_{j+1} on each rank's rows; a panel's tangent adjoint is
    /// then ġ_j = φ''_j∘Ẏ_j∘z_j + φ'_j∘Ż_j (z_L = 1). Panel width as the Jacobian's.
    pub fn hessian(&self, x: ArrayView1<T>) -> Result<Array2<T>> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let d0 = self.width(0);
        let mut hess = self.ranks.agree(zeros::<T, _>("the Hessian", (d0, d0)))?;
        self.hessian_panels(x, |p| self.place(&p, &mut hess))?;
        Ok(hess)
    }

    /// ∇²f(x) as [`hessian`](Self::hessian) computes it, written to `path` as one
    /// d0 × d0 .npy file by every rank at its own offsets, as
    /// [`write_jacobian`](Self::write_jacobian) writes J.
    pub fn write_hessian(&self, x: ArrayView1<T>, path: impl AsRef<Path>) -> Result<()> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        let d0 = self.width(0);
        let file = SharedNpy::create::<T>(&self.ranks, path.as_ref(), (d0, d0))?;
        let written = self.hessian_panels(x, |p| self.write_block(&p, &file));
        file.finish(written)
    }

    /// The Hessian's panels (see [`hessian`](Self::hessian)), each handed to `each` as
    /// the sweep leaves it, its outcome agreed before the next.
    fn hessian_panels(
        &self,
        x: Vec<T>,
        mut each: impl FnMut(Panel<T>) -> Result<()>,
    ) -> Result<()> {
        let (depth, d0) = (self.depth(), self.width(0));
        let sweep = self.forward(x, None, depth, Keep::Curvatures);
        let slopes = |k: usize| &sweep.slopes[k - 1][..];
        let curvatures = |k: usize| &sweep.bends[k - 1][..];
        // z_j on this rank's rows of layer j, j = 1 … L (z_L = 1): the gradient's
        // reverse sweep, down to layer 1 (∇f itself is not needed).
        let mut z = vec![vec![T::one(); self.local(depth)]];
        let mut partial = self.transposed(depth, slopes(depth), 1);
        for j in (1..depth).rev() {
            let zj = self.sum_rows(&partial, j, 1);
            if j > 1 {
                let mut g = zj.clone();
                scale(&mut g, slopes(j));
                partial = self.transposed(j, &g, 1);
            }
            z.push(zj);
        }
        z.reverse();
        for (c0, w) in Self::panels(d0, self.panel_width(d0)) {
            // B_k = φ''_k∘Ẏ_k∘z_k along the panel, on this rank's rows.
            let mut bends = Vec::with_capacity(depth);
            self.forward_panel(&sweep, c0, w, |k, t| {
                let mut b = t.to_vec();
                scale_rows(&mut b, curvatures(k), w);
                scale_rows(&mut b, &z[k - 1], w);
                bends.push(b);
            });
            let partial = self.transposed(depth, &bends[depth - 1], w);
            let [local] = self.backward([partial], depth, w, |j, [g]| {
                scale_rows(g, slopes(j), w);
                add_into(g, &bends[j - 1]);
            });
            let panel = Panel {
                local,
                layer: 0,
                at: c0,
                w,
                holds: Holds::Columns,
            };
            self.ranks.agree(each(panel))?;
        }
        Ok(())
    }

    /// `panel` gathered from every rank into its place in `whole`.
    fn place(&self, panel: &Panel<T>, whole: &mut Array2<T>) -> Result<()> {
        let all = self.gather(&panel.local, panel.layer, panel.w);
        let rows = self.width(panel.layer);
        let all = ArrayView2::from_shape((rows, panel.w), &all[..]).expect("d×w");
        let span = panel.at..panel.at + panel.w;
        match panel.holds {
            Holds::Columns => whole.slice_mut(s![.., span]).assign(&all),
            Holds::Rows => whole.slice_mut(s![span, ..]).assign(&all.t()),
        }
        Ok(())
    }

    /// This rank's part of `panel`, written at its place in `file`.
    fn write_block(&self, panel: &Panel<T>, file: &SharedNpy<'_, 'c, C>) -> Result<()> {
        let rows = self.splits[panel.layer].rows(self.ranks.rank);
        let local = ArrayView2::from_shape((rows.len(), panel.w), &panel.local[..]).expect("n×w");
        match panel.holds {
            Holds::Columns => file.write(rows.start, panel.at, local),
            Holds::Rows => file.write(panel.at, rows.start, local.t()),
        }
    }

    /// f and ∇f at each of k points, the columns of `xs` (d0×k, rank 0's): f (k) and the
    /// gradients as the columns of a d0×k matrix, on every rank, as
    /// [`Mlp::value_and_grad_batch`]. Each layer's rows times all k points is one GEMM a
    /// rank; the ranks gather d_k·k values a layer and sum as many on the way back.
    pub fn value_and_grad_batch(&self, xs: ArrayView2<T>) -> Result<(Array1<T>, Array2<T>)> {
        let (d0, k) = (self.width(0), xs.ncols());
        let shape = format!("the points must be the columns of a d0×k matrix, d0 = {d0}");
        self.ranks.agree(check_shape(shape, &[xs.nrows()], &[d0]))?;
        let mut k_all = [k as u64];
        self.ranks.broadcast(&mut k_all);
        self.ranks.agree(check_shape(
            "k, the points (rank 0's)",
            &[k],
            &[k_all[0] as usize],
        ))?;
        if k > self.most_columns() {
            return Err(Error::OutOfRange {
                what: "the points k (each layer's rows times k, and P times a rank's rows \
                       times k, are MPI counts: C ints)"
                    .into(),
                got: format!("{k}"),
                range: format!("at most {}", self.most_columns()),
            });
        }
        let mut a = xs
            .as_standard_layout()
            .into_owned()
            .into_raw_vec_and_offset()
            .0;
        self.ranks.broadcast(&mut a);
        check_finite("xs", ArrayView2::from_shape((d0, k), &a[..]).expect("d0×k"))?;
        self.check_range(&a)?;
        if k == 0 {
            return Ok((Array1::zeros(0), Array2::zeros((d0, 0))));
        }
        // Forward: A_j = φ_j(W_j·A_{j−1} + b_j·1ᵀ), this rank's rows, then gathered.
        let depth = self.depth();
        let mut slopes = Vec::with_capacity(depth);
        let mut f = vec![T::zero(); k];
        for j in 1..=depth {
            let layer = &self.layers[j - 1];
            let mut y = self.rows_times(j, &a, k);
            let mut s = vec![T::zero(); y.len()];
            add_bias(layer, &mut y, k);
            layer.activation.apply(&mut y, &mut s);
            match j < depth {
                true => a = self.gather(&y, j, k),
                // f_p = Σ_i φ(y_L)_ip over this rank's rows, in row order.
                false => y.chunks_exact(k).for_each(|row| add_into(&mut f, row)),
            }
            slopes.push(s);
        }
        let f = self.ranks.sum_each(&f);
        let partial = self.transposed(depth, &slopes[depth - 1], k);
        let [g] = self.backward([partial], depth, k, |j, [g]| {
            scale(g, &slopes[j - 1]);
        });
        let g = Array2::from_shape_vec((d0, k), self.gather(&g, 0, k)).expect("d0×k");
        Ok((Array1::from_vec(f), g))
    }
}

/// A panel of J or ∇²f as its sweep leaves it: this rank's rows of layer `layer`'s
/// split, `w` values a row (row-major).
struct Panel<T> {
    local: Vec<T>,
    layer: usize,
    /// The panel's first column (or row) in the whole result.
    at: usize,
    w: usize,
    holds: Holds,
}

/// How a panel sits in the whole result.
#[derive(Clone, Copy)]
enum Holds {
    /// Columns at … at+w−1: the panel's rows are the result's.
    Columns,
    /// Rows at … at+w−1: the panel is their transpose.
    Rows,
}

/// What the forward pass keeps beside the values and slopes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Slopes,
    /// φ''_k(y_k)·ẏ_k too (with a tangent), for HVPs.
    Bends,
    /// φ''_k(y_k) too (without), for Hessians.
    Curvatures,
}

/// The forward pass's values on one rank: a_k and ȧ_k whole, slopes and bends (or
/// curvatures) on its rows (index k − 1 for layer k).
struct Sweep<T> {
    values: Vec<Vec<T>>,
    tangents: Vec<Vec<T>>,
    slopes: Vec<Vec<T>>,
    bends: Vec<Vec<T>>,
}

/// y ← y + b, this rank's rows of a layer, `w` values a row.
fn add_bias<T: Real>(layer: &Layer<T>, y: &mut [T], w: usize) {
    if let Some(b) = layer.bias_slice() {
        for (row, &b) in y.chunks_exact_mut(w).zip(b) {
            row.iter_mut().for_each(|y| *y = *y + b);
        }
    }
}

/// Row i of the n×w row-major `g` times s_i.
fn scale_rows<T: Real>(g: &mut [T], s: &[T], w: usize) {
    for (row, &s) in g.chunks_exact_mut(w).zip(s) {
        row.iter_mut().for_each(|g| *g = *g * s);
    }
}

/// g ← g ∘ s.
fn scale<T: Real>(g: &mut [T], s: &[T]) {
    g.iter_mut().zip(s).for_each(|(g, &s)| *g = *g * s);
}

/// f ← f + row.
fn add_into<T: Real>(f: &mut [T], row: &[T]) {
    f.iter_mut().zip(row).for_each(|(f, &v)| *f = *f + v);
}

/// [`Split::block`] of every width over `ranks` ranks.
fn block_splits(widths: &[usize], ranks: usize) -> Result<Vec<Split>> {
    widths.iter().map(|&d| Split::block(d, ranks)).collect()
}

/// One layer's files for [`DistMlp::from_npy`].
#[derive(Clone, Copy, Debug)]
pub struct LayerFiles<'p> {
    /// W_k, d_k × d_{k−1}, a float .npy (either order).
    pub weights: &'p Path,
    /// b_k, d_k entries, if the layer has one.
    pub bias: Option<&'p Path>,
    /// φ_k.
    pub activation: Activation,
}

/// d_0 … d_L from the files' headers, each W_k's columns the rows of the one before and
/// each b_k as long as its rows.
fn npy_widths(files: &[LayerFiles]) -> Result<Vec<usize>> {
    let mut widths = Vec::with_capacity(files.len() + 1);
    for (k, file) in files.iter().enumerate() {
        let shape = npy::read_header(file.weights)?.shape;
        let &[rows, cols] = &shape[..] else {
            return Err(Error::Npy {
                path: file.weights.into(),
                reason: format!(
                    "rank {} (shape {shape:?}) where rank 2 is required",
                    shape.len()
                ),
            });
        };
        if k == 0 {
            widths.push(cols);
        }
        let before = widths[k];
        check_shape(
            format!(
                "{}: the columns of layer {}'s weights",
                file.weights.display(),
                k + 1
            ),
            &[cols],
            &[before],
        )?;
        if let Some(b) = file.bias {
            let shape = npy::read_header(b)?.shape;
            check_shape(
                format!("{}: layer {}'s bias", b.display(), k + 1),
                &shape,
                &[rows],
            )?;
        }
        widths.push(rows);
    }
    Ok(widths)
}

/// Errors on a non-finite entry of a rank's rows (from global row `row0`), its index
/// the whole matrix's.
fn check_rows<T: Real, D: ndarray::Dimension>(
    what: &'static str,
    layer: usize,
    row0: usize,
    a: ndarray::ArrayView<T, D>,
) -> Result<()> {
    check_layer(what, layer, a).map_err(|e| match e {
        Error::NonFinite {
            what,
            mut index,
            value,
        } => {
            index[1] += row0;
            Error::NonFinite { what, index, value }
        }
        e => e,
    })
}

/// Errors on every rank unless the widths are valid, agree across ranks, and `splits`
/// splits each over all ranks.
fn check_across_ranks<C: Communicator>(
    ranks: &Ranks<C>,
    widths: &[usize],
    splits: &[Split],
) -> Result<()> {
    let ours: Vec<u64> = widths.iter().map(|&d| d as u64).collect();
    ranks.same("the widths", &ours)?;
    // Each split as its rank count, then its counts: ranks agree on the whole structure.
    let shape: Vec<u64> = splits
        .iter()
        .flat_map(|s| std::iter::once(s.ranks() as u64).chain(s.counts().iter().map(|&c| c as u64)))
        .collect();
    ranks.same("the splits", &shape)?;
    // The same on every rank from here, but agreed all the same: nothing local decides.
    ranks.agree(local_widths_check(widths, splits, ranks.size))
}

/// Errors unless the widths are valid, `splits` splits each over all `ranks`, and every
/// count MPI will be given fits in a C int (P times a rank's rows included).
fn local_widths_check(widths: &[usize], splits: &[Split], ranks: usize) -> Result<()> {
    crate::mlp::check_widths(widths)?;
    let got: Vec<(usize, usize)> = splits.iter().map(|s| (s.len(), s.ranks())).collect();
    let want: Vec<(usize, usize)> = widths.iter().map(|&d| (d, ranks)).collect();
    if got != want {
        return Err(Error::Shape {
            what: "splits must split each width over every rank".into(),
            expected: format!("(rows, ranks) {want:?}"),
            got: format!("{got:?}"),
        });
    }
    if max_count(splits, 1).is_none() {
        return Err(Error::OutOfRange {
            what: "the largest rows a rank holds, times the ranks (MPI counts are C ints)".into(),
            got: format!(
                "{:?}",
                splits.iter().map(|s| s.ranks() * most_rows(s)).max()
            ),
            range: format!("at most {}", mpi::Count::MAX),
        });
    }
    Ok(())
}

/// The most rows any rank holds of `split`.
fn most_rows(split: &Split) -> usize {
    (0..split.ranks())
        .map(|r| split.rows(r).len())
        .max()
        .unwrap_or(0)
}

/// The largest count MPI is given for `w` values a row: d_k·w (a gather), or P times a
/// rank's rows times w (a sum's receive buffer); `None` beyond a C int.
fn max_count(splits: &[Split], w: usize) -> Option<usize> {
    splits
        .iter()
        .map(|s| s.len().max(s.ranks() * most_rows(s)).checked_mul(w))
        .try_fold(0usize, |m, c| c.map(|c| m.max(c)))
        .filter(|&c| c <= mpi::Count::MAX as usize)
}
