//! The `libnetcdf` feature: `committed_type.nc` keeps an attribute of a committed (shared)
//! HDF5 datatype, which netcdf-reader 0.12 refuses. Without the feature the error names the
//! file and the feature; with it the NetCDF C library reads the file and the values equal
//! those netCDF4-python recorded (`expected.json`).

use super::netcdf_fixtures::fixture;
#[cfg(not(feature = "libnetcdf"))]
use super::netcdf_fixtures::query_err;

#[cfg(not(feature = "libnetcdf"))]
#[tokio::test]
async fn committed_datatype_asks_for_the_libnetcdf_feature() {
    let path = fixture("committed_type.nc");
    for sql in [
        format!("SELECT * FROM '{path}'"),
        format!("SELECT * FROM read_netcdf('{path}', variables => ['v'])"),
        format!("SELECT * FROM netcdf_info('{path}')"),
    ] {
        let err = query_err(&sql).await;
        assert!(
            err.contains(&format!("cannot read netcdf file '{path}'")),
            "{err}"
        );
        assert!(err.contains("shared datatype"), "{err}");
        assert!(err.contains("--features libnetcdf"), "{err}");
    }
}

#[cfg(feature = "libnetcdf")]
mod with_libnetcdf {
    use super::fixture;
    use crate::hdf5::{assert_has, info_rows};
    use crate::netcdf_fixtures::{assert_values, expected, json_column, query};
    use quiver::datafusion::arrow::datatypes::DataType;

    #[tokio::test]
    async fn committed_datatype_file_matches_netcdf4_python() {
        let path = fixture("committed_type.nc");
        let exp = expected();
        let vars = &exp["committed_type.nc"]["variables"];
        let batches = query(&format!(
            "SELECT time, x, v, pr FROM '{path}' ORDER BY time, x"
        ))
        .await;
        for column in ["v", "pr"] {
            assert_values(
                &json_column(&batches, column),
                &vars[column]["values"],
                &format!("committed_type.nc {column}"),
            );
        }
        let schema = batches[0].schema();
        let v = schema.field_with_name("v").expect("v");
        assert_eq!(v.metadata().get("units").map(String::as_str), Some("K"));
        // The compound attribute cannot be decoded by the bindings: left out, not a failure.
        assert!(!v.metadata().contains_key("site"), "{:?}", v.metadata());
        assert_eq!(
            schema.field_with_name("pr").expect("pr").data_type(),
            &DataType::Float64
        );
        assert_eq!(
            schema.metadata().get("title").map(String::as_str),
            Some("quiver fixture committed_type.nc")
        );

        let times = query(&format!("SELECT DISTINCT time FROM '{path}' ORDER BY time")).await;
        assert_values(
            &json_column(&times, "time"),
            &vars["time"]["values"],
            "time",
        );
        let x = query(&format!("SELECT DISTINCT x FROM '{path}' ORDER BY x")).await;
        assert_values(&json_column(&x, "x"), &vars["x"]["values"], "x");
        let labels = query(&format!(
            "SELECT label FROM read_netcdf('{path}', variables => ['label']) ORDER BY x"
        ))
        .await;
        assert_values(
            &json_column(&labels, "label"),
            &vars["label"]["values"],
            "label",
        );
    }

    #[tokio::test]
    async fn hyperslabs_of_a_libnetcdf_file_are_the_selected_cells() {
        let path = fixture("committed_type.nc");
        let exp = expected();
        let v = exp["committed_type.nc"]["variables"]["v"]["values"]
            .as_array()
            .expect("values")
            .clone();
        // time index 1..3, x index 1..3 of the 4 x 3 grid.
        let want: Vec<_> = [4, 5, 7, 8].iter().map(|i| v[*i].clone()).collect();
        let batches = query(&format!(
            "SELECT v FROM '{path}' WHERE time BETWEEN '2000-01-02' AND '2000-01-03' AND x > 10 ORDER BY time, x"
        ))
        .await;
        assert_values(
            &json_column(&batches, "v"),
            &serde_json::Value::from(want),
            "v slab",
        );
        let nearest = query(&format!(
            "SELECT v FROM read_netcdf('{path}', nearest => 'x=29') ORDER BY time"
        ))
        .await;
        let want: Vec<_> = [2, 5, 8, 11].iter().map(|i| v[*i].clone()).collect();
        assert_values(
            &json_column(&nearest, "v"),
            &serde_json::Value::from(want),
            "v nearest",
        );
    }

    #[tokio::test]
    async fn netcdf_info_names_the_c_library() {
        let rows = info_rows(&format!(
            "SELECT * FROM netcdf_info('{}')",
            fixture("committed_type.nc")
        ))
        .await;
        for needle in [
            "group|/|/|||format=Nc4, reader=libnetcdf",
            "variable|/|v|float|4x3|dims=(time=4, x=3)",
            "variable|/|label|string|3|",
            "dimension|/|time||4|unlimited",
            "attribute|/|v@units|char||K",
        ] {
            assert_has(&rows, needle);
        }
    }
}
