//! `quiver serve` end to end: a server started in-process on port 0, real PostgreSQL clients
//! (tokio-postgres, and the `psql` binary where it is installed).

#![cfg(feature = "server")]

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use quiver::server::{Credentials, Server, ServerOptions};
use quiver::{Engine, EngineBuilder};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

pub(crate) const USER: &str = "analyst";
pub(crate) const PASSWORD: &str = "s3cret-pass";

/// The one user the password tests log in as.
pub(crate) fn test_users() -> Vec<Credentials> {
    vec![Credentials {
        user: USER.to_string(),
        password: PASSWORD.to_string(),
    }]
}

pub(crate) fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

/// Starts a server on a free loopback port with a `people` table; it is ready on return.
pub(crate) async fn start(options: ServerOptions) -> Server {
    start_engine(Engine::builder().target_partitions(2), options).await
}

/// [`start`] with an engine of `builder`.
pub(crate) async fn start_engine(builder: EngineBuilder, options: ServerOptions) -> Server {
    let engine = builder.build().unwrap();
    let sql = format!(
        "CREATE TABLE people AS SELECT * FROM read_csv('{}')",
        data("people.csv")
    );
    engine.sql(&sql).await.unwrap().collect().await.unwrap();
    let options = ServerOptions {
        pg_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..options
    };
    Server::start(engine, options).await.unwrap()
}

pub(crate) async fn connect_as(
    server: &Server,
    user: &str,
    password: &str,
) -> Result<Client, tokio_postgres::Error> {
    connect_to(server.pg_addr(), user, password).await
}

/// A client of the server at `addr` (in-process or a child process).
pub(crate) async fn connect_to(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(addr.port())
        .user(user)
        .password(password)
        .dbname("datafusion")
        .connect(NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

pub(crate) async fn connect(server: &Server) -> Client {
    connect_as(server, USER, PASSWORD).await.unwrap()
}

/// The text of the first column of each row of a simple query.
pub(crate) async fn simple(client: &Client, sql: &str) -> Vec<Option<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        })
        .collect()
}

pub(crate) fn code(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.code()
}

/// A `quiver serve` child process, ready for clients.
pub(crate) struct Served {
    pub(crate) child: tokio::process::Child,
    /// The PostgreSQL address its ready line names.
    pub(crate) addr: SocketAddr,
    /// The rest of its stderr, line by line.
    pub(crate) stderr: Lines<BufReader<tokio::process::ChildStderr>>,
}

/// Starts `quiver serve` with `args`, and waits for its ready line (which must not show
/// `PASSWORD`).
pub(crate) async fn spawn_serve(args: &[&OsStr], envs: &[(&str, &str)]) -> Served {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_quiver"))
        .arg("serve")
        .args(args)
        .envs(envs.iter().copied())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), stderr.next_line())
        .await
        .expect("the server is ready within a minute")
        .unwrap()
        .unwrap_or_else(|| panic!("quiver serve {args:?} exited before it was ready"));
    assert!(!line.contains(PASSWORD), "{line}");
    let addr = line
        .split_whitespace()
        .find_map(|word| word.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Served {
        child,
        addr,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_and_extended_queries() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    assert_eq!(
        simple(&client, "SELECT name FROM people ORDER BY id LIMIT 2").await,
        vec![Some("Ada".to_string()), Some("Lovelace, A.".to_string())]
    );
    // several statements in one simple query
    let messages = client.simple_query("SELECT 1; SELECT 2").await.unwrap();
    let rows = messages
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(rows, 2);
    let rows = client
        .query("SELECT id, name FROM people WHERE id = $1", &[&1_i64])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(1), "Ada");
    // a prepared statement, run twice with different parameters
    let statement = client
        .prepare("SELECT count(*) FROM people WHERE score > $1")
        .await
        .unwrap();
    let all: i64 = client
        .query_one(&statement, &[&0.0_f64])
        .await
        .unwrap()
        .get(0);
    let none: i64 = client
        .query_one(&statement, &[&1000.0_f64])
        .await
        .unwrap()
        .get(0);
    assert!(all > 0);
    assert_eq!(none, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_round_trips() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    let row = client
        .query_one(
            "SELECT CAST(42 AS INT) AS i, CAST(9000000000 AS BIGINT) AS b, \
             CAST(1.5 AS DOUBLE) AS f, 'héllo' AS t, DATE '2024-02-29' AS d, \
             TIMESTAMP '2024-02-29 12:34:56' AS ts, true AS yes, \
             CAST(NULL AS INT) AS nothing",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>("i"), 42);
    assert_eq!(row.get::<_, i64>("b"), 9_000_000_000);
    assert_eq!(row.get::<_, f64>("f"), 1.5);
    assert_eq!(row.get::<_, &str>("t"), "héllo");
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    assert_eq!(row.get::<_, NaiveDate>("d"), date);
    let ts = date.and_hms_opt(12, 34, 56).unwrap();
    assert_eq!(row.get::<_, NaiveDateTime>("ts"), ts);
    assert!(row.get::<_, bool>("yes"));
    assert_eq!(row.get::<_, Option<i32>>("nothing"), None);

    // parameters of each type travel to the server and back
    let row = client
        .query_one(
            "SELECT $1::INT + 1, $2::DOUBLE * 2, $3::TEXT || '!', $4::BOOLEAN, $5::DATE",
            &[&41_i32, &1.25_f64, &"hi", &false, &date],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    assert_eq!(row.get::<_, f64>(1), 2.5);
    assert_eq!(row.get::<_, &str>(2), "hi!");
    assert!(!row.get::<_, bool>(3));
    assert_eq!(row.get::<_, NaiveDate>(4), date);
    // the same values through the simple protocol, as text
    assert_eq!(
        simple(&client, "SELECT DATE '2024-02-29'").await,
        vec![Some("2024-02-29".to_string())]
    );
    assert_eq!(
        simple(&client, "SELECT CAST(NULL AS TEXT)").await,
        vec![None]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_sqlstates_and_keep_the_connection() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    let error = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::SYNTAX_ERROR), "{error:?}");
    let error = client
        .query("SELECT * FROM missing_table", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::UNDEFINED_TABLE), "{error:?}");
    let error = client
        .simple_query("SELECT * FROM missing_table")
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::UNDEFINED_TABLE), "{error:?}");
    let error = client
        .query("SELECT CAST('abc' AS INT)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        error.code().map(|c| &c.code()[..2]),
        Some("22"),
        "{error:?}"
    );
    // the connection is still usable after every error
    assert_eq!(
        simple(&client, "SELECT 7").await,
        vec![Some("7".to_string())]
    );
    let n: i64 = client
        .query_one("SELECT 8::BIGINT", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 8);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_have_their_own_settings_and_share_tables() {
    let server = start(ServerOptions::default()).await;
    let a = connect(&server).await;
    let b = connect(&server).await;
    a.simple_query("SET datafusion.execution.batch_size = 123")
        .await
        .unwrap();
    let show = "SELECT value FROM information_schema.df_settings \
                WHERE name = 'datafusion.execution.batch_size'";
    assert_eq!(simple(&a, show).await, vec![Some("123".to_string())]);
    assert_ne!(simple(&b, show).await, vec![Some("123".to_string())]);
    a.simple_query("CREATE TABLE shared_t AS SELECT 5 AS x")
        .await
        .unwrap();
    assert_eq!(
        simple(&b, "SELECT x FROM shared_t").await,
        vec![Some("5".to_string())]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication() {
    let options = ServerOptions {
        users: test_users(),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let client = connect(&server).await;
    assert_eq!(
        simple(&client, "SELECT 1").await,
        vec![Some("1".to_string())]
    );
    let error = connect_as(&server, USER, "wrong").await.err().unwrap();
    assert_eq!(code(&error), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    let error = connect_as(&server, "intruder", PASSWORD)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&error), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let options = ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let first = connect(&server).await;
    let second = connect(&server).await;
    let error = connect_as(&server, USER, PASSWORD).await.err().unwrap();
    assert_eq!(
        code(&error),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{error:?}"
    );
    assert_eq!(
        simple(&second, "SELECT 2").await,
        vec![Some("2".to_string())]
    );
    // a closed connection frees its place (the server notices the close asynchronously)
    drop(first);
    let mut admitted = None;
    for _ in 0..200 {
        if let Ok(client) = connect_as(&server, USER, PASSWORD).await {
            admitted = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = admitted.expect("a place frees up when a client disconnects");
    assert_eq!(
        simple(&third, "SELECT 3").await,
        vec![Some("3".to_string())]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_writes() {
    let options = ServerOptions {
        read_only: true,
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let client = connect(&server).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x.csv");
    for sql in [
        "CREATE TABLE t AS SELECT 1".to_string(),
        "INSERT INTO people (id) VALUES (99)".to_string(),
        "DROP TABLE people".to_string(),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
    ] {
        let error = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(
            code(&error),
            Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
            "{sql}"
        );
        let error = client.query(&sql, &[]).await.unwrap_err();
        assert_eq!(
            code(&error),
            Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
            "{sql}"
        );
    }
    assert!(!target.exists());
    // reads and session settings still work
    assert_eq!(
        simple(&client, "SELECT count(*) FROM people").await.len(),
        1
    );
    client
        .simple_query("SET datafusion.execution.batch_size = 100")
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_through_the_server_writes_the_file() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("people.csv");
    let sql = format!(
        "COPY (SELECT id, name FROM people ORDER BY id) TO '{}'",
        target.display()
    );
    client.simple_query(&sql).await.unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("id,name\n1,Ada\n"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout() {
    let options = ServerOptions {
        statement_timeout: Some(Duration::from_millis(300)),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let client = connect(&server).await;
    // a long computation, and a long stream of rows: both are stopped
    let long = "SELECT count(*) FROM range(1, 100000000000) a";
    let error = client.simple_query(long).await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error:?}");
    let error = client
        .query("SELECT * FROM range(1, 100000000000) a", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error:?}");
    // a client may shorten the limit for its session
    client
        .simple_query("SET statement_timeout = '50ms'")
        .await
        .unwrap();
    let error = client.simple_query(long).await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error:?}");
    assert_eq!(
        simple(&client, "SELECT 1").await,
        vec![Some("1".to_string())]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_the_statement() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    let token = client.cancel_token();
    let long = tokio::spawn(async move {
        let result = client
            .query("SELECT * FROM range(1, 100000000000) a", &[])
            .await;
        (client, result)
    });
    // cancel until the statement reports it (a cancel sent before it starts is a no-op)
    let mut finished = None;
    for _ in 0..500 {
        token.cancel_query(NoTls).await.unwrap();
        if long.is_finished() {
            finished = Some(long.await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (client, result) = finished.expect("the cancelled statement ends");
    let error = result.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error:?}");
    // the connection goes on; a cancel request of the loop above still on its way may hit
    // the next statement (as in PostgreSQL), so allow it a few tries
    let mut answer = None;
    for _ in 0..5 {
        match client.simple_query("SELECT 1").await {
            Ok(messages) => {
                answer = messages.into_iter().find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                });
                break;
            }
            Err(e) => assert_eq!(code(&e), Some(&SqlState::QUERY_CANCELED), "{e:?}"),
        }
    }
    assert_eq!(answer.as_deref(), Some("1"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_client() {
    if !crate::clients::installed("psql", "postgresql-client") {
        return;
    }
    let options = ServerOptions {
        users: test_users(),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let url = format!(
        "host=127.0.0.1 port={} user={USER} dbname=datafusion sslmode=disable",
        server.pg_addr().port()
    );
    let psql = |args: &[&str]| {
        let mut command = tokio::process::Command::new("psql");
        command
            .arg(&url)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(std::process::Stdio::null());
        command.output()
    };
    let output = psql(&["-c", "SELECT name FROM people WHERE id = 1"])
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "Ada");
    // \dt lists tables through pg_catalog
    let output = psql(&["-c", "\\dt"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("people"), "{stdout}");
    // an error is reported with its SQLSTATE, and psql exits non-zero
    let output = psql(&["-v", "VERBOSITY=verbose", "-c", "SELECT * FROM nowhere"])
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("42P01"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiver_serve_command() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init.sql");
    // relative to the data root
    let sql = "CREATE TABLE people AS SELECT * FROM read_csv('people.csv');";
    std::fs::write(&init, sql).unwrap();
    let data_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let args = [
        "--pg",
        "127.0.0.1:0",
        "--user",
        USER,
        "--data-root",
        data_root.to_str().unwrap(),
        "--password-env",
        "QUIVER_TEST_PASSWORD",
        "--read-only",
        "--init",
        init.to_str().unwrap(),
    ]
    .map(OsStr::new);
    let Served {
        mut child, addr, ..
    } = spawn_serve(&args, &[("QUIVER_TEST_PASSWORD", PASSWORD)]).await;
    let client = connect_to(addr, USER, PASSWORD).await.unwrap();
    assert_eq!(
        simple(&client, "SELECT name FROM people WHERE id = 1").await,
        vec![Some("Ada".to_string())]
    );
    let error = client.simple_query("DROP TABLE people").await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    // file access is confined to the data root by default
    let error = client
        .simple_query("SELECT * FROM read_csv('/etc/passwd')")
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_structs_as_json_text() {
    let server = start(ServerOptions::default()).await;
    let client = connect(&server).await;
    let sql = "SELECT [1, NULL, 3] AS l, named_struct('a', 1, 'b', 'x') AS s, \
               [named_struct('k', [1.5])] AS nested";
    let messages = client.simple_query(sql).await.unwrap();
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .unwrap();
    assert_eq!(row.get(0), Some("[1,null,3]"));
    assert_eq!(row.get(1), Some(r#"{"a":1,"b":"x"}"#));
    assert_eq!(row.get(2), Some(r#"[{"k":[1.5]}]"#));
    // the extended protocol describes them as text
    let rows = client.query(sql, &[]).await.unwrap();
    assert_eq!(
        rows[0].columns()[0].type_(),
        &tokio_postgres::types::Type::TEXT
    );
    assert_eq!(rows[0].get::<_, String>(1), r#"{"a":1,"b":"x"}"#);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let options = ServerOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let client = connect(&server).await;
    // a statement that runs longer than the idle timeout is not cut off
    let rows = simple(
        &client,
        "SELECT count(*) FROM range(30000000) a WHERE a.value % 7 = 3",
    )
    .await;
    assert_eq!(rows.len(), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(client.simple_query("SELECT 1").await.is_err());
    assert!(client.is_closed());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiver_serve_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("init.sql"),
        "CREATE TABLE people AS SELECT * FROM read_csv('people.csv');",
    )
    .unwrap();
    let config = dir.path().join("quiver.toml");
    let text = format!(
        r#"
        pg = "127.0.0.1:0"
        init = ["init.sql"]
        data_root = "{}"
        max_connections = 4
        [[users]]
        name = "reader"
        password_env = "QUIVER_TEST_READER"
        [[users]]
        name = "writer"
        password = "{PASSWORD}"
        "#,
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .display()
    );
    std::fs::write(&config, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let args = [OsStr::new("--config"), config.as_os_str()];
    let Served {
        mut child, addr, ..
    } = spawn_serve(&args, &[("QUIVER_TEST_READER", "reader-pass")]).await;
    for (user, password) in [("reader", "reader-pass"), ("writer", PASSWORD)] {
        let client = connect_to(addr, user, password).await.unwrap();
        assert_eq!(
            simple(&client, "SELECT name FROM people WHERE id = 1").await,
            vec![Some("Ada".to_string())]
        );
    }
    let refused = connect_to(addr, "reader", PASSWORD).await;
    assert!(refused.is_err());
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_memory_limit_fails_only_that_query() {
    // Two partitions: repartitions under a memory limit used to hang about one query in a
    // hundred (apache/datafusion#24883; `repartition_memory.rs`); the timeout below would
    // catch it.
    let builder = Engine::builder()
        .target_partitions(2)
        .query_memory_limit(256 * 1024);
    let server = start_engine(builder, ServerOptions::default()).await;
    let client = connect(&server).await;
    let other = connect(&server).await;
    // a group-by over 300,000 groups needs far more than 256 KB
    let heavy = "SELECT n % 300000 AS k, count(*) FROM generate_series(1, 600000) AS t(n) \
                 GROUP BY k ORDER BY k DESC LIMIT 1";
    for _ in 0..3 {
        let error = tokio::time::timeout(Duration::from_secs(60), client.simple_query(heavy))
            .await
            .expect("a query over its memory limit fails instead of hanging")
            .unwrap_err();
        assert_eq!(code(&error), Some(&SqlState::OUT_OF_MEMORY), "{error:?}");
        let message = error.as_db_error().unwrap().message();
        assert!(
            message.contains("query memory limit of 256.0 KB"),
            "{message}"
        );
    }
    // small queries, on this connection and on another, still work
    assert_eq!(
        simple(&client, "SELECT count(*) FROM people").await.len(),
        1
    );
    assert_eq!(
        simple(
            &other,
            "SELECT n % 3 AS k, count(*) FROM generate_series(1, 600) AS t(n) GROUP BY k"
        )
        .await
        .len(),
        3
    );
    server.shutdown().await;
}
