//! `curve_eval(model, params, x)`: a `curve_fit` model evaluated at `x`. `params` is the
//! fit's result struct (its `params` field is used), the `params` struct itself (fields
//! matched by parameter name) or a list of numbers in the model's parameter order.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, DocumentationBuilder, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::doc_section;
use crate::fit::models::{MODEL_NAMES, Model};
use crate::points::{float_list, is_number_list};

/// `curve_eval(model, params, x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CurveEvalFunc {
    signature: Signature,
}

impl Default for CurveEvalFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The model of a constant model argument.
fn model_of(value: Option<&ScalarValue>) -> Result<Model> {
    match value.map(|v| v.try_as_str()) {
        Some(Some(Some(name))) => Model::parse(name),
        _ => plan_err!("curve_eval: the model must be a constant string ({MODEL_NAMES})"),
    }
}

/// The struct holding the parameters: `fields` itself, or its `params` field if that is a
/// struct (a `curve_fit` result).
fn params_fields(fields: &Fields) -> &Fields {
    match fields.find("params") {
        Some((_, f)) => match f.data_type() {
            DataType::Struct(inner) => inner,
            _ => fields,
        },
        None => fields,
    }
}

/// For each model parameter, the index of the struct field with its name.
fn field_positions(model: &Model, fields: &Fields) -> Result<Vec<usize>> {
    let names = model.param_names();
    let found: Option<Vec<usize>> = names
        .iter()
        .map(|n| fields.find(n).map(|(i, _)| i))
        .collect();
    match found {
        Some(p) => Ok(p),
        None => plan_err!(
            "curve_eval: params must have the fields {} (the model's parameters), got {}",
            names.join(", "),
            fields
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One Float64 column per parameter and the rows where all are present.
fn struct_params(model: &Model, array: &StructArray) -> Result<(Vec<Float64Array>, Vec<bool>)> {
    let (outer, inner) = match array.column_by_name("params") {
        Some(p) if matches!(p.data_type(), DataType::Struct(_)) => {
            (array.nulls().cloned(), p.as_struct().clone())
        }
        _ => (None, array.clone()),
    };
    let positions = field_positions(model, inner.fields())?;
    let columns = positions
        .iter()
        .map(|i| {
            let c = cast(inner.column(*i), &DataType::Float64)?;
            Ok(c.as_primitive::<Float64Type>().clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let nulls = NullBuffer::union(outer.as_ref(), inner.nulls());
    let valid = (0..inner.len())
        .map(|r| {
            nulls.as_ref().is_none_or(|n| n.is_valid(r)) && columns.iter().all(|c| c.is_valid(r))
        })
        .collect();
    Ok((columns, valid))
}

impl ScalarUDFImpl for CurveEvalFunc {
    fn name(&self) -> &str {
        "curve_eval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [m, p, x]
                if matches!(m, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                    && (x.is_numeric() || x.is_null()) =>
            {
                let params = match p {
                    DataType::Struct(_) => p.clone(),
                    p if is_number_list(p) => float_list(),
                    _ => {
                        return plan_err!(
                            "curve_eval: params must be a curve_fit result, a struct of parameters \
                         or a list of numbers, got {p}"
                        );
                    }
                };
                Ok(vec![DataType::Utf8, params, DataType::Float64])
            }
            _ => plan_err!(
                "curve_eval takes a model string, parameters and a number, got ({})",
                crate::type_list(arg_types)
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let model = model_of(args.scalar_arguments.first().copied().flatten())?;
        if let Some(DataType::Struct(fields)) = args.arg_fields.get(1).map(|f| f.data_type()) {
            field_positions(&model, params_fields(fields))?;
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [model, params, x] = args.args.as_slice() else {
            return exec_err!("curve_eval takes 3 arguments, got {}", args.args.len());
        };
        let model = match model {
            ColumnarValue::Scalar(m) => model_of(Some(m))?,
            ColumnarValue::Array(_) => model_of(None)?,
        };
        let n = model.n_params();
        let params = params.to_array(rows)?;
        let x = cast(&x.to_array(rows)?, &DataType::Float64)?;
        let x = x.as_primitive::<Float64Type>();
        let mut p = vec![0.0; n];
        let out: Float64Array = match params.data_type() {
            DataType::Struct(_) => {
                let (columns, valid) = struct_params(&model, params.as_struct())?;
                (0..rows)
                    .map(|r| {
                        if !valid[r] || x.is_null(r) {
                            return None;
                        }
                        for (v, c) in p.iter_mut().zip(&columns) {
                            *v = c.value(r);
                        }
                        Some(model.eval(x.value(r), &p, None))
                    })
                    .collect()
            }
            _ => {
                let list = cast(&params, &float_list())?;
                let list = list.as_list::<i32>();
                let values = list.values().as_primitive::<Float64Type>();
                let offsets = list.value_offsets();
                let mut out = Vec::with_capacity(rows);
                for r in 0..rows {
                    let range = offsets[r] as usize..offsets[r + 1] as usize;
                    if list.is_null(r) || x.is_null(r) || range.clone().any(|i| values.is_null(i)) {
                        out.push(None);
                        continue;
                    }
                    if range.len() != n {
                        return exec_err!(
                            "curve_eval: the model has {n} parameters ({}), got a list of {} in row {}",
                            model.param_names().join(", "),
                            range.len(),
                            r + 1
                        );
                    }
                    out.push(Some(model.eval(x.value(r), &values.values()[range], None)));
                }
                out.into_iter().collect()
            }
        };
        let out: ArrayRef = Arc::new(out);
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Evaluates a curve_fit model at x. params is a curve_fit result (its params \
                 field is used), a struct with one field per parameter (matched by name), or \
                 a list of numbers in the model's parameter order. NULL params (a fit that did \
                 not converge), a NULL parameter or a NULL x give NULL.",
                "curve_eval(model, params, x)",
            )
            .with_sql_example(
                "```sql\n> SELECT curve_eval('power', [100, -1], 4);\n+------+\n| 25.0 |\n\
                 > SELECT x, y, curve_eval('exp', f, x) AS fitted\n  \
                 FROM t, (SELECT curve_fit('exp', x, y) AS f FROM t);\n```",
            )
            .with_argument("model", "Constant string, as for curve_fit.")
            .with_argument(
                "params",
                "A curve_fit result, its params struct, or a list of numbers.",
            )
            .with_argument("x", "Numeric expression.")
            .with_related_udf("curve_fit")
            .with_related_udf("polyval")
            .build()
        });
        Some(&DOC)
    }
}
