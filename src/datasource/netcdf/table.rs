//! `NetCdfTable`: a file, glob or list of NetCDF files as one table (DESIGN.md §4), with
//! projection, dimension-range filter and LIMIT pushdown and exact row counts.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::NetCdfExec;
use super::schema::{ArrayLayout, NetCdfOptions};
use crate::datasource::array::Dimensions;

/// NetCDF files as a table: rows are the product of the selected variables' dimensions.
#[derive(Debug)]
pub struct NetCdfTable {
    layout: Arc<ArrayLayout>,
    /// Index ranges the table covers (narrowed by `nearest`, else every index).
    base: Vec<(u64, u64)>,
}

impl NetCdfTable {
    /// Opens `paths` (files; globs already expanded) with `options`.
    pub fn try_new(paths: &[String], options: &NetCdfOptions) -> Result<Self> {
        let layout = ArrayLayout::try_new(paths, options)?;
        let base = super::nearest::ranges(&layout.dims, &options.nearest)?;
        Ok(Self {
            layout: Arc::new(layout),
            base,
        })
    }

    /// The files, dimensions and variables of the table.
    #[cfg(feature = "cluster")]
    pub(crate) fn layout(&self) -> &Arc<ArrayLayout> {
        &self.layout
    }

    fn dimensions(&self) -> Dimensions<'_> {
        Dimensions(
            self.layout
                .dims
                .iter()
                .map(|d| (d.name.as_str(), &d.values))
                .collect(),
        )
    }
}

#[async_trait::async_trait]
impl TableProvider for NetCdfTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.layout.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(self.dimensions().pushdown(filters))
    }

    fn statistics(&self) -> Option<Statistics> {
        let rows: u64 = self.base.iter().map(|(a, b)| b - a).product();
        let rows = usize::try_from(rows).ok()?;
        Some(Statistics::new_unknown(&self.layout.schema).with_num_rows(Precision::Exact(rows)))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let ranges = self.dimensions().narrow(self.base.clone(), filters);
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.layout.schema.fields().len()).collect(),
        };
        let config = state.config();
        Ok(Arc::new(NetCdfExec::try_new(
            Arc::clone(&self.layout),
            projection,
            ranges,
            limit,
            config.target_partitions(),
            config.batch_size(),
        )?))
    }
}
