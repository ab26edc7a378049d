//! quiver's SQL front-end: statements and relations that DataFusion's SQL planner does not
//! know, turned into ordinary [`LogicalPlan`](datafusion::logical_expr::LogicalPlan)s.
//!
//! This crate never reads data. Where a relation needs a data source (a table function such
//! as `read_csv(path, header => true)`), it hands the evaluated arguments to a
//! [`NamedArgsTableFunction`] that the engine crate registers; where a dynamic PIVOT needs
//! its column values, it hands a small plan to the engine's [`PlanExecutor`].
//!
//! Three steps: [`rewrite_duckdb_statements`] turns DuckDB's statement forms (`PIVOT t ON ...`,
//! `UNPIVOT t ON ...`, `SUMMARIZE t`) into standard SQL before parsing;
//! [`fill_skipped_arguments`] lets named arguments skip optional parameters
//! (`curve_fit(m, x, y, bounds => b)`); the relation planners ([`TableFunctionPlanner`],
//! [`ReshapePlanner`]) plan the table factors.

mod duckdb_syntax;
mod named_args;
mod options;
mod reshape;
mod table_function;

pub use duckdb_syntax::rewrite_duckdb_statements;
pub use named_args::fill_skipped_arguments;
pub use options::{GpuMode, QuiverSqlOptions};
pub use reshape::{PlanExecutor, ReshapePlanner};
pub use table_function::{
    NamedArgsTableFunction, TableFunctionArgs, TableFunctionPlanner, constant_argument,
    named_argument,
};
