//! # fwdrev: forward and reverse mode for neural-network-shaped functions, on BLAS
//!
//! With y1 = A·x (A is d1×d0) and y2 = B·σ(y1) (B is d2×d1), the chain rule gives
//!
//! ```text
//! ∇f(x)ᵀ = 1ᵀ · diag(σ'(y2)) · B · diag(σ'(y1)) · A
//! ```
//!
//! a product of five factors, two of them dense. Where the brackets go decides the cost:
//!
//! - **Forward mode** brackets from the right, as tangents flow from the input:
//!   σ'(y2)ᵀ·(B·(diag(σ'(y1))·A)). B·(…) is a d2×d1 by d1×d0 matrix product:
//!   **d0·d1·d2** multiply-adds (one GEMM), O(d³).
//! - **Reverse mode** brackets from the left, as adjoints flow from the output:
//!   z = Bᵀ·σ'(y2), z ∘= σ'(y1), ∇f = Aᵀ·z. Every product is matrix-vector:
//!   **2·(d0·d1 + d1·d2)** multiply-adds with the primal pass, O(d²). It is bound by
//!   memory traffic: A is read twice, B once (B·σ(y1) and Bᵀ·σ'(y2) fused row by row).
//!
//! At d0 = d1 = d2 = 8000 that is 5·10¹¹ against 2.6·10⁸: seconds against a tenth of a
//! second. σ'(t) = e/(1+e)² with e = exp(−|t|) (see [`activation`]) is finite and
//! accurate for every finite t, where σ(1−σ) would round to 0.
//!
//! ```
//! use fwdrev::{Mode, Network};
//! use ndarray::Array1;
//!
//! let net = Network::<f64>::from_seed(100, 105, 95, 42)?;
//! let x = Array1::from_elem(100, 0.1);
//! let (f, g_rev) = net.value_and_grad(x.view(), Mode::Reverse)?;
//! let (_, g_fwd) = net.value_and_grad(x.view(), Mode::Forward)?;
//! let diff = (&g_rev - &g_fwd).mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v));
//! assert!(diff <= 1e-12 * g_rev.mapv(f64::abs).fold(0.0_f64, |m, &v| m.max(v)));
//! assert!(f > 0.0 && f < 95.0);
//! println!("f = {f}, backend: {}", fwdrev::backend());
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! Repeated calls allocate nothing but their result; [`Network::value_and_grad_with`]
//! and a [`Workspace`] avoid even that. [`Network::value_and_grad_batch`] takes k points
//! at once (X is d0×k) and turns the four matrix-vector products into matrix products:
//! at d = 8000, k = 64 a point costs 0.09–0.12× a single gradient (measured).
//!
//! ## Any depth: [`Mlp`]
//!
//! The two-layer [`Network`] is one member of F(x) = φ_L(W_L·…φ_1(W_1·x)), widths
//! d0 … dL, a per-layer [`Activation`] (sigmoid, tanh, softplus, ReLU, identity), f = ΣF.
//! Its Jacobian is the chain J = M_L···M_1 with M_k = diag(φ'_k(y_k))·W_k; forward and
//! reverse mode are two of its bracketings, and [`Mode::Auto`] finds the cheapest by
//! dynamic programming on measured machine speeds ([`plan`]): for an autoencoder's widths
//! (1000, 1000, 10, 1000, 1000), (M4·M3)·(M2·M1) costs 3·10⁷ multiply-adds where forward
//! and reverse cost 10⁹.
//!
//! ```
//! use fwdrev::{Activation, Mlp, Mode};
//! use ndarray::Array1;
//!
//! let net = Mlp::<f64>::from_seed(&[60, 60, 3, 60, 60], Activation::Tanh, 7)?;
//! let x = Array1::from_elem(60, 0.01);
//! let plan = net.plan(Mode::Auto);
//! assert_eq!(plan.to_string(), "(M4·M3)·(M2·M1)");  // bracketed at the bottleneck
//! let j = net.jacobian(x.view(), Mode::Auto)?;      // 60×60, F's Jacobian
//! let v = Array1::from_elem(60, 1.0);
//! let (_, jv) = net.jvp(x.view(), v.view())?;       // J·v, one forward sweep
//! let (_, hv) = net.hvp(x.view(), v.view())?;       // ∇²f·v, forward-over-reverse
//! let h = net.hessian(x.view())?;                   // ∇²f, 60×60
//! let max = |a: Array1<f64>| a.mapv(f64::abs).fold(0.0_f64, |m, &e| m.max(e));
//! assert!(max(&j.dot(&v) - &jv) <= 1e-12 * max(jv.clone()));
//! assert!(max(&h.dot(&v) - &hv) <= 1e-12 * max(hv.clone()));
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! [`Mlp::vjp`] gives uᵀ·J, [`Mlp::value_and_weight_grads`] ∇f with respect to every W_k.
//! Jacobians and Hessians run in panels (of columns or rows) within the network's memory
//! budget and refuse, with the numbers, a budget too small for one panel.
//!
//! ## Inputs
//!
//! NaN or ±inf anywhere is an [`Error::NonFinite`] naming the first bad index. Finite
//! entries of any size are fine: no call returns NaN, and results are finite wherever
//! their exact values are. Where a fast pass could overflow (‖W_k‖_∞·max|a| near
//! f64::MAX) or came out non-finite, the call is redone in wide-range arithmetic:
//!
//! ```
//! use fwdrev::Network;
//! use ndarray::{array, Array1};
//!
//! // y1 = 1e308·(1 + 1 − 1 − 1 − 1) = −1e308: summed in order it would pass +inf,
//! // and σ(y1) would be 1, not 0. Then y2 = 0 and f = σ(0) = ½ exactly.
//! let net = Network::new(array![[1.0, 1.0, -1.0, -1.0, -1.0]], array![[1.0]])?;
//! assert_eq!(net.value(Array1::from_elem(5, 1e308).view())?, 0.5);
//! # Ok::<(), fwdrev::Error>(())
//! ```
//!
//! Backends (cargo features): none by default (pure Rust: `matrixmultiply` GEMM with
//! its threading, rayon GEMVs); `openblas` links Debian's OpenBLAS. [`backend`] says
//! which one a build uses.

#![warn(missing_docs)]

#[cfg(any(feature = "openblas", feature = "blis"))]
extern crate blas_src;

#[cfg(all(feature = "openblas", feature = "blis"))]
compile_error!("features `openblas` and `blis` are exclusive: pick one BLAS");

pub mod activation;
pub mod batch;
mod diagonal;
mod error;
pub mod finite_difference;
pub mod forward;
mod hessian;
mod jacobian;
pub mod linalg;
pub mod memory;
mod mlp;
mod net;
pub mod npy;
pub mod plan;
mod primal;
pub mod random;
mod real;
mod reverse;
pub mod threads;
mod wide;
mod workspace;

pub use activation::Activation;
pub use error::{Error, Result};
pub use linalg::{backend, Backend};
pub use mlp::{Layer, Mlp, DEFAULT_MEMORY_BUDGET};
pub use net::{Dims, Mode, Network};
pub use plan::{Calibration, Plan};
pub use real::Real;
pub use threads::{set_threads, threads};
pub use workspace::Workspace;
