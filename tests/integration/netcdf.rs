//! NetCDF tables on the course data (`../shared/data/course` or `$QUIVER_COURSE_DATA`):
//! the agreed checksums of `../shared/bench/peers/README.md`, pushdown, and bad input.

use std::path::PathBuf;

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, Float64Array, RecordBatch};
use quiver::datafusion::arrow::compute::cast;
use quiver::datafusion::arrow::datatypes::DataType;

/// The course data folder, or `None` (with the reason printed) when it is absent.
pub(crate) fn course_data() -> Option<PathBuf> {
    let dir = std::env::var_os("QUIVER_COURSE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/course"));
    if dir.join("tas1840.nc").is_file() {
        return Some(dir);
    }
    let reason = format!(
        "course data not found at {} (set QUIVER_COURSE_DATA)",
        dir.display()
    );
    if std::env::var("QUIVER_REQUIRE_COURSE_DATA").as_deref() == Ok("1") {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
    None
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

/// Column `name` of the result as f64 values, in order.
pub(crate) fn column(batches: &[RecordBatch], name: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let array = cast(array, &DataType::Float64).expect("cast");
        let array = array.as_any().downcast_ref::<Float64Array>().expect("f64");
        out.extend((0..array.len()).map(|i| array.value(i)));
    }
    out
}

/// Neumaier-compensated sum (stands in for Python's `math.fsum` at 6 digits).
fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in values {
        let t = s + x;
        c += if s.abs() >= x.abs() {
            (s - t) + x
        } else {
            (x - t) + s
        };
        s = t;
    }
    s + c
}

/// Python's `format(x, ".6g")`.
fn g6(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let strip = |s: &str| s.trim_end_matches('0').trim_end_matches('.').to_string();
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exp.abs())
    } else {
        strip(&format!("{:.*}", (5 - exp) as usize, x))
    }
}

/// `seq_checksum` of `../shared/bench/peers/_common.py`.
fn seq_checksum(values: &[f64]) -> String {
    let s = fsum(values.iter().copied());
    let w = fsum(values.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v));
    format!("n={};sum={};wsum={}", values.len(), g6(s), g6(w))
}

#[test]
fn python_g_format() {
    assert_eq!(g6(1.42874e7), "1.42874e+07");
    assert_eq!(g6(3348.6), "3348.6");
    assert_eq!(g6(0.000123456), "0.000123456");
}

#[tokio::test]
async fn tidy_conversion_sum() {
    let Some(dir) = course_data() else { return };
    let sql = format!(
        "SELECT count(*) AS n, sum(tas) AS s FROM '{}/tas*.nc'",
        dir.display()
    );
    let batches = query(&sql).await;
    let (n, s) = (column(&batches, "n")[0], column(&batches, "s")[0]);
    assert_eq!(
        format!("rows={n};sum_tas={}", g6(s)),
        "rows=6758400;sum_tas=1.88593e+09"
    );
}

#[tokio::test]
async fn climate_grid_mean() {
    let Some(dir) = course_data() else { return };
    let sql = format!(
        "SELECT lat, lon, avg(tas) AS m FROM '{}/tas*.nc' GROUP BY lat, lon ORDER BY lat, lon",
        dir.display()
    );
    let m = column(&query(&sql).await, "m");
    assert_eq!(seq_checksum(&m), "n=51200;sum=1.42874e+07;wsum=3.67002e+11");
}

#[tokio::test]
async fn climate_month_clim() {
    let Some(dir) = course_data() else { return };
    let sql = format!(
        "SELECT date_part('month', time) AS mo, avg(tas) AS m FROM read_netcdf('{}/tas*.nc') GROUP BY 1 ORDER BY 1",
        dir.display()
    );
    let m = column(&query(&sql).await, "m");
    assert_eq!(seq_checksum(&m), "n=12;sum=3348.6;wsum=21776.6");
}

#[tokio::test]
async fn climate_point_annual() {
    let Some(dir) = course_data() else { return };
    let t = format!("'{}/tas*.nc'", dir.display());
    let sql = format!(
        "WITH pt AS (SELECT
            (SELECT lat FROM (SELECT DISTINCT lat FROM {t}) d ORDER BY abs(lat - 59.33) LIMIT 1) AS plat,
            (SELECT lon FROM (SELECT DISTINCT lon FROM {t}) d ORDER BY abs(lon - 18.07) LIMIT 1) AS plon)
         SELECT date_part('year', time) AS y, avg(tas) AS m FROM {t} AS x, pt
         WHERE x.lat = pt.plat AND x.lon = pt.plon GROUP BY 1 ORDER BY 1"
    );
    let m = column(&query(&sql).await, "m");
    assert_eq!(seq_checksum(&m), "n=11;sum=3073.53;wsum=18454.5");
}

#[tokio::test]
async fn dimension_filters_are_pushed_down_and_exact() {
    let Some(dir) = course_data() else { return };
    let t = format!("'{}/tas*.nc'", dir.display());
    let sql = format!(
        "SELECT count(*) AS n, min(time) = TIMESTAMP '1845-01-16 12:00:00' AS first_ok FROM {t}
         WHERE time >= '1845-01-01' AND lat BETWEEN 58 AND 60 AND lon = 18.0"
    );
    let batches = query(&sql).await;
    assert_eq!(column(&batches, "n"), vec![72.0 * 2.0]);
    let explain = query(&format!(
        "EXPLAIN SELECT tas FROM {t} WHERE time >= '1845-01-01' AND lon = 18.0"
    ))
    .await;
    let text = quiver::datafusion::arrow::util::pretty::pretty_format_batches(&explain)
        .expect("format")
        .to_string();
    assert!(text.contains("time[60..132]"), "{text}");
    assert!(text.contains("lon[16..17]"), "{text}");
}

#[tokio::test]
async fn schema_carries_units_and_variables_option() {
    let Some(dir) = course_data() else { return };
    let engine = Engine::new().expect("engine");
    let sql = format!(
        "SELECT * FROM read_netcdf('{}/tas1840.nc', variables => ['tas'])",
        dir.display()
    );
    let df = engine.sql(&sql).await.expect("plan");
    let schema = df.schema().as_arrow().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["time", "lat", "lon", "tas"]);
    assert_eq!(
        schema.field(3).metadata().get("units").map(String::as_str),
        Some("K")
    );
    assert!(matches!(
        schema.field(0).data_type(),
        DataType::Timestamp(_, _)
    ));
    let raw = format!(
        "SELECT time FROM read_netcdf('{}/tas1840.nc', decode_cf => false) ORDER BY time LIMIT 1",
        dir.display()
    );
    assert_eq!(column(&query(&raw).await, "time")[0].floor(), 361604.0);
}

#[tokio::test]
async fn errors_name_the_file_and_the_problem() {
    let Some(dir) = course_data() else { return };
    let missing = query_err("SELECT * FROM read_netcdf('/nonexistent/x.nc')").await;
    assert!(
        missing.contains("no such file") && missing.contains("/nonexistent/x.nc"),
        "{missing}"
    );
    let url_missing = query_err("SELECT * FROM '/nonexistent/y.nc'").await;
    assert!(url_missing.contains("/nonexistent/y.nc"), "{url_missing}");
    let unknown = query_err(&format!(
        "SELECT * FROM read_netcdf('{}/tas1840.nc', variables => ['tmp'])",
        dir.display()
    ))
    .await;
    assert!(
        unknown.contains("unknown variable \"tmp\"") && unknown.contains("available: time"),
        "{unknown}"
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(dir.join("tas1840.nc")).expect("read");
    let truncated = tmp.path().join("truncated.nc");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let err = query_err(&format!("SELECT avg(tas) FROM '{}'", truncated.display())).await;
    assert!(err.contains("truncated.nc"), "{err}");
    let tiny = tmp.path().join("tiny.nc");
    std::fs::write(&tiny, &bytes[..100]).expect("write");
    let err = query_err(&format!("SELECT * FROM '{}'", tiny.display())).await;
    assert!(err.contains("tiny.nc"), "{err}");
    let magic = tmp.path().join("magic.nc");
    std::fs::write(&magic, b"this is not a netcdf file at all, just some text").expect("write");
    let err = query_err(&format!("SELECT * FROM read_netcdf('{}')", magic.display())).await;
    assert!(err.contains("magic.nc") && err.contains("magic"), "{err}");
}

#[tokio::test]
async fn explicit_file_lists_concatenate_in_time_order() {
    let Some(dir) = course_data() else { return };
    // An explicit list is ordered by the time coordinate, not by the order given.
    let sql = format!(
        "SELECT min(time) AS t FROM read_netcdf(['{0}/tas1841.nc', '{0}/tas1840.nc']) LIMIT 1",
        dir.display()
    );
    let batches = query(&sql).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let sql = format!(
        "SELECT count(*) AS n FROM read_netcdf(['{0}/tas1841.nc', '{0}/tas1840.nc'])",
        dir.display()
    );
    assert_eq!(column(&query(&sql).await, "n"), vec![24.0 * 160.0 * 320.0]);
}
