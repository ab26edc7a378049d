//! `COPY (query) TO 'out.nc'` and `COPY ... STORED AS NETCDF`: a query result written as a
//! NetCDF-4 file with the pure-Rust `netcdf-writer`, the inverse of reading one (xarray's
//! `Dataset.from_dataframe(...).to_netcdf(...)`).
//!
//! The rows must form a grid over the dimension columns: each combination of coordinates at
//! most once. Dimensions are named by `OPTIONS (dimensions 'time, lat, lon')` or found as the
//! fewest leading columns whose combinations cover every row exactly once (a complete grid).
//! Every other column becomes a variable over all dimensions; cells no row fills, and NULLs,
//! hold the variable's `_FillValue`. Coordinates are sorted ascending. Field metadata
//! (units, long names, ...) becomes attributes, except the CF encoding attributes that
//! reading already applied. The file is built in memory and written through the engine's
//! atomic COPY (temporary file, then rename).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, SchemaRef, TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::file_options::file_type::{FileType, GetExt};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CopyToSource, CopyToStatement, Statement};
use datafusion::sql::sqlparser::ast::{Query, Value};
use netcdf_writer::{
    DimensionId, NcAttrValue, NcFileBuilder, NcFillValueType, NcWriteFormat, NcWriteOptions,
    NcWriteType, VariableId,
};

/// The file type of a NetCDF COPY in its logical plan (`STORED AS NETCDF`, `.nc`).
#[derive(Debug)]
pub struct NetCdfFileType;

impl GetExt for NetCdfFileType {
    fn get_ext(&self) -> String {
        "nc".into()
    }
}

impl fmt::Display for NetCdfFileType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("netcdf")
    }
}

impl FileType for NetCdfFileType {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Whether `statement` writes NetCDF: `STORED AS NETCDF` (or `NC`), or a target ending in
/// `.nc` without `STORED AS`.
pub(crate) fn is_netcdf_copy(copy: &CopyToStatement) -> bool {
    match &copy.stored_as {
        Some(format) => ["netcdf", "nc"].contains(&format.to_ascii_lowercase().as_str()),
        None => Path::new(&copy.target)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("nc")),
    }
}

/// Splits a NetCDF COPY into its source (a query statement to plan) and a function that puts
/// the planned source under a `CopyTo` node.
pub(crate) fn split_copy(
    copy: CopyToStatement,
) -> Result<(Statement, impl FnOnce(LogicalPlan) -> LogicalPlan)> {
    if !copy.partitioned_by.is_empty() {
        return plan_err!("COPY to NetCDF does not support PARTITIONED BY");
    }
    let mut options = HashMap::new();
    for (key, value) in copy.options {
        let key = key.to_ascii_lowercase();
        let key = key.strip_prefix("format.").unwrap_or(&key).to_string();
        if key != "dimensions" {
            return plan_err!("unknown COPY option '{key}' for NetCDF (supported: dimensions)");
        }
        options.insert(key, option_text(value));
    }
    let query: Box<Query> = match copy.source {
        CopyToSource::Query(query) => query,
        CopyToSource::Relation(name) => {
            let sql = format!("SELECT * FROM {name}");
            let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, &sql)
                .map_err(|e| DataFusionError::SQL(Box::new(e), None))?;
            match parsed.into_iter().next() {
                Some(datafusion::sql::sqlparser::ast::Statement::Query(q)) => q,
                _ => return plan_err!("COPY: cannot read table {name}"),
            }
        }
    };
    let source = Statement::Statement(Box::new(datafusion::sql::sqlparser::ast::Statement::Query(
        query,
    )));
    let target = copy.target;
    let wrap = move |input: LogicalPlan| {
        LogicalPlan::Copy(CopyTo::new(
            Arc::new(input),
            target,
            vec![],
            Arc::new(NetCdfFileType),
            options,
        ))
    };
    Ok((source, wrap))
}

fn option_text(value: Value) -> String {
    match value {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
        other => other.to_string(),
    }
}

/// Whether a planned COPY writes NetCDF.
pub(crate) fn writes_netcdf(copy: &CopyTo) -> bool {
    copy.file_type.as_any().is::<NetCdfFileType>()
}

/// Runs the COPY's query and writes its rows as a NetCDF-4 file at `path`; returns the number
/// of rows written.
pub(crate) async fn write_copy(ctx: &SessionContext, copy: &CopyTo, path: &Path) -> Result<u64> {
    let frame = ctx
        .execute_logical_plan(copy.input.as_ref().clone())
        .await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    let batch = concat_batches(&schema, &batches)?;
    let dims = copy.options.get("dimensions").map(|d| {
        d.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    });
    let bytes = encode(&batch, dims.as_deref())?;
    std::fs::write(path, bytes).map_err(|e| {
        DataFusionError::Execution(format!("COPY could not write '{}': {e}", path.display()))
    })?;
    Ok(batch.num_rows() as u64)
}

/// The NetCDF-4 bytes of `batch` laid out on a grid over `dims` (or the inferred dimensions).
pub(crate) fn encode(batch: &RecordBatch, dims: Option<&[String]>) -> Result<Vec<u8>> {
    if batch.num_rows() == 0 {
        return exec_err!("COPY to NetCDF: the query returned no rows");
    }
    let schema = batch.schema();
    let (dim_indices, coords, cells) = match dims {
        Some(names) => {
            let indices: Vec<usize> = names
                .iter()
                .map(|n| {
                    schema.index_of(n).map_err(|_| {
                        DataFusionError::Plan(format!(
                            "COPY to NetCDF: dimension '{n}' is not a column of the query"
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let coords: Vec<Coordinate> = indices
                .iter()
                .map(|&i| Coordinate::of(schema.field(i), batch.column(i)))
                .collect::<Result<_>>()?;
            let cells = grid_cells(&coords, batch.num_rows(), &schema, &indices)?;
            (indices, coords, cells)
        }
        None => infer_dimensions(batch)?,
    };
    let total: usize = coords.iter().map(|c| c.values.len()).product();

    let mut builder = NcFileBuilder::new();
    let mut dim_ids = Vec::new();
    for (coord, &i) in coords.iter().zip(&dim_indices) {
        let field = schema.field(i);
        let id = builder
            .add_dimension(field.name(), coord.values.len() as u64)
            .map_err(|e| writer_error(field.name(), e))?;
        dim_ids.push(id);
        let sorted = coord.sorted_column()?;
        let var = add_values(&mut builder, field, &sorted, &[id], None, coord.len())?;
        set_attributes(&mut builder, var, field, coord.units.as_deref())?;
    }
    for (i, field) in schema.fields().iter().enumerate() {
        if dim_indices.contains(&i) {
            continue;
        }
        let column = batch.column(i);
        let (column, units) = storable(field, column)?;
        let var = add_values(&mut builder, field, &column, &dim_ids, Some(&cells), total)?;
        set_attributes(&mut builder, var, field, units.as_deref())?;
    }
    let mut globals: Vec<(&String, &String)> = schema
        .metadata()
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect();
    globals.sort();
    for (key, value) in globals {
        builder
            .add_attribute(key, NcAttrValue::Chars(value.clone()))
            .map_err(|e| writer_error(key, e))?;
    }
    let (_, bytes) = builder
        .to_vec(NcWriteOptions {
            format: NcWriteFormat::Nc4,
        })
        .map_err(|e| DataFusionError::Execution(format!("COPY to NetCDF: {e}")))?;
    Ok(bytes)
}

fn writer_error(name: &str, e: netcdf_writer::Error) -> DataFusionError {
    DataFusionError::Execution(format!("COPY to NetCDF: '{name}': {e}"))
}

/// The fewest leading columns whose value combinations cover every row exactly once, with
/// their coordinates and each row's grid cell.
fn infer_dimensions(batch: &RecordBatch) -> Result<(Vec<usize>, Vec<Coordinate>, Vec<usize>)> {
    let schema = batch.schema();
    let mut coords = Vec::new();
    for k in 0..schema.fields().len().saturating_sub(1) {
        let Ok(coord) = Coordinate::of(schema.field(k), batch.column(k)) else {
            break;
        };
        coords.push(coord);
        let cells: usize = coords.iter().map(|c| c.len()).product();
        let indices: Vec<usize> = (0..=k).collect();
        if cells == batch.num_rows()
            && let Ok(cells) = grid_cells(&coords, batch.num_rows(), &schema, &indices)
        {
            return Ok((indices, coords, cells));
        }
        if cells > batch.num_rows() {
            break;
        }
    }
    plan_err!(
        "COPY to NetCDF: the leading columns of the query do not form a complete grid; name the dimension columns with OPTIONS (dimensions 'time, lat, lon')"
    )
}

/// A key that orders and hashes coordinate values of any supported type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Int(i64),
    /// f64 bits mapped to an order-preserving integer.
    Float(i64),
    Text(String),
}

fn float_key(v: f64) -> Key {
    let v = if v == 0.0 { 0.0 } else { v };
    let bits = v.to_bits() as i64;
    Key::Float(bits ^ (((bits >> 63) as u64) >> 1) as i64)
}

/// One dimension column: its distinct values (sorted) and each row's index among them.
struct Coordinate {
    column: ArrayRef,
    /// Row numbers of the first row holding each sorted distinct value.
    values: Vec<usize>,
    /// Index into `values` per row.
    index: Vec<u32>,
    units: Option<String>,
}

impl Coordinate {
    fn of(field: &Field, column: &ArrayRef) -> Result<Self> {
        let (stored, units) = storable(field, column)?;
        if let Some(row) = (0..stored.len()).find(|&r| stored.is_null(r)) {
            return exec_err!(
                "COPY to NetCDF: dimension column '{}' is NULL at row {row}",
                field.name()
            );
        }
        let keys = keys(&stored)?;
        let mut first: HashMap<&Key, usize> = HashMap::new();
        for (row, key) in keys.iter().enumerate() {
            first.entry(key).or_insert(row);
        }
        let mut distinct: Vec<(&Key, usize)> = first.into_iter().collect();
        distinct.sort();
        let position: HashMap<&Key, u32> = distinct
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i as u32))
            .collect();
        let index = keys.iter().map(|k| position[k]).collect();
        let values = distinct.into_iter().map(|(_, row)| row).collect();
        Ok(Self {
            column: stored,
            values,
            index,
            units,
        })
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    /// The distinct values in ascending order.
    fn sorted_column(&self) -> Result<ArrayRef> {
        let rows = datafusion::arrow::array::UInt64Array::from(
            self.values.iter().map(|&r| r as u64).collect::<Vec<_>>(),
        );
        Ok(datafusion::arrow::compute::take(
            self.column.as_ref(),
            &rows,
            None,
        )?)
    }
}

fn keys(column: &ArrayRef) -> Result<Vec<Key>> {
    Ok(match column.data_type() {
        DataType::Float32 | DataType::Float64 => {
            let c = cast(column, &DataType::Float64)?;
            c.as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|&v| float_key(v))
                .collect()
        }
        DataType::Utf8 => column
            .as_string::<i32>()
            .iter()
            .map(|v| Key::Text(v.unwrap_or_default().to_string()))
            .collect(),
        _ => {
            let c = cast(column, &DataType::Int64)?;
            c.as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| Key::Int(v))
                .collect()
        }
    })
}

/// The flat grid cell of every row; an error names the first two rows that share a cell.
fn grid_cells(
    coords: &[Coordinate],
    rows: usize,
    schema: &SchemaRef,
    dims: &[usize],
) -> Result<Vec<usize>> {
    let mut cells = vec![0usize; rows];
    for coord in coords {
        for (cell, &i) in cells.iter_mut().zip(&coord.index) {
            *cell = *cell * coord.len() + i as usize;
        }
    }
    let total: usize = coords.iter().map(|c| c.len()).product();
    let mut owner = vec![u32::MAX; total];
    for (row, &cell) in cells.iter().enumerate() {
        if owner[cell] != u32::MAX {
            let names: Vec<&str> = dims
                .iter()
                .map(|&i| schema.field(i).name().as_str())
                .collect();
            return exec_err!(
                "COPY to NetCDF: rows {} and {row} have the same coordinates ({}); aggregate them first or name other dimensions",
                owner[cell],
                names.join(", ")
            );
        }
        owner[cell] = row as u32;
    }
    Ok(cells)
}

/// A column in a type NetCDF stores, with the `units` of time columns (CF encoding).
fn storable(field: &Field, column: &ArrayRef) -> Result<(ArrayRef, Option<String>)> {
    let name = field.name();
    Ok(match column.data_type() {
        DataType::Timestamp(unit, _) => {
            let per_second: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let (values, units) = time_values(&cast(column, &DataType::Int64)?, per_second);
            (values, Some(format!("{units} since 1970-01-01 00:00:00")))
        }
        DataType::Date32 => (
            Arc::new(
                column
                    .as_primitive::<Date32Type>()
                    .reinterpret_cast::<Int32Type>(),
            ) as ArrayRef,
            Some("days since 1970-01-01".into()),
        ),
        DataType::Boolean => (cast(column, &DataType::Int8)?, None),
        DataType::Utf8View | DataType::LargeUtf8 => (cast(column, &DataType::Utf8)?, None),
        DataType::Float16 => (cast(column, &DataType::Float32)?, None),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8 => (Arc::clone(column), None),
        other => {
            return plan_err!(
                "COPY to NetCDF: column '{name}' has type {other}, which NetCDF cannot store; cast it to a number, timestamp or text"
            );
        }
    })
}

/// Times as whole days, hours, minutes or seconds (the coarsest unit that holds every
/// value exactly; CF readers know no finer unit), else as fractional seconds.
fn time_values(ticks: &ArrayRef, per_second: i64) -> (ArrayRef, &'static str) {
    let ticks = ticks.as_primitive::<Int64Type>();
    for (units, seconds) in [
        ("days", 86_400),
        ("hours", 3_600),
        ("minutes", 60),
        ("seconds", 1),
    ] {
        let step = seconds * per_second;
        if ticks.iter().flatten().all(|t| t % step == 0) {
            let values: datafusion::arrow::array::Int64Array =
                ticks.iter().map(|t| t.map(|t| t / step)).collect();
            return (Arc::new(values), units);
        }
    }
    let values: datafusion::arrow::array::Float64Array = ticks
        .iter()
        .map(|t| t.map(|t| t as f64 / per_second as f64))
        .collect();
    (Arc::new(values), "seconds")
}

/// Adds a variable over `dims` holding `column`, placed by `cells` (row -> flat cell; None
/// when the column is already in cell order) into `total` cells.
fn add_values(
    builder: &mut NcFileBuilder,
    field: &Field,
    column: &ArrayRef,
    dims: &[DimensionId],
    cells: Option<&[usize]>,
    total: usize,
) -> Result<VariableId> {
    macro_rules! numeric {
        ($arrow:ty, $fill:expr) => {{
            let array = column.as_primitive::<$arrow>();
            grid_variable(builder, field.name(), dims, array, cells, total, $fill)
        }};
    }
    use netcdf_writer::{
        NC_FILL_BYTE, NC_FILL_INT, NC_FILL_INT64, NC_FILL_SHORT, NC_FILL_UBYTE, NC_FILL_UINT,
        NC_FILL_UINT64, NC_FILL_USHORT,
    };
    match column.data_type() {
        DataType::Int8 => numeric!(Int8Type, NC_FILL_BYTE),
        DataType::Int16 => numeric!(Int16Type, NC_FILL_SHORT),
        DataType::Int32 => numeric!(Int32Type, NC_FILL_INT),
        DataType::Int64 => numeric!(Int64Type, NC_FILL_INT64),
        DataType::UInt8 => numeric!(UInt8Type, NC_FILL_UBYTE),
        DataType::UInt16 => numeric!(UInt16Type, NC_FILL_USHORT),
        DataType::UInt32 => numeric!(UInt32Type, NC_FILL_UINT),
        DataType::UInt64 => numeric!(UInt64Type, NC_FILL_UINT64),
        DataType::Float32 => numeric!(Float32Type, f32::NAN),
        DataType::Float64 => numeric!(Float64Type, f64::NAN),
        DataType::Utf8 => {
            let array = column.as_string::<i32>();
            if let Some(row) = (0..array.len()).find(|&r| array.is_null(r)) {
                return exec_err!(
                    "COPY to NetCDF: text column '{}' is NULL at row {row}; NetCDF strings have no missing value",
                    field.name()
                );
            }
            if cells.is_some_and(|c| c.len() != total) {
                return exec_err!(
                    "COPY to NetCDF: text column '{}' would have cells no row fills; NetCDF strings have no missing value",
                    field.name()
                );
            }
            let mut values = vec![""; total];
            for (row, value) in array.iter().enumerate() {
                let cell = cells.map_or(row, |c| c[row]);
                values[cell] = value.unwrap_or_default();
            }
            let var = builder
                .add_string_variable(field.name(), dims)
                .map_err(|e| writer_error(field.name(), e))?;
            builder
                .write_string_variable(var, &values)
                .map_err(|e| writer_error(field.name(), e))?;
            Ok(var)
        }
        other => exec_err!("COPY to NetCDF: column '{}' has type {other}", field.name()),
    }
}

/// A numeric variable: values placed into their cells, NULLs and empty cells set to `fill`
/// (declared as `_FillValue` only when used).
fn grid_variable<T>(
    builder: &mut NcFileBuilder,
    name: &str,
    dims: &[DimensionId],
    array: &datafusion::arrow::array::PrimitiveArray<T>,
    cells: Option<&[usize]>,
    total: usize,
    fill: T::Native,
) -> Result<VariableId>
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    T::Native: NcWriteType + NcFillValueType + Copy,
{
    let mut values = vec![fill; total];
    let mut filled = 0;
    for (row, value) in array.iter().enumerate() {
        if let Some(v) = value {
            values[cells.map_or(row, |c| c[row])] = v;
            filled += 1;
        }
    }
    let var = builder
        .add_variable::<T::Native>(name, dims)
        .map_err(|e| writer_error(name, e))?;
    if filled < total {
        builder
            .set_variable_fill_value(var, fill)
            .map_err(|e| writer_error(name, e))?;
    }
    builder
        .write_variable(var, &values)
        .map_err(|e| writer_error(name, e))?;
    Ok(var)
}

/// Attributes reading already applied to the values (writing them again would apply them
/// twice when the file is read), and `bounds` / `coordinates`, which name variables a query
/// result does not carry.
const APPLIED: [&str; 8] = [
    "_FillValue",
    "missing_value",
    "scale_factor",
    "add_offset",
    "units",
    "calendar",
    "bounds",
    "coordinates",
];

/// The field's metadata as text attributes; `units` of an encoded time column replace its
/// own units and calendar.
fn set_attributes(
    builder: &mut NcFileBuilder,
    var: VariableId,
    field: &Field,
    time_units: Option<&str>,
) -> Result<()> {
    let mut attrs: Vec<(&String, &String)> = field
        .metadata()
        .iter()
        .filter(|(k, _)| !k.starts_with('_') && !APPLIED.contains(&k.as_str()))
        .collect();
    attrs.sort();
    let mut add = |key: &str, value: String| {
        builder
            .add_variable_attribute(var, key, NcAttrValue::Chars(value))
            .map_err(|e| writer_error(field.name(), e))
    };
    match time_units {
        Some(units) => {
            add("units", units.to_string())?;
            add("calendar", "proleptic_gregorian".into())?;
        }
        None => {
            if let Some(units) = field.metadata().get("units") {
                add("units", units.clone())?;
            }
        }
    }
    for (key, value) in attrs {
        add(key, value.clone())?;
    }
    Ok(())
}
