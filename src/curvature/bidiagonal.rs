//! Golub–Kahan–Lanczos bidiagonalisation of J (d_L×d0) given as products v ↦ J·v and
//! u ↦ Jᵀ·u: from a unit v_1, α_j·u_j = J·v_j − β_{j−1}·u_{j−1} and
//! β_j·v_{j+1} = Jᵀ·u_j − α_j·v_j, so that J·V = U·B with B upper bidiagonal (α on the
//! diagonal, β above it). B's singular values are the square roots of BᵀB's eigenvalues
//! (BᵀB is tridiagonal: α_i² + β_{i−1}² on the diagonal, α_i·β_i beside it); with
//! BᵀB·s = σ²·s, v = V·s and u = J·v/σ, J·v = σ·u exactly and ‖Jᵀ·u − σ·v‖ =
//! β_m·α_m·|s_m|/σ. Both bases are reorthogonalised in full, twice.

use super::lanczos::{dot, orthogonalise};
use super::{tridiagonal, Extremes, Singular};
use crate::{Error, Result};
use ndarray::Array1;

fn scaled(w: &[f64], by: f64) -> Vec<f64> {
    w.iter().map(|v| v / by).collect()
}

/// The top `opts.top` singular triplets of J, within `steps` bidiagonalisation steps.
pub(crate) fn top_singular(
    jv: &mut impl FnMut(&[f64], &mut [f64]) -> Result<()>,
    jtu: &mut impl FnMut(&[f64], &mut [f64]) -> Result<()>,
    start: &[f64],
    d_out: usize,
    steps: usize,
    opts: &Extremes,
) -> Result<Singular> {
    let d0 = start.len();
    let (mut us, mut vs) = (
        Vec::<Vec<f64>>::new(),
        vec![scaled(start, dot(start, start).sqrt())],
    );
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    let finite = |w: &[f64]| -> Result<()> {
        match w.iter().all(|v| v.is_finite()) {
            true => Ok(()),
            false => Err(Error::Internal {
                what: "a Jacobian product in Golub–Kahan was not finite".into(),
            }),
        }
    };
    let mut fresh = super::Fresh::new(opts.seed);
    let (mut largest_seen, mut block) = (0.0_f64, 0);
    loop {
        let j = alpha.len();
        let mut u = vec![0.0; d_out];
        jv(&vs[j], &mut u)?;
        finite(&u)?;
        orthogonalise(&mut u, &us);
        let a = dot(&u, &u).sqrt();
        // A rounding-level α or β: J·v_j (or Jᵀ·u_j) lies in the span found so far, and
        // the space closes there; a fresh vector orthogonal to it goes on (α or β = 0
        // keeps J·V = U·B exact), so repeated and missed singular values are found.
        let scale = largest_seen.max(beta.last().copied().unwrap_or(0.0));
        let (a, closed_u) = if a <= 1e-13 * scale || a == 0.0 {
            (0.0, true)
        } else {
            (a, false)
        };
        alpha.push(a);
        largest_seen = largest_seen.max(a);
        let next_u = match closed_u {
            false => Some(scaled(&u, a)),
            true => fresh.next(&us, d_out),
        };
        // None: U spans R^{d_L} already, so J has no more to show (a zero u keeps going).
        let u_spanned = next_u.is_none();
        us.push(next_u.unwrap_or_else(|| vec![0.0; d_out]));
        let mut v = vec![0.0; d0];
        jtu(&us[j], &mut v)?;
        finite(&v)?;
        orthogonalise(&mut v, &vs);
        let b = dot(&v, &v).sqrt();
        let closed_v = b <= 1e-13 * largest_seen.max(a) || b == 0.0;
        let b = if closed_v { 0.0 } else { b };
        beta.push(b);
        largest_seen = largest_seen.max(b);
        let m = alpha.len();
        // U spans all of R^{d_L}: J's singular values are exactly those of
        // [B | β_m·e_m] (J·V_{m+1} = U·[B | β_m·e_m], the next u being 0).
        let full = m == d_out && b > 0.0;
        let spanned = full || u_spanned || m == d0.min(d_out);
        if m >= opts.top || spanned {
            let pairs = match full {
                false => Pairs::of_right(&alpha, &beta)?,
                true => Pairs::of_left(&alpha, &beta)?,
            };
            let top: Vec<usize> = (0..opts.top.min(m)).map(|i| m - 1 - i).collect();
            let largest = pairs.sigma[m - 1];
            let small = |i: &usize| pairs.residuals[*i] <= opts.tol * largest;
            let closed = closed_u || closed_v;
            // A closed block from a fresh start shows every distinct singular value of
            // what is left: done once it shows none beyond the wanted k-th (as Lanczos).
            let settled = closed
                && block > 0
                && !super::beyond(
                    &Pairs::of_right(&alpha[block..m], &beta[block..m])?.sigma,
                    &pairs.sigma,
                    opts.top,
                    0,
                    opts.tol,
                );
            let done = spanned || settled || (!closed && top.iter().all(small));
            if done || m == steps {
                if full {
                    vs.push(scaled(&v, b));
                }
                let vectors = opts.vectors;
                // Normalised here: B·s has norm σ, which may be 0 to rounding.
                let combine = |basis: &[Vec<f64>], coef: Vec<f64>| -> Array1<f64> {
                    let mut y = vec![0.0; basis[0].len()];
                    for (c, q) in coef.iter().zip(basis) {
                        y.iter_mut().zip(q).for_each(|(y, q)| *y += c * q);
                    }
                    let norm = dot(&y, &y).sqrt();
                    if norm > 0.0 && norm.is_finite() {
                        y.iter_mut().for_each(|v| *v /= norm);
                    }
                    Array1::from(y)
                };
                let pick = |side: Side| -> Vec<Array1<f64>> {
                    match vectors {
                        false => Vec::new(),
                        true => top
                            .iter()
                            .map(|&i| match side {
                                Side::Left => combine(&us, pairs.left_vector(&alpha, &beta, i)),
                                Side::Right => combine(&vs, pairs.right_vector(&alpha, &beta, i)),
                            })
                            .collect(),
                    }
                };
                return Ok(Singular {
                    values: top.iter().map(|&i| pairs.sigma[i]).collect(),
                    left: pick(Side::Left),
                    right: pick(Side::Right),
                    residuals: top.iter().map(|&i| pairs.residuals[i]).collect(),
                    converged: done,
                    products: 2 * m,
                });
            }
        }
        let next_v = match closed_v {
            false => scaled(&v, b),
            true => fresh.next(&vs, d0).unwrap_or(v),
        };
        vs.push(next_v);
        if closed_u || closed_v {
            block = alpha.len();
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

/// The singular values of the bidiagonal (ascending) and the eigenvectors they came
/// from: of BᵀB (coordinates of right vectors in V: `Side::Right`) or, once U spans
/// R^{d_L}, of [B | β_m·e_m]·[B | β_m·e_m]ᵀ (coordinates of left vectors in U).
struct Pairs {
    sigma: Vec<f64>,
    vectors: Vec<f64>,
    residuals: Vec<f64>,
    form: Side,
}

impl Pairs {
    /// From BᵀB: α_i² + β_{i−1}² on the diagonal, α_i·β_i beside it; residual
    /// ‖Jᵀ·u − σ·v‖ = β_m·α_m·|s_m|/σ.
    fn of_right(alpha: &[f64], beta: &[f64]) -> Result<Pairs> {
        let m = alpha.len();
        let diag: Vec<f64> = (0..m)
            .map(|i| alpha[i].powi(2) + if i > 0 { beta[i - 1].powi(2) } else { 0.0 })
            .collect();
        let off: Vec<f64> = (0..m - 1).map(|i| alpha[i] * beta[i]).collect();
        let (sigma, vectors) = Pairs::eigen(&diag, &off)?;
        let residuals = (0..m)
            .map(|i| match sigma[i] > 0.0 {
                true => beta[m - 1] * alpha[m - 1] * vectors[(m - 1) * m + i].abs() / sigma[i],
                false => 0.0,
            })
            .collect();
        Ok(Pairs {
            sigma,
            vectors,
            residuals,
            form: Side::Right,
        })
    }

    /// From [B | β_m·e_m]·[B | β_m·e_m]ᵀ: α_i² + β_i² on the diagonal, β_i·α_{i+1}
    /// beside it; exact (residual 0).
    fn of_left(alpha: &[f64], beta: &[f64]) -> Result<Pairs> {
        let m = alpha.len();
        let diag: Vec<f64> = (0..m).map(|i| alpha[i].powi(2) + beta[i].powi(2)).collect();
        let off: Vec<f64> = (0..m - 1).map(|i| beta[i] * alpha[i + 1]).collect();
        let (sigma, vectors) = Pairs::eigen(&diag, &off)?;
        Ok(Pairs {
            sigma,
            vectors,
            residuals: vec![0.0; m],
            form: Side::Left,
        })
    }

    fn eigen(diag: &[f64], off: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let (values, vectors) = tridiagonal::eigen(diag, off).ok_or_else(|| Error::Internal {
            what: "the tridiagonal QL iteration did not converge".into(),
        })?;
        Ok((values.iter().map(|v| v.max(0.0).sqrt()).collect(), vectors))
    }

    /// Eigenvector `i` of the tridiagonal.
    fn column(&self, i: usize) -> Vec<f64> {
        let m = self.sigma.len();
        (0..m).map(|k| self.vectors[k * m + i]).collect()
    }

    /// Pair i's right vector in V's coordinates: s, or Bᵀ·t (plus β_m·t_m on v_{m+1}),
    /// whose norm is σ: the caller normalises (σ itself may be 0).
    fn right_vector(&self, alpha: &[f64], beta: &[f64], i: usize) -> Vec<f64> {
        match self.form {
            Side::Right => self.column(i),
            Side::Left => {
                let t = self.column(i);
                let m = t.len();
                (0..=m)
                    .map(|k| {
                        let here = if k < m { alpha[k] * t[k] } else { 0.0 };
                        let above = if k > 0 { beta[k - 1] * t[k - 1] } else { 0.0 };
                        here + above
                    })
                    .collect()
            }
        }
    }

    /// Pair i's left vector in U's coordinates: B·s (norm σ: the caller normalises), or t.
    fn left_vector(&self, alpha: &[f64], beta: &[f64], i: usize) -> Vec<f64> {
        match self.form {
            Side::Left => self.column(i),
            Side::Right => {
                let s = self.column(i);
                let m = s.len();
                (0..m)
                    .map(|k| {
                        let next = if k + 1 < m { beta[k] * s[k + 1] } else { 0.0 };
                        alpha[k] * s[k] + next
                    })
                    .collect()
            }
        }
    }
}
