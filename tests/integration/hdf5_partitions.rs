//! Partitioned HDF5 scans: the same queries with 1, 4 and 8 target partitions give the same
//! rows (dimension filters, LIMIT, compounds, strings, enums, several files), the values
//! h5py read back, and plans whose scan has as many partitions as whole chunks allow.

use serde_json::Value;

use crate::dense::{Cell, run_with};
use crate::netcdf_fixtures::{assert_values, expected, fixture, json_column, query};

/// The queries, each ordered by a unique key so that row order is part of the result.
fn queries() -> Vec<String> {
    let c = fixture("chunked.h5");
    let s = fixture("sample.h5");
    let parts = fixture("parts_*.h5");
    let values = format!("read_hdf5('{c}', 'grid/values')");
    let records = format!("read_hdf5('{c}', 'records')");
    vec![
        format!("SELECT t, c, \"values\" FROM {values} ORDER BY t, c"),
        format!(
            "SELECT t, c, \"values\" FROM {values} WHERE t BETWEEN 2 AND 7.5 AND c >= 2 ORDER BY t, c"
        ),
        format!("SELECT t, \"values\" FROM {values} WHERE t > 9 OR c = 1 ORDER BY t, c"),
        format!(
            "SELECT c, count(*), min(\"values\"), max(\"values\"), sum(\"values\") FROM {values} WHERE t < 8 GROUP BY c ORDER BY c"
        ),
        format!("SELECT t, c FROM {values} ORDER BY t DESC, c LIMIT 5"),
        format!("SELECT count(*) FROM (SELECT * FROM {values} LIMIT 7)"),
        format!(
            "SELECT count(*) FROM ((SELECT * FROM {values} LIMIT 7) EXCEPT ALL (SELECT * FROM {values}))"
        ),
        format!("SELECT dim_0, id, v, tag FROM {records} ORDER BY dim_0"),
        format!("SELECT dim_0, tag FROM {records} WHERE dim_0 >= 3 AND dim_0 < 17 ORDER BY dim_0"),
        format!("SELECT tag, count(*) FROM {records} GROUP BY tag ORDER BY tag"),
        format!(
            "SELECT count(*) FROM ((SELECT * FROM {records} LIMIT 9) EXCEPT ALL (SELECT * FROM {records}))"
        ),
        format!(
            "SELECT dim_0, labels FROM read_hdf5('{c}', 'labels') WHERE dim_0 > 1 ORDER BY dim_0"
        ),
        format!("SELECT dim_0, codes FROM read_hdf5('{c}', 'codes') ORDER BY dim_0"),
        format!(
            "SELECT dim_0, codes FROM read_hdf5('{c}', 'codes', enum_labels => false) WHERE dim_0 <= 6 ORDER BY dim_0"
        ),
        format!(
            "SELECT time, station, temp FROM read_hdf5('{parts}', 'temp') ORDER BY time, station"
        ),
        format!(
            "SELECT time, temp FROM read_hdf5('{parts}', 'temp') WHERE time BETWEEN 1 AND 4 AND station = 101 ORDER BY time"
        ),
        format!("SELECT count(*) FROM (SELECT * FROM read_hdf5('{parts}', 'temp') LIMIT 5)"),
        format!("SELECT y, x, elev FROM read_hdf5('{s}', 'grid/elev') ORDER BY y, x"),
        format!(
            "SELECT dim_0, dim_1, dim_2, cube FROM read_hdf5('{s}', 'grid/cube') WHERE dim_2 >= 1 ORDER BY dim_0, dim_1, dim_2"
        ),
        format!("SELECT dim_0, series FROM read_hdf5('{s}', 'series') ORDER BY dim_0"),
        format!("SELECT dim_0, fixed FROM read_hdf5('{s}', 'strings/fixed') ORDER BY dim_0"),
        format!(
            "SELECT dim_0, id, x, name FROM read_hdf5('{s}', 'table') WHERE dim_0 >= 1 ORDER BY dim_0"
        ),
    ]
}

#[tokio::test]
async fn results_do_not_depend_on_the_number_of_partitions() {
    for sql in queries() {
        let (want, _) = run_with(&sql, &[], 1).await;
        assert!(!want.is_empty(), "{sql}: no rows");
        for partitions in [4, 8] {
            let (got, _) = run_with(&sql, &[], partitions).await;
            assert_eq!(got, want, "{partitions} partitions: {sql}");
        }
    }
    // The LIMIT and EXCEPT ALL checks say what they check.
    let c = fixture("chunked.h5");
    let (rows, _) = run_with(
        &format!("SELECT count(*) FROM (SELECT * FROM read_hdf5('{c}', 'records') LIMIT 9)"),
        &[],
        8,
    )
    .await;
    assert_eq!(rows, vec![vec![Cell::Number(9.0)]]);
}

/// The row of the plan that shows the HDF5 scan.
fn scan_line(plan: &str) -> &str {
    plan.lines()
        .find(|l| l.contains("Hdf5Exec"))
        .unwrap_or_else(|| panic!("no Hdf5Exec in {plan}"))
}

#[tokio::test]
async fn partitions_are_runs_of_whole_chunks_across_files() {
    let c = fixture("chunked.h5");
    // 20 indices along t in chunks of 4: at most 5 partitions, each whole chunks.
    let sql = format!("SELECT * FROM read_hdf5('{c}', 'grid/values')");
    for (target, partitions) in [(1, 1), (4, 4), (8, 5)] {
        let (_, plan) = run_with(&sql, &[], target).await;
        let line = scan_line(&plan);
        assert!(
            line.contains(&format!("partitions={partitions},")),
            "{target}: {line}"
        );
    }
    // After the filter's pushdown: t[4..16] is 3 chunks.
    let (_, plan) = run_with(&format!("{sql} WHERE t BETWEEN 2 AND 7.5"), &[], 8).await;
    let line = scan_line(&plan);
    assert!(
        line.contains("partitions=3,") && line.contains("ranges=[t[4..16], c[0..3]]"),
        "{line}"
    );
    // Two files of 3 time steps, chunks of one step: up to 6 partitions across them.
    let parts = fixture("parts_*.h5");
    let (_, plan) = run_with(
        &format!("SELECT * FROM read_hdf5('{parts}', 'temp')"),
        &[],
        8,
    )
    .await;
    let line = scan_line(&plan);
    assert!(line.contains("files=2, partitions=6,"), "{line}");
}

#[tokio::test]
async fn chunked_datasets_match_h5py() {
    let exp = expected();
    let ds = &exp["chunked.h5"]["datasets"];
    let c = fixture("chunked.h5");
    let b = query(&format!(
        "SELECT t, \"values\" FROM read_hdf5('{c}', 'grid/values') ORDER BY t, c"
    ))
    .await;
    assert_values(
        &json_column(&b, "values"),
        &ds["grid/values"]["values"],
        "values",
    );
    let t: Vec<Value> = ds["grid/values"]["t"]
        .as_array()
        .expect("t")
        .iter()
        .flat_map(|v| std::iter::repeat_n(v.clone(), 3))
        .collect();
    assert_values(&json_column(&b, "t"), &Value::from(t), "t");
    let b = query(&format!(
        "SELECT id, v, tag FROM read_hdf5('{c}', 'records') ORDER BY dim_0"
    ))
    .await;
    for field in ["id", "v", "tag"] {
        assert_values(
            &json_column(&b, field),
            &ds["records"]["fields"][field],
            field,
        );
    }
    let b = query(&format!(
        "SELECT labels FROM read_hdf5('{c}', 'labels') ORDER BY dim_0"
    ))
    .await;
    assert_values(
        &json_column(&b, "labels"),
        &ds["labels"]["values"],
        "labels",
    );
    let b = query(&format!(
        "SELECT codes FROM read_hdf5('{c}', 'codes', enum_labels => false) ORDER BY dim_0"
    ))
    .await;
    assert_values(&json_column(&b, "codes"), &ds["codes"]["values"], "codes");
}
