//! The order of a dense aggregation's output. Groups come out by group index, whose most
//! significant part is the first dimension's code; codes follow the order in which key
//! values first appear along their dimension. Where those values ascend (coordinates
//! usually do: `lat, lon`, months, years), the output is already sorted by the keys, the
//! plan says so, and a sort above it that asks for that order is dropped.

use std::sync::Arc;

use datafusion::arrow::array::make_comparator;
use datafusion::arrow::compute::SortOptions;
use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, replace_children_if_necessary,
};

use super::exec::DenseAggregateExec;
use super::spec::{DenseSpec, key_values};

/// The ordering the output of `spec` has: its keys, dimension by dimension, as long as each
/// dimension has one key whose values ascend strictly in code order (no NULLs). Empty when
/// the first grouped dimension does not qualify.
pub(crate) fn output_ordering(spec: &DenseSpec) -> Result<Vec<PhysicalSortExpr>> {
    let ascending = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let mut ordering = Vec::new();
    for (d, codes) in spec.dims.iter().enumerate() {
        let on_dim: Vec<usize> = (0..spec.keys.len())
            .filter(|k| spec.keys[*k].dim == Some(d))
            .collect();
        let k = match on_dim.as_slice() {
            [] => continue,
            [k] => *k,
            _ => break,
        };
        let values = key_values(&spec.keys[k], &codes.representative)?;
        if values.null_count() > 0 {
            break;
        }
        let compare = make_comparator(values.as_ref(), values.as_ref(), ascending)?;
        if !(1..values.len()).all(|i| compare(i - 1, i).is_lt()) {
            break;
        }
        let name = spec.output_schema.field(k).name();
        ordering.push(PhysicalSortExpr::new(
            Arc::new(Column::new(name, k)),
            ascending,
        ));
    }
    Ok(ordering)
}

/// Drops a sort into one partition (`SortPreservingMergeExec`, or a `SortExec` that does not
/// keep partitions) when the dense aggregation below it, through projections, repartitions,
/// merges and other sorts, already gives rows in the order it asks for; a `LIMIT` it held stays.
pub(crate) fn drop_satisfied_sort(
    node: Arc<dyn ExecutionPlan>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let (ordering, fetch) = if let Some(merge) = node.downcast_ref::<SortPreservingMergeExec>() {
        (merge.expr().clone(), merge.fetch())
    } else if let Some(sort) = node.downcast_ref::<SortExec>() {
        if sort.preserve_partitioning() && sort.input().output_partitioning().partition_count() > 1
        {
            return Ok(Transformed::no(node));
        }
        (sort.expr().clone(), sort.fetch())
    } else {
        return Ok(Transformed::no(node));
    };
    // The nodes between the sort and the dense aggregation, top down.
    let mut between: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
    let mut at = single_child(&node);
    while let Some(child) = at.take() {
        if child.downcast_ref::<DenseAggregateExec>().is_some() {
            at = Some(child);
            break;
        }
        let passes = child.downcast_ref::<ProjectionExec>().is_some()
            || child.downcast_ref::<RepartitionExec>().is_some()
            || child.downcast_ref::<CoalescePartitionsExec>().is_some()
            || child.downcast_ref::<SortExec>().is_some()
            || child.downcast_ref::<SortPreservingMergeExec>().is_some();
        if !passes || (child.fetch().is_some() && child.fetch() != fetch) {
            return Ok(Transformed::no(node));
        }
        at = single_child(&child);
        between.push(child);
    }
    let Some(dense) = at else {
        return Ok(Transformed::no(node));
    };
    // Rebuild with only the projections (they rename and compute columns); the rest moved
    // rows between partitions or sorted them.
    let mut plan = dense;
    for step in between.iter().rev() {
        if step.downcast_ref::<ProjectionExec>().is_some() {
            plan = replace_children_if_necessary(Arc::clone(step), vec![plan])?;
        }
    }
    if !plan.equivalence_properties().ordering_satisfy(ordering)? {
        return Ok(Transformed::no(node));
    }
    Ok(Transformed::yes(match fetch {
        Some(fetch) => Arc::new(GlobalLimitExec::new(plan, 0, Some(fetch))),
        None => plan,
    }))
}

fn single_child(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    match node.children().as_slice() {
        [child] => Some(Arc::clone(child)),
        _ => None,
    }
}
