//! Dense array aggregation (DESIGN.md §4): `GROUP BY` over dimension columns of gridded
//! data needs no hash table, because each row's group follows from its array indices. The
//! optimizer rule finds eligible aggregates over NetCDF and HDF5 scans and replaces them by a strided
//! reduction over the decoded variable blocks on the CPU pool, or on the GPU where
//! `quiver.gpu` places it (`crate::placement`, `gpu.rs`).

mod exec;
#[cfg(feature = "gpu")]
mod gpu;
pub(crate) mod kernel;
mod order;
mod rule;
mod source;
pub(crate) mod spec;

pub use rule::DenseAggregateRule;
