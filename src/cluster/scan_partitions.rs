//! `ScanPartitionsExec`: how a Ballista task reads only its own partitions of a quiver scan.
//!
//! Ballista 55 runs a stage as tasks that each own a slice of its partitions. Before it
//! sends a task, the scheduler restricts the plan's leaves to the task's slice, and the
//! executor runs partitions `0..slice.len()` of what it gets. It can restrict DataFusion's
//! file and memory scans only: a leaf it does not know keeps all its partitions, so a task
//! owning partitions 2 and 3 would read partitions 0 and 1 of the whole scan, and rows would
//! repeat while others went missing.
//!
//! So the scheduler's planner ([`ScanPartitionsRule`], run last) puts each quiver scan
//! under a `ScanPartitionsExec` whose one child is a memory scan with one row per scan
//! partition holding that partition's number. Ballista restricts the child like any memory
//! scan; partition `j` of the wrapper reads the scan partitions numbered by the rows of the
//! child's partition `j`. The scan itself travels inside the wrapper's bytes, whole.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{StreamExt, TryStreamExt};

use super::scans::is_quiver_scan;

/// A quiver scan read by the partition numbers its child yields.
#[derive(Debug)]
pub struct ScanPartitionsExec {
    scan: Arc<dyn ExecutionPlan>,
    numbers: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl ScanPartitionsExec {
    /// `scan` with one number per partition, partition `i` holding `i`.
    pub(crate) fn try_new(scan: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let count = scan.properties().partitioning.partition_count();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "partition",
            DataType::UInt64,
            false,
        )]));
        let partitions = (0..count as u64)
            .map(|i| {
                let number = Arc::new(UInt64Array::from(vec![i]));
                Ok(vec![RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![number],
                )?])
            })
            .collect::<Result<Vec<_>>>()?;
        let numbers = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Ok(Self::with_numbers(scan, numbers))
    }

    /// `scan` read by the partition numbers `numbers` yields (partition `j` reads those of
    /// `numbers`' partition `j`).
    pub(crate) fn with_numbers(
        scan: Arc<dyn ExecutionPlan>,
        numbers: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let count = numbers.properties().partitioning.partition_count();
        let properties = PlanProperties::clone(scan.properties())
            .with_partitioning(Partitioning::UnknownPartitioning(count));
        Self {
            scan,
            numbers,
            properties: Arc::new(properties),
        }
    }

    /// The scan, with all its partitions.
    pub(crate) fn scan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.scan
    }
}

impl DisplayAs for ScanPartitionsExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScanPartitionsExec: {} task partitions of ",
            self.properties.partitioning.partition_count()
        )?;
        self.scan.fmt_as(t, f)
    }
}

impl ExecutionPlan for ScanPartitionsExec {
    fn name(&self) -> &'static str {
        "ScanPartitionsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.numbers]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.as_slice() {
            [numbers] => Ok(Arc::new(Self::with_numbers(
                Arc::clone(&self.scan),
                Arc::clone(numbers),
            ))),
            _ => exec_err!("ScanPartitionsExec takes one child, got {}", children.len()),
        }
    }

    /// The child holds numbers, not rows to spread: never repartition it.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let numbers = self.numbers.execute(partition, Arc::clone(&context))?;
        let scan = Arc::clone(&self.scan);
        let stream = numbers
            .map(move |batch| {
                let batch = batch?;
                let Some(column) = batch.column(0).as_primitive_opt::<UInt64Type>() else {
                    return exec_err!("ScanPartitionsExec: partition numbers are not UInt64");
                };
                let streams = column
                    .values()
                    .iter()
                    .map(|&n| scan.execute(n as usize, Arc::clone(&context)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(futures::stream::iter(streams).flatten())
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.scan.schema(),
            stream,
        )))
    }
}

/// Puts every quiver scan of a plan under a [`ScanPartitionsExec`]; the scheduler's last
/// physical optimizer rule.
#[derive(Debug, Default)]
pub(crate) struct ScanPartitionsRule;

impl PhysicalOptimizerRule for ScanPartitionsRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            if is_quiver_scan(plan.as_ref()) {
                Ok(Transformed::yes(
                    Arc::new(ScanPartitionsExec::try_new(plan)?) as Arc<dyn ExecutionPlan>,
                ))
            } else {
                Ok(Transformed::no(plan))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "quiver_scan_partitions"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
