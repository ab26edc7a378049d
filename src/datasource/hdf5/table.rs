//! `Hdf5Table`: one HDF5 dataset as a table, with projection and LIMIT pushdown and an
//! exact row count.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::Hdf5Exec;
use super::schema::{Hdf5Layout, Hdf5Options};

/// An HDF5 dataset as a table: rows are the product of its dimensions.
#[derive(Debug)]
pub struct Hdf5Table {
    layout: Arc<Hdf5Layout>,
}

impl Hdf5Table {
    /// Opens `dataset` of `path` (the file's only dataset when `None`).
    pub fn try_new(path: &str, dataset: Option<&str>, options: &Hdf5Options) -> Result<Self> {
        Ok(Self {
            layout: Arc::new(Hdf5Layout::try_new(path, dataset, options)?),
        })
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

    fn statistics(&self) -> Option<Statistics> {
        let rows = usize::try_from(self.layout.num_rows()).ok()?;
        Some(Statistics::new_unknown(&self.layout.schema).with_num_rows(Precision::Exact(rows)))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.layout.schema.fields().len()).collect(),
        };
        Ok(Arc::new(Hdf5Exec::try_new(
            Arc::clone(&self.layout),
            projection,
            limit,
            state.config().batch_size(),
        )?))
    }
}
