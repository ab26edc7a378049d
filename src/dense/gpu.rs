//! The dense aggregation's GPU path: a block's element group codes (with filtered-out and
//! NULL elements skipped) and the f32 columns an aggregate's value reads go to the
//! grouped-reduction kernel, which computes the value from them (kernel 2, a translated
//! expression) and reduces it; the per-segment results merge into the block's statistics.
//! The columns stay on the device afterwards ([`resident`]), so a later query over the same
//! block reduces it without reading the files or copying the values again. An error leaves
//! the statistics untouched, so the caller can reduce the block on the CPU instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::{Array, BooleanArray, Float32Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, Time};

use super::kernel::{Block, GroupStats, Partial, Stats};
use super::spec::DenseSpec;
use crate::gpu::buffer::upload;
use crate::gpu::device::{Gpu, gpu};
use crate::gpu::kernels::Timings;
use crate::gpu::kernels::expression::{Translated, translate};
use crate::gpu::kernels::grouped_reduce::reduce_on_device;
use crate::gpu::resident::{self, ColumnKey, FileVersion, ResidentColumn};

/// What the blocks of one GPU dense aggregation share: the upload, compute and download
/// time of its reductions (`gpu_upload`, `gpu_compute`, `gpu_download` in `EXPLAIN
/// ANALYZE`, summed over blocks that run on several threads at once, so the sum may exceed
/// the wall time), and each file's version, stat'ed (or asked of its object store) once per
/// query rather than once per block.
#[derive(Clone)]
pub(crate) struct GpuRun {
    upload: Time,
    compute: Time,
    download: Time,
    versions: Arc<Mutex<HashMap<String, Option<FileVersion>>>>,
}

impl GpuRun {
    pub(crate) fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let time = |name| MetricBuilder::new(metrics).subset_time(name, partition);
        Self {
            upload: time("gpu_upload"),
            compute: time("gpu_compute"),
            download: time("gpu_download"),
            versions: Arc::default(),
        }
    }

    fn add(&self, timings: &Timings) {
        self.upload.add_duration(timings.upload);
        self.compute.add_duration(timings.compute);
        self.download.add_duration(timings.download);
    }

    /// The version of the file at `path` as this query first saw it.
    fn version(&self, path: &str) -> Option<FileVersion> {
        let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        versions
            .entry(path.to_string())
            .or_insert_with(|| FileVersion::of(path))
            .clone()
    }
}

/// One block of a GPU dense aggregation: where its value columns are kept on the device.
pub(crate) struct DeviceBlock {
    /// Per value column (in `value_schema` order), its key in the resident cache; `None`
    /// where nothing is kept (a file that cannot be stat'ed, or a limit of 0).
    keys: Vec<Option<ColumnKey>>,
    limit: u64,
    /// Where the block's GPU time went, added to the plan's metrics when it is dropped.
    timings: Mutex<Timings>,
    run: GpuRun,
}

impl DeviceBlock {
    /// The block of file `path` over `ranges` (local to the file) in the aggregation `run`,
    /// keeping up to `limit` bytes of columns resident.
    pub(crate) fn new(
        spec: &DenseSpec,
        path: &str,
        ranges: &[(u64, u64)],
        limit: u64,
        run: &GpuRun,
    ) -> Self {
        let file = (limit > 0).then(|| run.version(path)).flatten();
        let keys = spec
            .vars
            .iter()
            .map(|&v| {
                let file = file.as_ref()?;
                Some(ColumnKey::new(file, spec.grid.read_identity(v), ranges))
            })
            .collect();
        Self {
            keys,
            limit,
            timings: Mutex::default(),
            run: run.clone(),
        }
    }

    fn timings(&self) -> std::sync::MutexGuard<'_, Timings> {
        self.timings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reduces the whole block from columns already on the device, when every column is
    /// there and no value filter needs the values on the host: `Ok(true)` when `partial`
    /// holds the block, `Ok(false)` (nothing changed) when the block must be read.
    pub(crate) fn reduce_resident(&self, block: &Block, partial: &mut Partial) -> Result<bool> {
        let spec = block.spec;
        if !spec.value_filter.is_empty() {
            return Ok(false);
        }
        let columns: Option<Vec<Arc<ResidentColumn>>> = self
            .keys
            .iter()
            .map(|k| k.as_ref().and_then(resident::get))
            .collect();
        let Some(columns) = columns else {
            return Ok(false);
        };
        let gpu = adapter()?;
        // Every input first, so that a failure leaves `partial` as it was.
        let mut reduced = Vec::with_capacity(spec.inputs.len());
        for input in &spec.inputs {
            let value = translated(input, spec)?;
            let used: Vec<&Arc<ResidentColumn>> =
                value.columns.iter().map(|&k| &columns[k]).collect();
            let mut timings = self.timings();
            reduced.push(reduce(
                gpu,
                block,
                &value,
                &used,
                None,
                spec.ngroups,
                &mut timings,
            )?);
        }
        block.count_rows(None, &mut partial.rows);
        for (parts, stats) in reduced.iter().zip(&mut partial.inputs) {
            for (g, part) in parts {
                stats.add(*g, part);
            }
        }
        Ok(true)
    }

    /// Adds the values of `input` over `batch` (the block read, one row per element, those
    /// `keep` allows) to `stats` on the GPU, leaving the columns it reads on the device.
    pub(crate) fn accumulate(
        &self,
        block: &Block,
        batch: &RecordBatch,
        input: &Arc<dyn PhysicalExpr>,
        keep: Option<&BooleanArray>,
        stats: &mut Stats,
    ) -> Result<()> {
        let value = translated(input, block.spec)?;
        let gpu = adapter()?;
        let mut columns = Vec::with_capacity(value.columns.len());
        for &k in &value.columns {
            let column = batch.column(k);
            let Some(floats) = column.as_any().downcast_ref::<Float32Array>() else {
                return exec_err!(
                    "GPU reduction needs f32 columns, not {}",
                    column.data_type()
                );
            };
            columns.push(self.to_device(gpu, k, floats)?);
        }
        let used: Vec<&Arc<ResidentColumn>> = columns.iter().collect();
        let mut timings = self.timings();
        let ngroups = stats.count.len();
        for (g, part) in reduce(gpu, block, &value, &used, keep, ngroups, &mut timings)? {
            stats.add(g, &part);
        }
        Ok(())
    }

    /// Value column `k` on the device: the resident copy, or uploaded now (and kept when it
    /// has a key).
    fn to_device(&self, gpu: &Gpu, k: usize, floats: &Float32Array) -> Result<Arc<ResidentColumn>> {
        let key = self.keys[k].as_ref();
        if let Some(column) = key.and_then(resident::get) {
            return Ok(column);
        }
        let buffer = self.timings().time(
            |t| &mut t.upload,
            || Ok(upload(gpu, "values", floats.values())),
        )?;
        let column = ResidentColumn {
            buffer,
            len: floats.len(),
            nulls: floats.logical_nulls(),
        };
        Ok(match key {
            Some(key) => resident::insert(key.clone(), column, self.limit),
            None => Arc::new(column),
        })
    }
}

impl Drop for DeviceBlock {
    fn drop(&mut self) {
        self.run.add(&self.timings());
    }
}

fn adapter() -> Result<&'static Gpu> {
    gpu().map_err(|reason| DataFusionError::Execution(format!("no GPU adapter: {reason}")))
}

fn translated(input: &Arc<dyn PhysicalExpr>, spec: &DenseSpec) -> Result<Translated> {
    match translate(input, &spec.value_schema) {
        Some(value) => Ok(value),
        None => exec_err!("the GPU cannot compute {input}"),
    }
}

/// The per-segment statistics of `value` over the block's elements, from `columns` (the
/// ones it reads, on the device): an element counts where `keep` allows it and no column
/// it reads is NULL.
fn reduce(
    gpu: &'static Gpu,
    block: &Block,
    value: &Translated,
    columns: &[&Arc<ResidentColumn>],
    keep: Option<&BooleanArray>,
    ngroups: usize,
    timings: &mut Timings,
) -> Result<Vec<(usize, GroupStats)>> {
    let mut nulls: Option<NullBuffer> = None;
    for column in columns {
        nulls = NullBuffer::union(nulls.as_ref(), column.nulls.as_ref());
    }
    let codes = block.element_groups(keep, nulls.as_ref());
    if let Some(column) = columns.iter().find(|c| c.len != codes.len()) {
        return exec_err!(
            "a device column of {} values for a block of {}",
            column.len,
            codes.len()
        );
    }
    let buffers: Vec<&wgpu::Buffer> = columns.iter().map(|c| &c.buffer).collect();
    reduce_on_device(gpu, &buffers, &value.wgsl, &codes, ngroups, timings)
}
