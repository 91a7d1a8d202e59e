//! The general network F(x) = φ_L(W_L·…φ_1(W_1·x)), f = ΣF: layers, validation, and
//! every derivative the crate computes.

use crate::memory::{bytes_of, ensure_fits};
use crate::plan::{Calibration, Plan};
use crate::random::standard_normal;
use crate::wide::{overflow_limit, Primal};
use crate::{
    forward, hessian, jacobian, reverse, Activation, Error, Mode, Real, Result, Workspace,
};
use ndarray::{Array1, Array2, ArrayView, ArrayView1, ArrayView2, ArrayViewMut1, Dimension};
use std::sync::Mutex;

/// Extra memory forward mode, Jacobians and Hessians may use for their panels unless
/// told otherwise: 1 GiB, so that up to d0 = d1 = d2 ≈ 8000 (f64) forward mode is the
/// card's one GEMM.
///
/// Each extra panel re-reads (and BLAS re-packs) the next weight matrix: measured at
/// d = 8000 with OpenBLAS, 16 panels (64 MiB) cost 1.15× one GEMM, one panel 1.0–1.05×.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

/// One layer: y = W·a, then φ elementwise.
#[derive(Debug, Clone)]
pub struct Layer<T> {
    /// W, d_k × d_{k−1}, row-major.
    pub(crate) weights: Array2<T>,
    /// φ.
    pub(crate) activation: Activation,
    /// ‖W‖_∞ = max_i Σ_j |W_ij| in f64 (+inf if that overflows): bounds every partial
    /// sum of W·a by ‖W‖_∞·max|a|, whatever the summation order.
    pub(crate) norm: f64,
}

impl<T: Real> Layer<T> {
    /// The weights W (d_k × d_{k−1}).
    pub fn weights(&self) -> ArrayView2<'_, T> {
        self.weights.view()
    }

    /// The activation φ.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

/// F(x) = φ_L(W_L·φ_{L−1}(…φ_1(W_1·x))) and its sum f(x) = Σ_i F_i(x), for any depth
/// L ≥ 1, widths d0 … dL and per-layer activation, over `f32` or `f64`.
///
/// The weights are validated once, at construction: each W_k has d_{k−1} columns, no
/// dimension is 0, every entry is finite. Evaluations then only check their vectors.
/// The two-layer sigmoid [`Network`](crate::Network) is this type with two sigmoid
/// layers; both run the same kernels.
///
/// Entries may be as large as the type allows (±f64::MAX): no call returns NaN, and
/// results are finite wherever their exact values are (±inf only beyond the type's
/// range). Each call bounds its forward pass from ‖W_k‖_∞ and max|x|; where a fast pass
/// could overflow, or its result came out non-finite, the call (or only the affected
/// rows or columns) is recomputed in wide-range arithmetic, ~9× slower.
#[derive(Debug)]
pub struct Mlp<T: Real> {
    layers: Vec<Layer<T>>,
    memory_budget: usize,
    calibration: Calibration,
    /// Workspaces of finished plain calls, reused by the next ones (one per concurrent
    /// caller at most): repeated gradients allocate nothing.
    pool: Mutex<Vec<Workspace<T>>>,
}

impl<T: Real> Clone for Mlp<T> {
    fn clone(&self) -> Self {
        Mlp {
            layers: self.layers.clone(),
            memory_budget: self.memory_budget,
            calibration: self.calibration,
            pool: Mutex::default(),
        }
    }
}

impl<T: Real> Mlp<T> {
    /// A network from its layers, (W_k, φ_k) for k = 1 … L, first layer first. Errors
    /// name the layer and the shapes when W_k's columns ≠ W_{k−1}'s rows, when there is
    /// no layer or a dimension is 0, and the entry when one is NaN or infinite. Any
    /// memory order is accepted; row-major matrices are kept without a copy.
    pub fn new(layers: Vec<(Array2<T>, Activation)>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::EmptyDimension {
                what: "the number of layers",
            });
        }
        for (k, (w, _)) in layers.iter().enumerate() {
            if w.nrows() == 0 || w.ncols() == 0 {
                return Err(Error::Shape {
                    what: format!("layer {}'s weights must not be empty", k + 1),
                    expected: "at least 1 row and 1 column".into(),
                    got: format!("{:?}", w.shape()),
                });
            }
            if k > 0 && w.ncols() != layers[k - 1].0.nrows() {
                return Err(Error::Shape {
                    what: format!("layer {}'s columns must equal layer {}'s rows", k + 1, k),
                    expected: format!("({}, {})", w.nrows(), layers[k - 1].0.nrows()),
                    got: format!("{:?} after {:?}", w.shape(), layers[k - 1].0.shape()),
                });
            }
            // The index names the layer (from 1), then row and column.
            check_finite("the weights (layer, row, column)", w.view()).map_err(|e| match e {
                Error::NonFinite { what, index, value } => Error::NonFinite {
                    what,
                    index: [vec![k + 1], index].concat(),
                    value,
                },
                e => e,
            })?;
        }
        Ok(Mlp::from_valid(layers))
    }

    /// Layers already checked by the caller.
    pub(crate) fn from_valid(layers: Vec<(Array2<T>, Activation)>) -> Self {
        // Row-major arrays are kept as they are: a copy would briefly double the
        // memory of the weights (1 GiB at d = 8000).
        let row_major = |m: Array2<T>| {
            if m.is_standard_layout() {
                m
            } else {
                m.as_standard_layout().into_owned()
            }
        };
        Mlp {
            layers: layers
                .into_iter()
                .map(|(w, activation)| {
                    let norm = w.rows().into_iter().fold(0.0_f64, |m, r| {
                        m.max(r.iter().map(|v| v.as_f64().abs()).sum::<f64>())
                    });
                    Layer {
                        weights: row_major(w),
                        activation,
                        norm,
                    }
                })
                .collect(),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            calibration: Calibration::stored::<T>(),
            pool: Mutex::default(),
        }
    }

    /// Layers of the given widths d0, d1, …, dL, all with `activation`, weights standard
    /// normal from `seed`: row i of W_k comes from ChaCha8 stream (k−1)·2³² + i, so the
    /// first two layers are exactly [`Network::from_seed`](crate::Network::from_seed)'s
    /// A and B. Refuses, before allocating, weights beyond the available memory.
    pub fn from_seed(widths: &[usize], activation: Activation, seed: u64) -> Result<Self> {
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
        let size = std::mem::size_of::<T>();
        let bytes = widths.windows(2).try_fold(0u64, |n, w| {
            bytes_of(&[w[1], w[0]], size).and_then(|b| n.checked_add(b))
        });
        ensure_fits(
            || format!("weights of widths {widths:?} in {}", T::NAME),
            bytes,
        )?;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                (
                    standard_normal(w[1], w[0], seed, (k as u64) << 32),
                    activation,
                )
            })
            .collect();
        Ok(Mlp::from_valid(layers))
    }

    /// Sets the extra memory that forward mode, Jacobians and Hessians may use for their
    /// panels (bytes).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self.release_workspaces();
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
        self
    }

    /// The speeds [`Mode::Auto`] plans with.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// The layers, first (input side) first.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// The widths d0, d1, …, dL.
    pub fn widths(&self) -> Vec<usize> {
        self.width_iter().collect()
    }

    /// The widths without allocating: the workspace check runs on every gradient.
    fn width_iter(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.layers[0].weights.ncols())
            .chain(self.layers.iter().map(|l| l.weights.nrows()))
    }

    /// The vector output F(x) = φ_L(y_L) (d_L entries).
    pub fn output(&self, x: ArrayView1<T>) -> Result<Array1<T>> {
        self.check_input("x", x)?;
        if !self.fast_is_safe(x) {
            return Ok(Primal::new(&self.layers, x).output());
        }
        Ok(self.with_pooled(|ws| crate::primal::output(&self.layers, x, ws, None)))
    }

    /// f(x) = Σ_i F_i(x).
    pub fn value(&self, x: ArrayView1<T>) -> Result<T> {
        self.check_input("x", x)?;
        if self.fast_is_safe(x) {
            let f = self.with_pooled(|ws| crate::primal::evaluate(&self.layers, x, ws, false));
            if f.is_finite() {
                return Ok(f);
            }
        }
        Ok(Primal::new(&self.layers, x).value())
    }

    /// (f(x), ∇f(x)), with ∇f accumulated in the given mode ([`Mode::Auto`] is reverse
    /// mode: for a scalar output it is the cheapest bracketing). Every mode gives the
    /// same gradient up to rounding. Temporaries come from a pool inside the network, so
    /// repeated calls allocate only the returned gradient.
    pub fn value_and_grad(&self, x: ArrayView1<T>, mode: Mode) -> Result<(T, Array1<T>)> {
        let mut grad = Array1::zeros(self.layers[0].weights.ncols());
        let f = self.with_pooled(|ws| self.value_and_grad_with(x, mode, ws, grad.view_mut()))?;
        Ok((f, grad))
    }

    /// f(x), with ∇f(x) written into `grad` (d0), using the caller's workspace: no
    /// allocation at all once `ws` has served one call in each mode (except on the
    /// wide-range path, taken only for entries that could overflow).
    pub fn value_and_grad_with(
        &self,
        x: ArrayView1<T>,
        mode: Mode,
        ws: &mut Workspace<T>,
        mut grad: ArrayViewMut1<T>,
    ) -> Result<T> {
        self.check_input("x", x)?;
        if !ws.widths().iter().copied().eq(self.width_iter()) {
            return Err(Error::Shape {
                what: "the workspace must be made for this network".into(),
                expected: format!("widths {:?}", self.widths()),
                got: format!("widths {:?}", ws.widths()),
            });
        }
        let d0 = self.layers[0].weights.ncols();
        if grad.len() != d0 {
            return Err(Error::Shape {
                what: "grad must have one entry per input".into(),
                expected: format!("({d0},)"),
                got: format!("({},)", grad.len()),
            });
        }
        if self.fast_is_safe(x) {
            let f = match mode {
                Mode::Forward => forward::value_and_grad(
                    &self.layers,
                    x,
                    self.memory_budget,
                    ws,
                    grad.view_mut(),
                )?,
                Mode::Reverse | Mode::Auto => {
                    reverse::value_and_grad(&self.layers, x, ws, grad.view_mut())
                }
            };
            if f.is_finite() && all_finite(grad.view()) {
                return Ok(f);
            }
        }
        let p = Primal::new(&self.layers, x);
        grad.assign(&p.grad(&self.layers));
        Ok(p.value())
    }

    /// f and ∇f at each of k points, the columns of `x` (d0×k): returns f (k) and the
    /// gradients as the columns of a d0×k matrix (column-major, so each is contiguous).
    ///
    /// Reverse mode with GEMMs in place of GEMVs (see [`batch`](crate::batch)). Each
    /// column agrees with [`value_and_grad`](Self::value_and_grad) at that point up to
    /// the order of the sums. Errors on a wrong number of rows, a non-finite entry, or
    /// temporaries beyond available memory.
    pub fn value_and_grad_batch(&self, x: ArrayView2<T>) -> Result<(Array1<T>, Array2<T>)> {
        let widths = self.widths();
        let d0 = widths[0];
        if x.nrows() != d0 {
            return Err(Error::Shape {
                what: "X must have one row per input (one point per column)".into(),
                expected: format!("({d0}, k)"),
                got: format!("{:?}", x.shape()),
            });
        }
        check_finite("X", x)?;
        let k = x.ncols();
        if k == 0 {
            // No points: nothing to compute (and BLAS rejects zero leading dimensions).
            return Ok((Array1::zeros(0), Array2::zeros((d0, 0))));
        }
        // Slopes of every layer, one layer's values and its successor, and G.
        let per_point = 2 * widths[1..].iter().sum::<usize>() + d0;
        ensure_fits(
            || format!("batch temporaries {per_point} × {k} in {}", T::NAME),
            bytes_of(&[per_point, k], std::mem::size_of::<T>()),
        )?;
        // One layout for X (d0×k values, a small copy at most): GEMM kernels may round
        // differently by layout, and the result should not depend on it.
        let x = x.as_standard_layout();
        let (mut f, mut g) = crate::batch::values_and_grads(&self.layers, x.view());
        // Points the fast pass cannot be trusted with, one by one on the wide path.
        for (j, x) in x.columns().into_iter().enumerate() {
            if !self.fast_is_safe(x) || !f[j].is_finite() || !all_finite(g.column(j)) {
                let p = Primal::new(&self.layers, x);
                f[j] = p.value();
                g.column_mut(j).assign(&p.grad(&self.layers));
            }
        }
        Ok((f, g))
    }

    /// (F(x), J(x)·v): the Jacobian of the vector output times v, in one forward sweep
    /// (two matrix-vector products per layer, as one GEMM of two columns), like
    /// `jax.jvp` and `torch.func.jvp`.
    pub fn jvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        self.check_input("x", x)?;
        self.check_input("v", v)?;
        if self.fast_is_safe(x) {
            let (out, jv) = forward::jvp(&self.layers, x, v);
            if all_finite(jv.view()) {
                return Ok((out, jv));
            }
        }
        let p = Primal::new(&self.layers, x);
        Ok((p.output(), p.jvp(&self.layers, v)))
    }

    /// (F(x), uᵀ·J(x)): the vector-Jacobian product in one reverse sweep, like
    /// `jax.vjp` and `torch.func.vjp`. u has d_L entries.
    pub fn vjp(&self, x: ArrayView1<T>, u: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        self.check_input("x", x)?;
        let d_out = self.layers[self.layers.len() - 1].weights.nrows();
        if u.len() != d_out {
            return Err(Error::Shape {
                what: "u must have one entry per output".into(),
                expected: format!("({d_out},)"),
                got: format!("({},)", u.len()),
            });
        }
        check_finite("u", u)?;
        if self.fast_is_safe(x) {
            let (out, uj) = self.with_pooled(|ws| reverse::vjp(&self.layers, x, u, ws));
            if all_finite(uj.view()) {
                return Ok((out, uj));
            }
        }
        let p = Primal::new(&self.layers, x);
        Ok((p.output(), p.vjp(&self.layers, u)))
    }

    /// The bracketing of the Jacobian chain that `mode` computes, with its predicted
    /// cost on this network's widths (see [`plan`](crate::plan)).
    pub fn plan(&self, mode: Mode) -> Plan {
        Plan::new(
            &self.widths(),
            mode,
            &self.calibration,
            std::mem::size_of::<T>(),
        )
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
        self.check_input("x", x)?;
        if !plan.widths().iter().copied().eq(self.width_iter()) {
            return Err(Error::Shape {
                what: "the plan must be made for this network".into(),
                expected: format!("widths {:?}", self.widths()),
                got: format!("widths {:?}", plan.widths()),
            });
        }
        let (d_out, d0) = (self.output_width(), self.layers[0].weights.ncols());
        let mut jac = if self.fast_is_safe(x) {
            let jac = jacobian::jacobian(&self.layers, x, plan, self.memory_budget)?;
            if self.chain_is_safe() {
                // Nothing can have overflowed: skip the scan (J may cost little more).
                return Ok(jac);
            }
            jac
        } else {
            to_fill("the Jacobian", d_out, d0)?
        };
        // Entries that overflowed (all of them on the wide path): their rows by wide
        // VJPs or their columns by wide JVPs, whichever are fewer.
        let bad = |a: ArrayView1<T>| !all_finite(a);
        let rows: Vec<usize> = (0..d_out).filter(|&i| bad(jac.row(i))).collect();
        if rows.is_empty() {
            return Ok(jac);
        }
        let cols: Vec<usize> = (0..d0).filter(|&j| bad(jac.column(j))).collect();
        let p = Primal::new(&self.layers, x);
        if rows.len() <= cols.len() {
            for i in rows {
                let e = unit::<T>(d_out, i);
                jac.row_mut(i).assign(&p.vjp(&self.layers, e.view()));
            }
        } else {
            for j in cols {
                let e = unit::<T>(d0, j);
                jac.column_mut(j).assign(&p.jvp(&self.layers, e.view()));
            }
        }
        Ok(jac)
    }

    /// (∇f(x), ∇²f(x)·v): the Hessian-vector product by forward-over-reverse (the
    /// reverse sweep differentiated along v), about twice a gradient's cost.
    pub fn hvp(&self, x: ArrayView1<T>, v: ArrayView1<T>) -> Result<(Array1<T>, Array1<T>)> {
        self.check_input("x", x)?;
        self.check_input("v", v)?;
        if self.fast_is_safe(x) {
            let (g, hv) = hessian::hvps(&self.layers, x, v.insert_axis(ndarray::Axis(1)));
            let hv = hv.index_axis_move(ndarray::Axis(1), 0);
            if all_finite(g.view()) && all_finite(hv.view()) {
                return Ok((g, hv));
            }
        }
        let p = Primal::new(&self.layers, x);
        Ok((p.grad(&self.layers), p.hvp(&self.layers, v)))
    }

    /// The full d0×d0 Hessian ∇²f(x): Hessian-vector products with the columns of I, in
    /// panels within the memory budget (each panel's products share one sweep of GEMMs).
    pub fn hessian(&self, x: ArrayView1<T>) -> Result<Array2<T>> {
        self.check_input("x", x)?;
        let d0 = self.layers[0].weights.ncols();
        let mut h = if self.fast_is_safe(x) {
            hessian::hessian(&self.layers, x, self.memory_budget)?
        } else {
            to_fill("the Hessian", d0, d0)?
        };
        // Columns that overflowed (all of them on the wide path), by wide HVPs.
        let cols: Vec<usize> = (0..d0).filter(|&j| !all_finite(h.column(j))).collect();
        if !cols.is_empty() {
            let p = Primal::new(&self.layers, x);
            for j in cols {
                let e = unit::<T>(d0, j);
                h.column_mut(j).assign(&p.hvp(&self.layers, e.view()));
            }
        }
        Ok(h)
    }

    /// f(x) and ∇_{W_k} f(x) for every layer (each shaped like W_k), as
    /// `f.backward()` fills the weights' `.grad` in PyTorch.
    pub fn value_and_weight_grads(&self, x: ArrayView1<T>) -> Result<(T, Vec<Array2<T>>)> {
        self.check_input("x", x)?;
        let size = std::mem::size_of::<T>();
        let bytes = self.layers.iter().try_fold(0u64, |n, l| {
            bytes_of(&[l.weights.len()], size).and_then(|b| n.checked_add(b))
        });
        ensure_fits(|| "the weight gradients".into(), bytes)?;
        if self.fast_is_safe(x) {
            let (f, grads, adjoints_finite) =
                self.with_pooled(|ws| reverse::value_and_weight_grads(&self.layers, x, ws));
            // With finite adjoints each entry is one product, rounded as IEEE rounds it.
            if f.is_finite() && adjoints_finite {
                return Ok((f, grads));
            }
        }
        let p = Primal::new(&self.layers, x);
        Ok((p.value(), p.weight_grads(&self.layers)))
    }

    /// A workspace for [`value_and_grad_with`](Self::value_and_grad_with).
    pub fn workspace(&self) -> Workspace<T> {
        Workspace::for_widths(&self.widths())
    }

    /// Frees the pooled workspaces of plain calls (forward mode's hold up to the
    /// memory budget each).
    pub fn release_workspaces(&self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Runs `f` with a workspace taken from the pool (or made), then returns it.
    fn with_pooled<R>(&self, f: impl FnOnce(&mut Workspace<T>) -> R) -> R {
        let taken = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut ws = taken.unwrap_or_else(|| self.workspace());
        let r = f(&mut ws);
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
        r
    }

    /// d_L.
    fn output_width(&self) -> usize {
        self.layers[self.layers.len() - 1].weights.nrows()
    }

    /// Whether the fast forward pass cannot overflow at x: every partial sum of
    /// y_k = W_k·a_{k−1}, in any order, is at most ‖W_k‖_∞·max|a_{k−1}|, and
    /// max|a_k| ≤ 1 (sigmoid, tanh), ≤ max|y_k| (ReLU, identity) or ≤ max|y_k| + 1
    /// (softplus). With a margin of 2⁸ for rounding. When this holds, the pre-activations
    /// are right, and an overflow anywhere later (a product of the chain of Jacobians)
    /// can only leave a non-finite result: IEEE ±inf and NaN never turn finite through
    /// sums and products. So every call takes the wide path when this fails or its
    /// result is not finite, and only then.
    fn fast_is_safe(&self, x: ArrayView1<T>) -> bool {
        let limit = overflow_limit::<T>();
        let mut a = x.iter().fold(0.0_f64, |m, v| m.max(v.as_f64().abs()));
        for layer in &self.layers {
            let y = layer.norm * a;
            // NaN (an infinite norm times a zero input) is unsafe too.
            if y.is_nan() || y > limit {
                return false;
            }
            a = match layer.activation {
                Activation::Sigmoid | Activation::Tanh => 1.0,
                Activation::Softplus => y + 1.0,
                Activation::Relu | Activation::Identity => y,
            };
        }
        true
    }

    /// Whether no partial product of the Jacobian chain M_L···M_1 (M_k = diag(φ'_k)·W_k)
    /// can overflow, in any bracketing and summation order: ‖·‖_∞ is submultiplicative
    /// and bounds every entry, so each is at most Π_k max(1, max|φ'_k|·‖W_k‖_∞).
    fn chain_is_safe(&self) -> bool {
        let limit = overflow_limit::<T>();
        let bound = self.layers.iter().fold(1.0_f64, |b, l| {
            let slope = match l.activation {
                Activation::Sigmoid => 0.25,
                _ => 1.0,
            };
            b * (slope * l.norm).max(1.0)
        });
        bound <= limit
    }

    /// Errors unless `x` has d0 finite entries.
    fn check_input(&self, what: &'static str, x: ArrayView1<T>) -> Result<()> {
        let d0 = self.layers[0].weights.ncols();
        if x.len() != d0 {
            return Err(Error::Shape {
                what: format!("{what} must have one entry per input (column of the first weights)"),
                expected: format!("({d0},)"),
                got: format!("({},)", x.len()),
            });
        }
        check_finite(what, x)
    }
}

fn all_finite<T: Real>(a: ArrayView1<T>) -> bool {
    a.iter().all(|v| v.is_finite())
}

/// A rows×cols matrix of NaN for the wide path to fill, if it fits in memory.
fn to_fill<T: Real>(what: &str, rows: usize, cols: usize) -> Result<Array2<T>> {
    ensure_fits(
        || format!("{what} ({rows}×{cols})"),
        bytes_of(&[rows, cols], std::mem::size_of::<T>()),
    )?;
    Ok(Array2::from_elem((rows, cols), T::nan()))
}

/// e_i, of length n.
fn unit<T: Real>(n: usize, i: usize) -> Array1<T> {
    let mut e = Array1::zeros(n);
    e[i] = T::one();
    e
}

/// Errors with the first non-finite entry of `a`, in row-major order.
pub(crate) fn check_finite<T: Real, D: Dimension>(
    what: &'static str,
    a: ArrayView<T, D>,
) -> Result<()> {
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
