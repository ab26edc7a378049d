//! Kernel 4c, matrix multiply: `c = a · b` with `a` n×k and `b` k×m (row-major), tiled
//! through 16×16 blocks of workgroup memory (`matmul.wgsl`), for `matmul(...)`. Its CPU twin
//! is [`crate::arrays::matmul::cpu_product`], which sums each cell's products in the same
//! ascending order in f64.
//!
//! The rows of `a` go in chunks whose part of `a` and of `c` fit one storage binding (and
//! the dispatch limit); `b` must fit whole ([`rows_against`]).
//!
//! Tolerance, with `u` the unit roundoff of the shader's float (2⁻²⁴ f32, 2⁻⁵³ f64): inputs
//! are rounded once, then each cell is a dot product of length k, so
//! |gpu − cpu| ≤ (k + 3)·u·Σₖ|a_ik·b_kj| (the classic dot-product bound plus the input
//! rounding). NaN or ±inf times anything reaches the same cells on both sides.

use datafusion::common::{Result, exec_err};

use super::{Real, Timings, pipeline, rows_against};
use crate::gpu::device::Gpu;

/// `a · b` (n×m, row-major) for `a` n×k and `b` k×m, computed in `T`.
pub(crate) fn product<T: Real>(
    gpu: &Gpu,
    a: &[f64],
    b: &[f64],
    (n, k, m): (usize, usize, usize),
    timings: &mut Timings,
) -> Result<Vec<f64>> {
    if a.len() != n * k || b.len() != k * m {
        return exec_err!(
            "matmul: {} and {} values for {n}x{k} times {k}x{m}",
            a.len(),
            b.len()
        );
    }
    if k == 0 {
        return Ok(vec![0.0; n * m]);
    }
    let kernel = pipeline::<T>(gpu, "matmul", include_str!("matmul.wgsl"), "product")?;
    let params = |rows| [rows, k as u32, m as u32, 0];
    rows_against::<T>(gpu, &kernel, (a, k), b, m, params, timings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrays::matmul::cpu_product;
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip, gpu_with_f64_or_skip};

    fn matrix(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng(seed);
        (0..len).map(|_| rng.uniform() * 20.0 - 10.0).collect()
    }

    fn check<T: Real>(g: &Gpu, n: usize, k: usize, m: usize, special: bool) {
        let mut a = matrix(n * k, (n * 131 + k) as u64);
        let b = matrix(k * m, (k * 17 + m) as u64);
        if special && n * k > 2 {
            a[1] = f64::NAN;
            a[n * k - 1] = f64::INFINITY;
        }
        let want = cpu_product(&a, &b, (n, k, m));
        let got = product::<T>(g, &a, &b, (n, k, m), &mut Timings::default())
            .unwrap_or_else(|e| panic!("{n}x{k}x{m}: {e}"));
        assert_eq!((got.len(), want.len()), (n * m, n * m));
        for i in 0..n {
            for j in 0..m {
                let magnitude: f64 = (0..k).map(|q| (a[i * k + q] * b[q * m + j]).abs()).sum();
                let bound = (k as f64 + 3.0) * T::UNIT_ROUNDOFF * magnitude;
                let (g, w) = (got[i * m + j], want[i * m + j]);
                assert!(
                    (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= bound,
                    "{} {n}x{k}x{m} at ({i}, {j}): gpu {g} cpu {w} bound {bound}",
                    T::WGSL
                );
            }
        }
    }

    fn sizes() -> [(usize, usize, usize, bool); 8] {
        [
            (0, 3, 4, false),
            (3, 0, 4, false),
            (1, 1, 1, false),
            (2, 3, 2, true),
            (16, 16, 16, false),
            (17, 33, 15, true),
            (100, 257, 31, false),
            (5, 1000, 3, true),
        ]
    }

    #[test]
    fn matches_the_cpu_twin_in_f32() {
        let Some(g) = gpu_or_skip() else { return };
        for (n, k, m, special) in sizes() {
            check::<f32>(g, n, k, m, special);
        }
    }

    #[test]
    fn matches_the_cpu_twin_in_f64_where_the_adapter_has_it() {
        let Some(g) = gpu_with_f64_or_skip() else {
            return;
        };
        for (n, k, m, special) in sizes() {
            check::<f64>(g, n, k, m, special);
        }
    }
}
