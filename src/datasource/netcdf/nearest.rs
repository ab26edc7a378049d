//! Nearest-coordinate selection, xarray's `sel(lat=59.33, lon=18.07, method='nearest')`:
//! the option `nearest => 'lat=59.33, lon=18.07'` keeps, along each named dimension, only
//! the index whose coordinate is closest to the value (the first on a tie, like numpy's
//! `argmin`), so a scan reads just that cell's values.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};

use super::schema::DimColumn;

/// Parses `'lat=59.33, lon=18.07'` into (dimension, value text) pairs.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((dim, value)) = part.split_once('=') else {
            return plan_err!(
                "nearest: expected 'dimension=value' pairs separated by commas, got '{part}'"
            );
        };
        out.push((dim.trim().to_string(), value.trim().to_string()));
    }
    if out.is_empty() {
        return plan_err!("nearest: no 'dimension=value' pairs in '{text}'");
    }
    Ok(out)
}

/// The index ranges of `dims` after the nearest selections (full ranges elsewhere).
pub(crate) fn ranges(dims: &[DimColumn], nearest: &[(String, String)]) -> Result<Vec<(u64, u64)>> {
    let mut ranges: Vec<(u64, u64)> = dims.iter().map(|d| (0, d.size)).collect();
    for (name, value) in nearest {
        let Some(k) = dims.iter().position(|d| &d.name == name) else {
            let names: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
            return plan_err!(
                "nearest: unknown dimension \"{name}\" (dimensions: {})",
                names.join(", ")
            );
        };
        let i = match nearest_index(&dims[k].values, value) {
            Ok(i) => i,
            Err(reason) => return plan_err!("nearest: {name}={value}: {reason}"),
        };
        ranges[k] = (i, i + 1);
    }
    Ok(ranges)
}

/// The index of the coordinate closest to `value` (parsed as the coordinate's type), or
/// why there is none.
fn nearest_index(coords: &ArrayRef, value: &str) -> std::result::Result<u64, String> {
    let text = std::sync::Arc::new(StringArray::from(vec![value])) as ArrayRef;
    let target = cast(&text, coords.data_type()).map_err(|e| e.to_string())?;
    if target.is_null(0) {
        return Err(format!(
            "'{value}' is not a value of the coordinate type {}",
            coords.data_type()
        ));
    }
    let (coords, target) = (as_f64(coords)?, as_f64(&target)?);
    let x = target.value(0);
    let mut best: Option<(usize, f64)> = None;
    for i in 0..coords.len() {
        if coords.is_null(i) {
            continue;
        }
        let d = (coords.value(i) - x).abs();
        if best.is_none_or(|(_, b)| d < b) {
            best = Some((i, d));
        }
    }
    match best {
        Some((i, _)) => Ok(i as u64),
        None => Err("the coordinate has no values".into()),
    }
}

/// Numbers and timestamps as f64 (timestamps by their integer value).
fn as_f64(array: &ArrayRef) -> std::result::Result<Float64Array, String> {
    let no_distance = || format!("coordinates of type {} have no distance", array.data_type());
    let numeric = match array.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            cast(array, &DataType::Int64).map_err(|_| no_distance())?
        }
        _ => array.clone(),
    };
    let values = cast(&numeric, &DataType::Float64).map_err(|_| no_distance())?;
    values
        .as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .ok_or_else(no_distance)
}
