//! Data sources: files of every supported format as tables.

mod csv_errors;
pub mod files;
pub mod hdf5;
pub mod netcdf;
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
