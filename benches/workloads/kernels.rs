//! `kernels.*` (feature `gpu`): each array table function and `curve_fit` over many groups —
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

const WORKLOADS: [Workload; 4] = [
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
        setup: &[
            "CREATE OR REPLACE TABLE kfits AS SELECT value % 10000 AS g, \
             (value / 10000 + 1) * 0.2 AS x, \
             (300 + value % 10000 % 7) * power((value / 10000 + 1) * 0.2, -0.8) \
             * (1 + 0.01 * sin(value * 1.7)) AS y FROM generate_series(0, 499999)",
        ],
        query: "SELECT sum(f['params']['b']) FROM \
             (SELECT curve_fit('power', x, y) AS f FROM kfits GROUP BY g)",
    },
];

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
    let batches = engine
        .sql(&format!("EXPLAIN ANALYZE {query}"))
        .await?
        .collect()
        .await?;
    let text = pretty_format_batches(&batches)?.to_string();
    Ok(["gpu_upload", "gpu_compute", "gpu_download"]
        .iter()
        .map(|metric| {
            let seconds = metric_seconds(&text, metric);
            (
                format!("{metric}_s"),
                seconds.map_or(Value::Null, Value::from),
            )
        })
        .collect())
}

/// The duration DataFusion prints for `metric=` (e.g. `gpu_upload=1.234ms`) in seconds.
fn metric_seconds(text: &str, metric: &str) -> Option<f64> {
    let start = text.find(&format!("{metric}="))? + metric.len() + 1;
    let value: String = text[start..]
        .chars()
        .take_while(|c| !matches!(c, ',' | ']' | ' '))
        .collect();
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

/// The self-check of [`metric_seconds`] on DataFusion's duration formats.
pub fn self_check() -> Result<(), String> {
    let text = "metrics=[gpu_upload=1.5ms, gpu_compute=20µs, gpu_download=2s]";
    let got = ["gpu_upload", "gpu_compute", "gpu_download"].map(|m| metric_seconds(text, m));
    if got == [Some(1.5e-3), Some(20e-6), Some(2.0)] {
        Ok(())
    } else {
        Err(format!("durations read as {got:?}"))
    }
}
