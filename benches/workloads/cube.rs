//! The synthetic-cube workloads of issue 5: `cube.grid_mean` and `cube.month_clim` on the
//! ~1 GB float32 cube of `make_cube.py` (yearly files of 12 monthly 360 x 720 steps), each
//! timed for quiver's SQL and for `rust-loop`: a plain Rust loop that reads every file's
//! values with netcdf-reader and reduces them (the memory-bandwidth bound the issue
//! compares with). quiver runs first, so its peak RSS is its own.

use std::path::{Path, PathBuf};

use netcdf_reader::NcFile;
use quiver::Engine;
use quiver::datafusion::error::{DataFusionError, Result};
use rayon::prelude::*;

use crate::checksum::seq_checksum;
use crate::climate::dense_record;
use crate::measure::{Record, Sink, timed};
use crate::udfs::{emit, record};

const GRID_SQL: &str =
    "SELECT lat, lon, avg(tas) AS m FROM {files} GROUP BY lat, lon ORDER BY lat, lon";
const MONTH_SQL: &str =
    "SELECT date_part('month', time) AS mo, avg(tas) AS m FROM {files} GROUP BY 1 ORDER BY 1";

/// Runs the selected cube workloads on the files in `dir` with `threads` threads for the loop.
pub async fn run(
    engine: &Engine,
    dir: &Path,
    selected: impl Fn(&str) -> bool,
    runs: usize,
    threads: usize,
    sink: &Sink,
) -> Result<Vec<Record>> {
    let files = format!(
        "'{}'",
        dir.join("cube_*.nc").to_string_lossy().replace('\'', "''")
    );
    let mut records = Vec::new();
    let workloads = [("cube.grid_mean", GRID_SQL), ("cube.month_clim", MONTH_SQL)];
    for (workload, template) in workloads {
        if !selected(workload) {
            continue;
        }
        let sql = template.replace("{files}", &files);
        let r = dense_record(engine, workload, &sql, runs, |columns| 2.min(columns - 1)).await?;
        emit(sink, &r)?;
        records.push(r);
    }
    let paths = cube_files(dir)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    for (workload, by_month) in [("cube.grid_mean", false), ("cube.month_clim", true)] {
        if !selected(workload) {
            continue;
        }
        let (timings, m) = timed(runs, || async {
            pool.install(|| plain_loop(&paths, by_month))
        })
        .await?;
        let mut r = record(workload, timings, seq_checksum(&m), Vec::new());
        r.tool = "rust-loop".into();
        emit(sink, &r)?;
        records.push(r);
    }
    Ok(records)
}

/// The cube files in time order (their names are the years).
fn cube_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cube_") && n.ends_with(".nc"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(DataFusionError::Plan(format!(
            "no cube_*.nc in {}; generate them with python3 benches/workloads/make_cube.py",
            dir.display()
        )));
    }
    Ok(paths)
}

/// Per-cell means over time (`by_month = false`, cells in (lat, lon) order) or per calendar
/// month means over all cells (each file holds January.. in order), files in parallel.
fn plain_loop(paths: &[PathBuf], by_month: bool) -> Result<Vec<f64>> {
    let partials = paths
        .par_iter()
        .map(|path| {
            let file = NcFile::open(path).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let tas = file
                .read_variable::<f32>("tas")
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let shape = tas.shape().to_vec();
            let cells = shape[1..].iter().product::<usize>();
            let values = tas.as_slice().unwrap_or(&[]);
            let mut sums = vec![0.0f64; if by_month { 12 } else { cells }];
            let mut counts = vec![0u64; sums.len()];
            for (step, plane) in values.chunks_exact(cells.max(1)).enumerate() {
                if by_month {
                    sums[step % 12] += plane.iter().map(|v| f64::from(*v)).sum::<f64>();
                    counts[step % 12] += cells as u64;
                } else {
                    for (s, v) in sums.iter_mut().zip(plane) {
                        *s += f64::from(*v);
                    }
                    counts.iter_mut().for_each(|c| *c += 1);
                }
            }
            Ok((sums, counts))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = partials.first().map_or(0, |p| p.0.len());
    let mut sums = vec![0.0; n];
    let mut counts = vec![0u64; n];
    for (s, c) in partials {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect())
}
