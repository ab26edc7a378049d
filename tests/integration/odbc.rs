//! ODBC clients through the real PostgreSQL ODBC driver (psqlODBC, Debian `odbc-postgresql`)
//! and unixODBC's `isql`, against a server started in-process on port 0.

#![cfg(feature = "server")]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use quiver::server::ServerOptions;
use tokio::io::AsyncWriteExt;

use crate::server::{PASSWORD, USER, data, start, test_users};

/// Where Debian's `odbc-postgresql` puts the Unicode driver.
const DRIVER: &str = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so";

/// Writes `odbcinst.ini` and `odbc.ini` (a DSN `quiver` for the server at `port`) into `dir`,
/// with the settings docs/server.md recommends.
fn write_dsn(dir: &Path, port: u16) {
    let driver = format!("[PostgreSQL Unicode]\nDriver = {DRIVER}\n");
    std::fs::write(dir.join("odbcinst.ini"), driver).unwrap();
    let dsn = format!(
        "[quiver]\nDriver = PostgreSQL Unicode\nServername = 127.0.0.1\nPort = {port}\n\
         Database = datafusion\nSSLMode = disable\nUseServerSidePrepare = 1\n"
    );
    std::fs::write(dir.join("odbc.ini"), dsn).unwrap();
}

/// Runs `isql` on the DSN with `statements` (one per line) on stdin; stdout and stderr.
async fn isql(dir: &Path, statements: &[String]) -> (String, String) {
    let mut child = tokio::process::Command::new("isql")
        // -b batch, -v verbose errors, -d, comma-separated, -c column names first
        .args(["-b", "-v", "-d,", "-c", "quiver", USER, PASSWORD])
        .env("ODBCSYSINI", dir)
        .env("ODBCINI", dir.join("odbc.ini"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all((statements.join("\n") + "\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("isql finishes within a minute")
        .unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odbc_client_through_psqlodbc() {
    if !crate::clients::installed("isql", "unixodbc odbc-postgresql") {
        return;
    }
    assert!(
        Path::new(DRIVER).is_file(),
        "{DRIVER} is missing (apt-get install odbc-postgresql)"
    );
    let options = ServerOptions {
        users: test_users(),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let dir = tempfile::tempdir().unwrap();
    write_dsn(dir.path(), server.pg_addr().port());
    let mut statements = vec![
        "SELECT CAST(42 AS INT) AS i, CAST(9000000000 AS BIGINT) AS b, CAST(1.5 AS DOUBLE) AS f, \
         'héllo' AS t, DATE '2024-02-29' AS d, TIMESTAMP '2024-02-29 12:34:56' AS ts, \
         true AS yes, CAST(NULL AS INT) AS nothing"
            .to_string(),
        "SELEC 1".to_string(),
        format!(
            "SELECT name, score FROM read_csv('{}') WHERE id = 1",
            data("people.csv")
        ),
    ];
    // isql's `help TABLE` calls SQLColumns, answered from pg_catalog
    statements.push("help people".to_string());
    let course = crate::netcdf::course_data();
    if let Some(course) = &course {
        statements.push(format!(
            "SELECT count(*) AS n, min(time) AS first FROM '{}/tas1840.nc'",
            course.display()
        ));
    }
    let (stdout, stderr) = isql(dir.path(), &statements).await;
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    // the connection (and psqlODBC's catalog queries at connect time) succeeded
    assert!(!stdout.contains("Could not SQLConnect"), "{all}");
    // every type arrives as its text form; NULL as an empty field
    assert!(stdout.contains("i,b,f,t,d,ts,yes,nothing\n"), "{all}");
    assert!(
        stdout.contains("42,9000000000,1.5,héllo,2024-02-29,2024-02-29 12:34:56,1,\n"),
        "{all}"
    );
    // bad SQL: a clear message with its SQLSTATE, and the session goes on
    assert!(
        stdout.contains("[42601]") && stdout.contains("found: SELEC"),
        "{all}"
    );
    assert!(stdout.contains("name,score\nAda,9.5\n"), "{all}");
    assert!(stdout.contains("datafusion,public,people,id,"), "{all}");
    if course.is_some() {
        assert!(
            stdout.contains("n,first\n614400,1840-01-16 12:00:00\n"),
            "{all}"
        );
    }
    server.shutdown().await;
}
