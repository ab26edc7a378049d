//! The shell: runs SQL and dot commands from a terminal, a script, `-c` or stdin, and
//! prints results. [`Shell`] holds the session (engine and settings); `repl` adds line
//! editing for terminals.

mod command;
pub use command::gpu_report;
mod complete;
pub mod print;
mod progress;
mod repl;
mod schema;

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::physical_plan::execute_stream;
use futures::StreamExt;

use crate::Engine;
use print::{OutputMode, Printer};

/// Where results go: standard output, a file until changed (`.output`), or a file for the
/// next result only (`.once`).
enum Output {
    Stdout,
    File(File),
    Once(File),
}

/// Settings a user changes with dot commands or command-line flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How results are printed.
    pub printer: Printer,
    /// Print each statement's time.
    pub timer: bool,
    /// Print each statement before its result.
    pub echo: bool,
    /// Running in a terminal: show progress, let Ctrl-C cancel a query.
    pub interactive: bool,
}

impl Settings {
    /// Defaults for a terminal (`interactive`) or for batch use.
    pub fn new(interactive: bool) -> Self {
        Self {
            printer: Printer {
                mode: if interactive {
                    OutputMode::Table
                } else {
                    OutputMode::Csv
                },
                max_rows: if interactive { 40 } else { 0 },
                null_text: None,
            },
            timer: false,
            echo: false,
            interactive,
        }
    }
}

/// What the caller should do after a line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read more input.
    Continue,
    /// Leave the shell.
    Quit,
}

/// One shell session over an [`Engine`].
pub struct Shell {
    engine: Engine,
    settings: Settings,
    output: Output,
}

impl Shell {
    /// A shell over `engine`.
    pub fn new(engine: Engine, settings: Settings) -> Self {
        Self {
            engine,
            settings,
            output: Output::Stdout,
        }
    }

    /// Runs an interactive session on the terminal until `.quit` or Ctrl-D.
    pub async fn run_interactive(&mut self) -> Result<()> {
        repl::run(self).await
    }

    /// Runs a script (statements and dot commands); stops at the first error.
    pub async fn run_script(&mut self, text: &str) -> Result<Flow> {
        let mut buffer = String::new();
        let mut first_line = 1;
        for (number, line) in text.lines().enumerate() {
            if is_blank_sql(&buffer) {
                first_line = number + 1;
            }
            if is_blank_sql(&buffer) && command::is_command(line) {
                if self.run_command(line).await? == Flow::Quit {
                    return Ok(Flow::Quit);
                }
                continue;
            }
            buffer.push_str(line);
            buffer.push('\n');
            if statement_complete(&buffer) {
                self.run_sql(&buffer)
                    .await
                    .map_err(|e| at_script_line(e, first_line))?;
                buffer.clear();
            }
        }
        if !is_blank_sql(&buffer) {
            self.run_sql(&buffer)
                .await
                .map_err(|e| at_script_line(e, first_line))?;
        }
        Ok(Flow::Continue)
    }

    /// Runs one dot command.
    pub async fn run_command(&mut self, line: &str) -> Result<Flow> {
        command::run(self, line).await
    }

    /// Runs every statement of `sql` in order, printing results.
    pub async fn run_sql(&mut self, sql: &str) -> Result<()> {
        for statement in self.engine.parse(sql)? {
            if self.settings.echo {
                self.write_text(&format!("{statement};\n"))?;
            }
            let started = Instant::now();
            let plan = self.engine.plan(statement).await?;
            let prints_rows = returns_rows(&plan);
            let df = self.engine.execute_plan(plan).await?;
            let schema = df.schema().inner().clone();
            let physical = df.create_physical_plan().await?;
            let stream = execute_stream(physical.clone(), self.engine.context().task_ctx())?;
            let collect = stream.collect::<Vec<_>>();
            let batches = if self.settings.interactive {
                let progress = progress::Progress::start(Arc::clone(&physical));
                let result = tokio::select! {
                    batches = collect => batches,
                    _ = tokio::signal::ctrl_c() => {
                        progress.finish().await;
                        return Err(DataFusionError::Execution("query cancelled".to_string()));
                    }
                };
                progress.finish().await;
                result
            } else {
                collect.await
            };
            let batches = batches
                .into_iter()
                .collect::<Result<Vec<_>>>()
                .map_err(|e| crate::datasource::name_csv_file_in_error(&physical, e))?;
            if prints_rows {
                self.write_result(&schema, &batches)?;
            }
            if self.settings.timer {
                eprintln!("Run Time: {:.3} s", started.elapsed().as_secs_f64());
            }
        }
        Ok(())
    }

    fn write_result(
        &mut self,
        schema: &datafusion::arrow::datatypes::SchemaRef,
        batches: &[datafusion::arrow::array::RecordBatch],
    ) -> Result<()> {
        let printer = self.settings.printer.clone();
        match std::mem::replace(&mut self.output, Output::Stdout) {
            Output::Stdout => printer.print(&mut std::io::stdout().lock(), schema, batches),
            Output::File(mut file) => {
                let result = printer.print(&mut file, schema, batches);
                self.output = Output::File(file);
                result
            }
            Output::Once(mut file) => printer.print(&mut file, schema, batches),
        }
    }

    fn write_text(&mut self, text: &str) -> Result<()> {
        let result = match &mut self.output {
            Output::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Output::File(file) | Output::Once(file) => file.write_all(text.as_bytes()),
        };
        result.map_err(DataFusionError::from)
    }

    /// The engine behind the shell.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Whether a statement's result is printed: queries (and EXECUTE, EXPLAIN, SHOW) are,
/// DDL, DML, COPY, SET and PREPARE are not.
fn returns_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => false,
        LogicalPlan::Statement(statement) => matches!(statement, PlanStatement::Execute(_)),
        _ => true,
    }
}

/// Syntax errors give lines within the statement; say where the statement starts.
fn at_script_line(error: DataFusionError, first_line: usize) -> DataFusionError {
    match error.find_root() {
        DataFusionError::SQL(parser_error, _) if first_line > 1 => DataFusionError::Plan(format!(
            "{parser_error} (in the statement starting at line {first_line})"
        )),
        _ => error,
    }
}

/// Whether buffered input holds only blank lines and `--` comments.
fn is_blank_sql(buffer: &str) -> bool {
    buffer
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("--"))
}

/// Whether buffered input ends a statement: a `;` at the end, outside quotes and comments.
pub(crate) fn statement_complete(buffer: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut last_significant = None;
    let mut chars = buffer.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '-' if !in_single && !in_double && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = Some((c, in_single || in_double));
        }
    }
    matches!(last_significant, Some((';', false)))
}

/// Whether standard input and output are a terminal.
pub fn is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::{is_blank_sql, statement_complete};

    #[test]
    fn comments_alone_are_blank() {
        assert!(is_blank_sql("-- a comment\n\n  -- another\n"));
        assert!(!is_blank_sql("-- a comment\nselect 1\n"));
    }

    #[test]
    fn statement_ends_at_semicolon_outside_quotes() {
        assert!(statement_complete("select 1;"));
        assert!(statement_complete("select 1;  -- done\n"));
        assert!(!statement_complete("select ';"));
        assert!(!statement_complete("select 1"));
        assert!(statement_complete("select 'a;b';\n"));
        assert!(!statement_complete("select 1 -- ;\n"));
    }
}
