//! NetCDF files as tables (DESIGN.md §4): `read_netcdf(...)`, `SELECT * FROM 'x.nc'` and
//! `CREATE EXTERNAL TABLE ... STORED AS NETCDF`, read with the pure-Rust `netcdf-reader`
//! (or, with the cargo feature `libnetcdf`, the NetCDF C library for files it cannot decode).

pub mod cf;
pub mod exec;
pub mod factory;
pub mod info;
#[cfg(feature = "libnetcdf")]
mod libnetcdf;
mod nearest;
pub mod schema;
mod source;
pub mod table;
pub mod write;

pub use exec::NetCdfExec;
pub use factory::{NetCdfInfoFunc, NetCdfTableFactory, NetCdfUrlTableFactory, ReadNetCdfFunc};
pub use schema::NetCdfOptions;
pub use table::NetCdfTable;
