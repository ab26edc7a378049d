//! Plain HDF5 datasets as tables (DESIGN.md §4): `read_hdf5('file.h5', '/group/dataset')`,
//! `SELECT * FROM 'file.h5'` (a file with one dataset), `CREATE EXTERNAL TABLE ... STORED AS
//! HDF5`, and `hdf5_info(path)`, read with the pure-Rust `hdf5-reader`.

pub mod exec;
pub mod factory;
pub mod info;
pub mod schema;
mod slab;
pub mod table;

pub use exec::Hdf5Exec;
pub use factory::{Hdf5InfoFunc, Hdf5TableFactory, ReadHdf5Func};
pub use schema::Hdf5Options;
pub use table::Hdf5Table;
