//! The kernels of the array table functions as one call each ([`Kernel`]), and the
//! [`Runner`] that runs a call where `quiver.gpu` places it: the GPU form (f64 where the
//! adapter has `SHADER_F64`, else f32) or the CPU twin. A GPU error is logged and counted, and
//! the CPU twin answers instead, so a kernel never fails a query the CPU would answer.

use datafusion::common::Result;
use datafusion::execution::memory_pool::MemoryReservation;
use quiver_sql::GpuMode;

use super::{heat, matmul, pairwise};
use crate::executor::CancelToken;
use crate::placement::{Device, device_for};

/// One kernel call over dense f64 arrays (row-major).
#[derive(Debug)]
pub(crate) enum Kernel<'a> {
    /// Distances between the rows of `a` and of `b`, `dims` coordinates each.
    Pairwise {
        a: &'a [f64],
        b: &'a [f64],
        dims: usize,
        metric: pairwise::Metric,
    },
    /// `steps` heat steps on a `rows × cols` grid.
    Heat {
        grid: &'a [f64],
        rows: usize,
        cols: usize,
        alpha: f64,
        steps: usize,
    },
    /// `a · b` for `a` n×k and `b` k×m.
    Matmul {
        a: &'a [f64],
        b: &'a [f64],
        shape: (usize, usize, usize),
    },
}

impl Kernel<'_> {
    /// Values the kernel touches: what `quiver.gpu_min_values` is compared with in `auto`.
    fn work(&self) -> u128 {
        match self {
            Kernel::Pairwise { a, b, dims, .. } => {
                (a.len() as u128 / (*dims).max(1) as u128) * b.len() as u128
            }
            Kernel::Heat { grid, steps, .. } => grid.len() as u128 * (*steps).max(1) as u128,
            Kernel::Matmul { shape, .. } => shape.0 as u128 * shape.1 as u128 * shape.2 as u128,
        }
    }

    /// The CPU twin.
    fn cpu(&self) -> Vec<f64> {
        match *self {
            Kernel::Pairwise { a, b, dims, metric } => pairwise::cpu_distances(a, b, dims, metric),
            Kernel::Heat {
                grid,
                rows,
                cols,
                alpha,
                steps,
            } => heat::cpu_steps(grid, rows, cols, alpha, steps),
            Kernel::Matmul { a, b, shape } => matmul::cpu_product(a, b, shape),
        }
    }

    /// The GPU form, in f64 where the adapter has it.
    #[cfg(feature = "gpu")]
    fn gpu(&self, timings: &mut crate::gpu::kernels::Timings) -> Result<Vec<f64>> {
        let g = crate::gpu::device::gpu().map_err(|reason| {
            datafusion::common::DataFusionError::Execution(format!("no GPU adapter: {reason}"))
        })?;
        if g.info.f64 {
            self.gpu_in::<f64>(g, timings)
        } else {
            self.gpu_in::<f32>(g, timings)
        }
    }

    #[cfg(feature = "gpu")]
    fn gpu_in<T: crate::gpu::kernels::Real>(
        &self,
        g: &crate::gpu::device::Gpu,
        timings: &mut crate::gpu::kernels::Timings,
    ) -> Result<Vec<f64>> {
        use crate::gpu::kernels::{heat_step, matmul as mm, pairwise_distance};
        match *self {
            Kernel::Pairwise { a, b, dims, metric } => {
                pairwise_distance::distances::<T>(g, a, b, dims, metric.code(), timings)
            }
            Kernel::Heat {
                grid,
                rows,
                cols,
                alpha,
                steps,
            } => heat_step::steps::<T>(g, grid, rows, cols, alpha, steps, timings),
            Kernel::Matmul { a, b, shape } => mm::product::<T>(g, a, b, shape, timings),
        }
    }
}

/// What a run did, for `EXPLAIN ANALYZE`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Report {
    /// Kernel calls that ran on the GPU.
    pub gpu_kernels: usize,
    /// Kernel calls the GPU failed and the CPU answered.
    pub gpu_fallbacks: usize,
    /// Time moving data to the device and back, and computing there.
    pub upload: std::time::Duration,
    pub compute: std::time::Duration,
    pub download: std::time::Duration,
}

/// Runs kernels for one execution of an array function.
pub(crate) struct Runner<'a> {
    pub(crate) mode: GpuMode,
    pub(crate) min_values: usize,
    pub(crate) token: &'a CancelToken,
    pub(crate) reservation: &'a mut MemoryReservation,
    pub(crate) report: Report,
}

impl Runner<'_> {
    /// Accounts `bytes` more to the query's memory pool (an error past its limit) and checks
    /// for cancellation.
    pub(crate) fn reserve(&mut self, bytes: usize) -> Result<()> {
        self.token.check()?;
        self.reservation.try_grow(bytes)
    }

    /// The kernel's result, from the device `quiver.gpu` picks for its size; the CPU twin
    /// when the GPU fails.
    pub(crate) fn run(&mut self, kernel: &Kernel) -> Result<Vec<f64>> {
        self.token.check()?;
        if device_for(self.mode, self.min_values, kernel.work())? == Device::Gpu {
            #[cfg(feature = "gpu")]
            {
                let mut timings = crate::gpu::kernels::Timings::default();
                match kernel.gpu(&mut timings) {
                    Ok(out) => {
                        self.report.gpu_kernels += 1;
                        self.report.upload += timings.upload;
                        self.report.compute += timings.compute;
                        self.report.download += timings.download;
                        return Ok(out);
                    }
                    Err(e) => {
                        log::warn!("GPU kernel failed, the CPU computes it instead: {e}");
                        self.report.gpu_fallbacks += 1;
                    }
                }
            }
        }
        let out = kernel.cpu();
        self.token.check()?;
        Ok(out)
    }
}
