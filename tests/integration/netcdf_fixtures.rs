//! NetCDF fixtures of `tests/data/netcdf` (written by netCDF4-python): quiver's SQL results
//! against the values netCDF4-python read back (`expected.json`).

use std::path::PathBuf;

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, RecordBatch, StringArray};
use quiver::datafusion::arrow::compute::cast;
use quiver::datafusion::arrow::datatypes::DataType;
use serde_json::Value;

pub(crate) fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/netcdf")
        .join(name)
        .display()
        .to_string()
}

pub(crate) fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

pub(crate) async fn query(sql: &str) -> Vec<RecordBatch> {
    let engine = Engine::new().expect("engine");
    let df = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub(crate) async fn query_err(sql: &str) -> String {
    let engine = Engine::new().expect("engine");
    match engine.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error from {sql}"),
        },
    }
}

/// Column `name` as JSON values: numbers, strings (timestamps as `YYYY-MM-DD hh:mm:ss`), null.
pub(crate) fn json_column(batches: &[RecordBatch], name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Timestamp(..) => {
                let text = cast(array, &DataType::Utf8).expect("cast");
                let text = text.as_any().downcast_ref::<StringArray>().expect("utf8");
                for i in 0..text.len() {
                    out.push(if text.is_null(i) {
                        Value::Null
                    } else {
                        Value::from(text.value(i).replace('T', " "))
                    });
                }
            }
            _ => {
                let text = cast(array, &DataType::Float64).expect("cast");
                let values = text
                    .as_any()
                    .downcast_ref::<quiver::datafusion::arrow::array::Float64Array>()
                    .expect("f64");
                for i in 0..values.len() {
                    out.push(if values.is_null(i) {
                        Value::Null
                    } else {
                        Value::from(values.value(i))
                    });
                }
            }
        }
    }
    out
}

/// JSON numbers compared as f64 (ints and floats alike), everything else exactly.
pub(crate) fn assert_values(actual: &[Value], expected: &Value, what: &str) {
    let expected = expected
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no list"));
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {actual:?} vs {expected:?}"
    );
    for (a, e) in actual.iter().zip(expected) {
        let same = match (a.as_f64(), e.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-6 * y.abs().max(1.0),
            _ => a == e,
        };
        assert!(same, "{what}: {actual:?} vs {expected:?}");
    }
}

async fn check_grid(file: &str, extra: &[&str]) {
    let exp = expected();
    let vars = &exp[file]["variables"];
    let mut columns = vec!["tas", "pr"];
    columns.extend_from_slice(extra);
    let sql = format!(
        "SELECT time, lat, lon, {} FROM '{}' ORDER BY time, lat, lon",
        columns.join(", "),
        fixture(file)
    );
    let batches = query(&sql).await;
    for column in &columns {
        assert_values(
            &json_column(&batches, column),
            &vars[column]["values"],
            &format!("{file} {column}"),
        );
    }
    let times = query(&format!(
        "SELECT DISTINCT time FROM '{}' ORDER BY time",
        fixture(file)
    ))
    .await;
    assert_values(
        &json_column(&times, "time"),
        &vars["time"]["values"],
        &format!("{file} time"),
    );
    let schema = batches[0].schema();
    let tas = schema.field_with_name("tas").expect("tas");
    assert_eq!(tas.metadata().get("units").map(String::as_str), Some("K"));
    assert_eq!(
        schema.field_with_name("pr").expect("pr").data_type(),
        &DataType::Float64
    );
}

#[tokio::test]
async fn classic_cdf1_matches_netcdf4_python() {
    check_grid("classic.nc", &[]).await;
}

#[tokio::test]
async fn offset64_cdf2_matches_netcdf4_python() {
    check_grid("offset64.nc", &[]).await;
}

#[tokio::test]
async fn cdf5_matches_netcdf4_python() {
    check_grid("cdf5.nc", &["n64", "u8"]).await;
}

#[tokio::test]
async fn netcdf4_deflate_shuffle_fill_and_int_time() {
    let exp = expected();
    let vars = &exp["nc4_groups.nc"]["variables"];
    let sql = format!(
        "SELECT time, x, v FROM '{}' ORDER BY time, x",
        fixture("nc4_groups.nc")
    );
    let batches = query(&sql).await;
    assert_values(&json_column(&batches, "v"), &vars["v"]["values"], "v");
    let times = query(&format!(
        "SELECT DISTINCT time FROM '{}' ORDER BY time",
        fixture("nc4_groups.nc")
    ))
    .await;
    assert_values(
        &json_column(&times, "time"),
        &vars["time"]["values"],
        "time",
    );
}

#[tokio::test]
async fn netcdf4_groups_and_strings() {
    let exp = expected();
    let vars = &exp["nc4_groups.nc"]["variables"];
    let file = fixture("nc4_groups.nc");
    let batches = query(&format!(
        "SELECT station, temp, name FROM read_netcdf('{file}', group => '/obs', variables => ['temp', 'name']) ORDER BY station"
    ))
    .await;
    assert_values(
        &json_column(&batches, "temp"),
        &vars["obs/temp"]["values"],
        "temp",
    );
    assert_values(
        &json_column(&batches, "name"),
        &vars["obs/name"]["values"],
        "name",
    );
    let deep = query(&format!(
        "SELECT z, depth FROM read_netcdf('{file}', group => 'obs/deep') ORDER BY z"
    ))
    .await;
    assert_values(
        &json_column(&deep, "depth"),
        &vars["obs/deep/depth"]["values"],
        "depth",
    );
    let err = query_err(&format!(
        "SELECT * FROM read_netcdf('{file}', group => 'nope')"
    ))
    .await;
    assert!(
        err.contains("no group") && err.contains("nc4_groups.nc"),
        "{err}"
    );
}

#[tokio::test]
async fn non_standard_calendars_decode_where_the_date_exists() {
    let exp = expected();
    for file in ["noleap.nc", "day360.nc"] {
        let batches = query(&format!(
            "SELECT time, v FROM '{}' ORDER BY v",
            fixture(file)
        ))
        .await;
        assert_values(
            &json_column(&batches, "time"),
            &exp[file]["variables"]["time"]["values"],
            file,
        );
        let raw = query(&format!(
            "SELECT time FROM read_netcdf('{}', decode_times => false) ORDER BY v",
            fixture(file)
        ))
        .await;
        assert_values(&json_column(&raw, "time"), &exp[file]["raw"], file);
    }
    let err = query_err(&format!("SELECT * FROM '{}'", fixture("day360_feb30.nc"))).await;
    assert!(
        err.contains("2001-02-30") && err.contains("360_day") && err.contains("decode_times"),
        "{err}"
    );
    let raw = query(&format!(
        "SELECT time, v FROM read_netcdf('{}', decode_times => false) ORDER BY v",
        fixture("day360_feb30.nc")
    ))
    .await;
    assert_values(
        &json_column(&raw, "time"),
        &exp["day360_feb30.nc"]["raw"],
        "raw",
    );
}

#[tokio::test]
async fn filename_column_names_the_source_file() {
    let dir = fixture("");
    let batches = query(&format!(
        "SELECT filename, count(*) AS n FROM read_netcdf(['{dir}classic.nc', '{dir}offset64.nc'], filename => true) GROUP BY filename ORDER BY filename"
    ))
    .await;
    let names = json_column(&batches, "filename");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].as_str().is_some_and(|s| s.ends_with("classic.nc")),
        "{names:?}"
    );
    assert!(
        names[1]
            .as_str()
            .is_some_and(|s| s.ends_with("offset64.nc")),
        "{names:?}"
    );
    assert_eq!(json_column(&batches, "n"), vec![Value::from(18.0); 2]);
}
