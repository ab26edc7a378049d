//! `Hdf5Exec`: reads the projected columns of an HDF5 dataset (one file or several
//! concatenated along dimension 0) over the index ranges the filters left, partition by
//! partition (runs of dimension 0 across files, at whole storage chunks), block by block on
//! the CPU pool, and emits batches whose dimension columns follow C order (last dimension
//! fastest).

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

use super::schema::Hdf5Layout;
use crate::datasource::array::{BlockRows, Grid, GridReader, GridScan, ReadBlock, block_stream};

/// Scans an HDF5 dataset; one partition per run of dimension-0 indices.
#[derive(Debug)]
pub struct Hdf5Exec {
    layout: Arc<Hdf5Layout>,
    projection: Vec<usize>,
    /// The index range `[start, end)` read along each dimension.
    ranges: Vec<(u64, u64)>,
    limit: Option<usize>,
    batch_size: usize,
    partitions: Vec<Vec<ReadBlock>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl Hdf5Exec {
    pub(crate) fn try_new(
        layout: Arc<Hdf5Layout>,
        projection: Vec<usize>,
        ranges: Vec<(u64, u64)>,
        limit: Option<usize>,
        target_partitions: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let inner: u64 = ranges.iter().skip(1).map(|(a, b)| b - a).product();
        let partitions =
            layout
                .cuts(inner)
                .partitions(&layout.extents(), &ranges, target_partitions);
        Self::try_with_partitions(layout, projection, ranges, limit, batch_size, partitions)
    }

    /// The scan with exactly these partitions of read blocks (partition `i` reads
    /// `partitions[i]`): what [`Self::try_new`] cuts, and how a cluster executor rebuilds
    /// the scan the scheduler planned, so that each task reads only its own blocks.
    pub(crate) fn try_with_partitions(
        layout: Arc<Hdf5Layout>,
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

    /// The files, dataset and columns scanned.
    #[cfg(feature = "cluster")]
    pub(crate) fn layout(&self) -> &Arc<Hdf5Layout> {
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

    /// Rows of partition `partition` (of all of them when `None`), before the limit.
    fn rows(&self, partition: Option<usize>) -> u64 {
        let blocks: Vec<&ReadBlock> = match partition {
            Some(p) => self.partitions.get(p).into_iter().flatten().collect(),
            None => self.partitions.iter().flatten().collect(),
        };
        blocks
            .iter()
            .map(|b| BlockRows::new(&self.ranges, b, None).rows as u64)
            .sum()
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
            "Hdf5Exec: files={}, partitions={}, dataset={}, projection=[{}], ranges=[{}]",
            self.layout.files.len(),
            self.partitions.len(),
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
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let rows = usize::try_from(self.rows(args.partition())).unwrap_or(usize::MAX);
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
            return exec_err!("hdf5 scan has no partition {partition}");
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
