//! The GPU placement of dense aggregations (`quiver.gpu`): `EXPLAIN` shows the device,
//! `'on'` gives the CPU's rows (within the kernel's documented tolerance) on the fixture
//! cubes and the course climate queries, and without an adapter `'auto'` runs on the CPU
//! while `'on'` is a clear error. Tests that need an adapter print why they skip where there
//! is none, and fail instead with `CI=true` (CI installs lavapipe).

use std::process::Command;

use crate::dense::{Cell, FILTERS, KEYS, climate_queries, course_tas, cube, query, run_with};

/// Whether a GPU adapter exists; prints the reason for skipping when not (a failure with
/// `CI=true`).
pub(crate) fn adapter() -> bool {
    let report = quiver::shell::gpu_report();
    match report {
        Ok(_) => true,
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but {reason}")
        }
        Err(reason) => {
            eprintln!("skipping: {reason}");
            false
        }
    }
}

/// The end-to-end tolerance against the CPU's f64: relative 1e-9 where the adapter
/// accumulates in f64 (`SHADER_F64`), else 1e-5 (the fixture values are all of one sign, so
/// Σ|x| is |Σx|). Per segment the f64 kernel agrees to 1e-12 (its unit tests); merged over
/// blocks and 11 years of course data, the two sides' shifted variance sums differ by up to
/// 1.1e-12 relative in the standard deviation (seen), so 1e-9 leaves room without hiding an f32
/// path (1e-7 relative at best).
fn kernel_tolerance() -> f64 {
    if quiver::gpu::info().is_ok_and(|i| i.f64) {
        1e-9
    } else {
        1e-5
    }
}

fn close(a: &Cell, b: &Cell, tolerance: f64) -> bool {
    match (a, b) {
        (Cell::Number(x), Cell::Number(y)) => {
            (x.is_nan() && y.is_nan())
                || x == y
                || (x - y).abs() <= tolerance * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

/// A session with `quiver.gpu = 'on'`.
fn gpu_engine() -> quiver::Engine {
    quiver::Engine::builder()
        .option("quiver.gpu", "on")
        .build()
        .unwrap()
}

/// The `EXPLAIN ANALYZE` text of `sql` with `quiver.gpu = 'on'`.
pub(crate) async fn analyze_on_gpu(sql: &str) -> String {
    analyze(&gpu_engine(), sql).await
}

/// The first GPU run of `sql` (nothing of it on the device yet): its `EXPLAIN ANALYZE` text
/// and how many blocks it read.
async fn first_gpu_run(engine: &quiver::Engine, sql: &str) -> (String, u64) {
    let first = analyze(engine, sql).await;
    assert_eq!(metric(&first, "gpu_resident_blocks"), 0, "{first}");
    let blocks = metric(&first, "blocks");
    assert!(blocks > 0, "{first}");
    (first, blocks)
}

/// The `EXPLAIN ANALYZE` text of `sql` on `engine`.
async fn analyze(engine: &quiver::Engine, sql: &str) -> String {
    let batches = engine
        .sql(&format!("EXPLAIN ANALYZE {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    quiver::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

/// Runs `sql` on the CPU and with `quiver.gpu = 'on'`: the GPU plan says `device=gpu`,
/// reduces every block on the GPU (no CPU fallback) and gives the CPU's rows within
/// `tolerance` (relative).
async fn gpu_agrees_within(sql: &str, partitions: usize, tolerance: f64) {
    let analyzed = analyze_on_gpu(sql).await;
    assert!(analyzed.contains("gpu_fallbacks=0"), "{sql}\n{analyzed}");
    let (want, plan) = run_with(sql, &[], partitions).await;
    assert!(plan.contains("device=cpu"), "{sql}\n{plan}");
    let (got, plan) = run_with(sql, &[("quiver.gpu", "on")], partitions).await;
    assert!(plan.contains("device=gpu"), "{sql}\n{plan}");
    assert_eq!(got.len(), want.len(), "row count: {sql}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| close(a, b, tolerance)),
            "{sql}\n got {g:?}\nwant {w:?}"
        );
    }
}

async fn gpu_agrees(sql: &str, partitions: usize) {
    gpu_agrees_within(sql, partitions, kernel_tolerance()).await
}

// f32 variables only (tas; qc has NaN and fill values): f64 variables such as `pr` keep the
// aggregation on the CPU. Both sides are dense kernels, so min/max
// with NaN follow the same total order.
const GPU_AGGREGATES: &str = "count(*) AS n, count(tas) AS nt, sum(tas) AS s, avg(tas) AS a, \
     min(tas) AS lo, max(tas) AS hi, var(tas) AS v, var_pop(tas) AS vp, stddev(tas) AS sd, \
     stddev_pop(qc) AS sdq, avg(qc) AS aq, sum(qc) AS sq, count(qc) AS nq, min(qc) AS lq, \
     max(qc) AS hq";

#[tokio::test]
async fn gpu_equals_cpu_for_keys_times_filters() {
    if !adapter() {
        return;
    }
    for keys in KEYS {
        for filter in FILTERS {
            gpu_agrees(&query(keys, filter, GPU_AGGREGATES), 2).await;
        }
    }
}

#[tokio::test]
async fn course_climate_queries_agree_on_gpu() {
    if !adapter() {
        return;
    }
    let Some(from) = course_tas() else { return };
    for sql in climate_queries(&from) {
        gpu_agrees(&sql, 2).await;
    }
}

/// Kernel 2: value expressions over f32 variables, computed on the GPU from the raw
/// columns, against DataFusion computing them on the CPU. Tolerance 1e-6 relative with
/// f64 accumulation (each value is stored as f32, 2⁻²⁴ relative, functions in f32 add a few
/// units of that), else the f32 kernel's 1e-5. `tas - 200` is exact in f32 for these
/// values; `qc / (tas - tas)` divides by zero (±inf, NaN).
const EXPRESSIONS: &str = "avg(tas - 200) AS c, stddev(tas - 200) AS sd, \
     max(sqrt(tas)) AS r, sum(abs(tas - 280)) AS d, min(tas * qc) AS p, avg(ln(tas)) AS l, \
     avg(exp(-tas / 300)) AS e, sum(CAST(tas > 280 AS FLOAT)) AS warm, \
     avg(power(tas / 100, 2)) AS sq, max(floor(tas / 10)) AS f, avg(cos(tas / 100)) AS co, \
     max(qc / (tas - tas)) AS z, count(log10(qc)) AS nl";

#[tokio::test]
async fn expressions_are_computed_on_the_gpu() {
    if !adapter() {
        return;
    }
    let tolerance = kernel_tolerance().max(1e-6);
    for keys in [&[][..], &["lat"], &["date_part('month', time)"]] {
        for filter in ["", "lat > 0", "tas > 280"] {
            gpu_agrees_within(&query(keys, filter, EXPRESSIONS), 2, tolerance).await;
        }
    }
}

#[tokio::test]
async fn what_the_gpu_cannot_compute_stays_on_the_cpu() {
    if !adapter() {
        return;
    }
    let from = cube();
    for sql in [
        // first/last need scan positions; pr is f64; round and OR have no translation.
        format!("SELECT lat, first_value(tas) FROM {from} GROUP BY lat"),
        format!("SELECT lat, avg(tas), avg(pr) FROM {from} GROUP BY lat"),
        format!("SELECT lat, avg(round(tas)) FROM {from} GROUP BY lat"),
        format!("SELECT lat, sum(CAST(tas > 280 OR qc > 0 AS FLOAT)) FROM {from} GROUP BY lat"),
    ] {
        let (_, plan) = run_with(&sql, &[("quiver.gpu", "on")], 1).await;
        assert!(plan.contains("device=cpu"), "{sql}\n{plan}");
    }
}

#[tokio::test]
async fn auto_uses_only_hardware_above_the_threshold() {
    let sql = query(&["lat"], "", "avg(tas) AS a");
    let (_, plan) = run_with(&sql, &[("quiver.gpu", "auto")], 1).await;
    // The cube holds far fewer values than the default threshold.
    assert!(plan.contains("device=cpu"), "{plan}");
    let options = [("quiver.gpu", "auto"), ("quiver.gpu_min_values", "0")];
    let (_, plan) = run_with(&sql, &options, 1).await;
    let hardware = quiver::gpu::info().is_ok_and(|i| i.hardware);
    let want = if hardware { "device=gpu" } else { "device=cpu" };
    assert!(plan.contains(want), "{plan}");
}

/// Runs the `quiver` binary with `WGPU_BACKEND` naming a backend that Linux lacks, so no
/// adapter exists whatever the machine has.
#[cfg(target_os = "linux")]
fn quiver_without_adapter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(args)
        .env("WGPU_BACKEND", "dx12")
        .output()
        .expect("quiver runs")
}

#[cfg(target_os = "linux")]
#[test]
fn without_an_adapter_auto_runs_on_cpu_and_on_is_an_error() {
    let sql = query(&["lat"], "", "avg(tas) AS a");
    let auto = quiver_without_adapter(&[
        "-c",
        &format!("SET quiver.gpu = 'auto'; SET quiver.gpu_min_values = 0; {sql}"),
    ]);
    assert!(auto.status.success(), "{auto:?}");
    let off = quiver_without_adapter(&["-c", &sql]);
    assert_eq!(auto.stdout, off.stdout);
    assert!(String::from_utf8_lossy(&off.stdout).lines().count() > 2);

    let on = quiver_without_adapter(&["-c", &format!("SET quiver.gpu = 'on'; {sql}")]);
    let stderr = String::from_utf8_lossy(&on.stderr);
    assert_eq!(on.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quiver.gpu = 'on' but no GPU adapter: "),
        "{stderr}"
    );

    let info = quiver_without_adapter(&["--gpu-info"]);
    let stderr = String::from_utf8_lossy(&info.stderr);
    assert_eq!(info.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("Error: no GPU adapter found: "),
        "{stderr}"
    );
    let calibrate = quiver_without_adapter(&["--gpu-calibrate"]);
    let stderr = String::from_utf8_lossy(&calibrate.stderr);
    assert_eq!(calibrate.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no GPU adapter to calibrate: "), "{stderr}");
    let dot = quiver_without_adapter(&["-c", ".gpu"]);
    assert!(dot.status.success());
    assert!(String::from_utf8_lossy(&dot.stdout).starts_with("no GPU adapter found: "));
}

#[test]
fn gpu_info_describes_the_adapter() {
    if !adapter() {
        return;
    }
    for args in [&["--gpu-info"][..], &["-c", ".gpu"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_quiver"))
            .args(args)
            .output()
            .expect("quiver runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        for field in [
            "adapter: ",
            "backend: ",
            "f64 in shaders: ",
            "max storage binding: ",
        ] {
            assert!(text.contains(field), "{args:?}: {text}");
        }
    }
}

/// `quiver --gpu-calibrate` times a dense aggregation at each size on the CPU, on the GPU
/// reading the file and on the GPU over resident columns, and concludes; without an adapter,
/// or with too small or too large a size, it fails saying why.
#[test]
fn calibration_times_each_size_and_concludes() {
    if !adapter() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["--gpu-calibrate", "262144"])
        .output()
        .expect("quiver runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("cpu ms"), "{text}");
    for values in ["65536", "262144"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{values} ")))
            .unwrap_or_else(|| panic!("no line for {values}: {text}"));
        let times: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect();
        assert!(times.len() == 3 && times.iter().all(|t| *t > 0.0), "{line}");
    }
    assert!(
        text.contains("SET quiver.gpu_min_values = ") || text.contains("was not faster"),
        "{text}"
    );
    let software = !quiver::gpu::info().unwrap().hardware;
    assert_eq!(text.contains("is a software adapter"), software, "{text}");

    for size in ["1000", "1000000000000"] {
        let refused = Command::new(env!("CARGO_BIN_EXE_quiver"))
            .args(["--gpu-calibrate", size])
            .output()
            .expect("quiver runs");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        let why = format!("at least 65536 values and at most 268435456, not {size}");
        assert!(stderr.contains(&why), "{stderr}");
    }
}

#[test]
fn bad_gpu_setting_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["-c", "SET quiver.gpu = 'sometimes'"])
        .output()
        .expect("quiver runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("quiver.gpu must be 'off', 'on' or 'auto', not 'sometimes'"),
        "{stderr}"
    );
}

/// A metric of the dense aggregation in `EXPLAIN ANALYZE` text.
fn metric(analyzed: &str, name: &str) -> u64 {
    let at = [format!("[{name}="), format!(", {name}=")]
        .iter()
        .find_map(|pattern| analyzed.find(pattern.as_str()).map(|i| i + pattern.len()))
        .unwrap_or_else(|| panic!("no metric {name} in\n{analyzed}"));
    let digits: String = analyzed[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// The columns a GPU aggregation read stay on the device: the same query again reduces
/// every block from them (no file read, no copy), a query with a value filter reads the
/// file (the filter runs on the host), a changed file is read again, and
/// `quiver.gpu_cache_bytes = 0` keeps nothing. Each answer is the CPU's.
#[tokio::test]
async fn columns_stay_on_the_gpu_until_the_file_changes() {
    if !adapter() {
        return;
    }
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tas.nc");
    std::fs::copy(data.join("tas1840.nc"), &file).unwrap();
    let from = format!("'{}'", file.display());
    let sql = format!(
        "SELECT date_part('month', time) AS m, avg(tas) AS a, max(tas) AS hi, stddev(tas) AS sd \
         FROM {from} GROUP BY 1 ORDER BY 1"
    );
    let engine = gpu_engine();
    let (first, blocks) = first_gpu_run(&engine, &sql).await;
    for time in ["gpu_upload=", "gpu_compute=", "gpu_download="] {
        assert!(first.contains(time), "no {time} in {first}");
    }
    let again = analyze(&engine, &sql).await;
    assert_eq!(metric(&again, "gpu_resident_blocks"), blocks, "{again}");
    assert_eq!(metric(&again, "gpu_fallbacks"), 0, "{again}");
    gpu_agrees(&sql, 2).await;

    let filtered = format!(
        "SELECT date_part('month', time) AS m, avg(tas) AS a FROM {from} WHERE tas > 280 \
         GROUP BY 1 ORDER BY 1"
    );
    let analyzed = analyze(&engine, &filtered).await;
    assert_eq!(metric(&analyzed, "gpu_resident_blocks"), 0, "{analyzed}");
    gpu_agrees(&filtered, 2).await;

    // Another year's values in the same file: read again, and the new answer.
    std::fs::copy(data.join("tas1841.nc"), &file).unwrap();
    let changed = analyze(&engine, &sql).await;
    assert_eq!(metric(&changed, "gpu_resident_blocks"), 0, "{changed}");
    gpu_agrees(&sql, 2).await;

    let file = dir.path().join("uncached.nc");
    std::fs::copy(data.join("tas1842.nc"), &file).unwrap();
    let sql = sql.replace(&from, &format!("'{}'", file.display()));
    let uncached = quiver::Engine::builder()
        .option("quiver.gpu", "on")
        .option("quiver.gpu_cache_bytes", "0")
        .build()
        .unwrap();
    for _ in 0..2 {
        let analyzed = analyze(&uncached, &sql).await;
        assert_eq!(metric(&analyzed, "gpu_resident_blocks"), 0, "{analyzed}");
        assert_eq!(metric(&analyzed, "gpu_fallbacks"), 0, "{analyzed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_of_files_over_http_stay_on_the_gpu_until_they_change() {
    if !adapter() {
        return;
    }
    let Some(data) = crate::netcdf::course_data() else {
        return;
    };
    if !crate::clients::runs("nginx", &["-v"], "apt-get install nginx-light") {
        return;
    }
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join("tas.nc");
    std::fs::copy(data.join("tas1840.nc"), &file).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    let dir = crate::object_store::served(&[("tas.nc", file.clone())]);
    let server = crate::object_store::nginx(dir.path(), &dir.path().join("www"));
    let sql = format!(
        "SELECT date_part('month', time) AS m, avg(tas) AS a, max(tas) AS hi, stddev(tas) AS sd \
         FROM 'http://{}/tas.nc' GROUP BY 1 ORDER BY 1",
        server.addr
    );
    let fetched = || -> u64 {
        let log = crate::object_store::take_log(dir.path());
        log.iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.bytes)
            .sum()
    };
    let engine = gpu_engine();
    let (first, blocks) = first_gpu_run(&engine, &sql).await;
    assert!(fetched() >= size, "{first}");
    // Again: every block from the device; only the file's metadata is fetched.
    let again = analyze(&engine, &sql).await;
    assert_eq!(metric(&again, "gpu_resident_blocks"), blocks, "{again}");
    assert_eq!(metric(&again, "gpu_fallbacks"), 0, "{again}");
    let metadata = fetched();
    assert!(
        metadata * 5 < size,
        "a resident query fetched {metadata} of {size} bytes"
    );
    gpu_agrees(&sql, 2).await;

    // Another year in the same file (a new modification time and ETag): read again.
    std::fs::copy(data.join("tas1841.nc"), &file).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let changed = analyze(&engine, &sql).await;
    assert_eq!(metric(&changed, "gpu_resident_blocks"), 0, "{changed}");
    gpu_agrees(&sql, 2).await;
}
