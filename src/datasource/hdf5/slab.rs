//! Hyperslab reads of an HDF5 dataset's value columns: numbers with a typed hyperslab read,
//! compound fields and enums as the raw bytes of the hyperslab then decoded, strings whole
//! then the selected elements.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    StringArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use hdf5_reader::{Dataset, Datatype, H5Type, SliceInfo, SliceInfoElem};

use super::schema::{ColumnKind, Hdf5Layout, decode_elements, guarded, numeric_type, type_name};
use crate::datasource::array::flat_indices;

impl Hdf5Layout {
    /// Reads value column `k` of file `file` over `ranges` (one per dimension, local to the
    /// file).
    pub(crate) fn read_column(
        &self,
        file: usize,
        k: usize,
        ranges: &[(u64, u64)],
    ) -> Result<ArrayRef> {
        let source = &self.files[file];
        let (path, ds) = (&source.path, &source.dataset);
        let shape = ds.shape();
        let whole = ranges
            .iter()
            .zip(shape)
            .all(|((start, end), size)| *start == 0 && end == size);
        let slab = (!whole).then_some(ranges);
        let count: u64 = ranges.iter().map(|(a, b)| b - a).product();
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let (offset, dtype) = match &self.columns[k].kind {
            ColumnKind::Numeric => return read_numeric_slab(ds, path, slab),
            ColumnKind::Strings => return self.read_strings(file, ranges, whole),
            ColumnKind::Enum => (0, ds.dtype()),
            ColumnKind::Field { offset, dtype } => (*offset, dtype),
        };
        let raw = read_raw_slab(ds, path, slab)?;
        let size = guarded(path, || hdf5_reader::dtype_element_size(ds.dtype()))?;
        decode_elements(&raw, count, size, offset, dtype, self.options.enum_labels)
            .ok_or_else(|| short(path, &self.dataset_path))
    }

    /// A string dataset's elements over `ranges`: the library decodes strings only whole.
    fn read_strings(&self, file: usize, ranges: &[(u64, u64)], whole: bool) -> Result<ArrayRef> {
        let source = &self.files[file];
        let (path, ds) = (&source.path, &source.dataset);
        let array: ArrayRef = Arc::new(StringArray::from(guarded(path, || ds.read_strings())?));
        let shape = ds.shape();
        let rows = usize::try_from(shape.iter().product::<u64>()).unwrap_or(usize::MAX);
        if array.len() != rows {
            return exec_err!(
                "dataset '{}' in '{path}' gave {} values, expected {rows}",
                self.dataset_path,
                array.len()
            );
        }
        if whole {
            return Ok(array);
        }
        let steps: Vec<(u64, u64, u64)> = ranges.iter().map(|(a, b)| (*a, *b, 1)).collect();
        let indices: UInt64Array = flat_indices(shape, &steps)
            .into_iter()
            .map(|i| i as u64)
            .collect::<Vec<_>>()
            .into();
        Ok(take(array.as_ref(), &indices, None)?)
    }
}

fn short(path: &str, dataset: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "cannot read hdf5 file '{path}': data of dataset '{dataset}' is shorter than its shape"
    ))
}

/// `ranges` as the library's hyperslab selection.
fn selection(ranges: &[(u64, u64)]) -> SliceInfo {
    SliceInfo {
        selections: ranges
            .iter()
            .map(|(start, end)| SliceInfoElem::Slice {
                start: *start,
                end: *end,
                step: 1,
            })
            .collect(),
    }
}

/// Reads the whole dataset as a numeric Arrow array of its own type.
pub(crate) fn read_numeric(ds: &Dataset, path: &str) -> Result<ArrayRef> {
    read_numeric_slab(ds, path, None)
}

/// Reads the hyperslab `ranges` (the whole dataset when `None`) of a numeric dataset as an
/// Arrow array of its own type.
fn read_numeric_slab(ds: &Dataset, path: &str, ranges: Option<&[(u64, u64)]>) -> Result<ArrayRef> {
    let selection = ranges.map(selection);
    macro_rules! read {
        ($t:ty, $arr:ty) => {{
            let values = match &selection {
                Some(selection) => guarded(path, || ds.read_slice::<$t>(selection))?,
                None => guarded(path, || ds.read_array::<$t>())?,
            }
            .into_raw_vec_and_offset()
            .0;
            Arc::new(<$arr>::from(values)) as ArrayRef
        }};
    }
    Ok(match numeric_type(ds.dtype()) {
        Some(DataType::Int8) => read!(i8, Int8Array),
        Some(DataType::Int16) => read!(i16, Int16Array),
        Some(DataType::Int32) => read!(i32, Int32Array),
        Some(DataType::Int64) => read!(i64, Int64Array),
        Some(DataType::UInt8) => read!(u8, UInt8Array),
        Some(DataType::UInt16) => read!(u16, UInt16Array),
        Some(DataType::UInt32) => read!(u32, UInt32Array),
        Some(DataType::UInt64) => read!(u64, UInt64Array),
        Some(DataType::Float32) => read!(f32, Float32Array),
        Some(DataType::Float64) => read!(f64, Float64Array),
        _ => {
            return plan_err!(
                "dataset '{}' in '{path}' has unsupported type {}",
                ds.name(),
                type_name(ds.dtype())
            );
        }
    })
}

/// One element's bytes as stored (file byte order), for hyperslab reads of types that
/// quiver decodes itself (compounds, enums).
#[derive(Clone)]
struct RawElement(Vec<u8>);

impl H5Type for RawElement {
    fn hdf5_type() -> Datatype {
        Datatype::Opaque {
            size: 0,
            tag: "quiver raw element".to_string(),
        }
    }

    fn from_bytes(bytes: &[u8], _dtype: &Datatype) -> hdf5_reader::error::Result<Self> {
        Ok(Self(bytes.to_vec()))
    }

    fn element_size(dtype: &Datatype) -> usize {
        hdf5_reader::dtype_element_size(dtype).unwrap_or(0)
    }
}

/// The raw bytes of the hyperslab `ranges` (the whole dataset when `None`), elements in C
/// order.
fn read_raw_slab(ds: &Dataset, path: &str, ranges: Option<&[(u64, u64)]>) -> Result<Vec<u8>> {
    match ranges {
        None => guarded(path, || ds.read_raw_bytes()),
        Some(ranges) => {
            let elements = guarded(path, || ds.read_slice::<RawElement>(&selection(ranges)))?;
            Ok(elements
                .into_raw_vec_and_offset()
                .0
                .into_iter()
                .flat_map(|e| e.0)
                .collect())
        }
    }
}
