//! Data sources: files of every supported format as tables.

pub mod access;
pub(crate) mod array;
mod csv_errors;
pub mod files;
pub mod hdf5;
pub mod netcdf;
pub(crate) mod remote;
pub mod text;

pub use csv_errors::{name_csv_file_in_error, name_csv_file_in_inference_error};

/// Runs an async I/O step (schema inference, file listing) to completion from synchronous
/// planning code, on a scoped thread with its own small runtime, so it works whether or not
/// the caller is inside a tokio runtime and never blocks on the caller's runtime.
pub(crate) fn block_on_io<F>(future: F) -> datafusion::error::Result<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(future))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(datafusion::error::DataFusionError::Execution(
                    "file listing or schema inference panicked".to_string(),
                ))
            })
    })
}

/// The files that paths, globs and object store URLs name, each glob's matches sorted;
/// `function` names the caller in errors. A path that does not exist, a glob that matches
/// nothing or a directory is an error naming it.
pub(crate) fn expand_paths(
    function: &str,
    paths: &[String],
) -> datafusion::error::Result<Vec<String>> {
    use datafusion::common::plan_err;
    let mut out = Vec::new();
    for path in paths {
        if remote::is_remote(path) {
            out.extend(remote::expand(function, path)?);
            continue;
        }
        let path = path.strip_prefix("file://").unwrap_or(path);
        if path.contains(['*', '?', '[']) {
            let entries = match glob::glob(path) {
                Ok(entries) => entries,
                Err(e) => return plan_err!("{function}: invalid glob '{path}': {e}"),
            };
            let mut matched: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matched.is_empty() {
                return plan_err!("{function}: no files match '{path}'");
            }
            matched.sort();
            out.extend(matched);
        } else {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => out.push(path.to_string()),
                Ok(_) => {
                    return plan_err!(
                        "{function}: '{path}' is not a file (use a glob such as '{path}/*')"
                    );
                }
                Err(_) => return plan_err!("no such file or directory: '{path}'"),
            }
        }
    }
    if out.is_empty() {
        return plan_err!("{function}: no files given");
    }
    Ok(out)
}

/// The size in bytes of the file at `path` (local, or an object store URL).
pub(crate) fn file_size(path: &str) -> datafusion::error::Result<u64> {
    if remote::is_remote(path) {
        return remote::size(path);
    }
    std::fs::metadata(path)
        .map(|meta| meta.len())
        .map_err(|e| datafusion::error::DataFusionError::Plan(format!("cannot read '{path}': {e}")))
}

/// The whole file at `path` (local, or an object store URL).
pub(crate) fn read_file(path: &str) -> datafusion::error::Result<Vec<u8>> {
    if remote::is_remote(path) {
        return remote::read_all(path);
    }
    std::fs::read(path).map_err(|e| {
        datafusion::error::DataFusionError::Execution(format!("cannot read '{path}': {e}"))
    })
}
