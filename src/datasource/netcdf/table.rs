//! `NetCdfTable`: a file, glob or list of NetCDF files as one table (DESIGN.md §4), with
//! projection, dimension-range filter and LIMIT pushdown and exact row counts.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Scalar};
use datafusion::arrow::compute::kernels::cmp;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, ScalarValue, Statistics};
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::NetCdfExec;
use super::schema::{ArrayLayout, NetCdfOptions};

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

    /// The index range of dimension column `column` that `op literal` keeps, if `column` is
    /// a dimension column and the literal converts to its type.
    fn dim_range(
        &self,
        column: &str,
        op: Operator,
        literal: &ScalarValue,
    ) -> Option<(usize, u64, u64)> {
        let k = self.layout.dims.iter().position(|d| d.name == column)?;
        let values = &self.layout.dims[k].values;
        let literal = literal.cast_to(values.data_type()).ok()?;
        if literal.is_null() {
            return None;
        }
        let scalar = Scalar::new(literal.to_array().ok()?);
        let mask: BooleanArray = match op {
            Operator::Eq => cmp::eq(values, &scalar),
            Operator::Gt => cmp::gt(values, &scalar),
            Operator::GtEq => cmp::gt_eq(values, &scalar),
            Operator::Lt => cmp::lt(values, &scalar),
            Operator::LtEq => cmp::lt_eq(values, &scalar),
            _ => return None,
        }
        .ok()?;
        let kept = |i: &usize| mask.is_valid(*i) && mask.value(*i);
        let first = (0..mask.len()).find(kept);
        let last = (0..mask.len()).rev().find(kept);
        Some(match (first, last) {
            (Some(a), Some(b)) => (k, a as u64, b as u64 + 1),
            _ => (k, 0, 0),
        })
    }

    /// The ranges on dimension indices that `filter` implies (empty when none).
    fn filter_ranges(&self, filter: &Expr) -> Vec<(usize, u64, u64)> {
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                match (left.as_ref(), right.as_ref()) {
                    (Expr::Column(c), Expr::Literal(v, _)) => {
                        self.dim_range(&c.name, *op, v).into_iter().collect()
                    }
                    (Expr::Literal(v, _), Expr::Column(c)) => {
                        let swapped = op.swap();
                        swapped
                            .and_then(|op| self.dim_range(&c.name, op, v))
                            .into_iter()
                            .collect()
                    }
                    (l, r) if *op == Operator::And => {
                        let mut out = self.filter_ranges(l);
                        out.extend(self.filter_ranges(r));
                        out
                    }
                    _ => Vec::new(),
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => match (expr.as_ref(), low.as_ref(), high.as_ref()) {
                (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) => self
                    .dim_range(&c.name, Operator::GtEq, lo)
                    .into_iter()
                    .chain(self.dim_range(&c.name, Operator::LtEq, hi))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
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
        // Inexact: the index range is a superset for coordinates that are not monotonic,
        // so DataFusion still applies the filter to the rows.
        Ok(filters
            .iter()
            .map(|f| {
                if self.filter_ranges(f).is_empty() {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
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
        let mut ranges = self.base.clone();
        for filter in filters {
            for (k, lo, hi) in self.filter_ranges(filter) {
                let r = &mut ranges[k];
                r.0 = r.0.max(lo);
                r.1 = r.1.min(hi).max(r.0);
            }
        }
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
