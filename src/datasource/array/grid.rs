//! What the dense aggregation (`crate::dense`) needs of an array table, whatever its format:
//! the dimensions and their coordinate values, the value columns, the files along dimension
//! 0, and a read of one value column over an index box of one file. NetCDF
//! (`ArrayLayout`) and HDF5 (`Hdf5Layout`) tables implement it, so one block reader
//! ([`GridReader`]) and one dense aggregation serve both.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, exec_err};

use super::{BlockReader, BlockRows, Cuts, ReadBlock};

/// An array table seen as a grid of values.
pub(crate) trait Grid: Debug + Send + Sync {
    /// The table's schema: the dimension columns first, then the value columns, then
    /// optionally `filename` (the path of the file a row comes from).
    fn schema(&self) -> &SchemaRef;
    /// How many dimensions span the rows.
    fn dim_count(&self) -> usize;
    /// Coordinate values (or indices) of dimension `d`, over its whole extent.
    fn dim_values(&self, d: usize) -> &ArrayRef;
    /// How many value columns follow the dimensions.
    fn value_count(&self) -> usize;
    /// How many files concatenate along dimension 0.
    fn file_count(&self) -> usize;
    /// The path of file `file` and its first global index along dimension 0.
    fn file(&self, file: usize) -> (&str, u64);
    /// Each file's `(offset, len)` along dimension 0.
    fn extents(&self) -> Vec<(u64, u64)>;
    /// How a read of value columns `columns` with `inner` values per dimension-0 index cuts
    /// dimension 0 into read blocks.
    fn cuts(&self, columns: &[usize], inner: u64) -> Cuts;
    /// Value column `column` of file `file` over `ranges` (one `[start, end)` per
    /// dimension, local to the file), decoded as the table's scan decodes it.
    fn read_values(&self, file: usize, column: usize, ranges: &[(u64, u64)]) -> Result<ArrayRef>;
    /// What [`read_values`](Self::read_values) of `column` reads and how it decodes it, the
    /// same text for every table that reads the same values (the GPU's resident columns
    /// are keyed by it, with the file and the index box).
    #[cfg(feature = "gpu")]
    fn read_identity(&self, column: usize) -> String;
}

/// What an array scan reads: its table as a grid, the columns it produces (indices into the
/// grid's schema), the index range along each dimension and the row limit pushed into it.
#[derive(Debug, Clone)]
pub(crate) struct GridScan {
    pub grid: Arc<dyn Grid>,
    pub projection: Vec<usize>,
    pub ranges: Vec<(u64, u64)>,
    pub limit: Option<usize>,
}

/// Turns one read block of a scan into batches of its projected columns: dimension columns
/// from the coordinates, value columns read by the grid (each once for the whole block),
/// `filename` from the block's file.
pub(crate) struct GridReader {
    pub scan: GridScan,
    /// The scan's output schema (the grid's, projected).
    pub schema: SchemaRef,
    pub batch_size: usize,
}

impl BlockReader for GridReader {
    fn read(&self, block: &ReadBlock, limit: Option<usize>) -> Result<Vec<RecordBatch>> {
        let GridScan {
            grid,
            projection,
            ranges,
            ..
        } = &self.scan;
        let (ndims, nvalues) = (grid.dim_count(), grid.value_count());
        let shape = BlockRows::new(ranges, block, limit);
        let (path, offset) = grid.file(block.file);
        let local = shape.local(offset);
        let mut values: Vec<Option<ArrayRef>> = vec![None; nvalues];
        for &col in projection {
            if col < ndims || col - ndims >= nvalues {
                continue;
            }
            let array = grid.read_values(block.file, col - ndims, &local)?;
            if array.len() < shape.rows {
                return exec_err!(
                    "column \"{}\" in '{path}' gave {} values, expected {}",
                    grid.schema().field(col).name(),
                    array.len(),
                    shape.rows
                );
            }
            values[col - ndims] = Some(array);
        }
        shape.batches(&self.schema, self.batch_size, |offset, len| {
            let mut columns = Vec::with_capacity(projection.len());
            for &col in projection {
                if col < ndims {
                    columns.push(shape.dimension(col, grid.dim_values(col), offset, len)?);
                } else if col - ndims == nvalues {
                    let name = StringArray::from(vec![path]);
                    columns.push(take(&name, &UInt64Array::from(vec![0u64; len]), None)?);
                } else if let Some(array) = &values[col - ndims] {
                    columns.push(array.slice(offset, len));
                }
            }
            Ok(columns)
        })
    }
}
