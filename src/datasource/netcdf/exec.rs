//! `NetCdfExec`: reads hyperslabs of the selected variables, partition by partition (runs
//! of the outermost dimension across files), decodes them off the tokio workers and emits
//! RecordBatches whose dimension columns carry coordinate values (last dimension fastest).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, RecordBatch, RecordBatchOptions, StringArray, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics, exec_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, StatisticsArgs,
};
use futures::StreamExt;
use netcdf_reader::{NcSliceInfo, NcSliceInfoElem};

use super::blocks::{ReadBlock, block_rows, blocks};
use super::schema::ArrayLayout;

/// Scans NetCDF variables; one partition per run of outer-dimension indices.
#[derive(Debug)]
pub struct NetCdfExec {
    layout: Arc<ArrayLayout>,
    projection: Vec<usize>,
    ranges: Vec<(u64, u64)>,
    limit: Option<usize>,
    batch_size: usize,
    partitions: Vec<Vec<ReadBlock>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl NetCdfExec {
    pub(crate) fn try_new(
        layout: Arc<ArrayLayout>,
        projection: Vec<usize>,
        ranges: Vec<(u64, u64)>,
        limit: Option<usize>,
        target_partitions: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let schema = Arc::new(layout.schema.project(&projection)?);
        let ndims = layout.dims.len();
        let vars: Vec<usize> = projection
            .iter()
            .filter(|&&c| c >= ndims)
            .map(|c| c - ndims)
            .collect();
        let inner: u64 = ranges.iter().skip(1).map(|(a, b)| b - a).product();
        let step = block_rows(&layout, &vars, inner);
        let partitions = plan_partitions(&layout, &ranges, target_partitions.max(1), step);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            layout,
            projection,
            ranges,
            limit,
            batch_size: batch_size.max(1),
            partitions,
            schema,
            properties,
        })
    }

    /// The files, dimensions and variables scanned.
    pub(crate) fn layout(&self) -> &Arc<ArrayLayout> {
        &self.layout
    }

    /// Indices into the layout's schema of the columns this scan produces.
    pub(crate) fn projection(&self) -> &[usize] {
        &self.projection
    }

    /// The index range read along each dimension.
    pub(crate) fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// The row limit pushed into the scan, if any.
    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Rows of one block (all dims but the first at their range).
    fn rows_of(&self, block: &ReadBlock) -> u64 {
        let inner: u64 = self.ranges.iter().skip(1).map(|(a, b)| b - a).product();
        if self.ranges.is_empty() {
            1
        } else {
            (block.end - block.start) * inner
        }
    }

    fn partition_rows(&self, partition: Option<usize>) -> u64 {
        let blocks: Vec<&ReadBlock> = match partition {
            Some(p) => self
                .partitions
                .get(p)
                .map(|u| u.iter().collect())
                .unwrap_or_default(),
            None => self.partitions.iter().flatten().collect(),
        };
        blocks.iter().map(|u| self.rows_of(u)).sum()
    }
}

/// Splits the selected outer-dimension range evenly into partitions, each cut into read
/// blocks of `step` indices (and at file boundaries).
fn plan_partitions(
    layout: &ArrayLayout,
    ranges: &[(u64, u64)],
    target: usize,
    step: u64,
) -> Vec<Vec<ReadBlock>> {
    let Some(&(lo, hi)) = ranges.first() else {
        return vec![vec![ReadBlock {
            file: 0,
            start: 0,
            end: 1,
        }]];
    };
    if ranges.iter().any(|(a, b)| a >= b) {
        return vec![Vec::new()];
    }
    let steps = hi - lo;
    let parts = (target as u64).min(steps).max(1);
    (0..parts)
        .map(|p| {
            let (a, b) = (lo + p * steps / parts, lo + (p + 1) * steps / parts);
            blocks(layout, a, b, step)
        })
        .collect()
}

impl DisplayAs for NetCdfExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .projection
            .iter()
            .map(|i| self.layout.schema.field(*i).name().as_str())
            .collect();
        let ranges: Vec<String> = self
            .layout
            .dims
            .iter()
            .zip(&self.ranges)
            .map(|(d, (a, b))| format!("{}[{a}..{b}]", d.name))
            .collect();
        write!(
            f,
            "NetCdfExec: files={}, partitions={}, projection=[{}], ranges=[{}]",
            self.layout.files.len(),
            self.partitions.len(),
            columns.join(", "),
            ranges.join(", ")
        )?;
        if let Some(limit) = self.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for NetCdfExec {
    fn name(&self) -> &'static str {
        "NetCdfExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    crate::leaf_plan_methods!("NetCdfExec");

    fn statistics_from_inputs(
        &self,
        _input: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let rows = usize::try_from(self.partition_rows(args.partition())).unwrap_or(usize::MAX);
        let rows = match self.limit {
            None => Precision::Exact(rows),
            Some(limit) => Precision::Inexact(rows.min(limit)),
        };
        Ok(Arc::new(
            Statistics::new_unknown(&self.schema).with_num_rows(rows),
        ))
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(blocks) = self.partitions.get(partition).cloned() else {
            return exec_err!("netcdf scan has no partition {partition}");
        };
        let reader = Arc::new(BlockReader {
            layout: Arc::clone(&self.layout),
            projection: self.projection.clone(),
            ranges: self.ranges.clone(),
            schema: Arc::clone(&self.schema),
            batch_size: self.batch_size,
        });
        let limit = self.limit;
        let stream = futures::stream::unfold(
            (blocks.into_iter(), limit),
            move |(mut blocks, remaining)| {
                let reader = Arc::clone(&reader);
                async move {
                    if remaining == Some(0) {
                        return None;
                    }
                    let block = blocks.next()?;
                    let result =
                        tokio::task::spawn_blocking(move || reader.read(&block, remaining))
                            .await
                            .unwrap_or_else(|e| exec_err!("netcdf read task failed: {e}"));
                    let remaining = match (&result, remaining) {
                        (Ok(batches), Some(r)) => {
                            Some(r.saturating_sub(batches.iter().map(|b| b.num_rows()).sum()))
                        }
                        (Err(_), _) => Some(0),
                        (_, r) => r,
                    };
                    let items: Vec<Result<RecordBatch>> = match result {
                        Ok(batches) => batches.into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    };
                    Some((futures::stream::iter(items), (blocks, remaining)))
                }
            },
        )
        .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

/// What a partition needs to turn one block into batches.
struct BlockReader {
    layout: Arc<ArrayLayout>,
    projection: Vec<usize>,
    ranges: Vec<(u64, u64)>,
    schema: SchemaRef,
    batch_size: usize,
}

impl BlockReader {
    /// Reads a block (at most `limit` rows of it) into batches.
    fn read(&self, block: &ReadBlock, limit: Option<usize>) -> Result<Vec<RecordBatch>> {
        let ndims = self.layout.dims.len();
        let counts: Vec<u64> = self.ranges.iter().map(|(a, b)| b - a).collect();
        let inner: u64 = counts.iter().skip(1).product();
        let mut end = block.end;
        if let (Some(limit), true) = (limit, ndims > 0 && inner > 0) {
            end = end.min(block.start + (limit as u64).div_ceil(inner));
        }
        let rows = if ndims == 0 {
            1
        } else {
            (end - block.start) * inner
        };
        let rows = usize::try_from(rows)
            .unwrap_or(usize::MAX)
            .min(limit.unwrap_or(usize::MAX));
        let file = &self.layout.files[block.file];
        let mut selections = Vec::with_capacity(ndims);
        for (k, (a, b)) in self.ranges.iter().enumerate() {
            let (s, e) = if k == 0 {
                (block.start - file.offset, end - file.offset)
            } else {
                (*a, *b)
            };
            selections.push(NcSliceInfoElem::Slice {
                start: s,
                end: e,
                step: 1,
            });
        }
        let selection = NcSliceInfo { selections };
        // Variables first, whole block at once.
        let mut var_arrays: Vec<Option<ArrayRef>> = vec![None; self.layout.vars.len()];
        let nvars = self.layout.vars.len();
        for &col in &self.projection {
            if col < ndims {
                continue;
            }
            let Some(var_col) = self.layout.vars.get(col - ndims) else {
                continue;
            };
            let array = self.layout.read_var(block.file, col - ndims, &selection)?;
            if array.len() < rows {
                return exec_err!(
                    "variable \"{}\" in '{}' gave {} values, expected {rows}",
                    var_col.name,
                    file.path,
                    array.len()
                );
            }
            var_arrays[col - ndims] = Some(array);
        }
        let starts: Vec<u64> = (0..ndims)
            .map(|k| {
                if k == 0 {
                    block.start
                } else {
                    self.ranges[k].0
                }
            })
            .collect();
        let strides: Vec<u64> = (0..ndims)
            .map(|k| counts[k + 1..].iter().product())
            .collect();
        let mut batches = Vec::new();
        let mut offset = 0;
        while offset < rows {
            let len = self.batch_size.min(rows - offset);
            let mut columns = Vec::with_capacity(self.projection.len());
            for &col in &self.projection {
                if col < ndims {
                    let indices: UInt64Array = (offset as u64..(offset + len) as u64)
                        .map(|r| starts[col] + (r / strides[col]) % counts[col].max(1))
                        .collect::<Vec<_>>()
                        .into();
                    columns.push(take(self.layout.dims[col].values.as_ref(), &indices, None)?);
                } else if col - ndims == nvars {
                    let name = StringArray::from(vec![file.path.as_str()]);
                    let indices = UInt64Array::from(vec![0u64; len]);
                    columns.push(take(&name, &indices, None)?);
                } else if let Some(array) = &var_arrays[col - ndims] {
                    columns.push(array.slice(offset, len));
                }
            }
            let options = RecordBatchOptions::new().with_row_count(Some(len));
            batches.push(RecordBatch::try_new_with_options(
                Arc::clone(&self.schema),
                columns,
                &options,
            )?);
            offset += len;
        }
        Ok(batches)
    }
}
