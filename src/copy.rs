//! Atomic `COPY (query) TO 'file'`: the result is written to a temporary path beside the
//! target and renamed over it only when the whole write succeeded, so a failed or cancelled
//! COPY leaves the old file as it was and no partial file behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::common::plan_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;

use crate::datasource::netcdf::write as netcdf_write;

/// Runs `copy` now, through a temporary file, and returns its one-row `count` result.
pub(crate) async fn execute_copy_atomically(
    ctx: &SessionContext,
    copy: CopyTo,
) -> Result<DataFrame> {
    let Some(target) = local_path(&copy.output_url) else {
        // Object stores have no rename; their writes are single PUTs or multipart uploads
        // that only become visible when complete.
        return run(ctx, copy).await;
    };
    // On a cluster the executors write it: a relative path would resolve in each one's
    // working directory, not the client's.
    let target = std::path::absolute(&target).map_err(|e| {
        DataFusionError::Execution(format!("COPY target '{}': {e}", target.display()))
    })?;
    let directory = copy.output_url.ends_with('/');
    let temp = TempOutput::beside(&target);
    let mut staged = copy;
    staged.output_url = temp.path.to_string_lossy().into_owned();
    if directory {
        staged.output_url.push('/');
    }
    let result = run(ctx, staged).await?;
    temp.commit(&target)?;
    Ok(result)
}

async fn run(ctx: &SessionContext, copy: CopyTo) -> Result<DataFrame> {
    let rows = if netcdf_write::writes_netcdf(&copy) {
        let Some(path) = local_path(&copy.output_url) else {
            return plan_err!(
                "COPY to NetCDF writes local files only, not '{}'",
                copy.output_url
            );
        };
        netcdf_write::write_copy(ctx, &copy, &path).await?
    } else {
        let batches = ctx
            .execute_logical_plan(LogicalPlan::Copy(copy))
            .await?
            .collect()
            .await?;
        written_rows(&batches)?
    };
    count_frame(ctx, rows)
}

/// The rows DataFusion's COPY reports it wrote (its one `count` column, over all batches).
fn written_rows(batches: &[RecordBatch]) -> Result<u64> {
    let mut rows = 0;
    for batch in batches {
        let Some(counts) = batch
            .columns()
            .first()
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        else {
            return plan_err!("COPY answered {:?}, not a row count", batch.schema());
        };
        rows += counts.iter().flatten().sum::<u64>();
    }
    Ok(rows)
}

/// COPY's answer, one row with the `count` of rows written, as a VALUES plan: a plan a
/// cluster can run too (an in-memory table of the client's could not be sent).
fn count_frame(ctx: &SessionContext, rows: u64) -> Result<DataFrame> {
    let plan = LogicalPlanBuilder::values(vec![vec![lit(rows)]])?
        .project(vec![col("column1").alias("count")])?
        .build()?;
    Ok(DataFrame::new(ctx.state(), plan))
}

/// The local filesystem path of a COPY target, or `None` for an object store URL.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") {
        return None;
    }
    Some(PathBuf::from(url))
}

/// A temporary output path that is removed on drop unless committed.
struct TempOutput {
    path: PathBuf,
    committed: bool,
}

impl TempOutput {
    /// `dir/.name.quiver-tmp-PID-N.ext`: same directory (so the rename is atomic), same
    /// extension (so a file stays a file and a directory a directory).
    fn beside(target: &Path) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
            _ => (name.clone(), String::new()),
        };
        let temp_name = format!(".{stem}.quiver-tmp-{}-{n}{ext}", std::process::id());
        let path = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.join(temp_name),
            _ => PathBuf::from(temp_name),
        };
        Self {
            path,
            committed: false,
        }
    }

    /// Moves the finished output onto `target`, replacing what was there.
    fn commit(mut self, target: &Path) -> Result<()> {
        let io_error = |what: &str, e: std::io::Error| {
            DataFusionError::Execution(format!("COPY could not {what} '{}': {e}", target.display()))
        };
        if self.path.is_dir() && target.is_dir() {
            // A directory cannot be renamed over a non-empty one: move the old one aside first.
            let old = TempOutput::beside(target);
            std::fs::rename(target, &old.path).map_err(|e| io_error("replace", e))?;
            std::fs::rename(&self.path, target).map_err(|e| io_error("write", e))?;
            drop(old);
        } else {
            std::fs::rename(&self.path, target).map_err(|e| io_error("write", e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Best effort: the temporary output may not exist if the write failed early.
        if self.path.is_dir() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_path_keeps_directory_and_extension() {
        let temp = TempOutput::beside(Path::new("/data/out.parquet"));
        let name = temp
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(temp.path.parent(), Some(Path::new("/data")));
        assert!(name.starts_with(".out.quiver-tmp-"), "{name}");
        assert!(name.ends_with(".parquet"), "{name}");
    }

    #[test]
    fn object_store_urls_are_not_local() {
        assert_eq!(local_path("s3://bucket/x.csv"), None);
        assert_eq!(
            local_path("file:///tmp/x.csv"),
            Some(PathBuf::from("/tmp/x.csv"))
        );
        assert_eq!(local_path("x.csv"), Some(PathBuf::from("x.csv")));
    }
}
