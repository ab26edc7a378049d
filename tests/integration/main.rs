//! The one integration test binary: the `quiver` command, the engine API and the data
//! sources, end to end.

// Helpers outside #[test] functions panic on failure by design (clippy.toml's
// allow-unwrap-in-tests covers only the test functions themselves).
#![allow(clippy::unwrap_used)]

#[cfg(feature = "gpu")]
mod arrays;
mod clients;
#[cfg(feature = "cluster")]
mod cluster;
mod copy;
mod data_root;
mod dense;
mod engine;
mod flight;
#[cfg(feature = "gpu")]
mod gpu;
#[cfg(feature = "gpu")]
mod gpu_fit;
mod hdf5;
mod hdf5_partitions;
mod mutation;
mod netcdf;
mod netcdf_fallback;
mod netcdf_fixtures;
mod netcdf_write;
mod object_store;
mod odbc;
mod pgbench;
mod server;
mod server_lifecycle;
mod shell;
mod tls;
