//! The WGSL kernels, one `<k>.rs` (host side, tolerance, CPU twin) + `<k>.wgsl` per kernel,
//! and what their host sides share: the float type a shader computes in ([`Real`]: f64 where
//! the adapter has `SHADER_F64`, else f32), compiled pipelines cached per process, bind
//! groups, and the time spent moving data versus computing ([`Timings`]). Kernel 2
//! (`expression.rs`) has no shader of its own: it is WGSL put into the grouped reduction's.
//! Kernel 3 (`batch_fit`) runs one curve fit per invocation.

pub(crate) mod batch_fit;
pub(crate) mod expression;
pub(crate) mod grouped_reduce;
pub(crate) mod heat_step;
pub(crate) mod matmul;
pub(crate) mod pairwise_distance;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytemuck::Pod;
use datafusion::common::{DataFusionError, Result, exec_err};
use wgpu::{Buffer, ComputePipeline};

use super::buffer::{read, scoped, uniform, upload, zeroed};
use super::device::Gpu;

/// A float type a kernel computes in. Shaders declare `alias real = f32;` on their first
/// line; [`pipeline`] swaps in `f64` for `f64` data.
pub(crate) trait Real: Pod + Copy + Send + Sync + 'static {
    /// The WGSL type name.
    const WGSL: &'static str;
    /// Unit roundoff (half the machine epsilon): the relative error of one rounding; the
    /// tests' tolerances are multiples of it.
    #[cfg(test)]
    const UNIT_ROUNDOFF: f64;
    /// The largest finite value, the smallest positive normal value and the machine
    /// epsilon, as f64.
    const MAX: f64;
    const MIN_POSITIVE: f64;
    const EPSILON: f64;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const WGSL: &'static str = "f32";
    #[cfg(test)]
    const UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;
    const MAX: f64 = f32::MAX as f64;
    const MIN_POSITIVE: f64 = f32::MIN_POSITIVE as f64;
    const EPSILON: f64 = f32::EPSILON as f64;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const WGSL: &'static str = "f64";
    #[cfg(test)]
    const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
    const MAX: f64 = f64::MAX;
    const MIN_POSITIVE: f64 = f64::MIN_POSITIVE;
    const EPSILON: f64 = f64::EPSILON;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Where a kernel's wall time went: host → device copies, the dispatches, device → host.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timings {
    pub upload: Duration,
    pub compute: Duration,
    pub download: Duration,
}

impl Timings {
    /// Runs `work`, adding its wall time to the field `slot` picks.
    pub(crate) fn time<R>(
        &mut self,
        slot: fn(&mut Timings) -> &mut Duration,
        work: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let start = Instant::now();
        let result = work();
        *slot(self) += start.elapsed();
        result
    }
}

/// The most compiled pipelines kept: each expression kernel 2 translates is a shader of its
/// own, so the cache is bounded; the least recently used pipeline is dropped first.
const PIPELINES_KEPT: usize = 64;

/// Compiled pipelines (`P`) by (shader text, entry point), with the tick of their last use.
struct Pipelines<P> {
    compiled: HashMap<(String, &'static str), (P, u64)>,
    tick: u64,
}

impl<P> Default for Pipelines<P> {
    fn default() -> Self {
        Self {
            compiled: HashMap::new(),
            tick: 0,
        }
    }
}

impl<P: Clone> Pipelines<P> {
    fn get(&mut self, key: &(String, &'static str)) -> Option<P> {
        self.tick += 1;
        let (pipeline, used) = self.compiled.get_mut(key)?;
        *used = self.tick;
        Some(pipeline.clone())
    }

    fn insert(&mut self, key: (String, &'static str), pipeline: P) {
        while self.compiled.len() >= PIPELINES_KEPT {
            let oldest = self.compiled.iter().min_by_key(|(_, (_, used))| *used);
            let Some(oldest) = oldest.map(|(k, _)| k.clone()) else {
                break;
            };
            self.compiled.remove(&oldest);
        }
        self.tick += 1;
        self.compiled.insert(key, (pipeline, self.tick));
    }
}

/// The compute pipeline of `entry` in `source` compiled for `T` (cached per process by the
/// source text, at most [`PIPELINES_KEPT`]; the first line of `source` must be
/// `alias real = f32;`).
pub(crate) fn pipeline<T: Real>(
    gpu: &Gpu,
    kernel: &'static str,
    source: &str,
    entry: &'static str,
) -> Result<ComputePipeline> {
    static CACHE: OnceLock<Mutex<Pipelines<ComputePipeline>>> = OnceLock::new();
    let Some(body) = source.strip_prefix("alias real = f32;") else {
        return Err(DataFusionError::Internal(format!(
            "{kernel}.wgsl must start with `alias real = f32;`"
        )));
    };
    let text = format!("alias real = {};{body}", T::WGSL);
    let cache = CACHE.get_or_init(Default::default);
    let key = (text, entry);
    if let Some(p) = cache.lock().map_err(poisoned)?.get(&key) {
        return Ok(p);
    }
    let compiled = scoped(gpu, || {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel),
                source: wgpu::ShaderSource::Wgsl(key.0.as_str().into()),
            });
        Ok(gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            }))
    })?;
    cache
        .lock()
        .map_err(poisoned)?
        .insert(key, compiled.clone());
    Ok(compiled)
}

fn poisoned<E>(_: E) -> DataFusionError {
    DataFusionError::Internal("GPU pipeline cache poisoned".into())
}

/// A bind group for `pipeline`'s group 0 with `buffers` at their binding numbers.
pub(crate) fn bind(
    gpu: &Gpu,
    pipeline: &ComputePipeline,
    buffers: &[(u32, &Buffer)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .map(|(binding, buffer)| wgpu::BindGroupEntry {
            binding: *binding,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// Waits until the device has finished the work submitted so far.
pub(crate) fn finish(gpu: &Gpu) -> Result<()> {
    super::buffer::wait(gpu, None)
}

/// The most elements of `T` one storage binding may hold on this adapter.
pub(crate) fn max_elements<T>(gpu: &Gpu) -> usize {
    (gpu.info.max_storage_binding.min(gpu.info.max_buffer_size) / size_of::<T>() as u64)
        .min(usize::MAX as u64) as usize
}

/// The host side of kernels whose output row i needs row i of `a` and all of `b` (pairwise
/// distances, matrix products). `b` is uploaded once; `a` (rows of `width` values) goes in
/// chunks of rows whose part of `a` and of the output fit one binding and the dispatch limit.
/// Each chunk runs `kernel` with one invocation per output cell in 16 × 16 workgroups (x the
/// output column, y the row) and bindings 0: four u32 from `params(rows in the chunk)`, 1: the
/// chunk of `a`, 2: `b`, 3: the chunk's output. Returns the n × m output, row-major.
pub(crate) fn rows_against<T: Real>(
    gpu: &Gpu,
    kernel: &ComputePipeline,
    (a, width): (&[f64], usize),
    b: &[f64],
    m: usize,
    params: impl Fn(u32) -> [u32; 4],
    timings: &mut Timings,
) -> Result<Vec<f64>> {
    const TILE: u32 = 16;
    let limit = max_elements::<T>(gpu);
    let dispatch = gpu.info.max_workgroups_per_dimension as usize * TILE as usize;
    if width == 0 || b.len() > limit || m > dispatch || width > limit {
        return exec_err!(
            "GPU: rows of {width} values against {} values and {m} output columns exceed the adapter's limits",
            b.len()
        );
    }
    let n = a.len() / width;
    let mut out = Vec::with_capacity(n * m);
    if n == 0 || m == 0 {
        return Ok(out);
    }
    let rows_per_chunk = (limit / m).min(limit / width).min(dispatch).max(1);
    let to_real = |v: &[f64]| v.iter().map(|x| T::from_f64(*x)).collect::<Vec<T>>();
    let b_buf = timings.time(
        |t| &mut t.upload,
        || {
            let buf = upload(gpu, "b", &to_real(b));
            finish(gpu)?;
            Ok(buf)
        },
    )?;
    for rows in a.chunks(rows_per_chunk * width) {
        let chunk_n = rows.len() / width;
        let part = scoped(gpu, || {
            let (a_buf, params, result) = timings.time(
                |t| &mut t.upload,
                || {
                    let a_buf = upload(gpu, "a", &to_real(rows));
                    let result = zeroed(gpu, "out", (chunk_n * m * size_of::<T>()) as u64);
                    let params = uniform(gpu, "params", &params(chunk_n as u32));
                    finish(gpu)?;
                    Ok((a_buf, params, result))
                },
            )?;
            timings.time(
                |t| &mut t.compute,
                || {
                    let group = bind(
                        gpu,
                        kernel,
                        &[(0, &params), (1, &a_buf), (2, &b_buf), (3, &result)],
                    );
                    let mut encoder = gpu.device.create_command_encoder(&Default::default());
                    {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        pass.set_pipeline(kernel);
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
            timings.time(|t| &mut t.download, || read::<T>(gpu, &result, chunk_n * m))
        })?;
        out.extend(part.into_iter().map(T::to_f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_cache_keeps_the_most_recently_used() {
        let mut cache = Pipelines::default();
        let key = |i: usize| (format!("shader {i}"), "main");
        for i in 0..PIPELINES_KEPT {
            cache.insert(key(i), i);
        }
        // Shader 0 is used again, so shader 1 is now the least recently used.
        assert_eq!(cache.get(&key(0)), Some(0));
        cache.insert(key(PIPELINES_KEPT), PIPELINES_KEPT);
        assert_eq!(cache.compiled.len(), PIPELINES_KEPT);
        assert_eq!(cache.get(&key(1)), None);
        assert_eq!(cache.get(&key(0)), Some(0));
        assert_eq!(cache.get(&key(PIPELINES_KEPT)), Some(PIPELINES_KEPT));
    }
}
