//! `matmul(a, b)`: the product of two matrices given as `(row, column, value)` entries, the
//! coordinate (COO) form SQL tables hold matrices in. `a`'s rows are the distinct values of
//! its first column, its columns those of its second; `b`'s rows are matched to `a`'s
//! columns by value, its columns are its second column's values, all in ascending order.
//! Entries that are absent or NULL count as 0 and repeated entries add up (scipy's COO
//! convention, and what `SUM(a.v * b.v) ... GROUP BY` gives); NULL keys are errors. One
//! output row `(row, column, value)` per cell of the n × m result, NaN where a NaN entry
//! reaches. The inner key columns must have comparable types (they are coerced).
//!
//! The CPU twin of `gpu/kernels/matmul.rs` is [`cpu_product`].

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use rayon::prelude::*;

use super::axis::{axis, long_form};
use super::{ArrayFunction, Call, Kernel, Runner, expect_columns, expect_number, floats};

/// `a · b` (n × m, row-major) for `a` n × k and `b` k × m, each cell summing its products in
/// ascending k, in f64.
pub(crate) fn cpu_product(a: &[f64], b: &[f64], (n, k, m): (usize, usize, usize)) -> Vec<f64> {
    let mut c = vec![0.0; n * m];
    if m == 0 {
        return c;
    }
    c.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
        for q in 0..k {
            let x = a[i * k + q];
            for (cell, y) in row.iter_mut().zip(&b[q * m..(q + 1) * m]) {
                *cell += x * y;
            }
        }
    });
    c
}

/// `matmul` bound to its inputs.
#[derive(Debug)]
pub(crate) struct Matmul {
    inner: DataType,
    schema: SchemaRef,
}

impl Matmul {
    pub(crate) fn new(call: &Call) -> Result<Self> {
        const F: &str = "matmul";
        call.check_options(&[])?;
        let [a, b] = call.inputs.as_slice() else {
            return plan_err!(
                "{F}: expected two (query) arguments, (SELECT i, k, value FROM a) and (SELECT k, j, value FROM b), got {}",
                call.inputs.len()
            );
        };
        let (a, b) = (a.schema(), b.schema());
        expect_columns(F, a, 3, "row, column, value")?;
        expect_columns(F, b, 3, "row, column, value")?;
        expect_number(F, a, 2)?;
        expect_number(F, b, 2)?;
        let (ak, bk) = (a.field(1), b.field(0));
        let Some(inner) = comparison_coercion(ak.data_type(), bk.data_type()) else {
            return plan_err!(
                "{F}: the first matrix's column key '{}' ({}) and the second's row key '{}' ({}) cannot be compared",
                ak.name(),
                ak.data_type(),
                bk.name(),
                bk.data_type()
            );
        };
        let row = a.field(0);
        let col = b.field(1);
        let col_name = if col.name() == row.name() {
            format!("{}_2", col.name())
        } else {
            col.name().clone()
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new(row.name(), row.data_type().clone(), true),
            Field::new(col_name, col.data_type().clone(), true),
            Field::new("value", DataType::Float64, true),
        ]));
        Ok(Self { inner, schema })
    }
}

/// Adds each non-NULL entry of `batch` into `matrix` (`width` columns) at its row and
/// column positions.
fn scatter(
    batch: &RecordBatch,
    rows: &[usize],
    cols: &[usize],
    width: usize,
    matrix: &mut [f64],
) -> Result<()> {
    let values = floats(batch.column(2))?;
    for (r, v) in values.iter().enumerate() {
        if let Some(v) = v {
            matrix[rows[r] * width + cols[r]] += v;
        }
    }
    Ok(())
}

impl ArrayFunction for Matmul {
    fn describe(&self) -> String {
        "matmul()".to_string()
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn run(&self, inputs: &[RecordBatch], runner: &mut Runner) -> Result<RecordBatch> {
        const F: &str = "matmul";
        let (a, b) = (&inputs[0], &inputs[1]);
        let name = |batch: &RecordBatch, i: usize| batch.schema().field(i).name().clone();
        let rows = axis(
            F,
            &name(a, 0),
            a.schema().field(0).data_type(),
            &[a.column(0)],
        )?;
        let inner = axis(F, &name(a, 1), &self.inner, &[a.column(1), b.column(0)])?;
        let cols = axis(
            F,
            &name(b, 1),
            b.schema().field(1).data_type(),
            &[b.column(1)],
        )?;
        let (n, k, m) = (rows.len(), inner.len(), cols.len());
        let Some(cells) = n.checked_mul(m).filter(|c| *c <= u32::MAX as usize) else {
            return plan_err!("{F}: a {n} x {m} result is too large");
        };
        let bytes = (n as u128 * k as u128 + k as u128 * m as u128) * 8 + cells as u128 * 24;
        runner.reserve(usize::try_from(bytes).unwrap_or(usize::MAX))?;
        let mut left = vec![0.0; n * k];
        scatter(a, &rows.positions[0], &inner.positions[0], k, &mut left)?;
        let mut right = vec![0.0; k * m];
        scatter(b, &inner.positions[1], &cols.positions[0], m, &mut right)?;
        let product = runner.run(&Kernel::Matmul {
            a: &left,
            b: &right,
            shape: (n, k, m),
        })?;
        long_form(
            self.schema(),
            &rows.values,
            &cols.values,
            Arc::new(Float64Array::from(product)),
        )
    }
}
