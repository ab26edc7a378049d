//! `curve_fit(model, x, y [, p0] [, bounds])`: non-linear least squares by
//! Levenberg–Marquardt, as an aggregate (one fit per group) and as
//! `list_curve_fit(model, xs, ys [, p0] [, bounds])` over list columns (one fit per row).
//! The result is a struct with the parameters by name. `p0` and `bounds` are constants,
//! given by position or by name (`bounds => [[0, -5], [1e6, 0]]`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, DocumentationBuilder};

use crate::doc_section;
use crate::fit::batch::{BatchSolver, fit_batch};
use crate::fit::bounds::Bounds;
use crate::fit::lm::{FitResult, Options, fit};
use crate::fit::models::{MODEL_NAMES, Model};
use crate::points::{FitKind, Fitter, PointSet, fit_in_parallel};

/// The `curve_fit` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CurveFitKind;

/// A model with optional fixed starting values and bounds.
#[derive(Debug, Clone)]
pub struct CurveFitter {
    model: Model,
    p0: Option<Vec<f64>>,
    bounds: Option<Bounds>,
    options: Options,
    /// Where an aggregate's groups are fitted when it accepts them (the GPU); the CPU
    /// otherwise, or when it fails.
    solver: Option<Arc<dyn BatchSolver>>,
}

impl CurveFitter {
    /// Fitting `model`, from `p0` or automatic starting values, within `bounds` if given.
    pub fn new(model: Model, p0: Option<Vec<f64>>, bounds: Option<Bounds>) -> Self {
        Self {
            model,
            p0,
            bounds,
            options: Options::default(),
            solver: None,
        }
    }

    /// The same fit, with groups handed to `solver` when it accepts them.
    pub fn with_solver(self, solver: Arc<dyn BatchSolver>) -> Self {
        Self {
            solver: Some(solver),
            ..self
        }
    }

    /// The model fitted.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The fits of `sets` on the batch solver, or `None` when there is none, it declines
    /// them, or it failed (the failure is the solver's to report).
    fn fit_on_solver(&self, sets: &[PointSet]) -> Option<Vec<Option<FitResult>>> {
        let solver = self.solver.as_deref()?;
        let filled: Vec<PointSet> = sets
            .iter()
            .filter(|(x, _)| !x.is_empty())
            .copied()
            .collect();
        let points = filled.iter().map(|(x, _)| x.len()).sum();
        if filled.is_empty() || !solver.accepts(&self.model, filled.len(), points) {
            return None;
        }
        let fits = fit_batch(
            solver,
            &self.model,
            &filled,
            self.p0.as_deref(),
            self.bounds.as_ref(),
            &self.options,
        )
        .ok()?;
        let mut fits = fits.into_iter();
        Some(
            sets.iter()
                .map(|(x, _)| if x.is_empty() { None } else { fits.next() })
                .collect(),
        )
    }

    fn names(&self) -> Fields {
        self.model
            .param_names()
            .into_iter()
            .map(|n| Field::new(n, DataType::Float64, true))
            .collect()
    }
}

impl Fitter for CurveFitter {
    type Output = FitResult;

    fn data_type(&self) -> DataType {
        let names = self.names();
        DataType::Struct(Fields::from(vec![
            Field::new("params", DataType::Struct(names.clone()), true),
            Field::new("stderrs", DataType::Struct(names), true),
            Field::new("r2", DataType::Float64, true),
            Field::new("rss", DataType::Float64, true),
            Field::new("iterations", DataType::Int64, false),
            Field::new("converged", DataType::Boolean, false),
        ]))
    }

    fn fit(&self, x: &[f64], y: &[f64]) -> FitResult {
        fit(
            &self.model,
            x,
            y,
            self.p0.as_deref(),
            self.bounds.as_ref(),
            &self.options,
        )
    }

    fn fit_sets(&self, sets: &[PointSet]) -> Vec<Option<FitResult>> {
        self.fit_on_solver(sets)
            .unwrap_or_else(|| fit_in_parallel(self, sets))
    }

    fn build(&self, outputs: Vec<Option<FitResult>>) -> Result<ArrayRef> {
        let n = self.model.n_params();
        let rows = outputs.len();
        let mut params: Vec<Float64Builder> = (0..n)
            .map(|_| Float64Builder::with_capacity(rows))
            .collect();
        let mut errs: Vec<Float64Builder> = (0..n)
            .map(|_| Float64Builder::with_capacity(rows))
            .collect();
        let mut r2 = Float64Builder::with_capacity(rows);
        let mut rss = Float64Builder::with_capacity(rows);
        let mut iterations = Int64Builder::with_capacity(rows);
        let mut converged = BooleanBuilder::with_capacity(rows);
        let mut valid = Vec::with_capacity(rows);
        let none = FitResult::default();
        for out in &outputs {
            valid.push(out.is_some());
            let out = out.as_ref().unwrap_or(&none);
            for i in 0..n {
                params[i].append_option(out.params.as_ref().map(|p| p[i]));
                errs[i].append_option(out.stderrs.as_ref().and_then(|e| e[i]));
            }
            r2.append_option(out.r2);
            rss.append_option(out.rss);
            iterations.append_value(out.iterations as i64);
            converged.append_value(out.converged);
        }
        let names = self.names();
        let param_valid: Vec<bool> = outputs
            .iter()
            .map(|o| o.as_ref().is_some_and(|o| o.params.is_some()))
            .collect();
        let group = |builders: Vec<Float64Builder>| -> Result<ArrayRef> {
            let arrays: Vec<ArrayRef> = builders
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                .collect();
            Ok(Arc::new(StructArray::try_new(
                names.clone(),
                arrays,
                Some(NullBuffer::from(param_valid.clone())),
            )?))
        };
        let DataType::Struct(fields) = self.data_type() else {
            return datafusion::common::internal_err!("curve_fit result is a struct");
        };
        let columns: Vec<ArrayRef> = vec![
            group(params)?,
            group(errs)?,
            Arc::new(r2.finish()),
            Arc::new(rss.finish()),
            Arc::new(iterations.finish()),
            Arc::new(converged.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(
            fields,
            columns,
            Some(NullBuffer::from(valid)),
        )?))
    }
}

/// The elements of a constant list (`[1, 2]`) or struct (`(1, 2)`) value.
fn elements(value: &ScalarValue) -> Option<Vec<ScalarValue>> {
    let list = match value {
        ScalarValue::List(list) if list.len() == 1 && !list.is_null(0) => list.value(0),
        ScalarValue::LargeList(list) if list.len() == 1 && !list.is_null(0) => list.value(0),
        ScalarValue::FixedSizeList(list) if list.len() == 1 && !list.is_null(0) => list.value(0),
        ScalarValue::Struct(s) if s.len() == 1 && !s.is_null(0) => {
            return s
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, 0).ok())
                .collect();
        }
        _ => return None,
    };
    (0..list.len())
        .map(|i| ScalarValue::try_from_array(&list, i).ok())
        .collect()
}

/// A constant number (`None` for NULL, `Err` for anything else).
fn number(value: &ScalarValue) -> std::result::Result<Option<f64>, ()> {
    if value.is_null() {
        return Ok(None);
    }
    match value.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(v)) if value.data_type().is_numeric() => Ok(v),
        _ => Err(()),
    }
}

/// Starting values from a constant list argument.
fn starting_values(value: &ScalarValue, n: usize) -> Result<Vec<f64>> {
    let values: Option<Vec<f64>> = elements(value).and_then(|e| {
        e.iter()
            .map(|v| number(v).ok().flatten())
            .collect::<Option<Vec<f64>>>()
    });
    match values {
        Some(v) if v.len() == n && v.iter().all(|v| v.is_finite()) => Ok(v),
        _ => plan_err!(
            "curve_fit: p0 must be a list of {n} finite numbers (one per parameter), got {value}"
        ),
    }
}

/// One side of `bounds`: a number (NULL: open) for every parameter, or a list of `n`.
fn bound_side(value: &ScalarValue, n: usize, open: f64) -> Option<Vec<f64>> {
    if let Ok(v) = number(value) {
        return Some(vec![v.unwrap_or(open); n]);
    }
    elements(value)?
        .iter()
        .map(|v| number(v).ok().map(|v| v.unwrap_or(open)))
        .collect()
}

/// Bounds from `[lower, upper]` or `(lower, upper)`, each side a number or a list.
fn parse_bounds(value: &ScalarValue, names: &[String]) -> Result<Bounds> {
    let n = names.len();
    let sides = elements(value).filter(|e| e.len() == 2);
    let parsed = sides.and_then(|e| {
        Some((
            bound_side(&e[0], n, f64::NEG_INFINITY)?,
            bound_side(&e[1], n, f64::INFINITY)?,
        ))
    });
    let Some((lower, upper)) = parsed else {
        return plan_err!(
            "curve_fit: bounds must be [lower, upper], each a number or a list of {n} numbers \
             (NULL for no bound), e.g. [[0, -5], [1e6, 0]]; got {value}"
        );
    };
    Bounds::new(lower, upper, names).or_else(|e| plan_err!("curve_fit: {e}"))
}

impl FitKind for CurveFitKind {
    type Fitter = CurveFitter;
    const NAME: &'static str = "curve_fit";
    const LIST_NAME: &'static str = "list_curve_fit";
    const XY: (usize, usize) = (1, 2);
    const ARITY: &'static [usize] = &[3, 4, 5];
    const PARAMS: &'static [&'static str] = &["model", "x", "y", "p0", "bounds"];

    fn configure(&self, consts: &[Option<ScalarValue>]) -> Result<CurveFitter> {
        let model = match consts.first() {
            Some(Some(value)) => match value.try_as_str() {
                Some(Some(name)) => Model::parse(name)?,
                _ => return plan_err!("curve_fit: the model must be a string, got {value}"),
            },
            _ => {
                return plan_err!("curve_fit: the model must be a constant string ({MODEL_NAMES})");
            }
        };
        let p0 = match consts.get(3) {
            Some(Some(value)) if !value.is_null() => {
                Some(starting_values(value, model.n_params())?)
            }
            _ => None,
        };
        let bounds = match consts.get(4) {
            Some(Some(value)) if !value.is_null() => {
                Some(parse_bounds(value, &model.param_names())?)
            }
            _ => None,
        };
        if let (Some(p0), Some(b)) = (&p0, &bounds) {
            let names = model.param_names();
            for (i, v) in p0.iter().enumerate() {
                if !b.contains_value(i, *v) {
                    return plan_err!(
                        "curve_fit: p0 of {} = {v} is outside its bounds [{}, {}]",
                        names[i],
                        b.lower[i],
                        b.upper[i]
                    );
                }
            }
        }
        Ok(CurveFitter::new(model, p0, bounds))
    }

    fn aggregate_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Fits a model y = f(x; params) to the points of each group by non-linear least \
                 squares (Levenberg-Marquardt). Returns a struct {params, stderrs, r2, rss, \
                 iterations, converged}; params and stderrs are structs with one field per \
                 parameter. Fits that cannot be made (fewer points than parameters, NaN, x <= 0 \
                 for a power law) or that do not converge give NULL params and \
                 converged = false. NULL x or y are skipped. Groups are fitted in parallel. \
                 p0 and bounds may be given by name: curve_fit('power', x, y, bounds => \
                 [[0, -5], [NULL, 0]]).",
                "curve_fit(model, x, y [, p0] [, bounds])",
            )
            .with_sql_example(
                "```sql\n> SELECT book, curve_fit('power', rank, n)['params']['b'] AS exponent\n  \
                 FROM counts GROUP BY book;\n```",
            )
            .with_argument(
                "model",
                "Constant string: 'power' (a*x^b), 'exp' (a*exp(b*x)+c), 'linear' (a*x+b), \
                 'gauss' (a*exp(-(x-mu)^2/(2*sigma^2))), 'logistic' (l/(1+exp(-k*(x-x0)))), \
                 'poly1' .. 'poly10' (c0 + c1*x + ... + cN*x^N), or an expression in x and named \
                 parameters such as 'amp * exp(-x / tau) + c'.",
            )
            .with_argument("x", "Numeric expression: the independent variable.")
            .with_argument("y", "Numeric expression: the observed values.")
            .with_argument(
                "p0",
                "Optional constant list of starting values, one per parameter, e.g. [100, -1]. \
                 Without it: log-linear fits for power and exp, moments for gauss, \
                 least squares for polynomials. Must lie within the bounds.",
            )
            .with_argument(
                "bounds",
                "Optional constant [lower, upper]: each side a number for every parameter or \
                 a list with one per parameter, NULL for no bound (scipy's bounds=(lo, hi)). \
                 Steps are clamped into the box (projected Levenberg-Marquardt); lower must \
                 be below upper.",
            )
            .with_related_udf("list_curve_fit")
            .with_related_udf("curve_eval")
            .with_related_udf("polyfit")
            .build()
        });
        &DOC
    }

    fn list_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "curve_fit over list columns: one fit per row, rows fitted in parallel. \
                 Same models, arguments and result struct as the aggregate curve_fit.",
                "list_curve_fit(model, xs, ys [, p0] [, bounds])",
            )
            .with_sql_example(
                "```sql\n> SELECT list_curve_fit('power', [1, 2, 3, 4], [100, 50, 100.0 / 3, 25])['params'];\n\
                 {a: 100.00000000000004, b: -1.0000000000000004}\n```",
            )
            .with_argument("model", "Constant string, see curve_fit.")
            .with_argument("xs", "List of numbers: the independent variable.")
            .with_argument("ys", "List of numbers, as long as xs: the observed values.")
            .with_argument("p0", "Optional constant list of starting values.")
            .with_argument("bounds", "Optional constant [lower, upper], see curve_fit.")
            .with_related_udf("curve_fit")
            .with_related_udf("curve_eval")
            .build()
        });
        &DOC
    }
}
