//! `ArrayFunctionExec`: collects every row of each input, runs the array function on the CPU
//! pool (its kernel on the GPU where `quiver.gpu` places it) and streams the result in
//! batches. `EXPLAIN` shows the call and the placement setting; `EXPLAIN ANALYZE` shows how
//! many kernels ran on the GPU, how many fell back to the CPU, and the GPU's time split
//! into upload, compute and download.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, exec_err};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, collect,
};
use futures::{StreamExt, TryStreamExt};
use quiver_sql::GpuMode;

use super::ArrayFunction;
use super::kernel::Runner;
use crate::executor;

/// Runs one array function call over its planned inputs.
#[derive(Debug)]
pub(crate) struct ArrayFunctionExec {
    function: Arc<dyn ArrayFunction>,
    inputs: Vec<Arc<dyn ExecutionPlan>>,
    projection: Option<Vec<usize>>,
    gpu: (GpuMode, usize),
    threads: usize,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ArrayFunctionExec {
    pub(crate) fn new(
        function: Arc<dyn ArrayFunction>,
        inputs: Vec<Arc<dyn ExecutionPlan>>,
        projection: Option<Vec<usize>>,
        gpu: (GpuMode, usize),
        threads: usize,
    ) -> Result<Self> {
        let full = function.schema();
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Self {
            function,
            inputs,
            projection,
            gpu,
            threads: threads.max(1),
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for ArrayFunctionExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let device = match self.gpu.0 {
            GpuMode::Off => "cpu",
            GpuMode::On => "gpu",
            GpuMode::Auto => "auto",
        };
        write!(
            f,
            "ArrayFunctionExec: {}, device={device}",
            self.function.describe()
        )
    }
}

impl ExecutionPlan for ArrayFunctionExec {
    fn name(&self) -> &'static str {
        "ArrayFunctionExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inputs.iter().collect()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> Result<datafusion::common::tree_node::TreeNodeRecursion>,
    ) -> Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != self.inputs.len() {
            return exec_err!(
                "ArrayFunctionExec has {} inputs, not {}",
                self.inputs.len(),
                children.len()
            );
        }
        Ok(Arc::new(ArrayFunctionExec::new(
            Arc::clone(&self.function),
            children,
            self.projection.clone(),
            self.gpu,
            self.threads,
        )?))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("ArrayFunctionExec has one partition, not {}", partition + 1);
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let metric =
            |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let (gpu_kernels, gpu_fallbacks) = (metric("gpu_kernels"), metric("gpu_fallbacks"));
        let time =
            |name: &'static str| MetricBuilder::new(&self.metrics).subset_time(name, partition);
        let (upload, compute, download) = (
            time("gpu_upload"),
            time("gpu_compute"),
            time("gpu_download"),
        );
        let function = Arc::clone(&self.function);
        let inputs = self.inputs.clone();
        let projection = self.projection.clone();
        let (mode, min_values) = self.gpu;
        let threads = self.threads;
        let batch_size = context.session_config().batch_size().max(1);
        let work = async move {
            let mut batches = Vec::with_capacity(inputs.len());
            for input in inputs {
                let schema = input.schema();
                let parts = collect(input, Arc::clone(&context)).await?;
                batches.push(concat_batches(&schema, &parts)?);
            }
            let mut reservation =
                MemoryConsumer::new(function.describe()).register(context.memory_pool());
            let output = executor::run(threads, move |token| {
                let timer = baseline.elapsed_compute().timer();
                let mut runner = Runner {
                    mode,
                    min_values,
                    token,
                    reservation: &mut reservation,
                    report: Default::default(),
                };
                let out = function.run(&batches, &mut runner)?;
                let report = runner.report;
                timer.done();
                gpu_kernels.add(report.gpu_kernels);
                gpu_fallbacks.add(report.gpu_fallbacks);
                upload.add_duration(report.upload);
                compute.add_duration(report.compute);
                download.add_duration(report.download);
                baseline.record_output(out.num_rows());
                let out = match &projection {
                    Some(p) => out.project(p)?,
                    None => out,
                };
                Ok((out, reservation))
            })
            .await?;
            let (out, reservation) = output;
            let rows = out.num_rows();
            let slices: Vec<_> = (0..rows)
                .step_by(batch_size)
                .map(|start| Ok(Some(out.slice(start, batch_size.min(rows - start)))))
                .collect();
            // The reservation is held until the last batch has been handed on.
            Ok::<_, datafusion::common::DataFusionError>(futures::stream::iter(slices).chain(
                futures::stream::once(async move {
                    drop(reservation);
                    Ok(None)
                }),
            ))
        };
        let stream = futures::stream::once(work)
            .try_flatten()
            .try_filter_map(|batch| async move { Ok(batch) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}
