//! `polyfit(x, y, degree)`: least-squares polynomial coefficients, highest power first as
//! `numpy.polyfit` returns them; `list_polyfit(xs, ys, degree)` per row of list columns.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Builder, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Documentation, DocumentationBuilder};

use crate::doc_section;
use crate::fit::models::polyfit_increasing;
use crate::points::{FitKind, Fitter};

/// The `polyfit` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PolyfitKind;

/// A polynomial fit of a given degree (`None` while the degree is not known yet).
#[derive(Debug, Clone, Copy)]
pub struct Polyfitter {
    degree: Option<usize>,
}

impl Fitter for Polyfitter {
    type Output = Option<Vec<f64>>;

    fn data_type(&self) -> DataType {
        DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
    }

    fn fit(&self, x: &[f64], y: &[f64]) -> Option<Vec<f64>> {
        let degree = self.degree?;
        if x.len() <= degree || x.iter().chain(y).any(|v| !v.is_finite()) {
            return None;
        }
        let mut c = polyfit_increasing(x, y, degree)?;
        c.reverse();
        Some(c)
    }

    fn build(&self, outputs: Vec<Option<Option<Vec<f64>>>>) -> Result<ArrayRef> {
        let mut builder = ListBuilder::new(Float64Builder::new());
        for out in outputs {
            match out.flatten() {
                Some(c) => builder.append_value(c.into_iter().map(Some)),
                None => builder.append_null(),
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

impl FitKind for PolyfitKind {
    type Fitter = Polyfitter;
    const NAME: &'static str = "polyfit";
    const LIST_NAME: &'static str = "list_polyfit";
    const XY: (usize, usize) = (0, 1);
    const ARITY: &'static [usize] = &[3];
    const PARAMS: &'static [&'static str] = &["x", "y", "degree"];

    fn configure(&self, consts: &[Option<ScalarValue>]) -> Result<Polyfitter> {
        let degree = match consts.get(2) {
            Some(Some(value)) => match value.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(d))) if (0..=20).contains(&d) => Some(d as usize),
                _ => {
                    return plan_err!(
                        "polyfit: degree must be an integer from 0 to 20, got {value}"
                    );
                }
            },
            _ => None,
        };
        Ok(Polyfitter { degree })
    }

    fn aggregate_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Least-squares polynomial fit of each group's points: the coefficients, highest \
                 power first (numpy.polyfit order). NULL when there are not more points than \
                 the degree, or for NaN/infinite input. NULL x or y are skipped.",
                "polyfit(x, y, degree)",
            )
            .with_sql_example(
                "```sql\n> SELECT polyfit(x, y, 1) FROM (VALUES (0, 1), (1, 3), (2, 5)) t(x, y);\n\
                 +-------------+\n| [2.0, 1.0]  |\n```",
            )
            .with_argument("x", "Numeric expression.")
            .with_argument("y", "Numeric expression.")
            .with_argument("degree", "Constant integer, 0 to 20.")
            .with_related_udf("list_polyfit")
            .with_related_udf("curve_fit")
            .build()
        });
        &DOC
    }

    fn list_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "polyfit over list columns: one polynomial fit per row (numpy.polyfit order).",
                "list_polyfit(xs, ys, degree)",
            )
            .with_sql_example(
                "```sql\n> SELECT list_polyfit([0, 1, 2], [1, 3, 5], 1);\n\
                 +-------------+\n| [2.0, 1.0]  |\n```",
            )
            .with_argument("xs", "List of numbers.")
            .with_argument("ys", "List of numbers, as long as xs.")
            .with_argument("degree", "Constant integer, 0 to 20.")
            .with_related_udf("polyfit")
            .build()
        });
        &DOC
    }
}
