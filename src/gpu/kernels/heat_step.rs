//! Kernel 4b, the 2-D heat (Laplace) stencil: `steps` explicit steps over a `rows × cols`
//! grid, one invocation per cell and one dispatch per step, two device buffers swapped
//! between steps so the grid crosses the bus once each way (`heat_step.wgsl`), for
//! `heat_step(...)`. Its CPU twin is [`crate::arrays::heat::cpu_steps`], the same update in
//! f64 and the same order of additions.
//!
//! Tolerance, with `u` the unit roundoff of the shader's float (2⁻²⁴ f32, 2⁻⁵³ f64) and
//! `M` the largest |value| of the grid (by the maximum principle no step leaves
//! [-M, M] when 0 < alpha ≤ 1/4): each step adds at most 8·u·M of rounding, so after
//! `s` steps |gpu − cpu| ≤ 8·(s + 1)·u·M. NaN spreads one cell per step on both sides.

use datafusion::common::{Result, exec_err};

use super::{Real, Timings, bind, finish, max_elements, pipeline};
use crate::gpu::buffer::{read, scoped, uniform, upload, zeroed};
use crate::gpu::device::Gpu;

/// Cells per workgroup side (as in the shader).
const TILE: u32 = 16;
/// Steps encoded into one command buffer.
const STEPS_PER_SUBMIT: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
}

/// The grid (`rows × cols`, row-major) after `steps` steps with coefficient `alpha`,
/// computed in `T`.
pub(crate) fn steps<T: Real>(
    gpu: &Gpu,
    grid: &[f64],
    rows: usize,
    cols: usize,
    alpha: f64,
    steps: usize,
    timings: &mut Timings,
) -> Result<Vec<f64>> {
    if grid.len() != rows * cols {
        return exec_err!("heat step: {} cells for a {rows}x{cols} grid", grid.len());
    }
    let dispatch = gpu.info.max_workgroups_per_dimension as usize * TILE as usize;
    if grid.len() > max_elements::<T>(gpu) || rows > dispatch || cols > dispatch {
        return exec_err!("heat step: a {rows}x{cols} grid exceeds the GPU's limits");
    }
    if grid.is_empty() || steps == 0 {
        return Ok(grid.to_vec());
    }
    let kernel = pipeline::<T>(gpu, "heat_step", include_str!("heat_step.wgsl"), "step")?;
    let cells: Vec<T> = grid.iter().map(|v| T::from_f64(*v)).collect();
    let out = scoped(gpu, || {
        let (buffers, params, coefficient) = timings.time(
            |t| &mut t.upload,
            || {
                let params = Params {
                    rows: rows as u32,
                    cols: cols as u32,
                };
                let front = upload(gpu, "grid", &cells);
                let back = zeroed(gpu, "grid", (cells.len() * size_of::<T>()) as u64);
                let params = uniform(gpu, "params", &params);
                let coefficient = upload(gpu, "alpha", &[T::from_f64(alpha)]);
                finish(gpu)?;
                Ok(([front, back], params, coefficient))
            },
        )?;
        let groups = [0, 1].map(|from| {
            bind(
                gpu,
                &kernel,
                &[
                    (0, &params),
                    (1, &buffers[from]),
                    (2, &buffers[1 - from]),
                    (3, &coefficient),
                ],
            )
        });
        timings.time(
            |t| &mut t.compute,
            || {
                let mut done = 0;
                while done < steps {
                    let batch = STEPS_PER_SUBMIT.min(steps - done);
                    let mut encoder = gpu.device.create_command_encoder(&Default::default());
                    for s in done..done + batch {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        pass.set_pipeline(&kernel);
                        pass.set_bind_group(0, &groups[s % 2], &[]);
                        pass.dispatch_workgroups(
                            (cols as u32).div_ceil(TILE),
                            (rows as u32).div_ceil(TILE),
                            1,
                        );
                    }
                    gpu.queue.submit([encoder.finish()]);
                    finish(gpu)?;
                    done += batch;
                }
                Ok(())
            },
        )?;
        timings.time(
            |t| &mut t.download,
            || read::<T>(gpu, &buffers[steps % 2], cells.len()),
        )
    })?;
    Ok(out.into_iter().map(T::to_f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrays::heat::cpu_steps;
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip, gpu_with_f64_or_skip};

    /// A seeded grid of values in [-100, 100] with a hot edge, and NaN in one cell.
    fn grid(rows: usize, cols: usize, seed: u64, nan: bool) -> Vec<f64> {
        let mut rng = Rng(seed);
        (0..rows * cols)
            .map(|k| {
                if nan && k == (rows / 2) * cols + cols / 2 {
                    f64::NAN
                } else if k < cols {
                    100.0
                } else {
                    rng.uniform() * 200.0 - 100.0
                }
            })
            .collect()
    }

    fn check<T: Real>(g: &Gpu, rows: usize, cols: usize, alpha: f64, n: usize, nan: bool) {
        let start = grid(rows, cols, (rows * 31 + cols) as u64, nan);
        let want = cpu_steps(&start, rows, cols, alpha, n);
        let got = steps::<T>(g, &start, rows, cols, alpha, n, &mut Timings::default())
            .unwrap_or_else(|e| panic!("{rows}x{cols}, {n} steps: {e}"));
        let bound = 8.0 * (n as f64 + 1.0) * T::UNIT_ROUNDOFF * 100.0;
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g.is_nan() && w.is_nan()) || (g - w).abs() <= bound,
                "{} {rows}x{cols}, {n} steps, cell {k}: gpu {g} cpu {w} bound {bound}",
                T::WGSL
            );
        }
    }

    fn cases() -> [(usize, usize, f64, usize, bool); 8] {
        [
            (0, 0, 0.25, 3, false),
            (1, 7, 0.25, 2, false),
            (2, 2, 0.1, 5, false),
            (3, 3, 0.25, 1, false),
            (17, 31, 0.2, 10, false),
            (64, 64, 0.25, 0, false),
            (100, 33, 0.25, 257, true),
            (257, 129, 0.125, 40, true),
        ]
    }

    #[test]
    fn matches_the_cpu_twin_in_f32() {
        let Some(g) = gpu_or_skip() else { return };
        for (rows, cols, alpha, n, nan) in cases() {
            check::<f32>(g, rows, cols, alpha, n, nan);
        }
    }

    #[test]
    fn matches_the_cpu_twin_in_f64_where_the_adapter_has_it() {
        let Some(g) = gpu_with_f64_or_skip() else {
            return;
        };
        for (rows, cols, alpha, n, nan) in cases() {
            check::<f64>(g, rows, cols, alpha, n, nan);
        }
    }
}
