//! `unique_value(x)`: the one value of a group, an error where there are several — the
//! aggregate that gives `PIVOT` pandas' `DataFrame.pivot` semantics (one row per index and
//! column pair, "Index contains duplicate entries, cannot reshape" otherwise).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::DOC_SECTION;

/// `unique_value(x)`: the value of the only row of a group; an error for a group of more
/// than one row (even if the values are equal, as pandas' `pivot`); `NULL` for no rows.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UniqueValueFunc {
    signature: Signature,
}

impl UniqueValueFunc {
    /// The function, with its signature.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl Default for UniqueValueFunc {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The value of the only row of the group; an error if the group has more than one \
         row. With PIVOT it gives pandas' DataFrame.pivot semantics: one value per index and \
         column pair, and pandas' error \"index contains duplicate entries, cannot reshape\" \
         otherwise (pivot_table would aggregate them).",
        "unique_value(x)",
    )
    .with_argument("x", "Any expression; the result has its type.")
    .with_sql_example(
        r#"```sql
> PIVOT df ON bar USING unique_value(baz) GROUP BY foo ORDER BY foo;
+-----+---+---+---+
| foo | A | B | C |
+-----+---+---+---+
| one | 1 | 2 | 3 |
| two | 4 | 5 | 6 |
+-----+---+---+---+
```"#,
    )
    .build()
});

impl AggregateUDFImpl for UniqueValueFunc {
    fn name(&self) -> &str {
        "unique_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [x] => Ok(x.clone()),
            _ => plan_err!("unique_value takes 1 argument, got {}", arg_types.len()),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[rows]", args.name),
                DataType::UInt64,
                false,
            )),
            Arc::new(Field::new(
                format!("{}[value]", args.name),
                args.return_type().clone(),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(UniqueValueAccumulator {
            rows: 0,
            value: ScalarValue::try_from(args.return_field.data_type())?,
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// How many rows were seen (0 or 1, else it has failed) and the value of the one row.
#[derive(Debug)]
struct UniqueValueAccumulator {
    rows: u64,
    value: ScalarValue,
}

impl UniqueValueAccumulator {
    /// Takes `count` rows whose first value is `values[index]` (and, where `count` > 1, whose
    /// second is `values[index + 1]`: the rows of one update batch).
    fn add(&mut self, count: u64, values: &ArrayRef, index: usize) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        let value = ScalarValue::try_from_array(values, index)?;
        if self.rows + count == 1 {
            self.rows = 1;
            self.value = value;
            return Ok(());
        }
        let (first, second) = if self.rows > 0 {
            (self.value.clone(), value)
        } else if index + 1 < values.len() {
            (value, ScalarValue::try_from_array(values, index + 1)?)
        } else {
            (value.clone(), value)
        };
        exec_err!(
            "unique_value: index contains duplicate entries, cannot reshape: a group has more \
             than one row (values {first} and {second}); pivot semantics take one row per \
             index and column pair, aggregate them instead (avg(x), sum(x), first_value(x), ...)"
        )
    }
}

impl Accumulator for UniqueValueAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else {
            return internal_err!("unique_value called without arguments");
        };
        self.add(values.len() as u64, values, 0)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [rows, values] = states else {
            return internal_err!(
                "unique_value: expected 2 state columns, got {}",
                states.len()
            );
        };
        let Some(rows) = rows.as_any().downcast_ref::<UInt64Array>() else {
            return internal_err!("unique_value: row counts are {}", rows.data_type());
        };
        for (index, count) in rows.iter().enumerate() {
            self.add(count.unwrap_or(0), values, index)?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            self.value.clone(),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.value.size() - size_of_val(&self.value)
    }
}
