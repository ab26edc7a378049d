//! The embedded API: `quiver::Engine::builder()...build()`, `sql`, `parse` and `execute`.

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use quiver::datafusion::arrow::datatypes::Int64Type;
use quiver::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Every value of `batches` as text, row by row.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

async fn query(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let batches = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows(&batches)
}

async fn setting(engine: &Engine, name: &str) -> String {
    let rows = query(
        engine,
        &format!("SELECT value FROM information_schema.df_settings WHERE name = '{name}'"),
    )
    .await;
    assert_eq!(rows.len(), 1, "{name}: {rows:?}");
    rows[0][0].clone()
}

#[tokio::test]
async fn builder_options_reach_the_session() {
    let engine = Engine::builder()
        .target_partitions(3)
        .batch_size(100)
        .option("datafusion.sql_parser.enable_ident_normalization", "false")
        .build()
        .unwrap();
    assert_eq!(
        setting(&engine, "datafusion.execution.target_partitions").await,
        "3"
    );
    assert_eq!(
        setting(&engine, "datafusion.execution.batch_size").await,
        "100"
    );
    assert_eq!(
        setting(&engine, "datafusion.sql_parser.enable_ident_normalization").await,
        "false"
    );

    // The batch size shapes the results: 1000 rows come in batches of at most 100.
    let batches = engine
        .sql("SELECT value FROM generate_series(1, 1000)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
    assert!(batches.len() >= 10, "{} batches", batches.len());
    assert!(batches.iter().all(|b| b.num_rows() <= 100));

    // Without normalization, identifiers keep their case.
    let rows = query(&engine, "SELECT 1 AS \"MixedCase\"").await;
    assert_eq!(rows, [["1"]]);
    let df = engine.sql("SELECT 1 AS MixedCase").await.unwrap();
    assert_eq!(df.schema().field(0).name(), "MixedCase");
}

#[tokio::test]
async fn defaults_and_zero_values() {
    let engine = Engine::new().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        setting(&engine, "datafusion.execution.target_partitions").await,
        cores.to_string()
    );
    assert_eq!(
        setting(&engine, "datafusion.execution.batch_size").await,
        "8192"
    );
    // 0 partitions or rows make no sense; the builder uses 1.
    let engine = Engine::builder()
        .target_partitions(0)
        .batch_size(0)
        .build()
        .unwrap();
    assert_eq!(
        setting(&engine, "datafusion.execution.target_partitions").await,
        "1"
    );
    assert_eq!(
        setting(&engine, "datafusion.execution.batch_size").await,
        "1"
    );
}

#[tokio::test]
async fn unknown_option_fails_to_build() {
    let err = Engine::builder()
        .option("datafusion.execution.no_such_option", "1")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no_such_option"), "{err}");
    let err = Engine::builder()
        .option("datafusion.execution.batch_size", "many")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("many"), "{err}");
}

#[tokio::test]
async fn memory_limit_bounds_queries() {
    // Many distinct groups, and ORDER BY so the result cannot stream out early.
    let sql = "SELECT n % 300000 AS k, count(*) AS c FROM generate_series(1, 600000) AS t(n) \
               GROUP BY k ORDER BY k DESC LIMIT 1";
    let unlimited = Engine::builder().target_partitions(2).build().unwrap();
    assert_eq!(query(&unlimited, sql).await, [["299999", "2"]]);

    let limited = Engine::builder()
        .target_partitions(2)
        .memory_limit(256 * 1024)
        .build()
        .unwrap();
    let err = limited
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Resources exhausted"), "{err}");
}

#[tokio::test]
async fn several_statements_via_parse_and_execute() {
    let engine = Engine::builder().target_partitions(2).build().unwrap();
    let statements = engine
        .parse(
            "CREATE TABLE t (n INT, s VARCHAR);
             INSERT INTO t VALUES (1, 'a'), (2, 'b; not a separator');
             -- a comment; with a semicolon
             CREATE VIEW v AS SELECT n * 10 AS m, s FROM t;
             SELECT m, s FROM v ORDER BY m;",
        )
        .unwrap();
    assert_eq!(statements.len(), 4);
    let mut last = Vec::new();
    for statement in statements {
        last = engine
            .execute(statement)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
    }
    assert_eq!(rows(&last), [["10", "a"], ["20", "b; not a separator"]]);

    // The statements ran in one session: their tables stay for later calls.
    assert_eq!(query(&engine, "SELECT count(*) FROM t").await, [["2"]]);

    // Empty text is no statement; a syntax error shows where it is.
    assert!(engine.parse("  ").unwrap().is_empty());
    let err = engine
        .parse("SELECT 1;\nSELECT * FORM t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Line: 2, Column: 15"), "{err}");
}

#[tokio::test]
async fn sql_takes_exactly_one_statement() {
    let engine = Engine::new().unwrap();
    let err = engine
        .sql("CREATE TABLE a AS SELECT 1; SELECT 2")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Engine::sql takes one statement")
            && err.contains("Engine::parse and Engine::execute"),
        "{err}"
    );
    // Nothing of the rejected text ran.
    let err = engine.sql("SELECT * FROM a").await.unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");

    let err = engine.sql("").await.unwrap_err().to_string();
    assert!(err.contains("no SQL statement"), "{err}");
    let err = engine.sql(" ; ").await.unwrap_err().to_string();
    assert!(err.contains("no SQL statement"), "{err}");

    // One statement with a trailing semicolon is fine.
    assert_eq!(query(&engine, "SELECT 42;").await, [["42"]]);
}

#[tokio::test]
async fn queries_are_lazy_and_ddl_runs_at_once() {
    let engine = Engine::new().unwrap();
    // A query that fails while running plans fine; the error comes on collect.
    let df = engine
        .sql("SELECT 10 / (n - 3) FROM generate_series(1, 5) AS t(n)")
        .await
        .unwrap();
    let err = df.collect().await.unwrap_err().to_string();
    assert!(err.contains("Divide by zero"), "{err}");

    // DDL takes effect without collecting the returned frame.
    let _ = engine
        .sql("CREATE TABLE made AS SELECT 7 AS x")
        .await
        .unwrap();
    assert_eq!(query(&engine, "SELECT x FROM made").await, [["7"]]);

    // So does COPY.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("made.csv");
    let _ = engine
        .sql(&format!("COPY made TO '{}'", target.display()))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "x\n7\n");
}

#[tokio::test]
async fn clones_share_tables() {
    let engine = Engine::new().unwrap();
    let clone = engine.clone();
    clone
        .sql("CREATE TABLE shared AS SELECT 1 AS one")
        .await
        .unwrap();
    assert_eq!(query(&engine, "SELECT one FROM shared").await, [["1"]]);
}

#[tokio::test]
async fn file_functions_work_from_the_api() {
    // #[tokio::test] runs on a current-thread runtime: planning a file read must not need
    // another worker of the caller's runtime.
    let engine = Engine::builder().target_partitions(2).build().unwrap();
    let rows = query(
        &engine,
        "SELECT count(*), sum(score) FROM read_csv('tests/data/people.csv')",
    )
    .await;
    assert_eq!(rows, [["4", "22.75"]]);
    let rows = query(
        &engine,
        "SELECT name FROM 'tests/data/people.csv' WHERE id = 2",
    )
    .await;
    assert_eq!(rows, [["Lovelace, A."]]);

    // The DataFrame is DataFusion's: its API works on the result.
    let df = engine
        .sql("SELECT id FROM read_json('tests/data/records.json')")
        .await
        .unwrap();
    let batches = df.collect().await.unwrap();
    let total: i64 = batches
        .iter()
        .map(|b| {
            let ids = b.column(0).as_primitive::<Int64Type>();
            (0..ids.len()).map(|i| ids.value(i)).sum::<i64>()
        })
        .sum();
    assert_eq!(total, 6);
}
