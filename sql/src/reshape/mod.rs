//! Reshaping relations: PIVOT, UNPIVOT, `summarize(...)` and `describe_stats(...)`.
//!
//! [`ReshapePlanner`] is a DataFusion [`RelationPlanner`]: it takes over the SQL-standard
//! `FROM t PIVOT (...)` / `FROM t UNPIVOT (...)` table factors and the `summarize(t)` /
//! `describe_stats(t)` table functions. Each is rewritten into ordinary SQL (aggregates with
//! `FILTER`, `unnest`), parsed and planned by DataFusion's own planner, so the result is a
//! plain [`LogicalPlan`] that works in views, CTEs and prepared statements.
//!
//! A PIVOT without a value list (`IN (ANY)`) finds its values while planning: the planner
//! hands a small `SELECT DISTINCT` plan to the engine's [`PlanExecutor`]. That keeps this
//! crate free of any data access of its own.

mod pivot;
mod summarize;
mod unpivot;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::sql::sqlparser::ast::{Expr, NullInclusion, TableFactor, visit_expressions};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::options::QuiverSqlOptions;

/// Runs a (small) logical plan to completion while another statement is being planned.
pub trait PlanExecutor: Debug + Send + Sync {
    /// Executes `plan` and returns all its rows.
    fn collect(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>>;
}

/// Plans PIVOT, UNPIVOT, `summarize(...)` and `describe_stats(...)`.
#[derive(Debug)]
pub struct ReshapePlanner {
    executor: Arc<dyn PlanExecutor>,
}

impl ReshapePlanner {
    /// A planner that runs the value queries of dynamic PIVOTs with `executor`.
    pub fn new(executor: Arc<dyn PlanExecutor>) -> Self {
        Self { executor }
    }
}

impl RelationPlanner for ReshapePlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let (plan, alias) = match relation {
            TableFactor::Pivot {
                table,
                aggregate_functions,
                value_column,
                value_source,
                default_on_null,
                alias,
            } => {
                let max_columns = context
                    .context_provider()
                    .options()
                    .extensions
                    .get::<QuiverSqlOptions>()
                    .map_or(QuiverSqlOptions::default().pivot_max_columns, |o| {
                        o.pivot_max_columns
                    });
                let spec = pivot::PivotSpec {
                    table: &table,
                    aggregates: &aggregate_functions,
                    on: &value_column,
                    source: &value_source,
                    default_on_null: default_on_null.as_ref(),
                    max_columns,
                };
                (
                    pivot::plan_pivot(&spec, context, self.executor.as_ref())?,
                    alias,
                )
            }
            TableFactor::Unpivot {
                table,
                value,
                name,
                columns,
                null_inclusion,
                alias,
            } => {
                let include_nulls = matches!(null_inclusion, Some(NullInclusion::IncludeNulls));
                let spec = unpivot::UnpivotSpec {
                    table: &table,
                    value: &value,
                    name: &name,
                    columns: &columns,
                    include_nulls,
                };
                (unpivot::plan_unpivot(&spec, context)?, alias)
            }
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } if summarize::is_summary_function(&name.to_string()) => {
                let function = name.to_string().to_lowercase();
                (
                    summarize::plan_summary(&function, &args.args, context)?,
                    alias,
                )
            }
            other => return Ok(RelationPlanning::Original(Box::new(other))),
        };
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// `name` as a double-quoted SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a single-quoted SQL string literal.
pub(crate) fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Parses SQL that quiver generated into a table factor.
pub(crate) fn parse_factor(sql: &str) -> Result<TableFactor> {
    let dialect = GenericDialect {};
    Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_table_factor())
        .map_err(|e| DataFusionError::SQL(Box::new(e), Some(format!(" in generated SQL: {sql}"))))
}

/// Plans generated SQL text (a parenthesised query) as a relation.
pub(crate) fn plan_sql(context: &mut dyn RelationPlannerContext, sql: &str) -> Result<LogicalPlan> {
    context.plan(parse_factor(sql)?)
}

/// Names of the columns that `exprs` refer to (the last part of qualified names),
/// normalised the way the planner normalises identifiers.
pub(crate) fn referenced_columns<'a>(
    exprs: impl IntoIterator<Item = &'a Expr>,
    context: &dyn RelationPlannerContext,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in exprs {
        let _ = visit_expressions(expr, |e| {
            match e {
                Expr::Identifier(ident) => {
                    names.insert(context.normalize_ident(ident.clone()));
                }
                Expr::CompoundIdentifier(parts) => {
                    if let Some(last) = parts.last() {
                        names.insert(context.normalize_ident(last.clone()));
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    names
}

/// The column names of a plan, for error messages.
pub(crate) fn column_list(plan: &LogicalPlan) -> String {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
