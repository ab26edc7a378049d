//! Array table functions: whole relations read as matrices or grids, computed by a kernel
//! with a GPU form and a CPU twin (DESIGN.md §4, the course's GPU examples):
//!
//! - `pairwise_distance((SELECT id, x, y, ... FROM a) [, (SELECT ...)], metric => ...)`:
//!   every pair of rows, like scipy's `cdist` (`pairwise.rs`);
//! - `heat_step((SELECT y, x, value FROM grid), steps => n, alpha => a)`: explicit steps
//!   of the 2-D heat equation on a complete grid in long form (`heat.rs`);
//! - `matmul((SELECT i, k, v FROM a), (SELECT k, j, v FROM b))`: the product of two
//!   matrices given as (row, column, value) entries (`matmul.rs`).
//!
//! [`ArrayFunctionPlanner`] plans a call: its query arguments become logical plans, its named
//! arguments constants, and the result an [`ArrayTable`](table::ArrayTable) scan whose
//! physical plan (`exec.rs`) collects the inputs and runs the kernel where `quiver.gpu`
//! places it (`kernel.rs`), on the CPU when there is no adapter or the kernel fails.

mod axis;
mod exec;
pub(crate) mod heat;
mod kernel;
pub(crate) mod matmul;
pub(crate) mod pairwise;
mod table;

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, TableFactor};

pub(crate) use kernel::{Kernel, Runner};

/// One array table function, bound to its options and input schemas at planning.
pub(crate) trait ArrayFunction: Debug + Send + Sync {
    /// The call for `EXPLAIN`: name and options.
    fn describe(&self) -> String;
    /// The output columns.
    fn schema(&self) -> SchemaRef;
    /// The output for `inputs` (all rows of each input relation, in argument order), with
    /// the kernel run by `runner`.
    fn run(&self, inputs: &[RecordBatch], runner: &mut Runner) -> Result<RecordBatch>;
}

/// The names this module plans.
const FUNCTIONS: [&str; 3] = ["pairwise_distance", "heat_step", "matmul"];

/// Plans calls of the array table functions (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ArrayFunctionPlanner;

/// A call's arguments: the input queries' plans and the named options.
pub(crate) struct Call {
    pub name: String,
    pub inputs: Vec<LogicalPlan>,
    pub options: Vec<(String, ScalarValue)>,
}

impl Call {
    /// The option `name`, if given.
    pub fn option(&self, name: &str) -> Option<&ScalarValue> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// An error unless every option is one of `accepted`.
    pub fn check_options(&self, accepted: &[&str]) -> Result<()> {
        for (name, _) in &self.options {
            if !accepted.contains(&name.as_str()) {
                let list = if accepted.is_empty() {
                    "none".to_string()
                } else {
                    accepted.join(", ")
                };
                return plan_err!(
                    "{}: unknown argument '{name}' (accepted: {list})",
                    self.name
                );
            }
        }
        Ok(())
    }

    /// The option `name` as a non-negative integer, `default` when absent.
    pub fn count_option(&self, name: &str, default: usize) -> Result<usize> {
        match self.option(name) {
            None => Ok(default),
            Some(v) => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if n >= 0 && v.data_type().is_integer() => {
                    Ok(n as usize)
                }
                _ => plan_err!(
                    "{}: {name} must be a non-negative integer, not {v}",
                    self.name
                ),
            },
        }
    }

    /// The option `name` as a number, `default` when absent.
    pub fn number_option(&self, name: &str, default: f64) -> Result<f64> {
        match self.option(name) {
            None => Ok(default),
            Some(v) => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(x))) if v.data_type().is_numeric() => Ok(x),
                _ => plan_err!("{}: {name} must be a number, not {v}", self.name),
            },
        }
    }

    /// The option `name` as text, `default` when absent.
    pub fn text_option<'a>(&'a self, name: &str, default: &'a str) -> Result<&'a str> {
        match self.option(name) {
            None => Ok(default),
            Some(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => Ok(s),
            Some(v) => plan_err!("{}: {name} must be a string, not {v}", self.name),
        }
    }
}

impl RelationPlanner for ArrayFunctionPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let function = name.to_string().to_lowercase();
        if !FUNCTIONS.contains(&function.as_str()) {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        }
        let call = plan_call(&function, &args.args, context)?;
        let array_function: Arc<dyn ArrayFunction> = match function.as_str() {
            "pairwise_distance" => Arc::new(pairwise::PairwiseDistance::new(&call)?),
            "heat_step" => Arc::new(heat::HeatStep::new(&call)?),
            _ => Arc::new(matmul::Matmul::new(&call)?),
        };
        let table = table::ArrayTable::new(array_function, call.inputs);
        let plan = LogicalPlanBuilder::scan(
            format!("{function}()"),
            provider_as_source(Arc::new(table)),
            None,
        )?
        .build()?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// The input queries (positional, first) and options (named constants) of a call.
fn plan_call(
    function: &str,
    args: &[FunctionArg],
    context: &mut dyn RelationPlannerContext,
) -> Result<Call> {
    let mut call = Call {
        name: function.to_string(),
        inputs: Vec::new(),
        options: Vec::new(),
    };
    for arg in args {
        if let Some((name, value)) = quiver_sql::named_argument(arg) {
            let value = quiver_sql::constant_argument(context, value.clone())?;
            call.options
                .push((context.normalize_ident(name.clone()), value));
            continue;
        }
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Subquery(query)))
                if call.options.is_empty() =>
            {
                call.inputs.push(context.plan(TableFactor::Derived {
                    lateral: false,
                    subquery: query.clone(),
                    alias: None,
                    sample: None,
                })?);
            }
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => {
                return plan_err!(
                    "{function}: expected a (query) such as ((SELECT * FROM t)) before the named options, not {expr}"
                );
            }
            other => return plan_err!("{function}: unsupported argument {other}"),
        }
    }
    Ok(call)
}

/// An error unless `schema` has `count` columns (`what` describes them).
pub(crate) fn expect_columns(
    function: &str,
    schema: &DFSchema,
    count: usize,
    what: &str,
) -> Result<()> {
    if schema.fields().len() == count {
        Ok(())
    } else {
        plan_err!(
            "{function}: expected a query with {count} columns ({what}), got {}",
            schema.fields().len()
        )
    }
}

/// An error unless the column `index` of `schema` is a number.
pub(crate) fn expect_number(function: &str, schema: &DFSchema, index: usize) -> Result<()> {
    let field = schema.field(index);
    if field.data_type().is_numeric() {
        Ok(())
    } else {
        plan_err!(
            "{function}: column '{}' is {}, expected a number",
            field.name(),
            field.data_type()
        )
    }
}

/// `column` as f64 values; NULL as `None`.
pub(crate) fn floats(column: &ArrayRef) -> Result<datafusion::arrow::array::Float64Array> {
    let cast = cast(column, &DataType::Float64)?;
    Ok(datafusion::arrow::array::AsArray::as_primitive::<
        datafusion::arrow::datatypes::Float64Type,
    >(&cast)
    .clone())
}
