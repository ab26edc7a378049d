//! `DenseAggregateRule`: the physical optimizer rule that replaces an aggregate over an array
//! scan (NetCDF, HDF5; through projections, filters and repartitions, in Single or
//! Partial/Final form) by a [`DenseAggregateExec`] when its keys and aggregates allow (see
//! [`DenseSpec`]).
//! `SET quiver.dense_aggregate = false` turns it off; `quiver.gpu` places it (`crate::placement`).
//! A sort above it that its output order already satisfies is then dropped (`order.rs`).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::physical_expr::Partitioning;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use quiver_sql::QuiverSqlOptions;

use super::exec::{DenseAggregateExec, Placement};
use super::order::drop_satisfied_sort;
use super::source::{passes_rows_through, trace};
use super::spec::DenseSpec;
use crate::placement::place;

/// Plans eligible aggregates over array scans as dense aggregations.
#[derive(Debug, Default)]
pub struct DenseAggregateRule;

impl PhysicalOptimizerRule for DenseAggregateRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = config.extensions.get::<QuiverSqlOptions>();
        if !options.is_none_or(|o| o.dense_aggregate) {
            return Ok(plan);
        }
        let threads = config.execution.target_partitions;
        let plan = plan.transform_down(|node| {
            Ok(match dense_form(&node, threads, options)? {
                Some(dense) => Transformed::new(dense, true, TreeNodeRecursion::Jump),
                None => Transformed::no(node),
            })
        })?;
        if !plan.transformed {
            return Ok(plan.data);
        }
        plan.data.transform_up(drop_satisfied_sort).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "dense_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The dense replacement of `node`, keeping its output partitioning so the plan above
/// stays valid.
fn dense_form(
    node: &Arc<dyn ExecutionPlan>,
    threads: usize,
    options: Option<&QuiverSqlOptions>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let raw = match agg.mode() {
        AggregateMode::Single | AggregateMode::SinglePartitioned => agg,
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            let mut input = agg.input();
            while let Some(next) = passes_rows_through(input) {
                input = next;
            }
            match input.downcast_ref::<AggregateExec>() {
                Some(partial) if *partial.mode() == AggregateMode::Partial => partial,
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let Some(source) = trace(raw.input())? else {
        return Ok(None);
    };
    // A plan that cannot be made dense keeps its generic form; errors here are not the
    // query's errors.
    let spec = match DenseSpec::try_new(
        &source,
        raw.group_expr(),
        raw.aggr_expr(),
        raw.filter_expr(),
        node.schema(),
    ) {
        Ok(Some(spec)) => spec,
        Ok(None) | Err(_) => return Ok(None),
    };
    let placement = Placement {
        device: place(&spec, options)?,
        resident_bytes: options.map_or(0, |o| o.gpu_cache_bytes as u64),
    };
    let dense: Arc<dyn ExecutionPlan> =
        Arc::new(DenseAggregateExec::try_new(spec, threads, placement)?);
    let partitioning = node.output_partitioning().clone();
    Ok(Some(match partitioning {
        p if p.partition_count() <= 1 => dense,
        Partitioning::Hash(exprs, n) => Arc::new(RepartitionExec::try_new(
            dense,
            Partitioning::Hash(exprs, n),
        )?),
        p => Arc::new(RepartitionExec::try_new(
            dense,
            Partitioning::RoundRobinBatch(p.partition_count()),
        )?),
    }))
}
