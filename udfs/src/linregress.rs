//! `linregress(x, y)`: simple linear regression with the fields of
//! `scipy.stats.linregress` (slope, intercept, rvalue, pvalue, stderr, intercept_stderr);
//! `list_linregress(xs, ys)` per row of list columns.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Builder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Documentation, DocumentationBuilder};

use crate::doc_section;
use crate::fit::stats::{Linregress, linregress};
use crate::points::{FitKind, Fitter};

/// The `linregress` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinregressKind;

/// Fits lines.
#[derive(Debug, Clone, Copy)]
pub struct LineFitter;

const FIELDS: [&str; 6] = [
    "slope",
    "intercept",
    "rvalue",
    "pvalue",
    "stderr",
    "intercept_stderr",
];

impl Fitter for LineFitter {
    type Output = Option<Linregress>;

    fn data_type(&self) -> DataType {
        DataType::Struct(
            FIELDS
                .iter()
                .map(|n| Field::new(*n, DataType::Float64, true))
                .collect(),
        )
    }

    fn fit(&self, x: &[f64], y: &[f64]) -> Option<Linregress> {
        linregress(x, y)
    }

    fn build(&self, outputs: Vec<Option<Option<Linregress>>>) -> Result<ArrayRef> {
        let mut builders: Vec<Float64Builder> = FIELDS
            .iter()
            .map(|_| Float64Builder::with_capacity(outputs.len()))
            .collect();
        let mut valid = Vec::with_capacity(outputs.len());
        for out in outputs {
            let out = out.flatten();
            valid.push(out.is_some());
            let values = out.map(|r| {
                [
                    r.slope,
                    r.intercept,
                    r.rvalue,
                    r.pvalue,
                    r.stderr,
                    r.intercept_stderr,
                ]
            });
            for (i, b) in builders.iter_mut().enumerate() {
                b.append_option(values.map(|v| v[i]));
            }
        }
        let fields: Fields = FIELDS
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true))
            .collect();
        let arrays: Vec<ArrayRef> = builders
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        Ok(Arc::new(StructArray::try_new(
            fields,
            arrays,
            Some(NullBuffer::from(valid)),
        )?))
    }
}

impl FitKind for LinregressKind {
    type Fitter = LineFitter;
    const NAME: &'static str = "linregress";
    const LIST_NAME: &'static str = "list_linregress";
    const XY: (usize, usize) = (0, 1);
    const ARITY: &'static [usize] = &[2];
    const PARAMS: &'static [&'static str] = &["x", "y"];

    fn configure(&self, _consts: &[Option<ScalarValue>]) -> Result<LineFitter> {
        Ok(LineFitter)
    }

    fn aggregate_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Simple linear regression of each group's points, as scipy.stats.linregress: a \
                 struct {slope, intercept, rvalue, pvalue, stderr, intercept_stderr}; pvalue is \
                 two-sided (t test, n - 2 degrees of freedom). NULL for fewer than 2 points, \
                 all-equal x, or NaN/infinite input. NULL x or y are skipped.",
                "linregress(x, y)",
            )
            .with_sql_example(
                "```sql\n> SELECT linregress(x, y).slope FROM (VALUES (1, 2.0), (2, 4.1), (3, 5.9)) t(x, y);\n\
                 +------+\n| 1.95 |\n```",
            )
            .with_argument("x", "Numeric expression.")
            .with_argument("y", "Numeric expression.")
            .with_related_udf("list_linregress")
            .build()
        });
        &DOC
    }

    fn list_doc(&self) -> &'static Documentation {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "linregress over list columns: one regression per row.",
                "list_linregress(xs, ys)",
            )
            .with_sql_example(
                "```sql\n> SELECT list_linregress([1, 2, 3], [2.0, 4.1, 5.9]).slope;\n\
                 +------+\n| 1.95 |\n```",
            )
            .with_argument("xs", "List of numbers.")
            .with_argument("ys", "List of numbers, as long as xs.")
            .with_related_udf("linregress")
            .build()
        });
        &DOC
    }
}
