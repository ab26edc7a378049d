//! `quiver --gpu-calibrate`: measures, on this machine, from how many values a dense
//! aggregation is faster on the GPU than on the CPU — the number `quiver.gpu = 'auto'`
//! compares with `quiver.gpu_min_values`. For sizes growing by 4x it writes a NetCDF file of
//! that many f32 values (1,024 cells × steps, written by quiver's own COPY) to a temporary
//! folder and times `avg` and `max` per cell over it three ways: on the CPU, on the GPU
//! reading and uploading the file (`quiver.gpu_cache_bytes = 0`), and on the GPU with the
//! columns already on the device. Each time is the median of three runs. The threshold is
//! the smallest size from which the GPU, reading and uploading, is faster at every larger
//! size measured.

use std::fmt;
use std::time::{Duration, Instant};

use datafusion::common::{DataFusionError, Result};

use super::device::{GpuInfo, info};
use crate::Engine;

/// The smallest size measured, in values.
const SMALLEST: u64 = 1 << 16;
/// The largest size measured (1 GiB of f32; COPY builds each file in memory first).
const LARGEST: u64 = 1 << 28;
/// Cells per time step of the generated files.
const CELLS: u64 = 1024;
/// Runs per measurement (the median is kept).
const RUNS: usize = 3;

/// The times of one size.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Values aggregated (time steps × cells).
    pub values: u64,
    /// The CPU's dense aggregation.
    pub cpu: Duration,
    /// The GPU reading the file and uploading its values.
    pub gpu: Duration,
    /// The GPU over columns already on the device.
    pub resident: Duration,
}

/// What a calibration measured and concluded.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The adapter measured.
    pub adapter: GpuInfo,
    /// One per size, smallest first.
    pub measurements: Vec<Measurement>,
    /// The `quiver.gpu_min_values` the measurements suggest; `None` when the GPU was not
    /// faster at the largest size.
    pub min_values: Option<u64>,
}

/// Measures sizes from 65,536 values up to `max_values` (at most 268,435,456), calling
/// `progress` before each.
pub async fn calibrate(max_values: u64, progress: impl Fn(&str)) -> Result<Calibration> {
    let adapter = info().map_err(|reason| {
        DataFusionError::Plan(format!("no GPU adapter to calibrate: {reason}"))
    })?;
    if !(SMALLEST..=LARGEST).contains(&max_values) {
        return Err(DataFusionError::Plan(format!(
            "--gpu-calibrate: at least {SMALLEST} values and at most {LARGEST}, not {max_values}"
        )));
    }
    let dir = tempfile::tempdir()?;
    let engine = Engine::builder().build()?;
    let mut measurements = Vec::new();
    let mut values = SMALLEST;
    while values <= max_values {
        progress(&format!("measuring {values} values"));
        let file = dir.path().join(format!("values_{values}.nc"));
        let file = file.to_string_lossy().replace('\'', "''");
        run(
            &engine,
            &format!(
                "COPY (SELECT t, x, CAST(sin(t * {CELLS} + x) AS REAL) AS v \
                 FROM generate_series(0, {}) AS a(t) CROSS JOIN generate_series(0, {}) AS b(x)) \
                 TO '{file}' OPTIONS (dimensions 't, x')",
                values / CELLS - 1,
                CELLS - 1
            ),
        )
        .await?;
        let query = format!("SELECT x, avg(v) AS m, max(v) AS hi FROM '{file}' GROUP BY x");
        let cpu = timed(&engine, &[("gpu", "off")], &query).await?;
        let gpu = timed(&engine, &[("gpu", "on"), ("gpu_cache_bytes", "0")], &query).await?;
        // The default bound keeps the columns; a first run puts them on the device.
        let resident_settings = [("gpu", "on"), ("gpu_cache_bytes", "1073741824")];
        timed(&engine, &resident_settings, &query).await?;
        let resident = timed(&engine, &resident_settings, &query).await?;
        std::fs::remove_file(&file)?;
        measurements.push(Measurement {
            values,
            cpu,
            gpu,
            resident,
        });
        values *= 4;
    }
    let min_values = threshold(&measurements);
    Ok(Calibration {
        adapter,
        measurements,
        min_values,
    })
}

/// The smallest size from which the GPU (reading and uploading) is faster at every larger
/// size measured.
fn threshold(measurements: &[Measurement]) -> Option<u64> {
    let slower = measurements.iter().rposition(|m| m.gpu >= m.cpu);
    match slower {
        None => measurements.first().map(|m| m.values),
        Some(i) => measurements.get(i + 1).map(|m| m.values),
    }
}

async fn run(engine: &Engine, sql: &str) -> Result<()> {
    engine.sql(sql).await?.collect().await?;
    Ok(())
}

/// The median of [`RUNS`] runs of `query` under `settings` (`quiver.<name>`), checking that
/// the plan puts the aggregation where the settings say.
async fn timed(engine: &Engine, settings: &[(&str, &str)], query: &str) -> Result<Duration> {
    for (name, value) in settings {
        run(engine, &format!("SET quiver.{name} = '{value}'")).await?;
    }
    let device = if settings.contains(&("gpu", "on")) {
        "device=gpu"
    } else {
        "device=cpu"
    };
    let plan = engine
        .sql(&format!("EXPLAIN {query}"))
        .await?
        .collect()
        .await?;
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
    if !plan.contains(device) {
        return Err(DataFusionError::Internal(format!(
            "calibration: the aggregation is not planned with {device}:\n{plan}"
        )));
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        run(engine, query).await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}

impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "adapter: {}", self.adapter.name)?;
        writeln!(
            f,
            "{:>12}  {:>10}  {:>14}  {:>14}",
            "values", "cpu ms", "gpu ms (read)", "gpu ms (kept)"
        )?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for m in &self.measurements {
            writeln!(
                f,
                "{:>12}  {:>10.2}  {:>14.2}  {:>14.2}",
                m.values,
                ms(m.cpu),
                ms(m.gpu),
                ms(m.resident)
            )?;
        }
        match self.min_values {
            Some(n) => writeln!(f, "SET quiver.gpu_min_values = {n};")?,
            None => writeln!(
                f,
                "the GPU was not faster at the largest size: keep quiver.gpu = 'off', or \
                 measure larger sizes"
            )?,
        }
        if !self.adapter.hardware {
            writeln!(
                f,
                "note: {} is a software adapter; 'auto' never uses one, and its times say \
                 nothing about a GPU",
                self.adapter.name
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(values: u64, cpu: u64, gpu: u64) -> Measurement {
        Measurement {
            values,
            cpu: Duration::from_millis(cpu),
            gpu: Duration::from_millis(gpu),
            resident: Duration::ZERO,
        }
    }

    #[test]
    fn the_threshold_is_where_the_gpu_stays_faster() {
        let sizes = |times: &[(u64, u64)]| -> Vec<Measurement> {
            (0u32..)
                .zip(times)
                .map(|(i, (c, g))| at(SMALLEST << (2 * i), *c, *g))
                .collect()
        };
        assert_eq!(
            threshold(&sizes(&[(1, 2), (4, 3), (16, 8)])),
            Some(SMALLEST << 2)
        );
        // Faster once, slower again: only where it stays faster.
        let wobbly = sizes(&[(1, 2), (4, 3), (16, 17), (64, 30)]);
        assert_eq!(threshold(&wobbly), Some(SMALLEST << 6));
        assert_eq!(threshold(&sizes(&[(2, 1), (8, 3)])), Some(SMALLEST));
        assert_eq!(threshold(&sizes(&[(1, 2), (4, 5)])), None);
        assert_eq!(threshold(&[]), None);
    }
}
