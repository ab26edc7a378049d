//! The curve-fit and word-count workloads of `../shared/bench/peers/curvefit.py` and
//! `wordcount.py`, in SQL: `curvefit.results_csv` / `curvefit.synthetic_1e5` (a power law per
//! row, `list_curve_fit` with the course's p0 = [100, -1]) and
//! `wordcount.top10_overall_and_per_book` (`read_text` + `tokenize` + `unnest`).

use std::path::{Path, PathBuf};

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use quiver::datafusion::arrow::compute::cast;
use quiver::datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use quiver::datafusion::error::{DataFusionError, Result};
use serde_json::Value;

use crate::checksum::{format_g, fsum};
use crate::measure::{Record, Sink, Timings, timed};

const X: &str = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
const WORDS: &str = "[word1, word2, word3, word4, word5, word6, word7, word8, word9, word10]";

fn quote(path: &Path) -> String {
    path.to_string_lossy().replace('\'', "''")
}

/// Column `i` of every batch as f64 (NULL -> NaN).
pub fn f64_column(batches: &[RecordBatch], i: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(b.column(i), &DataType::Float64)?;
        let c = c.as_primitive::<Float64Type>();
        out.extend((0..c.len()).map(|r| if c.is_null(r) { f64::NAN } else { c.value(r) }));
    }
    Ok(out)
}

pub fn record(
    workload: &str,
    timings: Timings,
    checksum: String,
    extra: Vec<(String, Value)>,
) -> Record {
    Record {
        tool: "quiver".into(),
        workload: workload.into(),
        timings,
        checksum,
        extra,
    }
}

pub fn emit(sink: &Sink, record: &Record) -> Result<()> {
    sink.emit(&record.to_json_line())
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// `curvefit.results_csv` and `curvefit.synthetic_<rows>`; tables are loaded untimed.
pub async fn curvefit(
    engine: &Engine,
    results_csv: &Path,
    synthetic_csv: Option<&Path>,
    runs: usize,
    sink: &Sink,
) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let fit = format!("list_curve_fit('power', {X}, {WORDS}, [100, -1])['params']['b']");
    engine
        .sql(&format!(
            "CREATE OR REPLACE TABLE results AS SELECT * FROM read_csv('{}')",
            quote(results_csv)
        ))
        .await?
        .collect()
        .await?;
    let sql = format!("SELECT {fit} AS s FROM results");
    let (timings, batches) =
        timed(runs, || async { engine.sql(&sql).await?.collect().await }).await?;
    let s = f64_column(&batches, 0)?;
    let rows_per_s = s.len() as f64 / crate::measure::median(&timings.times_s);
    records.push(record(
        "curvefit.results_csv",
        timings,
        format!(
            "n={};sum_s={}",
            s.len(),
            format_g(fsum(s.iter().copied()), 6)
        ),
        vec![("rows_per_s".into(), Value::from(rows_per_s.round()))],
    ));
    emit(sink, &records[records.len() - 1])?;
    let Some(path) = synthetic_csv else {
        return Ok(records);
    };
    engine
        .sql(&format!(
            "CREATE OR REPLACE TABLE synth AS SELECT * FROM read_csv('{}')",
            quote(path)
        ))
        .await?
        .collect()
        .await?;
    let sql = format!("SELECT s_true, {fit} AS s FROM synth");
    let (timings, batches) =
        timed(runs, || async { engine.sql(&sql).await?.collect().await }).await?;
    let (truth, s) = (f64_column(&batches, 0)?, f64_column(&batches, 1)?);
    let mut errors: Vec<f64> = truth.iter().zip(&s).map(|(t, s)| (s - t).abs()).collect();
    let not_converged = errors.iter().filter(|e| e.is_nan()).count();
    errors.retain(|e| !e.is_nan());
    // numpy's median (the mean of the two middle values), as the peers report it.
    let median_err = crate::measure::median(&errors);
    let max_err = errors.iter().copied().fold(f64::NAN, f64::max);
    let bad = errors.iter().filter(|e| **e > 0.5).count();
    let rows_per_s = s.len() as f64 / crate::measure::median(&timings.times_s);
    let name = format!("curvefit.synthetic_{:.0e}", s.len() as f64);
    records.push(record(
        &name,
        timings,
        format!(
            "n={};sum_s={}",
            s.len(),
            format_g(fsum(s.iter().filter(|v| !v.is_nan()).copied()), 6)
        ),
        vec![
            ("rows_per_s".into(), Value::from(rows_per_s.round())),
            ("max_abs_err_s".into(), Value::from(max_err)),
            ("median_abs_err_s".into(), Value::from(median_err)),
            ("n_bad_fits".into(), Value::from(bad)),
            ("n_not_converged".into(), Value::from(not_converged)),
        ],
    ));
    emit(sink, &records[records.len() - 1])?;
    Ok(records)
}

/// `wordcount.top10_overall_and_per_book` over `books/pg*.txt`.
pub async fn wordcount(
    engine: &Engine,
    books: &Path,
    results_csv: &Path,
    runs: usize,
    sink: &Sink,
) -> Result<Record> {
    let glob = quote(&books.join("pg*.txt"));
    // Books get an integer id (grouping and windows on an integer are cheaper than on the
    // name); word counts per book, then per word over all books.
    let build = [
        format!(
            "CREATE OR REPLACE TABLE books AS \
             SELECT row_number() OVER (ORDER BY filename) AS id, \
                    regexp_replace(filename, '^.*/([^/]+)\\.txt$', '\\1') AS book, content \
             FROM read_text('{glob}')"
        ),
        "CREATE OR REPLACE TABLE bw AS \
         SELECT id, w, count(*) AS c FROM (SELECT id, unnest(tokenize(content)) AS w FROM books) \
         GROUP BY 1, 2"
            .to_string(),
        "CREATE OR REPLACE TABLE ow AS SELECT w, sum(c) AS c FROM bw GROUP BY w".to_string(),
    ];
    let queries = [
        "SELECT w, c FROM ow ORDER BY c DESC, w LIMIT 10".to_string(),
        "SELECT book, c FROM (SELECT id, c, row_number() OVER (PARTITION BY id ORDER BY c DESC) AS rn \
         FROM bw) JOIN (SELECT id, book FROM books) USING (id) WHERE rn <= 10 ORDER BY book, c DESC"
            .to_string(),
        "SELECT sum(c), count(*) FROM ow".to_string(),
    ];
    let run = || async {
        for statement in &build {
            engine.sql(statement).await?.collect().await?;
        }
        let mut out = Vec::new();
        for q in &queries {
            out.push(engine.sql(q).await?.collect().await?);
        }
        Ok::<_, DataFusionError>(out)
    };
    let (timings, answers) = timed(runs, run).await?;
    let mut top = Vec::new();
    for b in &answers[0] {
        let (w, c) = (
            cast(b.column(0), &DataType::Utf8)?,
            cast(b.column(1), &DataType::Int64)?,
        );
        for r in 0..b.num_rows() {
            top.push(format!(
                "{}:{}",
                w.as_string::<i32>().value(r),
                c.as_primitive::<Int64Type>().value(r)
            ));
        }
    }
    let mut per_book: Vec<(String, Vec<i64>)> = Vec::new();
    for b in &answers[1] {
        let (book, c) = (
            cast(b.column(0), &DataType::Utf8)?,
            cast(b.column(1), &DataType::Int64)?,
        );
        for r in 0..b.num_rows() {
            let name = book.as_string::<i32>().value(r).to_string();
            let count = c.as_primitive::<Int64Type>().value(r);
            match per_book.last_mut() {
                Some((last, counts)) if *last == name => counts.push(count),
                _ => per_book.push((name, vec![count])),
            }
        }
    }
    let totals = &answers[2][0];
    let total = cast(totals.column(0), &DataType::Int64)?;
    let distinct = cast(totals.column(1), &DataType::Int64)?;
    let reference = read_results(engine, results_csv).await?;
    let matches = per_book
        .iter()
        .filter(|(b, c)| reference.iter().any(|(rb, rc)| rb == b && rc == c))
        .count();
    let sum_top: i64 = per_book.iter().flat_map(|(_, c)| c.iter()).sum();
    let checksum = format!(
        "top10={};total={};distinct={};books={};sum_book_top10={sum_top};match_results_csv={matches}",
        top.join("|"),
        total.as_primitive::<Int64Type>().value(0),
        distinct.as_primitive::<Int64Type>().value(0),
        per_book.len()
    );
    let mbytes: u64 = std::fs::read_dir(books)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("pg"))
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum()
        })
        .unwrap_or(0);
    let record = record(
        "wordcount.top10_overall_and_per_book",
        timings,
        checksum,
        vec![
            ("books".into(), Value::from(per_book.len())),
            (
                "mbytes".into(),
                Value::from((mbytes as f64 / 1e5).round() / 10.0),
            ),
        ],
    );
    emit(sink, &record)?;
    Ok(record)
}

async fn read_results(engine: &Engine, path: &Path) -> Result<Vec<(String, Vec<i64>)>> {
    let sql = format!("SELECT \"Book\", {WORDS} FROM read_csv('{}')", quote(path));
    let batches = engine.sql(&sql).await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let book = cast(b.column(0), &DataType::Utf8)?;
        let list = b.column(1).as_list::<i32>();
        for r in 0..b.num_rows() {
            let v = cast(&list.value(r), &DataType::Int64)?;
            let v = v.as_primitive::<Int64Type>().values().to_vec();
            out.push((book.as_string::<i32>().value(r).to_string(), v));
        }
    }
    Ok(out)
}

/// The course data folder: `$QUIVER_COURSE_DATA`, else `../shared/data/course`.
pub fn course_dir() -> PathBuf {
    std::env::var_os("QUIVER_COURSE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/course"))
}
