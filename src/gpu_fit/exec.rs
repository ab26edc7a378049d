//! [`GpuCurveFitExec`]: the node above an aggregate (or projection) whose `curve_fit` (or
//! `list_curve_fit`) calls fit on the GPU (or, with `quiver.gpu = 'on'`, could not: then it
//! says why). It runs its child unchanged — the child's fit functions hold the GPU solver —
//! and exists so that
//! `EXPLAIN` shows where the fits run and `EXPLAIN ANALYZE` what the GPU did: `gpu_fits`,
//! `gpu_fallbacks` (kernel errors the CPU answered), upload/compute/download times.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// Where the `curve_fit` calls of the aggregate (or projection) below run.
#[derive(Debug)]
pub(crate) struct GpuCurveFitExec {
    input: Arc<dyn ExecutionPlan>,
    /// `gpu` or `cpu (why)`.
    device: String,
    /// The `curve_fit` calls placed (their output names).
    fits: Vec<String>,
    metrics: ExecutionPlanMetricsSet,
}

impl GpuCurveFitExec {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        device: String,
        fits: Vec<String>,
        metrics: ExecutionPlanMetricsSet,
    ) -> Self {
        Self {
            input,
            device,
            fits,
            metrics,
        }
    }
}

impl DisplayAs for GpuCurveFitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "GpuCurveFitExec: device={}, fits=[{}]",
            self.device,
            self.fits.join(", ")
        )
    }
}

impl ExecutionPlan for GpuCurveFitExec {
    fn name(&self) -> &'static str {
        "GpuCurveFitExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// No expressions of its own: the child holds them.
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
        let [input] = <[_; 1]>::try_from(children)
            .or_else(|c| internal_err!("GpuCurveFitExec has one child, got {}", c.len()))?;
        Ok(Arc::new(Self {
            input,
            device: self.device.clone(),
            fits: self.fits.clone(),
            metrics: self.metrics.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
