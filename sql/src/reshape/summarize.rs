//! `summarize(t)` (DuckDB's SUMMARIZE: one row per column) and `describe_stats(t)` (pandas'
//! `describe()`: one row per statistic, one column per numeric column).
//!
//! Both compute every statistic in one aggregate over the input, then turn the single
//! result row into rows with `unnest`. Quartiles are exact (`percentile_cont`, linear
//! interpolation, as pandas' default).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr};

use super::{parse_factor, plan_sql, quote, sql_string};

/// Whether `name` is one of the summary table functions.
pub(crate) fn is_summary_function(name: &str) -> bool {
    matches!(name.to_lowercase().as_str(), "summarize" | "describe_stats")
}

/// Plans `summarize((query))` or `describe_stats((query))`.
pub(crate) fn plan_summary(
    function: &str,
    args: &[FunctionArg],
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let input_sql = match args {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))] => match expr {
            Expr::Subquery(query) => format!("({query})"),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => {
                // Tables are looked up before planning, from the FROM clauses only.
                return plan_err!(
                    "{function}: pass the table as a query: {function}((SELECT * FROM {expr})), or use SUMMARIZE {expr}"
                );
            }
            other => {
                return plan_err!(
                    "{function}: expected a (query), as in {function}((SELECT * FROM t)), not {other}"
                );
            }
        },
        _ => {
            return plan_err!(
                "{function}: expected one argument, a (query), as in {function}((SELECT * FROM t))"
            );
        }
    };
    let input = context.plan(parse_factor(&input_sql)?)?;
    let fields: Vec<(String, DataType)> = input
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let sql = if function == "summarize" {
        summarize_sql(&fields, &input_sql)?
    } else {
        describe_sql(&fields, &input_sql)?
    };
    plan_sql(context, &sql)
}

fn is_number(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

fn is_orderable(data_type: &DataType) -> bool {
    data_type.is_numeric()
        || data_type.is_temporal()
        || matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Binary
                | DataType::LargeBinary
        )
}

/// What `approx_distinct` counts for a column: the column itself where its type is supported
/// (integers, strings, binary), its text otherwise (floats, decimals, times, booleans).
fn distinct_input(data_type: &DataType, column: &str) -> String {
    if data_type.is_integer()
        || matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
        )
    {
        column.to_string()
    } else {
        format!("CAST({column} AS VARCHAR)")
    }
}

/// `unnest(make_array(items))`.
fn unnest(items: &[String]) -> String {
    format!("unnest(make_array({}))", items.join(", "))
}

fn summarize_sql(fields: &[(String, DataType)], input: &str) -> Result<String> {
    if fields.is_empty() {
        return plan_err!("summarize: {input} has no columns");
    }
    let mut aggregates = vec!["count(*) AS \"__quiver_rows\"".to_string()];
    let mut out: Vec<Vec<String>> = vec![Vec::new(); 12];
    for (i, (name, data_type)) in fields.iter().enumerate() {
        let c = quote(name);
        let d = format!("CAST({c} AS DOUBLE)");
        let stats: [(String, &str); 8] = if is_number(data_type) {
            [
                (format!("CAST(min({c}) AS VARCHAR)"), "min"),
                (format!("CAST(max({c}) AS VARCHAR)"), "max"),
                (
                    format!(
                        "CAST(approx_distinct({}) AS BIGINT)",
                        distinct_input(data_type, &c)
                    ),
                    "unique",
                ),
                (format!("avg({d})"), "avg"),
                (format!("stddev({d})"), "std"),
                (format!("percentile_cont({d}, 0.25)"), "q25"),
                (format!("percentile_cont({d}, 0.5)"), "q50"),
                (format!("percentile_cont({d}, 0.75)"), "q75"),
            ]
        } else {
            let orderable = is_orderable(data_type);
            let or_null = |sql: String, t: &str| {
                if orderable {
                    sql
                } else {
                    format!("CAST(NULL AS {t})")
                }
            };
            [
                (
                    or_null(format!("CAST(min({c}) AS VARCHAR)"), "VARCHAR"),
                    "min",
                ),
                (
                    or_null(format!("CAST(max({c}) AS VARCHAR)"), "VARCHAR"),
                    "max",
                ),
                (
                    or_null(
                        format!(
                            "CAST(approx_distinct({}) AS BIGINT)",
                            distinct_input(data_type, &c)
                        ),
                        "BIGINT",
                    ),
                    "unique",
                ),
                ("CAST(NULL AS DOUBLE)".to_string(), "avg"),
                ("CAST(NULL AS DOUBLE)".to_string(), "std"),
                ("CAST(NULL AS DOUBLE)".to_string(), "q25"),
                ("CAST(NULL AS DOUBLE)".to_string(), "q50"),
                ("CAST(NULL AS DOUBLE)".to_string(), "q75"),
            ]
        };
        out[0].push(sql_string(name));
        out[1].push(sql_string(&data_type.to_string()));
        for (k, (sql, stat)) in stats.into_iter().enumerate() {
            let alias = format!("\"{stat}_{i}\"");
            aggregates.push(format!("{sql} AS {alias}"));
            out[k + 2].push(alias);
        }
        aggregates.push(format!("count({c}) AS \"count_{i}\""));
        out[10].push("\"__quiver_rows\"".to_string());
        out[11].push(format!(
            "CAST(CASE WHEN \"__quiver_rows\" = 0 THEN NULL ELSE round(100.0 * (\"__quiver_rows\" - \"count_{i}\") / \"__quiver_rows\", 2) END AS DECIMAL(9, 2))"
        ));
    }
    let names = [
        "column_name",
        "column_type",
        "min",
        "max",
        "approx_unique",
        "avg",
        "std",
        "q25",
        "q50",
        "q75",
        "count",
        "null_percentage",
    ];
    let select: Vec<String> = names
        .iter()
        .zip(&out)
        .map(|(name, items)| format!("{} AS {}", unnest(items), quote(name)))
        .collect();
    Ok(format!(
        "(SELECT {} FROM (SELECT {} FROM {input}) AS __quiver_summary)",
        select.join(", "),
        aggregates.join(", ")
    ))
}

fn describe_sql(fields: &[(String, DataType)], input: &str) -> Result<String> {
    let numeric: Vec<&String> = fields
        .iter()
        .filter(|(_, t)| is_number(t))
        .map(|(n, _)| n)
        .collect();
    if numeric.is_empty() {
        let all: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        return plan_err!(
            "describe_stats: {input} has no numeric columns (columns: {})",
            all.join(", ")
        );
    }
    let statistics = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];
    let mut aggregates = Vec::new();
    let mut select = vec![format!(
        "{} AS statistic",
        unnest(&statistics.iter().map(|s| sql_string(s)).collect::<Vec<_>>())
    )];
    for (i, name) in numeric.iter().enumerate() {
        let d = format!("CAST({} AS DOUBLE)", quote(name));
        let stats = [
            format!("CAST(count({d}) AS DOUBLE)"),
            format!("avg({d})"),
            format!("stddev({d})"),
            format!("min({d})"),
            format!("percentile_cont({d}, 0.25)"),
            format!("percentile_cont({d}, 0.5)"),
            format!("percentile_cont({d}, 0.75)"),
            format!("max({d})"),
        ];
        let mut items = Vec::new();
        for (k, sql) in stats.into_iter().enumerate() {
            aggregates.push(format!("{sql} AS \"s{k}_{i}\""));
            items.push(format!("\"s{k}_{i}\""));
        }
        select.push(format!("{} AS {}", unnest(&items), quote(name)));
    }
    Ok(format!(
        "(SELECT {} FROM (SELECT {} FROM {input}) AS __quiver_describe)",
        select.join(", "),
        aggregates.join(", ")
    ))
}
