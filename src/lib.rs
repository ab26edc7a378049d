//! # quiver
//!
//! An embedded SQL engine for scientific and tabular data, built on Apache DataFusion.
//! Files are tables: `SELECT * FROM 'data/*.parquet'`, `read_csv('a.csv', delim => ';')`.
//!
//! ```text
//! SQL text --parser--> statements --quiver-sql planners (table functions)--> LogicalPlan
//!   --DataFusion optimizer--> ExecutionPlan (partitioned) --> RecordBatch streams
//!   --> shell printer | COPY TO file (atomic) | Rust caller
//! ```
//!
//! ```no_run
//! # async fn demo() -> datafusion::error::Result<()> {
//! let engine = quiver::Engine::builder().target_partitions(4).build()?;
//! let batches = engine.sql("SELECT 1 + 1 AS two").await?.collect().await?;
//! # Ok(()) }
//! ```
//!
//! See ARCHITECTURE.md for the code map.

mod arrays;
#[cfg(feature = "cluster")]
pub mod cluster;
mod copy;
pub mod datasource;
mod dense;
mod engine;
pub mod error;
pub mod executor;
#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(feature = "gpu")]
mod gpu_fit;
mod placement;
mod query_memory;
mod repartition_memory;
#[cfg(feature = "server")]
pub mod server;
pub mod shell;

pub use datasource::access::FileAccess;
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, Result};

/// Re-export of DataFusion, so callers use the same version as the engine.
pub use datafusion;
