//! `bfill(x [, limit])`: pandas' `Series.bfill` as a window function.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};

use super::{DOC_SECTION, FillEvaluator, coerce_fill_args, limit_arg};

/// `bfill(x [, limit]) OVER (PARTITION BY .. ORDER BY ..)`: each `NULL` takes the next
/// non-null value after it in the partition, at most `limit` rows before that value.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BfillFunc {
    signature: Signature,
}

impl BfillFunc {
    /// The function, with its signature.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for BfillFunc {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fills NULLs backward, as pandas' bfill: each NULL takes the next non-null value after \
         it in the window's ORDER BY order, within its partition. Trailing NULLs stay NULL. \
         The window frame is ignored.",
        "bfill(x [, limit]) OVER ([PARTITION BY ...] ORDER BY ...)",
    )
    .with_argument(
        "x",
        "The column to fill, of any type; the result has its type.",
    )
    .with_argument(
        "limit",
        "Optional constant integer > 0: fill at most this many consecutive NULLs before each \
         value; the rest of a longer gap stays NULL. NULL or absent: no limit.",
    )
    .with_sql_example(
        r#"```sql
> SELECT t, x, bfill(x) OVER (ORDER BY t) AS b, bfill(x, 1) OVER (ORDER BY t) AS b1
  FROM (VALUES (1, NULL), (2, 1.0), (3, NULL), (4, NULL), (5, 4.0), (6, NULL)) AS v(t, x);
+---+-----+-----+-----+
| t | x   | b   | b1  |
+---+-----+-----+-----+
| 1 |     | 1.0 | 1.0 |
| 2 | 1.0 | 1.0 | 1.0 |
| 3 |     | 4.0 |     |
| 4 |     | 4.0 | 4.0 |
| 5 | 4.0 | 4.0 | 4.0 |
| 6 |     |     |     |
+---+-----+-----+-----+
```"#,
    )
    .with_related_udf("ffill")
    .with_related_udf("interpolate")
    .build()
});

impl WindowUDFImpl for BfillFunc {
    fn name(&self) -> &str {
        "bfill"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_fill_args(self.name(), arg_types)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let limit = limit_arg(self.name(), args.input_exprs(), 1)?;
        Ok(Box::new(FillEvaluator {
            backward: true,
            limit,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let data_type = field_args
            .get_input_field(0)
            .map_or(DataType::Null, |f| f.data_type().clone());
        Ok(Arc::new(Field::new(field_args.name(), data_type, true)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}
