//! The titanic workloads of `../shared/bench/peers/titanic.py` on its generated
//! `titanic_1e6.csv`: `titanic.load` (CSV -> in-memory table), `titanic.groupby`
//! (mean(Survived) by Sex and Age < 12, missing Age counted as not a child) and
//! `titanic.pivot` (mean(Survived) by Sex with one column per Pclass, DuckDB's PIVOT; its
//! peers are in `benches/peers/titanic_pivot.py`, as `titanic.py` has no pivot).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, Float64Array, RecordBatch};
use quiver::datafusion::arrow::compute::concat_batches;
use quiver::datafusion::datasource::MemTable;
use quiver::datafusion::error::{DataFusionError, Result};

use crate::checksum::seq_checksum;
use crate::measure::{Record, Sink, timed};

/// The peers' query, verbatim (`titanic.py`, `SQL_GROUPBY`).
pub const SQL_GROUPBY: &str = r#"SELECT "Sex", coalesce("Age" < 12, false) AS child, avg("Survived") AS m
                 FROM titanic GROUP BY 1, 2 ORDER BY 1, 2"#;

/// The pivot: pandas' `pivot_table('Survived', index='Sex', columns='Pclass')`, in DuckDB's
/// syntax (dynamic: the Pclass values come from the data while planning).
pub const SQL_PIVOT: &str =
    r#"PIVOT titanic ON "Pclass" USING avg("Survived") GROUP BY "Sex" ORDER BY "Sex""#;

/// The peers' checksum of the group-by on `titanic_1e6.csv` (README, "Agreed checksums").
pub const PEER_GROUPBY_CHECKSUM_1E6: &str = "n=4;sum=2.29284;wsum=5.14527";

/// How the CSV becomes the in-memory table `titanic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadMode {
    /// `CREATE OR REPLACE TABLE titanic AS SELECT * FROM read_csv(...)`, as DuckDB does.
    Sql,
    /// `SELECT * FROM read_csv(...)` collected per partition into a `MemTable`, as the
    /// DataFusion peer does with `read_csv().collect()` + `register_record_batches`.
    Collect,
    /// Like `collect`, then each partition concatenated into one batch.
    CollectConcat,
}

/// Settings of the titanic workloads.
#[derive(Debug, Clone)]
pub struct Titanic {
    /// The CSV file.
    pub path: PathBuf,
    /// How it is loaded.
    pub load_mode: LoadMode,
    /// Timed runs per workload.
    pub runs: usize,
}

/// The file `titanic.py` writes for `rows` rows into the data folder.
pub fn csv_path(data_dir: &Path, rows: usize) -> PathBuf {
    if rows == 1_000_000 {
        data_dir.join("titanic_1e6.csv")
    } else {
        data_dir.join(format!("titanic_{rows}.csv"))
    }
}

impl Titanic {
    /// Runs the selected workloads (`load` and/or `groupby`); the group-by needs the table,
    /// so it is loaded once, untimed, when `load` is not selected.
    pub async fn run(
        &self,
        engine: &Engine,
        load: bool,
        groupby: bool,
        pivot: bool,
        sink: &Sink,
    ) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        if load {
            let (timings, ()) = timed(self.runs, || self.load(engine)).await?;
            let rows = table_rows(engine).await?;
            records.push(self.record("titanic.load", timings, format!("rows={rows}")));
            emit(sink, records.last())?;
        } else if groupby || pivot {
            self.load(engine).await?;
        }
        if groupby {
            let (timings, means) = timed(self.runs, || groupby_means(engine)).await?;
            let checksum = seq_checksum(&means);
            let is_peer_file = self
                .path
                .file_name()
                .is_some_and(|n| n == "titanic_1e6.csv");
            if is_peer_file && checksum != PEER_GROUPBY_CHECKSUM_1E6 {
                eprintln!(
                    "warning: titanic.groupby checksum {checksum} differs from the peers' \
                     {PEER_GROUPBY_CHECKSUM_1E6}"
                );
            }
            records.push(self.record("titanic.groupby", timings, checksum));
            emit(sink, records.last())?;
        }
        if pivot {
            let (timings, means) = timed(self.runs, || pivot_means(engine)).await?;
            records.push(self.record("titanic.pivot", timings, seq_checksum(&means)));
            emit(sink, records.last())?;
        }
        Ok(records)
    }

    fn record(&self, workload: &str, timings: crate::measure::Timings, checksum: String) -> Record {
        Record {
            tool: "quiver".into(),
            workload: workload.into(),
            timings,
            checksum,
            extra: Vec::new(),
        }
    }

    /// Loads the CSV into the in-memory table `titanic`, replacing it.
    pub async fn load(&self, engine: &Engine) -> Result<()> {
        let source = format!(
            "read_csv('{}')",
            self.path.to_string_lossy().replace('\'', "''")
        );
        let ctx = engine.context();
        match self.load_mode {
            LoadMode::Sql => {
                engine
                    .sql(&format!(
                        "CREATE OR REPLACE TABLE titanic AS SELECT * FROM {source}"
                    ))
                    .await?
                    .collect()
                    .await?;
            }
            LoadMode::Collect | LoadMode::CollectConcat => {
                let df = engine.sql(&format!("SELECT * FROM {source}")).await?;
                let schema = Arc::clone(df.schema().inner());
                let mut partitions = df.collect_partitioned().await?;
                if self.load_mode == LoadMode::CollectConcat {
                    partitions = partitions
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .map(|p| Ok(vec![concat_batches(&schema, &p)?]))
                        .collect::<Result<Vec<Vec<RecordBatch>>>>()?;
                }
                let table = MemTable::try_new(schema, partitions)?;
                ctx.deregister_table("titanic")?;
                ctx.register_table("titanic", Arc::new(table))?;
            }
        }
        Ok(())
    }
}

/// The number of rows of the table `titanic`.
pub async fn table_rows(engine: &Engine) -> Result<usize> {
    engine.context().table("titanic").await?.count().await
}

/// Runs [`SQL_GROUPBY`] and returns column `m` in the query's order.
pub async fn groupby_means(engine: &Engine) -> Result<Vec<f64>> {
    let batches = engine.sql(SQL_GROUPBY).await?.collect().await?;
    let mut means = Vec::new();
    for batch in &batches {
        push_column(&mut means, batch, "m")?;
    }
    Ok(means)
}

/// Runs [`SQL_PIVOT`] and returns its cells row by row (Sex), each row's Pclass columns in
/// order — the order of pandas' `pivot_table(...).to_numpy().ravel()`.
pub async fn pivot_means(engine: &Engine) -> Result<Vec<f64>> {
    let batches = engine.sql(SQL_PIVOT).await?.collect().await?;
    let mut means = Vec::new();
    for batch in &batches {
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .skip(1)
            .map(|f| f.name().clone())
            .collect();
        for row in 0..batch.num_rows() {
            for name in &columns {
                push_column(&mut means, &batch.slice(row, 1), name)?;
            }
        }
    }
    Ok(means)
}

/// Appends the Float64 column `name` of `batch` (NULL as NaN).
fn push_column(values: &mut Vec<f64>, batch: &RecordBatch, name: &str) -> Result<()> {
    let column = batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .ok_or_else(|| DataFusionError::Internal(format!("column {name} is not Float64")))?;
    values.extend((0..column.len()).map(|i| {
        if column.is_null(i) {
            f64::NAN
        } else {
            column.value(i)
        }
    }));
    Ok(())
}

fn emit(sink: &Sink, record: Option<&Record>) -> Result<()> {
    if let Some(record) = record {
        sink.emit(&record.to_json_line())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
    }
    Ok(())
}
