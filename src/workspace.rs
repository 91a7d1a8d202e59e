//! Buffers for one gradient evaluation, allocated once and reused across calls.
//!
//! A fresh 64 MiB panel buffer costs 16 384 page faults on first touch, tens of
//! milliseconds; a gradient at d = 100 costs microseconds, so even its five small vectors
//! matter. A [`Workspace`] holds all of them; [`Network::value_and_grad_with`] uses one
//! without allocating, and the plain calls keep a pool of them inside the network.
//!
//! [`Network::value_and_grad_with`]: crate::Network::value_and_grad_with

use crate::{Dims, Real};
use ndarray::Array1;

/// Every temporary of a gradient: the primal's vectors, reverse mode's partial sums and
/// forward mode's panels.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    pub(crate) dims: Dims,
    /// σ(y1), d1.
    pub(crate) h1: Array1<T>,
    /// σ'(y1), d1.
    pub(crate) s1: Array1<T>,
    /// σ'(y2), d2.
    pub(crate) s2: Array1<T>,
    /// The adjoint of y1, d1 (reverse mode).
    pub(crate) z: Array1<T>,
    /// Reverse mode's per-block partial sums of Bᵀ·σ'(y2), blocks × d1.
    pub(crate) partial_z: Vec<T>,
    /// Reverse mode's per-block partial sums of σ(y2).
    pub(crate) partial_f: Vec<T>,
    /// diag(σ'(y1))·A_P, d1×w (forward mode; empty until first used).
    pub(crate) panel_s: Vec<T>,
    /// B·S_P, d2×w (forward mode; empty until first used).
    pub(crate) panel_m: Vec<T>,
}

impl<T: Real> Workspace<T> {
    /// A workspace for networks of widths `dims`; forward mode's panels are allocated on
    /// first use, at the width the network's memory budget allows.
    pub fn new(dims: Dims) -> Self {
        Workspace {
            dims,
            h1: Array1::zeros(dims.d1),
            s1: Array1::zeros(dims.d1),
            s2: Array1::zeros(dims.d2),
            z: Array1::zeros(dims.d1),
            partial_z: Vec::new(),
            partial_f: Vec::new(),
            panel_s: Vec::new(),
            panel_m: Vec::new(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (3 * self.dims.d1
            + self.dims.d2
            + self.partial_z.capacity()
            + self.partial_f.capacity()
            + self.panel_s.len()
            + self.panel_m.len())
            * std::mem::size_of::<T>()
    }

    /// The widths this workspace serves.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// Grows the panel buffers to d1×w and d2×w (never shrinks: a later call may need them).
    pub(crate) fn panels(&mut self, width: usize) -> (&mut [T], &mut [T]) {
        let (ns, nm) = (self.dims.d1 * width, self.dims.d2 * width);
        if self.panel_s.len() < ns {
            self.panel_s.resize(ns, T::zero());
        }
        if self.panel_m.len() < nm {
            self.panel_m.resize(nm, T::zero());
        }
        (&mut self.panel_s[..ns], &mut self.panel_m[..nm])
    }
}
