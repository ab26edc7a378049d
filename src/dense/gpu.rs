//! The dense aggregation's GPU path: a block's element group codes (with filtered-out and
//! NULL elements skipped) and its f32 values go through the grouped-reduction kernel, and
//! the per-segment results merge into the block's statistics. An error leaves the
//! statistics untouched, so the caller can reduce the block on the CPU instead.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float32Array};
use datafusion::common::{Result, exec_err};

use super::kernel::{Block, Stats};
use crate::gpu::device::gpu;
use crate::gpu::kernels::grouped_reduce;

/// Adds `values` (one f32 per element of `block`, those `keep` allows) to `stats` on the GPU.
pub(crate) fn accumulate(
    block: &Block,
    values: &ArrayRef,
    keep: Option<&BooleanArray>,
    stats: &mut Stats,
) -> Result<()> {
    let Some(floats) = values.as_any().downcast_ref::<Float32Array>() else {
        return exec_err!("GPU reduction needs f32 values, not {}", values.data_type());
    };
    let gpu = gpu().map_err(|reason| {
        datafusion::common::DataFusionError::Execution(format!("no GPU adapter: {reason}"))
    })?;
    let codes = block.element_groups(keep, values.logical_nulls().as_ref());
    let parts = grouped_reduce::reduce(gpu, floats.values(), &codes, stats.count.len())?;
    for (g, part) in &parts {
        stats.add(*g, part);
    }
    Ok(())
}
