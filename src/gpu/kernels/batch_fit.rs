//! Kernel 3, batched curve fits: one Levenberg–Marquardt run per fit, all fits of a call in
//! one dispatch (`batch_fit.wgsl`, one invocation per fit, the iterations inside the
//! shader), for `curve_fit` over many groups. Its CPU twin is
//! `quiver_udfs::fit::lm::fit`: the shader runs the same loop as lm.rs's `fit_from`, and
//! everything around it (starting points, retries, the conclusion in f64) is the CPU's own
//! code, shared through `quiver_udfs::fit::batch`.
//!
//! Models on the GPU: power, exp, linear, gauss, logistic, poly1 .. poly10 ([`model_code`];
//! in f32 only up to poly3); expression models stay on the CPU. `e^v` and `ln v` are the shader's own (Taylor series
//! with range reduction; the f32 logarithm refined by a Halley step) because Vulkan has no
//! f64 `exp`/`log`.
//!
//! Tolerance: in f64 the run is the CPU's up to the last bits of `exp`/`log`, so where both
//! converge |p_gpu − p_cpu| ≤ 1e-6·(|p| + stderr) and the convergence flags agree on
//! well-posed fits. In f32 (adapters without `SHADER_F64`) the stopping tolerances are
//! raised to f32's epsilon and the parameters agree to 1e-2 relative; data beyond f32's
//! range does not converge there.

use datafusion::common::{Result, exec_err};
use quiver_udfs::fit::batch::Job;
use quiver_udfs::fit::bounds::Bounds;
use quiver_udfs::fit::lm::{MAX_PARAMS, Options, Run};
use quiver_udfs::fit::models::Model;

use super::{Real, Timings, bind, finish, max_elements, pipeline};
use crate::gpu::buffer::{read, scoped, uniform, upload, zeroed};
use crate::gpu::device::Gpu;

/// Fits per workgroup (`@workgroup_size` in the shader).
const WORKGROUP: usize = 64;

/// The most polynomial degree fitted in f32: the normal equations of higher degrees are too
/// ill-conditioned for f32's precision.
const MAX_F32_DEGREE: usize = 3;

/// The shader's code for `model` computed in f64 (`f64`) or f32, `None` for a model it
/// does not compute in that precision.
pub(crate) fn model_code(model: &Model, f64: bool) -> Option<u32> {
    match model {
        Model::Power => Some(0),
        Model::Exp => Some(1),
        Model::Linear => Some(2),
        Model::Gauss => Some(3),
        Model::Logistic => Some(4),
        Model::Poly(d) if model.n_params() <= MAX_PARAMS && (f64 || *d <= MAX_F32_DEGREE) => {
            Some(5)
        }
        Model::Poly(_) | Model::Expr(_) => None,
    }
}

/// One run per job (in order) of `model` within `bounds`, computed in `T`.
pub(crate) fn runs<T: Real>(
    gpu: &Gpu,
    model: &Model,
    bounds: Option<&Bounds>,
    opts: &Options,
    jobs: &[Job],
    timings: &mut Timings,
) -> Result<Vec<Run>> {
    let Some(code) = model_code(model, size_of::<T>() == 8) else {
        return exec_err!("curve_fit: the model {model:?} has no GPU form");
    };
    let n = model.n_params();
    let stride = 2 * n + 3;
    if jobs
        .iter()
        .any(|j| j.start.len() != n || j.x.len() != j.y.len())
    {
        return exec_err!("curve_fit: a GPU fit needs {n} starting values and as many x as y");
    }
    let mut out = Vec::with_capacity(jobs.len());
    if jobs.is_empty() {
        return Ok(out);
    }
    let kernel = pipeline::<T>(gpu, "batch_fit", include_str!("batch_fit.wgsl"), "fit")?;
    let consts = constants::<T>(n, bounds, opts);
    // Chunks of fits whose points, starts and outputs each fit one binding and the dispatch.
    let limit = max_elements::<T>(gpu);
    let max_fits = (gpu.info.max_workgroups_per_dimension as usize * WORKGROUP)
        .min(limit / stride)
        .min(limit / (n + 1));
    let mut rest = jobs;
    while !rest.is_empty() {
        let mut points = 0;
        let mut take = 0;
        while take < rest.len() && take < max_fits && points + rest[take].x.len() <= limit {
            points += rest[take].x.len();
            take += 1;
        }
        if take == 0 {
            return exec_err!(
                "curve_fit: a group of {} points exceeds the adapter's buffer limit",
                rest[0].x.len()
            );
        }
        let (chunk, next) = rest.split_at(take);
        out.extend(chunk_runs(
            gpu,
            &kernel,
            &consts,
            (code, n, opts),
            chunk,
            timings,
        )?);
        rest = next;
    }
    Ok(out)
}

/// The shader's `consts`: tolerances (at least `T`'s epsilon), `T`'s largest finite and
/// smallest positive normal value, then the bounds (open sides: ∓ the largest value).
fn constants<T: Real>(n: usize, bounds: Option<&Bounds>, opts: &Options) -> Vec<T> {
    let (max, eps) = (T::MAX, T::EPSILON);
    let side = |b: Option<&Vec<f64>>, open: f64| -> Vec<f64> {
        b.map_or_else(
            || vec![open; n],
            |v| v.iter().map(|x| x.clamp(-max, max)).collect(),
        )
    };
    [
        opts.xtol.max(eps),
        opts.ftol.max(eps),
        opts.gtol.max(eps),
        max,
        T::MIN_POSITIVE,
    ]
    .into_iter()
    .chain(side(bounds.map(|b| &b.lower), -max))
    .chain(side(bounds.map(|b| &b.upper), max))
    .map(T::from_f64)
    .collect()
}

/// One dispatch over `jobs` (which fit the adapter's limits).
fn chunk_runs<T: Real>(
    gpu: &Gpu,
    kernel: &wgpu::ComputePipeline,
    consts: &[T],
    (code, n, opts): (u32, usize, &Options),
    jobs: &[Job],
    timings: &mut Timings,
) -> Result<Vec<Run>> {
    let stride = 2 * n + 3;
    let fits = jobs.len();
    let raw = scoped(gpu, || {
        let buffers = timings.time(
            |t| &mut t.upload,
            || {
                let real = |v: &[f64]| v.iter().map(|x| T::from_f64(*x)).collect::<Vec<T>>();
                let xs: Vec<T> = jobs.iter().flat_map(|j| real(j.x)).collect();
                let ys: Vec<T> = jobs.iter().flat_map(|j| real(j.y)).collect();
                let mut offsets = Vec::with_capacity(fits + 1);
                offsets.push(0u32);
                for j in jobs {
                    offsets.push(offsets[offsets.len() - 1] + j.x.len() as u32);
                }
                let starts: Vec<T> = jobs
                    .iter()
                    .flat_map(|j| real(&j.start).into_iter().chain([T::from_f64(j.mu)]))
                    .collect();
                let iterations = opts.max_iterations.min(u32::MAX as usize) as u32;
                let params = [fits as u32, n as u32, code, iterations];
                let buffers = [
                    uniform(gpu, "params", &params),
                    upload(gpu, "consts", consts),
                    upload(gpu, "xs", &xs),
                    upload(gpu, "ys", &ys),
                    upload(gpu, "offsets", &offsets),
                    upload(gpu, "starts", &starts),
                    zeroed(gpu, "out", (fits * stride * size_of::<T>()) as u64),
                ];
                finish(gpu)?;
                Ok(buffers)
            },
        )?;
        timings.time(
            |t| &mut t.compute,
            || {
                let entries: Vec<(u32, &wgpu::Buffer)> = (0u32..).zip(buffers.iter()).collect();
                let group = bind(gpu, kernel, &entries);
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(kernel);
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(fits.div_ceil(WORKGROUP) as u32, 1, 1);
                }
                gpu.queue.submit([encoder.finish()]);
                finish(gpu)
            },
        )?;
        timings.time(
            |t| &mut t.download,
            || read::<T>(gpu, &buffers[6], fits * stride),
        )
    })?;
    Ok(raw
        .chunks_exact(stride)
        .map(|r| {
            let r: Vec<f64> = r.iter().map(|v| v.to_f64()).collect();
            Run {
                p: r[..n].to_vec(),
                diag: r[n..2 * n].to_vec(),
                rss: r[2 * n],
                iterations: r[2 * n + 1] as usize,
                converged: r[2 * n + 2] > 0.5,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use quiver_udfs::fit::batch::{BatchSolver, fit_batch};
    use quiver_udfs::fit::lm::{FitResult, fit};

    use super::*;
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip, gpu_with_f64_or_skip};

    /// The kernel as a batch solver, in `T`.
    struct Kernel<T>(&'static Gpu, std::marker::PhantomData<T>);

    impl<T: Real> std::fmt::Debug for Kernel<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "batch_fit in {}", T::WGSL)
        }
    }

    impl<T: Real> BatchSolver for Kernel<T> {
        fn accepts(&self, _: &Model, _: usize, _: usize) -> bool {
            true
        }

        fn solve(
            &self,
            model: &Model,
            bounds: Option<&Bounds>,
            opts: &Options,
            jobs: &[Job],
        ) -> std::result::Result<Vec<Run>, String> {
            runs::<T>(self.0, model, bounds, opts, jobs, &mut Timings::default())
                .map_err(|e| e.to_string())
        }
    }

    fn models() -> Vec<(Model, Vec<f64>)> {
        vec![
            (Model::Power, vec![300.0, -0.8]),
            (Model::Exp, vec![2.0, -0.3, 1.5]),
            (Model::Linear, vec![-1.5, 4.0]),
            (Model::Gauss, vec![3.0, 5.0, 1.7]),
            (Model::Logistic, vec![10.0, 1.2, 4.5]),
            (Model::Poly(1), vec![1.0, 0.5]),
            (Model::Poly(3), vec![1.0, -2.0, 0.5, 0.1]),
            (
                Model::Poly(10),
                (0..11).map(|i| 0.5 / (i + 1) as f64).collect(),
            ),
        ]
    }

    /// `groups` seeded point sets of the model around `truth`: 3 to 40 points with 1% noise,
    /// x in (0, 10] ((-1, 1] for polynomials); every 7th group has a NaN, every 11th is too small to fit, every 13th
    /// has y = 0 (no identifiable fit).
    fn sets(model: &Model, truth: &[f64], groups: usize, seed: u64) -> Vec<(Vec<f64>, Vec<f64>)> {
        let mut rng = Rng(seed);
        (0..groups)
            .map(|g| {
                let len = if g % 11 == 10 {
                    1
                } else {
                    12 + rng.below(29) as usize
                };
                let (from, span) = if matches!(model, Model::Poly(_)) {
                    (-1.0, 2.0)
                } else {
                    (0.0, 10.0)
                };
                let x: Vec<f64> = (0..len)
                    .map(|k| from + (k + 1) as f64 * span / len as f64)
                    .collect();
                let mut y: Vec<f64> = x
                    .iter()
                    .map(|x| model.eval(*x, truth, None) * (1.0 + 0.01 * (rng.uniform() - 0.5)))
                    .collect();
                if g % 7 == 6 {
                    y[0] = f64::NAN;
                }
                if g % 13 == 12 {
                    y.iter_mut().for_each(|v| *v = 0.0);
                }
                (x, y)
            })
            .collect()
    }

    /// The kernel's fits of `sets` against the CPU's, `rel` the tolerance relative to
    /// |p| + stderr; flags must agree when `flags`.
    fn check<T: Real>(
        g: &'static Gpu,
        model: &Model,
        sets: &[(Vec<f64>, Vec<f64>)],
        (p0, bounds): (Option<&[f64]>, Option<&Bounds>),
        opts: &Options,
        rel: f64,
        flags: bool,
    ) {
        let refs: Vec<(&[f64], &[f64])> = sets
            .iter()
            .map(|(x, y)| (x.as_slice(), y.as_slice()))
            .collect();
        let solver = Kernel::<T>(g, std::marker::PhantomData);
        let got = fit_batch(&solver, model, &refs, p0, bounds, opts)
            .unwrap_or_else(|e| panic!("{model:?} {}: {e}", T::WGSL));
        assert_eq!(got.len(), sets.len());
        let mut both = 0;
        for (k, ((x, y), gpu)) in sets.iter().zip(&got).enumerate() {
            let cpu: FitResult = fit(model, x, y, p0, bounds, opts);
            let at = format!("{model:?} {} group {k} of {}", T::WGSL, sets.len());
            if flags {
                assert_eq!(
                    gpu.converged, cpu.converged,
                    "{at}: gpu {gpu:?} cpu {cpu:?}"
                );
            }
            let (Some(pg), Some(pc)) = (&gpu.params, &cpu.params) else {
                continue;
            };
            both += 1;
            let errs = cpu.stderrs.clone().unwrap_or_default();
            for (i, (a, b)) in pg.iter().zip(pc).enumerate() {
                let e = errs.get(i).copied().flatten().unwrap_or(0.0);
                assert!(
                    (a - b).abs() <= rel * (b.abs() + e),
                    "{at} param {i}: gpu {pg:?} cpu {pc:?} stderr {errs:?}"
                );
            }
        }
        let cpu_fits = sets
            .iter()
            .filter(|(x, y)| fit(model, x, y, p0, bounds, opts).params.is_some())
            .count();
        assert!(
            sets.is_empty() || cpu_fits > 0,
            "{model:?}: no fits to compare"
        );
        assert!(
            both * 10 >= cpu_fits * 9,
            "{model:?} {}: {both} fits on both of {cpu_fits} on the CPU",
            T::WGSL
        );
    }

    fn all_models<T: Real>(g: &'static Gpu, rel: f64, flags: bool) {
        let opts = Options::default();
        let computed = models()
            .into_iter()
            .filter(|(m, _)| model_code(m, size_of::<T>() == 8).is_some());
        for (model, truth) in computed {
            // Empty, one fit, group counts around the 64-fit workgroup.
            for (i, groups) in [0, 1, 63, 65, 130].into_iter().enumerate() {
                let s = sets(
                    &model,
                    &truth,
                    groups,
                    17 * i as u64 + model.n_params() as u64,
                );
                check::<T>(g, &model, &s, (None, None), &opts, rel, flags);
            }
        }
        // A starting point given (its retries included); bounds that hold the exponent
        // above its value (projected steps, parameters fixed on a bound); runs cut short:
        // no fit converges.
        let s = sets(&Model::Power, &[300.0, -0.8], 40, 5);
        let p0 = Some(&[100.0, -0.5][..]);
        check::<T>(g, &Model::Power, &s, (p0, None), &opts, rel, flags);
        let names = Model::Power.param_names();
        let bounds = Bounds::new(vec![0.0, -0.6], vec![f64::INFINITY, 0.0], &names)
            .unwrap_or_else(|e| panic!("{e}"));
        check::<T>(g, &Model::Power, &s, (p0, Some(&bounds)), &opts, rel, flags);
        let short = Options {
            max_iterations: 1,
            ..opts
        };
        let refs: Vec<(&[f64], &[f64])> = s
            .iter()
            .map(|(x, y)| (x.as_slice(), y.as_slice()))
            .collect();
        let solver = Kernel::<T>(g, std::marker::PhantomData);
        let got = fit_batch(&solver, &Model::Gauss, &refs, None, None, &short).unwrap_or_default();
        let cpu: Vec<FitResult> = s
            .iter()
            .map(|(x, y)| fit(&Model::Gauss, x, y, None, None, &short))
            .collect();
        assert_eq!(got.len(), cpu.len());
        for (a, b) in got.iter().zip(&cpu) {
            assert_eq!(
                (a.converged, a.params.is_some()),
                (b.converged, b.params.is_some())
            );
        }
    }

    #[test]
    fn matches_the_cpu_twin_in_f64_where_the_adapter_has_it() {
        let Some(g) = gpu_with_f64_or_skip() else {
            return;
        };
        all_models::<f64>(g, 1e-6, true);
    }

    #[test]
    fn matches_the_cpu_twin_in_f32() {
        let Some(g) = gpu_or_skip() else { return };
        all_models::<f32>(g, 1e-2, false);
    }

    #[test]
    fn expression_models_have_no_gpu_form() {
        let model = Model::parse("a * x^b + c").unwrap_or(Model::Linear);
        assert!(model_code(&model, true).is_none() || model == Model::Linear);
        assert!(model_code(&Model::Poly(10), true).is_some());
        assert!(model_code(&Model::Poly(4), false).is_none());
        let Some(g) = gpu_or_skip() else { return };
        let job = Job {
            x: &[1.0, 2.0, 3.0, 4.0],
            y: &[1.0, 2.0, 3.0, 4.0],
            start: vec![1.0; 3],
            mu: 1e-3,
        };
        let err = runs::<f32>(
            g,
            &model,
            None,
            &Options::default(),
            &[job],
            &mut Timings::default(),
        );
        assert!(err.is_err());
    }
}
