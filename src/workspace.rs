//! Buffers for one gradient evaluation, allocated once and reused across calls.
//!
//! A fresh 64 MiB panel buffer costs 16 384 page faults on first touch, tens of
//! milliseconds; a gradient at d = 100 costs microseconds, so even its few small vectors
//! matter. A [`Workspace`] holds all of them; [`Mlp::value_and_grad_with`] (and
//! [`Network`]'s) uses one without allocating, and the plain calls keep a pool of them
//! inside the network.
//!
//! [`Mlp::value_and_grad_with`]: crate::Mlp::value_and_grad_with
//! [`Network`]: crate::Network

use crate::{Dims, Real};
use ndarray::Array1;

/// Every temporary of a gradient: the primal's vectors, reverse mode's adjoints and
/// partial sums, forward mode's panels.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    /// d0, d1, …, dL.
    pub(crate) widths: Vec<usize>,
    /// φ(y_k) of the hidden layers k = 1 … L−1 (entry k−1).
    pub(crate) h: Vec<Array1<T>>,
    /// φ'(y_k) of every layer k = 1 … L (entry k−1).
    pub(crate) s: Vec<Array1<T>>,
    /// Two adjoint vectors, each as long as the widest of d0 … d(L−1).
    pub(crate) z: [Vec<T>; 2],
    /// Reverse mode's per-block partial sums of W_Lᵀ·φ'(y_L), blocks × d(L−1).
    pub(crate) partial_z: Vec<T>,
    /// Reverse mode's per-block partial sums of φ(y_L).
    pub(crate) partial_f: Vec<T>,
    /// Forward mode's two panel buffers (empty until first used).
    pub(crate) panels: [Vec<T>; 2],
}

impl<T: Real> Workspace<T> {
    /// A workspace for the two-layer [`Network`](crate::Network) of widths `dims`.
    pub fn new(dims: Dims) -> Self {
        Workspace::for_widths(&[dims.d0, dims.d1, dims.d2])
    }

    /// A workspace for a network of widths d0, d1, …, dL (at least two entries);
    /// forward mode's panels are allocated on first use, at the width the network's
    /// memory budget allows.
    pub fn for_widths(widths: &[usize]) -> Self {
        let depth = widths.len().saturating_sub(1);
        let widest_in = widths[..depth].iter().copied().max().unwrap_or(0);
        Workspace {
            widths: widths.to_vec(),
            h: widths[1..depth].iter().map(|&d| Array1::zeros(d)).collect(),
            s: widths[1..].iter().map(|&d| Array1::zeros(d)).collect(),
            z: [vec![T::zero(); widest_in], vec![T::zero(); widest_in]],
            partial_z: Vec::new(),
            partial_f: Vec::new(),
            panels: [Vec::new(), Vec::new()],
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        let vectors: usize = self.h.iter().chain(&self.s).map(|v| v.len()).sum();
        (vectors
            + self.z[0].len()
            + self.z[1].len()
            + self.partial_z.capacity()
            + self.partial_f.capacity()
            + self.panels[0].len()
            + self.panels[1].len())
            * std::mem::size_of::<T>()
    }

    /// The widths d0, …, dL this workspace serves.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// Grows the panel buffers to `first` and `second` values (never shrinks: a later
    /// call may need them).
    pub(crate) fn panels(&mut self, first: usize, second: usize) -> (&mut [T], &mut [T]) {
        let [p, q] = &mut self.panels;
        if p.len() < first {
            p.resize(first, T::zero());
        }
        if q.len() < second {
            q.resize(second, T::zero());
        }
        (&mut p[..first], &mut q[..second])
    }
}
