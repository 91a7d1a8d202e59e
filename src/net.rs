//! The seed's network f(x) = Σ σ(B·σ(A·x)), a two-layer [`Mlp`], and the modes.

use crate::mlp::check_finite;
use crate::{Activation, Error, Mlp, Real, Result, Workspace};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};

/// Which way the Jacobian chain is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// From the input side: dense d2×d0 tangents, O(d0·d1·d2).
    Forward,
    /// From the output side: adjoint vectors only, O(d0·d1 + d1·d2).
    Reverse,
    /// The cheapest bracketing of the chain, found by dynamic programming on the widths
    /// (see [`plan`](crate::plan)); for a gradient (scalar output) that is reverse mode.
    Auto,
}

impl Mode {
    /// `"forward"`, `"reverse"` or `"auto"`, as on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
            Mode::Auto => "auto",
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
/// every entry is finite. Evaluations then only check x. A thin case of [`Mlp`]: two
/// sigmoid layers, the same kernels; [`mlp`](Self::mlp) gives the general type's
/// Jacobians, Hessians and products.
#[derive(Debug, Clone)]
pub struct Network<T: Real> {
    mlp: Mlp<T>,
}

impl<T: Real> Network<T> {
    /// A network from its weights. Errors name the shapes when B's columns ≠ A's rows,
    /// a dimension is 0, or an entry is NaN or infinite. Any memory order is accepted;
    /// the matrices are stored row-major (row-major ones without a copy).
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
        Ok(Network {
            mlp: Mlp::from_valid(vec![(a, Activation::Sigmoid), (b, Activation::Sigmoid)]),
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
        Ok(Network {
            mlp: Mlp::from_seed(&[d0, d1, d2], Activation::Sigmoid, seed)?,
        })
    }

    /// Sets the extra memory forward mode may use for its panels (bytes); see
    /// [`forward`](crate::forward) for how the panel width follows from it.
    pub fn with_memory_budget(self, bytes: usize) -> Self {
        Network {
            mlp: self.mlp.with_memory_budget(bytes),
        }
    }

    /// The forward-mode panel budget in bytes.
    pub fn memory_budget(&self) -> usize {
        self.mlp.memory_budget()
    }

    /// The widths (d0, d1, d2).
    pub fn dims(&self) -> Dims {
        Dims {
            d0: self.a().ncols(),
            d1: self.a().nrows(),
            d2: self.b().nrows(),
        }
    }

    /// The first weight matrix A (d1×d0).
    pub fn a(&self) -> ArrayView2<'_, T> {
        self.mlp.layers()[0].weights()
    }

    /// The second weight matrix B (d2×d1).
    pub fn b(&self) -> ArrayView2<'_, T> {
        self.mlp.layers()[1].weights()
    }

    /// The general network this one is: two sigmoid layers, A then B.
    pub fn mlp(&self) -> &Mlp<T> {
        &self.mlp
    }

    /// f(x) = Σ σ(B·σ(A·x)).
    pub fn value(&self, x: ArrayView1<T>) -> Result<T> {
        self.check_x(x)?;
        self.mlp.value(x)
    }

    /// (f(x), ∇f(x)), with ∇f accumulated in the given mode. All modes give the same
    /// gradient up to rounding; reverse mode (and auto, which picks it) is the fast one.
    /// Temporaries come from a pool inside the network, so repeated calls allocate only
    /// the returned gradient.
    pub fn value_and_grad(&self, x: ArrayView1<T>, mode: Mode) -> Result<(T, Array1<T>)> {
        self.check_x(x)?;
        self.mlp.value_and_grad(x, mode)
    }

    /// f(x), with ∇f(x) written into `grad` (d0), using the caller's workspace: no
    /// allocation at all once `ws` has served one call in each mode (except on the
    /// wide-range path, taken only for entries that could overflow).
    pub fn value_and_grad_with(
        &self,
        x: ArrayView1<T>,
        mode: Mode,
        ws: &mut Workspace<T>,
        grad: ArrayViewMut1<T>,
    ) -> Result<T> {
        self.check_x(x)?;
        self.mlp.value_and_grad_with(x, mode, ws, grad)
    }

    /// f and ∇f at each of k points, the columns of `x` (d0×k): returns f (k) and the
    /// gradients as the columns of a d0×k matrix (column-major, so each is contiguous).
    ///
    /// Reverse mode with GEMMs in place of GEMVs (see [`batch`](crate::batch)): at
    /// d = 8000 and k = 64 a point costs 0.09–0.12× a single-point gradient (measured).
    /// Each column agrees with [`value_and_grad`](Self::value_and_grad) at that point up to
    /// the order of the sums (tested to 1e-13 relative on well-conditioned cases; see
    /// the README on conditioning). Errors on a wrong number of rows, a non-finite
    /// entry, or temporaries, (2·d1 + 2·d2 + d0)·k values, beyond available memory.
    pub fn value_and_grad_batch(&self, x: ArrayView2<T>) -> Result<(Array1<T>, Array2<T>)> {
        self.mlp.value_and_grad_batch(x)
    }

    /// A workspace for [`value_and_grad_with`](Self::value_and_grad_with).
    pub fn workspace(&self) -> Workspace<T> {
        Workspace::new(self.dims())
    }

    /// Frees the pooled workspaces of plain calls (forward mode's hold up to the
    /// memory budget each).
    pub fn release_workspaces(&self) {
        self.mlp.release_workspaces()
    }

    fn check_x(&self, x: ArrayView1<T>) -> Result<()> {
        let d0 = self.dims().d0;
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
