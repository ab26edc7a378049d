//! PIVOT: rows to columns, as a two-level aggregation.
//!
//! `FROM t PIVOT (sum(x) FOR col IN (a, b))` becomes
//!
//! ```sql
//! SELECT keys, first_value(agg) FILTER (WHERE on IS NOT DISTINCT FROM a) AS a, ...
//! FROM (SELECT keys, col AS on, sum(x) AS agg FROM t GROUP BY keys, col)
//! GROUP BY keys
//! ```
//!
//! The inner aggregate gives one row per group and value, so any aggregate works and a
//! missing combination is NULL (as in DuckDB). The group keys are the input columns that
//! neither the aggregates nor the FOR expressions mention.

use std::collections::BTreeSet;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::sql::sqlparser::ast::{
    Expr, ExprWithAlias, Ident, PivotValueSource, TableFactor, Value,
};

use super::{PlanExecutor, column_list, plan_sql, quote, referenced_columns, sql_string};
use datafusion::logical_expr::LogicalPlan;

/// One PIVOT, as parsed.
pub(crate) struct PivotSpec<'a> {
    pub table: &'a TableFactor,
    pub aggregates: &'a [ExprWithAlias],
    pub on: &'a [Expr],
    pub source: &'a PivotValueSource,
    pub default_on_null: Option<&'a Expr>,
    pub max_columns: usize,
}

/// One output value: its column name and one SQL condition per FOR expression.
struct PivotValue {
    name: String,
    conditions: Vec<String>,
}

/// The name of the inner column holding FOR expression `i`.
fn on_column(i: usize) -> String {
    quote(&format!("__quiver_on_{i}"))
}

/// Plans a PIVOT table factor.
pub(crate) fn plan_pivot(
    spec: &PivotSpec<'_>,
    context: &mut dyn RelationPlannerContext,
    executor: &dyn PlanExecutor,
) -> Result<LogicalPlan> {
    let input = context.plan(spec.table.clone())?;
    let columns: Vec<String> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for aggregate in spec.aggregates {
        let is_aggregate = match &aggregate.expr {
            Expr::Function(f) if f.over.is_none() => {
                let name = f.name.to_string().to_lowercase();
                context
                    .context_provider()
                    .get_aggregate_meta(&name)
                    .is_some()
            }
            _ => false,
        };
        if !is_aggregate {
            return plan_err!(
                "pivot: {} is not an aggregate function call; use one such as sum(x), avg(x), first(x) or count(*)",
                aggregate.expr
            );
        }
    }
    for name in referenced_columns(spec.on, context) {
        if !columns.contains(&name) {
            return plan_err!(
                "pivot: column \"{name}\" not found (columns: {})",
                column_list(&input)
            );
        }
    }
    let used = referenced_columns(
        spec.on
            .iter()
            .chain(spec.aggregates.iter().map(|a| &a.expr)),
        context,
    );
    let keys: Vec<String> = columns
        .iter()
        .filter(|c| !used.contains(*c))
        .cloned()
        .collect();

    let values = match spec.source {
        PivotValueSource::List(list) => listed_values(list, spec.on.len())?,
        PivotValueSource::Any(order_by) => {
            let mut order = Vec::new();
            for item in order_by {
                let Some(i) = spec
                    .on
                    .iter()
                    .position(|e| e.to_string() == item.expr.to_string())
                else {
                    return plan_err!(
                        "pivot: IN (ANY ORDER BY {}) can only order by the FOR expressions ({})",
                        item.expr,
                        join(spec.on)
                    );
                };
                let mut item = item.clone();
                item.expr = Expr::Identifier(Ident::with_quote('"', format!("__quiver_on_{i}")));
                order.push(item.to_string());
            }
            if order.is_empty() {
                order = (0..spec.on.len())
                    .map(|i| format!("{} ASC NULLS LAST", on_column(i)))
                    .collect();
            }
            let select: Vec<String> = spec
                .on
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{e} AS {}", on_column(i)))
                .collect();
            let sql = format!(
                "(SELECT DISTINCT {} FROM {} ORDER BY {} LIMIT {})",
                select.join(", "),
                spec.table,
                order.join(", "),
                spec.max_columns + 1
            );
            found_values(context, executor, &sql, spec.on.len())?
        }
        PivotValueSource::Subquery(query) => {
            let sql = format!(
                "(SELECT DISTINCT * FROM ({query}) LIMIT {})",
                spec.max_columns + 1
            );
            found_values(context, executor, &sql, spec.on.len())?
        }
    };
    let count = values.len() * spec.aggregates.len();
    if count > spec.max_columns {
        return plan_err!(
            "pivot would create {}{count} columns, more than the limit of {}; list the wanted values with IN (...) or raise the limit with SET quiver.pivot_max_columns = <n>",
            if matches!(spec.source, PivotValueSource::List(_)) {
                ""
            } else {
                "at least "
            },
            spec.max_columns
        );
    }

    let key_list: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    let mut inner = key_list.clone();
    let mut inner_group = key_list.clone();
    for (i, on) in spec.on.iter().enumerate() {
        inner.push(format!("{on} AS {}", on_column(i)));
        inner_group.push(on.to_string());
    }
    for (j, aggregate) in spec.aggregates.iter().enumerate() {
        inner.push(format!("{} AS \"__quiver_agg_{j}\"", aggregate.expr));
    }
    let mut outer = key_list.clone();
    let mut names: BTreeSet<String> = keys.iter().cloned().collect();
    for value in &values {
        for (j, aggregate) in spec.aggregates.iter().enumerate() {
            let name = match (&aggregate.alias, spec.aggregates.len()) {
                (None, 1) => value.name.clone(),
                (Some(alias), _) => format!("{}_{}", value.name, alias.value),
                (None, _) => format!("{}_{}", value.name, aggregate.expr),
            };
            if !names.insert(name.clone()) {
                return plan_err!(
                    "pivot: two output columns would be named \"{name}\"; give the values or aggregates distinct aliases"
                );
            }
            let mut cell = format!(
                "first_value(\"__quiver_agg_{j}\") FILTER (WHERE {})",
                value.conditions.join(" AND ")
            );
            if let Some(default) = spec.default_on_null {
                cell = format!("coalesce({cell}, {default})");
            }
            outer.push(format!("{cell} AS {}", quote(&name)));
        }
    }
    if outer.is_empty() {
        return plan_err!("pivot: no values were found and no group columns remain");
    }
    let group = if key_list.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", key_list.join(", "))
    };
    let sql = format!(
        "(SELECT {} FROM (SELECT {} FROM {} GROUP BY {}) AS __quiver_pivot_groups{group})",
        outer.join(", "),
        inner.join(", "),
        spec.table,
        inner_group.join(", ")
    );
    plan_sql(context, &sql)
}

fn join(exprs: &[Expr]) -> String {
    exprs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column-name part for a listed value: strings without quotes, numbers as written.
fn value_name(expr: &Expr) -> String {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Null => "NULL".to_string(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

/// Values from an `IN (v1, v2 AS name, (a, b))` list.
fn listed_values(list: &[ExprWithAlias], width: usize) -> Result<Vec<PivotValue>> {
    let mut values = Vec::with_capacity(list.len());
    for item in list {
        let parts: Vec<&Expr> = match &item.expr {
            Expr::Tuple(parts) if width > 1 && parts.len() == width => parts.iter().collect(),
            expr if width == 1 => vec![expr],
            other => {
                return plan_err!(
                    "pivot: value {other} must be a tuple of {width} values, one per FOR expression"
                );
            }
        };
        let name = match &item.alias {
            Some(alias) => alias.value.clone(),
            None => parts
                .iter()
                .map(|p| value_name(p))
                .collect::<Vec<_>>()
                .join("_"),
        };
        let conditions = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{} IS NOT DISTINCT FROM ({p})", on_column(i)))
            .collect();
        values.push(PivotValue { name, conditions });
    }
    Ok(values)
}

/// Runs the value query of a dynamic PIVOT and turns its rows into values.
fn found_values(
    context: &mut dyn RelationPlannerContext,
    executor: &dyn PlanExecutor,
    sql: &str,
    width: usize,
) -> Result<Vec<PivotValue>> {
    let plan = plan_sql(context, sql)?;
    if plan.schema().fields().len() != width {
        return plan_err!(
            "pivot: the value query returns {} columns but there are {width} FOR expressions",
            plan.schema().fields().len()
        );
    }
    let mut values = Vec::new();
    for batch in executor.collect(plan)? {
        let texts = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let texts: Vec<&StringArray> = texts
            .iter()
            .filter_map(|c| c.as_any().downcast_ref::<StringArray>())
            .collect();
        for row in 0..batch.num_rows() {
            let mut names = Vec::with_capacity(width);
            let mut conditions = Vec::with_capacity(width);
            for (i, column) in texts.iter().enumerate() {
                if column.is_null(row) {
                    names.push("NULL".to_string());
                    conditions.push(format!("{} IS NULL", on_column(i)));
                } else {
                    let text = column.value(row);
                    names.push(text.to_string());
                    conditions.push(format!(
                        "CAST({} AS VARCHAR) = {}",
                        on_column(i),
                        sql_string(text)
                    ));
                }
            }
            values.push(PivotValue {
                name: names.join("_"),
                conditions,
            });
        }
    }
    Ok(values)
}
