//! The `quiver` command, run as a user runs it: `-c`, `-f`, stdin, output formats, dot
//! commands in scripts, and errors (message on stderr, non-zero exit status).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A fixture in tests/data, by absolute path (the command may run in another folder).
fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        );
        assert_eq!(self.stderr, "", "stderr of a successful run");
        &self.stdout
    }

    /// Asserts a failure with a message on stderr (and only one line of it), returns it.
    fn failed(&self) -> &str {
        assert!(
            !self.status.success(),
            "expected failure\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.status.code(), Some(1));
        assert!(self.stderr.starts_with("Error: "), "{}", self.stderr);
        &self.stderr
    }
}

/// Runs `quiver` with `args` in `dir` (or a fresh temporary folder), feeding `stdin`.
fn quiver_in(dir: Option<&Path>, args: &[&str], stdin: &str) -> Run {
    let temp = tempfile::tempdir().expect("temporary folder");
    let dir = dir.unwrap_or(temp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quiver starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writing stdin");
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("quiver runs");
    Run {
        status,
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

fn quiver(args: &[&str]) -> Run {
    quiver_in(None, args, "")
}

const TWO_ROWS: &str = "SELECT * FROM (VALUES (1, 'x'), (2, NULL)) AS v(a, b) ORDER BY a";

#[test]
fn several_statements_in_one_command() {
    let run = quiver(&[
        "-c",
        "CREATE TABLE t (n INT, s VARCHAR); INSERT INTO t VALUES (1, 'a'), (2, NULL); \
         CREATE VIEW v AS SELECT n * 10 AS m, s FROM t; SELECT * FROM v ORDER BY m",
    ]);
    // DDL and INSERT print nothing; CSV (the batch default) starts with a header row.
    assert_eq!(run.ok(), "m,s\n10,a\n20,\n");
}

#[test]
fn statements_that_return_no_rows_print_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("people.csv"), dir.path().join("people.csv")).unwrap();
    let run = quiver_in(
        Some(dir.path()),
        &[
            "-c",
            "SET datafusion.execution.batch_size = 100; \
             CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2); \
             CREATE EXTERNAL TABLE p STORED AS CSV LOCATION 'people.csv'; \
             COPY t TO 'out.csv'; CREATE VIEW w AS SELECT 1; DROP VIEW w; \
             PREPARE twice(INT) AS SELECT $1 * 2 AS d; EXECUTE twice(21)",
        ],
        "",
    );
    // Only EXECUTE returns rows.
    assert_eq!(run.ok(), "d\n42\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
        "a\n1\n2\n"
    );
}

#[test]
fn repeated_commands_and_files_share_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("more.sql");
    std::fs::write(
        &script,
        "INSERT INTO t VALUES (3);\nSELECT sum(n) AS total FROM t;\n",
    )
    .unwrap();
    let run = quiver_in(
        Some(dir.path()),
        &[
            "-c",
            "CREATE TABLE t (n INT)",
            "-c",
            "INSERT INTO t VALUES (1), (2)",
            "-f",
            "more.sql",
        ],
        "",
    );
    assert_eq!(run.ok(), "total\n6\n");
}

#[test]
fn script_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        format!(
            "-- a comment line; with a semicolon\n\
             CREATE TABLE people AS\n  SELECT * FROM '{}';\n\n\
             SELECT name\n  FROM people\n  WHERE score > 7 -- ends later\n  ORDER BY score;\n\
             SELECT 'a;b' AS text;\n\
             SELECT count(*) AS n FROM people\n",
            data("people.csv")
        ),
    )
    .unwrap();
    let run = quiver(&["-f", script.to_str().unwrap()]);
    // The last statement needs no semicolon; a ';' inside quotes ends nothing.
    assert_eq!(run.ok(), "name\n\"Lovelace, A.\"\nAda\ntext\na;b\nn\n4\n");
}

#[test]
fn standard_input() {
    let run = quiver_in(
        None,
        &[],
        "CREATE TABLE t AS SELECT 1 AS x;\nSELECT x + 1 AS y\nFROM t;\n",
    );
    assert_eq!(run.ok(), "y\n2\n");
    let run = quiver_in(
        None,
        &["--format", "jsonl"],
        "SELECT 1 AS x; SELECT 2 AS x;",
    );
    assert_eq!(run.ok(), "{\"x\":1}\n{\"x\":2}\n");
    // Nothing on stdin: nothing to do, nothing printed.
    assert_eq!(quiver_in(None, &[], "").ok(), "");
}

#[test]
fn every_output_format() {
    let expected = [
        (
            "table",
            "┌───┬──────┐\n\
             │ a ┆ b    │\n\
             ╞═══╪══════╡\n\
             │ 1 ┆ x    │\n\
             │ 2 ┆ NULL │\n\
             └───┴──────┘\n",
        ),
        ("csv", "a,b\n1,x\n2,\n"),
        ("json", "[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":null}]\n"),
        ("jsonl", "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n"),
        (
            "markdown",
            "| a | b |\n|---|---|\n| 1 | x |\n| 2 | NULL |\n",
        ),
        ("line", "a = 1\nb = x\n\na = 2\nb = NULL\n"),
    ];
    for (format, output) in expected {
        let run = quiver(&["--format", format, "-c", TWO_ROWS]);
        assert_eq!(run.ok(), output, "--format {format}");
    }
}

#[test]
fn empty_results_keep_their_header() {
    let sql = "SELECT 1 AS a, 'x' AS b WHERE false";
    assert_eq!(quiver(&["-c", sql]).ok(), "a,b\n");
    assert_eq!(quiver(&["--format", "jsonl", "-c", sql]).ok(), "");
    assert_eq!(quiver(&["--format", "json", "-c", sql]).ok().trim(), "[]");
}

#[test]
fn echo_prints_each_statement_before_its_result() {
    let run = quiver(&[
        "--echo",
        "-c",
        "CREATE TABLE t AS SELECT 1 AS x; SELECT x FROM t",
    ]);
    let out = run.ok();
    let create = out.find("CREATE TABLE t AS SELECT 1 AS x;\n").expect(out);
    let select = out.find("SELECT x FROM t;\nx\n1\n").expect(out);
    assert!(create < select, "{out}");
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn dot_commands_in_a_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inner.sql"), "SELECT 'from inner' AS r;\n").unwrap();
    let script = "\
CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, 'c')) AS v(n, s);
.mode markdown
SELECT * FROM t ORDER BY n;
.nullvalue N/A
.mode csv
SELECT * FROM t ORDER BY n;
.nullvalue ''
.mode table
.maxrows 2
SELECT * FROM t ORDER BY n;
.maxrows 0
.mode csv
.once once.csv
SELECT 'first' AS w;
SELECT 'second' AS w;
.output all.csv
SELECT 'third' AS w;
SELECT 'fourth' AS w;
.output
SELECT 'fifth' AS w;
.read inner.sql
.read 'inner.sql'
";
    let run = quiver_in(Some(dir.path()), &[], script);
    assert_eq!(
        run.ok(),
        "| n | s |\n|---|---|\n| 1 | a |\n| 2 | NULL |\n| 3 | c |\n\
         n,s\n1,a\n2,N/A\n3,c\n\
         ┌───┬───┐\n\
         │ n ┆ s │\n\
         ╞═══╪═══╡\n\
         │ 1 ┆ a │\n\
         │ … ┆ … │\n\
         │ 3 ┆ c │\n\
         └───┴───┘\n\
         3 rows (2 shown; .maxrows N to change)\n\
         w\nsecond\n\
         w\nfifth\n\
         r\nfrom inner\n\
         r\nfrom inner\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("once.csv")).unwrap(),
        "w\nfirst\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("all.csv")).unwrap(),
        "w\nthird\nw\nfourth\n"
    );
}

#[test]
fn tables_and_schema() {
    let script = "\
CREATE TABLE b_table (id BIGINT NOT NULL, label VARCHAR);
CREATE VIEW a_view AS SELECT id FROM b_table;
.tables
\\d
.schema b_table
\\d a_view
";
    let run = quiver_in(None, &[], script);
    let tables = "name,type\na_view,VIEW\nb_table,BASE TABLE\n";
    let header = "table_name,column_name,data_type,is_nullable,units,long_name\n";
    let b_schema = format!("{header}b_table,id,Int64,NO,,\nb_table,label,Utf8View,YES,,\n");
    let a_schema = format!("{header}a_view,id,Int64,NO,,\n");
    assert_eq!(run.ok(), format!("{tables}{tables}{b_schema}{a_schema}"));

    let run = quiver_in(None, &[], ".schema nowhere\n");
    assert!(run.failed().contains("nowhere"), "{}", run.stderr);
}

#[test]
fn schema_of_every_table() {
    let run = quiver_in(
        None,
        &[],
        "CREATE TABLE x (a INT);\nCREATE TABLE y (b DOUBLE);\n.schema\n",
    );
    assert_eq!(
        run.ok(),
        "table_name,column_name,data_type,is_nullable,units,long_name\nx,a,Int32,YES,,\ny,b,Float64,YES,,\n"
    );
}

#[test]
fn schema_shows_units_of_netcdf_columns() {
    let tas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/course/tas1840.nc");
    if !tas.is_file() {
        eprintln!("skipping: {} not found", tas.display());
        return;
    }
    let script = format!(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '{}';\n.schema t\n",
        tas.display()
    );
    let run = quiver_in(None, &[], &script);
    let out = run.ok();
    assert!(
        out.contains("t,tas,Float32,YES,K,Near-Surface Air Temperature\n"),
        "{out}"
    );
    assert!(
        out.contains("t,lat,Float64,YES,degrees_north,Latitude\n"),
        "{out}"
    );
}

#[test]
fn timer_writes_to_stderr() {
    let run = quiver_in(
        None,
        &[],
        ".timer on\nSELECT 1 AS x;\n.timer off\nSELECT 2 AS y;\n",
    );
    assert!(run.status.success());
    assert_eq!(run.stdout, "x\n1\ny\n2\n");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let seconds = lines[0]
        .strip_prefix("Run Time: ")
        .and_then(|s| s.strip_suffix(" s"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(seconds.parse::<f64>().unwrap() >= 0.0);
}

#[test]
fn help_lists_the_commands() {
    for command in [".help", "\\?"] {
        let run = quiver_in(None, &[], &format!("{command}\n"));
        let out = run.ok();
        for name in [
            ".help",
            ".tables",
            ".schema",
            ".mode",
            ".timer",
            ".read",
            ".output",
            ".once",
            ".maxrows",
            ".nullvalue",
            ".quit",
            "\\d",
            "\\?",
        ] {
            assert!(
                out.lines().any(|l| l.starts_with(name)),
                "{command} lacks {name}:\n{out}"
            );
        }
    }
    let run = quiver_in(None, &[], ".help upper\n");
    assert!(run.ok().to_lowercase().contains("upper"), "{}", run.stdout);
}

#[test]
fn quit_stops_the_script() {
    for quit in [".quit", ".exit", "\\q"] {
        let run = quiver_in(
            None,
            &[],
            &format!("SELECT 1 AS a;\n{quit}\nSELECT 2 AS b;\n"),
        );
        assert_eq!(run.ok(), "a\n1\n", "{quit}");
    }
}

#[test]
fn echo_command() {
    let run = quiver_in(
        None,
        &[],
        ".echo on\nSELECT 1 AS a;\n.echo off\nSELECT 2 AS b;\n",
    );
    assert_eq!(run.ok(), "SELECT 1 AS a;\na\n1\nb\n2\n");
}

#[test]
fn threads_and_memory_limit_are_accepted() {
    let sql = "SELECT count(*) AS c, sum(n) AS s FROM generate_series(1, 100000) AS t(n)";
    for args in [
        vec!["--threads", "1"],
        vec!["--memory-limit", "1GB"],
        vec!["--threads", "1", "--memory-limit", "512MB"],
    ] {
        let mut all = args.clone();
        all.extend(["-c", sql]);
        assert_eq!(quiver(&all).ok(), "c,s\n100000,5000050000\n", "{args:?}");
    }
}

#[test]
fn memory_limit_is_enforced() {
    // One partition: with two, about one run in ten of this query never finishes after the
    // allocation error (a stream left waiting in DataFusion's aggregate/repartition path,
    // also before the dense aggregation existed); recorded on issue 5, not yet fixed.
    let run = quiver(&[
        "--threads",
        "1",
        "--memory-limit",
        "256KB",
        "-c",
        "SELECT n % 300000 AS k, count(*) FROM generate_series(1, 600000) AS t(n) \
         GROUP BY k ORDER BY k DESC LIMIT 1",
    ]);
    assert!(
        run.failed().contains("Resources exhausted"),
        "{}",
        run.stderr
    );
}

// Errors: a message on stderr, exit status 1.

#[test]
fn bad_sql_shows_the_position() {
    let run = quiver(&["-c", "SELECT *\n  FORM t"]);
    let err = run.failed();
    assert!(err.contains("found: FORM at Line: 2, Column: 3"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let run = quiver(&["-c", "SELEC 1"]);
    assert!(
        run.failed().contains("Line: 1, Column: 1"),
        "{}",
        run.stderr
    );
}

#[test]
fn first_error_stops_the_script() {
    let run = quiver_in(
        None,
        &[],
        "SELECT 1 AS before;\nSELECT 1 / 0;\nSELECT 2 AS after;\n",
    );
    assert!(run.failed().contains("Divide by zero"), "{}", run.stderr);
    assert_eq!(run.stdout, "before\n1\n");
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for sql in [
        "SELECT * FROM 'missing/data.csv'",
        "SELECT * FROM read_csv('missing/data.csv')",
        "SELECT * FROM read_parquet('missing/data.csv')",
        "SELECT * FROM read_json('missing/data.csv')",
    ] {
        let run = quiver_in(Some(dir.path()), &["-c", sql], "");
        let err = run.failed();
        assert!(err.contains("'missing/data.csv'"), "{sql}: {err}");
        assert!(err.contains("no such file"), "{sql}: {err}");
    }
    // A missing script file is named too.
    let run = quiver(&["-f", "no/such/script.sql"]);
    assert!(
        run.failed().contains("no/such/script.sql"),
        "{}",
        run.stderr
    );
    let run = quiver_in(None, &[], ".read no/such/script.sql\n");
    assert!(
        run.failed().contains("no/such/script.sql"),
        "{}",
        run.stderr
    );
}

#[test]
fn malformed_csv_row_names_file_and_line() {
    // Found while inferring the schema (the bad row is among the first rows read).
    let path = data("bad_row.csv");
    let run = quiver(&["-c", &format!("SELECT * FROM read_csv('{path}')")]);
    let err = run.failed();
    assert!(err.contains("tests/data/bad_row.csv"), "{err}");
    assert!(err.contains("line 4"), "{err}");

    // A value that does not parse as the inferred type (inference saw two rows only): the
    // line is the file's line, counted from 1 with the header as line 1.
    let mixed = data("mixed.csv");
    let run = quiver(&[
        "-c",
        &format!("SELECT sum(x) FROM read_csv('{mixed}', sample_size => 2)"),
    ]);
    let err = run.failed();
    assert!(err.contains(&mixed), "{err}");
    assert!(err.contains("'3.5'") && err.contains("line 4"), "{err}");

    // Found while reading (inference looked at two rows only), among several files: the
    // file with the bad row is named by its path.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&path, dir.path().join("bad_row.csv")).unwrap();
    std::fs::write(dir.path().join("good.csv"), "a,b\n9,9\n").unwrap();
    let run = quiver_in(
        Some(dir.path()),
        &["-c", "SELECT * FROM read_csv('*.csv', sample_size => 2)"],
        "",
    );
    let err = run.failed();
    let bad = dir.path().join("bad_row.csv").display().to_string();
    assert!(err.contains(&bad), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn unknown_dot_command_lists_the_valid_ones() {
    let run = quiver_in(None, &[], ".frobnicate\n");
    let err = run.failed();
    assert!(err.contains(".frobnicate"), "{err}");
    for name in [
        ".help", ".tables", ".schema", ".mode", ".read", ".output", ".quit",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    let run = quiver(&["-c", ".frobnicate"]);
    assert!(run.failed().contains(".tables"), "{}", run.stderr);
}

#[test]
fn bad_dot_command_arguments() {
    let run = quiver_in(None, &[], ".mode xml\n");
    let err = run.failed();
    assert!(
        err.contains("xml") && err.contains("table, csv, json"),
        "{err}"
    );
    let run = quiver_in(None, &[], ".maxrows many\n");
    assert!(run.failed().contains("many"), "{}", run.stderr);
    let run = quiver_in(None, &[], ".timer maybe\n");
    assert!(run.failed().contains("maybe"), "{}", run.stderr);
}

#[test]
fn bad_format() {
    let run = quiver(&["--format", "xml", "-c", "SELECT 1"]);
    let err = run.failed();
    assert!(err.contains("--format") && err.contains("xml"), "{err}");
    assert!(
        err.contains("table, csv, json, jsonl, markdown, line"),
        "{err}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn bad_memory_limit() {
    for value in ["4XB", "lots", "0"] {
        let run = quiver(&["--memory-limit", value, "-c", "SELECT 1"]);
        let err = run.failed();
        assert!(
            err.contains("--memory-limit") && err.contains(value),
            "{value}: {err}"
        );
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn bad_threads() {
    let run = quiver(&["--threads", "0", "-c", "SELECT 1"]);
    assert!(run.failed().contains("--threads"), "{}", run.stderr);
    let run = quiver(&["--threads", "many", "-c", "SELECT 1"]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("--threads"), "{}", run.stderr);
}

#[test]
fn undecodable_attributes_give_a_warning_not_a_failure() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/netcdf/latin1_attrs.nc");
    let script = format!(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '{}';\nSELECT sum(v) AS s FROM t;\n.schema t\n",
        file.display()
    );
    let run = quiver_in(None, &[], &script);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.starts_with("s\n6.0\n"), "{}", run.stdout);
    // The Latin-1 units are left out, the UTF-8 long_name is kept.
    assert!(
        run.stdout.contains("t,v,Float32,YES,,temperature\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("warning: netcdf file '")
            && run
                .stderr
                .contains("attribute 'units' could not be decoded")
            && run.stderr.contains("left out"),
        "{}",
        run.stderr
    );
}
