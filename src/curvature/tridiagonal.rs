//! Eigenvalues and eigenvectors of a symmetric tridiagonal matrix T (diagonal a, off-
//! diagonal b), by the implicit QL method with Wilkinson's shift (EISPACK's `tql2`):
//! each sweep chases a bulge up the matrix with plane rotations until an off-diagonal
//! entry is negligible beside its neighbours, |b_i| ≤ ε·(|a_i| + |a_{i+1}|). Lanczos
//! and Golub–Kahan reduce to this; their T is small (the step count), so O(m³) for the
//! vectors is nothing beside the products that built it.

/// The eigenvalues of T, ascending, and its orthonormal eigenvectors as the columns of a
/// row-major m×m matrix (`vectors[i * m + j]`: component i of vector j). `None` if QL
/// did not converge within 60 sweeps per eigenvalue (it always does on finite input).
pub(crate) fn eigen(a: &[f64], b: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let m = a.len();
    let mut d = a.to_vec();
    // e[i] couples i and i + 1; e[m − 1] = 0.
    let mut e: Vec<f64> = b
        .iter()
        .copied()
        .chain(std::iter::repeat(0.0))
        .take(m)
        .collect();
    let mut z = vec![0.0; m * m];
    (0..m).for_each(|i| z[i * m + i] = 1.0);
    for l in 0..m {
        let mut sweeps = 0;
        loop {
            // The first negligible coupling at or after l splits the matrix there.
            let mut n = l;
            while n + 1 < m && e[n].abs() > f64::EPSILON * (d[n].abs() + d[n + 1].abs()) {
                n += 1;
            }
            if n == l {
                break;
            }
            sweeps += 1;
            if sweeps > 60 {
                return None;
            }
            // Wilkinson's shift from the leading 2×2 block.
            let g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let r = g.hypot(1.0);
            let mut g = d[n] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = n;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let h = c * e[i];
                let r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    // Underflow: the rotation is the identity; restart from here.
                    d[i + 1] -= p;
                    e[n] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                let t = d[i + 1] - p;
                let r2 = (d[i] - t) * s + 2.0 * c * h;
                p = s * r2;
                d[i + 1] = t + p;
                g = c * r2 - h;
                for k in 0..m {
                    let (zi, zi1) = (z[k * m + i], z[k * m + i + 1]);
                    z[k * m + i + 1] = s * zi + c * zi1;
                    z[k * m + i] = c * zi - s * zi1;
                }
            }
            if !deflated {
                d[l] -= p;
                e[l] = g;
                e[n] = 0.0;
            }
        }
    }
    // Ascending, vectors alongside.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
    let values = order.iter().map(|&i| d[i]).collect();
    let mut vectors = vec![0.0; m * m];
    for (new, &old) in order.iter().enumerate() {
        (0..m).for_each(|k| vectors[k * m + new] = z[k * m + old]);
    }
    Some((values, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T·z = λ·z for every pair, and ZᵀZ = I, on matrices with clusters, zeros and
    /// widely scaled entries.
    #[test]
    fn eigenpairs_satisfy_the_definition() {
        let cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
            (vec![2.0], vec![]),
            (vec![1.0, 1.0], vec![0.0]),
            (vec![4.0, 1.0, -2.0, 7.5, 0.3], vec![1.0, 0.5, -3.0, 2e-9]),
            (
                (0..40).map(|i| (i % 7) as f64 - 3.0).collect(),
                vec![1.0; 39],
            ),
            (vec![1e8, 1.0, 1e-8, 3.0], vec![1e4, 1e-3, 0.0]),
        ];
        for (a, b) in cases {
            let m = a.len();
            let (values, z) = eigen(&a, &b).unwrap();
            assert!(values.windows(2).all(|w| w[0] <= w[1]));
            let scale = a.iter().chain(&b).fold(0.0_f64, |s, v| s.max(v.abs()));
            for j in 0..m {
                for i in 0..m {
                    let mut tz = a[i] * z[i * m + j];
                    if i > 0 {
                        tz += b[i - 1] * z[(i - 1) * m + j];
                    }
                    if i + 1 < m {
                        tz += b[i] * z[(i + 1) * m + j];
                    }
                    let err = (tz - values[j] * z[i * m + j]).abs();
                    assert!(err <= 1e-13 * scale, "m = {m}: {err:e}");
                }
                for k in 0..m {
                    let dot: f64 = (0..m).map(|i| z[i * m + j] * z[i * m + k]).sum();
                    let want = if j == k { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-13, "m = {m}");
                }
            }
        }
    }

    /// The 1-D Laplacian's eigenvalues are known: 2 − 2cos(kπ/(m+1)).
    #[test]
    fn the_laplacian_has_its_known_spectrum() {
        let m = 50;
        let (values, _) = eigen(&vec![2.0; m], &vec![-1.0; m - 1]).unwrap();
        for (k, v) in values.iter().enumerate() {
            let want = 2.0 - 2.0 * ((k + 1) as f64 * std::f64::consts::PI / (m + 1) as f64).cos();
            assert!((v - want).abs() < 1e-13, "{k}: {v} vs {want}");
        }
    }
}
