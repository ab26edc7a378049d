//! Fill functions, pandas' `ffill`, `bfill` and `interpolate` as SQL window functions, and
//! `unique_value`, the aggregate that gives `PIVOT` pandas' strict `pivot` semantics.
//!
//! They exist because gap filling is order-dependent: it needs the rows of a partition in
//! `ORDER BY` order, which only a window function sees. Each evaluates a whole partition at
//! once ([`PartitionEvaluator::evaluate_all`]) and ignores the window frame, as `lag` and
//! `lead` do. Missing means SQL `NULL`; a float `NaN` is a value (pandas treats both as
//! missing). Results equal pandas' on the same ordered data: leading `NULL`s stay `NULL`
//! for `ffill` and `interpolate`, trailing ones for `bfill`, and `limit` caps how many
//! consecutive `NULL`s each gap gets filled.
//!
//! [`PartitionEvaluator::evaluate_all`]: datafusion::logical_expr::PartitionEvaluator::evaluate_all

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, UInt64Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, DocSection, PartitionEvaluator, WindowUDF};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::PhysicalExpr;

pub mod bfill;
pub mod ffill;
pub mod interpolate;
pub mod unique_value;

pub use bfill::BfillFunc;
pub use ffill::FfillFunc;
pub use interpolate::InterpolateFunc;
pub use unique_value::UniqueValueFunc;

/// The documentation section of the fill functions.
pub(crate) const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Fill and reshape functions",
    description: Some("pandas' ffill, bfill, interpolate and strict pivot"),
};

/// Every fill window function: `ffill`, `bfill`, `interpolate`.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![
        Arc::new(WindowUDF::from(FfillFunc::new())),
        Arc::new(WindowUDF::from(BfillFunc::new())),
        Arc::new(WindowUDF::from(InterpolateFunc::new())),
    ]
}

/// The aggregate that gives PIVOT pandas' `pivot` semantics: `unique_value`.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::from(UniqueValueFunc::new()))]
}

/// Registers every function of this module in a session (or any other function registry).
pub fn register(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for function in window_functions() {
        registry.register_udwf(function)?;
    }
    for function in aggregate_functions() {
        registry.register_udaf(function)?;
    }
    Ok(())
}

/// Coerces the optional `limit` argument of `function` to `Int64`.
pub(crate) fn coerce_limit(function: &str, data_type: &DataType) -> Result<DataType> {
    if data_type.is_integer() || data_type.is_null() {
        Ok(DataType::Int64)
    } else {
        plan_err!("{function}: limit must be an integer, got {data_type}")
    }
}

/// The value of a constant argument (`None` where there is no argument `index`).
pub(crate) fn literal_arg(
    function: &str,
    name: &str,
    args: &[Arc<dyn PhysicalExpr>],
    index: usize,
) -> Result<Option<ScalarValue>> {
    let Some(arg) = args.get(index) else {
        return Ok(None);
    };
    match arg.downcast_ref::<Literal>() {
        Some(literal) => Ok(Some(literal.value().clone())),
        None => plan_err!("{function}: {name} must be a constant, got {arg}"),
    }
}

/// The `limit` argument at `index`: `None` (no limit) where absent or `NULL`; pandas' error
/// where it is not positive.
pub(crate) fn limit_arg(
    function: &str,
    args: &[Arc<dyn PhysicalExpr>],
    index: usize,
) -> Result<Option<usize>> {
    let limit = match literal_arg(function, "limit", args, index)? {
        None => return Ok(None),
        Some(value) if value.is_null() => return Ok(None),
        Some(value) => value.cast_to(&DataType::Int64)?,
    };
    match limit {
        ScalarValue::Int64(Some(n)) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        other => plan_err!("{function}: limit must be greater than 0, got {other}"),
    }
}

/// For each row, the row whose value it takes when gaps are filled forward (from the last
/// non-null row before it, at most `limit` rows into a gap), or `None`.
pub(crate) fn forward_sources(
    is_valid: impl Fn(usize) -> bool,
    n: usize,
    limit: Option<usize>,
) -> Vec<Option<u64>> {
    let mut last: Option<usize> = None;
    (0..n)
        .map(|i| {
            if is_valid(i) {
                last = Some(i);
                return u64::try_from(i).ok();
            }
            let source = last.filter(|&j| limit.is_none_or(|limit| i - j <= limit))?;
            u64::try_from(source).ok()
        })
        .collect()
}

/// Like [`forward_sources`], filling from the next non-null row after each gap.
pub(crate) fn backward_sources(
    is_valid: impl Fn(usize) -> bool,
    n: usize,
    limit: Option<usize>,
) -> Vec<Option<u64>> {
    let mut next: Option<usize> = None;
    let mut sources = vec![None; n];
    for i in (0..n).rev() {
        if is_valid(i) {
            next = Some(i);
            sources[i] = u64::try_from(i).ok();
        } else if let Some(j) = next.filter(|&j| limit.is_none_or(|limit| j - i <= limit)) {
            sources[i] = u64::try_from(j).ok();
        }
    }
    sources
}

/// The evaluator of `ffill` and `bfill`: each row takes the value of its source row.
#[derive(Debug)]
pub(crate) struct FillEvaluator {
    pub(crate) backward: bool,
    pub(crate) limit: Option<usize>,
}

impl PartitionEvaluator for FillEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let Some(values) = values.first() else {
            return internal_err!("fill function called without arguments");
        };
        if values.null_count() == 0 {
            return Ok(Arc::clone(values));
        }
        let is_valid = |i| values.is_valid(i);
        let sources = if self.backward {
            backward_sources(is_valid, num_rows, self.limit)
        } else {
            forward_sources(is_valid, num_rows, self.limit)
        };
        Ok(take(values.as_ref(), &UInt64Array::from(sources), None)?)
    }
}

/// The checks and coercions shared by `ffill(x [, limit])` and `bfill(x [, limit])`.
pub(crate) fn coerce_fill_args(function: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    match arg_types {
        [x] => Ok(vec![x.clone()]),
        [x, limit] => Ok(vec![x.clone(), coerce_limit(function, limit)?]),
        _ => plan_err!(
            "{function} takes 1 or 2 arguments ({function}(x [, limit])), got {}",
            arg_types.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(values: &[Option<i32>]) -> impl Fn(usize) -> bool + '_ {
        |i| values[i].is_some()
    }

    const GAPPY: [Option<i32>; 8] = [None, Some(1), None, None, None, Some(5), None, None];

    #[test]
    fn forward_matches_pandas() {
        // pd.Series([nan, 1, nan, nan, nan, 5, nan, nan]).ffill(limit=2)
        let sources = forward_sources(valid(&GAPPY), 8, Some(2));
        assert_eq!(
            sources,
            [
                None,
                Some(1),
                Some(1),
                Some(1),
                None,
                Some(5),
                Some(5),
                Some(5)
            ]
        );
        let sources = forward_sources(valid(&GAPPY), 8, None);
        assert_eq!(sources[4], Some(1));
    }

    #[test]
    fn backward_matches_pandas() {
        // .bfill(limit=1) -> [1, 1, nan, nan, 5, 5, nan, nan]
        let sources = backward_sources(valid(&GAPPY), 8, Some(1));
        assert_eq!(
            sources,
            [Some(1), Some(1), None, None, Some(5), Some(5), None, None]
        );
    }
}
