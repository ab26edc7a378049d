//! `interpolate(x [, method [, limit]])`: pandas' `Series.interpolate()` as a window function.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};
use datafusion::physical_plan::PhysicalExpr;

use super::{DOC_SECTION, coerce_limit, limit_arg, literal_arg};

/// The methods `interpolate` knows.
const METHODS: &str = "linear";

/// `interpolate(x [, method [, limit]]) OVER (PARTITION BY .. ORDER BY ..)`: each `NULL`
/// between two values is interpolated linearly by position (the rows are taken as equally
/// spaced, as pandas' default `method='linear'`); `NULL`s after the last value take that
/// value and `NULL`s before the first stay `NULL` (pandas' `limit_direction='forward'`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InterpolateFunc {
    signature: Signature,
}

impl InterpolateFunc {
    /// The function, with its signature.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for InterpolateFunc {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fills NULLs by linear interpolation between the nearest values before and after, \
         treating the rows of the partition as equally spaced in the window's ORDER BY order, \
         as pandas' interpolate() (method='linear', limit_direction='forward'). NULLs after \
         the last value take that value; leading NULLs stay NULL. The window frame is \
         ignored; the result is DOUBLE.",
        "interpolate(x [, method [, limit]]) OVER ([PARTITION BY ...] ORDER BY ...)",
    )
    .with_argument("x", "A numeric column.")
    .with_argument(
        "method",
        "Optional constant string: 'linear' (the default and only one).",
    )
    .with_argument(
        "limit",
        "Optional constant integer > 0: fill at most this many consecutive NULLs after each \
         value; the rest of a longer gap stays NULL. NULL or absent: no limit.",
    )
    .with_sql_example(
        r#"```sql
> SELECT t, x, interpolate(x) OVER (ORDER BY t) AS i
  FROM (VALUES (1, NULL), (2, 1.0), (3, NULL), (4, NULL), (5, 4.0), (6, NULL)) AS v(t, x);
+---+-----+-----+
| t | x   | i   |
+---+-----+-----+
| 1 |     |     |
| 2 | 1.0 | 1.0 |
| 3 |     | 2.0 |
| 4 |     | 3.0 |
| 5 | 4.0 | 4.0 |
| 6 |     | 4.0 |
+---+-----+-----+
```"#,
    )
    .with_related_udf("ffill")
    .with_related_udf("bfill")
    .build()
});

impl WindowUDFImpl for InterpolateFunc {
    fn name(&self) -> &str {
        "interpolate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (x, rest) = match arg_types.split_first() {
            Some(split) if arg_types.len() <= 3 => split,
            _ => {
                return plan_err!(
                    "interpolate takes 1 to 3 arguments (interpolate(x [, method [, limit]])), got {}",
                    arg_types.len()
                );
            }
        };
        if !(x.is_numeric() || x.is_null()) {
            return plan_err!("interpolate: x must be numeric, got {x}");
        }
        let mut coerced = vec![DataType::Float64];
        if let Some(method) = rest.first() {
            if !(method.is_null()
                || matches!(
                    method,
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                ))
            {
                return plan_err!(
                    "interpolate: method must be a string such as 'linear', got {method}"
                );
            }
            coerced.push(DataType::Utf8);
        }
        if let Some(limit) = rest.get(1) {
            coerced.push(coerce_limit(self.name(), limit)?);
        }
        Ok(coerced)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let exprs = args.input_exprs();
        match literal_arg(self.name(), "method", exprs, 1)? {
            None | Some(ScalarValue::Utf8(None)) => {}
            Some(ScalarValue::Utf8(Some(method))) if method.eq_ignore_ascii_case("linear") => {}
            Some(ScalarValue::Utf8(Some(method))) => {
                return plan_err!("interpolate: unknown method '{method}' (available: {METHODS})");
            }
            Some(other) => {
                return plan_err!("interpolate: method must be a string, got {other}");
            }
        }
        let limit = limit_arg(self.name(), exprs, 2)?;
        Ok(Box::new(InterpolateEvaluator { limit }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Float64,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::Unknown
    }
}

/// Linear interpolation by position over one partition.
#[derive(Debug)]
struct InterpolateEvaluator {
    limit: Option<usize>,
}

impl PartitionEvaluator for InterpolateEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let Some(values) = values.first() else {
            return plan_err!("interpolate called without arguments");
        };
        let values = cast(values, &DataType::Float64)?;
        let Some(values) = values.as_any().downcast_ref::<Float64Array>() else {
            return plan_err!("interpolate: x must be numeric, got {}", values.data_type());
        };
        if values.null_count() == 0 {
            return Ok(Arc::new(values.clone()));
        }
        Ok(Arc::new(interpolate_linear(values, num_rows, self.limit)))
    }
}

/// pandas' `interpolate(method='linear', limit=limit)` on `values[..n]`. The arithmetic is
/// numpy's `interp` (`slope * (i - a) + y[a]`), so results agree to the last bit.
fn interpolate_linear(values: &Float64Array, n: usize, limit: Option<usize>) -> Float64Array {
    let within_limit = |gap_position: usize| limit.is_none_or(|limit| gap_position <= limit);
    let mut out: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut last: Option<(usize, f64)> = None;
    let mut i = 0;
    while i < n {
        if values.is_valid(i) {
            let y = values.value(i);
            out.push(Some(y));
            last = Some((i, y));
            i += 1;
            continue;
        }
        // A gap: rows i..next, where next is the following value (or n).
        let next = (i..n).find(|&j| values.is_valid(j)).unwrap_or(n);
        for k in i..next {
            let filled = match last {
                Some((a, ya)) if within_limit(k - a) && next < n => {
                    let slope = (values.value(next) - ya) / (next - a) as f64;
                    Some(slope * (k - a) as f64 + ya)
                }
                Some((a, ya)) if within_limit(k - a) => Some(ya),
                _ => None,
            };
            out.push(filled);
        }
        i = next;
    }
    Float64Array::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pandas() {
        // pd.Series([nan, 1, nan, nan, nan, 5, nan, nan]).interpolate(limit=...)
        let x = Float64Array::from(vec![
            None,
            Some(1.0),
            None,
            None,
            None,
            Some(5.0),
            None,
            None,
        ]);
        let all: Vec<_> = interpolate_linear(&x, 8, None).iter().collect();
        let expected = [
            None,
            Some(1.0),
            Some(2.0),
            Some(3.0),
            Some(4.0),
            Some(5.0),
            Some(5.0),
            Some(5.0),
        ];
        assert_eq!(all, expected);
        let limited: Vec<_> = interpolate_linear(&x, 8, Some(2)).iter().collect();
        let expected = [
            None,
            Some(1.0),
            Some(2.0),
            Some(3.0),
            None,
            Some(5.0),
            Some(5.0),
            Some(5.0),
        ];
        assert_eq!(limited, expected);
    }
}
