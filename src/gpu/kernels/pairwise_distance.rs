//! Kernel 4a, pairwise distances: every row of `a` against every row of `b` (row-major
//! coordinate matrices), one invocation per output cell (`pairwise_distance.wgsl`), for
//! `pairwise_distance(...)`. Its CPU twin is [`crate::arrays::pairwise::cpu_distances`], the
//! same loop in f64.
//!
//! The rows of `a` go in chunks whose output fits one storage binding (and the dispatch
//! limit); `b` must fit whole ([`rows_against`]).
//!
//! Tolerance, with `u` the unit roundoff of the shader's float (2⁻²⁴ for f32, 2⁻⁵³ for f64 on
//! adapters with `SHADER_F64`) and `d` the coordinates per row: inputs are rounded once to
//! the shader's float, then summed in order, so for euclidean, sqeuclidean and manhattan
//! |gpu − cpu| ≤ (d + 8)·u·S, where S is the metric applied to |a| + |b| (the rows'
//! magnitudes: sqrt(Σ(|x|+|y|)²), its square, Σ(|x|+|y|)); for cosine
//! |gpu − cpu| ≤ 4·(d + 8)·u. NaN in a row makes its distances NaN on both sides.

use datafusion::common::{Result, exec_err};

use super::{Real, Timings, pipeline, rows_against};
use crate::gpu::device::Gpu;

/// The `n × m` distances (row-major, `n = a.len() / dims`, `m = b.len() / dims`) under the
/// metric with shader code `metric` (0 euclidean, 1 sqeuclidean, 2 manhattan, 3 cosine),
/// computed in `T`.
pub(crate) fn distances<T: Real>(
    gpu: &Gpu,
    a: &[f64],
    b: &[f64],
    dims: usize,
    metric: u32,
    timings: &mut Timings,
) -> Result<Vec<f64>> {
    if dims == 0 || !a.len().is_multiple_of(dims) || !b.len().is_multiple_of(dims) {
        return exec_err!("pairwise distance: {dims} coordinates do not divide the rows");
    }
    let m = b.len() / dims;
    let kernel = pipeline::<T>(
        gpu,
        "pairwise_distance",
        include_str!("pairwise_distance.wgsl"),
        "distances",
    )?;
    let params = |rows| [rows, m as u32, dims as u32, metric];
    rows_against::<T>(gpu, &kernel, (a, dims), b, m, params, timings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrays::pairwise::{Metric, cpu_distances};
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip, gpu_with_f64_or_skip};

    /// Seeded points around a centre, with a NaN coordinate in one row of three.
    fn points(n: usize, dims: usize, seed: u64, nan: bool) -> Vec<f64> {
        let mut rng = Rng(seed);
        (0..n * dims)
            .map(|k| {
                if nan && k % (3 * dims) == 1 {
                    f64::NAN
                } else {
                    50.0 + rng.uniform() * 100.0 - 50.0
                }
            })
            .collect()
    }

    /// The metric applied to the magnitudes |a| + |b| (the scale of the rounding error).
    fn scale(metric: Metric, x: &[f64], y: &[f64]) -> f64 {
        let s: Vec<f64> = x.iter().zip(y).map(|(a, b)| a.abs() + b.abs()).collect();
        match metric {
            Metric::Euclidean => s.iter().map(|v| v * v).sum::<f64>().sqrt(),
            Metric::SqEuclidean => s.iter().map(|v| v * v).sum(),
            Metric::Manhattan => s.iter().sum(),
            Metric::Cosine => 4.0,
        }
    }

    fn check<T: Real>(g: &Gpu, n: usize, m: usize, dims: usize, metric: Metric, nan: bool) {
        let a = points(n, dims, (n * 7 + dims) as u64, nan);
        let b = points(m, dims, (m * 13 + dims) as u64 + 1, false);
        let want = cpu_distances(&a, &b, dims, metric);
        let got = distances::<T>(g, &a, &b, dims, metric.code(), &mut Timings::default())
            .unwrap_or_else(|e| panic!("{metric:?} {n}x{m}x{dims}: {e}"));
        assert_eq!(got.len(), n * m);
        for i in 0..n {
            for j in 0..m {
                let (x, y) = (&a[i * dims..][..dims], &b[j * dims..][..dims]);
                let (g, w) = (got[i * m + j], want[i * m + j]);
                let bound = (dims as f64 + 8.0) * T::UNIT_ROUNDOFF * scale(metric, x, y);
                assert!(
                    (g.is_nan() && w.is_nan()) || (g - w).abs() <= bound,
                    "{metric:?} {} {n}x{m}x{dims} at ({i}, {j}): gpu {g} cpu {w} bound {bound}",
                    T::WGSL
                );
            }
        }
    }

    fn sizes() -> [(usize, usize, usize); 7] {
        // Empty, single, not multiples of the 16x16 tile, one coordinate, many coordinates.
        [
            (0, 5, 3),
            (3, 0, 2),
            (1, 1, 1),
            (17, 15, 3),
            (33, 70, 1),
            (100, 257, 5),
            (40, 9, 129),
        ]
    }

    #[test]
    fn matches_the_cpu_twin_in_f32() {
        let Some(g) = gpu_or_skip() else { return };
        for metric in Metric::ALL {
            for (n, m, dims) in sizes() {
                check::<f32>(g, n, m, dims, metric, n % 2 == 1);
            }
        }
    }

    #[test]
    fn matches_the_cpu_twin_in_f64_where_the_adapter_has_it() {
        let Some(g) = gpu_with_f64_or_skip() else {
            return;
        };
        for metric in Metric::ALL {
            for (n, m, dims) in sizes() {
                check::<f64>(g, n, m, dims, metric, n % 2 == 1);
            }
        }
    }

    #[test]
    fn uneven_coordinates_are_an_error() {
        let Some(g) = gpu_or_skip() else { return };
        let err = distances::<f32>(
            g,
            &[1.0, 2.0, 3.0],
            &[1.0, 2.0],
            2,
            0,
            &mut Timings::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("2 coordinates do not divide"),
            "{err}"
        );
    }
}
