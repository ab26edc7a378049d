//! `quiver serve --tls-cert --tls-key`: both protocols over TLS with a certificate made at
//! test time by the `openssl` command (the test skips, saying why, where it is missing);
//! psql and the Flight SQL client verify it, and clients without TLS are refused.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use quiver::Engine;
use quiver::server::{Server, ServerOptions, TlsIdentity};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::server::{PASSWORD, USER, test_users};

/// A self-signed certificate for `localhost` and 127.0.0.1, or `None` without `openssl`.
fn make_certificate(dir: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // an end-entity certificate that is its own trust anchor (rustls refuses a CA here)
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => {
            Some((std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()))
        }
        _ => {
            eprintln!(
                "skipping: the openssl command is missing or failed (apt-get install openssl)"
            );
            None
        }
    }
}

async fn start(cert: &[u8], key: &[u8]) -> Server {
    let engine = Engine::builder().target_partitions(2).build().unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = ServerOptions {
        pg_addr: loopback,
        flight_addr: Some(loopback),
        users: test_users(),
        tls: Some(TlsIdentity::from_pem(cert, key).unwrap()),
        ..ServerOptions::default()
    };
    Server::start(engine, options).await.unwrap()
}

#[test]
fn bad_certificates_are_refused() {
    let error = TlsIdentity::from_pem("not a certificate", "not a key").unwrap_err();
    assert!(error.to_string().contains("invalid TLS"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_for_postgres_clients() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = make_certificate(dir.path()) else {
        return;
    };
    let server = start(&cert, &key).await;
    let port = server.pg_addr().port();
    // a client without TLS is refused
    let plain = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(USER)
        .password(PASSWORD)
        .connect(tokio_postgres::NoTls)
        .await;
    let error = plain.err().expect("a client without TLS must be refused");
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error:?}"));
    assert!(db.message().contains("requires TLS"), "{db:?}");
    // psql verifies the certificate and the host name
    if !crate::clients::installed("psql", "postgresql-client") {
        server.shutdown().await;
        return;
    }
    let conninfo = format!(
        "host=localhost port={port} user={USER} dbname=datafusion sslmode=verify-full sslrootcert={}",
        dir.path().join("cert.pem").display()
    );
    let output = tokio::process::Command::new("psql")
        .args([conninfo.as_str(), "-At", "-c", "SELECT 40 + 2"])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "42", "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_for_flight_sql_clients() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = make_certificate(dir.path()) else {
        return;
    };
    let server = start(&cert, &key).await;
    let addr = server.flight_addr().unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    client.handshake(USER, PASSWORD).await.unwrap();
    let info = client
        .execute("SELECT 40 + 2".to_string(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<RecordBatch> = client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        batches[0].column(0).as_primitive::<Int64Type>().value(0),
        42
    );
    // a client without TLS gets nowhere
    let plain = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut client = FlightSqlServiceClient::new(channel);
        assert!(client.handshake(USER, PASSWORD).await.is_err());
    }
    server.shutdown().await;
}
