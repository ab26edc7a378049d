//! [`GpuFitSolver`]: `quiver_udfs`' [`BatchSolver`] on kernel 3 (`gpu::kernels::batch_fit`),
//! in f64 where the adapter has `SHADER_F64`, else f32. It takes an aggregate's groups when
//! `quiver.gpu` places work of their size on the GPU, and records what it did in the
//! metrics of the [`super::exec::GpuCurveFitExec`] above the aggregate. A kernel error is
//! logged and counted; the caller (`CurveFitter`) then fits on the CPU.
//!
//! A fit of more than [`MAX_GPU_FIT_POINTS`] points runs on the CPU, beside the dispatch of
//! the others: the kernel gives each fit one invocation, which loops over all its points in
//! every iteration, so one large group would hold the whole dispatch (and a single group of
//! millions of points could outlast the device's wait) while a CPU core fits it faster.

use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, Time};
use quiver_sql::GpuMode;
use quiver_udfs::fit::batch::{BatchSolver, Job};
use quiver_udfs::fit::bounds::Bounds;
use quiver_udfs::fit::lm::{Options, Run};
use quiver_udfs::fit::models::Model;
use rayon::prelude::*;

use crate::gpu::device::gpu;
use crate::gpu::kernels::Timings;
use crate::gpu::kernels::batch_fit::{model_code, runs};
use crate::placement::{Device, device_for};

/// The GPU as a batch solver for `curve_fit`, with its placement setting and metrics.
#[derive(Debug)]
pub(crate) struct GpuFitSolver {
    mode: GpuMode,
    min_values: usize,
    gpu_fits: Count,
    cpu_large_fits: Count,
    gpu_fallbacks: Count,
    upload: Time,
    compute: Time,
    download: Time,
}

impl GpuFitSolver {
    /// A solver under `quiver.gpu = mode` reporting into `metrics`.
    pub(crate) fn new(mode: GpuMode, min_values: usize, metrics: &ExecutionPlanMetricsSet) -> Self {
        let m = || MetricBuilder::new(metrics);
        Self {
            mode,
            min_values,
            gpu_fits: m().counter("gpu_fits", 0),
            cpu_large_fits: m().counter("cpu_large_fits", 0),
            gpu_fallbacks: m().counter("gpu_fallbacks", 0),
            upload: m().subset_time("gpu_upload", 0),
            compute: m().subset_time("gpu_compute", 0),
            download: m().subset_time("gpu_download", 0),
        }
    }
}

/// The most points of one fit sent to the GPU; larger fits run on the CPU.
pub(crate) const MAX_GPU_FIT_POINTS: usize = 16_384;

/// Whether the GPU computes `model` (on this adapter's precision); the reason if not.
pub(crate) fn gpu_form(model: &Model) -> Result<(), String> {
    let g = gpu()?;
    match (model_code(model, g.info.f64), model) {
        (Some(_), _) => Ok(()),
        (None, Model::Poly(d)) => Err(format!(
            "poly{d} has no f32 GPU form (adapter {} has no SHADER_F64)",
            g.info.name
        )),
        (None, _) => Err("expression models have no GPU form".into()),
    }
}

impl BatchSolver for GpuFitSolver {
    fn accepts(&self, model: &Model, _fits: usize, points: usize) -> bool {
        // x and y of every point are the values moved and fitted.
        let values = 2 * points as u128;
        gpu_form(model).is_ok()
            && matches!(
                device_for(self.mode, self.min_values, values),
                Ok(Device::Gpu)
            )
    }

    fn solve(
        &self,
        model: &Model,
        bounds: Option<&Bounds>,
        opts: &Options,
        jobs: &[Job],
    ) -> Result<Vec<Run>, String> {
        let (large, small): (Vec<usize>, Vec<usize>) =
            (0..jobs.len()).partition(|&i| jobs[i].x.len() > MAX_GPU_FIT_POINTS);
        if large.is_empty() {
            return self.on_gpu(model, bounds, opts, jobs);
        }
        let on_cpu = || -> Vec<Run> {
            large
                .par_iter()
                .map(|&i| jobs[i].run_on_cpu(model, bounds, opts))
                .collect()
        };
        let small_jobs: Vec<Job> = small.iter().map(|&i| jobs[i].clone()).collect();
        let (cpu_runs, gpu_runs) =
            rayon::join(on_cpu, || self.on_gpu(model, bounds, opts, &small_jobs));
        let gpu_runs = gpu_runs?;
        self.cpu_large_fits.add(large.len());
        let mut runs: Vec<Option<Run>> = vec![None; jobs.len()];
        for (&i, run) in large.iter().zip(cpu_runs).chain(small.iter().zip(gpu_runs)) {
            runs[i] = Some(run);
        }
        runs.into_iter()
            .map(|r| r.ok_or_else(|| "curve_fit: a fit has no run".to_string()))
            .collect()
    }
}

impl GpuFitSolver {
    /// The runs of `jobs` on the GPU (none for no jobs).
    fn on_gpu(
        &self,
        model: &Model,
        bounds: Option<&Bounds>,
        opts: &Options,
        jobs: &[Job],
    ) -> Result<Vec<Run>, String> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let g = gpu()?;
        let mut timings = Timings::default();
        let result = if g.info.f64 {
            runs::<f64>(g, model, bounds, opts, jobs, &mut timings)
        } else {
            runs::<f32>(g, model, bounds, opts, jobs, &mut timings)
        };
        self.upload.add_duration(timings.upload);
        self.compute.add_duration(timings.compute);
        self.download.add_duration(timings.download);
        match result {
            Ok(runs) => {
                self.gpu_fits.add(jobs.len());
                Ok(runs)
            }
            Err(e) => {
                log::warn!("curve_fit on the GPU failed, the CPU fits instead: {e}");
                self.gpu_fallbacks.add(1);
                Err(e.to_string())
            }
        }
    }
}
