//! quiver's SQL functions, pure functions over Arrow arrays (no files, no SQL syntax):
//!
//! * fills: `ffill`, `bfill`, `interpolate` window functions ([`fill`]);
//! * text: [`tokenize`](tokenize::TokenizeFunc), the course's word-count tokenizer;
//! * fitting: `curve_fit` (Levenberg–Marquardt), `polyfit`, `linregress` — each as an
//!   aggregate (one fit per group) and as a `list_` function over list columns (one fit
//!   per row), both fitting in parallel on the rayon pool; `polyval` and `curve_eval`
//!   evaluate their results.
//!
//! [`scalar_functions`] and [`aggregate_functions`] list everything for registration;
//! [`FitPlanner`] lets `curve_fit`'s result struct name the model's parameters.

use std::sync::Arc;

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::Expr;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawAggregateExpr};
use datafusion::logical_expr::{AggregateUDF, DocSection, ScalarUDF};

pub mod curve_eval;
pub mod curve_fit;
pub mod fill;
pub mod fit;
pub mod fit_udf;
pub mod linregress;
pub mod points;
pub mod polyfit;
pub mod polyval;
pub mod tokenize;

use curve_fit::CurveFitKind;
use fit_udf::{FitAgg, ListFitFunc};
use linregress::LinregressKind;
use polyfit::PolyfitKind;

/// The documentation section of quiver's functions.
/// Argument types as an error message shows them: `Utf8, Float64`.
pub(crate) fn type_list(types: &[datafusion::arrow::datatypes::DataType]) -> String {
    types
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn doc_section() -> DocSection {
    DocSection {
        include: true,
        label: "quiver functions",
        description: Some("Curve fitting and text analytics"),
    }
}

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(tokenize::TokenizeFunc::default())),
        Arc::new(ScalarUDF::from(ListFitFunc::new(CurveFitKind))),
        Arc::new(ScalarUDF::from(ListFitFunc::new(PolyfitKind))),
        Arc::new(ScalarUDF::from(ListFitFunc::new(LinregressKind))),
        Arc::new(ScalarUDF::from(polyval::PolyvalFunc::default())),
        Arc::new(ScalarUDF::from(curve_eval::CurveEvalFunc::default())),
    ]
}

/// Every aggregate function of this crate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(FitAgg::new(CurveFitKind))),
        Arc::new(AggregateUDF::from(FitAgg::new(PolyfitKind))),
        Arc::new(AggregateUDF::from(FitAgg::new(LinregressKind))),
    ]
}

/// Gives `curve_fit` calls their constant model at planning time, so that the result
/// struct can name the model's parameters (`curve_fit('power', x, y).params.b`).
#[derive(Debug, Default)]
pub struct FitPlanner;

impl ExprPlanner for FitPlanner {
    fn plan_aggregate(&self, expr: RawAggregateExpr) -> Result<PlannerResult<RawAggregateExpr>> {
        if expr.func.name() != "curve_fit" {
            return Ok(PlannerResult::Original(expr));
        }
        let consts: Vec<Option<ScalarValue>> = expr
            .args
            .iter()
            .map(|a| match a {
                Expr::Literal(v, _) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let func = Arc::new(FitAgg::with_constants(CurveFitKind, consts));
        Ok(PlannerResult::Original(RawAggregateExpr { func, ..expr }))
    }
}
