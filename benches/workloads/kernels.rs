//! `kernels.*` (feature `gpu`): each array table function, `curve_fit` over many groups and
//! `list_curve_fit` over many rows —
//! the GPU kernels of issue 8 —
//! timed on the CPU (`quiver.gpu = 'off'`) and on the GPU (`'on'`), one JSON line per device.
//! The GPU line adds the adapter and, from one `EXPLAIN ANALYZE` run, the kernel's time
//! split into upload, compute and download (seconds). Inputs are built in memory, untimed;
//! each timed query aggregates the function's whole output so that the result is small.
//!
//! On lavapipe (Mesa's software Vulkan) the GPU numbers only show that the path works: the
//! "device" is the same CPU through an LLVM JIT.

use quiver::Engine;
use quiver::datafusion::arrow::array::{Array, AsArray};
use quiver::datafusion::arrow::datatypes::Float64Type;
use quiver::datafusion::arrow::util::pretty::pretty_format_batches;
use quiver::datafusion::error::{DataFusionError, Result};
use serde_json::Value;

use crate::measure::{Record, Sink, timed};

/// One kernel workload: tables to create and the timed query.
struct Workload {
    name: &'static str,
    setup: &'static [&'static str],
    query: &'static str,
}

const WORKLOADS: [Workload; 5] = [
    Workload {
        name: "kernels.pairwise_distance",
        // 2,000 points of 8 coordinates: 4,000,000 distances.
        setup: &["CREATE OR REPLACE TABLE kpoints AS SELECT id, \
             sin(id * 1.1) AS c1, sin(id * 1.2) AS c2, sin(id * 1.3) AS c3, sin(id * 1.4) AS c4, \
             cos(id * 1.1) AS c5, cos(id * 1.2) AS c6, cos(id * 1.3) AS c7, cos(id * 1.4) AS c8 \
             FROM generate_series(1, 2000) AS t(id)"],
        query: "SELECT sum(distance) FROM pairwise_distance((SELECT * FROM kpoints))",
    },
    Workload {
        name: "kernels.heat_step",
        // A 512 x 512 plate, top edge hot, 200 Jacobi steps.
        setup: &["CREATE OR REPLACE TABLE kplate AS SELECT y, x, \
             CASE WHEN y = 0 THEN 100.0 ELSE 0.0 END AS t \
             FROM generate_series(0, 511) AS a(y) CROSS JOIN generate_series(0, 511) AS b(x)"],
        query: "SELECT sum(t) FROM heat_step((SELECT * FROM kplate), steps => 200)",
    },
    Workload {
        name: "kernels.matmul",
        // 384 x 384 times 384 x 384, dense: 56.6 M multiply-adds.
        setup: &[
            "CREATE OR REPLACE TABLE kmatrix AS SELECT r, c, sin(r * 0.37 + c * 0.11) AS v \
             FROM generate_series(1, 384) AS a(r) CROSS JOIN generate_series(1, 384) AS b(c)",
        ],
        query: "SELECT sum(value) FROM matmul((SELECT * FROM kmatrix), (SELECT * FROM kmatrix))",
    },
    Workload {
        name: "kernels.curve_fit",
        // 10,000 groups of 50 points, a noisy power law each: 10,000 batched LM fits.
        setup: &[FIT_POINTS],
        query: "SELECT sum(f['params']['b']) FROM \
             (SELECT curve_fit('power', x, y) AS f FROM kfits GROUP BY g)",
    },
    Workload {
        name: "kernels.list_curve_fit",
        // The same 10,000 fits as rows of two 50-value lists: one dispatch per batch of rows.
        setup: &[
            FIT_POINTS,
            "CREATE OR REPLACE TABLE klists AS SELECT g, array_agg(x ORDER BY x) AS xs, \
             array_agg(y ORDER BY x) AS ys FROM kfits GROUP BY g",
        ],
        query: "SELECT sum(f['params']['b']) FROM \
             (SELECT list_curve_fit('power', xs, ys) AS f FROM klists)",
    },
];

/// 10,000 groups `g` of 50 points (x, y), a noisy power law each.
const FIT_POINTS: &str = "CREATE OR REPLACE TABLE kfits AS SELECT value % 10000 AS g, \
     (value / 10000 + 1) * 0.2 AS x, \
     (300 + value % 10000 % 7) * power((value / 10000 + 1) * 0.2, -0.8) \
     * (1 + 0.01 * sin(value * 1.7)) AS y FROM generate_series(0, 499999)";

/// Runs the selected kernel workloads on both devices.
pub async fn run(
    engine: &Engine,
    selected: impl Fn(&str) -> bool,
    runs: usize,
    sink: &Sink,
) -> Result<()> {
    let adapter = quiver::gpu::info();
    for w in WORKLOADS.iter().filter(|w| selected(w.name)) {
        for statement in w.setup {
            engine.sql(statement).await?.collect().await?;
        }
        for device in ["off", "on"] {
            if let ("on", Err(reason)) = (device, &adapter) {
                eprintln!("{}: no GPU adapter ({reason}); GPU line skipped", w.name);
                continue;
            }
            engine
                .sql(&format!("SET quiver.gpu = '{device}'"))
                .await?
                .collect()
                .await?;
            let (timings, sum) = timed(runs, || async { scalar(engine, w.query).await }).await?;
            let mut extra = vec![(
                "device".to_string(),
                Value::from(if device == "on" { "gpu" } else { "cpu" }),
            )];
            if let (Ok(info), "on") = (&adapter, device) {
                extra.push(("adapter".into(), Value::from(info.name.clone())));
                extra.push(("f64".into(), Value::from(info.f64)));
                extra.extend(transfer_split(engine, w.query).await?);
            }
            let record = Record {
                tool: "quiver".into(),
                workload: w.name.into(),
                timings,
                checksum: format!("{sum:.6e}"),
                extra,
            };
            sink.emit(&record.to_json_line())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        }
        engine
            .sql("SET quiver.gpu = 'off'")
            .await?
            .collect()
            .await?;
    }
    Ok(())
}

/// The single f64 `query` returns.
async fn scalar(engine: &Engine, query: &str) -> Result<f64> {
    let batches = engine.sql(query).await?.collect().await?;
    let column = batches
        .first()
        .map(|b| b.column(0).clone())
        .ok_or_else(|| DataFusionError::Execution(format!("{query}: no rows")))?;
    let values = column.as_primitive::<Float64Type>();
    Ok(if values.is_null(0) {
        f64::NAN
    } else {
        values.value(0)
    })
}

/// `gpu_upload_s`, `gpu_compute_s` and `gpu_download_s` of one `EXPLAIN ANALYZE` run.
async fn transfer_split(engine: &Engine, query: &str) -> Result<Vec<(String, Value)>> {
    Ok(split_of(&explain_analyze(engine, query).await?))
}

/// For a query whose plan runs on the GPU (a dense aggregation under `--set
/// quiver.gpu=on`): the transfer split of one `EXPLAIN ANALYZE` run after the timed ones,
/// with how many of its blocks were reduced from columns already on the device; nothing for
/// a CPU plan.
pub async fn gpu_split(engine: &Engine, query: &str) -> Result<Vec<(String, Value)>> {
    let text = explain_analyze(engine, query).await?;
    if !text.contains("device=gpu") {
        return Ok(Vec::new());
    }
    let mut split = split_of(&text);
    for counter in ["blocks", "gpu_resident_blocks"] {
        let n = metric_value(&text, counter).and_then(|v| v.parse::<u64>().ok());
        split.push((counter.to_string(), n.map_or(Value::Null, Value::from)));
    }
    Ok(split)
}

async fn explain_analyze(engine: &Engine, query: &str) -> Result<String> {
    let batches = engine
        .sql(&format!("EXPLAIN ANALYZE {query}"))
        .await?
        .collect()
        .await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

/// The upload, compute and download seconds in an `EXPLAIN ANALYZE` text.
fn split_of(text: &str) -> Vec<(String, Value)> {
    ["gpu_upload", "gpu_compute", "gpu_download"]
        .iter()
        .map(|metric| {
            let seconds = metric_seconds(text, metric);
            (
                format!("{metric}_s"),
                seconds.map_or(Value::Null, Value::from),
            )
        })
        .collect()
}

/// The text of `metric=` (the whole name: `blocks` is not `gpu_resident_blocks`).
fn metric_value<'a>(text: &'a str, metric: &str) -> Option<&'a str> {
    let key = format!("{metric}=");
    let at = text.match_indices(&key).map(|(i, _)| i).find(|&i| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })?;
    let rest = &text[at + key.len()..];
    let end = rest.find([',', ']', ' ']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The duration DataFusion prints for `metric=` (e.g. `gpu_upload=1.234ms`) in seconds.
fn metric_seconds(text: &str, metric: &str) -> Option<f64> {
    let value = metric_value(text, metric)?;
    // Divisions, so that "20µs" reads as the f64 nearest 2e-5.
    let (number, per_second) = [
        ("ns", 1e9),
        ("µs", 1e6),
        ("us", 1e6),
        ("ms", 1e3),
        ("s", 1.0),
    ]
    .iter()
    .find_map(|(unit, per)| value.strip_suffix(unit).map(|n| (n, *per)))?;
    number.parse::<f64>().ok().map(|n| n / per_second)
}

/// The self-check of [`metric_seconds`] and [`metric_value`] on DataFusion's formats.
pub fn self_check() -> Result<(), String> {
    let text = "metrics=[gpu_upload=1.5ms, gpu_compute=20µs, gpu_download=2s, \
                gpu_resident_blocks=3, blocks=11]";
    let got = ["gpu_upload", "gpu_compute", "gpu_download"].map(|m| metric_seconds(text, m));
    let counts = ["blocks", "gpu_resident_blocks"].map(|m| metric_value(text, m));
    if got == [Some(1.5e-3), Some(20e-6), Some(2.0)] && counts == [Some("11"), Some("3")] {
        Ok(())
    } else {
        Err(format!("durations read as {got:?}, counts as {counts:?}"))
    }
}
