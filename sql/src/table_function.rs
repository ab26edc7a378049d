//! Table functions with named arguments: `read_csv('a.csv', header => true, delim => ';')`.
//!
//! DataFusion's default planner accepts only positional arguments in a table function call,
//! so this [`RelationPlanner`] takes over the calls of the functions registered with it,
//! evaluates every argument to a constant and hands them to the function.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::RecordBatchOptions;
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, Result, ScalarValue, TableReference, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{ColumnarValue, LogicalPlanBuilder};
use datafusion::physical_expr::create_physical_expr;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, Ident, TableFactor,
};

/// The evaluated arguments of one table function call.
#[derive(Debug, Default, Clone)]
pub struct TableFunctionArgs {
    /// Positional arguments, in order.
    pub positional: Vec<ScalarValue>,
    /// Named arguments (`name => value` or `name = value`), names lower-cased.
    pub named: Vec<(String, ScalarValue)>,
}

impl TableFunctionArgs {
    /// Fails with a message listing the accepted names when an argument name is unknown.
    pub fn check_names(&self, function: &str, accepted: &[&str]) -> Result<()> {
        for (name, _) in &self.named {
            if !accepted.contains(&name.as_str()) {
                return plan_err!(
                    "{function}: unknown option \"{name}\" (valid options: {})",
                    accepted.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The value of the named argument `name`, if given.
    pub fn get(&self, name: &str) -> Option<&ScalarValue> {
        self.named.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A table function that receives its arguments already evaluated, named ones included.
pub trait NamedArgsTableFunction: Debug + Send + Sync {
    /// The SQL name, lower case.
    fn name(&self) -> &str;
    /// Builds the table for one call.
    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>>;
}

/// Plans calls of the registered [`NamedArgsTableFunction`]s in `FROM`.
#[derive(Debug, Default)]
pub struct TableFunctionPlanner {
    functions: BTreeMap<String, Arc<dyn NamedArgsTableFunction>>,
}

impl TableFunctionPlanner {
    /// An empty planner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `function` under its name.
    pub fn with_function(mut self, function: Arc<dyn NamedArgsTableFunction>) -> Self {
        self.functions.insert(function.name().to_string(), function);
        self
    }

    /// Names of the registered functions (for completion and `.help`).
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }
}

/// The name and value of `name => value` (also `=`, and `:=` where a dialect reads it as a
/// named argument), however the dialect parsed it: PostgreSQL's parser (the server's
/// dialect) gives the name as an expression.
pub fn named_argument(arg: &FunctionArg) -> Option<(&Ident, &Expr)> {
    let named_operator = |op: &FunctionArgOperator| {
        matches!(
            op,
            FunctionArgOperator::RightArrow
                | FunctionArgOperator::Equals
                | FunctionArgOperator::Assignment
        )
    };
    match arg {
        FunctionArg::Named {
            name,
            arg: FunctionArgExpr::Expr(expr),
            operator,
        } if named_operator(operator) => Some((name, expr)),
        FunctionArg::ExprNamed {
            name: Expr::Identifier(name),
            arg: FunctionArgExpr::Expr(expr),
            operator,
        } if named_operator(operator) => Some((name, expr)),
        _ => None,
    }
}

impl RelationPlanner for TableFunctionPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            alias,
            args: Some(call),
            ..
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let function_name = name.to_string().to_lowercase();
        let Some(function) = self.functions.get(&function_name) else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let mut args = TableFunctionArgs::default();
        for arg in &call.args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => {
                    if !args.named.is_empty() {
                        return plan_err!(
                            "{function_name}: positional argument {expr} after named arguments"
                        );
                    }
                    args.positional
                        .push(constant_argument(context, expr.clone())?);
                }
                other => {
                    let Some((name, expr)) = named_argument(other) else {
                        return plan_err!("{function_name}: unsupported argument {other}");
                    };
                    let value = constant_argument(context, expr.clone())?;
                    args.named.push((name.value.to_lowercase(), value));
                }
            }
        }
        let provider = function.create(&args)?;
        let plan = LogicalPlanBuilder::scan(
            TableReference::bare(format!("{function_name}()")),
            provider_as_source(provider),
            None,
        )?
        .build()?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// Evaluates a constant SQL expression (`'a.csv'`, `['a', 'b']`, `1 + 1`) to a value.
pub fn constant_argument(
    context: &mut dyn RelationPlannerContext,
    expr: datafusion::sql::sqlparser::ast::Expr,
) -> Result<ScalarValue> {
    let text = expr.to_string();
    let empty = DFSchema::empty();
    let logical = context.sql_to_expr(expr, &empty)?;
    let physical = create_physical_expr(
        &logical,
        &empty,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match physical.evaluate(&one_row) {
        Ok(ColumnarValue::Scalar(value)) => Ok(value),
        Ok(ColumnarValue::Array(array)) => ScalarValue::try_from_array(&array, 0),
        Err(e) => plan_err!("argument {text} is not a constant: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
    use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect, PostgreSqlDialect};
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    /// The arguments of `f(...)` in `SELECT * FROM f(...)`, parsed in `dialect`.
    fn call_args(dialect: &dyn Dialect, sql: &str) -> Vec<FunctionArg> {
        let statement = Parser::parse_sql(dialect, sql).unwrap().remove(0);
        let Statement::Query(query) = statement else {
            panic!("not a query: {sql}");
        };
        let SetExpr::Select(select) = *query.body else {
            panic!("not a select: {sql}");
        };
        match &select.from[0].relation {
            TableFactor::Table {
                args: Some(call), ..
            } => call.args.clone(),
            other => panic!("not a table function call: {other}"),
        }
    }

    #[test]
    fn named_arguments_in_every_dialect() {
        let sql = "SELECT * FROM read_netcdf('x.nc', nearest => 'lat=1', decode_cf => false)";
        for dialect in [&GenericDialect {} as &dyn Dialect, &PostgreSqlDialect {}] {
            let args = call_args(dialect, sql);
            let named: Vec<(String, String)> = args
                .iter()
                .filter_map(named_argument)
                .map(|(name, expr)| (name.value.clone(), expr.to_string()))
                .collect();
            assert_eq!(
                named,
                [
                    ("nearest".to_string(), "'lat=1'".to_string()),
                    ("decode_cf".to_string(), "false".to_string())
                ],
                "{dialect:?}"
            );
            assert!(named_argument(&args[0]).is_none());
        }
    }
}
