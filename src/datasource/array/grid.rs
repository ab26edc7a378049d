//! What the dense aggregation (`crate::dense`) needs of an array table, whatever its format:
//! the dimensions and their coordinate values, the value columns, the files along dimension
//! 0, and a read of one value column over an index box of one file. NetCDF
//! (`ArrayLayout`) and HDF5 (`Hdf5Layout`) tables implement it, so one dense aggregation
//! serves both.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::Cuts;

/// An array table seen as a grid of values.
pub(crate) trait Grid: Debug + Send + Sync {
    /// The table's schema: the dimension columns first, then the value columns, then any
    /// other column (such as NetCDF's `filename`).
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
