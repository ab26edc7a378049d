//! quiver on a Ballista cluster (feature `cluster`): a scheduler and two executors in this
//! process on free loopback ports, the course climate queries and word count compared with
//! the local engine, scans read once (no partition read twice), a plan the cluster cannot
//! run refused with its name, and executors killed mid-query or restarted.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use quiver::Engine;
use quiver::cluster::{ClusterScheduler, ExecutorOptions, run_executor};
use quiver::datafusion::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use quiver::datafusion::arrow::compute::{cast, concat_batches};
use quiver::datafusion::arrow::datatypes::DataType;

/// A loopback port free now (the OS's pick for port 0, released for the executor to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler on a free loopback port.
async fn scheduler() -> ClusterScheduler {
    ClusterScheduler::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A scheduler with `executors` executors of two slots each, all registered.
async fn start_cluster(executors: usize) -> ClusterScheduler {
    let scheduler = scheduler().await;
    for _ in 0..executors {
        let bind = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut options = ExecutorOptions::new(scheduler.address(), bind, free_port());
        options.slots = Some(2);
        tokio::spawn(async move {
            if let Err(e) = run_executor(options).await {
                eprintln!("executor on {bind} stopped: {e}");
            }
        });
    }
    scheduler
        .wait_for_executors(executors, Duration::from_secs(60))
        .await
        .unwrap();
    scheduler
}

async fn collect(engine: &Engine, sql: &str) -> RecordBatch {
    let frame = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let schema = frame.schema().inner().clone();
    let batches = tokio::time::timeout(Duration::from_secs(300), frame.collect())
        .await
        .unwrap_or_else(|_| panic!("{sql}: no answer within 300 s"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    concat_batches(&schema, &batches).unwrap()
}

/// A value of a result: floats compared to a relative 1e-6 (the cluster aggregates in
/// another order than the local engine, and its stddev is DataFusion's, not the dense
/// aggregation's), everything else as text.
#[derive(Debug)]
enum Value {
    Float(f64),
    Text(String),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => {
                a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
            }
            (Value::Text(a), Value::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        matches!(self, Value::Text(text) if text == other)
    }
}

/// The values of `batch`, row by row.
fn rows(batch: &RecordBatch) -> Vec<Vec<Value>> {
    let columns: Vec<Vec<Value>> = batch
        .columns()
        .iter()
        .map(|column| {
            if column.data_type().is_floating() {
                let values = cast(column, &DataType::Float64).unwrap();
                let values = values.as_any().downcast_ref::<Float64Array>().unwrap();
                (0..values.len())
                    .map(|i| Value::Float(values.value(i)))
                    .collect()
            } else {
                let text = cast(column, &DataType::Utf8).unwrap();
                let text = text.as_any().downcast_ref::<StringArray>().unwrap();
                (0..text.len())
                    .map(|i| {
                        Value::Text(
                            if text.is_valid(i) {
                                text.value(i)
                            } else {
                                "NULL"
                            }
                            .into(),
                        )
                    })
                    .collect()
            }
        })
        .collect();
    let mut columns: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
    (0..batch.num_rows())
        .map(|_| columns.iter_mut().filter_map(Iterator::next).collect())
        .collect()
}

async fn assert_same(local: &Engine, cluster: &Engine, sql: &str) -> RecordBatch {
    let expected = collect(local, sql).await;
    let got = collect(cluster, sql).await;
    assert_eq!(rows(&got), rows(&expected), "{sql}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn course_queries_run_on_two_executors() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let scheduler = start_cluster(2).await;
    let local = Engine::builder().target_partitions(4).build().unwrap();
    let cluster = Engine::builder()
        .target_partitions(4)
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    let tas = format!("'{}/tas*.nc'", data.display());
    let mut climate = crate::dense::climate_queries(&tas).to_vec();
    climate.push(format!(
        "SELECT date_part('year', time) AS y, avg(tas) AS m FROM read_netcdf({tas}, \
         nearest => 'lat=59.33, lon=18.07') GROUP BY 1 ORDER BY 1"
    ));
    // Every block read exactly once: counts and sums over the raw scan.
    climate.push(format!(
        "SELECT count(tas), sum(tas), min(time), max(time) FROM {tas}"
    ));
    for sql in &climate {
        assert_same(&local, &cluster, sql).await;
    }

    let books = format!("'{}/books/pg*.txt'", data.display());
    let words = format!(
        "SELECT w, count(*) AS n FROM (SELECT unnest(tokenize(content)) AS w FROM read_text({books})) \
         GROUP BY w ORDER BY n DESC, w LIMIT 20"
    );
    let top = assert_same(&local, &cluster, &words).await;
    assert_eq!(rows(&top)[0], ["the", "198682"]);
    let totals = format!(
        "SELECT count(*), count(DISTINCT w) FROM (SELECT unnest(tokenize(content)) AS w FROM read_text({books}))"
    );
    let totals = assert_same(&local, &cluster, &totals).await;
    assert_eq!(rows(&totals), [["5022072", "364463"]]);
    let lines =
        format!("SELECT count(*), sum(length(line)), max(line_number) FROM read_lines({books})");
    assert_same(&local, &cluster, &lines).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiver_functions_run_on_the_cluster() {
    let scheduler = start_cluster(1).await;
    let local = Engine::new().unwrap();
    let cluster = Engine::builder()
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    let queries = [
        // curve_fit's result type depends on its constant model: it travels with the call.
        "SELECT g, round(f['params']['a'], 9), round(f['params']['b'], 9) FROM (\
           SELECT g, curve_fit('linear', x, y) AS f FROM (VALUES ('a', 1, 3), ('a', 2, 5), \
           ('a', 3, 7), ('b', 1, 2), ('b', 2, 4), ('b', 4, 8)) t(g, x, y) GROUP BY g) ORDER BY g",
        "SELECT round(f['params']['a'], 9), round(f['params']['tau'], 9) FROM (\
           SELECT curve_fit('a * exp(-x / tau)', x, 5 * exp(-x / 2.5)) AS f \
           FROM (VALUES (0.0), (1.0), (2.0), (3.0), (4.0), (5.0)) t(x))",
        "SELECT polyfit(x, y, 2) FROM (VALUES (0, 1), (1, 2), (2, 5), (3, 10.5)) t(x, y)",
        "SELECT w, count(*) FROM (SELECT unnest(tokenize('The cat and the hat, the end')) AS w) \
           GROUP BY w ORDER BY w",
        "SELECT t, ffill(v) OVER (ORDER BY t) FROM (VALUES (1, 1.5), (2, NULL), (3, 3.5)) s(t, v) \
           ORDER BY t",
    ];
    for sql in queries {
        assert_same(&local, &cluster, sql).await;
    }
    // GPU placement is local: with quiver.gpu = 'on' the cluster's executors fit on their
    // CPUs (the scheduler plans with the GPU off), with the same answers.
    let on_gpu = Engine::builder()
        .option("quiver.gpu", "on")
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    let list = "SELECT g, round(f['params']['a'], 9), round(f['params']['b'], 9) FROM (\
                SELECT g, list_curve_fit('linear', xs, ys) AS f FROM (VALUES \
                ('a', [1, 2, 3, 4], [3, 5, 7, 9.5]), ('b', [1, 2, 4], [2, 4, 8])) t(g, xs, ys)) \
                ORDER BY g";
    for sql in [queries[0], list] {
        assert_same(&local, &on_gpu, sql).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_the_cluster_cannot_run_is_refused_by_name() {
    let scheduler = start_cluster(1).await;
    let cluster = Engine::builder()
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    for (sql, name) in [
        (
            "SELECT * FROM pairwise_distance((SELECT 'a' AS name, 1.0 AS x, 2.0 AS y))",
            "table pairwise_distance()",
        ),
        (
            "SELECT table_name FROM information_schema.tables",
            "table information_schema.tables",
        ),
    ] {
        let result = match cluster.sql(sql).await {
            Err(e) => Err(e),
            Ok(frame) => tokio::time::timeout(Duration::from_secs(60), frame.collect())
                .await
                .expect("refused within 60 s, not hung"),
        };
        let error = result.expect_err(sql).to_string();
        assert!(
            error.contains(&format!("the cluster cannot run {name}")),
            "{error}"
        );
        assert!(!error.contains("bug"), "{error}");
    }
}

#[test]
fn a_wrong_scheduler_address_is_named() {
    let error = Engine::builder()
        .cluster("localhost")
        .build()
        .unwrap_err()
        .to_string();
    assert!(error.contains("'localhost'"), "{error}");
}

/// Ballista hands each task a slice of a stage's partitions; a scan that ignored the slice
/// would read some partitions twice and others never (seen: counts doubled from three
/// partitions on). Partition counts that do not divide evenly over the executors' slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_task_reads_only_its_own_partitions() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let scheduler = start_cluster(2).await;
    let data = data.display();
    for partitions in [3, 5] {
        let local = Engine::builder()
            .target_partitions(partitions)
            .build()
            .unwrap();
        let cluster = Engine::builder()
            .target_partitions(partitions)
            .cluster(scheduler.address().to_string())
            .build()
            .unwrap();
        for sql in [
            format!("SELECT count(tas), sum(tas), min(time), max(time) FROM '{data}/tas1840.nc'"),
            format!(
                "SELECT count(*), sum(tas) FROM read_hdf5('{data}/tas1841.nc', '/tas') WHERE tas > 0"
            ),
            format!(
                "SELECT count(line), sum(length(line)) FROM read_lines('{data}/books/pg1*.txt')"
            ),
            format!("SELECT count(*), sum(size) FROM read_text('{data}/books/*.txt')"),
        ] {
            assert_same(&local, &cluster, &sql).await;
        }
    }
}

/// An executor process killed while a query runs: Ballista reruns its tasks on the other
/// executor and the answer is right, or the query fails with an error; it never hangs, and
/// the scheduler goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_executor_neither_hangs_nor_corrupts_a_query() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let scheduler = scheduler().await;
    let address = scheduler.address().to_string();
    let mut executors: Vec<tokio::process::Child> = (0..2)
        .map(|_| executor_process(&address, free_port(), free_port()))
        .collect();
    scheduler
        .wait_for_executors(2, Duration::from_secs(60))
        .await
        .unwrap();
    let cluster = Engine::builder()
        .target_partitions(8)
        .cluster(address)
        .build()
        .unwrap();
    let sql = format!(
        "SELECT count(*), count(DISTINCT w) FROM (SELECT unnest(tokenize(content)) AS w \
         FROM read_text('{}/books/pg*.txt'))",
        data.display()
    );
    let frame = cluster.sql(&sql).await.unwrap();
    let query = tokio::spawn(frame.collect());
    // Fault injection: the first tasks are running by now (this is not a readiness wait).
    tokio::time::sleep(Duration::from_secs(2)).await;
    executors[0].start_kill().unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(300), query)
        .await
        .expect("the query neither finished nor failed within 300 s after an executor died")
        .unwrap();
    match outcome {
        Ok(batches) => {
            let schema = batches[0].schema();
            let batch = concat_batches(&schema, &batches).unwrap();
            assert_eq!(rows(&batch), [["5022072", "364463"]]);
            eprintln!("an executor was killed; the query was rerun and answered right");
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            eprintln!("an executor was killed; the query failed: {message}");
        }
    }
    // The scheduler still serves, on the executor left.
    let after = collect(&cluster, "SELECT count(*) FROM (VALUES (1), (2)) t(x)").await;
    assert_eq!(rows(&after), [["2"]]);
}

/// `quiver cluster executor` as a child process on the given ports, with one slot.
fn executor_process(scheduler: &str, bind: u16, grpc: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["cluster", "executor", "--scheduler", scheduler])
        .args(["--bind", &format!("127.0.0.1:{bind}")])
        .args(["--grpc-port", &grpc.to_string(), "--slots", "1"])
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// An executor killed and started again on its old ports registers anew (under a new id)
/// and runs the next queries; the scheduler served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_executor_rejoins() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let scheduler = scheduler().await;
    let address = scheduler.address().to_string();
    let (bind, grpc) = (free_port(), free_port());
    let mut first = executor_process(&address, bind, grpc);
    scheduler
        .wait_for_executors(1, Duration::from_secs(60))
        .await
        .unwrap();
    let before = scheduler.executor_ids().await.unwrap();
    let local = Engine::new().unwrap();
    let cluster = Engine::builder().cluster(address.clone()).build().unwrap();
    let sql = format!(
        "SELECT count(*), sum(length(line)) FROM read_lines('{}/books/pg1*.txt')",
        data.display()
    );
    assert_same(&local, &cluster, &sql).await;

    first.kill().await.unwrap();
    let _second = executor_process(&address, bind, grpc);
    let rejoined = scheduler
        .wait_for_new_executor(&before, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!before.contains(&rejoined));
    assert_same(&local, &cluster, &sql).await;
    let climate = format!(
        "SELECT date_part('month', time) AS m, avg(tas) FROM '{}/tas1840.nc' GROUP BY 1 ORDER BY 1",
        data.display()
    );
    assert_same(&local, &cluster, &climate).await;
}

/// COPY on the cluster: the executors write the file (atomically, through a temporary
/// path), the statement answers its row count, and the file reads back as the local query.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_to_runs_on_the_cluster() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let scheduler = start_cluster(2).await;
    let local = Engine::new().unwrap();
    let cluster = Engine::builder()
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("north.parquet");
    let north = format!(
        "SELECT time, lat, lon, tas FROM '{}/tas1840.nc' WHERE lat > 80",
        data.display()
    );
    let count = collect(
        &cluster,
        &format!("COPY ({north}) TO '{}'", target.display()),
    )
    .await;
    let expected = collect(&local, &format!("SELECT count(*) FROM ({north})")).await;
    assert_eq!(rows(&count), rows(&expected));
    let summary =
        |from: &str| format!("SELECT count(*), sum(tas), min(time), max(lat) FROM {from}");
    assert_eq!(
        rows(&collect(&local, &summary(&format!("'{}'", target.display()))).await),
        rows(&collect(&local, &summary(&format!("({north})"))).await)
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["north.parquet"]);
}

/// Executors open object stores themselves: NetCDF and CSV files served over HTTP by nginx,
/// read by range requests on the cluster, give the local files' answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executors_read_files_over_http() {
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    if !crate::clients::runs("nginx", &["-v"], "apt-get install nginx-light") {
        return;
    }
    let dir = crate::object_store::served(&[
        ("tas1840.nc", data.join("tas1840.nc")),
        ("results.csv", data.join("results.csv")),
    ]);
    let server = crate::object_store::nginx(dir.path(), &dir.path().join("www"));
    let scheduler = start_cluster(2).await;
    let local = Engine::new().unwrap();
    let cluster = Engine::builder()
        .target_partitions(4)
        .cluster(scheduler.address().to_string())
        .build()
        .unwrap();
    let base = format!("http://{}", server.addr);
    for sql in [
        "SELECT date_part('month', time) AS m, count(*), avg(tas) FROM '{}/tas1840.nc' GROUP BY 1 ORDER BY 1",
        "SELECT count(*), sum(word1), max(\"Book\") FROM '{}/results.csv'",
    ] {
        let expected = collect(&local, &sql.replace("{}", &data.display().to_string())).await;
        let got = collect(&cluster, &sql.replace("{}", &base)).await;
        assert_eq!(rows(&got), rows(&expected), "{sql}");
    }
}
