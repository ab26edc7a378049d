//! The dense aggregation's GPU path: a block's element group codes (with filtered-out and
//! NULL elements skipped) and the f32 columns an aggregate's value reads go to the
//! grouped-reduction kernel, which computes the value from them (kernel 2, a translated
//! expression) and reduces it; the per-segment results merge into the block's statistics.
//! An error leaves the statistics untouched, so the caller can reduce the block on the CPU
//! instead.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Float32Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::physical_expr::PhysicalExpr;

use super::kernel::{Block, Stats};
use crate::gpu::device::gpu;
use crate::gpu::kernels::{expression, grouped_reduce};

/// Adds the values of `input` over `batch` (one row per element of `block`, those `keep`
/// allows) to `stats` on the GPU.
pub(crate) fn accumulate(
    block: &Block,
    batch: &RecordBatch,
    input: &Arc<dyn PhysicalExpr>,
    keep: Option<&BooleanArray>,
    stats: &mut Stats,
) -> Result<()> {
    let Some(value) = expression::translate(input, batch.schema_ref()) else {
        return exec_err!("the GPU cannot compute {input}");
    };
    let gpu =
        gpu().map_err(|reason| DataFusionError::Execution(format!("no GPU adapter: {reason}")))?;
    // An element is NULL where a column it reads is.
    let mut columns = Vec::with_capacity(value.columns.len());
    let mut nulls: Option<NullBuffer> = None;
    for &k in &value.columns {
        let column = batch.column(k);
        let Some(floats) = column.as_any().downcast_ref::<Float32Array>() else {
            return exec_err!(
                "GPU reduction needs f32 columns, not {}",
                column.data_type()
            );
        };
        let values: &[f32] = floats.values();
        columns.push(values);
        nulls = NullBuffer::union(nulls.as_ref(), column.logical_nulls().as_ref());
    }
    let codes = block.element_groups(keep, nulls.as_ref());
    let parts =
        grouped_reduce::reduce_values(gpu, &columns, &value.wgsl, &codes, stats.count.len())?;
    for (g, part) in &parts {
        stats.add(*g, part);
    }
    Ok(())
}
