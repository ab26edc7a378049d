//! The one integration test binary: engine-level tests by area.

mod netcdf;
