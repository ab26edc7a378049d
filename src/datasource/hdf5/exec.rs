//! `Hdf5Exec`: reads the projected columns of one HDF5 dataset off the tokio workers and
//! emits batches whose index columns follow the dataset's C order (last dimension fastest).

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

/// Scans one HDF5 dataset in one partition.
#[derive(Debug)]
pub struct Hdf5Exec {
    layout: Arc<Hdf5Layout>,
    projection: Vec<usize>,
    limit: Option<usize>,
    batch_size: usize,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl Hdf5Exec {
    pub(crate) fn try_new(
        layout: Arc<Hdf5Layout>,
        projection: Vec<usize>,
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
            limit,
            batch_size: batch_size.max(1),
            schema,
            properties,
        })
    }

    fn rows(&self) -> usize {
        let rows = usize::try_from(self.layout.num_rows()).unwrap_or(usize::MAX);
        rows.min(self.limit.unwrap_or(usize::MAX))
    }

    /// Reads everything the projection needs into batches.
    fn read(&self) -> Result<Vec<RecordBatch>> {
        let layout = &self.layout;
        let ndims = layout.dims.len();
        let rows = self.rows();
        let sizes: Vec<u64> = layout.dims.iter().map(|d| d.size).collect();
        let strides: Vec<u64> = (0..ndims)
            .map(|k| sizes[k + 1..].iter().product())
            .collect();
        let mut values: Vec<Option<ArrayRef>> = vec![None; layout.columns.len()];
        for &col in &self.projection {
            if col >= ndims {
                values[col - ndims] = Some(layout.read_column(col - ndims)?);
            }
        }
        let mut batches = Vec::new();
        let mut offset = 0;
        while offset < rows {
            let len = self.batch_size.min(rows - offset);
            let mut columns = Vec::with_capacity(self.projection.len());
            for &col in &self.projection {
                if col < ndims {
                    let indices: UInt64Array = (offset as u64..(offset + len) as u64)
                        .map(|r| (r / strides[col]) % sizes[col].max(1))
                        .collect::<Vec<_>>()
                        .into();
                    columns.push(take(layout.dims[col].values.as_ref(), &indices, None)?);
                } else if let Some(array) = &values[col - ndims] {
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

impl DisplayAs for Hdf5Exec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .projection
            .iter()
            .map(|i| self.layout.schema.field(*i).name().as_str())
            .collect();
        write!(
            f,
            "Hdf5Exec: file={}, dataset={}, projection=[{}]",
            self.layout.path,
            self.layout.dataset_path,
            columns.join(", ")
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
