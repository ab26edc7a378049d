//! What every protocol front needs to know about a planned statement before running it:
//! whether it writes (for read-only mode) and the types of its `$1, $2, ...` parameters.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// The first thing in `plan` that creates, changes or drops tables, or writes files
/// (`CREATE TABLE`, `INSERT`, `COPY`, ...), by name; `None` for plans that only read.
pub(crate) fn first_write(plan: &LogicalPlan) -> Option<String> {
    let mut found = None;
    let _ = plan.apply(|node| {
        found = match node {
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_string()),
            LogicalPlan::Dml(dml) => Some(dml.op.name().to_string()),
            LogicalPlan::Copy(_) => Some("COPY".to_string()),
            _ => None,
        };
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The message for a write refused by a read-only server.
pub(crate) fn read_only_message(write: &str) -> String {
    format!("the server is read-only: {write} is not allowed")
}

/// The parameters of a prepared plan, in `$1, $2, ...` order, with their Arrow types where
/// the planner inferred them (`WHERE id = $1`) or a cast names them (`$1::int`).
pub(crate) fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types()?;
    if types.values().any(Option::is_none) {
        let _ = plan.apply(|node| {
            for expr in node.expressions() {
                let _ = expr.apply(|e| {
                    if let Expr::Cast(cast) = e
                        && let Expr::Placeholder(p) = cast.expr.as_ref()
                        && let Some(slot @ None) = types.get_mut(&p.id)
                    {
                        *slot = Some(cast.field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    let mut ordered: Vec<(u32, Option<DataType>)> = types
        .into_iter()
        .map(|(id, t)| {
            let n = id
                .trim_start_matches('$')
                .parse::<u32>()
                .unwrap_or(u32::MAX);
            (n, t)
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}
