//! `COPY (query) TO 'out.nc'`: the written file read back (by quiver, and by xarray where
//! Python has it) equals the query; grids with holes get fill values; bad requests fail
//! with errors that say what is wrong and leave no file behind.

use std::path::Path;
use std::process::Command;

use quiver::datafusion::arrow::util::pretty::pretty_format_batches;

use super::netcdf::{column, course_data, query, query_err};

fn quote(path: &Path) -> String {
    path.to_string_lossy().replace('\'', "''")
}

/// The rows of `sql` as a sorted, printed table.
async fn table(sql: &str) -> String {
    pretty_format_batches(&query(sql).await)
        .expect("print")
        .to_string()
}

#[tokio::test]
async fn course_subset_round_trips_exactly() {
    let Some(dir) = course_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("north.nc");
    let source = format!(
        "SELECT time, lat, lon, tas FROM '{}' WHERE lat > 60",
        quote(&dir.join("tas184*.nc"))
    );
    let copied = query(&format!("COPY ({source}) TO '{}'", quote(&target))).await;
    let rows = query(&format!("SELECT count(*) AS n FROM ({source})")).await;
    assert_eq!(column(&copied, "count"), column(&rows, "n"));
    // Every row back, values and timestamps equal, in both directions.
    let back = format!("SELECT time, lat, lon, tas FROM '{}'", quote(&target));
    for (a, b) in [(&source, &back), (&back, &source)] {
        let diff = table(&format!("SELECT count(*) AS n FROM ({a} EXCEPT ALL {b})")).await;
        assert!(diff.contains("| 0 |"), "{a} EXCEPT {b}: {diff}");
    }
    let info = table(&format!(
        "SELECT name || '=' || details AS a FROM netcdf_info('{}') WHERE kind = 'attribute'",
        quote(&target)
    ))
    .await;
    for expected in [
        "| tas@units=K ",
        "| time@calendar=proleptic_gregorian ",
        "| time@units=hours since 1970-01-01 00:00:00 ", // mid-month at 12:00
        "| Conventions=CF-1.7 CMIP-6.2 ",
    ] {
        assert!(info.contains(expected), "{expected} missing from\n{info}");
    }
    assert!(
        !info.contains("time@bounds"),
        "dangling bounds kept:\n{info}"
    );
}

#[tokio::test]
async fn aggregated_grid_finds_its_dimensions() {
    let Some(dir) = course_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("clim.nc");
    let source = format!(
        "SELECT date_part('month', time) AS month, lat, avg(tas) AS m FROM '{}' GROUP BY 1, 2",
        quote(&dir.join("tas1840.nc"))
    );
    table(&format!("COPY ({source}) TO '{}'", quote(&target))).await;
    let dims = table(&format!(
        "SELECT name, shape FROM netcdf_info('{}') WHERE kind = 'variable' ORDER BY name",
        quote(&target)
    ))
    .await;
    assert!(dims.contains("| m     | 12x160 |"), "{dims}");
    let back = format!("SELECT month, lat, m FROM '{}'", quote(&target));
    let diff = table(&format!(
        "SELECT count(*) AS n FROM ({source} EXCEPT ALL {back})"
    ))
    .await;
    assert!(diff.contains("| 0 |"), "{diff}");
}

#[tokio::test]
async fn holes_and_nulls_become_fill_values() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("sparse.nc");
    // x in {1, 2}, y in {10, 20, 30}: 4 of 6 cells present, one value NULL.
    let source = "SELECT * FROM (VALUES (2, 30, 1.5, 7), (1, 10, NULL, 8), (1, 20, 2.5, 9), \
                  (2, 10, 3.5, NULL)) AS t(x, y, v, k)";
    table(&format!(
        "COPY ({source}) TO '{}' OPTIONS (dimensions 'x, y')",
        quote(&target)
    ))
    .await;
    let back = table(&format!(
        "SELECT x, y, v, k FROM '{}' ORDER BY x, y",
        quote(&target)
    ))
    .await;
    let expected = "\
+---+----+-----+---+
| x | y  | v   | k |
+---+----+-----+---+
| 1 | 10 |     | 8 |
| 1 | 20 | 2.5 | 9 |
| 1 | 30 |     |   |
| 2 | 10 | 3.5 |   |
| 2 | 20 |     |   |
| 2 | 30 | 1.5 | 7 |
+---+----+-----+---+";
    assert_eq!(back, expected);
}

#[tokio::test]
async fn bad_requests_name_the_problem_and_leave_no_file() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("bad.nc");
    let t = quote(&target);
    let cases = [
        (
            format!("COPY (SELECT * FROM (VALUES (1, 2.0), (1, 3.0)) AS t(x, v)) TO '{t}'"),
            "do not form a complete grid",
        ),
        (
            format!(
                "COPY (SELECT * FROM (VALUES (1, 2.0), (1, 3.0)) AS t(x, v)) TO '{t}' \
                 OPTIONS (dimensions 'x')"
            ),
            "rows 0 and 1 have the same coordinates (x)",
        ),
        (
            format!("COPY (SELECT 1 AS x, 2.0 AS v) TO '{t}' OPTIONS (dimensions 'z')"),
            "dimension 'z' is not a column",
        ),
        (
            format!("COPY (SELECT 1 AS x, 2.0 AS v) TO '{t}' OPTIONS (chunks '10')"),
            "unknown COPY option 'chunks'",
        ),
        (
            format!("COPY (SELECT 1 AS x, [1, 2] AS v) TO '{t}'"),
            "column 'v' has type List",
        ),
        (
            format!(
                "COPY (SELECT * FROM (VALUES (1, 2.0), (NULL, 3.0)) AS t(x, v)) TO '{t}' \
                 OPTIONS (dimensions 'x')"
            ),
            "dimension column 'x' is NULL at row 1",
        ),
        (
            format!("COPY (SELECT 1 AS x, 2.0 AS v WHERE false) TO '{t}'"),
            "returned no rows",
        ),
        (
            "COPY (SELECT 1 AS x, 2.0 AS v) TO 's3://bucket/out.nc'".to_string(),
            "local files only",
        ),
    ];
    for (sql, expected) in cases {
        let error = query_err(&sql).await;
        assert!(error.contains(expected), "{sql}\n  gave: {error}");
    }
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn stored_as_netcdf_writes_any_file_name_and_replaces_atomically() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("grid.data");
    let t = quote(&target);
    let write = |v: f64| {
        format!(
            "COPY (SELECT x, {v} * x AS v FROM generate_series(1, 5) AS s(x)) TO '{t}' STORED AS NETCDF"
        )
    };
    table(&write(1.0)).await;
    table(&write(2.0)).await;
    let sum = table(&format!("SELECT sum(v) AS s FROM read_netcdf('{t}')")).await;
    assert!(sum.contains("| 30 |"), "{sum}");
    let names: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

/// xarray (netCDF4) opens the file and sees the same grid, when Python has them
/// (`QUIVER_PYTHON`, default `python3`); `.ci/run` installs them and sets
/// `QUIVER_REQUIRE_XARRAY=1`, so there a missing xarray fails instead of skipping.
#[tokio::test]
async fn xarray_opens_the_written_file() {
    let Some(dir) = course_data() else { return };
    let python = std::env::var("QUIVER_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import xarray, netCDF4"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let reason = format!("{python} cannot import xarray and netCDF4");
        if std::env::var("QUIVER_REQUIRE_XARRAY").as_deref() == Ok("1") {
            panic!("{reason}");
        }
        eprintln!("skipping: {reason}");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x.nc");
    let source = format!(
        "SELECT time, lat, lon, tas FROM '{}' WHERE lon < 10",
        quote(&dir.join("tas1841.nc"))
    );
    table(&format!("COPY ({source}) TO '{}'", quote(&target))).await;
    let ours = query(&format!(
        "SELECT CAST(count(tas) AS DOUBLE) AS n, sum(CAST(tas AS DOUBLE)) AS s FROM ({source})"
    ))
    .await;
    let script = "import sys, math, xarray as xr\n\
                  ds = xr.open_dataset(sys.argv[1])\n\
                  v = ds.tas.values.astype('float64').ravel()\n\
                  v = v[v == v]\n\
                  print(*ds.tas.dims, len(v), repr(math.fsum(v)), ds.time.values[0])";
    let output = Command::new(&python)
        .args(["-c", script, &target.to_string_lossy()])
        .output()
        .expect("python");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(fields[..3], ["time", "lat", "lon"], "{printed}");
    let n: f64 = fields[3].parse().unwrap();
    let sum: f64 = fields[4].parse().unwrap();
    assert_eq!(n, column(&ours, "n")[0], "{printed}");
    let quiver_sum = column(&ours, "s")[0];
    assert!(
        (sum - quiver_sum).abs() <= 1e-9 * sum.abs(),
        "{sum} vs {quiver_sum}"
    );
    assert!(printed.contains("1841-01-16T12:00:00"), "{printed}");
}

/// Files written by COPY as inputs for the reader: two files whose latitudes differ cannot
/// be concatenated, and the error names both files and the dimension.
#[tokio::test]
async fn files_with_different_coordinates_do_not_concatenate() {
    let out = tempfile::tempdir().unwrap();
    for (year, lats) in [(2000, "10.0, 20.0"), (2001, "10.0, 25.0")] {
        let target = out.path().join(format!("part_{year}.nc"));
        table(&format!(
            "COPY (SELECT CAST(to_timestamp(t) AS TIMESTAMP) AS time, lat, t + lat AS v \
             FROM (VALUES ({year}.0 * 1e6), ({year}.0 * 1e6 + 1)) AS a(t), \
             unnest([{lats}]) AS b(lat)) TO '{}'",
            quote(&target)
        ))
        .await;
    }
    let error = query_err(&format!(
        "SELECT count(*) FROM '{}'",
        quote(&out.path().join("part_*.nc"))
    ))
    .await;
    assert!(
        error.contains("part_2000.nc' and '")
            && error.contains("part_2001.nc'")
            && error.contains("coordinates of dimension \"lat\" differ"),
        "{error}"
    );
    // The same latitudes concatenate along time.
    let target = out.path().join("part_2001.nc");
    table(&format!(
        "COPY (SELECT CAST(to_timestamp(2001e6 + t) AS TIMESTAMP) AS time, lat, lat AS v \
         FROM (VALUES (0.0), (1.0)) AS a(t), unnest([10.0, 20.0]) AS b(lat)) TO '{}'",
        quote(&target)
    ))
    .await;
    let rows = query(&format!(
        "SELECT count(*) AS n FROM '{}'",
        quote(&out.path().join("part_*.nc"))
    ))
    .await;
    assert_eq!(column(&rows, "n"), vec![8.0]);
}
