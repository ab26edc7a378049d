//! The climate workloads of `../shared/bench/peers/climate.py` on the 11 course NetCDF files
//! (`tas1840.nc … tas1850.nc`): `grid_mean` (mean over time per cell), `point_annual` (annual
//! means of the cell nearest to Stockholm, with the `nearest` scan option) and `month_clim`
//! (mean per calendar month). Every run opens the files, as the peers' runs do; all three
//! are planned as dense aggregations (`SET quiver.dense_aggregate = false` for the generic
//! plan). With `--set quiver.gpu=on` (feature `gpu`) a line adds the GPU's transfer split and
//! how many blocks were already on the device, from one `EXPLAIN ANALYZE` run after the
//! timed ones.

use std::path::Path;

use quiver::Engine;
use quiver::datafusion::error::Result;

use crate::checksum::seq_checksum;
use crate::measure::{Record, Sink, timed};
use crate::udfs::{emit, f64_column, record};

/// The workloads and their SQL over `{files}` (the quoted glob of the tas files); each
/// query's result column `m` in key order is what the peers check.
pub const QUERIES: [(&str, &str); 3] = [
    (
        "climate.grid_mean",
        "SELECT lat, lon, avg(tas) AS m FROM {files} GROUP BY lat, lon ORDER BY lat, lon",
    ),
    (
        "climate.point_annual",
        "SELECT date_part('year', time) AS y, avg(tas) AS m \
         FROM read_netcdf({files}, nearest => 'lat=59.33, lon=18.07') GROUP BY 1 ORDER BY 1",
    ),
    (
        "climate.month_clim",
        "SELECT date_part('month', time) AS mo, avg(tas) AS m FROM {files} GROUP BY 1 ORDER BY 1",
    ),
];

/// Runs the `selected` climate workloads on the tas files in `dir`.
pub async fn run(
    engine: &Engine,
    dir: &Path,
    selected: impl Fn(&str) -> bool,
    runs: usize,
    sink: &Sink,
) -> Result<Vec<Record>> {
    let files = format!(
        "'{}'",
        dir.join("tas*.nc").to_string_lossy().replace('\'', "''")
    );
    let mut records = Vec::new();
    for (workload, template) in QUERIES {
        if !selected(workload) {
            continue;
        }
        let sql = template.replace("{files}", &files);
        let r = dense_record(engine, workload, &sql, runs, |columns| columns - 1).await?;
        emit(sink, &r)?;
        records.push(r);
    }
    Ok(records)
}

/// Times `sql` (a dense aggregation) `runs` times: its record, with the checksum of the
/// column `m(number of columns)` and, for a GPU plan (feature `gpu`), the GPU's transfer
/// split.
pub async fn dense_record(
    engine: &Engine,
    workload: &str,
    sql: &str,
    runs: usize,
    m: impl Fn(usize) -> usize,
) -> Result<Record> {
    let (timings, batches) =
        timed(runs, || async { engine.sql(sql).await?.collect().await }).await?;
    let values = f64_column(&batches, m(batches.first().map_or(2, |b| b.num_columns())))?;
    #[cfg(feature = "gpu")]
    let extra = crate::kernels::gpu_split(engine, sql).await?;
    #[cfg(not(feature = "gpu"))]
    let extra = Vec::new();
    Ok(record(workload, timings, seq_checksum(&values), extra))
}
