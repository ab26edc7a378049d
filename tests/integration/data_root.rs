//! `quiver serve --data-root DIR --output-dir DIR`: file paths in SQL stay inside the data
//! root (reads) and the output directory (writes); everything else is refused with SQLSTATE
//! 42501 on a connection that stays usable. Real clients: tokio-postgres and Flight SQL.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use quiver::server::{Server, ServerOptions};
use quiver::{Engine, FileAccess};
use tempfile::TempDir;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// `dir/root` (the data root: people.csv, sub/people.csv, and symbolic links leading out),
/// `dir/out` (the output directory), `dir/secret.csv` (outside both).
struct Fixture {
    dir: TempDir,
    root: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = dir.path().join("out");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let people = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/people.csv");
    std::fs::copy(&people, root.join("people.csv")).unwrap();
    std::fs::copy(&people, root.join("sub/people.csv")).unwrap();
    std::fs::write(dir.path().join("secret.csv"), "secret\n42\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.csv"), root.join("link.csv")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    }
    Fixture { dir, root, out }
}

async fn start(fixture: &Fixture, output: bool) -> Server {
    let mut access = FileAccess::confined(&fixture.root).unwrap();
    if output {
        access = access.with_output_dir(&fixture.out).unwrap();
    }
    let engine = Engine::builder()
        .target_partitions(2)
        .file_access(access)
        .build()
        .unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = ServerOptions {
        pg_addr: loopback,
        ..ServerOptions::default()
    };
    Server::start(engine, options).await.unwrap()
}

async fn connect(server: &Server) -> Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(server.pg_addr().port())
        .user("anyone")
        .dbname("datafusion")
        .connect(NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The first column of the first row, as text.
async fn scalar(client: &Client, sql: &str) -> String {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    messages
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no rows"))
}

/// Runs `sql` and expects SQLSTATE 42501 with a message naming the reason.
async fn refused(client: &Client, sql: &str) {
    let error = client
        .simple_query(sql)
        .await
        .expect_err(&format!("{sql} should be refused"));
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("{sql}: {error:?}"));
    assert_eq!(
        db.code(),
        &SqlState::INSUFFICIENT_PRIVILEGE,
        "{sql}: {db:?}"
    );
    assert!(db.message().contains("permission denied"), "{sql}: {db:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_root_reads_inside() {
    let fixture = fixture();
    let server = start(&fixture, false).await;
    let client = connect(&server).await;
    // relative paths resolve against the data root, not the server's current directory
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM 'people.csv'").await,
        "4"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM read_csv('sub/*.csv')").await,
        "4"
    );
    let absolute = fixture.root.canonicalize().unwrap().join("people.csv");
    let sql = format!("SELECT count(*) FROM read_csv('{}')", absolute.display());
    assert_eq!(scalar(&client, &sql).await, "4");
    client
        .simple_query(
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION 'sub/' \
             OPTIONS ('format.has_header' 'true')",
        )
        .await
        .unwrap();
    assert_eq!(scalar(&client, "SELECT count(*) FROM p").await, "4");
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM read_lines('people.csv')").await,
        "5"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_root_refuses_paths_outside() {
    let fixture = fixture();
    let server = start(&fixture, false).await;
    let client = connect(&server).await;
    let secret = fixture.dir.path().join("secret.csv");
    let secret = secret.display();
    for sql in [
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT * FROM read_csv('/etc/passwd')".to_string(),
        format!("SELECT * FROM '{secret}'"),
        "SELECT * FROM read_csv('../secret.csv')".to_string(),
        "SELECT * FROM read_csv('sub/../../secret.csv')".to_string(),
        "SELECT * FROM read_text('/etc/hostname')".to_string(),
        "SELECT * FROM read_netcdf('/tmp/x.nc')".to_string(),
        "SELECT * FROM read_parquet('s3://bucket/x.parquet')".to_string(),
        "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "COPY (SELECT 1 AS x) TO 'x.csv'".to_string(),
    ] {
        refused(&client, &sql).await;
    }
    #[cfg(unix)]
    for sql in [
        // a file and a directory that are symbolic links leading out
        "SELECT * FROM 'link.csv'",
        "SELECT * FROM read_csv('up/secret.csv')",
        // a glob that matches one
        "SELECT * FROM read_csv('*.csv')",
        // a directory listed at run time that holds one
        "CREATE EXTERNAL TABLE d STORED AS CSV LOCATION './' OPTIONS ('format.has_header' 'true')",
    ] {
        refused(&client, sql).await;
    }
    // the connection goes on
    assert_eq!(scalar(&client, "SELECT 1 + 1").await, "2");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_writes_only_into_the_output_dir() {
    let fixture = fixture();
    let server = start(&fixture, true).await;
    let client = connect(&server).await;
    let target = fixture.out.canonicalize().unwrap().join("x.csv");
    let sql = format!("COPY (SELECT 1 AS x) TO '{}'", target.display());
    client.simple_query(&sql).await.unwrap();
    assert!(target.is_file());
    refused(&client, "COPY (SELECT 1 AS x) TO 'y.csv'").await;
    let outside = fixture.dir.path().join("z.csv");
    let sql = format!("COPY (SELECT 1 AS x) TO '{}'", outside.display());
    refused(&client, &sql).await;
    assert!(!outside.exists());
    assert!(!fixture.root.join("y.csv").exists());
    server.shutdown().await;
}
