//! Atomic `COPY ... TO` through the engine API: the result appears whole or not at all; a
//! failed COPY leaves the old target byte for byte and no temporary file behind.

use std::path::Path;

use quiver::Engine;
use quiver::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

fn engine() -> Engine {
    // Small batches and one partition: a failing query has written many batches before
    // the row that fails.
    Engine::builder()
        .target_partitions(1)
        .batch_size(1000)
        .build()
        .unwrap()
}

/// The names in `dir`, sorted, hidden ones included.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs one statement and returns its single value as text.
async fn scalar(engine: &Engine, sql: &str) -> String {
    let batches = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let values: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let f =
                ArrayFormatter::try_new(b.column(0).as_ref(), &FormatOptions::default()).unwrap();
            (0..b.num_rows())
                .map(|i| f.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(values.len(), 1, "{sql}: {values:?}");
    values[0].clone()
}

const FORMATS: [&str; 3] = ["parquet", "csv", "json"];

/// 200,000 rows, failing with a division by zero at row 150,000: while the query runs,
/// not while it is planned.
const FAILING_QUERY: &str =
    "SELECT n, 10 / (n - 150000) AS q FROM generate_series(1, 200000) AS t(n)";

#[tokio::test]
async fn failing_query_fails_while_running() {
    // The premise of the tests below: planning succeeds, execution fails.
    let engine = engine();
    let df = engine.sql(FAILING_QUERY).await.unwrap();
    let err = df.collect().await.unwrap_err().to_string();
    assert!(err.contains("Divide by zero"), "{err}");
}

#[tokio::test]
async fn copy_writes_each_format_and_reads_back() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    for format in FORMATS {
        let target = dir.path().join(format!("out.{format}"));
        let count = scalar(
            &engine,
            &format!(
                "COPY (SELECT n, 'v' || n AS s FROM generate_series(1, 5000) AS t(n)) TO '{}'",
                target.display()
            ),
        )
        .await;
        assert_eq!(count, "5000", "{format}");
        assert!(target.is_file(), "{format}");
        let sum = scalar(
            &engine,
            &format!(
                "SELECT sum(n) + count(DISTINCT s) FROM read_{format}('{}')",
                target.display()
            ),
        )
        .await;
        assert_eq!(sum, (12_502_500 + 5000).to_string(), "{format}");
    }
    assert_eq!(listing(dir.path()), ["out.csv", "out.json", "out.parquet"]);
}

#[tokio::test]
async fn copy_replaces_an_existing_file() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.csv");
    std::fs::write(&target, "old\ncontent\n").unwrap();
    scalar(
        &engine,
        &format!("COPY (SELECT 1 AS a) TO '{}'", target.display()),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\n1\n");
    assert_eq!(listing(dir.path()), ["t.csv"]);
}

#[tokio::test]
async fn failed_copy_keeps_the_old_file_and_leaves_nothing_behind() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    for format in FORMATS {
        let target = dir.path().join(format!("keep.{format}"));
        scalar(
            &engine,
            &format!(
                "COPY (SELECT n FROM generate_series(1, 10) AS t(n)) TO '{}'",
                target.display()
            ),
        )
        .await;
        let before = std::fs::read(&target).unwrap();
        assert!(!before.is_empty());

        let result = engine
            .sql(&format!("COPY ({FAILING_QUERY}) TO '{}'", target.display()))
            .await;
        let err = match result {
            Ok(_) => panic!("{format}: the COPY should have failed"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("Divide by zero"), "{format}: {err}");
        assert_eq!(std::fs::read(&target).unwrap(), before, "{format}");
        let sum = scalar(
            &engine,
            &format!("SELECT sum(n) FROM read_{format}('{}')", target.display()),
        )
        .await;
        assert_eq!(sum, "55", "{format}");
    }
    assert_eq!(
        listing(dir.path()),
        ["keep.csv", "keep.json", "keep.parquet"]
    );
}

#[tokio::test]
async fn failed_copy_to_a_new_file_creates_nothing() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    for format in FORMATS {
        let target = dir.path().join(format!("new.{format}"));
        let cast_failure = "SELECT CAST(CASE WHEN n < 150000 THEN CAST(n AS VARCHAR) ELSE 'x' END AS INT) AS v \
             FROM generate_series(1, 200000) AS t(n)";
        for query in [FAILING_QUERY, cast_failure] {
            let result = engine
                .sql(&format!("COPY ({query}) TO '{}'", target.display()))
                .await;
            assert!(result.is_err(), "{format}: {query}");
        }
        assert!(!target.exists(), "{format}");
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn failed_copy_through_parse_and_execute_is_atomic_too() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.csv");
    std::fs::write(&target, "a\n1\n").unwrap();
    let statements = engine
        .parse(&format!(
            "COPY ({FAILING_QUERY}) TO '{}'; SELECT 1",
            target.display()
        ))
        .unwrap();
    let copy = statements.into_iter().next().unwrap();
    assert!(engine.execute(copy).await.is_err());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\n1\n");
    assert_eq!(listing(dir.path()), ["t.csv"]);
}

#[tokio::test]
async fn failed_copy_to_a_folder_keeps_the_old_folder() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("out");
    let target = format!("{}/", folder.display());
    scalar(
        &engine,
        &format!(
            "COPY (SELECT n FROM generate_series(1, 100) AS t(n)) TO '{target}' STORED AS PARQUET"
        ),
    )
    .await;
    let files = listing(&folder);
    assert!(!files.is_empty());
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(folder.join(f)).unwrap())
        .collect();

    let result = engine
        .sql(&format!(
            "COPY ({FAILING_QUERY}) TO '{target}' STORED AS PARQUET"
        ))
        .await;
    assert!(result.is_err());
    assert_eq!(listing(&folder), files);
    for (file, content) in files.iter().zip(&contents) {
        assert_eq!(
            &std::fs::read(folder.join(file)).unwrap(),
            content,
            "{file}"
        );
    }
    assert_eq!(listing(dir.path()), ["out"]);
    let sum = scalar(
        &engine,
        &format!("SELECT sum(n) FROM read_parquet('{target}')"),
    )
    .await;
    assert_eq!(sum, "5050");

    // A successful COPY replaces the folder's content as a whole.
    scalar(
        &engine,
        &format!("COPY (SELECT 1 AS n) TO '{target}' STORED AS PARQUET"),
    )
    .await;
    let sum = scalar(
        &engine,
        &format!("SELECT sum(n) FROM read_parquet('{target}')"),
    )
    .await;
    assert_eq!(sum, "1");
    assert_eq!(listing(dir.path()), ["out"]);
}
