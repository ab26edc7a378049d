//! `Hdf5Table`: an HDF5 dataset (of one file, or of several concatenated along dimension 0)
//! as a table, with projection, dimension-range filter and LIMIT pushdown and an exact row
//! count.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::Hdf5Exec;
use super::schema::{Hdf5Layout, Hdf5Options};
use crate::datasource::array::Dimensions;

/// An HDF5 dataset as a table: rows are the product of its dimensions.
#[derive(Debug)]
pub struct Hdf5Table {
    layout: Arc<Hdf5Layout>,
}

impl Hdf5Table {
    /// Opens `dataset` of `paths` (globs already expanded; the first file's only dataset
    /// when `None`).
    pub fn try_new(paths: &[String], dataset: Option<&str>, options: &Hdf5Options) -> Result<Self> {
        Ok(Self {
            layout: Arc::new(Hdf5Layout::try_new(paths, dataset, options)?),
        })
    }

    /// The files, dimensions and variables of the table.
    #[cfg(feature = "cluster")]
    pub(crate) fn layout(&self) -> &Arc<Hdf5Layout> {
        &self.layout
    }

    fn dimensions(&self) -> Dimensions<'_> {
        let fields = self.layout.schema.fields();
        Dimensions(
            self.layout
                .dims
                .iter()
                .enumerate()
                .map(|(k, d)| (fields[k].name().as_str(), &d.values))
                .collect(),
        )
    }

    fn full_ranges(&self) -> Vec<(u64, u64)> {
        self.layout.dims.iter().map(|d| (0, d.size)).collect()
    }
}

#[async_trait::async_trait]
impl TableProvider for Hdf5Table {
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
        let rows: u64 = self.layout.dims.iter().map(|d| d.size).product();
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
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.layout.schema.fields().len()).collect(),
        };
        Ok(Arc::new(Hdf5Exec::try_new(
            Arc::clone(&self.layout),
            projection,
            self.dimensions().narrow(self.full_ranges(), filters),
            limit,
            state.config().target_partitions(),
            state.config().batch_size(),
        )?))
    }
}
