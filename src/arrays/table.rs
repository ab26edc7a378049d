//! `ArrayTable`: the provider an array table function's call plans to. It holds the input
//! queries' logical plans; at physical planning it plans them and wraps them in an
//! [`ArrayFunctionExec`], and checks `quiver.gpu = 'on'` against the adapter so that a
//! missing GPU is a planning error.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use quiver_sql::QuiverSqlOptions;

use super::ArrayFunction;
use super::exec::ArrayFunctionExec;
use crate::placement::{device_for, gpu_setting};

/// An array function call as a table.
#[derive(Debug)]
pub(crate) struct ArrayTable {
    function: Arc<dyn ArrayFunction>,
    inputs: Vec<LogicalPlan>,
}

impl ArrayTable {
    pub(crate) fn new(function: Arc<dyn ArrayFunction>, inputs: Vec<LogicalPlan>) -> Self {
        Self { function, inputs }
    }
}

#[async_trait::async_trait]
impl TableProvider for ArrayTable {
    fn schema(&self) -> SchemaRef {
        self.function.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (mode, min_values) =
            gpu_setting(state.config_options().extensions.get::<QuiverSqlOptions>());
        // 'on' without an adapter fails here, at planning; 'auto' is decided per run.
        device_for(mode, min_values, 0)?;
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for plan in &self.inputs {
            inputs.push(state.create_physical_plan(plan).await?);
        }
        Ok(Arc::new(ArrayFunctionExec::new(
            Arc::clone(&self.function),
            inputs,
            projection.cloned(),
            (mode, min_values),
            state.config().target_partitions(),
        )?))
    }
}
