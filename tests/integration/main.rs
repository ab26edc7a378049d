//! The one integration test binary: the `quiver` command, the engine API and the data
//! sources, end to end.

mod copy;
mod engine;
mod hdf5;
mod mutation;
mod netcdf;
mod netcdf_fixtures;
mod shell;
