//! `NetCdfExec`: reads hyperslabs of the selected variables, partition by partition (runs
//! of the outermost dimension across files, at whole chunks), decodes them block by block
//! on the CPU pool and emits
//! RecordBatches whose dimension columns carry coordinate values (last dimension fastest).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics, exec_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, StatisticsArgs,
};

use super::schema::ArrayLayout;
use crate::datasource::array::{Grid, GridReader, GridScan, ReadBlock, block_stream};

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
        let ndims = layout.dims.len();
        let vars: Vec<usize> = projection
            .iter()
            .filter(|&&c| c >= ndims)
            .map(|c| c - ndims)
            .collect();
        let inner: u64 = ranges.iter().skip(1).map(|(a, b)| b - a).product();
        let partitions =
            layout
                .cuts(&vars, inner)
                .partitions(&layout.extents(), &ranges, target_partitions);
        Self::try_with_partitions(layout, projection, ranges, limit, batch_size, partitions)
    }

    /// The scan with exactly these partitions of read blocks (partition `i` reads
    /// `partitions[i]`): what [`Self::try_new`] cuts, and how a cluster executor rebuilds
    /// the scan the scheduler planned, so that each task reads only its own blocks.
    pub(crate) fn try_with_partitions(
        layout: Arc<ArrayLayout>,
        projection: Vec<usize>,
        ranges: Vec<(u64, u64)>,
        limit: Option<usize>,
        batch_size: usize,
        partitions: Vec<Vec<ReadBlock>>,
    ) -> Result<Self> {
        let schema = Arc::new(layout.schema.project(&projection)?);
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
    #[cfg(feature = "cluster")]
    pub(crate) fn layout(&self) -> &Arc<ArrayLayout> {
        &self.layout
    }

    /// The read blocks of each partition.
    #[cfg(feature = "cluster")]
    pub(crate) fn partitions(&self) -> &[Vec<ReadBlock>] {
        &self.partitions
    }

    /// Rows per batch.
    #[cfg(feature = "cluster")]
    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// What the scan reads (for the dense aggregation and the cluster codec).
    pub(crate) fn grid_scan(&self) -> GridScan {
        GridScan {
            grid: Arc::clone(&self.layout) as Arc<dyn Grid>,
            projection: self.projection.clone(),
            ranges: self.ranges.clone(),
            limit: self.limit,
        }
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
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(blocks) = self.partitions.get(partition).cloned() else {
            return exec_err!("netcdf scan has no partition {partition}");
        };
        let reader = Arc::new(GridReader {
            scan: self.grid_scan(),
            schema: Arc::clone(&self.schema),
            batch_size: self.batch_size,
        });
        let threads = context.session_config().target_partitions();
        Ok(block_stream(
            Arc::clone(&self.schema),
            reader,
            blocks,
            self.limit,
            threads,
        ))
    }
}
