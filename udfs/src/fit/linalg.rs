//! Small dense linear algebra for least squares with a handful of parameters: Cholesky
//! solves of normal equations, the diagonal of a symmetric inverse for covariances (with a
//! conditioning check), and Householder QR for
//! linear least squares (polynomials), all on row-major `Vec<f64>`.

fn positive_finite(v: f64) -> bool {
    v > 0.0 && v.is_finite()
}

/// Solves `a * x = b` for symmetric positive definite `a` (n x n, row-major) by Cholesky.
/// Returns `None` when `a` is not numerically positive definite.
pub fn cholesky_solve(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    let mut x = vec![0.0; n];
    cholesky_solve_into(a, b, n, &mut l, &mut x).then_some(x)
}

/// [`cholesky_solve`] without allocating: `l` (n x n) is scratch space, the solution goes
/// to `x`. Returns false when `a` is not numerically positive definite.
pub fn cholesky_solve_into(a: &[f64], b: &[f64], n: usize, l: &mut [f64], x: &mut [f64]) -> bool {
    if !cholesky_into(a, n, l) {
        return false;
    }
    // forward substitution into x, then back substitution in place
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    true
}

/// The lower Cholesky factor of `a`, or `None` when `a` is not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    cholesky_into(a, n, &mut l).then_some(l)
}

/// Writes the lower Cholesky factor of `a` to `l`; false when `a` is not positive definite.
fn cholesky_into(a: &[f64], n: usize, l: &mut [f64]) -> bool {
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !positive_finite(s) {
                    return false;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    true
}

/// The diagonal of the inverse of symmetric `a`, or `None` when `a` is numerically singular:
/// the Cholesky pivots of `a` scaled to unit diagonal must stay above `1e-10` (a reciprocal
/// condition number of about 1e-10). The scaling also keeps badly scaled problems solvable.
pub fn inverse_diagonal(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let scale: Vec<f64> = (0..n).map(|i| a[i * n + i].sqrt()).collect();
    if scale.iter().any(|s| !positive_finite(*s)) {
        return None;
    }
    let scaled: Vec<f64> = (0..n * n)
        .map(|k| a[k] / (scale[k / n] * scale[k % n]))
        .collect();
    let l = cholesky(&scaled, n)?;
    if (0..n).any(|i| l[i * n + i] * l[i * n + i] <= 1e-10) {
        return None;
    }
    // (A^-1)_ii = |L^-1 e_i|^2: one forward substitution per column
    let mut z = vec![0.0; n];
    let mut diag = Vec::with_capacity(n);
    for (i, si) in scale.iter().enumerate() {
        z.fill(0.0);
        let mut norm2 = 0.0;
        for r in i..n {
            let mut s = if r == i { 1.0 } else { 0.0 };
            for k in i..r {
                s -= l[r * n + k] * z[k];
            }
            z[r] = s / l[r * n + r];
            norm2 += z[r] * z[r];
        }
        diag.push(norm2 / (si * si));
    }
    Some(diag)
}

/// Least-squares solution of `a * x ~= b` (`a` is m x n, row-major, m >= n) by Householder
/// QR with column scaling, as `numpy.linalg.lstsq` would give for a full-rank `a`.
/// Returns `None` when `a` is rank deficient.
pub fn lstsq(a: &[f64], b: &[f64], m: usize, n: usize) -> Option<Vec<f64>> {
    if m < n {
        return None;
    }
    let mut q = a.to_vec();
    let mut rhs = b.to_vec();
    let scale: Vec<f64> = (0..n)
        .map(|j| (0..m).map(|i| q[i * n + j].powi(2)).sum::<f64>().sqrt())
        .collect();
    if scale.iter().any(|s| !positive_finite(*s)) {
        return None;
    }
    for i in 0..m {
        for j in 0..n {
            q[i * n + j] /= scale[j];
        }
    }
    for k in 0..n {
        let norm = (k..m).map(|i| q[i * n + k].powi(2)).sum::<f64>().sqrt();
        if norm <= 1e-13 {
            return None;
        }
        let alpha = if q[k * n + k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| q[i * n + k]).collect();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|x| x * x).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        for j in k..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * q[i * n + j]).sum();
            let f = 2.0 * dot / vnorm2;
            for i in k..m {
                q[i * n + j] -= f * v[i - k];
            }
        }
        let dot: f64 = (k..m).map(|i| v[i - k] * rhs[i]).sum();
        let f = 2.0 * dot / vnorm2;
        for i in k..m {
            rhs[i] -= f * v[i - k];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = rhs[i];
        for j in i + 1..n {
            s -= q[i * n + j] * x[j];
        }
        x[i] = s / q[i * n + i];
    }
    Some(x.iter().zip(&scale).map(|(x, s)| x / s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_spd_system() {
        let a = [4.0, 1.0, 1.0, 3.0];
        let x = cholesky_solve(&a, &[1.0, 2.0], 2).unwrap_or_default();
        assert!((x[0] - 1.0 / 11.0).abs() < 1e-14 && (x[1] - 7.0 / 11.0).abs() < 1e-14);
        let d = inverse_diagonal(&a, 2).unwrap_or_default();
        assert!((d[0] - 3.0 / 11.0).abs() < 1e-14 && (d[1] - 4.0 / 11.0).abs() < 1e-14);
        assert!(cholesky_solve(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2).is_none());
    }

    #[test]
    fn lstsq_fits_a_line() {
        // y = 2x + 1 exactly
        let a = [0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0, 1.0];
        let x = lstsq(&a, &[1.0, 3.0, 5.0, 7.0], 4, 2).unwrap_or_default();
        assert!((x[0] - 2.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
        assert!(lstsq(&[1.0, 1.0, 2.0, 2.0], &[1.0, 2.0], 2, 2).is_none());
    }
}
