//! quiver's SQL front-end: statements and relations that DataFusion's SQL planner does not
//! know, turned into ordinary [`LogicalPlan`](datafusion::logical_expr::LogicalPlan)s.
//!
//! This crate never reads data. Where a relation needs a data source (a table function such
//! as `read_csv(path, header => true)`), it hands the evaluated arguments to a
//! [`NamedArgsTableFunction`] that the engine crate registers.

mod table_function;

pub use table_function::{NamedArgsTableFunction, TableFunctionArgs, TableFunctionPlanner};
