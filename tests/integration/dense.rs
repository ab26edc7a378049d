//! Differential tests of the dense aggregation: every query gives the same rows with the
//! rule on and off (`quiver.dense_aggregate`), with 1 and 8 partitions. The queries are the
//! cross product of GROUP BY keys and filters over seeded fixture cubes with fill values,
//! NaN and packed integers (`tests/data/netcdf/cube_*.nc`), plus the course climate queries.

use std::path::PathBuf;

use quiver::Engine;
use quiver::datafusion::arrow::array::RecordBatch;
use quiver::datafusion::arrow::util::display::array_value_to_string;
use quiver::datafusion::common::ScalarValue;

use crate::netcdf_fixtures::fixture;

pub(crate) fn cube() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/netcdf");
    format!("'{}/cube_*.nc'", dir.display())
}

/// Rows of a query as cells: numbers as f64 (compared with a tolerance), others as text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Number(f64),
    Text(String),
    Null,
}

fn cells(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for batch in batches {
        for r in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .map(|c| {
                    let value = ScalarValue::try_from_array(c, r).unwrap();
                    if value.is_null() {
                        Cell::Null
                    } else if c.data_type().is_numeric() {
                        let v = value
                            .cast_to(&quiver::datafusion::arrow::datatypes::DataType::Float64)
                            .unwrap();
                        match v {
                            ScalarValue::Float64(Some(x)) => Cell::Number(x),
                            other => Cell::Text(other.to_string()),
                        }
                    } else {
                        Cell::Text(array_value_to_string(c, r).unwrap())
                    }
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

fn close(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Number(x), Cell::Number(y)) => {
            (x.is_nan() && y.is_nan())
                || x == y
                || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-6)
        }
        _ => a == b,
    }
}

async fn run(sql: &str, dense: bool, partitions: usize) -> (Vec<Vec<Cell>>, String) {
    let dense = if dense { "true" } else { "false" };
    run_with(sql, &[("quiver.dense_aggregate", dense)], partitions).await
}

/// The rows of `sql` and its plan, on an engine with `options`.
pub(crate) async fn run_with(
    sql: &str,
    options: &[(&str, &str)],
    partitions: usize,
) -> (Vec<Vec<Cell>>, String) {
    let mut builder = Engine::builder().target_partitions(partitions);
    for &(key, value) in options {
        builder = builder.option(key, value);
    }
    let engine = builder.build().unwrap();
    let explain = engine
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap();
    let plan = explain
        .iter()
        .map(|b| {
            (0..b.num_rows())
                .map(|r| array_value_to_string(b.column(1), r).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let batches = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    (cells(&batches), plan)
}

/// Runs `sql` four ways and compares each with the generic single-partition result.
/// Returns whether the dense plan was used.
async fn check(sql: &str, partitions: &[usize]) -> bool {
    let (expected, plan) = run(sql, false, 1).await;
    assert!(
        !plan.contains("DenseAggregateExec"),
        "rule off but dense: {sql}\n{plan}"
    );
    let mut used = false;
    for &p in partitions {
        for dense in [true, false] {
            let (got, plan) = run(sql, dense, p).await;
            used |= plan.contains("DenseAggregateExec");
            assert_eq!(
                got.len(),
                expected.len(),
                "row count, dense={dense} partitions={p}: {sql}"
            );
            for (g, e) in got.iter().zip(&expected) {
                assert!(
                    g.len() == e.len() && g.iter().zip(e).all(|(a, b)| close(a, b)),
                    "dense={dense} partitions={p}: {sql}\n got {g:?}\nwant {e:?}"
                );
            }
        }
    }
    used
}

// min/max of `qc` (which has NaN) are left out: DataFusion 55's grouped min/max over NaN
// depend on row order (`partial_cmp` None takes the new value), unlike its ungrouped
// min/max and the dense kernel, which use the total order (NaN greatest); see
// `nan_min_max_use_the_total_order`.
const AGGREGATES: &str = "count(*) AS n, count(tas) AS nt, sum(tas) AS s, avg(tas) AS a, \
     min(tas) AS lo, max(tas) AS hi, var(tas) AS v, var_pop(tas) AS vp, stddev(tas) AS sd, \
     stddev_pop(pr) AS sdp, avg(pr) AS apr, max(pr) AS hpr, sum(tas - 273.15) AS sc, \
     sum(qc) AS sq, avg(qc) AS aq, var(qc) AS vq, count(qc) AS nq";

pub(crate) const KEYS: &[&[&str]] = &[
    &[],
    &["lat"],
    &["lon"],
    &["lat", "lon"],
    &["date_part('month', time)"],
    &["date_trunc('year', time)"],
    &["time"],
    &["lat", "date_part('year', time)"],
    &["floor(lon / 90)"],
];

pub(crate) const FILTERS: &[&str] = &[
    "",
    "lat > 0",
    "time >= '2002-01-01'",
    "tas > 280",
    "lon BETWEEN 45 AND 200 AND pr < 5",
    "date_part('month', time) IN (1, 7) AND tas IS NOT NULL",
    "lat > 1000",
];

pub(crate) fn query(keys: &[&str], filter: &str, aggregates: &str) -> String {
    let from = cube();
    let select = if keys.is_empty() {
        aggregates.to_string()
    } else {
        let named: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        format!("{}, {aggregates}", named.join(", "))
    };
    let mut sql = format!("SELECT {select} FROM {from}");
    if !filter.is_empty() {
        sql += &format!(" WHERE {filter}");
    }
    if !keys.is_empty() {
        let order: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        sql += &format!(
            " GROUP BY {} ORDER BY {}",
            keys.join(", "),
            order.join(", ")
        );
    }
    sql
}

#[tokio::test]
async fn dense_equals_generic_for_keys_times_filters() {
    for keys in KEYS {
        for filter in FILTERS {
            let sql = query(keys, filter, AGGREGATES);
            assert!(check(&sql, &[1, 8]).await, "dense plan not used: {sql}");
        }
    }
}

#[tokio::test]
async fn first_and_last_follow_scan_order() {
    // first_value/last_value without ORDER BY follow the scan order, which only one
    // partition fixes in the generic plan.
    let keys: [&[&str]; 3] = [&[], &["lat"], &["date_part('month', time)"]];
    for keys in keys {
        let sql = query(
            keys,
            "",
            "first_value(tas) AS f, last_value(tas) AS l, first_value(pr) AS fp",
        );
        assert!(check(&sql, &[1]).await, "dense plan not used: {sql}");
    }
}

#[tokio::test]
async fn nan_min_max_use_the_total_order() {
    // Without GROUP BY, DataFusion's min/max use the total order too: NaN is the greatest.
    let sql = query(&[], "", "min(qc) AS lo, max(qc) AS hi, max(tas) AS ht");
    assert!(check(&sql, &[1, 8]).await, "dense plan not used: {sql}");
    let (rows, _) = run(&sql, true, 2).await;
    assert!(
        matches!(rows[0][0], Cell::Number(x) if !x.is_nan()),
        "{rows:?}"
    );
    assert!(
        matches!(rows[0][1], Cell::Number(x) if x.is_nan()),
        "{rows:?}"
    );
}

#[tokio::test]
async fn ineligible_queries_keep_the_generic_plan() {
    let from = cube();
    for sql in [
        format!("SELECT tas, count(*) FROM {from} GROUP BY tas ORDER BY 1"),
        format!("SELECT lat + lon AS k, avg(tas) FROM {from} GROUP BY lat + lon ORDER BY 1"),
        format!("SELECT lat, count(DISTINCT tas) FROM {from} GROUP BY lat ORDER BY 1"),
        format!("SELECT lat, avg(tas) FILTER (WHERE pr > 5) FROM {from} GROUP BY lat ORDER BY 1"),
        format!("SELECT lat, avg(tas * lat) FROM {from} GROUP BY lat ORDER BY 1"),
        format!("SELECT lat, median(tas) FROM {from} GROUP BY lat ORDER BY 1"),
        format!("SELECT lat, count(*) FROM {from} WHERE tas > lat GROUP BY lat ORDER BY 1"),
    ] {
        assert!(
            !check(&sql, &[1, 8]).await,
            "expected the generic plan: {sql}"
        );
    }
}

#[tokio::test]
async fn nearest_cell_is_read_alone_and_agrees() {
    let from = cube();
    let sql = format!(
        "SELECT date_part('year', time) AS y, avg(tas), max(pr) \
         FROM read_netcdf({from}, nearest => 'lat=40, lon=100') GROUP BY 1 ORDER BY 1"
    );
    assert!(check(&sql, &[1, 8]).await);
    // lat 45 (index 4 of -75..75 by 30) and lon 90 (index 2 of 0..315 by 45) are nearest.
    let (_, plan) = run(&sql, true, 2).await;
    assert!(
        plan.contains("ranges=[time[0..36], lat[4..5], lon[2..3]]"),
        "{plan}"
    );
}

#[tokio::test]
async fn distinct_dimension_values_are_dense() {
    let from = cube();
    let sql = format!("SELECT DISTINCT lat FROM {from} ORDER BY lat");
    assert!(check(&sql, &[1, 8]).await);
}

/// Groups come out in key order where the coordinates ascend, so `ORDER BY` those keys needs
/// no sort; a `LIMIT` stays, and an order the output does not have keeps its sort.
#[tokio::test]
async fn sorts_the_dense_output_satisfies_are_dropped() {
    let from = cube();
    let sorted = [
        format!("SELECT lat, lon, avg(tas) FROM {from} GROUP BY lat, lon ORDER BY lat, lon"),
        format!("SELECT lat, max(pr) FROM {from} WHERE lon > 45 GROUP BY lat ORDER BY lat LIMIT 3"),
        format!("SELECT date_part('month', time) AS m, avg(tas) FROM {from} GROUP BY 1 ORDER BY 1"),
    ];
    for sql in &sorted {
        assert!(check(sql, &[1, 8]).await, "dense plan not used: {sql}");
        for partitions in [1, 8] {
            let (_, plan) = run(sql, true, partitions).await;
            assert!(
                !physical_sort(&plan),
                "{partitions} partitions: {sql}\n{plan}"
            );
        }
    }
    let (rows, plan) = run(&sorted[1], true, 8).await;
    assert_eq!(rows.len(), 3);
    assert!(plan.contains("GlobalLimitExec"), "{plan}");
    for sql in [
        format!("SELECT lat, avg(tas) FROM {from} GROUP BY lat ORDER BY lat DESC"),
        format!("SELECT lat, avg(tas) AS a FROM {from} GROUP BY lat ORDER BY a"),
        format!("SELECT lon, lat, avg(tas) FROM {from} GROUP BY lat, lon ORDER BY lon, lat"),
    ] {
        assert!(check(&sql, &[1, 8]).await, "dense plan not used: {sql}");
        let (_, plan) = run(&sql, true, 8).await;
        assert!(physical_sort(&plan), "{sql}\n{plan}");
    }
}

/// Whether the physical plan in `plan` (EXPLAIN's text) sorts.
fn physical_sort(plan: &str) -> bool {
    plan.contains("SortExec") || plan.contains("SortPreservingMergeExec")
}

/// HDF5 datasets reduce densely as NetCDF variables do: one chunked file, several files
/// concatenated along time, a compound's fields, a dataset without dimension scales.
#[tokio::test]
async fn hdf5_datasets_are_dense_and_agree() {
    let c = fixture("chunked.h5");
    let parts = fixture("parts_*.h5");
    let s = fixture("sample.h5");
    let values = format!("read_hdf5('{c}', 'grid/values')");
    let temp = format!("read_hdf5('{parts}', 'temp')");
    for sql in [
        format!(
            "SELECT c, count(*), sum(\"values\"), avg(\"values\"), min(\"values\"), max(\"values\"), stddev(\"values\") FROM {values} GROUP BY c ORDER BY c"
        ),
        format!(
            "SELECT floor(t / 2) AS k, avg(\"values\"), var_pop(\"values\") FROM {values} WHERE c >= 1 AND \"values\" > 10 GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "SELECT sum(\"values\"), count(\"values\") FROM {values} WHERE t BETWEEN 2 AND 7.5"
        ),
        format!(
            "SELECT station, avg(temp), count(temp), max(temp) FROM {temp} GROUP BY station ORDER BY station"
        ),
        format!("SELECT time, sum(temp) FROM {temp} WHERE time >= 1 GROUP BY time ORDER BY time"),
        format!("SELECT count(*), sum(v), max(id) FROM read_hdf5('{c}', 'records')"),
        format!(
            "SELECT dim_1, avg(cube), min(cube) FROM read_hdf5('{s}', 'grid/cube') GROUP BY dim_1 ORDER BY 1"
        ),
    ] {
        assert!(check(&sql, &[1, 4, 8]).await, "dense plan not used: {sql}");
    }
    // first/last follow the scan order, which only one partition fixes in the generic plan.
    let sql = format!(
        "SELECT c, first_value(\"values\"), last_value(\"values\") FROM {values} GROUP BY c ORDER BY c"
    );
    assert!(check(&sql, &[1]).await, "dense plan not used: {sql}");
}

/// The course climate files as a SQL path pattern, or `None` where the data is absent
/// (see [`crate::netcdf::course_data`]).
pub(crate) fn course_tas() -> Option<String> {
    let dir = crate::netcdf::course_data()?;
    Some(format!("'{}/tas*.nc'", dir.display()))
}

/// The course's climate queries over the files `from`.
pub(crate) fn climate_queries(from: &str) -> [String; 3] {
    [
        format!("SELECT lat, lon, avg(tas) AS m FROM {from} GROUP BY lat, lon ORDER BY lat, lon"),
        format!(
            "SELECT date_part('month', time) AS mo, avg(tas) AS m, stddev(tas) FROM {from} GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "SELECT date_part('year', time) AS y, avg(tas) FROM {from} WHERE lat BETWEEN 59 AND 60 AND lon BETWEEN 17 AND 19 GROUP BY 1 ORDER BY 1"
        ),
    ]
}

#[tokio::test]
async fn course_climate_queries_agree() {
    let Some(from) = course_tas() else { return };
    for sql in climate_queries(&from) {
        assert!(check(&sql, &[2]).await, "dense plan not used: {sql}");
    }
}
