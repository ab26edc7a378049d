//! Runs the SQL specification in `tests/slt/**/*.slt` with sqllogictest, one fresh engine per
//! file (2 target partitions, so plans are the same on every machine).
//!
//! `cargo test --test slt` checks; `cargo test --test slt -- --complete` rewrites the
//! expected output; a further argument filters files by path substring. Files under
//! `tests/slt/course/` read `../shared/data/course` (or `$QUIVER_COURSE_DATA`) and are skipped,
//! with a printed reason, where it is absent, unless `QUIVER_REQUIRE_COURSE_DATA=1`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use quiver::Engine;
use sqllogictest::{DBOutput, DefaultColumnType};

struct QuiverDb {
    engine: Engine,
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for QuiverDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let mut statements = self.engine.parse(sql)?;
        let last = statements.pop();
        for statement in statements {
            self.engine.execute(statement).await?.collect().await?;
        }
        let Some(statement) = last else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let plan = self.engine.plan(statement).await?;
        let is_statement = match &plan {
            LogicalPlan::Ddl(_) => true,
            // EXECUTE of a prepared query returns rows.
            LogicalPlan::Statement(statement) => {
                !matches!(statement, datafusion::logical_expr::Statement::Execute(_))
            }
            _ => false,
        };
        let df = self.engine.execute_plan(plan).await?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await?;
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        Ok(DBOutput::Rows {
            types,
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "quiver"
    }
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating()
        || matches!(
            data_type,
            DataType::Decimal128(..) | DataType::Decimal256(..)
        )
    {
        DefaultColumnType::FloatingPoint
    } else if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        DefaultColumnType::Text
    } else {
        DefaultColumnType::Any
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| match f.value(row).to_string() {
                        s if s.is_empty() => "(empty)".to_string(),
                        s => s,
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

fn course_data_present() -> Result<bool, String> {
    let dir =
        std::env::var("QUIVER_COURSE_DATA").unwrap_or_else(|_| "../shared/data/course".to_string());
    if Path::new(&dir).join("tas1840.nc").exists() {
        return Ok(true);
    }
    if std::env::var("QUIVER_REQUIRE_COURSE_DATA").is_ok_and(|v| v == "1") {
        return Err(format!(
            "QUIVER_REQUIRE_COURSE_DATA=1 but the course data is not at {dir}"
        ));
    }
    Ok(false)
}

fn new_runner() -> sqllogictest::Runner<QuiverDb, impl sqllogictest::MakeConnection<Conn = QuiverDb>>
{
    sqllogictest::Runner::new(|| async {
        let engine = Engine::builder().target_partitions(2).build()?;
        Ok::<_, DataFusionError>(QuiverDb { engine })
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--") || a == "--complete")
        .collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let course = match course_data_present() {
        Ok(present) => present,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut files = Vec::new();
    slt_files(Path::new("tests/slt"), &mut files);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in files {
        let name = file.display().to_string();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if name.contains("/course/") && !course {
            println!("skipped {name}: the course data (../shared/data/course) is absent");
            skipped += 1;
            continue;
        }
        let mut runner = new_runner();
        let result = if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner
                .run_file_async(&file)
                .await
                .map_err(|e| e.display(true).to_string())
        };
        match result {
            Ok(()) => {
                println!("ok {name}");
                passed += 1;
            }
            Err(e) => {
                println!("FAILED {name}\n{e}");
                failed += 1;
            }
        }
    }
    println!("\nslt: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
