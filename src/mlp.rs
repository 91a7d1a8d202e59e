//! The network F(x) = φ_L(W_L·…φ_1(W_1·x + b_1)… + b_L), f = ΣF: its layers, checks
//! and settings, and every call the crate offers.
//!
//! Each call has a plain form, which allocates its result and takes its temporaries
//! from a pool inside the network, and an `_into` form, which writes into the caller's
//! arrays using the caller's [`Scratch`] and [`Par`]. A call checks its inputs, then
//! states what it computes fast, which result must be finite, and how the wide-range
//! path redoes it (`guard.rs`); the algorithms are in the modules named
//! after them.

use crate::chain::{jacobian, Calibration, Mode, Plan};
use crate::guard::{guarded, Terms};
use crate::memory::{self, bytes_of, ensure_fits, try_vec};
use crate::random::fill_standard_normal;
use crate::scan;
use crate::scratch::{padded, Scratch, Stack};
use crate::{batch, forward, hessian, primal, reverse, Activation, Error, Par, Real, Result};
use ndarray::{
    Array, Array1, Array2, ArrayView, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2,
    Dimension, ShapeBuilder, StrideShape,
};
use std::sync::{Mutex, OnceLock};

/// Extra memory forward mode, Jacobians and Hessians may use for their panels unless
/// told otherwise: 1 GiB, so that up to d0 = d1 = d2 ≈ 8000 (f64) forward mode is the
/// card's one GEMM. Each extra panel re-reads (and the BLAS re-packs) the next weight
/// matrix (docs/measured.md has the cost). The panel width is chosen so that all the
/// panels take — a Jacobian's shared products, scaled copies and path products,
/// forward mode's buffers, a Hessian's directions and tangents — fits the budget;
/// beside it a call takes only vectors fixed by the widths ([`Mlp::scratch_len`] is
/// exact).
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

/// One layer: y = W·a + b (the bias optional), then φ elementwise.
#[derive(Debug)]
pub struct Layer<T> {
    /// W, d_k × d_{k−1}. In a network its rows are contiguous, and laid out on 64-byte
    /// lines ([`memory::zeros_on_lines`]) unless row-major and over [`LINE_UP_MAX`]
    /// bytes ([`lined_up`]).
    pub(crate) weights: Array2<T>,
    /// b, d_k entries, contiguous once in a network.
    pub(crate) bias: Option<Array1<T>>,
    /// φ.
    pub(crate) activation: Activation,
    /// ‖W‖_∞ = max_i Σ_j |W_ij| in f64 (+inf if that overflows): bounds every partial
    /// sum of W·a by ‖W‖_∞·max|a|, whatever the summation order. Set by the network.
    pub(crate) norm: f64,
    /// max_i |b_i| (0 without a bias). Set by the network.
    pub(crate) bias_max: f64,
    /// ‖W‖_1 = max_j Σ_i |W_ij| in f64: with ‖W‖_∞, how much Wᵀ and W can grow a vector
    /// (the flushes' bound in `guard.rs`). Set by the network.
    pub(crate) norm_1: f64,
    /// The smallest nonzero |W_ij| (+inf if none): where it times the smallest nonzero
    /// |a_j| is a normal number, no product W_ij·a_j underflows. Set by the network.
    pub(crate) weight_min: f64,
    /// Wᵀ (d_{k−1} × d_k) on lines, in a network whose weights total at most
    /// [`COLUMNS_MAX`] bytes and a layer at least [`COLUMNS_MIN_ROWS`] wide: the HVP's
    /// tangent sweep reads it. Set by the network.
    pub(crate) columns: Option<Array2<T>>,
}

impl<T: Real> Layer<T> {
    /// A layer without a bias: y = W·a.
    pub fn new(weights: Array2<T>, activation: Activation) -> Self {
        Layer {
            weights,
            bias: None,
            activation,
            norm: f64::NAN,
            bias_max: 0.0,
            norm_1: f64::NAN,
            weight_min: f64::NAN,
            columns: None,
        }
    }

    /// A layer without a bias from borrowed weights (any layout): one copy, laid out as
    /// [`Mlp::new`] keeps weights, so that the network takes it without another;
    /// [`Error::TooLarge`] where it cannot be allocated.
    pub fn copied(weights: ArrayView2<T>, activation: Activation) -> Result<Self> {
        Ok(Layer::new(memory::copy_on_lines(weights)?, activation))
    }

    /// The same layer with a bias b (one entry per row of W): y = W·a + b.
    pub fn with_bias(mut self, bias: Array1<T>) -> Self {
        self.bias = Some(bias);
        self
    }

    /// The weights W (d_k × d_{k−1}). In a network the rows are contiguous, and mostly
    /// on 64-byte lines with the row stride padded to whole lines, so it may exceed
    /// d_{k−1} ([`Mlp::new`]); `as_standard_layout()` gives the values in one slice.
    pub fn weights(&self) -> ArrayView2<'_, T> {
        self.weights.view()
    }

    /// The bias b, if the layer has one.
    pub fn bias(&self) -> Option<ArrayView1<'_, T>> {
        self.bias.as_ref().map(|b| b.view())
    }

    /// The activation φ.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// b as a slice (contiguous in a network).
    pub(crate) fn bias_slice(&self) -> Option<&[T]> {
        self.bias
            .as_ref()
            .map(|b| b.as_slice().expect("bias contiguous"))
    }
}

/// A copy whose rows start on lines where the original's do (a plain copy of the array
/// would put them wherever the allocator gives).
impl<T: Real> Clone for Layer<T> {
    fn clone(&self) -> Self {
        Layer {
            weights: same_layout(&self.weights),
            bias: self.bias.clone(),
            columns: self.columns.as_ref().map(same_layout),
            ..*self
        }
    }
}

/// A copy of `a` on lines where `a` is (a plain copy would put its rows wherever the
/// allocator gives), else, or where that copy cannot be had, a plain one.
fn same_layout<T: Real>(a: &Array2<T>) -> Array2<T> {
    let lined = memory::on_lines(a.view()).then(|| memory::copy_on_lines(a.view()).ok());
    lined.flatten().unwrap_or_else(|| a.clone())
}

/// Largest network, in bytes of weights, that also keeps Wᵀ ([`Layer`]'s `columns`) of
/// its layers at least [`COLUMNS_MIN_ROWS`] wide: W·[a | ȧ] as Wᵀ's transposed product,
/// whose results stay in registers over many rows, against dot products that each end
/// in a sum of lanes (the HVP 7 % faster at (100, 105, 95), docs/measured.md). Both
/// copies stay in L2 up to here (1 MB a core on the Zen machines, 2 MB on Emerald
/// Rapids); beyond it the HVP at (256)³ ran 1.8× slower, the copies evicting each other.
pub(crate) const COLUMNS_MAX: usize = 256 << 10;

/// Fewest rows (d_k) of a layer that keeps Wᵀ: Wᵀ's rows that long give the transposed
/// product at least four registers (f64) of each of its two results, eight chains of
/// fused multiply-adds, as many as hide their latency. Over narrower rows each result's
/// few registers wait on their own last multiply-add, row after row, where dot products
/// spread a row over lanes (an HVP with one output and 32 768 inputs ran 30 % slower).
pub(crate) const COLUMNS_MIN_ROWS: usize = 32;

/// Largest weight matrix, in bytes, that a network copies to lay it on 64-byte lines:
/// the sizes read from cache, where a load split over two lines costs (a quarter of a
/// small gradient). A larger row-major matrix is kept as given, its memory not briefly
/// doubled.
pub(crate) const LINE_UP_MAX: usize = 16 << 20;

/// W as a network keeps it: as given where its rows are on lines already, or where it
/// is row-major and larger than [`LINE_UP_MAX`]; otherwise a copy on lines.
pub(crate) fn lined_up<T: Real>(w: Array2<T>) -> Result<Array2<T>> {
    let large = w.len().saturating_mul(std::mem::size_of::<T>()) > LINE_UP_MAX;
    match memory::on_lines(w.view()) || (large && w.is_standard_layout()) {
        true => Ok(w),
        false => memory::copy_on_lines(w.view()),
    }
}

/// (W, φ): a layer without a bias.
impl<T: Real> From<(Array2<T>, Activation)> for Layer<T> {
    fn from((w, act): (Array2<T>, Activation)) -> Self {
        Layer::new(w, act)
    }
}

/// (W, b, φ).
impl<T: Real> From<(Array2<T>, Array1<T>, Activation)> for Layer<T> {
    fn from((w, b, act): (Array2<T>, Array1<T>, Activation)) -> Self {
        Layer::new(w, act).with_bias(b)
    }
}

/// (W, b or None, φ), as PyTorch's `nn.Linear` has them.
impl<T: Real> From<(Array2<T>, Option<Array1<T>>, Activation)> for Layer<T> {
    fn from((w, b, act): (Array2<T>, Option<Array1<T>>, Activation)) -> Self {
        Layer {
            bias: b,
            ..Layer::new(w, act)
        }
    }
}

/// ∇f with respect to one layer's parameters, shaped like them.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGrad<T> {
    /// ∇_W f (d_k × d_{k−1}).
    pub weights: Array2<T>,
    /// ∇_b f (d_k), for a layer with a bias.
    pub bias: Option<Array1<T>>,
}

/// A computation of [`Mlp`], to ask its scratch of [`Mlp::scratch_len`].
#[derive(Debug, Clone, Copy)]
pub enum Call<'p> {
    /// [`Mlp::output`].
    Output,
    /// [`Mlp::value`].
    Value,
    /// [`Mlp::value_and_grad`] in a mode.
    Grad(Mode),
    /// [`Mlp::jvp`].
    Jvp,
    /// [`Mlp::vjp`].
    Vjp,
    /// [`Mlp::hvp`].
    Hvp,
    /// [`Mlp::jacobian_with_plan`] by this plan.
    Jacobian(&'p Plan),
    /// [`Mlp::hessian`].
    Hessian,
    /// [`Mlp::hvp_many`] with this many directions.
    HvpMany(usize),
    /// [`HessianAt::apply_into`](crate::HessianAt::apply_into).
    HessianAt,
    /// [`Mlp::value_and_weight_grads`].
    WeightGrads,
    /// [`Mlp::value_and_grad_batch`] at this many points.
    Batch(usize),
}

/// F(x) = φ_L(W_L·φ_{L−1}(…φ_1(W_1·x + b_1)…) + b_L) and its sum f(x) = Σ_i F_i(x),
/// for any depth L ≥ 1, widths d0 … dL, per-layer activation and optional biases, over
/// `f32` or `f64`.
///
/// The layers are validated once, at construction: each W_k has d_{k−1} columns, each
/// b_k d_k entries, no dimension is 0, every entry is finite. Calls then only check
/// their own arrays. `Mlp` is `Send + Sync`: threads may share one.
///
/// Entries may be as large as the type allows (±f64::MAX): no call returns NaN, and
/// results are finite wherever their exact values are (±inf only beyond the type's
/// range): each call bounds its forward pass and redoes in wide-range arithmetic what
/// could have overflowed (docs/guarantees.md, "Huge entries").
#[derive(Debug)]
pub struct Mlp<T: Real> {
    layers: Vec<Layer<T>>,
    /// `offsets[k] = d_1 + … + d_k`: where layer k's values start in per-layer scratch.
    offsets: Vec<usize>,
    /// Scratch of the largest W_kᵀ·ḡ's partial results ([`reverse::transposed_len`]),
    /// worked out once: each gradient call carves it.
    transposed: usize,
    memory_budget: usize,
    calibration: Calibration,
    par: Par,
    /// Scratch of finished plain calls, reused by the next ones (one per concurrent
    /// caller at most): repeated calls allocate only their results.
    pool: Mutex<Vec<Scratch<T>>>,
    /// Each mode's plan for the current budget and calibration, made on first use
    /// (Auto's search under a tight budget tries up to 1 430 bracketings).
    plans: [OnceLock<Plan>; 3],
}

impl<T: Real> Clone for Mlp<T> {
    fn clone(&self) -> Self {
        Mlp {
            layers: self.layers.clone(),
            offsets: self.offsets.clone(),
            transposed: self.transposed,
            memory_budget: self.memory_budget,
            calibration: self.calibration,
            par: self.par,
            pool: Mutex::default(),
            plans: self.plans.clone(),
        }
    }
}

/// Errors unless `widths` lists d0 and at least one layer, none of them 0.
pub(crate) fn check_widths(widths: &[usize]) -> Result<()> {
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
    Ok(())
}

/// Errors unless `got` is `want`, naming the array (`what` is only formatted then).
pub(crate) fn check_shape(
    what: impl std::fmt::Display,
    got: &[usize],
    want: &[usize],
) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(Error::Shape {
        what: what.to_string(),
        expected: tuple(want),
        got: tuple(got),
    })
}

/// A shape as NumPy prints it: `(3,)`, `(4, 5)`.
fn tuple(s: &[usize]) -> String {
    match s {
        [n] => format!("({n},)"),
        _ => format!("{s:?}").replace('[', "(").replace(']', ")"),
    }
}

/// A message formatted only when shown: `lazy(|f| write!(f, …))`.
struct Lazy<F>(F);

impl<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}

/// Errors with the first non-finite entry of `a`, in row-major order.
pub(crate) fn check_finite<T: Real, D: Dimension>(
    what: &'static str,
    a: ArrayView<T, D>,
) -> Result<()> {
    if scan::every(a.view(), |v| v.is_finite()) {
        return Ok(());
    }
    match a.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(flat) => {
            // Unravel the row-major position into a multi-index.
            let mut index = vec![0; a.ndim()];
            let mut rest = flat;
            for (k, &n) in a.shape().iter().enumerate().rev() {
                index[k] = rest % n;
                rest /= n;
            }
            Err(Error::NonFinite {
                what,
                value: a.iter().nth(flat).expect("found above").as_f64(),
                index,
            })
        }
    }
}

/// `check_finite` with the layer (from 1) prepended to the index.
pub(crate) fn check_layer<T: Real, D: Dimension>(
    what: &'static str,
    layer: usize,
    a: ArrayView<T, D>,
) -> Result<()> {
    check_finite(what, a).map_err(|e| match e {
        Error::NonFinite { what, index, value } => Error::NonFinite {
            what,
            index: [vec![layer], index].concat(),
            value,
        },
        e => e,
    })
}

/// An array of zeros for a call's result, refused with the numbers when it cannot fit.
pub(crate) fn zeros<T: Real, D: Dimension>(
    what: &str,
    shape: impl Into<StrideShape<D>>,
) -> Result<Array<T, D>> {
    let shape = shape.into();
    let dims = shape.raw_dim().slice().to_vec();
    let bytes = bytes_of(&dims, std::mem::size_of::<T>());
    let n = bytes.map_or(usize::MAX, |b| b as usize / std::mem::size_of::<T>());
    let v = try_vec(|| format!("{what} {dims:?}"), n, bytes)?;
    Ok(Array::from_shape_vec(shape, v).expect("sized"))
}

/// `x` itself when contiguous, else a copy in `stack` (one layout, one result).
fn contiguous<'v, 'x: 'v, 's: 'v, T: Real>(
    x: ArrayView1<'x, T>,
    stack: &mut Stack<'s, T>,
) -> ArrayView1<'v, T> {
    if x.as_slice().is_some() {
        return x;
    }
    let copy = stack.take(x.len());
    copy.iter_mut().zip(&x).for_each(|(c, &v)| *c = v);
    ArrayView1::from(&*copy)
}

impl<T: Real> Mlp<T> {
    /// A network from its layers, first (input side) first: [`Layer`]s, or (W, φ) and
    /// (W, b, φ) tuples. Errors name the layer and the shapes when W_k's columns ≠
    /// W_{k−1}'s rows or b_k's length ≠ W_k's rows, when there is no layer or a
    /// dimension is 0, and the entry when one is NaN or infinite. Any memory order is
    /// accepted. The network keeps W on 64-byte lines: its first value on one and,
    /// rows of 64 f64 (128 f32) and more, each row, the stride padded to whole lines
    /// (narrower rows packed: their padding would cost up to 8× the memory). W is
    /// copied so unless it is laid out so already, or is row-major and over 16 MiB (kept
    /// as given, its memory not briefly doubled). A network of at most 256 KiB of
    /// weights also keeps Wᵀ of each layer at least 32 wide, which the HVP's tangent
    /// sweep reads (see [`hvp`](Self::hvp)). Errors with [`Error::TooLarge`] where a
    /// copy does not fit.
    ///
    /// ```
    /// use fwdrev::{Activation::Sigmoid, Mlp};
    /// use ndarray::array;
    /// let net = Mlp::new([(array![[1.0, -1.0]], Sigmoid), (array![[2.0]], Sigmoid)])?;
    /// assert_eq!(net.widths(), [2, 1, 1]);
    /// # Ok::<(), fwdrev::Error>(())
    /// ```
    pub fn new<L: Into<Layer<T>>>(layers: impl IntoIterator<Item = L>) -> Result<Self> {
        let layers: Vec<Layer<T>> = layers.into_iter().map(Into::into).collect();
        if layers.is_empty() {
            return Err(Error::EmptyDimension {
                what: "the number of layers",
            });
        }
        for (k, layer) in layers.iter().enumerate() {
            let w = &layer.weights;
            if w.nrows() == 0 || w.ncols() == 0 {
                return Err(Error::Shape {
                    what: format!("layer {}'s weights must not be empty", k + 1),
                    expected: "at least 1 row and 1 column".into(),
                    got: tuple(w.shape()),
                });
            }
            if k > 0 && w.ncols() != layers[k - 1].weights.nrows() {
                let prev = &layers[k - 1].weights;
                return Err(Error::Shape {
                    what: format!("layer {}'s columns must equal layer {}'s rows", k + 1, k),
                    expected: format!("({}, {})", w.nrows(), prev.nrows()),
                    got: format!("{} after {}", tuple(w.shape()), tuple(prev.shape())),
                });
            }
            if let Some(b) = &layer.bias {
                check_shape(
                    format!(
                        "layer {}'s bias must have one entry per row of its weights",
                        k + 1
                    ),
                    b.shape(),
                    &[w.nrows()],
                )?;
            }
            // The index names the layer (from 1), then row and column.
            check_layer("the weights (layer, row, column)", k + 1, w.view())?;
            if let Some(b) = &layer.bias {
                check_layer("the biases (layer, row)", k + 1, b.view())?;
            }
        }
        Mlp::from_valid(layers)
    }

    /// Layers already checked.
    fn from_valid(layers: Vec<Layer<T>>) -> Result<Self> {
        let values = layers
            .iter()
            .fold(0_usize, |n, l| n.saturating_add(l.weights.len()));
        let small = values.saturating_mul(std::mem::size_of::<T>()) <= COLUMNS_MAX;
        let layers: Vec<Layer<T>> = layers
            .into_iter()
            .map(|l| {
                let norm = l.weights.rows().into_iter().fold(0.0_f64, |m, r| {
                    m.max(r.iter().map(|v| v.as_f64().abs()).sum::<f64>())
                });
                let norm_1 = l.weights.columns().into_iter().fold(0.0_f64, |m, c| {
                    m.max(c.iter().map(|v| v.as_f64().abs()).sum::<f64>())
                });
                let weight_min = l
                    .weights
                    .iter()
                    .map(|v| v.as_f64().abs())
                    .filter(|&v| v > 0.0)
                    .fold(f64::INFINITY, f64::min);
                let bias = l.bias.map(|b| b.as_standard_layout().into_owned());
                let bias_max = bias
                    .iter()
                    .flatten()
                    .fold(0.0_f64, |m, v| m.max(v.as_f64().abs()));
                let columns = match small && l.weights.nrows() >= COLUMNS_MIN_ROWS {
                    true => Some(memory::copy_on_lines(l.weights.t())?),
                    false => None,
                };
                Ok(Layer {
                    weights: lined_up(l.weights)?,
                    bias,
                    activation: l.activation,
                    norm,
                    bias_max,
                    norm_1,
                    weight_min,
                    columns,
                })
            })
            .collect::<Result<_>>()?;
        let offsets = std::iter::once(0)
            .chain(layers.iter().scan(0, |s, l| {
                *s += l.weights.nrows();
                Some(*s)
            }))
            .collect();
        let transposed = reverse::transposed_len(&layers);
        Ok(Mlp {
            layers,
            offsets,
            transposed,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            calibration: Calibration::stored(),
            par: Par::default(),
            pool: Mutex::default(),
            plans: Default::default(),
        })
    }

    /// Layers of the given widths d0, d1, …, dL, all with `activation`, no biases,
    /// weights standard normal from `seed`: row i of W_k comes from ChaCha8 stream
    /// (k−1)·2³² + i, each value drawn in f64 and rounded to T, so the same seed gives the
    /// same matrices on every run, backend and thread count, and the f32 network is the
    /// f64 one rounded. Refuses, before allocating, weights beyond the available memory.
    ///
    /// ```
    /// use fwdrev::{Activation, Mlp};
    /// // The seed problem: f(x) = Σσ(B·σ(A·x)), A 105×100, B 95×105.
    /// let net = Mlp::<f64>::from_seed(&[100, 105, 95], Activation::Sigmoid, 42)?;
    /// assert_eq!(net.layers()[1].weights().dim(), (95, 105));
    /// # Ok::<(), fwdrev::Error>(())
    /// ```
    pub fn from_seed(widths: &[usize], activation: Activation, seed: u64) -> Result<Self> {
        check_widths(widths)?;
        let size = std::mem::size_of::<T>();
        let bytes = widths.windows(2).try_fold(0u64, |n, w| {
            bytes_of(&[w[1], memory::line_stride(w[0], size)], size).and_then(|b| n.checked_add(b))
        });
        ensure_fits(
            || format!("weights of widths {widths:?} in {}", T::NAME),
            bytes,
        )?;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                // On lines from the start: no copy at any size.
                let mut weights = memory::zeros_on_lines(w[1], w[0])?;
                fill_standard_normal(weights.view_mut(), seed, (k as u64) << 32);
                Ok(Layer::new(weights, activation))
            })
            .collect::<Result<_>>()?;
        Mlp::from_valid(layers)
    }

    /// Sets the extra memory that forward mode, Jacobians and Hessians may use for their
    /// panels, all they hold counted (bytes; default [`DEFAULT_MEMORY_BUDGET`]).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self.plans = Default::default();
        self.release_scratch();
        self
    }

    /// The panel budget in bytes.
    pub fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    /// Sets the machine speeds [`Mode::Auto`] plans with (default:
    /// [`Calibration::stored`]; [`Calibration::measure`] times this machine).
    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = calibration;
        self.plans = Default::default();
        self
    }

    /// The speeds [`Mode::Auto`] plans with.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Sets how the plain calls run their own loops (default [`Par::Rayon`]); the
    /// `_into` calls take theirs as an argument.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// How the plain calls run their own loops.
    pub fn par(&self) -> Par {
        self.par
    }

    /// The layers, first (input side) first.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// The widths d0, d1, …, dL.
    pub fn widths(&self) -> Vec<usize> {
        (0..=self.depth()).map(|k| self.width(k)).collect()
    }

    /// L, the number of layers.
    pub(crate) fn depth(&self) -> usize {
        self.layers.len()
    }

    /// d_k (d0: the inputs).
    pub(crate) fn width(&self, k: usize) -> usize {
        match k {
            0 => self.layers[0].weights.ncols(),
            _ => self.layers[k - 1].weights.nrows(),
        }
    }

    /// `offsets[k] = d_1 + … + d_k`.
    pub(crate) fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// Scratch of any layer's W_kᵀ·ḡ_k ([`reverse::transposed_len`] of the layers).
    pub(crate) fn transposed_len(&self) -> usize {
        self.transposed
    }

    /// The bracketing of the Jacobian chain that `mode` computes, with its predicted
    /// cost and panels on this network's widths, calibration and memory budget (made on
    /// the first call for each mode, kept until a setting changes).
    pub fn plan(&self, mode: Mode) -> Plan {
        let i = Mode::ALL
            .iter()
            .position(|&m| m == mode)
            .expect("every mode");
        self.plans[i]
            .get_or_init(|| {
                Plan::checked(
                    &self.widths(),
                    mode,
                    &self.calibration,
                    std::mem::size_of::<T>(),
                    self.memory_budget,
                )
            })
            .clone()
    }

    /// Values of T that `call` carves from its [`Scratch`]: with at least this many,
    /// the matrix-vector calls allocate nothing (see [`Scratch`]). Errors as the call
    /// would when its panels cannot fit the memory budget, or a plan is not this
    /// network's.
    pub fn scratch_len(&self, call: Call) -> Result<usize> {
        let (input, out) = (self.width(0), self.width(self.depth()));
        let budget = self.memory_budget;
        let sweep = primal::Sweep::len(self);
        let fused = reverse::Fused::<T>::len(self.width(self.depth() - 1));
        let own = match call {
            Call::Output => sweep + padded::<T>(out),
            Call::Value => sweep + fused,
            Call::Grad(Mode::Forward) => {
                forward::grad_scratch_len(self, budget)? + padded::<T>(input)
            }
            Call::Grad(Mode::Reverse | Mode::Auto) => {
                reverse::scratch_len(self) + padded::<T>(input)
            }
            Call::Vjp => reverse::scratch_len(self) + padded::<T>(out) + padded::<T>(input),
            Call::Jvp => forward::jvp_scratch_len(self) + padded::<T>(out),
            Call::Hvp => hessian::hvps_scratch_len(self, 1),
            Call::Jacobian(plan) => {
                self.check_plan(plan)?;
                jacobian::scratch_len(self, plan, budget)?
            }
            Call::Hessian => hessian::hessian_scratch_len(self, budget, self.width(0))?,
            Call::HvpMany(k) => hessian::hessian_scratch_len(self, budget, k.max(1))?,
            Call::HessianAt => crate::hessian_at::scratch_len(self),
            Call::WeightGrads => reverse::weight_grads_scratch_len(self),
            Call::Batch(k) => batch::scratch_len(self, k),
        };
        // A copy of a strided x.
        Ok(own + padded::<T>(input))
    }

    /// Frees the pooled scratch of plain calls (forward mode's holds up to the memory
    /// budget).
    pub fn release_scratch(&self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Runs `f` with scratch taken from the pool (or made), then returns it.
    pub(crate) fn pooled<R>(&self, f: impl FnOnce(&mut Scratch<T>) -> R) -> R {
        let taken = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut scratch = taken.unwrap_or_default();
        let r = f(&mut scratch);
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scratch);
        r
    }

    /// A plain call with two vector results: allocates them, and runs the `_into` call
    /// `into` with pooled scratch.
    fn two_vectors(
        &self,
        [m, n]: [usize; 2],
        into: impl FnOnce(ArrayViewMut1<T>, ArrayViewMut1<T>, &mut Scratch<T>) -> Result<()>,
    ) -> Result<(Array1<T>, Array1<T>)> {
        let (mut p, mut q) = (Array1::zeros(m), Array1::zeros(n));
        self.pooled(|s| into(p.view_mut(), q.view_mut(), s))?;
        Ok((p, q))
    }

    /// Errors unless `plan` was made for this network's widths (without allocating).
    fn check_plan(&self, plan: &Plan) -> Result<()> {
        let w = plan.widths();
        if w.len() == self.depth() + 1 && (0..=self.depth()).all(|k| w[k] == self.width(k)) {
            return Ok(());
        }
        check_shape(
            "the plan must be made for this network's widths",
            w,
            &self.widths(),
        )
    }

    /// Errors unless `x` has d0 finite entries.
    pub(crate) fn check_input(&self, what: &'static str, x: ArrayView1<T>) -> Result<()> {
        let what_shape = Lazy(|f: &mut std::fmt::Formatter<'_>| {
            write!(
                f,
                "{what} must have one entry per input (column of the first weights)"
            )
        });
        check_shape(what_shape, x.shape(), &[self.width(0)])?;
        check_finite(what, x)
    }

    /// Checks the inputs and `out`'s length, takes the call's scratch, makes x
    /// contiguous, and runs `body` under `par`.
    fn run<'s, R: Send>(
        &self,
        call: Call,
        x: ArrayView1<T>,
        par: Par,
        scratch: &'s mut Scratch<T>,
        body: impl for<'v> FnOnce(ArrayView1<'v, T>, &mut Stack<'s, T>) -> Result<R> + Send,
    ) -> Result<R> {
        self.check_input("x", x)?;
        let need = self.scratch_len(call)?;
        let mut stack = scratch.stack(need)?;
        par.install(move || {
            let x = contiguous(x, &mut stack);
            body(x, &mut stack)
        })
    }
}

/// The calls.
impl<T: Real> Mlp<T> {
    /// The vector output F(x) = φ_L(y_L) (d_L entries).
    pub fn output(&self, x: ArrayView1<T>) -> Result<Array1<T>> {
        let mut out = Array1::zeros(self.width(self.depth()));
        self.pooled(|s| self.output_into(x, out.view_mut(), self.par, s))?;
        Ok(out)
    }

    /// [`output`](Self::output) into `out`, with the caller's scratch and [`Par`].
    pub fn output_into(
        &self,
        x: ArrayView1<T>,
        mut out: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        check_shape("F's output", out.shape(), &[self.width(self.depth())])?;
        self.run(Call::Output, x, par, scratch, |x, stack| {
            let (len, xs) = (out.len(), x.as_slice().expect("contiguous"));
            let buf = stack.take(len);
            let mut sweep = primal::Sweep::carve(self, stack);
            guarded(
                &self.layers,
                par,
                x,
                Terms::FIRST,
                &mut out,
                |out| {
                    primal::output(self, par, xs, &mut sweep, buf);
                    out.assign(&ArrayView1::from(&*buf));
                    Ok(())
                },
                |_, out, trust| trust.all(out.view()),
                |_, out, wide, _| out.assign(&wide.output()),
            )
        })
    }

    /// f(x) = Σ_i F_i(x).
    pub fn value(&self, x: ArrayView1<T>) -> Result<T> {
        self.pooled(|s| self.value_into(x, self.par, s))
    }

    /// [`value`](Self::value) with the caller's scratch and [`Par`].
    pub fn value_into(&self, x: ArrayView1<T>, par: Par, scratch: &mut Scratch<T>) -> Result<T> {
        self.run(Call::Value, x, par, scratch, |x, stack| {
            let xs = x.as_slice().expect("contiguous");
            let mut sweep = primal::Sweep::carve(self, stack);
            let mut fused = reverse::Fused::carve(self.width(self.depth() - 1), stack);
            guarded(
                &self.layers,
                par,
                x,
                Terms::FIRST,
                &mut (),
                |_| Ok(primal::value(self, par, xs, &mut sweep, &mut fused)),
                |&f, _, trust| trust.entry(f),
                |_, _, wide, _| wide.value(),
            )
        })
    }

    /// (f(x), ∇f(x)), with ∇f accumulated in the given mode ([`Mode::Auto`] is reverse
    /// mode: for a scalar output it is the cheapest bracketing). Every mode gives the
    /// same gradient up to rounding.
    pub fn value_and_grad(&self, x: ArrayView1<T>, mode: Mode) -> Result<(T, Array1<T>)> {
        let mut grad = Array1::zeros(self.width(0));
        let f = self.pooled(|s| self.value_and_grad_into(x, mode, grad.view_mut(), self.par, s))?;
        Ok((f, grad))
    }

    /// f(x), with ∇f(x) written into `grad` (d0), with the caller's scratch and [`Par`].
    pub fn value_and_grad_into(
        &self,
        x: ArrayView1<T>,
        mode: Mode,
        mut grad: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<T> {
        check_shape(
            "grad must have one entry per input",
            grad.shape(),
            &[self.width(0)],
        )?;
        self.run(Call::Grad(mode), x, par, scratch, |x, stack| {
            let xs = x.as_slice().expect("contiguous");
            // A strided gradient is computed in scratch first: the same sums, so the
            // same bits, whatever the output's layout.
            let mut own = ArrayViewMut1::from(stack.take(self.width(0)));
            let strided = grad.as_slice().is_none();
            let mut out = if strided {
                own.view_mut()
            } else {
                grad.view_mut()
            };
            let f = guarded(
                &self.layers,
                par,
                x,
                Terms::FIRST,
                &mut out,
                |g| match mode {
                    Mode::Forward => forward::value_and_grad(
                        self,
                        par,
                        xs,
                        self.memory_budget,
                        g.view_mut(),
                        stack,
                    ),
                    Mode::Reverse | Mode::Auto => {
                        Ok(reverse::value_and_grad(self, par, xs, g.view_mut(), stack))
                    }
                },
                |&f, g, trust| trust.entry(f) && trust.all(g.view()),
                |_, g, wide, _| {
                    g.assign(&wide.grad());
                    wide.value()
                },
            )?;
            if strided {
                grad.assign(&own);
            }
            Ok(f)
        })
    }

    /// (F(x), J(x)·v): the Jacobian of the vector output times v, in one forward sweep
    /// reading each W_k once for the value and the tangent, like `jax.jvp` and
    /// `torch.func.jvp`.
    pub fn jvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let d_out = self.width(self.depth());
        self.two_vectors([d_out, d_out], |p, q, s| {
            self.jvp_into(x, v, p, q, self.par, s)
        })
    }

    /// [`jvp`](Self::jvp) into `out` and `jv` (d_L each), with the caller's scratch and
    /// [`Par`].
    pub fn jvp_into(
        &self,
        x: ArrayView1<T>,
        v: ArrayView1<T>,
        out: ArrayViewMut1<T>,
        jv: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        self.check_input("v", v)?;
        let d_out = self.width(self.depth());
        check_shape("F's output", out.shape(), &[d_out])?;
        check_shape("J·v", jv.shape(), &[d_out])?;
        self.run(Call::Jvp, x, par, scratch, |x, stack| {
            let buf = stack.take(d_out);
            guarded(
                &self.layers,
                par,
                x,
                Terms::along(1, v),
                &mut (out, jv),
                |(out, jv)| {
                    forward::jvp(self, par, x, v, buf, jv.view_mut(), stack);
                    out.assign(&ArrayView1::from(&*buf));
                    Ok(())
                },
                |_, (out, jv), trust| trust.all(out.view()) && trust.all(jv.view()),
                |_, (out, jv), wide, _| {
                    out.assign(&wide.output());
                    jv.assign(&wide.jvp(v));
                },
            )
        })
    }

    /// (F(x), uᵀ·J(x)): the vector-Jacobian product in one reverse sweep, like
    /// `jax.vjp` and `torch.func.vjp`. u has d_L entries.
    pub fn vjp(&self, x: ArrayView1<T>, u: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let lens = [self.width(self.depth()), self.width(0)];
        self.two_vectors(lens, |p, q, s| self.vjp_into(x, u, p, q, self.par, s))
    }

    /// [`vjp`](Self::vjp) into `out` (d_L) and `uj` (d0), with the caller's scratch and
    /// [`Par`].
    pub fn vjp_into(
        &self,
        x: ArrayView1<T>,
        u: ArrayView1<T>,
        out: ArrayViewMut1<T>,
        mut uj: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        let d_out = self.width(self.depth());
        check_shape("u must have one entry per output", u.shape(), &[d_out])?;
        check_finite("u", u)?;
        check_shape("F's output", out.shape(), &[d_out])?;
        check_shape("uᵀ·J", uj.shape(), &[self.width(0)])?;
        self.run(Call::Vjp, x, par, scratch, |x, stack| {
            let (xs, buf) = (x.as_slice().expect("contiguous"), stack.take(d_out));
            // uᵀ·J in scratch: the same bits whatever `uj`'s layout.
            let mut own = ArrayViewMut1::from(stack.take(self.width(0)));
            guarded(
                &self.layers,
                par,
                x,
                Terms::along(1, u),
                &mut (out, &mut own),
                |(out, uj)| {
                    reverse::vjp(self, par, xs, u, buf, uj.view_mut(), stack);
                    out.assign(&ArrayView1::from(&*buf));
                    Ok(())
                },
                |_, (out, uj), trust| trust.all(out.view()) && trust.all(uj.view()),
                |_, (out, uj), wide, _| {
                    out.assign(&wide.output());
                    uj.assign(&wide.vjp(u));
                },
            )?;
            uj.assign(&own);
            Ok(())
        })
    }

    /// (∇f(x), ∇²f(x)·v): the Hessian-vector product by forward-over-reverse (the
    /// reverse sweep differentiated along v), about twice a gradient's cost.
    ///
    /// On a network of at most 256 KiB of weights its tangent sweep multiplies by the
    /// kept Wᵀ of the layers at least 32 wide ([`new`](Self::new)), each entry a sum in
    /// row order, where other calls sum dot products by lanes: its ∇f agrees with
    /// [`value_and_grad`](Self::value_and_grad)'s to rounding, not always to the bit.
    pub fn hvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        let d0 = self.width(0);
        self.two_vectors([d0, d0], |p, q, s| self.hvp_into(x, v, p, q, self.par, s))
    }

    /// [`hvp`](Self::hvp) into `grad` and `hv` (d0 each), with the caller's scratch and
    /// [`Par`].
    pub fn hvp_into(
        &self,
        x: ArrayView1<T>,
        v: ArrayView1<T>,
        grad: ArrayViewMut1<T>,
        hv: ArrayViewMut1<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        self.check_input("v", v)?;
        let d0 = self.width(0);
        check_shape("grad must have one entry per input", grad.shape(), &[d0])?;
        check_shape("∇²f·v", hv.shape(), &[d0])?;
        self.run(Call::Hvp, x, par, scratch, |x, stack| {
            guarded(
                &self.layers,
                par,
                x,
                Terms::along(2, v),
                &mut (grad, hv),
                |(grad, hv)| {
                    let hv = hv.view_mut().insert_axis(ndarray::Axis(1));
                    let v = v.insert_axis(ndarray::Axis(1));
                    hessian::hvps(self, par, x, v, grad.view_mut(), hv, stack);
                    Ok(())
                },
                |_, (g, hv), trust| trust.all(g.view()) && trust.all(hv.view()),
                |_, (grad, hv), wide, _| {
                    grad.assign(&wide.grad());
                    hv.assign(&wide.hvp(v));
                },
            )
        })
    }

    /// The d_L×d0 Jacobian of the vector output F at x, by the bracketing `mode` picks
    /// (forward: from the input side, reverse: from the output side, auto: the cheapest
    /// by [`plan`](Self::plan)), in panels of J's columns or rows within the memory
    /// budget (an error names the numbers when not even one fits).
    pub fn jacobian(&self, x: ArrayView1<T>, mode: Mode) -> Result<Array2<T>> {
        self.jacobian_with_plan(x, &self.plan(mode))
    }

    /// [`jacobian`](Self::jacobian) by a given plan (one of this network's).
    pub fn jacobian_with_plan(&self, x: ArrayView1<T>, plan: &Plan) -> Result<Array2<T>> {
        let mut jac = zeros("the Jacobian", (self.width(self.depth()), self.width(0)))?;
        self.pooled(|s| self.jacobian_into(x, plan, jac.view_mut(), self.par, s))?;
        Ok(jac)
    }

    /// [`jacobian_with_plan`](Self::jacobian_with_plan) into `jac` (d_L×d0), with the
    /// caller's scratch and [`Par`].
    pub fn jacobian_into(
        &self,
        x: ArrayView1<T>,
        plan: &Plan,
        mut jac: ArrayViewMut2<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        self.check_plan(plan)?;
        let (d_out, d0) = (self.width(self.depth()), self.width(0));
        check_shape("the Jacobian", jac.shape(), &[d_out, d0])?;
        self.run(Call::Jacobian(plan), x, par, scratch, |x, stack| {
            let xs = x.as_slice().expect("contiguous");
            let budget = self.memory_budget;
            guarded(
                &self.layers,
                par,
                x,
                Terms::FIRST,
                &mut jac,
                |j| jacobian::jacobian(self, par, xs, plan, budget, j.view_mut(), stack),
                |_, j, trust| trust.all(j.view()),
                |ran, j, wide, trust| {
                    if ran.is_none() {
                        j.fill(T::nan());
                    }
                    // Entries not kept (all of them where the fast pass did not run): their rows by wide VJPs or their columns by wide JVPs,
                    // whichever are fewer.
                    let bad = |a: ArrayView1<T>| !trust.all(a.view());
                    let rows: Vec<usize> = (0..d_out).filter(|&i| bad(j.row(i))).collect();
                    let cols: Vec<usize> = (0..d0).filter(|&c| bad(j.column(c))).collect();
                    if rows.len() <= cols.len() {
                        for i in rows {
                            j.row_mut(i).assign(&wide.vjp(unit(d_out, i).view()));
                        }
                    } else {
                        for c in cols {
                            j.column_mut(c).assign(&wide.jvp(unit(d0, c).view()));
                        }
                    }
                },
            )
        })
    }

    /// The full d0×d0 Hessian ∇²f(x): Hessian-vector products with the columns of I, in
    /// panels within the memory budget (each panel's products share one sweep).
    pub fn hessian(&self, x: ArrayView1<T>) -> Result<Array2<T>> {
        let d0 = self.width(0);
        let mut h = zeros("the Hessian", (d0, d0))?;
        self.pooled(|s| self.hessian_into(x, h.view_mut(), self.par, s))?;
        Ok(h)
    }

    /// [`hessian`](Self::hessian) into `h` (d0×d0), with the caller's scratch and
    /// [`Par`].
    pub fn hessian_into(
        &self,
        x: ArrayView1<T>,
        mut h: ArrayViewMut2<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        let d0 = self.width(0);
        check_shape("the Hessian", h.shape(), &[d0, d0])?;
        self.run(Call::Hessian, x, par, scratch, |x, stack| {
            let budget = self.memory_budget;
            guarded(
                &self.layers,
                par,
                x,
                Terms::SECOND,
                &mut h,
                |h| hessian::hessian_times(self, par, x, None, budget, h.view_mut(), stack),
                |_, h, trust| trust.all(h.view()),
                |ran, h, wide, trust| {
                    if ran.is_none() {
                        h.fill(T::nan());
                    }
                    // Columns not kept (all of them on the wide path).
                    for c in 0..d0 {
                        if !trust.all(h.column(c).view()) {
                            h.column_mut(c).assign(&wide.hvp(unit(d0, c).view()));
                        }
                    }
                },
            )
        })
    }

    /// ∇²f(x)·V for the k columns of V (d0×k): Hessian-vector products in panels that
    /// share their sweeps, so that many directions become matrix products (the
    /// Hessian's machinery, with V in place of I). [`hessian_trace`](Self::hessian_trace)
    /// sends its probes through it.
    pub fn hvp_many(&self, x: ArrayView1<T>, v: ArrayView2<T>) -> Result<Array2<T>> {
        let d0 = self.width(0);
        if v.nrows() != d0 {
            return Err(Error::Shape {
                what: "V must have one row per input (one direction per column)".into(),
                expected: format!("({d0}, k)"),
                got: format!("{:?}", v.shape()),
            });
        }
        check_finite("V", v)?;
        let k = v.ncols();
        let mut out = zeros("the Hessian-vector products", (d0, k))?;
        if k == 0 {
            self.check_input("x", x)?;
            return Ok(out);
        }
        let terms = Terms::along(2, v);
        let (par, budget) = (self.par, self.memory_budget);
        self.pooled(|scratch| {
            self.run(Call::HvpMany(k), x, par, scratch, |x, stack| {
                guarded(
                    &self.layers,
                    par,
                    x,
                    terms,
                    &mut out,
                    |o| hessian::hessian_times(self, par, x, Some(v), budget, o.view_mut(), stack),
                    |_, o, trust| trust.all(o.view()),
                    |ran, o, wide, trust| hessian::redo_columns(ran, o, wide, trust, v),
                )
            })
        })?;
        Ok(out)
    }

    /// f(x) and ∇f with respect to every layer's weights and bias (each shaped like
    /// them), as `f.backward()` fills the parameters' `.grad` in PyTorch.
    pub fn value_and_weight_grads(&self, x: ArrayView1<T>) -> Result<(T, Vec<LayerGrad<T>>)> {
        let mut grads = self.zero_weight_grads()?;
        let f = self.pooled(|s| self.value_and_weight_grads_into(x, &mut grads, self.par, s))?;
        Ok((f, grads))
    }

    /// Zeros shaped like every layer's weights and bias: the `grads` that
    /// [`value_and_weight_grads_into`](Self::value_and_weight_grads_into) fills.
    pub fn zero_weight_grads(&self) -> Result<Vec<LayerGrad<T>>> {
        self.layers
            .iter()
            .map(|l| {
                Ok(LayerGrad {
                    weights: zeros("the weight gradients", l.weights.dim())?,
                    bias: l.bias.as_ref().map(|b| Array1::zeros(b.len())),
                })
            })
            .collect()
    }

    /// [`value_and_weight_grads`](Self::value_and_weight_grads) into `grads` (one per
    /// layer, shaped like its parameters), with the caller's scratch and [`Par`].
    pub fn value_and_weight_grads_into(
        &self,
        x: ArrayView1<T>,
        grads: &mut [LayerGrad<T>],
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<T> {
        check_shape("one gradient per layer", &[grads.len()], &[self.depth()])?;
        for (k, (g, l)) in grads.iter().zip(&self.layers).enumerate() {
            let what = Lazy(|f: &mut std::fmt::Formatter<'_>| {
                write!(f, "layer {}'s weight gradient", k + 1)
            });
            check_shape(what, g.weights.shape(), l.weights.shape())?;
            let want = l.bias.as_ref().map_or(&[][..], |b| b.shape());
            let got = g.bias.as_ref().map_or(&[][..], |b| b.shape());
            let what = Lazy(|f: &mut std::fmt::Formatter<'_>| {
                write!(f, "layer {}'s bias gradient", k + 1)
            });
            check_shape(what, got, want)?;
        }
        self.run(Call::WeightGrads, x, par, scratch, |x, stack| {
            let xs = x.as_slice().expect("contiguous");
            guarded(
                &self.layers,
                par,
                x,
                Terms::FIRST,
                grads,
                |g| Ok(reverse::value_and_weight_grads(self, par, xs, g, stack)),
                // With finite adjoints each entry is one product, rounded as IEEE
                // rounds it (±inf only beyond the type's range); kept if large enough.
                |&(f, adjoints_finite), grads, trust| {
                    let kept = |g: &LayerGrad<T>| {
                        trust.all(g.weights.view()) && g.bias.iter().all(|b| trust.all(b.view()))
                    };
                    trust.entry(f) && adjoints_finite && grads.iter().all(kept)
                },
                |_, grads, wide, _| {
                    for (g, (dw, db)) in grads.iter_mut().zip(wide.weight_grads()) {
                        g.weights.assign(&dw);
                        if let Some(b) = &mut g.bias {
                            b.assign(&db);
                        }
                    }
                    (wide.value(), true)
                },
            )
            .map(|(f, _)| f)
        })
    }

    /// f and ∇f at each of k points, the columns of `xs` (d0×k): returns f (k) and the
    /// gradients as the columns of a d0×k matrix (column-major, so each is contiguous).
    ///
    /// Reverse mode with GEMMs in place of GEMVs. Each column agrees with
    /// [`value_and_grad`](Self::value_and_grad) at that point up to the order of the
    /// sums. Errors on a wrong number of rows, a non-finite entry, or temporaries beyond
    /// available memory.
    pub fn value_and_grad_batch(&self, xs: ArrayView2<T>) -> Result<(Array1<T>, Array2<T>)> {
        let k = xs.ncols();
        let mut f = Array1::zeros(k);
        let mut g = zeros("the batch's gradients", (self.width(0), k).f())?;
        self.pooled(|s| {
            self.value_and_grad_batch_into(xs, f.view_mut(), g.view_mut(), self.par, s)
        })?;
        Ok((f, g))
    }

    /// [`value_and_grad_batch`](Self::value_and_grad_batch) into `f` (k) and `g`
    /// (d0×k), with the caller's scratch and [`Par`].
    pub fn value_and_grad_batch_into(
        &self,
        xs: ArrayView2<T>,
        mut f: ArrayViewMut1<T>,
        mut g: ArrayViewMut2<T>,
        par: Par,
        scratch: &mut Scratch<T>,
    ) -> Result<()> {
        let d0 = self.width(0);
        let k = xs.ncols();
        if xs.nrows() != d0 {
            return Err(Error::Shape {
                what: "X must have one row per input (one point per column)".into(),
                expected: format!("({d0}, k)"),
                got: format!("{:?}", xs.shape()),
            });
        }
        check_finite("X", xs)?;
        check_shape("f at each point", f.shape(), &[k])?;
        check_shape("the gradients", g.shape(), &[d0, k])?;
        if k == 0 {
            // No points: nothing to compute (and BLAS rejects zero leading dimensions).
            return Ok(());
        }
        let need = self.scratch_len(Call::Batch(k))?;
        let mut stack = scratch.stack(need)?;
        par.install(|| {
            batch::values_and_grads(self, par, xs, f.view_mut(), g.view_mut(), &mut stack);
            // Points the fast pass cannot be trusted with, one by one.
            for (j, x) in xs.columns().into_iter().enumerate() {
                guarded(
                    &self.layers,
                    par,
                    x,
                    Terms::FIRST,
                    &mut (&mut f[j], g.column_mut(j)),
                    |_| Ok(()),
                    |_, (f, g), trust| trust.entry(**f) && trust.all(g.view()),
                    |_, (f, g), wide, _| {
                        **f = wide.value();
                        g.assign(&wide.grad());
                    },
                )?;
            }
            Ok(())
        })
    }
}

/// e_i, of length n.
fn unit<T: Real>(n: usize, i: usize) -> Array1<T> {
    let mut e = Array1::zeros(n);
    e[i] = T::one();
    e
}
