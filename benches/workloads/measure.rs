//! Timing and reporting in the format of `../shared/bench/peers/_common.py`: one warm-up run,
//! then N timed runs; one JSON line per workload with the median, all times, the checksum,
//! the CPU seconds per run, the peak RSS and the load average.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

/// The times of one workload's timed runs.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Wall-clock seconds of each timed run.
    pub times_s: Vec<f64>,
    /// CPU seconds (all threads of this process) of each timed run, where measurable.
    pub cpu_s: Option<Vec<f64>>,
}

/// Runs `run` once as warm-up and then `n` times, timing each; returns the timings and the
/// result of the last run (like `_common.timed`).
pub async fn timed<T, E, F, Fut>(n: usize, mut run: F) -> Result<(Timings, T), E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut result = run().await?;
    let mut times_s = Vec::with_capacity(n);
    let mut cpu_s = Some(Vec::with_capacity(n));
    for _ in 0..n {
        let cpu0 = process_cpu_seconds();
        let t0 = Instant::now();
        result = run().await?;
        times_s.push(t0.elapsed().as_secs_f64());
        cpu_s = match (cpu_s, cpu0, process_cpu_seconds()) {
            (Some(mut v), Some(c0), Some(c1)) => {
                v.push((c1 - c0).max(0.0));
                Some(v)
            }
            _ => None,
        };
    }
    Ok((Timings { times_s, cpu_s }, result))
}

/// The median as Python's `statistics.median` computes it (mean of the middle two).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One result line.
#[derive(Debug, Clone)]
pub struct Record {
    /// `quiver`.
    pub tool: String,
    /// `family.name`, e.g. `titanic.groupby`.
    pub workload: String,
    /// The timings.
    pub timings: Timings,
    /// Same string as the peers produce for the same answer.
    pub checksum: String,
    /// Workload-specific fields appended after the common ones.
    pub extra: Vec<(String, Value)>,
}

impl Record {
    /// The JSON line, fields in the order of `_common.emit`.
    pub fn to_json_line(&self) -> String {
        let t = &self.timings;
        let mut fields: Vec<(&str, Value)> = vec![
            ("tool", Value::from(self.tool.clone())),
            ("workload", Value::from(self.workload.clone())),
            ("median_s", Value::from(round6(median(&t.times_s)))),
            ("n", Value::from(t.times_s.len())),
            (
                "times_s",
                Value::from(t.times_s.iter().map(|x| round6(*x)).collect::<Vec<_>>()),
            ),
            ("checksum", Value::from(self.checksum.clone())),
            (
                "cpu_s",
                t.cpu_s
                    .as_ref()
                    .filter(|c| c.len() == t.times_s.len() && !c.is_empty())
                    .map_or(Value::Null, |c| Value::from(round6(median(c)))),
            ),
            (
                "peak_rss_mb",
                peak_rss_mb().map_or(Value::Null, |m| Value::from((m * 10.0).round() / 10.0)),
            ),
            (
                "loadavg1",
                loadavg1().map_or(Value::Null, |l| Value::from((l * 100.0).round() / 100.0)),
            ),
        ];
        fields.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{}: {}", Value::from(k), v))
            .collect();
        format!("{{{}}}", body.join(", "))
    }
}

/// Prints each line to stdout and appends it to `--out` when given.
#[derive(Debug)]
pub struct Sink {
    out: Option<PathBuf>,
    quiet: bool,
}

impl Sink {
    /// A sink that also appends to `out`.
    pub fn new(out: Option<PathBuf>) -> Self {
        Self { out, quiet: false }
    }

    /// A sink that discards the lines (for the self-checks).
    pub fn quiet() -> Self {
        Self {
            out: None,
            quiet: true,
        }
    }

    /// Emits one line.
    pub fn emit(&self, line: &str) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        println!("{line}");
        std::io::stdout().flush()?;
        if let Some(path) = &self.out {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            writeln!(file, "{line}")?;
        }
        Ok(())
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Peak resident set size of this process in MiB (`VmHWM`, the same as `ru_maxrss`).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn loadavg1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds used so far by the live threads of this process: the sum of the first field
/// of `/proc/self/task/*/schedstat` (nanoseconds), falling back to `utime + stime` of
/// `/proc/self/stat` (clock ticks of 10 ms, too coarse for millisecond workloads).
/// Threads that exit during a run are not counted by the first; the engine's worker threads
/// live as long as the process.
pub fn process_cpu_seconds() -> Option<f64> {
    schedstat_seconds().or_else(stat_seconds)
}

fn schedstat_seconds() -> Option<f64> {
    let mut total_ns: u64 = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let mut path = entry.ok()?.path();
        path.push("schedstat");
        // A thread may exit between listing and reading: skip it.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total_ns as f64 / 1e9)
}

fn stat_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
