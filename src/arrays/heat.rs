//! `heat_step(grid, steps => 1, alpha => 0.25)`: explicit steps of the 2-D heat equation
//! (the course's Laplace/heat stencil) on a grid in long form, `(y, x, value)` rows as
//! xarray's `to_dataframe()` gives them. Each interior cell becomes
//! `u + alpha·(N + S + W + E − 4u)`; edge cells stay fixed (Dirichlet boundary). With
//! `alpha => 0.25` a step is one Jacobi iteration of Laplace's equation. The rows and columns
//! are the distinct `y` and `x` values in ascending order; every cell must be given once,
//! with a value (NULL is an error: fill it first), NaN spreads to its neighbours.
//!
//! The CPU twin of `gpu/kernels/heat_step.rs` is [`cpu_steps`].

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{Result, exec_err, plan_err};
use rayon::prelude::*;

use super::axis::{axis, long_form};
use super::{ArrayFunction, Call, Kernel, Runner, expect_columns, expect_number, floats};

/// The grid (`rows × cols`, row-major) after `steps` steps, in f64, adding the neighbours
/// in the shader's order.
pub(crate) fn cpu_steps(
    grid: &[f64],
    rows: usize,
    cols: usize,
    alpha: f64,
    steps: usize,
) -> Vec<f64> {
    let mut front = grid.to_vec();
    if rows < 3 || cols < 3 {
        return front;
    }
    let mut back = front.clone();
    for _ in 0..steps {
        back.par_chunks_mut(cols)
            .enumerate()
            .skip(1)
            .take(rows - 2)
            .for_each(|(y, out)| {
                let k0 = y * cols;
                for (x, cell) in out.iter_mut().enumerate().take(cols - 1).skip(1) {
                    let k = k0 + x;
                    let u = front[k];
                    let neighbours =
                        front[k - cols] + front[k + cols] + front[k - 1] + front[k + 1];
                    *cell = u + alpha * (neighbours - 4.0 * u);
                }
            });
        std::mem::swap(&mut front, &mut back);
    }
    front
}

/// `heat_step` bound to its options.
#[derive(Debug)]
pub(crate) struct HeatStep {
    steps: usize,
    alpha: f64,
    schema: SchemaRef,
}

impl HeatStep {
    pub(crate) fn new(call: &Call) -> Result<Self> {
        const F: &str = "heat_step";
        call.check_options(&["steps", "alpha"])?;
        let steps = call.count_option("steps", 1)?;
        let alpha = call.number_option("alpha", 0.25)?;
        if alpha.is_nan() || alpha <= 0.0 || alpha > 0.25 {
            return plan_err!(
                "{F}: alpha must be in (0, 0.25], not {alpha}: larger steps make the explicit scheme unstable"
            );
        }
        let [input] = call.inputs.as_slice() else {
            return plan_err!(
                "{F}: expected one (query) argument, (SELECT y, x, value FROM grid), got {}",
                call.inputs.len()
            );
        };
        let schema = input.schema();
        expect_columns(F, schema, 3, "row coordinate, column coordinate, value")?;
        expect_number(F, schema, 2)?;
        let field = |i: usize| {
            let f = schema.field(i);
            Field::new(f.name(), f.data_type().clone(), true)
        };
        let schema = Arc::new(Schema::new(vec![
            field(0),
            field(1),
            Field::new(schema.field(2).name(), DataType::Float64, true),
        ]));
        Ok(Self {
            steps,
            alpha,
            schema,
        })
    }
}

impl ArrayFunction for HeatStep {
    fn describe(&self) -> String {
        format!("heat_step(steps={}, alpha={})", self.steps, self.alpha)
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn run(&self, inputs: &[RecordBatch], runner: &mut Runner) -> Result<RecordBatch> {
        const F: &str = "heat_step";
        let input = &inputs[0];
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let types: Vec<&DataType> = self.schema.fields().iter().map(|f| f.data_type()).collect();
        let ys = axis(F, names[0], types[0], &[input.column(0)])?;
        let xs = axis(F, names[1], types[1], &[input.column(1)])?;
        let (rows, cols) = (ys.len(), xs.len());
        let cells = rows * cols;
        runner.reserve(cells * (8 * 3 + 4 * 2 + 1))?;
        let values = floats(input.column(2))?;
        let mut grid = vec![0.0; cells];
        let mut seen = vec![false; cells];
        let at = |y: usize, x: usize| {
            format!(
                "{}={}, {}={}",
                names[0],
                array_value_to_string(&ys.values, y).unwrap_or_default(),
                names[1],
                array_value_to_string(&xs.values, x).unwrap_or_default()
            )
        };
        for (r, value) in values.iter().enumerate() {
            let (y, x) = (ys.positions[0][r], xs.positions[0][r]);
            let k = y * cols + x;
            if seen[k] {
                return exec_err!("{F}: the cell {} is given twice", at(y, x));
            }
            seen[k] = true;
            match value {
                Some(v) => grid[k] = v,
                None => {
                    return exec_err!(
                        "{F}: the cell {} is NULL; fill it first (coalesce, or fill functions)",
                        at(y, x)
                    );
                }
            }
        }
        if let Some(k) = seen.iter().position(|s| !s) {
            return exec_err!(
                "{F}: the grid has no cell {} ({} of {rows} x {cols} cells given); heat_step needs a complete grid",
                at(k / cols, k % cols),
                input.num_rows()
            );
        }
        let result = runner.run(&Kernel::Heat {
            grid: &grid,
            rows,
            cols,
            alpha: self.alpha,
            steps: self.steps,
        })?;
        long_form(
            self.schema(),
            &ys.values,
            &xs.values,
            Arc::new(Float64Array::from(result)),
        )
    }
}
