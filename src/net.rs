//! The network f(x) = Σ σ(B·σ(A·x)): its weights, their validation, seeded construction.

use crate::memory::{bytes_of, ensure_fits};
use crate::random::standard_normal;
use crate::{forward, reverse, Error, Real, Result, Workspace};
use ndarray::{Array1, Array2, ArrayView, ArrayView1, ArrayView2, ArrayViewMut1, Dimension};
use std::sync::Mutex;

/// Extra memory forward mode may use for its column panels unless told otherwise: 1 GiB,
/// so that up to d0 = d1 = d2 ≈ 8000 (f64) forward mode is the card's one GEMM.
///
/// Each extra panel re-reads (and BLAS re-packs) all of B: measured at d = 8000 with
/// OpenBLAS, 16 panels (64 MiB) cost 1.15× one GEMM, one panel 1.0–1.05×.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

/// Which way the Jacobian chain is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// From the input side: dense d2×d0 tangents, O(d0·d1·d2).
    Forward,
    /// From the output side: adjoint vectors only, O(d0·d1 + d1·d2).
    Reverse,
}

impl Mode {
    /// `"forward"` or `"reverse"`, as on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The widths of the network: x ∈ R^d0, A is d1×d0, B is d2×d1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Inputs.
    pub d0: usize,
    /// Hidden units.
    pub d1: usize,
    /// Outputs summed into f.
    pub d2: usize,
}

impl Dims {
    /// Multiply-adds of forward mode's B·(D1·A): d0·d1·d2.
    pub fn forward_flops(&self) -> f64 {
        self.d0 as f64 * self.d1 as f64 * self.d2 as f64
    }
    /// Multiply-adds of reverse mode's four matrix-vector products: 2·(d0·d1 + d1·d2).
    pub fn reverse_flops(&self) -> f64 {
        2.0 * (self.d0 as f64 * self.d1 as f64 + self.d1 as f64 * self.d2 as f64)
    }
    /// Bytes reverse mode must read from memory for values of `size` bytes: A twice
    /// (A·x, Aᵀ·z) and B once (the fused pass), (2·d0·d1 + d1·d2)·size.
    pub fn reverse_bytes(&self, size: usize) -> f64 {
        (2.0 * self.d0 as f64 * self.d1 as f64 + self.d1 as f64 * self.d2 as f64) * size as f64
    }
}

impl std::fmt::Display for Dims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {}, {})", self.d0, self.d1, self.d2)
    }
}

/// f(x) = Σ_i σ(B·σ(A·x))_i with A (d1×d0) and B (d2×d1), over `f32` or `f64`.
///
/// The weights are validated once, at construction: shapes agree, no dimension is 0,
/// every entry is finite. Evaluations then only check x.
#[derive(Debug)]
pub struct Network<T: Real> {
    a: Array2<T>,
    b: Array2<T>,
    memory_budget: usize,
    /// Workspaces of finished plain calls, reused by the next ones (one per concurrent
    /// caller at most): repeated gradients allocate nothing.
    pool: Mutex<Vec<Workspace<T>>>,
}

impl<T: Real> Clone for Network<T> {
    fn clone(&self) -> Self {
        Network {
            a: self.a.clone(),
            b: self.b.clone(),
            memory_budget: self.memory_budget,
            pool: Mutex::default(),
        }
    }
}

impl<T: Real> Network<T> {
    /// A network from its weights. Errors name the shapes when B's columns ≠ A's rows,
    /// a dimension is 0, or an entry is NaN or infinite. Any memory order is accepted;
    /// the matrices are stored row-major.
    pub fn new(a: Array2<T>, b: Array2<T>) -> Result<Self> {
        let ((d1, d0), (d2, d1b)) = (a.dim(), b.dim());
        if d1b != d1 {
            return Err(Error::Shape {
                what: "B's columns must equal A's rows".into(),
                expected: format!("B of shape ({d2}, {d1})"),
                got: format!("A of shape ({d1}, {d0}) and B of shape ({d2}, {d1b})"),
            });
        }
        for (what, d) in [
            ("d0 (columns of A)", d0),
            ("d1 (rows of A)", d1),
            ("d2 (rows of B)", d2),
        ] {
            if d == 0 {
                return Err(Error::EmptyDimension { what });
            }
        }
        check_finite("A", a.view())?;
        check_finite("B", b.view())?;
        // Row-major arrays are kept as they are: a copy would briefly double the
        // memory of the weights (1 GiB at d = 8000).
        let row_major = |m: Array2<T>| {
            if m.is_standard_layout() {
                m
            } else {
                m.as_standard_layout().into_owned()
            }
        };
        Ok(Network {
            a: row_major(a),
            b: row_major(b),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            pool: Mutex::default(),
        })
    }

    /// A network with standard-normal weights drawn from `seed`.
    ///
    /// Row i of A comes from ChaCha8 stream i, row i of B from stream 2³² + i, each value
    /// drawn in f64 and rounded to T: the same seed gives the same matrices on every run,
    /// backend and thread count, and the f32 network is the f64 one rounded. Refuses,
    /// before allocating, sizes that would not fit in the machine's available memory.
    pub fn from_seed(d0: usize, d1: usize, d2: usize, seed: u64) -> Result<Self> {
        for (what, d) in [("d0", d0), ("d1", d1), ("d2", d2)] {
            if d == 0 {
                return Err(Error::EmptyDimension { what });
            }
        }
        let size = std::mem::size_of::<T>();
        let bytes = bytes_of(&[d1, d0], size)
            .zip(bytes_of(&[d2, d1], size))
            .and_then(|(p, q)| p.checked_add(q));
        ensure_fits(
            || format!("A ({d1}×{d0}) and B ({d2}×{d1}) in {}", T::NAME),
            bytes,
        )?;
        let a = standard_normal(d1, d0, seed, 0);
        let b = standard_normal(d2, d1, seed, 1 << 32);
        Network::new(a, b)
    }

    /// Sets the extra memory forward mode may use for its panels (bytes); see
    /// [`forward`](crate::forward) for how the panel width follows from it.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self.release_workspaces();
        self
    }

    /// The forward-mode panel budget in bytes.
    pub fn memory_budget(&self) -> usize {
        self.memory_budget
    }

    /// The widths (d0, d1, d2).
    pub fn dims(&self) -> Dims {
        Dims {
            d0: self.a.ncols(),
            d1: self.a.nrows(),
            d2: self.b.nrows(),
        }
    }

    /// The first weight matrix A (d1×d0).
    pub fn a(&self) -> ArrayView2<'_, T> {
        self.a.view()
    }

    /// The second weight matrix B (d2×d1).
    pub fn b(&self) -> ArrayView2<'_, T> {
        self.b.view()
    }

    /// f(x) = Σ σ(B·σ(A·x)).
    pub fn value(&self, x: ArrayView1<T>) -> Result<T> {
        self.check_x(x)?;
        Ok(self.with_pooled(|ws| crate::primal::evaluate(self.a(), self.b(), x, ws)))
    }

    /// (f(x), ∇f(x)), with ∇f accumulated in the given mode. Both modes give the same
    /// gradient up to rounding; reverse mode is the fast one. Temporaries come from a
    /// pool inside the network, so repeated calls allocate only the returned gradient.
    pub fn value_and_grad(&self, x: ArrayView1<T>, mode: Mode) -> Result<(T, Array1<T>)> {
        let mut grad = Array1::zeros(self.a.ncols());
        let f = self.with_pooled(|ws| self.value_and_grad_with(x, mode, ws, grad.view_mut()))?;
        Ok((f, grad))
    }

    /// f(x), with ∇f(x) written into `grad` (d0), using the caller's workspace: no
    /// allocation at all once `ws` has served one call in each mode.
    pub fn value_and_grad_with(
        &self,
        x: ArrayView1<T>,
        mode: Mode,
        ws: &mut Workspace<T>,
        grad: ArrayViewMut1<T>,
    ) -> Result<T> {
        self.check_x(x)?;
        let dims = self.dims();
        if ws.dims() != dims {
            return Err(Error::Shape {
                what: "the workspace must be made for this network".into(),
                expected: format!("{dims}"),
                got: format!("{}", ws.dims()),
            });
        }
        if grad.len() != dims.d0 {
            return Err(Error::Shape {
                what: "grad must have one entry per column of A".into(),
                expected: format!("({},)", dims.d0),
                got: format!("({},)", grad.len()),
            });
        }
        match mode {
            Mode::Forward => {
                forward::value_and_grad(self.a(), self.b(), x, self.memory_budget, ws, grad)
            }
            Mode::Reverse => Ok(reverse::value_and_grad(self.a(), self.b(), x, ws, grad)),
        }
    }

    /// f and ∇f at each of k points, the columns of `x` (d0×k): returns f (k) and the
    /// gradients as the columns of a d0×k matrix (column-major, so each is contiguous).
    ///
    /// Reverse mode with GEMMs in place of GEMVs (see [`batch`](crate::batch)): at
    /// d = 8000 and k = 64 a point costs 0.09–0.12× a single-point gradient (measured).
    /// Each column agrees with [`value_and_grad`](Self::value_and_grad) at that point up to
    /// the order of the sums (tested to 1e-13 relative on well-conditioned cases; see
    /// the README on conditioning). Errors on a wrong number of rows, a non-finite
    /// entry, or temporaries, (2·d1 + d2 + d0)·k values, beyond available memory.
    pub fn value_and_grad_batch(&self, x: ArrayView2<T>) -> Result<(Array1<T>, Array2<T>)> {
        let Dims { d0, d1, d2 } = self.dims();
        if x.nrows() != d0 {
            return Err(Error::Shape {
                what: "X must have one row per column of A (one point per column)".into(),
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
        ensure_fits(
            || {
                format!(
                    "batch temporaries (2·{d1} + {d2} + {d0}) × {k} in {}",
                    T::NAME
                )
            },
            bytes_of(&[2 * d1 + d2 + d0, k], std::mem::size_of::<T>()),
        )?;
        // One layout for X (d0×k values, a small copy at most): GEMM kernels may round
        // differently by layout, and the result should not depend on it.
        let x = x.as_standard_layout();
        Ok(crate::batch::values_and_grads(self.a(), self.b(), x.view()))
    }

    /// A workspace for [`value_and_grad_with`](Self::value_and_grad_with).
    pub fn workspace(&self) -> Workspace<T> {
        Workspace::new(self.dims())
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

    fn check_x(&self, x: ArrayView1<T>) -> Result<()> {
        let d0 = self.a.ncols();
        if x.len() != d0 {
            return Err(Error::Shape {
                what: "x must have one entry per column of A".into(),
                expected: format!("({d0},)"),
                got: format!("({},)", x.len()),
            });
        }
        check_finite("x", x)
    }
}

/// Errors with the first non-finite entry of `a`, in row-major order.
fn check_finite<T: Real, D: Dimension>(what: &'static str, a: ArrayView<T, D>) -> Result<()> {
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
