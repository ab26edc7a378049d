//! [`GpuFitRule`]: the physical optimizer rule that places `curve_fit` on the GPU. For every
//! aggregate that computes final results (Single or Final mode) with `curve_fit` of a model
//! the kernel has ([`super::solver::gpu_form`]), the call's function is replaced by the same
//! `curve_fit` holding a GPU solver ([`GpuCurveFitKind`]), and a [`GpuCurveFitExec`] goes
//! above the aggregate; projections computing `list_curve_fit` are placed the same way
//! ([`super::list`]). `quiver.gpu = 'off'` leaves plans alone; `'on'` without an adapter is
//! a planning error (`crate::placement`); `'auto'` applies only on a hardware adapter, and the
//! solver then takes an emit's groups only when they have `quiver.gpu_min_values` values.
//! With `'on'` and a model without GPU form, the exec says the fits stay on the CPU.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExec;
use quiver_sql::{GpuMode, QuiverSqlOptions};
use quiver_udfs::curve_fit::CurveFitKind;
use quiver_udfs::fit_udf::FitAgg;
use quiver_udfs::points::FitKind;

use super::exec::GpuCurveFitExec;
use super::kind::GpuCurveFitKind;
use super::list;
use super::solver::{GpuFitSolver, gpu_form};
use crate::placement::{Device, device_for, gpu_setting};

/// Places `curve_fit` aggregates on the GPU when `quiver.gpu` says so.
#[derive(Debug, Default)]
pub struct GpuFitRule;

impl PhysicalOptimizerRule for GpuFitRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (mode, min_values) = gpu_setting(config.extensions.get::<QuiverSqlOptions>());
        if mode == GpuMode::Off {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let placed = match placed(&node, mode, min_values)? {
                Some(p) => Some(p),
                None => placed_list(&node, mode, min_values)?,
            };
            Ok(match placed {
                Some(placed) => Transformed::yes(placed),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "gpu_curve_fit"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The constant arguments of a call (`None` where not a literal).
pub(super) fn constants(args: &[Arc<dyn PhysicalExpr>]) -> Vec<Option<ScalarValue>> {
    args.iter()
        .map(|e| e.downcast_ref::<Literal>().map(|l| l.value().clone()))
        .collect()
}

/// `node` with its `curve_fit` calls placed, if it is an aggregate computing any.
fn placed(
    node: &Arc<dyn ExecutionPlan>,
    mode: GpuMode,
    min_values: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let finishing = matches!(
        agg.mode(),
        AggregateMode::Single
            | AggregateMode::SinglePartitioned
            | AggregateMode::Final
            | AggregateMode::FinalPartitioned
    );
    let is_fit = |e: &AggregateFunctionExpr| {
        e.fun()
            .inner()
            .downcast_ref::<FitAgg<CurveFitKind>>()
            .is_some()
    };
    if !finishing || !agg.aggr_expr().iter().any(|e| is_fit(e)) {
        return Ok(None);
    }
    // 'on' without an adapter fails here; 'auto' on a software adapter keeps the CPU.
    if device_for(mode, min_values, u128::MAX)? == Device::Cpu {
        return Ok(None);
    }
    let metrics = ExecutionPlanMetricsSet::new();
    let solver = Arc::new(GpuFitSolver::new(mode, min_values, &metrics));
    let mut placed = Vec::new();
    let mut reasons = Vec::new();
    let mut aggr_expr = Vec::with_capacity(agg.aggr_expr().len());
    for expr in agg.aggr_expr() {
        let consts = constants(&expr.expressions());
        let model = is_fit(expr)
            .then(|| CurveFitKind.configure(&consts).ok())
            .flatten()
            .map(|fitter| fitter.model().clone());
        let Some(model) = model else {
            aggr_expr.push(Arc::clone(expr));
            continue;
        };
        if let Err(why) = gpu_form(&model) {
            reasons.push(why);
            aggr_expr.push(Arc::clone(expr));
            continue;
        }
        let kind = GpuCurveFitKind {
            solver: Arc::clone(&solver),
        };
        let fun = Arc::new(FitAgg::with_constants(kind, consts));
        let rebuilt = AggregateExprBuilder::new(fun, expr.expressions())
            .schema(agg.input_schema())
            .alias(expr.name())
            .human_display(expr.human_display().unwrap_or(expr.name()))
            .with_distinct(expr.is_distinct())
            .with_ignore_nulls(expr.ignore_nulls())
            .order_by(expr.order_bys().to_vec())
            .build()?;
        placed.push(expr.name().to_string());
        aggr_expr.push(Arc::new(rebuilt));
    }
    let rebuilt = (!placed.is_empty())
        .then(|| {
            AggregateExec::try_new(
                *agg.mode(),
                agg.group_expr().clone(),
                aggr_expr,
                agg.filter_expr().to_vec(),
                Arc::clone(agg.input()),
                agg.input_schema(),
            )
            .map(|a| Arc::new(a.with_limit_options(agg.limit_options())) as _)
        })
        .transpose()?;
    // The calls placed; when none could be, every call (that stays on the CPU).
    let fits = if placed.is_empty() {
        let names = agg.aggr_expr().iter().filter(|e| is_fit(e));
        names.map(|e| e.name().to_string()).collect()
    } else {
        placed
    };
    Ok(above(node, rebuilt, mode, fits, &reasons, metrics))
}

/// `node` with its `list_curve_fit` calls placed, if it is a projection computing any.
fn placed_list(
    node: &Arc<dyn ExecutionPlan>,
    mode: GpuMode,
    min_values: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(projection) = node.downcast_ref::<ProjectionExec>() else {
        return Ok(None);
    };
    if !list::has_list_fit(projection) || device_for(mode, min_values, u128::MAX)? == Device::Cpu {
        return Ok(None);
    }
    let metrics = ExecutionPlanMetricsSet::new();
    let solver = Arc::new(GpuFitSolver::new(mode, min_values, &metrics));
    let found = list::place(projection, &solver)?;
    Ok(above(
        node,
        found.projection,
        mode,
        found.fits,
        &found.reasons,
        metrics,
    ))
}

/// The [`GpuCurveFitExec`] over `placed` (the node with its fits on the GPU), or with
/// `quiver.gpu = 'on'` over the unchanged `node` saying why its `fits` stay on the CPU;
/// `None` when nothing was placed under `'auto'`.
fn above(
    node: &Arc<dyn ExecutionPlan>,
    placed: Option<Arc<dyn ExecutionPlan>>,
    mode: GpuMode,
    fits: Vec<String>,
    reasons: &[String],
    metrics: ExecutionPlanMetricsSet,
) -> Option<Arc<dyn ExecutionPlan>> {
    let (device, input) = match placed {
        Some(placed) => ("gpu".to_string(), placed),
        None if mode == GpuMode::On => (format!("cpu ({})", reasons.join("; ")), Arc::clone(node)),
        None => return None,
    };
    Some(Arc::new(GpuCurveFitExec::new(input, device, fits, metrics)))
}
