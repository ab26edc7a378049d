//! `polyval(coeffs, x)`: the polynomial with coefficients `coeffs` (highest power first, as
//! `polyfit` returns them and `numpy.polyval` takes them) evaluated at `x` by Horner's rule.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, DocumentationBuilder, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::doc_section;
use crate::points::{float_list, is_number_list};

/// `polyval(coeffs, x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PolyvalFunc {
    signature: Signature,
}

impl Default for PolyvalFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// `c[0] * x^(n-1) + ... + c[n-1]`; 0 for no coefficients, as numpy.
pub fn horner(coeffs: &[f64], x: f64) -> f64 {
    coeffs.iter().fold(0.0, |acc, c| acc * x + c)
}

impl ScalarUDFImpl for PolyvalFunc {
    fn name(&self) -> &str {
        "polyval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [c, x] if is_number_list(c) && (x.is_numeric() || x.is_null()) => {
                Ok(vec![float_list(), DataType::Float64])
            }
            _ => plan_err!(
                "polyval takes a list of coefficients and a number, got ({})",
                crate::type_list(arg_types)
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [coeffs, x] = args.args.as_slice() else {
            return plan_err!("polyval takes 2 arguments, got {}", args.args.len());
        };
        let coeffs = cast(&coeffs.to_array(rows)?, &float_list())?;
        let x = cast(&x.to_array(rows)?, &DataType::Float64)?;
        let (coeffs, x) = (coeffs.as_list::<i32>(), x.as_primitive::<Float64Type>());
        let values = coeffs.values().as_primitive::<Float64Type>();
        let offsets = coeffs.value_offsets();
        let out: Float64Array = (0..rows)
            .map(|row| {
                if coeffs.is_null(row) || x.is_null(row) {
                    return None;
                }
                let range = offsets[row] as usize..offsets[row + 1] as usize;
                if values.null_count() > 0 && range.clone().any(|i| values.is_null(i)) {
                    return None;
                }
                Some(horner(&values.values()[range], x.value(row)))
            })
            .collect();
        let out: ArrayRef = std::sync::Arc::new(out);
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Evaluates a polynomial at x (numpy.polyval): coefficients highest power first, \
                 as polyfit returns them, by Horner's rule. An empty list gives 0; NULL \
                 coefficients (such as a polyfit that could not be made), a NULL element or a \
                 NULL x give NULL.",
                "polyval(coeffs, x)",
            )
            .with_sql_example(
                "```sql\n> SELECT polyval([1, -2, 3], 2);\n+-----+\n| 3.0 |\n\
                 > SELECT x, polyval(p, x) FROM t, (SELECT polyfit(x, y, 2) AS p FROM t);\n```",
            )
            .with_argument("coeffs", "List of numbers, highest power first.")
            .with_argument("x", "Numeric expression.")
            .with_related_udf("polyfit")
            .with_related_udf("curve_eval")
            .build()
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horner_is_numpy_polyval() {
        assert_eq!(horner(&[1.0, -2.0, 3.0], 2.0), 3.0);
        assert_eq!(horner(&[], 5.0), 0.0);
        assert_eq!(horner(&[7.0], 5.0), 7.0);
    }
}
