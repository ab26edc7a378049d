//! UNPIVOT: columns to rows, with `unnest`, keeping each input row's values together and in
//! order (the row-major order of pandas' `stack` and `melt`).
//!
//! `FROM t UNPIVOT (v FOR n IN (a, b))` becomes
//!
//! ```sql
//! SELECT others, n, v FROM (
//!   SELECT others, unnest(make_array('a', 'b')) AS n, unnest(make_array(a, b)) AS v FROM t
//! ) WHERE v IS NOT NULL
//! ```

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::sql::sqlparser::ast::{
    ExcludeSelectItem, Expr, ExprWithAlias, FunctionArgExpr, FunctionArguments, Ident,
    ObjectNamePart, TableFactor,
};

use super::{column_list, plan_sql, quote, sql_string};

/// One UNPIVOT, as parsed.
pub(crate) struct UnpivotSpec<'a> {
    pub table: &'a TableFactor,
    pub value: &'a Expr,
    pub name: &'a Ident,
    pub columns: &'a [ExprWithAlias],
    pub include_nulls: bool,
}

/// One group of input columns that becomes one output row per input row.
struct Item {
    name: String,
    columns: Vec<String>,
}

/// Plans an UNPIVOT table factor.
pub(crate) fn plan_unpivot(
    spec: &UnpivotSpec<'_>,
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let input = context.plan(spec.table.clone())?;
    let fields: Vec<(String, DataType)> = input
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let value_names: Vec<String> = match spec.value {
        Expr::Identifier(ident) => vec![context.normalize_ident(ident.clone())],
        Expr::Tuple(parts) => parts
            .iter()
            .map(|p| match p {
                Expr::Identifier(ident) => Ok(context.normalize_ident(ident.clone())),
                other => plan_err!("unpivot: value column {other} must be a plain name"),
            })
            .collect::<Result<_>>()?,
        other => {
            return plan_err!(
                "unpivot: the value must be a column name or a list of names, not {other}"
            );
        }
    };
    let width = value_names.len();
    let name_of = |expr: &Expr, context: &dyn RelationPlannerContext| -> Result<String> {
        let name = match expr {
            Expr::Identifier(ident) => context.normalize_ident(ident.clone()),
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(last) => context.normalize_ident(last.clone()),
                None => return plan_err!("unpivot: empty column name"),
            },
            other => return plan_err!("unpivot: {other} is not a column name"),
        };
        if fields.iter().any(|(f, _)| *f == name) {
            Ok(name)
        } else {
            plan_err!(
                "unpivot: column \"{name}\" not found (columns: {})",
                column_list(&input)
            )
        }
    };

    let mut items = Vec::new();
    for item in spec.columns {
        if let Some(excluded) = columns_star(&item.expr, context)? {
            if width != 1 {
                return plan_err!("unpivot: COLUMNS(*) needs exactly one value column");
            }
            for name in &excluded {
                if !fields.iter().any(|(f, _)| f == name) {
                    return plan_err!(
                        "unpivot: excluded column \"{name}\" not found (columns: {})",
                        column_list(&input)
                    );
                }
            }
            for (field, _) in &fields {
                if !excluded.contains(field) {
                    items.push(Item {
                        name: field.clone(),
                        columns: vec![field.clone()],
                    });
                }
            }
            continue;
        }
        let columns = match &item.expr {
            Expr::Tuple(parts) if parts.len() == width => parts
                .iter()
                .map(|p| name_of(p, context))
                .collect::<Result<Vec<_>>>()?,
            expr if width == 1 => vec![name_of(expr, context)?],
            other => {
                return plan_err!(
                    "unpivot: {other} must list {width} columns, one per value column ({})",
                    value_names.join(", ")
                );
            }
        };
        let name = match &item.alias {
            Some(alias) => alias.value.clone(),
            None => columns.join("_"),
        };
        items.push(Item { name, columns });
    }
    if items.is_empty() {
        return plan_err!("unpivot: no columns to unpivot");
    }
    let used: Vec<&String> = items.iter().flat_map(|i| &i.columns).collect();
    let kept: Vec<String> = fields
        .iter()
        .filter(|(f, _)| !used.contains(&f))
        .map(|(f, _)| quote(f))
        .collect();

    let mut select = kept.clone();
    let names: Vec<String> = items.iter().map(|i| sql_string(&i.name)).collect();
    select.push(format!(
        "unnest(make_array({})) AS \"__quiver_name\"",
        names.join(", ")
    ));
    let mut outer = kept.clone();
    outer.push(format!("\"__quiver_name\" AS {}", quote(&spec.name.value)));
    let mut null_checks = Vec::new();
    for (slot, value_name) in value_names.iter().enumerate() {
        let typed: Vec<(&String, &DataType)> = items
            .iter()
            .filter_map(|i| i.columns.get(slot))
            .filter_map(|c| fields.iter().find(|(f, _)| f == c).map(|(f, t)| (f, t)))
            .collect();
        let target = common_type(&typed)?;
        let values: Vec<String> = typed
            .iter()
            .map(|(c, t)| {
                if **t == target {
                    quote(c)
                } else {
                    format!(
                        "arrow_cast({}, {})",
                        quote(c),
                        sql_string(&target.to_string())
                    )
                }
            })
            .collect();
        let inner_name = quote(&format!("__quiver_value_{slot}"));
        select.push(format!(
            "unnest(make_array({})) AS {inner_name}",
            values.join(", ")
        ));
        outer.push(format!("{inner_name} AS {}", quote(value_name)));
        null_checks.push(format!("{inner_name} IS NULL"));
    }
    let filter = if spec.include_nulls {
        String::new()
    } else {
        format!(" WHERE NOT ({})", null_checks.join(" AND "))
    };
    let sql = format!(
        "(SELECT {} FROM (SELECT {} FROM {}) AS __quiver_unpivot{filter})",
        outer.join(", "),
        select.join(", "),
        spec.table
    );
    plan_sql(context, &sql)
}

/// `COLUMNS(*)` or `COLUMNS(* EXCLUDE (a, b))`: the excluded names, or None for any other
/// expression.
fn columns_star(expr: &Expr, context: &dyn RelationPlannerContext) -> Result<Option<Vec<String>>> {
    let Expr::Function(function) = expr else {
        return Ok(None);
    };
    if !function.name.to_string().eq_ignore_ascii_case("columns") {
        return Ok(None);
    }
    let FunctionArguments::List(list) = &function.args else {
        return plan_err!("unpivot: expected COLUMNS(*) or COLUMNS(* EXCLUDE (...)), not {expr}");
    };
    let [arg] = list.args.as_slice() else {
        return plan_err!("unpivot: expected COLUMNS(*) or COLUMNS(* EXCLUDE (...)), not {expr}");
    };
    let arg = match arg {
        datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(arg) => arg,
        _ => return plan_err!("unpivot: expected COLUMNS(* EXCLUDE (...)), not {expr}"),
    };
    match arg {
        FunctionArgExpr::Wildcard => Ok(Some(Vec::new())),
        FunctionArgExpr::WildcardWithOptions(options) => {
            let names = match &options.opt_exclude {
                Some(ExcludeSelectItem::Single(name)) => vec![name.clone()],
                Some(ExcludeSelectItem::Multiple(names)) => names.clone(),
                None => Vec::new(),
            };
            Ok(Some(
                names
                    .iter()
                    .filter_map(|n| match n.0.last() {
                        Some(ObjectNamePart::Identifier(ident)) => Some(ident.clone()),
                        _ => None,
                    })
                    .map(|ident| context.normalize_ident(ident))
                    .collect(),
            ))
        }
        _ => plan_err!("unpivot: expected COLUMNS(*) or COLUMNS(* EXCLUDE (...)), not {expr}"),
    }
}

/// Broad type families: unpivoting mixes types only within one family.
fn family(data_type: &DataType) -> &'static str {
    if data_type.is_numeric() {
        "number"
    } else if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    ) {
        "string"
    } else if data_type.is_temporal() {
        "time"
    } else if *data_type == DataType::Null {
        "null"
    } else {
        "other"
    }
}

/// The one type all `columns` are converted to, or an error naming two that do not mix.
fn common_type(columns: &[(&String, &DataType)]) -> Result<DataType> {
    let Some(((first_name, first_type), rest)) = columns.split_first() else {
        return plan_err!("unpivot: no columns to unpivot");
    };
    let mut target = (*first_type).clone();
    let mut target_from = *first_name;
    for (name, data_type) in rest {
        if **data_type == target {
            continue;
        }
        let (a, b) = (family(&target), family(data_type));
        let compatible = a == "null" || b == "null" || (a == b && a != "other");
        let merged = compatible
            .then(|| type_union_resolution(&[target.clone(), (*data_type).clone()]))
            .flatten();
        let Some(merged) = merged else {
            return plan_err!(
                "unpivot: columns \"{target_from}\" ({target}) and \"{name}\" ({data_type}) have incompatible types; cast them to one type first"
            );
        };
        if family(&target) == "null" {
            target_from = name;
        }
        target = merged;
    }
    Ok(target)
}
