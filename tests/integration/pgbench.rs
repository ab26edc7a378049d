//! The load test of the PostgreSQL server: `pgbench` (the real client, from Debian's
//! `postgresql` package) with 16 clients on 2 threads for 30 seconds, in the simple and the
//! extended query protocol, running the course's climate queries: no transaction may fail.
//! The throughput it prints is reported, not asserted (benchmarks measure, tests do not).

use std::time::Duration;

use quiver::server::ServerOptions;

use crate::server::{PASSWORD, USER, start, test_users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_course_queries_without_failures() {
    if !crate::clients::installed("pgbench", "postgresql") {
        return;
    }
    let Some(course) = crate::netcdf::course_data() else {
        return;
    };
    let options = ServerOptions {
        users: test_users(),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("climate.sql");
    // One transaction = a monthly climatology of one year and a point series, as the
    // course's notebooks run them.
    std::fs::write(
        &script,
        format!(
            "SELECT date_part('month', time) AS mo, avg(tas) FROM '{0}/tas1845.nc' GROUP BY 1 ORDER BY 1;\n\
             SELECT time, tas FROM read_netcdf('{0}/tas1846.nc', nearest => 'lat=59.33, lon=18.07');\n",
            course.display()
        ),
    )
    .unwrap();
    for mode in ["simple", "extended"] {
        let run = tokio::process::Command::new("pgbench")
            .args([
                "-n",
                "-c",
                "16",
                "-j",
                "2",
                "-T",
                "30",
                "-M",
                mode,
                "-h",
                "127.0.0.1",
            ])
            .arg("-p")
            .arg(server.pg_addr().port().to_string())
            .args(["-U", USER, "-f"])
            .arg(&script)
            .arg("postgres")
            .env("PGPASSWORD", PASSWORD)
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("pgbench ends within 120 s")
            .expect("pgbench runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{mode}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("number of failed transactions: 0 (0.000%)"),
            "{mode}: {stdout}\n{stderr}"
        );
        let processed = stdout
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        assert!(processed > 0, "{mode}: {stdout}");
        let summary: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("latency") || l.starts_with("tps"))
            .collect();
        eprintln!(
            "pgbench {mode}: {processed} transactions; {}",
            summary.join("; ")
        );
    }
    server.shutdown().await;
}
