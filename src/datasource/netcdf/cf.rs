//! CF-convention decoding: `_FillValue` / `missing_value` become NULL, `scale_factor` /
//! `add_offset` unpack integers into floats, and `"<unit> since <date>"` coordinates become
//! Arrow `Timestamp(Microsecond)`. The standard, gregorian and proleptic_gregorian calendars
//! decode as CF says; noleap/365_day, all_leap/366_day, 360_day and julian decode each value
//! to its date label in that calendar (`2001-02-28` stays `2001-02-28`), exactly, and a label
//! the Gregorian calendar lacks (`2001-02-30` in 360_day, `2001-02-29` in julian) is an error
//! that points to `decode_times => false` (documented in docs/netcdf-hdf5.md). Unknown calendar
//! names keep their raw numbers.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, Float64Array, TimestampMicrosecondArray, make_array,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use netcdf_reader::cf::{self, CfCalendar, CfDateTime};
use netcdf_reader::{NcAttrValue, NcVariable};

/// How to decode one data variable's raw values.
#[derive(Debug, Clone, Default)]
pub(crate) struct CfDecode {
    /// Raw values that mean "no data".
    missing: Vec<f64>,
    scale: Option<f64>,
    offset: Option<f64>,
    /// The decoded type when packed (the type of `scale_factor` / `add_offset`).
    packed_type: Option<DataType>,
}

impl CfDecode {
    /// The decoding CF prescribes for `var`, or `None` when the raw values stand as they are.
    pub(crate) fn from_variable(var: &NcVariable) -> Option<Self> {
        let mut missing = Vec::new();
        for name in ["_FillValue", "missing_value"] {
            if let Some(attr) = var.attribute(name) {
                missing.extend(attr.value.as_f64_vec().unwrap_or_default());
            }
        }
        let scale_attr = var.attribute("scale_factor");
        let offset_attr = var.attribute("add_offset");
        let scale = scale_attr.and_then(|a| a.value.as_f64());
        let offset = offset_attr.and_then(|a| a.value.as_f64());
        let packed_type = scale_attr.or(offset_attr).map(|a| match a.value {
            NcAttrValue::Floats(_) => DataType::Float32,
            _ => DataType::Float64,
        });
        if missing.is_empty() && scale.is_none() && offset.is_none() {
            return None;
        }
        Some(Self {
            missing,
            scale,
            offset,
            packed_type,
        })
    }

    /// The Arrow type of the decoded column, given the raw type.
    pub(crate) fn output_type(&self, raw: &DataType) -> DataType {
        self.packed_type.clone().unwrap_or_else(|| raw.clone())
    }

    /// Decodes raw values: missing values to NULL, then unpacking.
    pub(crate) fn apply(&self, raw: ArrayRef) -> Result<ArrayRef> {
        if self.scale.is_none() && self.offset.is_none() {
            // Only missing values: mark them in the array's own type, no conversion.
            if let Some(v) = raw.as_any().downcast_ref::<Float32Array>() {
                return self.mask_missing(&raw, v.values(), narrow_to_f32);
            }
            if let Some(v) = raw.as_any().downcast_ref::<Float64Array>() {
                return self.mask_missing(&raw, v.values(), Some);
            }
        }
        let as_f64 = cast(&raw, &DataType::Float64)?;
        let Some(values) = as_f64.as_any().downcast_ref::<Float64Array>() else {
            return exec_err!(
                "cannot decode values of type {} as numbers",
                raw.data_type()
            );
        };
        let nulls = match self.not_missing(values.values(), Some) {
            Some(valid) => NullBuffer::union(raw.nulls(), Some(&valid)),
            None => raw.nulls().cloned(),
        };
        if self.scale.is_none() && self.offset.is_none() {
            let data = raw.to_data().into_builder().nulls(nulls).build()?;
            return Ok(make_array(data));
        }
        let (scale, offset) = (self.scale.unwrap_or(1.0), self.offset.unwrap_or(0.0));
        let unpacked: Float64Array = values
            .values()
            .iter()
            .map(|v| v * scale + offset)
            .collect::<Vec<_>>()
            .into();
        let unpacked = Float64Array::new(unpacked.values().clone(), nulls);
        let target = self.output_type(raw.data_type());
        Ok(cast(&(Arc::new(unpacked) as ArrayRef), &target)?)
    }

    /// `raw` (whose values are `values`) with the positions holding missing values marked NULL.
    fn mask_missing<T: Copy + PartialEq>(
        &self,
        raw: &ArrayRef,
        values: &[T],
        narrow: impl Fn(f64) -> Option<T>,
    ) -> Result<ArrayRef> {
        let Some(valid) = self.not_missing(values, narrow) else {
            return Ok(Arc::clone(raw));
        };
        let nulls = NullBuffer::union(raw.nulls(), Some(&valid));
        let data = raw.to_data().into_builder().nulls(nulls).build()?;
        Ok(make_array(data))
    }

    /// Which `values` are not missing, or `None` when none is missing. The missing values are
    /// compared in the values' own type (`narrow` gives a missing value in that type, or
    /// `None` when no value of that type equals it); NaN matches NaN. This runs over every
    /// value read, so it packs 64 comparisons per word and has a one-value fast path.
    #[allow(clippy::eq_op)] // `x == x` is the NaN test for any `PartialEq` number
    fn not_missing<T: Copy + PartialEq>(
        &self,
        values: &[T],
        narrow: impl Fn(f64) -> Option<T>,
    ) -> Option<NullBuffer> {
        let nan = self.missing.iter().any(|m| m.is_nan());
        let mut exact: Vec<T> = Vec::new();
        for m in self.missing.iter().filter_map(|m| narrow(*m)) {
            if m == m && !exact.contains(&m) {
                exact.push(m);
            }
        }
        let valid = match (exact.as_slice(), nan) {
            ([], false) => return None,
            ([m], false) => pack_bits(values, |v| v != *m),
            _ => pack_bits(values, |v| !(exact.contains(&v) || (nan && v != v))),
        };
        let valid = NullBuffer::new(valid);
        (valid.null_count() > 0).then_some(valid)
    }
}

/// A missing value as `f32`, when some `f32` equals it exactly.
fn narrow_to_f32(m: f64) -> Option<f32> {
    #[allow(clippy::cast_possible_truncation)] // checked: the round trip must be exact
    let n = m as f32;
    (f64::from(n) == m).then_some(n)
}

/// `keep` of every value as a bitmap, 64 values per word.
fn pack_bits<T: Copy>(values: &[T], keep: impl Fn(T) -> bool) -> BooleanBuffer {
    let words: Vec<u64> = values
        .chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u64, |word, (i, v)| word | (u64::from(keep(*v)) << i))
        })
        .collect();
    BooleanBuffer::new(Buffer::from_vec(words), 0, values.len())
}

/// The reference of a CF time coordinate that quiver decodes into timestamps: units of the
/// form `"<unit> since <date>"` in a standard, gregorian or proleptic_gregorian calendar.
pub(crate) fn decodable_time_ref(var: &NcVariable) -> Option<cf::CfTimeRef> {
    let units = var.attribute("units")?.value.as_string()?;
    if !units.contains(" since ") {
        return None;
    }
    let calendar = match var.attribute("calendar").and_then(|a| a.value.as_string()) {
        None => CfCalendar::Standard,
        Some(name) => match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => CfCalendar::Standard,
            "proleptic_gregorian" => CfCalendar::ProlepticGregorian,
            "noleap" | "365_day" => CfCalendar::NoLeap,
            "all_leap" | "366_day" => CfCalendar::AllLeap,
            "360_day" => CfCalendar::Day360,
            "julian" => CfCalendar::Julian,
            _ => return None,
        },
    };
    cf::parse_time_units(&units, calendar).ok()
}

/// Decodes raw time values into an Arrow `Timestamp(Microsecond)` array (NULL for NaN).
pub(crate) fn decode_times(
    raw: &ArrayRef,
    time_ref: &cf::CfTimeRef,
    path: &str,
    name: &str,
) -> Result<ArrayRef> {
    let as_f64 = cast(raw, &DataType::Float64)?;
    let Some(values) = as_f64.as_any().downcast_ref::<Float64Array>() else {
        return exec_err!("time variable \"{name}\" in '{path}' is not numeric");
    };
    let mut out = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        if values.is_null(i) || values.value(i).is_nan() {
            out.push(None);
            continue;
        }
        let value = values.value(i);
        match cf::decode_time_exact(value, time_ref) {
            Ok(date) if date_exists(&date) => out.push(Some(micros_since_epoch(&date))),
            Ok(date) => {
                return exec_err!(
                    "time {value} of \"{name}\" in '{path}' is {:04}-{:02}-{:02} in the {} calendar, a date the Gregorian calendar does not have; read the raw values with decode_times => false",
                    date.year,
                    date.month,
                    date.day,
                    calendar_name(date.calendar)
                );
            }
            Err(e) => {
                return exec_err!("cannot decode time {value} of \"{name}\" in '{path}': {e}");
            }
        }
    }
    let array = TimestampMicrosecondArray::from(out);
    Ok(Arc::new(array) as ArrayRef)
}

/// Whether the date label of `t` exists in the proleptic Gregorian calendar.
fn date_exists(t: &CfDateTime) -> bool {
    let leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
    let days = match t.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    t.day >= 1 && u32::from(t.day) <= days
}

fn calendar_name(c: CfCalendar) -> &'static str {
    match c {
        CfCalendar::Standard => "standard",
        CfCalendar::ProlepticGregorian => "proleptic_gregorian",
        CfCalendar::NoLeap => "noleap",
        CfCalendar::AllLeap => "all_leap",
        CfCalendar::Day360 => "360_day",
        CfCalendar::Julian => "julian",
    }
}

/// Microseconds since 1970-01-01 of a (proleptic Gregorian) date-time.
fn micros_since_epoch(t: &CfDateTime) -> i64 {
    let days = days_from_civil(i64::from(t.year), u32::from(t.month), u32::from(t.day));
    let secs =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    secs * 1_000_000 + i64::from(t.nanosecond) / 1000
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let t = CfDateTime {
            calendar: CfCalendar::ProlepticGregorian,
            year: 1840,
            month: 1,
            day: 16,
            hour: 12,
            minute: 0,
            second: 0,
            nanosecond: 0,
        };
        assert_eq!(micros_since_epoch(&t), -4_101_105_600_000_000);
    }

    /// The packed-bit missing-value test against its definition (`f64::from(x) == m`, NaN
    /// matching NaN), over lengths around the 64-value words and several missing sets.
    #[test]
    fn missing_values_match_their_definition() {
        let pool = [
            0.0f32,
            -0.0,
            1.5,
            1e20,
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            7.25,
        ];
        let sets: [&[f64]; 6] = [
            &[],
            &[1e20f32 as f64],
            &[1e20],
            &[1.5, 1.5],
            &[f64::NAN],
            &[7.25, f64::NAN, f64::INFINITY, 0.0],
        ];
        for missing in sets {
            let decode = CfDecode {
                missing: missing.to_vec(),
                ..CfDecode::default()
            };
            for len in [0usize, 1, 63, 64, 65, 200] {
                let values: Vec<f32> = (0..len).map(|i| pool[(i * 7 + len) % pool.len()]).collect();
                let raw: ArrayRef = Arc::new(Float32Array::from(values.clone()));
                let out = decode.apply(raw).expect("decode");
                for (i, x) in values.iter().enumerate() {
                    let x = f64::from(*x);
                    let expected = missing
                        .iter()
                        .any(|m| *m == x || (m.is_nan() && x.is_nan()));
                    assert_eq!(
                        out.is_null(i),
                        expected,
                        "{missing:?} len {len} at {i}: {x}"
                    );
                }
            }
        }
    }

    #[test]
    fn fill_values_become_null_and_packing_unpacks() {
        let decode = CfDecode {
            missing: vec![-1.0],
            scale: Some(0.5),
            offset: Some(10.0),
            packed_type: Some(DataType::Float64),
        };
        let raw: ArrayRef = Arc::new(datafusion::arrow::array::Int16Array::from(vec![2, -1, 4]));
        let out = decode.apply(raw).expect("decode");
        let out = out.as_any().downcast_ref::<Float64Array>().expect("f64");
        assert_eq!(out.value(0), 11.0);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), 12.0);
    }
}
