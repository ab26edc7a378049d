//! `DenseAggregateExec`: runs a [`DenseSpec`] — reads the variables block by block on the CPU
//! pool, accumulates per-group statistics by array index (on the CPU, or through the GPU
//! kernel when placed there, falling back to the CPU for a block whose kernel fails), merges
//! them and emits one batch with the schema of the aggregate it replaced.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions,
};
use datafusion::arrow::compute::{and_kleene, prep_null_mask_filter};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, exec_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use rayon::prelude::*;

use super::kernel::{Block, Needs, Partial};
use super::order::output_ordering;
use super::spec::{AggKind, DenseSpec, key_values, to_output_type};
use crate::datasource::array::ReadBlock;
use crate::executor::{self, CancelToken};
use crate::placement::Device;

/// Where a dense aggregation reduces its blocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    pub device: Device,
    /// On the GPU, how many bytes of read columns may stay there for later queries
    /// (`quiver.gpu_cache_bytes`).
    pub resident_bytes: u64,
}

/// A dense aggregation over array variables (replaces an aggregate and its scan).
#[derive(Debug)]
pub struct DenseAggregateExec {
    spec: Arc<DenseSpec>,
    threads: usize,
    placement: Placement,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DenseAggregateExec {
    pub(crate) fn try_new(spec: DenseSpec, threads: usize, placement: Placement) -> Result<Self> {
        let schema = Arc::clone(&spec.output_schema);
        let ordering = output_ordering(&spec)?;
        let equivalences = match ordering.is_empty() {
            true => EquivalenceProperties::new(schema),
            false => EquivalenceProperties::new_with_orderings(schema, [ordering]),
        };
        let properties = Arc::new(PlanProperties::new(
            equivalences,
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Self {
            spec: Arc::new(spec),
            threads: threads.max(1),
            placement,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let spec = &self.spec;
        let keys: Vec<&str> = spec.keys.iter().map(|k| k.name.as_str()).collect();
        let aggs: Vec<&str> = spec.aggs.iter().map(|a| a.name.as_str()).collect();
        let schema = spec.grid.schema();
        let ranges: Vec<String> = spec
            .ranges
            .iter()
            .enumerate()
            .map(|(d, (a, b))| format!("{}[{a}..{b}]", schema.field(d).name()))
            .collect();
        write!(
            f,
            "DenseAggregateExec: gby=[{}], aggr=[{}], groups={}, files={}, ranges=[{}], device={}",
            keys.join(", "),
            aggs.join(", "),
            spec.ngroups,
            spec.grid.file_count(),
            ranges.join(", "),
            self.placement.device
        )?;
        if !spec.value_filter.is_empty() {
            let filters: Vec<String> = spec.value_filter.iter().map(|e| e.to_string()).collect();
            write!(f, ", value_filter=[{}]", filters.join(" AND "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &'static str {
        "DenseAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    crate::leaf_plan_methods!("DenseAggregateExec");

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("dense aggregate has one partition, not {}", partition + 1);
        }
        let spec = Arc::clone(&self.spec);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let counters = Counters {
            values_read: MetricBuilder::new(&self.metrics).counter("values_read", partition),
            blocks: MetricBuilder::new(&self.metrics).counter("blocks", partition),
            gpu_fallbacks: MetricBuilder::new(&self.metrics).counter("gpu_fallbacks", partition),
            gpu_resident_blocks: MetricBuilder::new(&self.metrics)
                .counter("gpu_resident_blocks", partition),
            gpu: gpu_run(&self.metrics, partition),
        };
        let placement = self.placement;
        let work = executor::run(self.threads, move |token| {
            let timer = baseline.elapsed_compute().timer();
            let batch = aggregate(&spec, placement, token, &counters)?;
            timer.done();
            baseline.record_output(batch.num_rows());
            Ok(batch)
        });
        let stream = futures::stream::once(work);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.spec.output_schema),
            stream,
        )))
    }
}

/// The blocks of the selected range.
fn tasks(spec: &DenseSpec) -> Vec<ReadBlock> {
    let (lo, hi) = spec.ranges[0];
    let inner: u64 = spec.ranges[1..].iter().map(|(a, b)| b - a).product();
    spec.grid
        .cuts(&spec.vars, inner)
        .blocks(&spec.grid.extents(), lo, hi)
}

/// The run-time metrics: values and blocks read, blocks the GPU failed and the CPU reduced.
struct Counters {
    values_read: Count,
    blocks: Count,
    gpu_fallbacks: Count,
    /// Blocks reduced from columns already on the GPU, without reading the files.
    gpu_resident_blocks: Count,
    gpu: GpuRun,
}

/// Runs the whole aggregation and builds the output batch.
fn aggregate(
    spec: &DenseSpec,
    placement: Placement,
    token: &CancelToken,
    counters: &Counters,
) -> Result<RecordBatch> {
    let needs = Needs::of(spec);
    let tasks = tasks(spec);
    // One partial state per running worker, not per rayon split: a state has a slot per
    // group (259,200 for a 0.5-degree grid), and splits can far outnumber the threads.
    // Their merge order does not matter: first/last keep scan positions.
    let spare: Mutex<Vec<Partial>> = Mutex::new(Vec::new());
    let lock = || spare.lock().unwrap_or_else(PoisonError::into_inner);
    tasks.par_iter().with_min_len(1).try_for_each(|task| {
        token.check()?;
        let spare_one = lock().pop();
        let mut partial = spare_one.unwrap_or_else(|| Partial::new(&needs, spec.ngroups));
        let read = run_task(spec, task, &needs, placement, counters, &mut partial);
        lock().push(partial);
        counters.values_read.add(read?);
        counters.blocks.add(1);
        Ok::<_, datafusion::common::DataFusionError>(())
    })?;
    let partial = spare
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .reduce(Partial::merge)
        .unwrap_or_else(|| Partial::new(&needs, spec.ngroups));
    output(spec, &partial)
}

/// Reads one block and adds it to `partial`; returns the number of elements read.
fn run_task(
    spec: &DenseSpec,
    task: &ReadBlock,
    needs: &[Needs],
    placement: Placement,
    counters: &Counters,
    partial: &mut Partial,
) -> Result<usize> {
    let grid = &spec.grid;
    let (path, offset) = grid.file(task.file);
    let mut local = Vec::with_capacity(spec.ranges.len());
    let mut start = Vec::with_capacity(spec.ranges.len());
    let mut len = Vec::with_capacity(spec.ranges.len());
    for (d, (a, b)) in spec.ranges.iter().enumerate() {
        let (s, e) = if d == 0 {
            (task.start - offset, task.end - offset)
        } else {
            (*a, *b)
        };
        local.push((s, e));
        start.push(if d == 0 { (task.start - a) as usize } else { 0 });
        len.push((e - s) as usize);
    }
    let elements: usize = len.iter().product();
    let inner: u64 = spec.ranges[1..].iter().map(|(a, b)| b - a).product();
    let block = Block {
        spec,
        start,
        len,
        position: (task.start - spec.ranges[0].0) * inner,
    };
    let on_device = (placement.device == Device::Gpu).then(|| {
        let bytes = placement.resident_bytes;
        DeviceBlock::new(spec, path, &local, bytes, &counters.gpu)
    });
    if let Some(device) = &on_device {
        match device.reduce_resident(&block, partial) {
            Ok(true) => {
                counters.gpu_resident_blocks.add(1);
                return Ok(elements);
            }
            Ok(false) => {}
            Err(e) => {
                log::warn!("GPU reduction failed, reading the block for the CPU: {e}");
                counters.gpu_fallbacks.add(1);
            }
        }
    }
    let columns = spec
        .vars
        .iter()
        .map(|v| grid.read_values(task.file, *v, &local))
        .collect::<Result<Vec<ArrayRef>>>()?;
    let ndims = grid.dim_count();
    for (array, v) in columns.iter().zip(&spec.vars) {
        if array.len() != elements {
            return exec_err!(
                "column \"{}\" in '{path}' gave {} values, expected {elements}",
                grid.schema().field(ndims + v).name(),
                array.len()
            );
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(elements));
    let batch =
        RecordBatch::try_new_with_options(Arc::clone(&spec.value_schema), columns, &options)?;
    let mut keep: Option<BooleanArray> = None;
    for filter in &spec.value_filter {
        let mask = filter.evaluate(&batch)?.into_array(elements)?;
        let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
            return exec_err!("filter {filter} did not give booleans");
        };
        keep = Some(match keep {
            Some(prev) => and_kleene(&prev, mask)?,
            None => mask.clone(),
        });
    }
    // NULL in the filter drops the row, as in WHERE.
    let keep = keep.map(|k| {
        if k.null_count() > 0 {
            prep_null_mask_filter(&k)
        } else {
            k
        }
    });
    block.count_rows(keep.as_ref(), &mut partial.rows);
    for (i, input) in spec.inputs.iter().enumerate() {
        if let Some(device) = &on_device {
            match device.accumulate(&block, &batch, input, keep.as_ref(), &mut partial.inputs[i]) {
                Ok(()) => continue,
                Err(e) => {
                    log::warn!("GPU reduction failed, reducing the block on the CPU: {e}");
                    counters.gpu_fallbacks.add(1);
                }
            }
        }
        let values = input.evaluate(&batch)?.into_array(elements)?;
        block.accumulate(&values, keep.as_ref(), needs[i], &mut partial.inputs[i])?;
    }
    Ok(elements)
}

#[cfg(feature = "gpu")]
use super::gpu::{DeviceBlock, GpuRun};

#[cfg(feature = "gpu")]
fn gpu_run(metrics: &ExecutionPlanMetricsSet, partition: usize) -> GpuRun {
    GpuRun::new(metrics, partition)
}

/// Without the `gpu` feature there is nothing for GPU blocks to share.
#[cfg(not(feature = "gpu"))]
type GpuRun = ();

#[cfg(not(feature = "gpu"))]
fn gpu_run(_: &ExecutionPlanMetricsSet, _: usize) -> GpuRun {}

/// Without the `gpu` feature nothing is placed on the GPU; this is never made.
#[cfg(not(feature = "gpu"))]
struct DeviceBlock;

#[cfg(not(feature = "gpu"))]
impl DeviceBlock {
    fn new(_: &DenseSpec, _: &str, _: &[(u64, u64)], _: u64, _: &GpuRun) -> Self {
        Self
    }

    fn reduce_resident(&self, _: &Block, _: &mut Partial) -> Result<bool> {
        Ok(false)
    }

    fn accumulate(
        &self,
        _: &Block,
        _: &RecordBatch,
        _: &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        _: Option<&BooleanArray>,
        _: &mut super::kernel::Stats,
    ) -> Result<()> {
        exec_err!("quiver was built without the `gpu` feature")
    }
}

/// The output batch: one row per group that has rows (always one without keys).
fn output(spec: &DenseSpec, partial: &Partial) -> Result<RecordBatch> {
    let groups: Vec<usize> = if spec.keys.is_empty() {
        vec![0]
    } else {
        (0..spec.ngroups).filter(|g| partial.rows[*g] > 0).collect()
    };
    let schema: &SchemaRef = &spec.output_schema;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (k, key) in spec.keys.iter().enumerate() {
        let indices: Vec<usize> = match key.dim {
            Some(d) => {
                let codes = &spec.dims[d];
                groups
                    .iter()
                    .map(|g| {
                        let code = (g / spec.group_strides[d]) % codes.ncodes.max(1);
                        codes.representative.get(code).copied().unwrap_or(0)
                    })
                    .collect()
            }
            None => vec![0; groups.len()],
        };
        let values = key_values(key, &indices)?;
        columns.push(to_output_type(values, schema.field(k).data_type())?);
    }
    for (i, agg) in spec.aggs.iter().enumerate() {
        let field = schema.field(spec.keys.len() + i);
        let s = &partial.inputs.get(agg.input);
        let array: ArrayRef = match (agg.kind, s) {
            (AggKind::CountRows, _) => Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|g| partial.rows[*g] as i64),
            )),
            (AggKind::Count, Some(s)) => Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|g| s.count[*g] as i64),
            )),
            (kind, Some(s)) => Arc::new(
                groups
                    .iter()
                    .map(|&g| finish(kind, s, g))
                    .collect::<Float64Array>(),
            ),
            (_, None) => return exec_err!("dense aggregate {} has no input", agg.name),
        };
        columns.push(to_output_type(array, field.data_type())?);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The value of a floating-point aggregate for group `g` (None = NULL).
fn finish(kind: AggKind, s: &super::kernel::Stats, g: usize) -> Option<f64> {
    let n = s.count[g];
    let var = |ddof: u64| (n > ddof).then(|| s.moments(g).1 / (n - ddof) as f64);
    match kind {
        AggKind::Sum => (n > 0).then(|| s.sum[g]),
        AggKind::Avg => (n > 0).then(|| s.sum[g] / n as f64),
        AggKind::Min => (n > 0).then(|| s.min[g]),
        AggKind::Max => (n > 0).then(|| s.max[g]),
        AggKind::VarSamp => var(1),
        AggKind::VarPop => var(0),
        AggKind::StddevSamp => var(1).map(f64::sqrt),
        AggKind::StddevPop => var(0).map(f64::sqrt),
        AggKind::First => s.first[g].1,
        AggKind::Last => s.last[g].1,
        AggKind::Count | AggKind::CountRows => Some(n as f64),
    }
}
