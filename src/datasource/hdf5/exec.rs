//! `Hdf5Exec`: reads the projected columns of an HDF5 dataset (one file or several
//! concatenated along dimension 0) over the index ranges the filters left, off the tokio
//! workers, and emits batches whose dimension columns follow C order (last dimension
//! fastest).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
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

use super::schema::Hdf5Layout;

/// Scans an HDF5 dataset in one partition.
#[derive(Debug)]
pub struct Hdf5Exec {
    layout: Arc<Hdf5Layout>,
    projection: Vec<usize>,
    /// The index range `[start, end)` read along each dimension.
    ranges: Vec<(u64, u64)>,
    limit: Option<usize>,
    batch_size: usize,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl Hdf5Exec {
    pub(crate) fn try_new(
        layout: Arc<Hdf5Layout>,
        projection: Vec<usize>,
        ranges: Vec<(u64, u64)>,
        limit: Option<usize>,
        batch_size: usize,
    ) -> Result<Self> {
        let schema = Arc::new(layout.schema.project(&projection)?);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            layout,
            projection,
            ranges,
            limit,
            batch_size: batch_size.max(1),
            schema,
            properties,
        })
    }

    fn rows(&self) -> usize {
        let rows: u64 = self.ranges.iter().map(|(a, b)| b - a).product();
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        rows.min(self.limit.unwrap_or(usize::MAX))
    }

    /// Reads everything the projection needs into batches, file by file.
    fn read(&self) -> Result<Vec<RecordBatch>> {
        let layout = &self.layout;
        let ndims = layout.dims.len();
        let counts: Vec<u64> = self.ranges.iter().map(|(a, b)| b - a).collect();
        let strides: Vec<u64> = (0..ndims)
            .map(|k| counts[k + 1..].iter().product())
            .collect();
        // Rows per index along dimension 0 (1 for a scalar dataset).
        let inner: u64 = counts.iter().skip(1).product();
        let mut left = self.rows() as u64;
        let mut batches = Vec::new();
        for (index, file) in layout.files.iter().enumerate() {
            if left == 0 {
                break;
            }
            let mut local = self.ranges.clone();
            let first = match local.first_mut() {
                Some(r0) => {
                    let start = r0.0.max(file.offset);
                    let end = r0.1.min(file.offset + file.len);
                    if start >= end {
                        continue;
                    }
                    let rows = ((end - start) * inner).min(left);
                    *r0 = (
                        start - file.offset,
                        start - file.offset + rows.div_ceil(inner),
                    );
                    start
                }
                None => 0,
            };
            let rows = local.iter().map(|(a, b)| b - a).product::<u64>().min(left);
            let mut values: Vec<Option<ArrayRef>> = vec![None; layout.columns.len()];
            for &col in &self.projection {
                if col >= ndims {
                    values[col - ndims] = Some(layout.read_column(index, col - ndims, &local)?);
                }
            }
            let mut offset = 0;
            while offset < rows {
                let len = (self.batch_size as u64).min(rows - offset);
                let mut columns = Vec::with_capacity(self.projection.len());
                for &col in &self.projection {
                    if col < ndims {
                        let indices: UInt64Array = (offset..offset + len)
                            .map(|r| {
                                let i = (r / strides[col]) % counts[col].max(1);
                                if col == 0 {
                                    first + i
                                } else {
                                    self.ranges[col].0 + i
                                }
                            })
                            .collect::<Vec<_>>()
                            .into();
                        columns.push(take(layout.dims[col].values.as_ref(), &indices, None)?);
                    } else if let Some(array) = &values[col - ndims] {
                        columns.push(array.slice(offset as usize, len as usize));
                    }
                }
                let options = RecordBatchOptions::new().with_row_count(Some(len as usize));
                batches.push(RecordBatch::try_new_with_options(
                    Arc::clone(&self.schema),
                    columns,
                    &options,
                )?);
                offset += len;
            }
            left -= rows;
        }
        Ok(batches)
    }
}

impl DisplayAs for Hdf5Exec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .projection
            .iter()
            .map(|i| self.layout.schema.field(*i).name().as_str())
            .collect();
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .enumerate()
            .map(|(k, (a, b))| format!("{}[{a}..{b}]", self.layout.schema.field(k).name()))
            .collect();
        write!(
            f,
            "Hdf5Exec: files={}, dataset={}, projection=[{}], ranges=[{}]",
            self.layout.files.len(),
            self.layout.dataset_path,
            columns.join(", "),
            ranges.join(", ")
        )?;
        if let Some(limit) = self.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for Hdf5Exec {
    fn name(&self) -> &'static str {
        "Hdf5Exec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    crate::leaf_plan_methods!("Hdf5Exec");

    fn statistics_from_inputs(
        &self,
        _input: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::new(
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(self.rows())),
        ))
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("hdf5 scan has no partition {partition}");
        }
        let exec = Hdf5Exec {
            layout: Arc::clone(&self.layout),
            projection: self.projection.clone(),
            ranges: self.ranges.clone(),
            limit: self.limit,
            batch_size: self.batch_size,
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
        };
        let stream = futures::stream::once(async move {
            let result = tokio::task::spawn_blocking(move || exec.read())
                .await
                .unwrap_or_else(|e| exec_err!("hdf5 read task failed: {e}"));
            let items: Vec<Result<RecordBatch>> = match result {
                Ok(batches) => batches.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
        use futures::StreamExt;
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream.flatten(),
        )))
    }
}
