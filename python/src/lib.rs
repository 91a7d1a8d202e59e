//! fwdrev from Python (`fwdrev._fwdrev`, re-exported by the `fwdrev` package): the
//! network as a Python class over [`fwdrev::Mlp`], numpy arrays in and out.
//!
//! - The network owns its weights: one copy at construction (laid out as `Mlp` keeps
//!   them), none per call.
//! - A call's inputs are copied under the GIL (d0 values for a vector, k·d0 for a
//!   batch: less than one pass over the weights), then the GIL is released for the
//!   computation; a buffer another thread changes meanwhile cannot change the answer.
//!   Results are Rust arrays handed to numpy without a copy.
//! - Arrays of the network's dtype are read as they are (any strides); other floats
//!   (float16 … longdouble), integers and lists are converted to it as
//!   `numpy.asarray(x, dtype)` converts them (rounded where narrower), as are byte-swapped
//!   or unaligned buffers; complex, bool, string and object arrays are a `TypeError`.
//! - Errors: `ValueError` for shapes, non-finite values, names and ranges (the message
//!   names the operand), `MemoryError` for what does not fit, `OSError` for files.

use fwdrev::{Activation, Error, Extremes, Layer, Mode, Par, Real, Scratch};
use ndarray::{
    Array, Array1, ArrayView, ArrayView1, ArrayView2, ArrayViewMut1, Dimension, Ix1, Ix2,
};
use numpy::npyffi::flags::NPY_ARRAY_ALIGNED;
use numpy::{
    dtype, IntoPyArray, PyArray, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyMemoryError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::IntoPyObjectExt;
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// The element types a network holds.
trait Float: Real + numpy::Element {}
impl Float for f64 {}
impl Float for f32 {}

/// fwdrev's error as the Python exception of its kind, with its message.
fn error(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::TooLarge { .. } => PyMemoryError::new_err(message),
        Error::Io { .. } => PyOSError::new_err(message),
        Error::Shape { .. }
        | Error::EmptyDimension { .. }
        | Error::NonFinite { .. }
        | Error::OutOfRange { .. }
        | Error::Unknown { .. }
        | Error::Npy { .. } => PyValueError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// `x` as a view of T with D's dimensions, handed to `take` while the GIL is held (see
/// the module docs for what is converted and what is refused).
fn with_view<T: Float, D: Dimension, R>(
    x: &Bound<'_, PyAny>,
    what: &str,
    take: impl FnOnce(ArrayView<T, D>) -> R,
) -> PyResult<R> {
    let py = x.py();
    let array = match x.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => py
            .import("numpy")?
            .call_method1("asarray", (x,))?
            .cast_into::<PyUntypedArray>()?,
    };
    let descr = array.dtype();
    if !matches!(descr.kind(), b'f' | b'i' | b'u') {
        return Err(PyTypeError::new_err(format!(
            "{what}: dtype {descr} where float64 or float32 is required (other floats and \
             integers are converted; convert others with .astype(numpy.float64))"
        )));
    }
    let ndim = D::NDIM.expect("fixed dimensions");
    if array.ndim() != ndim {
        return Err(PyValueError::new_err(format!(
            "{what}: shape {:?} where {ndim} dimension{} required",
            array.shape(),
            if ndim == 1 { " is" } else { "s are" }
        )));
    }
    // Another dtype, byte order or an unaligned buffer: numpy's aligned native copy.
    // SAFETY: reads the flags of a live array object.
    let aligned = unsafe { (*array.as_array_ptr()).flags } & NPY_ARRAY_ALIGNED != 0;
    let typed = match array.cast::<PyArray<T, D>>() {
        Ok(a) if aligned => a.clone(),
        _ => array
            .call_method1("astype", (dtype::<T>(py),))?
            .cast_into::<PyArray<T, D>>()?,
    };
    // SAFETY: of T (the cast checked dtype and byte order), aligned (checked, or numpy's
    // copy), and read only while the GIL is held: `take` copies what it keeps before the
    // GIL is released, and this module never holds a mutable view of a caller's array.
    Ok(take(unsafe { typed.as_array() }))
}

/// `x` as an owned, standard-layout array of T (see [`with_view`]).
fn read<T: Float, D: Dimension>(x: &Bound<'_, PyAny>, what: &str) -> PyResult<Array<T, D>> {
    with_view(x, what, |v: ArrayView<T, D>| {
        v.as_standard_layout().into_owned()
    })
}

/// The most threads a call's `threads=` may ask for: each count's pool is kept for the
/// process.
const MOST_THREADS: usize = 1024;

/// The `Par` of a call's `threads`: the global pool (None), the calling thread (1), or a
/// pool of that many.
fn par(threads: Option<usize>) -> PyResult<Par> {
    match threads {
        None => Ok(Par::Rayon),
        Some(1) => Ok(Par::Seq),
        Some(n) if n <= MOST_THREADS => NonZeroUsize::new(n)
            .map(Par::Threads)
            .ok_or_else(|| PyValueError::new_err("threads: 0 where 1 … 1024 is required")),
        Some(n) => Err(PyValueError::new_err(format!(
            "threads: {n} where 1 … {MOST_THREADS} is required"
        ))),
    }
}

fn mode(name: &str) -> PyResult<Mode> {
    name.parse().map_err(error)
}

/// A network of T and the scratch its calls reuse.
struct Net<T: Float> {
    mlp: fwdrev::Mlp<T>,
    pool: Mutex<Vec<Scratch<T>>>,
}

impl<T: Float> Net<T> {
    fn new(mlp: fwdrev::Mlp<T>) -> Self {
        Net {
            mlp,
            pool: Mutex::default(),
        }
    }

    /// Runs `call` with the GIL released and a scratch from the pool (returned after).
    fn run<R: Send>(
        &self,
        py: Python<'_>,
        call: impl FnOnce(&fwdrev::Mlp<T>, &mut Scratch<T>) -> fwdrev::Result<R> + Send,
    ) -> PyResult<R> {
        let pool = || self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let mut scratch = pool().pop().unwrap_or_default();
        let result = py.detach(|| call(&self.mlp, &mut scratch));
        pool().push(scratch);
        result.map_err(error)
    }

    fn nbytes(&self) -> usize {
        let values = |l: &Layer<T>| l.weights().len() + l.bias().map_or(0, |b| b.len());
        let sum: usize = self.mlp.layers().iter().map(values).sum();
        sum * std::mem::size_of::<T>()
    }

    fn d0(&self) -> usize {
        self.mlp.widths()[0]
    }

    fn dl(&self) -> usize {
        *self.mlp.widths().last().expect("a layer at least")
    }

    fn value_and_grad<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        mode: Mode,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = read::<T, Ix1>(x, "x")?;
        let mut g = Array1::zeros(self.d0());
        let f = self.run(py, |net, s| {
            net.value_and_grad_into(x.view(), mode, g.view_mut(), par, s)
        })?;
        (f.as_f64(), g.into_pyarray(py)).into_bound_py_any(py)
    }

    fn output<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = read::<T, Ix1>(x, "x")?;
        let mut out = Array1::zeros(self.dl());
        self.run(py, |net, s| {
            net.output_into(x.view(), out.view_mut(), par, s)
        })?;
        out.into_pyarray(py).into_bound_py_any(py)
    }

    fn value(&self, py: Python<'_>, x: &Bound<'_, PyAny>, par: Par) -> PyResult<f64> {
        let x = read::<T, Ix1>(x, "x")?;
        Ok(self
            .run(py, |net, s| net.value_into(x.view(), par, s))?
            .as_f64())
    }

    /// A call at x along a second vector (`what`: "v" or "u") into two vectors of
    /// `lens`: the JVP, the VJP and the HVP.
    fn along<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        (what, v): (&str, &Bound<'py, PyAny>),
        lens: [usize; 2],
        call: impl FnOnce(
                &fwdrev::Mlp<T>,
                [ArrayView1<T>; 2],
                [ArrayViewMut1<T>; 2],
                &mut Scratch<T>,
            ) -> fwdrev::Result<()>
            + Send,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (x, v) = (read::<T, Ix1>(x, "x")?, read::<T, Ix1>(v, what)?);
        let [mut a, mut b] = lens.map(Array1::zeros);
        self.run(py, |net, s| {
            call(net, [x.view(), v.view()], [a.view_mut(), b.view_mut()], s)
        })?;
        (a.into_pyarray(py), b.into_pyarray(py)).into_bound_py_any(py)
    }

    fn jvp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.along(
            py,
            x,
            ("v", v),
            [self.dl(), self.dl()],
            |net, [x, v], [out, jv], s| net.jvp_into(x, v, out, jv, par, s),
        )
    }

    fn vjp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        u: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.along(
            py,
            x,
            ("u", u),
            [self.dl(), self.d0()],
            |net, [x, u], [out, uj], s| net.vjp_into(x, u, out, uj, par, s),
        )
    }

    fn hvp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.along(
            py,
            x,
            ("v", v),
            [self.d0(), self.d0()],
            |net, [x, v], [g, hv], s| net.hvp_into(x, v, g, hv, par, s),
        )
    }

    fn jacobian<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        mode: Mode,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = read::<T, Ix1>(x, "x")?;
        let plan = self.mlp.plan(mode);
        let mut jac = fwdrev::memory::zeros::<T>(self.dl(), self.d0()).map_err(error)?;
        self.run(py, |net, s| {
            net.jacobian_into(x.view(), &plan, jac.view_mut(), par, s)
        })?;
        jac.into_pyarray(py).into_bound_py_any(py)
    }

    fn hessian<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = read::<T, Ix1>(x, "x")?;
        let d0 = self.d0();
        let mut h = fwdrev::memory::zeros::<T>(d0, d0).map_err(error)?;
        self.run(py, |net, s| {
            net.hessian_into(x.view(), h.view_mut(), par, s)
        })?;
        h.into_pyarray(py).into_bound_py_any(py)
    }

    fn weight_grads<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        let x = read::<T, Ix1>(x, "x")?;
        let mut grads = self.mlp.zero_weight_grads().map_err(error)?;
        let f = self.run(py, |net, s| {
            net.value_and_weight_grads_into(x.view(), &mut grads, par, s)
        })?;
        let layers = PyList::empty(py);
        for g in grads {
            let bias = g.bias.map(|b| b.into_pyarray(py));
            layers.append((g.weights.into_pyarray(py), bias))?;
        }
        (f.as_f64(), layers).into_bound_py_any(py)
    }

    fn value_and_grad_batch<'py>(
        &self,
        py: Python<'py>,
        xs: &Bound<'py, PyAny>,
        par: Par,
    ) -> PyResult<Bound<'py, PyAny>> {
        // numpy's rows are samples; fwdrev's points are columns: X (k × d0) is Xᵀ's view.
        let xs = read::<T, Ix2>(xs, "X")?;
        let (k, d0) = (xs.nrows(), self.d0());
        if xs.ncols() != d0 {
            return Err(PyValueError::new_err(format!(
                "X: shape {:?} where (k, d0) = (k, {d0}) is required: a row a point",
                xs.dim()
            )));
        }
        let mut f = Array1::zeros(k);
        let mut g = fwdrev::memory::zeros::<T>(d0, k).map_err(error)?;
        self.run(py, |net, s| {
            net.value_and_grad_batch_into(xs.t(), f.view_mut(), g.view_mut(), par, s)
        })?;
        (f.into_pyarray(py), g.reversed_axes().into_pyarray(py)).into_bound_py_any(py)
    }

    /// The best of `repeat` rounds of `number` calls of the Rust `value_and_grad`
    /// (reverse mode) at x, in seconds a call: the binding's baseline.
    fn rust_seconds(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        number: usize,
        repeat: usize,
    ) -> PyResult<f64> {
        let x = read::<T, Ix1>(x, "x")?;
        let net = &self.mlp;
        let best = py.detach(|| {
            let mut best = f64::INFINITY;
            for _ in 0..repeat.max(1) {
                let start = std::time::Instant::now();
                for _ in 0..number.max(1) {
                    std::hint::black_box(net.value_and_grad(x.view(), Mode::Reverse)?);
                }
                best = best.min(start.elapsed().as_secs_f64() / number.max(1) as f64);
            }
            Ok(best)
        });
        best.map_err(error)
    }

    fn curvature<R: Send>(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        call: impl FnOnce(&fwdrev::Mlp<T>, ArrayView1<T>) -> fwdrev::Result<R> + Send,
    ) -> PyResult<R> {
        let x = read::<T, Ix1>(x, "x")?;
        self.run(py, |net, _| call(net, x.view()))
    }
}

/// One network's two element types.
enum Nets {
    F64(Net<f64>),
    F32(Net<f32>),
}

/// The same expression on whichever network `$nets` holds.
macro_rules! each {
    ($nets:expr, $net:ident => $body:expr) => {
        match $nets {
            Nets::F64($net) => $body,
            Nets::F32($net) => $body,
        }
    };
}

/// A multilayer perceptron F(x) = φ_L(W_L·…φ_1(W_1·x + b_1)… + b_L) and f(x) = Σ_i F(x)_i,
/// with its derivatives in forward and reverse mode.
///
/// `Mlp(layers, dtype="float64")`: `layers` is a sequence of `(W, b, activation)`, W of
/// shape (d_k, d_{k-1}) as `torch.nn.Linear.weight` has it, b of shape (d_k,) or None,
/// activation one of "sigmoid", "tanh", "relu", "softplus", "gelu", "silu", "identity"
/// (PyTorch's definitions; GELU exact). The weights are
/// copied once, here; nothing a call is given is kept.
#[pyclass(name = "Mlp", module = "fwdrev._fwdrev", frozen)]
struct PyMlp {
    nets: Nets,
}

impl PyMlp {
    fn of<T: Float>(layers: &Bound<'_, PyAny>) -> PyResult<fwdrev::Mlp<T>> {
        let mut built = Vec::new();
        for (k, layer) in layers.try_iter()?.enumerate() {
            let layer = layer?;
            let what = |part: &str| format!("layer {} {part}", k + 1);
            let (w, b, act): (Bound<PyAny>, Bound<PyAny>, String) =
                layer.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "{}: expected a tuple (W, b or None, activation)",
                        what("")
                    ))
                })?;
            let activation: Activation = act.parse().map_err(error)?;
            // The one copy: from the caller's array (or numpy's converted one) straight
            // into the network's layout.
            let copied = with_view(&w, &what("W"), |w: ArrayView2<T>| {
                Layer::copied(w, activation)
            })?;
            let mut l = copied.map_err(error)?;
            if !b.is_none() {
                l = l.with_bias(read::<T, Ix1>(&b, &what("b"))?);
            }
            built.push(l);
        }
        fwdrev::Mlp::new(built).map_err(error)
    }
}

#[pymethods]
impl PyMlp {
    #[new]
    #[pyo3(signature = (layers, *, dtype = "float64", memory_budget = None))]
    fn new(layers: &Bound<'_, PyAny>, dtype: &str, memory_budget: Option<usize>) -> PyResult<Self> {
        let budget = |b: usize| memory_budget.unwrap_or(b);
        let nets = match dtype {
            "float64" => {
                let mlp = Self::of::<f64>(layers)?;
                let b = budget(mlp.memory_budget());
                Nets::F64(Net::new(mlp.with_memory_budget(b)))
            }
            "float32" => {
                let mlp = Self::of::<f32>(layers)?;
                let b = budget(mlp.memory_budget());
                Nets::F32(Net::new(mlp.with_memory_budget(b)))
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype {other:?} where \"float64\" or \"float32\" is required"
                )))
            }
        };
        Ok(PyMlp { nets })
    }

    /// The network of `fwdrev`'s Rust `Mlp::from_seed(widths, activation, seed)`: W_k
    /// with N(0, 1/d_{k-1}) entries, no biases (the crate's seeded networks).
    #[staticmethod]
    #[pyo3(signature = (widths, activation = "sigmoid", seed = 0, *, dtype = "float64"))]
    fn from_seed(widths: Vec<usize>, activation: &str, seed: u64, dtype: &str) -> PyResult<Self> {
        let act: Activation = activation.parse().map_err(error)?;
        let nets = match dtype {
            "float64" => Nets::F64(Net::new(
                fwdrev::Mlp::from_seed(&widths, act, seed).map_err(error)?,
            )),
            "float32" => Nets::F32(Net::new(
                fwdrev::Mlp::from_seed(&widths, act, seed).map_err(error)?,
            )),
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype {other:?} where \"float64\" or \"float32\" is required"
                )))
            }
        };
        Ok(PyMlp { nets })
    }

    /// The network of a `torch.nn.Sequential` of `nn.Linear` layers, each followed by a
    /// supported activation: see `fwdrev.from_torch`, which this calls.
    #[staticmethod]
    #[pyo3(signature = (module, *, dtype = None))]
    fn from_torch<'py>(
        py: Python<'py>,
        module: &Bound<'py, PyAny>,
        dtype: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", dtype)?;
        let from_torch = py.import("fwdrev")?.getattr("from_torch")?;
        from_torch.call((module,), Some(&kwargs))
    }

    /// The widths d0, d1, …, d_L.
    #[getter]
    fn widths(&self) -> Vec<usize> {
        each!(&self.nets, n => n.mlp.widths())
    }

    /// "float64" or "float32": the weights', the results' and the inputs' after conversion.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.nets {
            Nets::F64(_) => "float64",
            Nets::F32(_) => "float32",
        }
    }

    /// The layers as (W, b or None, activation), copies of the network's.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        each!(&self.nets, n => {
            for l in n.mlp.layers() {
                let w = l.weights().as_standard_layout().into_owned().into_pyarray(py);
                let b = l.bias().map(|b| b.to_owned().into_pyarray(py));
                list.append((w, b, l.activation().name()))?;
            }
        });
        Ok(list)
    }

    /// Bytes of the network's weights and biases (their values; the rows' padding to
    /// 64-byte lines, at most an eighth more, and a small network's copy of Wᵀ for the
    /// HVP, at most 256 KiB, not counted).
    #[getter]
    fn nbytes(&self) -> usize {
        each!(&self.nets, n => n.nbytes())
    }

    fn __repr__(&self) -> String {
        let acts: Vec<&str> =
            each!(&self.nets, n => n.mlp.layers().iter().map(|l| l.activation().name()).collect());
        format!(
            "Mlp(widths={:?}, activations={acts:?}, dtype={:?})",
            self.widths(),
            self.dtype()
        )
    }

    /// F(x), the output (d_L,). One forward sweep.
    #[pyo3(signature = (x, *, threads = None))]
    fn output<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.output(py, x, par))
    }

    /// f(x) = Σ_i F(x)_i. One forward sweep.
    #[pyo3(signature = (x, *, threads = None))]
    fn value(&self, py: Python<'_>, x: &Bound<'_, PyAny>, threads: Option<usize>) -> PyResult<f64> {
        let par = par(threads)?;
        each!(&self.nets, n => n.value(py, x, par))
    }

    /// (f(x), ∇f(x)). mode "reverse" (and "auto"): one forward sweep and one reverse
    /// sweep of matrix-vector products, O(Σ d_k·d_{k-1}), W_L read once. mode
    /// "forward": 1ᵀ·J from the input side, matrix products, O(d0·Σ d_k·d_{k-1}).
    #[pyo3(signature = (x, mode = "reverse", *, threads = None))]
    fn value_and_grad<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        mode: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (mode, par) = (self::mode(mode)?, self::par(threads)?);
        each!(&self.nets, n => n.value_and_grad(py, x, mode, par))
    }

    /// (F(x), J(x)·v): the output and its directional derivative, one forward sweep
    /// reading each W_k once for both (torch.func.jvp).
    #[pyo3(signature = (x, v, *, threads = None))]
    fn jvp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.jvp(py, x, v, par))
    }

    /// (F(x), uᵀ·J(x)): the output and the vector-Jacobian product, one forward and one
    /// reverse sweep (torch.func.vjp's pullback applied to u).
    #[pyo3(signature = (x, u, *, threads = None))]
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        u: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.vjp(py, x, u, par))
    }

    /// (∇f(x), ∇²f(x)·v) by forward-over-reverse: about twice a gradient's work, never
    /// forming ∇²f.
    #[pyo3(signature = (x, v, *, threads = None))]
    fn hvp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.hvp(py, x, v, par))
    }

    /// J(x) = ∂F/∂x, shape (d_L, d0), by the plan of `mode`: "forward" (J·I from the
    /// input side), "reverse" (Iᵀ·J from the output side) or "auto" (the cheapest
    /// bracketing of the chain within the memory budget; see `plan`). Cost: `plan(mode)`
    /// predicts it.
    #[pyo3(signature = (x, mode = "auto", *, threads = None))]
    fn jacobian<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        mode: &str,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (mode, par) = (self::mode(mode)?, self::par(threads)?);
        each!(&self.nets, n => n.jacobian(py, x, mode, par))
    }

    /// ∇²f(x), shape (d0, d0): HVPs along panels of the identity's columns, d0 HVPs'
    /// work in matrix products.
    #[pyo3(signature = (x, *, threads = None))]
    fn hessian<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.hessian(py, x, par))
    }

    /// (f(x), [(∂f/∂W_k, ∂f/∂b_k or None), …]): the gradient with respect to every
    /// layer's weights and biases, one reverse sweep.
    #[pyo3(signature = (x, *, threads = None))]
    fn weight_grads<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.weight_grads(py, x, par))
    }

    /// (f (k,), ∇f (k, d0)) at the k rows of X (k, d0): each layer's product with all k
    /// points is one matrix product.
    #[pyo3(signature = (xs, *, threads = None))]
    fn value_and_grad_batch<'py>(
        &self,
        py: Python<'py>,
        xs: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let par = par(threads)?;
        each!(&self.nets, n => n.value_and_grad_batch(py, xs, par))
    }

    /// The plan `mode` takes for the Jacobian: a dict of "mode", "bracketing" (the chain
    /// M_L·…·M_1 with its brackets), "steps", "predicted_flops" and "predicted_seconds".
    #[pyo3(signature = (mode = "auto"))]
    fn plan<'py>(&self, py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyDict>> {
        let mode = self::mode(mode)?;
        let plan = each!(&self.nets, n => n.mlp.plan(mode));
        let d = PyDict::new(py);
        d.set_item("mode", plan.mode().name())?;
        d.set_item("bracketing", plan.to_string())?;
        d.set_item("steps", plan.steps())?;
        d.set_item("predicted_flops", plan.predicted_flops())?;
        d.set_item("predicted_seconds", plan.predicted_seconds())?;
        Ok(d)
    }

    /// The `top` largest and `bottom` smallest eigenvalues of ∇²f(x) by Lanczos over
    /// HVPs (a few dozen products, never forming ∇²f): a dict of "top", "bottom",
    /// "residuals", "converged", "products" (and "top_vectors", "bottom_vectors").
    #[pyo3(signature = (x, top = 1, bottom = 0, *, tol = 1e-8, max_steps = 300, seed = 0, vectors = false))]
    #[allow(clippy::too_many_arguments)]
    fn hessian_extremes<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        top: usize,
        bottom: usize,
        tol: f64,
        max_steps: usize,
        seed: u64,
        vectors: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = Extremes {
            top,
            bottom,
            max_steps,
            tol,
            seed,
            vectors,
        };
        let e =
            each!(&self.nets, n => n.curvature(py, x, |net, x| net.hessian_extremes(x, &opts)))?;
        let d = PyDict::new(py);
        d.set_item("top", e.top)?;
        d.set_item("bottom", e.bottom)?;
        d.set_item("residuals", e.residuals)?;
        d.set_item("converged", e.converged)?;
        d.set_item("products", e.products)?;
        if vectors {
            let arrays = |v: Vec<Array1<f64>>| -> Vec<_> {
                v.into_iter().map(|a| a.into_pyarray(py)).collect()
            };
            d.set_item("top_vectors", arrays(e.top_vectors))?;
            d.set_item("bottom_vectors", arrays(e.bottom_vectors))?;
        }
        Ok(d)
    }

    /// Hutchinson's estimate of tr ∇²f(x) from `probes` Rademacher vectors: a dict of
    /// "estimate", "stderr", "products".
    #[pyo3(signature = (x, probes = 100, *, seed = 0))]
    fn hessian_trace<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        probes: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let t = each!(&self.nets, n => n.curvature(py, x, |net, x| net.hessian_trace(x, probes, seed)))?;
        let d = PyDict::new(py);
        d.set_item("estimate", t.estimate)?;
        d.set_item("stderr", t.stderr)?;
        d.set_item("products", t.products)?;
        Ok(d)
    }

    /// The spectral density of ∇²f(x) by stochastic Lanczos quadrature: a dict of
    /// "nodes", "weights" (summing to 1), "products".
    #[pyo3(signature = (x, probes = 10, steps = 50, *, seed = 0))]
    fn hessian_density<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        probes: usize,
        steps: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let r = each!(&self.nets, n => n.curvature(py, x, |net, x| net.hessian_density(x, probes, steps, seed)))?;
        let d = PyDict::new(py);
        d.set_item("nodes", r.nodes)?;
        d.set_item("weights", r.weights)?;
        d.set_item("products", r.products)?;
        Ok(d)
    }

    /// The `top` largest singular values of J(x) by Golub–Kahan over JVPs and VJPs: a
    /// dict of "values", "residuals", "converged", "products".
    #[pyo3(signature = (x, top = 1, *, tol = 1e-8, max_steps = 300, seed = 0))]
    fn jacobian_singular_values<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        top: usize,
        tol: f64,
        max_steps: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = Extremes {
            top,
            bottom: 0,
            max_steps,
            tol,
            seed,
            vectors: false,
        };
        let s = each!(&self.nets, n => n.curvature(py, x, |net, x| net.jacobian_singular_values(x, &opts)))?;
        let d = PyDict::new(py);
        d.set_item("values", s.values)?;
        d.set_item("residuals", s.residuals)?;
        d.set_item("converged", s.converged)?;
        d.set_item("products", s.products)?;
        Ok(d)
    }

    /// Seconds a Rust `value_and_grad(x, Reverse)` call takes, timed inside Rust (the
    /// best of `repeat` rounds of `number` calls): what a call from Python adds is
    /// measured against it.
    #[pyo3(signature = (x, number = 1000, repeat = 5))]
    fn _rust_seconds(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        number: usize,
        repeat: usize,
    ) -> PyResult<f64> {
        each!(&self.nets, n => n.rust_seconds(py, x, number, repeat))
    }
}

/// Sets the threads of rayon's global pool and the BLAS, once, before the first network
/// is built or called (as `fwdrev --threads`); once the pool runs, another count raises
/// `RuntimeError`.
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    fwdrev::set_threads(n).map_err(error)
}

/// The threads calls without `threads=` run on (or will: asking does not start them, so
/// `set_threads` may still choose).
#[pyfunction]
fn threads() -> usize {
    fwdrev::planned_threads()
}

/// The linear-algebra backend this build runs on (as `fwdrev --version` names it).
#[pyfunction]
fn backend() -> String {
    fwdrev::backend().to_string()
}

/// The `OPENBLAS_CORETYPE` that would give this CPU faster kernels than the linked
/// OpenBLAS picked, or None (other backends, or nothing better).
#[pyfunction]
fn _better_coretype() -> Option<&'static str> {
    fwdrev::backend::better_coretype()
}

#[pymodule]
fn _fwdrev(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMlp>()?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    m.add_function(wrap_pyfunction!(backend, m)?)?;
    m.add_function(wrap_pyfunction!(_better_coretype, m)?)?;
    Ok(())
}
