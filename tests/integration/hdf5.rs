//! HDF5 fixtures of `tests/data/netcdf` (written by h5py): `read_hdf5`, `hdf5_info`,
//! `netcdf_info`, and files that point outside themselves.

use serde_json::Value;

use crate::dense::{Cell, run_with};
use crate::netcdf_fixtures::{assert_values, expected, fixture, json_column, query, query_err};

#[tokio::test]
async fn numeric_datasets_of_one_to_three_dimensions() {
    let exp = expected();
    let ds = &exp["sample.h5"]["datasets"];
    let f = fixture("sample.h5");
    let b = query(&format!(
        "SELECT * FROM read_hdf5('{f}', '/series') ORDER BY dim_0"
    ))
    .await;
    assert_values(
        &json_column(&b, "series"),
        &ds["series"]["values"],
        "series",
    );
    assert_values(
        &json_column(&b, "dim_0"),
        &Value::from(vec![0, 1, 2, 3, 4]),
        "dim_0",
    );
    let b = query(&format!(
        "SELECT dim_0, dim_1, dim_2, cube FROM read_hdf5('{f}', 'grid/cube') ORDER BY dim_0, dim_1, dim_2"
    ))
    .await;
    assert_values(&json_column(&b, "cube"), &ds["grid/cube"]["values"], "cube");
    assert_eq!(json_column(&b, "dim_2")[5], Value::from(1.0));
    assert_eq!(json_column(&b, "dim_0")[12], Value::from(1.0));
    // A 2-D gzip+shuffle chunked dataset with dimension scales y and x.
    let b = query(&format!(
        "SELECT * FROM read_hdf5('{f}', '/grid/elev') ORDER BY y, x"
    ))
    .await;
    let names: Vec<String> = b[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["y", "x", "elev"]);
    assert_values(&json_column(&b, "elev"), &ds["grid/elev"]["values"], "elev");
    let y: Vec<Value> = ds["grid/y"]["values"]
        .as_array()
        .expect("y")
        .iter()
        .flat_map(|v| std::iter::repeat_n(v.clone(), 4))
        .collect();
    assert_values(&json_column(&b, "y"), &Value::from(y), "y");
    let units = query(&format!(
        "SELECT count(*) AS n FROM read_hdf5('{f}', dataset => 'grid/cube') WHERE cube > 5"
    ))
    .await;
    assert_eq!(json_column(&units, "n"), vec![Value::from(13.0)]);
}

#[tokio::test]
async fn strings_compounds_and_enums() {
    let exp = expected();
    let ds = &exp["sample.h5"]["datasets"];
    let f = fixture("sample.h5");
    for name in ["fixed", "vlen"] {
        let b = query(&format!(
            "SELECT {name} FROM read_hdf5('{f}', '/strings/{name}') ORDER BY dim_0"
        ))
        .await;
        assert_values(
            &json_column(&b, name),
            &ds[format!("strings/{name}")]["values"],
            name,
        );
    }
    let b = query(&format!(
        "SELECT * FROM read_hdf5('{f}', '/table') ORDER BY dim_0"
    ))
    .await;
    for field in ["id", "x", "name"] {
        assert_values(
            &json_column(&b, field),
            &ds["table"]["fields"][field],
            field,
        );
    }
    let b = query(&format!(
        "SELECT flags FROM read_hdf5('{f}', '/flags') ORDER BY dim_0"
    ))
    .await;
    assert_values(&json_column(&b, "flags"), &ds["flags"]["labels"], "labels");
    let b = query(&format!(
        "SELECT flags FROM read_hdf5('{f}', '/flags', enum_labels => false) ORDER BY dim_0"
    ))
    .await;
    assert_values(&json_column(&b, "flags"), &ds["flags"]["values"], "values");
}

#[tokio::test]
async fn external_table_url_and_errors() {
    let f = fixture("sample.h5");
    let engine = quiver::Engine::new().expect("engine");
    engine
        .sql(&format!(
            "CREATE EXTERNAL TABLE t STORED AS HDF5 LOCATION '{f}' OPTIONS ('dataset' '/series')"
        ))
        .await
        .expect("create");
    let b = engine
        .sql("SELECT sum(series) AS s FROM t")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    assert_eq!(json_column(&b, "s"), vec![Value::from(15.0)]);
    let err = query_err(&format!("SELECT * FROM '{f}'")).await;
    assert!(
        err.contains("datasets") && err.contains("/grid/elev"),
        "{err}"
    );
    let err = query_err(&format!("SELECT * FROM read_hdf5('{f}', '/nope')")).await;
    assert!(
        err.contains("no dataset '/nope'") && err.contains("sample.h5"),
        "{err}"
    );
    // A dataset the pure-Rust reader cannot decode is named with the reason, not called missing.
    let committed = fixture("committed_type.nc");
    let err = query_err(&format!("SELECT * FROM read_hdf5('{committed}', '/v')")).await;
    assert!(
        err.contains("dataset '/v'")
            && err.contains("committed_type.nc")
            && err.contains("shared datatype")
            && !err.contains("no dataset"),
        "{err}"
    );
    let err = query_err("SELECT * FROM read_hdf5('/nonexistent/x.h5', '/a')").await;
    assert!(
        err.contains("no such file") && err.contains("x.h5"),
        "{err}"
    );
}

#[tokio::test]
async fn files_pointing_outside_are_refused_unless_allowed() {
    let storage = fixture("external_storage.h5");
    let err = query_err(&format!("SELECT * FROM read_hdf5('{storage}', '/ext')")).await;
    assert!(
        err.contains("external") && err.contains("allow_external"),
        "{err}"
    );
    let b = query(&format!(
        "SELECT ext FROM read_hdf5('{storage}', '/ext', allow_external => true) ORDER BY dim_0"
    ))
    .await;
    assert_values(
        &json_column(&b, "ext"),
        &expected()["external_storage.h5"]["datasets"]["ext"]["values"],
        "ext",
    );
    let link = fixture("external_link.h5");
    let err = query_err(&format!("SELECT * FROM read_hdf5('{link}', '/linked')")).await;
    assert!(err.contains("external_link.h5"), "{err}");
    let b = query(&format!(
        "SELECT count(*) AS n FROM read_hdf5('{link}', '/linked', allow_external => true)"
    ))
    .await;
    assert_eq!(json_column(&b, "n"), vec![Value::from(5.0)]);
}

/// Rows of an info table as `kind|group|name|type|shape|details`.
pub(crate) async fn info_rows(sql: &str) -> Vec<String> {
    let b = query(sql).await;
    let cols: Vec<Vec<Value>> = ["kind", "group", "name", "type", "shape", "details"]
        .iter()
        .map(|c| json_column(&b, c))
        .collect();
    (0..cols[0].len())
        .map(|i| {
            cols.iter()
                .map(|c| c[i].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

pub(crate) fn assert_has(rows: &[String], needle: &str) {
    assert!(
        rows.iter().any(|r| r.contains(needle)),
        "{needle} not in\n{}",
        rows.join("\n")
    );
}

#[tokio::test]
async fn info_functions_list_groups_variables_and_attributes() {
    let rows = info_rows(&format!(
        "SELECT * FROM hdf5_info('{}')",
        fixture("sample.h5")
    ))
    .await;
    for needle in [
        "dataset|/grid|elev|float64|3x4|chunks=3x2, filters=shuffle+deflate",
        "group|/|grid||",
        "attribute|/grid|cube@units|string|scalar|K",
        "dataset|/|table|compound{id: int32, x: float64, name: string[6]}|3|contiguous",
        "dataset|/|flags|enum<uint8>{",
        "attribute|/|title|string|scalar|quiver fixture sample.h5",
        "attribute|/|version|int32|scalar|3",
    ] {
        assert_has(&rows, needle);
    }
    let rows = info_rows(&format!(
        "SELECT * FROM netcdf_info('{}')",
        fixture("nc4_groups.nc")
    ))
    .await;
    for needle in [
        "variable|/|v|double|4x5|dims=(time=4, x=5), chunks=2x5, filters=shuffle+deflate",
        "group|/obs|deep||",
        "variable|/obs|name|string|3|",
        "attribute|/obs|platform|",
        "dimension|/|time||4|",
        "attribute|/|time@units|char||hours since 2020-02-28",
        "attribute|/|v@_FillValue|double||100000000000000000000",
    ] {
        assert_has(&rows, needle);
    }
    let rows = info_rows(&format!(
        "SELECT * FROM netcdf_info('{}') WHERE kind = 'dimension' AND name = 'time'",
        fixture("classic.nc")
    ))
    .await;
    assert_eq!(rows, ["dimension|/|time||3|unlimited"]);
}

fn explain_text(batches: &[quiver::datafusion::arrow::array::RecordBatch]) -> String {
    quiver::datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .expect("format")
        .to_string()
}

#[tokio::test]
async fn several_files_concatenate_along_the_first_dimension() {
    let exp = expected();
    let parts = &exp["parts_*.h5"];
    let glob = fixture("parts_*.h5");
    let b = query(&format!(
        "SELECT time, station, temp FROM read_hdf5('{glob}', 'temp') ORDER BY time, station"
    ))
    .await;
    assert_values(&json_column(&b, "temp"), &parts["temp"], "temp");
    let times: Vec<Value> = parts["time"]
        .as_array()
        .expect("time")
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.clone(), 2))
        .collect();
    assert_values(&json_column(&b, "time"), &Value::from(times), "time");
    // A scan in one partition emits the files in time order (parts_2.h5 holds the earlier
    // times).
    let (rows, _) = run_with(
        &format!("SELECT time FROM read_hdf5('{glob}', 'temp') LIMIT 1"),
        &[],
        1,
    )
    .await;
    assert_eq!(rows, vec![vec![Cell::Number(0.0)]]);
    let b = query(&format!(
        "SELECT count(*) AS n FROM read_hdf5(['{}', '{}'], dataset => '/temp')",
        fixture("parts_1.h5"),
        fixture("parts_2.h5")
    ))
    .await;
    assert_eq!(json_column(&b, "n"), vec![Value::from(12.0)]);
    let err = query_err(&format!(
        "SELECT * FROM read_hdf5(['{}', '{}'], 'temp')",
        fixture("parts_1.h5"),
        fixture("mismatch_parts.h5")
    ))
    .await;
    assert!(
        err.contains("cannot concatenate")
            && err.contains("parts_1.h5")
            && err.contains("mismatch_parts.h5")
            && err.contains("\"station\""),
        "{err}"
    );
}

#[tokio::test]
async fn dimension_filters_read_only_their_hyperslab() {
    let exp = expected();
    let parts = &exp["parts_*.h5"];
    let glob = fixture("parts_*.h5");
    let sql = format!(
        "SELECT temp FROM read_hdf5('{glob}', 'temp') WHERE time BETWEEN 2 AND 3 AND station = 102"
    );
    let b = query(&format!("{sql} ORDER BY time")).await;
    let temp = parts["temp"].as_array().expect("temp");
    assert_values(
        &json_column(&b, "temp"),
        &Value::from(vec![temp[5].clone(), temp[7].clone()]),
        "slab across two files",
    );
    let text = explain_text(&query(&format!("EXPLAIN {sql}")).await);
    assert!(
        text.contains("ranges=[time[2..4], station[1..2]]"),
        "{text}"
    );
    assert!(text.contains("files=2"), "{text}");

    // Index columns of a dataset without dimension scales, numeric and compound.
    let ds = &exp["sample.h5"]["datasets"];
    let f = fixture("sample.h5");
    let b = query(&format!(
        "SELECT cube FROM read_hdf5('{f}', 'grid/cube') WHERE dim_1 = 1 AND dim_2 >= 2 ORDER BY dim_0, dim_2"
    ))
    .await;
    let cube = ds["grid/cube"]["values"].as_array().expect("cube");
    let want: Vec<Value> = [6, 7, 18, 19].iter().map(|i| cube[*i].clone()).collect();
    assert_values(&json_column(&b, "cube"), &Value::from(want), "cube slab");
    let b = query(&format!(
        "SELECT id, name FROM read_hdf5('{f}', 'table') WHERE dim_0 >= 1 ORDER BY dim_0"
    ))
    .await;
    let ids = ds["table"]["fields"]["id"].as_array().expect("id");
    assert_values(
        &json_column(&b, "id"),
        &Value::from(ids[1..].to_vec()),
        "table slab",
    );
    let b = query(&format!(
        "SELECT count(*) AS n FROM read_hdf5('{f}', 'grid/cube') WHERE dim_0 > 5"
    ))
    .await;
    assert_eq!(json_column(&b, "n"), vec![Value::from(0.0)]);
}

#[tokio::test]
async fn absurd_dimension_sizes_are_refused_before_allocation() {
    // 2^40 float32 elements declared (no chunk written): an error, not an allocation failure.
    let f = fixture("huge_dims.h5");
    let err = query_err(&format!("SELECT count(*) FROM read_hdf5('{f}', 'big')")).await;
    assert!(
        err.contains("dimension \"dim_0\" of dataset '/big'")
            && err.contains(&f)
            && err.contains("1099511627776 elements")
            && err.contains("1073741824"),
        "{err}"
    );
}
