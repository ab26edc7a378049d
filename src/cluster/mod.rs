//! Queries past one machine, on Apache Ballista 55 (cargo feature `cluster`).
//!
//! quiver does not run a cluster of its own: `quiver cluster scheduler` and
//! `quiver cluster executor` are Ballista's scheduler and executor with quiver's sessions,
//! functions and extension codecs; `quiver --cluster` (`EngineBuilder::cluster`) plans a
//! query here and hands its logical plan to the scheduler, which cuts it into stages whose
//! partitions the executors run as tasks. NetCDF, HDF5 and text scans travel as their
//! files, options and partitions ([`scans`]); functions travel by name. See docs/cluster.md.

mod check;
mod codec;
mod executor;
mod functions;
mod scan_partitions;
mod scans;
mod scheduler;
mod session;

pub use codec::{QuiverLogicalCodec, QuiverPhysicalCodec};
pub use executor::{ExecutorOptions, run_executor};
pub use scheduler::ClusterScheduler;
pub(crate) use session::client_state;
