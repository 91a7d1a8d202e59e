//! Curvature from the formed matrices, for d0 up to a few thousand: ∇²f's eigen
//! decomposition, J's SVD and a damped Newton step, on the library `linalg` names
//! (LAPACK with `openblas`, faer otherwise). The Hessian and Jacobian come from the
//! crate's own dense calls; the factorisations run in f64.
//!
//! Newton: p solves (∇²f + λI)·p = −∇f by Cholesky where ∇²f + λI is positive definite.
//! Elsewhere the quadratic model has no minimum, and the step is saddle-free (Dauphin
//! et al. 2014): with ∇²f = Σ λ_i·v_i·v_iᵀ, p = −Σ v_i·(v_iᵀ·∇f)/max(|λ_i|, λ), which
//! descends along every direction and flees negative curvature rather than seeking it.

use super::out_of_range;
use crate::{linalg, Mlp, Mode, Real, Result};
use ndarray::{Array1, Array2, ArrayView1};

/// ∇²f(x)'s eigen decomposition ([`Mlp::hessian_eigen`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HessianEigen {
    /// The eigenvalues, ascending.
    pub values: Array1<f64>,
    /// The orthonormal eigenvectors as columns, if asked for.
    pub vectors: Option<Array2<f64>>,
}

/// J(x)'s singular value decomposition ([`Mlp::jacobian_svd`]): J = U·diag(σ)·Vᵀ, thin.
#[derive(Debug, Clone, PartialEq)]
pub struct JacobianSvd {
    /// The singular values, descending (min(d0, d_L) of them).
    pub values: Array1<f64>,
    /// U (d_L × k) and Vᵀ (k × d0), if asked for.
    pub vectors: Option<(Array2<f64>, Array2<f64>)>,
}

/// Which step [`Mlp::newton_step`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// (∇²f + λI)·p = −∇f by Cholesky: the damped Hessian was positive definite.
    Cholesky,
    /// p = −Σ v_i·(v_iᵀ·∇f)/max(|λ_i|, λ) from the eigen decomposition: it was not.
    SaddleFree,
}

impl StepKind {
    /// `"cholesky"` or `"saddle-free"`.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Cholesky => "cholesky",
            StepKind::SaddleFree => "saddle-free",
        }
    }
}

/// A damped Newton step ([`Mlp::newton_step`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Newton {
    /// p (d0 entries).
    pub step: Array1<f64>,
    /// How it was computed.
    pub kind: StepKind,
    /// ∇²f's smallest eigenvalue, where the step computed the eigenvalues.
    pub min_eigenvalue: Option<f64>,
}

/// Copies a matrix of the network's type into f64.
fn widened<T: Real>(m: &Array2<T>) -> Array2<f64> {
    m.mapv(|v| v.as_f64())
}

impl<T: Real> Mlp<T> {
    /// Errors unless `copies` rows×cols f64 matrices fit the memory budget and the
    /// machine.
    fn dense_fits(&self, what: &str, rows: usize, cols: usize, copies: usize) -> Result<()> {
        let shape = format!("{what} ({rows}×{cols} in f64, {copies} copies)");
        self.fits_budget(shape, &[rows, cols, copies])
    }

    /// The eigenvalues (ascending) and, with `vectors`, the orthonormal eigenvectors of
    /// the d0×d0 Hessian ∇²f(x), formed by [`hessian`](Self::hessian) and decomposed by
    /// a symmetric divide-and-conquer solver (`dsyevd` with `openblas`, faer otherwise).
    /// The Hessian and its decomposition's workspace (counted as eight d0×d0 f64
    /// matrices: the copies and the solvers' workspaces) must fit the memory budget.
    pub fn hessian_eigen(&self, x: ArrayView1<T>, vectors: bool) -> Result<HessianEigen> {
        let d0 = self.width(0);
        self.dense_fits("the Hessian's eigen decomposition", d0, d0, 8)?;
        let h = widened(&self.hessian(x)?);
        let (values, vectors) = linalg::unchecked::eigh(h, vectors)?;
        Ok(HessianEigen { values, vectors })
    }

    /// The singular values (descending) and, with `vectors`, the thin U and Vᵀ of the
    /// d_L×d0 Jacobian J(x), formed by [`jacobian`](Self::jacobian) (`Mode::Auto`).
    pub fn jacobian_svd(&self, x: ArrayView1<T>, vectors: bool) -> Result<JacobianSvd> {
        let (d0, dl) = (self.width(0), self.width(self.depth()));
        self.dense_fits("the Jacobian's SVD", dl, d0, 8)?;
        let j = widened(&self.jacobian(x, Mode::Auto)?);
        let (values, vectors) = linalg::unchecked::svd(j, vectors)?;
        Ok(JacobianSvd { values, vectors })
    }

    /// A Newton step from x with damping λ > 0: p solving (∇²f + λI)·p = −∇f by Cholesky
    /// where ∇²f + λI is positive definite, else the saddle-free step (see the module).
    pub fn newton_step(&self, x: ArrayView1<T>, damping: f64) -> Result<Newton> {
        if !(damping > 0.0 && damping.is_finite()) {
            return Err(out_of_range("damping", damping, "(0, ∞)"));
        }
        let d0 = self.width(0);
        self.dense_fits("the Newton step", d0, d0, 8)?;
        let (_, g) = self.value_and_grad(x, Mode::Reverse)?;
        let g: Array1<f64> = g.mapv(|v| v.as_f64());
        let h = widened(&self.hessian(x)?);
        let mut damped = h.clone();
        damped.diag_mut().mapv_inplace(|v| v + damping);
        if let Some(p) = linalg::cholesky_solve(damped, &-&g)? {
            if p.iter().all(|v| v.is_finite()) {
                return Ok(Newton {
                    step: p,
                    kind: StepKind::Cholesky,
                    min_eigenvalue: None,
                });
            }
        }
        let (values, v) = linalg::unchecked::eigh(h, true)?;
        let v = v.expect("asked for");
        let product = crate::backend::mat_vec_new::<f64>;
        let coef = product(v.t(), g.view()) / values.mapv(|l| l.abs().max(damping));
        Ok(Newton {
            step: -product(v.view(), coef.view()),
            kind: StepKind::SaddleFree,
            min_eigenvalue: values.first().copied(),
        })
    }
}
