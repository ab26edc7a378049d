//! Axes of matrices and grids given in long form: the distinct values of one or more key
//! columns, in ascending order, and each row's position among them — xarray's coordinates
//! recovered from `to_dataframe()` rows — and the way back, a matrix as long-form rows.

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, interleave, take};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, exec_err};

/// The distinct keys in ascending order, and per key column each row's index into them.
pub(crate) struct Axis {
    pub values: ArrayRef,
    pub positions: Vec<Vec<usize>>,
}

impl Axis {
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

/// The axis of the key columns `columns` (cast to `data_type`); a NULL key is an error
/// naming `function` and the column `name`.
pub(crate) fn axis(
    function: &str,
    name: &str,
    data_type: &DataType,
    columns: &[&ArrayRef],
) -> Result<Axis> {
    let columns = columns
        .iter()
        .map(|c| cast(c, data_type))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if columns.iter().any(|c| c.null_count() > 0) {
        return exec_err!("{function}: column '{name}' has a NULL key");
    }
    let converter = RowConverter::new(vec![SortField::new(data_type.clone())])?;
    let rows = columns
        .iter()
        .map(|c| converter.convert_columns(std::slice::from_ref(c)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut order: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(c, r)| (0..r.num_rows()).map(move |i| (c, i)))
        .collect();
    order.sort_unstable_by(|x, y| rows[x.0].row(x.1).cmp(&rows[y.0].row(y.1)));
    let mut positions: Vec<Vec<usize>> = rows.iter().map(|r| vec![0; r.num_rows()]).collect();
    let mut distinct: Vec<(usize, usize)> = Vec::new();
    for &(c, i) in &order {
        let new = distinct
            .last()
            .is_none_or(|&(lc, li)| rows[lc].row(li) != rows[c].row(i));
        if new {
            distinct.push((c, i));
        }
        positions[c][i] = distinct.len() - 1;
    }
    let arrays: Vec<&dyn Array> = columns.iter().map(|c| c.as_ref()).collect();
    let values = interleave(&arrays, &distinct)?;
    Ok(Axis { values, positions })
}

/// The long form of a `rows.len() × cols.len()` matrix of `values` (row-major): one row
/// `(row key, column key, value)` per cell, rows outer, as a batch of `schema`.
pub(crate) fn long_form(
    schema: SchemaRef,
    rows: &ArrayRef,
    cols: &ArrayRef,
    values: ArrayRef,
) -> Result<RecordBatch> {
    let m = cols.len();
    let cells = values.len();
    let row_index = UInt32Array::from_iter_values((0..cells).map(|c| (c / m) as u32));
    let col_index = UInt32Array::from_iter_values((0..cells).map(|c| (c % m) as u32));
    let columns = vec![
        take(rows, &row_index, None)?,
        take(cols, &col_index, None)?,
        values,
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
