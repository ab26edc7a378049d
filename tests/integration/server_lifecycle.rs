//! The edges of a connection's life in `quiver serve`: graceful shutdown on SIGTERM (a child
//! process), the authentication timeout (raw TCP clients), and clients that go away in the
//! middle of a query (PostgreSQL and Flight SQL).

#![cfg(feature = "server")]

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use quiver::server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::server::{
    PASSWORD, Served, USER, code, connect_to, simple, spawn_serve, start, test_users,
};

/// Starts a query whose rows take a while to stream (and fill the socket buffers) with the
/// simple protocol, which sends rows as they come: once its first row has arrived, the
/// statement is certainly running on the server. The rest of its rows, or its error.
async fn streaming(
    client: &Client,
    rows: u64,
) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + use<> {
    let sql = format!("SELECT value FROM range({rows})");
    let mut stream = Box::pin(client.simple_query_raw(&sql).await.unwrap());
    let first = async {
        while let Some(message) = stream.next().await {
            if let SimpleQueryMessage::Row(row) = message.unwrap() {
                return row.get(0).map(str::to_string);
            }
        }
        None
    };
    let first = tokio::time::timeout(Duration::from_secs(20), first)
        .await
        .expect("the first row within 20 s");
    assert_eq!(first.as_deref(), Some("0"));
    async move {
        let mut rest = 0;
        while let Some(message) = stream.try_next().await? {
            rest += u64::from(matches!(message, SimpleQueryMessage::Row(_)));
        }
        Ok(rest)
    }
}

/// Sends SIGTERM to the server and waits for its "shutting down" line.
async fn terminate(served: &mut Served) {
    let pid = served.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), served.stderr.next_line())
            .await
            .expect("the server reacts to SIGTERM")
            .unwrap()
            .expect("a line before the server exits");
        if line.contains("shutting down") {
            return;
        }
    }
}

/// Waits (bounded) until new clients are refused.
async fn refuses_new_clients(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while connect_to(addr, USER, PASSWORD).await.is_ok() {
        assert!(Instant::now() < deadline, "new clients are still accepted");
        tokio::task::yield_now().await;
    }
}

async fn serve_with_grace(grace: &str) -> Served {
    let args = ["--pg", "127.0.0.1:0", "--shutdown-grace", grace].map(OsStr::new);
    spawn_serve(&args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_queries_finish() {
    let mut served = serve_with_grace("60s").await;
    let client = connect_to(served.addr, USER, PASSWORD).await.unwrap();
    let idle = connect_to(served.addr, USER, PASSWORD).await.unwrap();
    let rows = 3_000_000;
    let stream = streaming(&client, rows).await;
    terminate(&mut served).await;
    let started = Instant::now();
    // the rest of the rows keep coming while the server refuses new clients
    let rest = tokio::spawn(stream);
    refuses_new_clients(served.addr).await;
    let rest = tokio::time::timeout(Duration::from_secs(60), rest)
        .await
        .expect("the query finishes within the grace period")
        .unwrap();
    let rest = match rest {
        Ok(rest) => rest,
        Err(e) => {
            let status = served.child.wait().await;
            let mut lines = Vec::new();
            while let Ok(Some(line)) = served.stderr.next_line().await {
                lines.push(line);
            }
            panic!("{e:?} {status:?} {lines:?}");
        }
    };
    assert_eq!(rest, rows - 1);
    let status = tokio::time::timeout(Duration::from_secs(10), served.child.wait())
        .await
        .expect("the server exits once its queries are done")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // the idle connection was closed with the server
    assert!(idle.simple_query("SELECT 1").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_queries_after_the_grace_period() {
    let mut served = serve_with_grace("1s").await;
    let client = connect_to(served.addr, USER, PASSWORD).await.unwrap();
    let stream = streaming(&client, 100_000_000_000).await;
    terminate(&mut served).await;
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(20), stream)
        .await
        .expect("the query is interrupted")
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::ADMIN_SHUTDOWN), "{error:?}");
    let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
        .await
        .expect("the server exits promptly")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// A PostgreSQL startup message (protocol 3.0) for `user`.
fn startup_message(user: &str) -> Vec<u8> {
    let mut body = 196_608_i32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "datafusion", ""] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

/// Reads until the server closes the connection; how long that took.
async fn until_closed(socket: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0_u8; 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
            .await
            .expect("the server closes a client that does not log in");
        match read {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_log_in_are_closed() {
    let options = ServerOptions {
        users: test_users(),
        auth_timeout: Duration::from_millis(500),
        max_connections: 1,
        ..ServerOptions::default()
    };
    let server = start(options).await;
    // a client that sends nothing holds the only slot until the timeout
    let mut silent = TcpStream::connect(server.pg_addr()).await.unwrap();
    let refused = connect_to(server.pg_addr(), USER, PASSWORD).await.err();
    assert_eq!(
        refused.as_ref().and_then(code),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused:?}"
    );
    let waited = until_closed(&mut silent).await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // then the slot is free again (the server notices the close asynchronously)
    let deadline = Instant::now() + Duration::from_secs(5);
    let client = loop {
        match connect_to(server.pg_addr(), USER, PASSWORD).await {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "{e:?}"),
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(simple(&client, "SELECT 1").await, [Some("1".to_string())]);
    drop(client);
    // a client that starts up but never answers the password challenge
    let mut stalled = loop {
        let mut socket = TcpStream::connect(server.pg_addr()).await.unwrap();
        socket.write_all(&startup_message(USER)).await.unwrap();
        let mut kind = [0_u8; 1];
        socket.read_exact(&mut kind).await.unwrap();
        if kind[0] == b'R' {
            break socket; // the authentication request
        }
        // 'E': the previous client's slot is not free yet
        assert!(Instant::now() < deadline, "no authentication request");
        tokio::task::yield_now().await;
    };
    let waited = until_closed(&mut stalled).await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    server.shutdown().await;
}

/// CPU time (user + system, in clock ticks: 1/100 s on Linux) the process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_stops_its_query() {
    if !crate::clients::installed("psql", "postgresql-client") {
        return;
    }
    let served = serve_with_grace("1s").await;
    let server = served.child.id().unwrap();
    let mut psql = tokio::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &served.addr.port().to_string(),
            "-U",
            USER,
        ])
        .args(["-d", "postgres", "-c"])
        .arg("SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3")
        .env("PGPASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until_busy(server).await;
    psql.kill().await.unwrap();
    assert_idle_soon(server).await;
    let client = connect_to(served.addr, USER, PASSWORD).await.unwrap();
    assert_eq!(
        simple(&client, "SELECT 1").await,
        vec![Some("1".to_string())]
    );
}

/// Waits until the server `pid` has used half a second of CPU: the query is running.
async fn until_busy(pid: u32) {
    let start = cpu_ticks(pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cpu_ticks(pid) < start + 50 {
        assert!(Instant::now() < deadline, "the query did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that within a second the server `pid` stops working: the next two seconds use
/// (almost) no CPU, where the query would use up to two cores' worth (400 ticks).
async fn assert_idle_soon(pid: u32) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 50,
        "the server used {used} ticks in 2 s after the client went away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_client_that_goes_away_stops_its_query() {
    use arrow_flight::sql::client::FlightSqlServiceClient;
    let args = ["--pg", "127.0.0.1:0", "--flight", "127.0.0.1:0"].map(OsStr::new);
    let mut served = spawn_serve(&args, &[]).await;
    let line = served.stderr.next_line().await.unwrap().unwrap();
    let flight = line
        .split_whitespace()
        .find_map(|word| word.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no Flight address in {line:?}"));
    let server = served.child.id().unwrap();
    let connect = || async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{flight}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    };
    let mut client = connect().await;
    let sql = "SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3";
    let info = client.execute(sql.to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let rows = client.do_get(ticket).await.unwrap();
    until_busy(server).await;
    drop(rows);
    drop(client);
    assert_idle_soon(server).await;
    // The server goes on serving.
    let mut client = connect().await;
    let info = client.execute("SELECT 1".to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<_> = client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches[0].num_rows(), 1);
}
