//! Finds the array scan (NetCDF or HDF5) under an aggregate's input and rewrites the input's columns and
//! filters as expressions over the scan's output columns, so the dense aggregation can
//! evaluate them on coordinate arrays and variable blocks instead of on rows.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::split_conjunction;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;

use crate::datasource::array::{Grid, GridScan};
use crate::datasource::hdf5::Hdf5Exec;
use crate::datasource::netcdf::NetCdfExec;

/// An aggregate's input, traced down to the scan.
pub(crate) struct ScanSource {
    pub grid: Arc<dyn Grid>,
    /// Grid schema index of each scan column.
    pub projection: Vec<usize>,
    /// Index range read along each dimension.
    pub ranges: Vec<(u64, u64)>,
    pub limit: Option<usize>,
    /// One expression over the scan's columns per column of the traced input.
    pub columns: Vec<Arc<dyn PhysicalExpr>>,
    /// Conjuncts of every filter on the way, over the scan's columns.
    pub filters: Vec<Arc<dyn PhysicalExpr>>,
}

/// Nodes that change neither rows nor columns, only partitioning or scheduling.
pub(crate) fn passes_rows_through(
    plan: &Arc<dyn ExecutionPlan>,
) -> Option<&Arc<dyn ExecutionPlan>> {
    if let Some(p) = plan.downcast_ref::<RepartitionExec>() {
        Some(p.input())
    } else if let Some(p) = plan.downcast_ref::<CooperativeExec>() {
        Some(p.input())
    } else {
        plan.downcast_ref::<CoalescePartitionsExec>()
            .map(|p| p.input())
    }
}

/// Traces `plan` through projections, filters and batching nodes to a NetCDF or HDF5 scan.
pub(crate) fn trace(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<ScanSource>> {
    if let Some(input) = passes_rows_through(plan) {
        return trace(input);
    }
    let scan = match (
        plan.downcast_ref::<NetCdfExec>(),
        plan.downcast_ref::<Hdf5Exec>(),
    ) {
        (Some(scan), _) => Some(scan.grid_scan()),
        (_, Some(scan)) => Some(scan.grid_scan()),
        _ => None,
    };
    if let Some(GridScan {
        grid,
        projection,
        ranges,
        limit,
    }) = scan
    {
        let columns = plan
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>)
            .collect();
        return Ok(Some(ScanSource {
            grid,
            projection,
            ranges,
            limit,
            columns,
            filters: Vec::new(),
        }));
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let Some(mut source) = trace(projection.input())? else {
            return Ok(None);
        };
        source.columns = projection
            .expr()
            .iter()
            .map(|p| substitute(&p.expr, &source.columns))
            .collect::<Result<_>>()?;
        return Ok(Some(source));
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let Some(mut source) = trace(filter.input())? else {
            return Ok(None);
        };
        let predicate = substitute(filter.predicate(), &source.columns)?;
        source
            .filters
            .extend(split_conjunction(&predicate).into_iter().cloned());
        if let Some(projection) = filter.projection() {
            source.columns = projection
                .iter()
                .map(|i| Arc::clone(&source.columns[*i]))
                .collect();
        }
        return Ok(Some(source));
    }
    Ok(None)
}

/// `expr` with each column reference replaced by the expression that column stands for.
pub(crate) fn substitute(
    expr: &Arc<dyn PhysicalExpr>,
    columns: &[Arc<dyn PhysicalExpr>],
) -> Result<Arc<dyn PhysicalExpr>> {
    Arc::clone(expr)
        .transform_up(|e| {
            Ok(match e.downcast_ref::<Column>() {
                Some(c) if c.index() < columns.len() => {
                    Transformed::yes(Arc::clone(&columns[c.index()]))
                }
                _ => Transformed::no(e),
            })
        })
        .map(|t| t.data)
}

/// `expr` with its columns renumbered by `index_of` (a column's old index to its new one).
pub(crate) fn renumber(
    expr: &Arc<dyn PhysicalExpr>,
    index_of: impl Fn(usize) -> usize,
) -> Result<Arc<dyn PhysicalExpr>> {
    Arc::clone(expr)
        .transform_up(|e| {
            Ok(match e.downcast_ref::<Column>() {
                Some(c) => {
                    Transformed::yes(Arc::new(Column::new(c.name(), index_of(c.index())))
                        as Arc<dyn PhysicalExpr>)
                }
                None => Transformed::no(e),
            })
        })
        .map(|t| t.data)
}
