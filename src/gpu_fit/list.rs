//! `list_curve_fit` on the GPU: in a projection computing `list_curve_fit` of a model the
//! kernel has, the call's function is replaced by the same list function holding a GPU
//! solver, so that each batch's rows are fitted in one dispatch per attempt, and a
//! [`GpuCurveFitExec`] goes above the projection (as [`super::rule`] does for aggregates).

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use quiver_udfs::curve_fit::CurveFitKind;
use quiver_udfs::fit_udf::ListFitFunc;
use quiver_udfs::points::FitKind;

use super::kind::GpuCurveFitKind;
use super::rule::constants;
use super::solver::{GpuFitSolver, gpu_form};

/// What placing one projection's `list_curve_fit` calls found.
pub(crate) struct ListPlacement {
    /// The projection with its calls placed on the GPU (`None`: no call could be).
    pub projection: Option<Arc<dyn ExecutionPlan>>,
    /// The output columns whose `list_curve_fit` calls are placed; when none could be, every
    /// output column computing one.
    pub fits: Vec<String>,
    /// Why calls stay on the CPU.
    pub reasons: Vec<String>,
}

/// Whether `projection` computes `list_curve_fit` anywhere.
pub(crate) fn has_list_fit(projection: &ProjectionExec) -> bool {
    projection.expr().iter().any(|p| {
        p.expr
            .exists(|e| Ok(is_list_fit(e).is_some()))
            .unwrap_or(false)
    })
}

/// `expr` as a CPU `list_curve_fit` call, if it is one.
fn is_list_fit(expr: &Arc<dyn PhysicalExpr>) -> Option<&ScalarFunctionExpr> {
    let call = expr.downcast_ref::<ScalarFunctionExpr>()?;
    call.fun()
        .inner()
        .downcast_ref::<ListFitFunc<CurveFitKind>>()
        .map(|_| call)
}

/// `call` (over `schema`) on the GPU through `solver`, or why it stays on the CPU.
fn on_gpu(
    call: &ScalarFunctionExpr,
    schema: &Schema,
    solver: &Arc<GpuFitSolver>,
) -> std::result::Result<Arc<dyn PhysicalExpr>, String> {
    let fitter = CurveFitKind
        .configure(&constants(call.args()))
        .map_err(|e| format!("{}: {e}", call.name()))?;
    gpu_form(fitter.model())?;
    let kind = GpuCurveFitKind {
        solver: Arc::clone(solver),
    };
    let fun = Arc::new(ScalarUDF::from(ListFitFunc::new(kind)));
    Ok(Arc::new(ScalarFunctionExpr::new(
        call.name(),
        fun,
        call.args().to_vec(),
        call.return_field(schema).map_err(|e| e.to_string())?,
        Arc::new(call.config_options().clone()),
    )))
}

/// `projection`'s `list_curve_fit` calls placed on the GPU through `solver`.
pub(crate) fn place(
    projection: &ProjectionExec,
    solver: &Arc<GpuFitSolver>,
) -> Result<ListPlacement> {
    let mut reasons = Vec::new();
    let (mut placed, mut computing) = (Vec::new(), Vec::new());
    let schema = projection.input().schema();
    let mut exprs = Vec::with_capacity(projection.expr().len());
    for p in projection.expr() {
        let (mut has_fit, mut has_placed) = (false, false);
        let rewritten = Arc::clone(&p.expr).transform_up(|e| {
            let Some(call) = is_list_fit(&e) else {
                return Ok(Transformed::no(e));
            };
            has_fit = true;
            Ok(match on_gpu(call, &schema, solver) {
                Ok(on_gpu) => {
                    has_placed = true;
                    Transformed::yes(on_gpu)
                }
                Err(why) => {
                    reasons.push(why);
                    Transformed::no(e)
                }
            })
        })?;
        if has_fit {
            computing.push(p.alias.clone());
        }
        if has_placed {
            placed.push(p.alias.clone());
        }
        exprs.push(ProjectionExpr {
            expr: rewritten.data,
            alias: p.alias.clone(),
        });
    }
    if placed.is_empty() {
        return Ok(ListPlacement {
            projection: None,
            fits: computing,
            reasons,
        });
    }
    let projection = ProjectionExec::try_new(exprs, Arc::clone(projection.input()))?;
    Ok(ListPlacement {
        projection: Some(Arc::new(projection)),
        fits: placed,
        reasons,
    })
}
