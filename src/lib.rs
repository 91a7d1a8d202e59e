//! # fwdrev: forward and reverse mode for neural-network-shaped functions, on BLAS
//!
//! An [`Mlp`] is F(x) = φ_L(W_L·…φ_1(W_1·x + b_1)… + b_L), widths d0 … dL, a per-layer
//! [`Activation`] and optional biases; f = ΣF. Its Jacobian is the chain
//!
//! ```text
//! J = M_L · M_{L−1} ··· M_1,   M_k = diag(φ'_k(y_k)) · W_k   (d_k × d_{k−1})
//! ```
//!
//! and where the brackets go decides the cost. For the seed problem f(x) = Σσ(B·σ(A·x))
//! (A d1×d0, B d2×d1), ∇fᵀ = 1ᵀ·diag(σ'(y2))·B·diag(σ'(y1))·A:
//!
//! - **Forward mode** brackets from the right, as tangents flow from the input:
//!   σ'(y2)ᵀ·(B·(diag(σ'(y1))·A)). B·(…) is a d2×d1 by d1×d0 matrix product:
//!   **d0·d1·d2** multiply-adds (one GEMM), O(d³).
//! - **Reverse mode** brackets from the left, as adjoints flow from the output:
//!   z = Bᵀ·σ'(y2), z ∘= σ'(y1), ∇f = Aᵀ·z. Every product is matrix-vector:
//!   **2·(d0·d1 + d1·d2)** multiply-adds with the forward pass, O(d²), bound by memory
//!   traffic: A is read twice, B once (B·σ(y1) and Bᵀ·σ'(y2) fused row by row).
//!
//! At d0 = d1 = d2 = 8000 that is 5·10¹¹ against 2.6·10⁸: seconds against a tenth of a
//! second.
//!
//! ```
//! use fwdrev::{Activation, Mlp, Mode};
//! use ndarray::Array1;
//!
//! let net = Mlp::<f64>::from_seed(&[100, 105, 95], Activation::Sigmoid, 42)?;
//! let x = Array1::from_elem(100, 0.1);
//! let (f, g_rev) = net.value_and_grad(x.view(), Mode::Reverse)?;
//! let (_, g_fwd) = net.value_and_grad(x.view(), Mode::Forward)?;
//! let max = |a: &Array1<f64>| a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
//! assert!(max(&(&g_rev - &g_fwd)) <= 1e-12 * max(&g_rev));
//! assert!(f > 0.0 && f < 95.0);
//! println!("f = {f}, backend: {}", fwdrev::backend());
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! ## Every derivative, and the cheapest bracketing
//!
//! Forward and reverse mode are two of the chain's bracketings; [`Mode::Auto`] finds the
//! cheapest by dynamic programming on this machine's speeds ([`Plan`]): for an
//! autoencoder's widths (1000, 1000, 10, 1000, 1000), (M4·M3)·(M2·M1) costs 3·10⁷
//! multiply-adds where forward and reverse cost 10⁹.
//!
//! ```
//! use fwdrev::{Activation, Layer, Mlp, Mode};
//! use ndarray::{Array1, Array2};
//!
//! let w = |rows, cols| Array2::from_shape_fn((rows, cols), |(i, j)| ((i + 2 * j) % 7) as f64 / 20.0 - 0.15);
//! let net = Mlp::new([
//!     Layer::new(w(60, 60), Activation::Tanh).with_bias(Array1::from_elem(60, 0.1)),
//!     Layer::new(w(3, 60), Activation::Gelu),
//!     Layer::new(w(60, 3), Activation::Silu),
//!     Layer::new(w(60, 60), Activation::Identity),
//! ])?;
//! let x = Array1::from_elem(60, 0.01);
//! let plan = net.plan(Mode::Auto);
//! assert_eq!(plan.to_string(), "(M4·M3)·(M2·M1)");  // bracketed at the bottleneck
//! let j = net.jacobian(x.view(), Mode::Auto)?;      // 60×60, F's Jacobian
//! let v = Array1::from_elem(60, 1.0);
//! let (_, jv) = net.jvp(x.view(), v.view())?;       // J·v, one forward sweep
//! let (_, vj) = net.vjp(x.view(), v.view())?;       // vᵀ·J, one reverse sweep
//! let (_, hv) = net.hvp(x.view(), v.view())?;       // ∇²f·v, forward-over-reverse
//! let h = net.hessian(x.view())?;                   // ∇²f, 60×60
//! let max = |a: Array1<f64>| a.iter().fold(0.0_f64, |m, e| m.max(e.abs()));
//! assert!(max(&j.dot(&v) - &jv) <= 1e-12 * max(jv.clone()));
//! assert!(max(&v.dot(&j) - &vj) <= 1e-12 * max(vj.clone()));
//! assert!(max(&h.dot(&v) - &hv) <= 1e-12 * max(hv.clone()));
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! [`Mlp::value_and_weight_grads`] gives ∇f with respect to every W_k and b_k, and
//! [`Mlp::value_and_grad_batch`] the gradients at k points at once (its matrix-vector
//! products become matrix products). Jacobians and Hessians run in panels (of columns
//! or rows) within the network's memory budget and refuse, with the numbers, a budget
//! too small for one panel.
//!
//! ## Scratch and threads
//!
//! Plain calls allocate only their result. Each also has an `_into` form that writes
//! into the caller's arrays with the caller's [`Scratch`] (sized by
//! [`Mlp::scratch_len`]) and [`Par`]: given enough scratch it allocates nothing, and
//! under [`Par::Seq`] a gradient, JVP, VJP or HVP starts no thread.
//!
//! ```
//! use fwdrev::{Activation, Call, Mlp, Mode, Par, Scratch};
//! use ndarray::Array1;
//!
//! let net = Mlp::<f64>::from_seed(&[100, 105, 95], Activation::Sigmoid, 42)?;
//! let mut scratch = Scratch::with_len(net.scratch_len(Call::Grad(Mode::Reverse))?)?;
//! let (x, mut g) = (Array1::from_elem(100, 0.1), Array1::zeros(100));
//! let f = net.value_and_grad_into(x.view(), Mode::Reverse, g.view_mut(), Par::Seq, &mut scratch)?;
//! assert_eq!((f, g), net.value_and_grad(x.view(), Mode::Reverse)?);
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! ## Inputs
//!
//! NaN or ±inf anywhere is an [`Error::NonFinite`] naming the first bad index. Finite
//! entries of any size are fine: no call returns NaN, and results are finite wherever
//! their exact values are. Where a fast pass could overflow (‖W_k‖_∞·max|a| near
//! f64::MAX) or came out non-finite, the call is redone in wide-range arithmetic:
//!
//! ```
//! use fwdrev::{Activation::Sigmoid, Mlp};
//! use ndarray::{array, Array1};
//!
//! // y1 = 1e308·(1 + 1 − 1 − 1 − 1) = −1e308: summed in order it would pass +inf,
//! // and σ(y1) would be 1, not 0. Then y2 = 0 and f = σ(0) = ½ exactly.
//! let net = Mlp::new([(array![[1.0, 1.0, -1.0, -1.0, -1.0]], Sigmoid), (array![[1.0]], Sigmoid)])?;
//! assert_eq!(net.value(Array1::from_elem(5, 1e308).view())?, 0.5);
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! ## Curvature
//!
//! Hessian-vector products make ∇²f's extreme eigenvalues cheap at any d0: Lanczos
//! builds Qᵀ·∇²f·Q = T (tridiagonal) from a few dozen HVPs, and T's extreme eigenvalues
//! converge to ∇²f's; tr ∇²f = E[zᵀ·∇²f·z] over ±1 probes (Hutchinson); JVPs and VJPs
//! give J's top singular values the same way (Golub–Kahan). For d0 up to a few
//! thousand the dense decompositions run on LAPACK (or faer), and a damped Newton step
//! solves (∇²f + λI)·p = −∇f. Many products at one x go through [`Mlp::hessian_at`],
//! ∇²f linearised there: the sweeps at x once, then each product the least memory
//! traffic an HVP can have (every W_k read twice, W_L once):
//!
//! ```
//! use fwdrev::{Activation::{Sigmoid, Tanh}, Extremes, Mlp};
//! use ndarray::{array, Array1};
//!
//! let net = Mlp::new([(array![[1.0, 2.0], [0.5, -1.0]], Tanh), (array![[1.0, -1.0]], Sigmoid)])?;
//! let x = array![0.3, -0.2];
//! let ask = Extremes { top: 1, bottom: 1, ..Extremes::default() };
//! let lanczos = net.hessian_extremes(x.view(), &ask)?;
//! let dense = net.hessian_eigen(x.view(), false)?;
//! assert!((lanczos.top[0] - dense.values[1]).abs() < 1e-10);
//! assert!((lanczos.bottom[0] - dense.values[0]).abs() < 1e-10);
//! let step = net.newton_step(x.view(), 0.1)?;
//! println!("{} step: {}", step.kind.name(), step.step);
//! let h = net.hessian_at(x.view())?;
//! let (_, hv) = net.hvp(x.view(), array![1.0, 0.0].view())?;
//! let diff: Array1<f64> = &h.apply(array![1.0, 0.0].view())? - &hv;
//! assert!(diff.iter().all(|e: &f64| e.abs() < 1e-14));
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! Backends (cargo features): none by default (pure Rust: the crate's packed GEMM on
//! AVX2 and AVX-512, faer's elsewhere); `openblas` or
//! `blis` link Debian's libraries for the square GEMMs. The matrix-vector products run
//! on the crate's own kernels (AVX-512, AVX2 or portable, chosen at run time) with
//! every backend. [`backend()`]
//! says which one a build uses. The crate re-exports the [`ndarray`] it is built on.
//!
//! Across machines: with the `mpi` feature, `distributed::DistMlp` splits each W_k by
//! rows over the ranks of an MPI job, the forward sweep gathering a_k (d_k values) and
//! the reverse sweep summing each rank's W_k\[rows\]ᵀ·ḡ in rank order, so the same calls
//! run on networks no single machine holds (docs/distributed.md).

#![warn(missing_docs)]

pub use ndarray;

mod activation;
pub mod backend;
pub mod baseline;
mod batch;
mod chain;
mod curvature;
mod diagonal;
#[cfg(feature = "mpi")]
pub mod distributed;
mod error;
pub mod finite_difference;
mod forward;
mod guard;
mod hessian;
mod hessian_at;
mod kernels;
pub mod linalg;
pub mod memory;
mod mlp;
pub mod npy;
pub mod npz;
mod par;
mod primal;
pub mod random;
mod real;
mod reverse;
mod scan;
mod scratch;
mod wide;

pub use activation::Activation;
pub use backend::{backend, deterministic, set_deterministic, Backend};
pub use chain::{Calibration, Mode, PanelSide, Panels, Plan};
pub use curvature::{
    Density, Eigen, Extremes, HessianEigen, JacobianSvd, Newton, Singular, StepKind, Trace,
};
pub use error::{Error, Result};
pub use hessian_at::HessianAt;
pub use mlp::{Call, Layer, LayerGrad, Mlp, DEFAULT_MEMORY_BUDGET};
pub use par::{default_threads, planned_threads, set_threads, threads, Par};
pub use real::Real;
pub use scratch::Scratch;
