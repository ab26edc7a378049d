//! The two SQL faces of every [`FitKind`]: an aggregate, one fit per group
//! ([`FitAgg`] with [`FitAccumulator`] and [`FitGroupsAccumulator`]), and a scalar function
//! over list columns, one fit per row ([`ListFitFunc`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Documentation, EmitTo,
    GroupsAccumulator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion::physical_expr::expressions::Literal;

use crate::points::{
    FitKind, Fitter, append_points, coerce, const_arg, fit_groups, fit_list_rows, float_list,
    merge_lists, points_to_lists, require_constants, signature,
};

/// The aggregate form: `curve_fit(model, x, y)`, `polyfit(x, y, deg)`, `linregress(x, y)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FitAgg<K: FitKind> {
    kind: K,
    signature: Signature,
    /// Constant arguments known at planning time (set by [`FitAgg::with_constants`]).
    planned: Option<Vec<Option<ScalarValue>>>,
}

impl<K: FitKind> FitAgg<K> {
    /// The aggregate with nothing known about its constant arguments yet.
    pub fn new(kind: K) -> Self {
        Self {
            kind,
            signature: signature::<K>(),
            planned: None,
        }
    }

    /// The aggregate for a call whose constant arguments are `consts` (used by the
    /// planner so that the result type can depend on the model).
    pub fn with_constants(kind: K, consts: Vec<Option<ScalarValue>>) -> AggregateUDF {
        let mut agg = Self::new(kind);
        agg.planned = Some(consts);
        AggregateUDF::from(agg)
    }

    /// The constant arguments known at planning time, if [`FitAgg::with_constants`] made
    /// it (a plan sent elsewhere must carry them: the result type depends on them).
    pub fn planned_constants(&self) -> Option<&[Option<ScalarValue>]> {
        self.planned.as_deref()
    }

    fn fitter(&self, consts: &[Option<ScalarValue>]) -> Result<K::Fitter> {
        self.kind.configure(consts)
    }

    /// The fit of a call about to run: its constant arguments are final now.
    fn run_fitter(&self, args: &AccumulatorArgs) -> Result<K::Fitter> {
        let consts = literals(args);
        require_constants::<K>(K::NAME, &consts)?;
        self.fitter(&consts)
    }
}

impl<K: FitKind> AggregateUDFImpl for FitAgg<K> {
    fn name(&self) -> &str {
        K::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce::<K>(K::NAME, arg_types, &DataType::Float64)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let consts = self
            .planned
            .clone()
            .unwrap_or_else(|| vec![None; arg_types.len()]);
        Ok(self.fitter(&consts)?.data_type())
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let fitter = self.run_fitter(&acc_args)?;
        Ok(Box::new(FitAccumulator {
            fitter,
            xy: K::XY,
            points: vec![(Vec::new(), Vec::new())],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["x", "y"]
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format!("{}[{n}]", args.name),
                    float_list(),
                    true,
                ))
            })
            .collect())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let fitter = self.run_fitter(&args)?;
        Ok(Box::new(FitGroupsAccumulator {
            fitter,
            xy: K::XY,
            points: Vec::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.kind.aggregate_doc())
    }
}

/// The constant (literal) arguments of an aggregate call, after constant folding.
fn literals(args: &AccumulatorArgs) -> Vec<Option<ScalarValue>> {
    args.exprs
        .iter()
        .map(|e| e.downcast_ref::<Literal>().map(|l| l.value().clone()))
        .collect()
}

/// The x and y columns (at positions `xy`) as Float64 arrays.
fn xy_columns(values: &[ArrayRef], xy: (usize, usize)) -> Result<(ArrayRef, ArrayRef)> {
    match (values.get(xy.0), values.get(xy.1)) {
        (Some(x), Some(y)) => Ok((cast(x, &DataType::Float64)?, cast(y, &DataType::Float64)?)),
        _ => exec_err!("fit aggregate: missing x or y argument"),
    }
}

/// One group's points, for the aggregate without GROUP BY.
pub struct FitAccumulator<F: Fitter> {
    fitter: F,
    xy: (usize, usize),
    points: Vec<(Vec<f64>, Vec<f64>)>,
}

impl<F: Fitter> std::fmt::Debug for FitAccumulator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FitAccumulator({} points)", self.points[0].0.len())
    }
}

fn points_size(points: &[(Vec<f64>, Vec<f64>)]) -> usize {
    points
        .iter()
        .map(|(x, y)| (x.capacity() + y.capacity()) * 8 + 48)
        .sum()
}

impl<F: Fitter + 'static> Accumulator for FitAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (x, y) = xy_columns(values, self.xy)?;
        let groups = vec![0; x.len()];
        append_points(
            x.as_primitive(),
            y.as_primitive(),
            &groups,
            None,
            &mut self.points,
        );
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let array = fit_groups(&self.fitter, &self.points)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + points_size(&self.points)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        points_to_lists(&self.points)
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map(|s| s.len()).unwrap_or(0);
        merge_lists(states, &vec![0; rows], &mut self.points)
    }
}

/// Points of many groups; all groups are fitted in parallel when emitted.
pub struct FitGroupsAccumulator<F: Fitter> {
    fitter: F,
    xy: (usize, usize),
    points: Vec<(Vec<f64>, Vec<f64>)>,
}

impl<F: Fitter> std::fmt::Debug for FitGroupsAccumulator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FitGroupsAccumulator({} groups)", self.points.len())
    }
}

impl<F: Fitter + 'static> GroupsAccumulator for FitGroupsAccumulator<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.points.resize_with(total_num_groups, Default::default);
        let (x, y) = xy_columns(values, self.xy)?;
        append_points(
            x.as_primitive::<Float64Type>(),
            y.as_primitive::<Float64Type>(),
            group_indices,
            opt_filter,
            &mut self.points,
        );
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let points = emit_to.take_needed(&mut self.points);
        fit_groups(&self.fitter, &points)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let points = emit_to.take_needed(&mut self.points);
        Ok(points_to_lists(&points))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.points.resize_with(total_num_groups, Default::default);
        merge_lists(values, group_indices, &mut self.points)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let (x, y) = xy_columns(values, self.xy)?;
        let mut points = vec![(Vec::new(), Vec::new()); x.len()];
        let groups: Vec<usize> = (0..x.len()).collect();
        append_points(
            x.as_primitive(),
            y.as_primitive(),
            &groups,
            opt_filter,
            &mut points,
        );
        Ok(points_to_lists(&points))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + points_size(&self.points)
    }
}

/// The list form: `list_curve_fit(model, xs, ys)`, `list_polyfit(xs, ys, deg)`, ...
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ListFitFunc<K: FitKind> {
    kind: K,
    signature: Signature,
}

impl<K: FitKind> ListFitFunc<K> {
    /// The list function.
    pub fn new(kind: K) -> Self {
        Self {
            kind,
            signature: signature::<K>(),
        }
    }
}

impl<K: FitKind> ScalarUDFImpl for ListFitFunc<K> {
    fn name(&self) -> &str {
        K::LIST_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce::<K>(K::LIST_NAME, arg_types, &float_list())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        exec_err!("{}: return_field_from_args is used instead", K::LIST_NAME)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let consts: Vec<Option<ScalarValue>> =
            args.scalar_arguments.iter().map(|s| s.cloned()).collect();
        let fitter = self.kind.configure(&consts)?;
        Ok(Arc::new(Field::new(self.name(), fitter.data_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let consts: Vec<Option<ScalarValue>> = (0..args.args.len())
            .map(|i| const_arg(&args.args, i))
            .collect();
        require_constants::<K>(K::LIST_NAME, &consts)?;
        let fitter = self.kind.configure(&consts)?;
        let (xi, yi) = K::XY;
        let rows = args.number_rows;
        let x = args.args[xi].to_array(rows)?;
        let y = args.args[yi].to_array(rows)?;
        let out = fit_list_rows(K::LIST_NAME, &fitter, &x, &y)?;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        if all_scalar && out.len() == 1 {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.kind.list_doc())
    }
}
