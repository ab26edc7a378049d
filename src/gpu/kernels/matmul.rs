//! Kernel 4c, matrix multiply: `c = a · b` with `a` n×k and `b` k×m (row-major), tiled
//! through 16×16 blocks of workgroup memory (`matmul.wgsl`), for `matmul(...)`. Its CPU twin
//! is [`crate::arrays::matmul::cpu_product`], which sums each cell's products in the same
//! ascending order in f64.
//!
//! The rows of `a` go in chunks whose part of `a` and of `c` fit one storage binding (and
//! the dispatch limit); `b` must fit whole.
//!
//! Tolerance, with `u` the unit roundoff of the shader's float (2⁻²⁴ f32, 2⁻⁵³ f64): inputs
//! are rounded once, then each cell is a dot product of length k, so
//! |gpu − cpu| ≤ (k + 3)·u·Σₖ|a_ik·b_kj| (the classic dot-product bound plus the input
//! rounding). NaN or ±inf times anything reaches the same cells on both sides.

use datafusion::common::{Result, exec_err};

use super::{Real, Timings, bind, finish, max_elements, pipeline};
use crate::gpu::buffer::{read, scoped, uniform, upload, zeroed};
use crate::gpu::device::Gpu;

/// Output cells per workgroup side (as in the shader).
const TILE: u32 = 16;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    m: u32,
    pad: u32,
}

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
    if n == 0 || m == 0 {
        return Ok(Vec::new());
    }
    if k == 0 {
        return Ok(vec![0.0; n * m]);
    }
    let limit = max_elements::<T>(gpu);
    let dispatch = gpu.info.max_workgroups_per_dimension as usize * TILE as usize;
    if b.len() > limit || m > dispatch || k > limit {
        return exec_err!("matmul: a {k}x{m} right matrix exceeds the GPU's limits");
    }
    let rows_per_chunk = (limit / m).min(limit / k).min(dispatch).max(1);
    let kernel = pipeline::<T>(gpu, "matmul", include_str!("matmul.wgsl"), "product")?;
    let to_real = |v: &[f64]| v.iter().map(|x| T::from_f64(*x)).collect::<Vec<T>>();
    let b_buf = timings.time(
        |t| &mut t.upload,
        || {
            let buf = upload(gpu, "b", &to_real(b));
            finish(gpu)?;
            Ok(buf)
        },
    )?;
    let mut out = Vec::with_capacity(n * m);
    for rows in a.chunks(rows_per_chunk * k) {
        let chunk_n = rows.len() / k;
        let part = scoped(gpu, || {
            let (a_buf, params, c_buf) = timings.time(
                |t| &mut t.upload,
                || {
                    let params = Params {
                        n: chunk_n as u32,
                        k: k as u32,
                        m: m as u32,
                        pad: 0,
                    };
                    let a_buf = upload(gpu, "a", &to_real(rows));
                    let c_buf = zeroed(gpu, "c", (chunk_n * m * size_of::<T>()) as u64);
                    let params = uniform(gpu, "params", &params);
                    finish(gpu)?;
                    Ok((a_buf, params, c_buf))
                },
            )?;
            timings.time(
                |t| &mut t.compute,
                || {
                    let group = bind(
                        gpu,
                        &kernel,
                        &[(0, &params), (1, &a_buf), (2, &b_buf), (3, &c_buf)],
                    );
                    let mut encoder = gpu.device.create_command_encoder(&Default::default());
                    {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        pass.set_pipeline(&kernel);
                        pass.set_bind_group(0, &group, &[]);
                        pass.dispatch_workgroups(
                            (m as u32).div_ceil(TILE),
                            (chunk_n as u32).div_ceil(TILE),
                            1,
                        );
                    }
                    gpu.queue.submit([encoder.finish()]);
                    finish(gpu)
                },
            )?;
            timings.time(|t| &mut t.download, || read::<T>(gpu, &c_buf, chunk_n * m))
        })?;
        out.extend(part.into_iter().map(T::to_f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrays::matmul::cpu_product;
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip};

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
        let Some(g) = gpu_or_skip() else { return };
        if !g.info.f64 {
            eprintln!("skipping: adapter {} has no SHADER_F64", g.info.name);
            return;
        }
        for (n, k, m, special) in sizes() {
            check::<f64>(g, n, k, m, special);
        }
    }
}
