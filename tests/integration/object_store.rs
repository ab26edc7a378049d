//! Files in object stores, read by the same SQL as local files: over HTTP from a real
//! nginx (Debian `nginx-light`), whose request log shows which byte ranges a query fetched,
//! and from S3 as served by moto's S3 server (`python3 -m moto.server`, from
//! `pip install 'moto[server]'`). Each answer is
//! compared with the one the local file gives.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use quiver::datafusion::arrow::util::pretty::pretty_format_batches;

use crate::netcdf::{course_data, query, query_err};
use crate::netcdf_fixtures::fixture;

/// A child process (a server) killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on loopback (the listener is closed again before the server binds it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts `command` as a server on `addr` and waits (at most 30 s) until it accepts
/// connections.
fn serve(mut command: Command, addr: SocketAddr) -> Server {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("{command:?} exited before serving: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{command:?} is not serving {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// nginx serving `root` on a free loopback port, logging each request's method, path,
/// status, body bytes sent and `Range` header to `dir/access.log`. One process (no master
/// and workers), so that killing it leaves nothing behind.
pub(crate) fn nginx(dir: &Path, root: &Path) -> Server {
    let port = free_port();
    let conf = format!(
        "{user}master_process off;\nerror_log {dir}/error.log;\npid {dir}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           log_format ranges '$request_method $uri $status $body_bytes_sent \"$http_range\"';\n\
           access_log {dir}/access.log ranges;\n\
           client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
           fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
           server {{ listen 127.0.0.1:{port}; root {root}; }}\n\
         }}\n",
        // As root nginx would serve as `nobody`, who cannot read a private temporary folder.
        user = if is_root() { "user root;\n" } else { "" },
        dir = dir.display(),
        root = root.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"]);
    serve(command, ([127, 0, 0, 1], port).into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// One request of nginx's log.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    path: String,
    status: u16,
    pub(crate) bytes: u64,
    range: String,
}

/// The requests logged so far, emptying the log.
pub(crate) fn take_log(dir: &Path) -> Vec<Request> {
    let log = dir.join("access.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(&log, "").unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ' ').collect();
            Request {
                method: fields[0].to_string(),
                path: fields[1].to_string(),
                status: fields[2].parse().unwrap(),
                bytes: fields[3].parse().unwrap(),
                range: fields[4].trim_matches('"').to_string(),
            }
        })
        .collect()
}

fn text(batches: &[quiver::datafusion::arrow::array::RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// A folder for nginx to serve, with links to `files` (name, path).
pub(crate) fn served(files: &[(&str, PathBuf)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("www")).unwrap();
    for (name, path) in files {
        std::os::unix::fs::symlink(path, dir.path().join("www").join(name)).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_over_http_fetches_only_the_chunks_a_query_needs() {
    let Some(course) = course_data() else { return };
    if !crate::clients::runs("nginx", &["-v"], "apt-get install nginx-light") {
        return;
    }
    let dir = served(&[
        ("tas1840.nc", course.join("tas1840.nc")),
        ("tas1841.nc", course.join("tas1841.nc")),
    ]);
    let server = nginx(dir.path(), &dir.path().join("www"));
    let base = format!("http://{}", server.addr);
    let local = course.join("tas1840.nc").display().to_string();
    let size = std::fs::metadata(&local).unwrap().len();

    // One month of one file: its metadata and one chunk, by range requests only.
    let month = |from: &str| {
        format!(
            "SELECT count(*) AS n, avg(tas) AS mean, min(tas) AS lo, max(tas) AS hi FROM read_netcdf('{from}') WHERE time < '1840-02-01'"
        )
    };
    let remote = query(&month(&format!("{base}/tas1840.nc"))).await;
    assert_eq!(text(&remote), text(&query(&month(&local)).await));
    let log = take_log(dir.path());
    let gets: Vec<&Request> = log.iter().filter(|r| r.method == "GET").collect();
    assert!(!gets.is_empty(), "{log:?}");
    for get in &gets {
        assert_eq!(get.path, "/tas1840.nc", "{get:?}");
        assert_eq!(get.status, 206, "a GET without a range: {get:?}");
        assert!(get.range.starts_with("bytes="), "{get:?}");
    }
    let fetched: u64 = gets.iter().map(|r| r.bytes).sum();
    assert!(
        fetched * 5 < size,
        "one month fetched {fetched} of the file's {size} bytes: {log:?}"
    );

    // The whole of both files, through FROM '<url>' and the dense aggregation.
    for from in ["tas1840.nc", "tas1841.nc"] {
        let sql = |path: &str| {
            format!(
                "SELECT date_part('month', time) AS m, avg(tas) AS mean, stddev(tas) AS sd FROM '{path}' GROUP BY 1 ORDER BY 1"
            )
        };
        let local = course.join(from).display().to_string();
        let remote = query(&sql(&format!("{base}/{from}"))).await;
        assert_eq!(text(&remote), text(&query(&sql(&local)).await), "{from}");
    }
    let fetched: u64 = take_log(dir.path()).iter().map(|r| r.bytes).sum();
    assert!(
        fetched >= size,
        "all of two files fetched only {fetched} bytes"
    );

    // Errors name the URL.
    let missing = query_err(&format!("SELECT * FROM read_netcdf('{base}/tas1900.nc')")).await;
    assert!(
        missing.contains(&format!("no such file: '{base}/tas1900.nc'")),
        "{missing}"
    );
    let glob = query_err(&format!("SELECT * FROM read_netcdf('{base}/tas*.nc')")).await;
    assert!(glob.contains("cannot list files"), "{glob}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdf5_parquet_csv_and_text_over_http() {
    let Some(course) = course_data() else { return };
    if !crate::clients::runs("nginx", &["-v"], "apt-get install nginx-light") {
        return;
    }
    let book = course.join("books/pg101.txt");
    let dir = served(&[
        ("chunked.h5", PathBuf::from(fixture("chunked.h5"))),
        ("results.csv", course.join("results.csv")),
        ("pg101.txt", book.clone()),
    ]);
    let parquet = dir.path().join("www/tas1840.parquet");
    let tas = course.join("tas1840.nc").display().to_string();
    query(&format!(
        "COPY (SELECT * FROM '{tas}' ORDER BY time, lat, lon) TO '{}'",
        parquet.display()
    ))
    .await;
    let server = nginx(dir.path(), &dir.path().join("www"));
    let base = format!("http://{}", server.addr);

    let pairs = [
        (
            format!(
                "SELECT c, count(*), sum(\"values\"), max(\"values\") FROM read_hdf5('{base}/chunked.h5', 'grid/values') WHERE t < 5 GROUP BY c ORDER BY c"
            ),
            format!(
                "SELECT c, count(*), sum(\"values\"), max(\"values\") FROM read_hdf5('{}', 'grid/values') WHERE t < 5 GROUP BY c ORDER BY c",
                fixture("chunked.h5")
            ),
        ),
        (
            format!(
                "SELECT count(*), avg(tas) FROM read_parquet('{base}/tas1840.parquet') WHERE time < '1840-03-01'"
            ),
            format!(
                "SELECT count(*), avg(tas) FROM read_parquet('{}') WHERE time < '1840-03-01'",
                parquet.display()
            ),
        ),
        (
            format!("SELECT * FROM '{base}/results.csv' AS r ORDER BY 1 LIMIT 5"),
            format!(
                "SELECT * FROM '{}' AS r ORDER BY 1 LIMIT 5",
                course.join("results.csv").display()
            ),
        ),
        (
            format!("SELECT count(*), sum(length(line)) FROM read_lines('{base}/pg101.txt')"),
            format!(
                "SELECT count(*), sum(length(line)) FROM read_lines('{}')",
                book.display()
            ),
        ),
    ];
    for (remote, local) in pairs {
        let remote_rows = text(&query(&remote).await);
        assert_eq!(remote_rows, text(&query(&local).await), "{remote}");
        let log = take_log(dir.path());
        assert!(log.iter().any(|r| r.method == "GET"), "{remote}: {log:?}");
        if remote.contains("parquet") || remote.contains("hdf5") {
            for get in log.iter().filter(|r| r.method == "GET") {
                assert_eq!(get.status, 206, "{remote}: a GET without a range: {get:?}");
            }
        }
    }
}

/// moto's S3 server on a free loopback port.
fn moto() -> Option<Server> {
    if !crate::clients::runs(
        "python3",
        &["-c", "import moto.server"],
        "pip install 'moto[server]'",
    ) {
        return None;
    }
    let port = free_port();
    let mut command = Command::new("python3");
    command.args([
        "-m",
        "moto.server",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ]);
    Some(serve(command, ([127, 0, 0, 1], port).into()))
}

/// Creates `bucket` (an unsigned `PUT /bucket`, which moto accepts).
fn create_bucket(addr: SocketAddr, bucket: &str) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// `quiver -c sql` with S3 settings pointing at `endpoint`; its stdout, or its stderr when
/// it fails.
fn quiver_s3(endpoint: SocketAddr, sql: &str) -> Result<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["-c", sql])
        .env("AWS_ENDPOINT", format!("http://{endpoint}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "quiver")
        .env("AWS_SECRET_ACCESS_KEY", "quiver-secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    match output.status.success() {
        true => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

fn quiver_local(sql: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["-c", sql])
        .output()
        .unwrap();
    assert!(output.status.success(), "{sql}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_globs_reads_and_writes_through_moto() {
    let Some(course) = course_data() else { return };
    let Some(server) = moto() else { return };
    create_bucket(server.addr, "quiver-test");
    let store = AmazonS3Builder::new()
        .with_bucket_name("quiver-test")
        .with_endpoint(format!("http://{}", server.addr))
        .with_allow_http(true)
        .with_access_key_id("quiver")
        .with_secret_access_key("quiver-secret")
        .with_region("us-east-1")
        .build()
        .unwrap();
    for name in ["tas1840.nc", "tas1841.nc", "results.csv"] {
        let bytes = std::fs::read(course.join(name)).unwrap();
        store
            .put(&StorePath::from(format!("course/{name}")), bytes.into())
            .await
            .unwrap();
    }
    let local = course.display();
    let climate = |from: &str| {
        format!(
            "SELECT date_part('year', time) AS y, count(*) AS n, avg(tas) AS mean FROM read_netcdf('{from}') GROUP BY 1 ORDER BY 1"
        )
    };
    assert_eq!(
        quiver_s3(server.addr, &climate("s3://quiver-test/course/tas184*.nc")).unwrap(),
        quiver_local(&climate(&format!("{local}/tas184[01].nc")))
    );
    let words = |from: &str| format!("SELECT count(*) AS n, sum(word1) AS w1 FROM '{from}'");
    assert_eq!(
        quiver_s3(server.addr, &words("s3://quiver-test/course/results.csv")).unwrap(),
        quiver_local(&words(&format!("{local}/results.csv")))
    );

    // COPY TO an S3 key, read back through a glob.
    let copy = "COPY (SELECT * FROM 's3://quiver-test/course/tas1840.nc' WHERE lat > 80) TO 's3://quiver-test/out/north.parquet'";
    quiver_s3(server.addr, copy).unwrap();
    let north =
        |from: &str| format!("SELECT count(*) AS n, avg(tas) AS mean FROM read_parquet('{from}')");
    let local_north = format!("(SELECT * FROM '{local}/tas1840.nc' WHERE lat > 80) AS t");
    assert_eq!(
        quiver_s3(server.addr, &north("s3://quiver-test/out/*.parquet")).unwrap(),
        quiver_local(&format!(
            "SELECT count(*) AS n, avg(tas) AS mean FROM {local_north}"
        ))
    );

    let missing = quiver_s3(
        server.addr,
        "SELECT * FROM 's3://quiver-test/course/tas1900.nc'",
    )
    .unwrap_err();
    assert!(
        missing.contains("no such file: 's3://quiver-test/course/tas1900.nc'"),
        "{missing}"
    );
    let none = quiver_s3(
        server.addr,
        "SELECT * FROM read_netcdf('s3://quiver-test/nothing/*.nc')",
    )
    .unwrap_err();
    assert!(none.contains("no files match"), "{none}");
}
