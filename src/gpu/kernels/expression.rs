//! Kernel 2, element-wise arithmetic and math fused into the grouped reduction: a dense
//! aggregation's value expression (`avg(tas - 273.15)`, `max(sqrt(u * u + v * v))`,
//! `sum(CAST(tas > 280 AS FLOAT))`) becomes a WGSL expression that the reduction's scatter
//! pass evaluates per element from the raw f32 variables (`grouped_reduce.wgsl`, `value_at`),
//! so the values are computed where they are reduced instead of on the host. Its CPU twin is
//! DataFusion evaluating the same expression; the GPU tests compare the two.
//!
//! Translated: f32 columns, finite numeric literals, casts to floats (numbers as they are,
//! booleans to 0/1), `+ - * /`, unary minus, comparisons and `NOT`, and the functions
//! `abs ceil floor sqrt exp ln log log2 log10 sin cos tan`, `power(x, k)` for an integer
//! literal 0 ≤ k ≤ 4. Anything else (other columns' types, `AND`/`OR`, whose SQL result
//! with a NULL operand is not NULL, `CASE`, other functions) returns `None` and the
//! aggregation stays on the CPU.
//!
//! Semantics: an element whose referenced columns hold a NULL is skipped, as SQL's
//! arithmetic gives NULL there. Arithmetic runs in the shader's `real` (f64 with
//! `SHADER_F64`, else f32), functions in f32 (Vulkan has no f64 transcendentals), and the
//! value is stored as f32 for the reduction; outside their domain the shader's helpers give
//! what IEEE arithmetic gives on the CPU (`sqrt(-1)` NaN, `ln(0)` -inf, `x / 0` ±inf or NaN)
//! rather than the device's undefined value. Tolerance against the CPU's f64: 2⁻²⁴ relative
//! per value from the f32 store (plus the functions' f32 rounding), then the reduction's.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, Literal, NegativeExpr, NotExpr, TryCastExpr,
};

/// A value expression as WGSL over the columns it reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Translated {
    /// A `real` expression of the element index `i`; `col(k, i)` reads `columns[k]`.
    pub wgsl: String,
    /// The schema indices of the columns read, in slot order.
    pub columns: Vec<usize>,
}

/// The WGSL of a plain column's values: slot 0 as it is.
pub(crate) const PLAIN: &str = "col(0u, i)";

/// Whether a translated expression gives numbers or truth values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Real,
    Bool,
}

/// `expr` (over `schema`) as WGSL, or `None` when the GPU cannot compute it (module docs).
pub(crate) fn translate(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Translated> {
    if !matches!(
        expr.data_type(schema).ok()?,
        DataType::Float32 | DataType::Float64
    ) {
        return None;
    }
    let mut columns = Vec::new();
    let (wgsl, kind) = walk(expr, schema, &mut columns)?;
    (kind == Kind::Real).then_some(Translated { wgsl, columns })
}

fn walk(
    expr: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
    columns: &mut Vec<usize>,
) -> Option<(String, Kind)> {
    if let Some(c) = expr.downcast_ref::<Column>() {
        if schema.fields().get(c.index())?.data_type() != &DataType::Float32 {
            return None;
        }
        let slot = match columns.iter().position(|k| *k == c.index()) {
            Some(slot) => slot,
            None => {
                columns.push(c.index());
                columns.len() - 1
            }
        };
        return Some((format!("col({slot}u, i)"), Kind::Real));
    }
    if let Some(l) = expr.downcast_ref::<Literal>() {
        return Some((literal(l.value())?, Kind::Real));
    }
    if let Some(c) = expr.downcast_ref::<CastExpr>() {
        return cast(c.expr(), c.cast_type(), schema, columns);
    }
    if let Some(c) = expr.downcast_ref::<TryCastExpr>() {
        return cast(c.expr(), c.cast_type(), schema, columns);
    }
    if let Some(n) = expr.downcast_ref::<NegativeExpr>() {
        let (x, kind) = walk(n.arg(), schema, columns)?;
        return (kind == Kind::Real).then(|| (format!("(-{x})"), Kind::Real));
    }
    if let Some(n) = expr.downcast_ref::<NotExpr>() {
        let (x, kind) = walk(n.arg(), schema, columns)?;
        return (kind == Kind::Bool).then(|| (format!("(!{x})"), Kind::Bool));
    }
    if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        let (l, lk) = walk(b.left(), schema, columns)?;
        let (r, rk) = walk(b.right(), schema, columns)?;
        if lk != Kind::Real || rk != Kind::Real {
            return None;
        }
        let arithmetic = |op: &str| Some((format!("({l} {op} {r})"), Kind::Real));
        // Through `q_cmp`: Arrow's total order, where NaN equals NaN and is the greatest.
        let comparison = |op: &str| Some((format!("(q_cmp({l}, {r}) {op} 0)"), Kind::Bool));
        return match b.op() {
            Operator::Plus => arithmetic("+"),
            Operator::Minus => arithmetic("-"),
            Operator::Multiply => arithmetic("*"),
            Operator::Divide => Some((format!("q_div({l}, {r})"), Kind::Real)),
            Operator::Eq => comparison("=="),
            Operator::NotEq => comparison("!="),
            Operator::Lt => comparison("<"),
            Operator::LtEq => comparison("<="),
            Operator::Gt => comparison(">"),
            Operator::GtEq => comparison(">="),
            _ => None,
        };
    }
    if let Some(f) = expr.downcast_ref::<ScalarFunctionExpr>() {
        return function(f, schema, columns);
    }
    None
}

/// A cast of `inner` to `to`: numbers stay numbers when `to` is a float, truth values
/// become 0 or 1.
fn cast(
    inner: &Arc<dyn PhysicalExpr>,
    to: &DataType,
    schema: &Schema,
    columns: &mut Vec<usize>,
) -> Option<(String, Kind)> {
    if !matches!(to, DataType::Float32 | DataType::Float64) {
        return None;
    }
    let (x, kind) = walk(inner, schema, columns)?;
    Some(match kind {
        Kind::Real => (x, Kind::Real),
        Kind::Bool => (format!("select(real(0), real(1), {x})"), Kind::Real),
    })
}

/// A finite numeric literal as a `real`.
fn literal(value: &ScalarValue) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let v = match value {
        ScalarValue::Float64(Some(v)) => *v,
        ScalarValue::Float32(Some(v)) => *v as f64,
        v if v.data_type().is_integer() => {
            v.cast_to(&DataType::Float64).ok().and_then(|f| match f {
                ScalarValue::Float64(Some(x)) => Some(x),
                _ => None,
            })?
        }
        _ => return None,
    };
    // Beyond f32's range the f32 shader would not compile.
    if !v.is_finite() || v.abs() > f32::MAX as f64 {
        return None;
    }
    let text = format!("{v:?}");
    let text = if text.contains(['.', 'e']) {
        text
    } else {
        format!("{text}.0")
    };
    Some(format!("real({text})"))
}

/// A function call, by DataFusion's name; its arguments must be numbers.
fn function(
    f: &ScalarFunctionExpr,
    schema: &Schema,
    columns: &mut Vec<usize>,
) -> Option<(String, Kind)> {
    let args = f.args();
    if f.name() == "power" {
        let [base, exponent] = args else { return None };
        let k = exponent.downcast_ref::<Literal>()?.value();
        let k = match k.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(Some(k)) if k.fract() == 0.0 && (0.0..=4.0).contains(&k) => {
                k as usize
            }
            _ => return None,
        };
        let (x, kind) = walk(base, schema, columns)?;
        if kind != Kind::Real {
            return None;
        }
        let product = match k {
            0 => "real(1.0)".to_string(),
            k => format!("({})", vec![x; k].join(" * ")),
        };
        return Some((product, Kind::Real));
    }
    let helper = match f.name() {
        "abs" => "abs",
        "ceil" => "ceil",
        "floor" => "floor",
        "sqrt" => "q_sqrt",
        "exp" => "q_exp",
        "ln" => "q_ln",
        "log2" => "q_log2",
        "log10" => "q_log10",
        // One-argument log is base 10 in DataFusion.
        "log" if args.len() == 1 => "q_log10",
        "sin" => "q_sin",
        "cos" => "q_cos",
        "tan" => "q_tan",
        _ => return None,
    };
    let [arg] = args else { return None };
    let (x, kind) = walk(arg, schema, columns)?;
    (kind == Kind::Real).then(|| (format!("{helper}({x})"), Kind::Real))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::{binary, cast, col, lit, try_cast};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("tas", DataType::Float32, true),
            Field::new("pr", DataType::Float64, true),
            Field::new("qc", DataType::Float32, true),
            Field::new("n", DataType::Int32, true),
        ])
    }

    fn column(name: &str) -> Arc<dyn PhysicalExpr> {
        col(name, &schema()).unwrap()
    }

    fn as_f64(e: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        cast(e, &schema(), DataType::Float64).unwrap()
    }

    #[test]
    fn arithmetic_over_f32_columns_translates() {
        let s = schema();
        let e = binary(as_f64(column("tas")), Operator::Minus, lit(273.15), &s).unwrap();
        let t = translate(&e, &s).unwrap();
        assert_eq!(t.wgsl, "(col(0u, i) - real(273.15))");
        assert_eq!(t.columns, vec![0]);
        let e = binary(column("qc"), Operator::Divide, column("tas"), &s).unwrap();
        let t = translate(&e, &s).unwrap();
        assert_eq!(t.wgsl, "q_div(col(0u, i), col(1u, i))");
        assert_eq!(t.columns, vec![2, 0]);
        assert_eq!(translate(&column("tas"), &s).unwrap().wgsl, PLAIN);
    }

    #[test]
    fn comparisons_become_numbers_only_through_a_cast() {
        let s = schema();
        let gt = binary(column("tas"), Operator::Gt, lit(280.0f32), &s).unwrap();
        assert_eq!(translate(&gt, &s), None, "a boolean is not a value");
        let e = try_cast(gt, &s, DataType::Float32).unwrap();
        assert_eq!(
            translate(&e, &s).unwrap().wgsl,
            "select(real(0), real(1), (q_cmp(col(0u, i), real(280.0)) > 0))"
        );
    }

    #[test]
    fn what_the_gpu_cannot_compute_is_refused() {
        let s = schema();
        // An f64 column, an integer result, AND, a literal beyond f32.
        assert_eq!(translate(&column("pr"), &s), None);
        assert_eq!(translate(&column("n"), &s), None);
        let a = binary(column("tas"), Operator::Gt, lit(1.0f32), &s).unwrap();
        let b = binary(column("qc"), Operator::Gt, lit(1.0f32), &s).unwrap();
        let and = binary(a, Operator::And, b, &s).unwrap();
        assert_eq!(
            translate(&cast(and, &s, DataType::Float32).unwrap(), &s),
            None
        );
        let huge = binary(as_f64(column("tas")), Operator::Multiply, lit(1e300), &s).unwrap();
        assert_eq!(translate(&huge, &s), None);
    }

    #[test]
    fn literals_are_float_literals() {
        assert_eq!(literal(&ScalarValue::Int64(Some(3))).unwrap(), "real(3.0)");
        assert_eq!(
            literal(&ScalarValue::Float64(Some(1e-7))).unwrap(),
            "real(1e-7)"
        );
        assert_eq!(literal(&ScalarValue::Float64(Some(f64::NAN))), None);
        assert_eq!(literal(&ScalarValue::Float64(None)), None);
    }
}
