//! What the array formats (NetCDF, HDF5) share: size limits, filters on dimension columns as
//! index ranges, the order in which several files concatenate, and how a scan cuts
//! dimension 0 into partitions and read blocks, and the grid view the dense aggregation reads.

mod blocks;
mod grid;
mod limits;
mod ranges;
mod rows;
mod stream;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

pub(crate) use blocks::{Cuts, ReadBlock};
pub(crate) use grid::{Grid, GridReader, GridScan};
pub(crate) use limits::check_dimensions;
pub(crate) use ranges::{Dimensions, flat_indices};
pub(crate) use rows::BlockRows;
pub(crate) use stream::{BlockReader, block_stream};

/// The first coordinate of a file's dimension 0 as a number, the key that orders files
/// concatenated along it (not their names); files without one go last.
pub(crate) fn first_coordinate(values: &ArrayRef) -> f64 {
    cast(values, &DataType::Float64)
        .ok()
        .and_then(|a| {
            a.as_any()
                .downcast_ref::<Float64Array>()
                .filter(|a| !a.is_empty() && a.is_valid(0))
                .map(|a| a.value(0))
        })
        .unwrap_or(f64::INFINITY)
}
