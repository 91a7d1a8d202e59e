//! Curvature across the ranks: Lanczos, Hutchinson and stochastic Lanczos quadrature
//! over the distributed HVP, by the same iterations as [`Mlp`](crate::Mlp)'s. Each
//! product is gathered whole on every rank, so every rank runs the same iteration on
//! the same bits, takes the same steps and returns the same values; the Krylov bases
//! (d0 values a vector) are held whole on every rank.

use super::{DistMlp, Element};
use crate::curvature::{self, krylov_basis, lanczos_steps, lockstep};
use crate::{Density, Eigen, Extremes, Result, Trace};
use mpi::traits::Communicator;
use ndarray::{Array2, ArrayView1};

impl<'c, T: Element, C: Communicator> DistMlp<'c, T, C> {
    /// The extreme eigenvalues of ∇²f(x), as [`Mlp::hessian_extremes`](crate::Mlp::hessian_extremes)
    /// finds them, each product one distributed [`hvp`](Self::hvp) (its forward sweep
    /// included: about twice a linearised product's reads). The basis (max_steps × d0
    /// f64 on every rank) must fit the memory budget. `opts` must be the same on every
    /// rank.
    pub fn hessian_extremes(&self, x: ArrayView1<T>, opts: &Extremes) -> Result<Eigen> {
        let o = opts;
        let asked = [o.top, o.bottom, o.max_steps].map(|n| n as u64);
        let asked = [&asked[..], &[o.tol.to_bits(), o.seed, u64::from(o.vectors)]].concat();
        self.ranks.same("the Lanczos options", &asked)?;
        let d0 = self.width(0);
        let steps = lanczos_steps(d0, opts)?;
        self.fits(krylov_basis("the Lanczos basis", steps, d0), &[steps, d0])?;
        let mut apply = self.products(x)?;
        let mut apply = |v: &[f64], out: &mut [f64]| {
            let hv = apply(v);
            out.iter_mut().zip(hv).for_each(|(o, h)| *o = h);
            Ok(())
        };
        curvature::extremes(d0, steps, opts, &mut apply)
    }

    /// Hutchinson's estimate of tr ∇²f(x), as
    /// [`Mlp::hessian_trace`](crate::Mlp::hessian_trace), each probe one distributed
    /// HVP. `probes` and `seed` must be the same on every rank.
    pub fn hessian_trace(&self, x: ArrayView1<T>, probes: usize, seed: u64) -> Result<Trace> {
        self.ranks
            .same("the probes and seed", &[probes as u64, seed])?;
        let mut apply = self.products(x)?;
        let many = |z: Array2<f64>| Ok(columns_by(z, &mut apply));
        curvature::trace(self.width(0), probes, seed, many)
    }

    /// The spectral density of ∇²f(x) by stochastic Lanczos quadrature, as
    /// [`Mlp::hessian_density`](crate::Mlp::hessian_density), each product one
    /// distributed HVP. The arguments must be the same on every rank.
    pub fn hessian_density(
        &self,
        x: ArrayView1<T>,
        probes: usize,
        steps: usize,
        seed: u64,
    ) -> Result<Density> {
        let asked = [probes as u64, steps as u64, seed];
        self.ranks.same("the probes, steps and seed", &asked)?;
        let d0 = self.width(0);
        let (steps, chunk) = self.ranks.agree(lockstep(d0, probes, steps, self.budget))?;
        // Each rank's chunk follows its own free memory: the smallest is every rank's,
        // so that all apply the same probes' vectors in the same order.
        let chunk = self.ranks.max(-(chunk as f64)).abs() as usize;
        let mut apply = self.products(x)?;
        let many = |v: Array2<f64>| Ok(columns_by(v, &mut apply));
        curvature::density(d0, probes, steps, seed, chunk, many)
    }

    /// v ↦ ∇²f(x)·v in f64 (x rank 0's, checked once), whole on every rank.
    fn products(&self, x: ArrayView1<T>) -> Result<impl FnMut(&[f64]) -> Vec<f64> + '_> {
        let x = self.input("x", x, 0)?;
        self.check_range(&x)?;
        Ok(move |v: &[f64]| {
            let v = v.iter().map(|&v| T::from_f64(v)).collect();
            // ∇f, the HVP's other half, is not gathered: only ∇²f·v is asked.
            let [_, hv] = self.hvp_at(x.clone(), v);
            let hv = self.gather(&hv, 0, 1);
            hv.iter().map(|h| h.as_f64()).collect()
        })
    }

    /// Errors on every rank unless an f64 buffer of `dims` fits the memory budget and
    /// every rank's memory.
    fn fits(&self, what: String, dims: &[usize]) -> Result<()> {
        self.ranks.agree(curvature::fits(what, dims, self.budget))
    }
}

/// `apply` to each column of `v`: H·V.
fn columns_by(mut v: Array2<f64>, apply: &mut impl FnMut(&[f64]) -> Vec<f64>) -> Array2<f64> {
    for mut column in v.columns_mut() {
        let hv = apply(&column.to_vec());
        column.assign(&ArrayView1::from(&hv));
    }
    v
}
