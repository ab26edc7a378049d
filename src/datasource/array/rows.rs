//! The rows of one read block of an array scan (NetCDF, HDF5): the hyperslab it reads,
//! its dimension columns (coordinate values in C order, last dimension fastest) and its cut
//! into batches.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::ReadBlock;

/// What one block reads: dimension 0 over the block (cut short by a row limit), the other
/// dimensions over their selected ranges.
pub(crate) struct BlockRows {
    /// First global index read along each dimension.
    starts: Vec<u64>,
    /// Indices read along each dimension.
    counts: Vec<u64>,
    /// Rows emitted: the product of the counts (1 for a scalar), at most the limit.
    pub rows: usize,
}

impl BlockRows {
    /// The rows of `block` within `ranges` (one per dimension), at most `limit` of them.
    pub(crate) fn new(ranges: &[(u64, u64)], block: &ReadBlock, limit: Option<usize>) -> Self {
        let mut starts: Vec<u64> = ranges.iter().map(|(a, _)| *a).collect();
        let mut counts: Vec<u64> = ranges.iter().map(|(a, b)| b - a).collect();
        let inner: u64 = counts.iter().skip(1).product();
        if let (Some(start), Some(count)) = (starts.first_mut(), counts.first_mut()) {
            let mut end = block.end;
            if let (Some(limit), true) = (limit, inner > 0) {
                end = end.min(block.start + (limit as u64).div_ceil(inner));
            }
            *start = block.start;
            *count = end - block.start;
        }
        let rows: u64 = counts.iter().product();
        let rows = usize::try_from(rows)
            .unwrap_or(usize::MAX)
            .min(limit.unwrap_or(usize::MAX));
        Self {
            starts,
            counts,
            rows,
        }
    }

    /// The hyperslab `[start, end)` per dimension, local to a file whose dimension 0 starts
    /// at global index `offset`.
    pub(crate) fn local(&self, offset: u64) -> Vec<(u64, u64)> {
        self.starts
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(k, (s, c))| {
                let s = if k == 0 { s - offset } else { *s };
                (s, s + c)
            })
            .collect()
    }

    /// Dimension `k`'s column for rows `offset..offset + len`, taken from its `values`.
    pub(crate) fn dimension(
        &self,
        k: usize,
        values: &ArrayRef,
        offset: usize,
        len: usize,
    ) -> Result<ArrayRef> {
        let stride: u64 = self.counts[k + 1..].iter().product();
        let (start, count) = (self.starts[k], self.counts[k].max(1));
        let indices: UInt64Array = (offset as u64..(offset + len) as u64)
            .map(|r| start + (r / stride.max(1)) % count)
            .collect::<Vec<_>>()
            .into();
        Ok(take(values.as_ref(), &indices, None)?)
    }

    /// The block's rows as batches of at most `batch_size`, `columns(offset, len)` giving
    /// each batch's columns.
    pub(crate) fn batches(
        &self,
        schema: &SchemaRef,
        batch_size: usize,
        mut columns: impl FnMut(usize, usize) -> Result<Vec<ArrayRef>>,
    ) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        let mut offset = 0;
        while offset < self.rows {
            let len = batch_size.max(1).min(self.rows - offset);
            let options = RecordBatchOptions::new().with_row_count(Some(len));
            batches.push(RecordBatch::try_new_with_options(
                Arc::clone(schema),
                columns(offset, len)?,
                &options,
            )?);
            offset += len;
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};

    #[test]
    fn a_limit_cuts_dimension_zero_and_the_rows() {
        let block = ReadBlock {
            file: 1,
            start: 5,
            end: 9,
        };
        let rows = BlockRows::new(&[(0, 10), (1, 4)], &block, Some(7));
        assert_eq!(rows.rows, 7);
        // 7 rows of 3 need 3 indices of dimension 0 (the file starts at global index 4).
        assert_eq!(rows.local(4), [(1, 4), (1, 4)]);
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10));
        let d0 = rows.dimension(0, &values, 0, 7).unwrap();
        let d1 = rows.dimension(1, &values, 2, 4).unwrap();
        let as_vec = |a: &ArrayRef| {
            let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
            (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
        };
        assert_eq!(as_vec(&d0), [5, 5, 5, 6, 6, 6, 7]);
        assert_eq!(as_vec(&d1), [3, 1, 2, 3]);
        let scalar = BlockRows::new(&[], &block, None);
        assert_eq!(scalar.rows, 1);
        assert!(scalar.local(0).is_empty());
    }
}
