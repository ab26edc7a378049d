//! Dot commands (`.tables`, `.mode csv`, ...) as in DuckDB's shell, with `\d`, `\q` and
//! `\?` for datafusion-cli and psql users.

use std::fs::File;

use datafusion::error::{DataFusionError, Result};

use super::print::OutputMode;
use super::schema::schema_listing;
use super::{Flow, Output, Shell};

/// Every command with its help line.
pub(crate) const COMMANDS: &[(&str, &str)] = &[
    (
        ".help",
        "show this help; .help FUNCTION describes a function",
    ),
    (".tables", "list tables and views"),
    (
        ".schema [TABLE]",
        "show the columns of one table or of all tables, with units and long names",
    ),
    (
        ".mode MODE",
        "output mode: table, csv, json, jsonl, markdown, line",
    ),
    (".timer on|off", "print the time each statement takes"),
    (".read FILE", "run the statements and commands in FILE"),
    (
        ".output [FILE]",
        "send results to FILE, or back to the terminal without FILE",
    ),
    (".once FILE", "send the next result to FILE"),
    (".maxrows N", "rows shown in table mode (0 = all)"),
    (".nullvalue TEXT", "text printed for NULL"),
    (".echo on|off", "print each statement before its result"),
    (
        ".gpu",
        "show the GPU adapter, its limits and capabilities (SET quiver.gpu places work)",
    ),
    (".quit", "leave the shell (also .exit, \\q, Ctrl-D)"),
    ("\\d [TABLE]", "same as .tables, or .schema TABLE"),
    ("\\?", "same as .help"),
];

/// Whether an input line is a dot (or backslash) command rather than SQL.
pub(crate) fn is_command(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('.') || line.starts_with('\\')
}

/// Runs one command line.
pub(crate) async fn run(shell: &mut Shell, line: &str) -> Result<Flow> {
    let line = line.trim().trim_end_matches(';');
    let (name, arg) = match line.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, arg.trim()),
        None => (line, ""),
    };
    match (name, arg) {
        (".quit" | ".exit" | "\\q", _) => return Ok(Flow::Quit),
        (".help" | "\\?", "") => shell.write_text(&help())?,
        (".help", function) => shell.write_text(&function_help(shell, function)?)?,
        (".tables" | "\\d" | "\\dt", "") => {
            shell
                .run_sql(
                    "SELECT table_name AS name, table_type AS type FROM information_schema.tables \
                     WHERE table_schema <> 'information_schema' ORDER BY table_name",
                )
                .await?
        }
        (".schema" | "\\d", table) => {
            let listing = schema_listing(shell.engine.context(), table).await?;
            shell.write_result(&listing.schema(), &[listing])?
        }
        (".mode", mode) => shell.settings.printer.mode = OutputMode::parse(".mode", mode)?,
        (".gpu", "") => shell.write_text(&gpu_report().unwrap_or_else(|e| format!("{e}\n")))?,
        (".timer", value) => shell.settings.timer = on_off(".timer", value)?,
        (".echo", value) => shell.settings.echo = on_off(".echo", value)?,
        (".maxrows", value) => {
            shell.settings.printer.max_rows = value.parse().map_err(|_| {
                DataFusionError::Plan(format!(".maxrows needs a number of rows, got '{value}'"))
            })?
        }
        (".nullvalue", value) => {
            shell.settings.printer.null_text = Some(unquote(value).to_string())
        }
        (".read", file) if !file.is_empty() => {
            let file = unquote(file);
            let text = std::fs::read_to_string(file)
                .map_err(|e| DataFusionError::Plan(format!("cannot read '{file}': {e}")))?;
            return Box::pin(shell.run_script(&text)).await;
        }
        (".output", "") => shell.output = Output::Stdout,
        (".output", file) => shell.output = Output::File(create(file)?),
        (".once", file) if !file.is_empty() => shell.output = Output::Once(create(file)?),
        _ => {
            let names: Vec<&str> = COMMANDS
                .iter()
                .map(|(usage, _)| usage.split(' ').next().unwrap_or(usage))
                .collect();
            return Err(DataFusionError::Plan(format!(
                "unknown command or missing argument: '{line}' (valid commands: {}, .exit, \\dt, \\q)",
                names.join(", ")
            )));
        }
    }
    Ok(Flow::Continue)
}

/// What `.gpu` and `quiver --gpu-info` print: the adapter's description and the columns
/// kept on it for later queries, or `no GPU adapter found: <reason>` as the error.
pub fn gpu_report() -> std::result::Result<String, String> {
    #[cfg(feature = "gpu")]
    let info = crate::gpu::info().map(|i| {
        let (columns, bytes) = crate::gpu::resident::usage();
        format!(
            "{i}\nresident columns: {columns} ({:.1} MiB)",
            bytes as f64 / 1048576.0
        )
    });
    #[cfg(not(feature = "gpu"))]
    let info: std::result::Result<String, String> =
        Err("quiver was built without the `gpu` feature".to_string());
    info.map(|i| i.to_string())
        .map_err(|reason| format!("no GPU adapter found: {reason}"))
}

fn help() -> String {
    let width = COMMANDS
        .iter()
        .map(|(usage, _)| usage.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (usage, description) in COMMANDS {
        text.push_str(&format!("{usage:width$}  {description}\n"));
    }
    text.push_str("\nSQL statements end with ';' and may span several lines.\n");
    text
}

/// `.help NAME`: the documentation of a SQL function, from its registered docs.
fn function_help(shell: &Shell, name: &str) -> Result<String> {
    let state = shell.engine.context().state();
    let name = name.to_lowercase();
    let doc = state
        .scalar_functions()
        .get(&name)
        .and_then(|f| f.documentation().cloned())
        .or_else(|| {
            state
                .aggregate_functions()
                .get(&name)
                .and_then(|f| f.documentation().cloned())
        })
        .or_else(|| {
            state
                .window_functions()
                .get(&name)
                .and_then(|f| f.documentation().cloned())
        });
    match doc {
        Some(doc) => {
            let mut text = format!("{name}: {}\n\n  {}\n", doc.description, doc.syntax_example);
            for (arg, description) in doc.arguments.iter().flatten() {
                text.push_str(&format!("    {arg}: {description}\n"));
            }
            if let Some(example) = &doc.sql_example {
                text.push_str(&format!("\nExample:\n{example}\n"));
            }
            Ok(text)
        }
        None => Err(DataFusionError::Plan(format!(
            "no function named '{name}' (the .tables command lists tables; SHOW FUNCTIONS lists functions)"
        ))),
    }
}

fn on_off(command: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(DataFusionError::Plan(format!(
            "{command} takes on or off, got '{value}'"
        ))),
    }
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
        .unwrap_or(t)
}

fn create(file: &str) -> Result<File> {
    let file = unquote(file);
    File::create(file).map_err(|e| DataFusionError::Plan(format!("cannot write '{file}': {e}")))
}
