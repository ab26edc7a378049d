//! What a dense aggregation computes, decided once at planning: for every dimension the
//! group code of each index (from the GROUP BY keys and dimension filters evaluated on the
//! coordinate values), the variables to read, the value expressions and value filter
//! evaluated per block, and the aggregates. `None` from [`DenseSpec::try_new`] means the
//! query is not eligible and keeps its generic plan.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use datafusion::arrow::compute::{and_kleene, cast};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::Result;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{PhysicalExpr, aggregate::AggregateFunctionExpr};
use datafusion::physical_plan::aggregates::PhysicalGroupBy;

use super::source::{ScanSource, renumber, substitute};
use crate::datasource::array::Grid;

/// A dimension index that no group takes (filtered out).
pub(crate) const EXCLUDED: u32 = u32::MAX;

/// The most groups a dense aggregation allocates; beyond, the hash aggregate runs.
const MAX_GROUPS: usize = 1 << 26;

/// Group codes along one dimension, over its selected index range.
#[derive(Debug)]
pub(crate) struct DimCodes {
    /// Code of each index in the range, or [`EXCLUDED`].
    pub codes: Vec<u32>,
    pub ncodes: usize,
    /// For each code, the first index (in the range) that has it.
    pub representative: Vec<usize>,
}

/// The aggregate functions computed densely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggKind {
    /// `count(*)`: rows of the group.
    CountRows,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
    First,
    Last,
}

/// One aggregate: its kind and, except for `count(*)`, the value input it reads.
#[derive(Debug)]
pub(crate) struct DenseAgg {
    pub kind: AggKind,
    pub input: usize,
    pub name: String,
}

/// A GROUP BY key: its values along one dimension (or one value when it uses none).
#[derive(Debug)]
pub(crate) struct KeyColumn {
    pub dim: Option<usize>,
    /// Values over the dimension's range (one value for a constant key).
    pub values: ArrayRef,
    pub name: String,
}

/// Everything the dense aggregation needs at run time.
#[derive(Debug)]
pub(crate) struct DenseSpec {
    pub grid: Arc<dyn Grid>,
    pub ranges: Vec<(u64, u64)>,
    pub dims: Vec<DimCodes>,
    /// Group index = sum over dimensions of code × stride.
    pub group_strides: Vec<usize>,
    pub ngroups: usize,
    pub keys: Vec<KeyColumn>,
    /// Grid value-column indices read per block, in the order of `value_schema`.
    pub vars: Vec<usize>,
    pub value_schema: SchemaRef,
    /// Value inputs of the aggregates, over `value_schema`.
    pub inputs: Vec<Arc<dyn PhysicalExpr>>,
    /// Conjunction of the filters on values, over `value_schema`.
    pub value_filter: Vec<Arc<dyn PhysicalExpr>>,
    pub aggs: Vec<DenseAgg>,
    pub output_schema: SchemaRef,
}

/// What a scan column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanColumn {
    Dim(usize),
    Var(usize),
    Other,
}

/// The kinds of scan columns an expression reads.
struct Uses {
    dims: Vec<usize>,
    vars: Vec<usize>,
    other: bool,
}

impl DenseSpec {
    /// The dense form of an aggregate with `group_by` and `aggs` (each with its optional
    /// FILTER) over `source`, producing `output_schema`; `None` when not eligible.
    pub(crate) fn try_new(
        source: &ScanSource,
        group_by: &PhysicalGroupBy,
        aggs: &[Arc<AggregateFunctionExpr>],
        agg_filters: &[Option<Arc<dyn PhysicalExpr>>],
        output_schema: SchemaRef,
    ) -> Result<Option<Self>> {
        let grid = &source.grid;
        let schema = grid.schema();
        let ndims = grid.dim_count();
        if ndims == 0
            || source.limit.is_some()
            || group_by.groups().len() > 1
            || agg_filters.iter().any(Option::is_some)
            || output_schema.fields().len() != group_by.expr().len() + aggs.len()
        {
            return Ok(None);
        }
        let class = |i: usize| match source.projection.get(i) {
            Some(&p) if p < ndims => ScanColumn::Dim(p),
            Some(&p) if p - ndims < grid.value_count() => ScanColumn::Var(p - ndims),
            _ => ScanColumn::Other,
        };
        let uses = |e: &Arc<dyn PhysicalExpr>| {
            let mut u = Uses {
                dims: Vec::new(),
                vars: Vec::new(),
                other: false,
            };
            for c in collect_columns(e) {
                match class(c.index()) {
                    ScanColumn::Dim(d) if !u.dims.contains(&d) => u.dims.push(d),
                    ScanColumn::Var(v) if !u.vars.contains(&v) => u.vars.push(v),
                    ScanColumn::Other => u.other = true,
                    _ => {}
                }
            }
            u
        };

        // Keys: each a function of at most one dimension.
        let mut key_exprs = Vec::new();
        for (expr, name) in group_by.expr() {
            let expr = substitute(expr, &source.columns)?;
            let u = uses(&expr);
            if u.other || !u.vars.is_empty() || u.dims.len() > 1 {
                return Ok(None);
            }
            key_exprs.push((u.dims.first().copied(), expr, name.clone()));
        }
        // Filters: on one dimension (a mask of its indices) or on values only.
        let mut dim_filters: Vec<(usize, Arc<dyn PhysicalExpr>)> = Vec::new();
        let mut value_filters = Vec::new();
        for filter in &source.filters {
            let u = uses(filter);
            match (u.other, u.dims.as_slice(), u.vars.is_empty()) {
                (false, [d], true) => dim_filters.push((*d, Arc::clone(filter))),
                (false, [], _) => value_filters.push(Arc::clone(filter)),
                _ => return Ok(None),
            }
        }
        // Aggregates and their value inputs (deduplicated).
        let mut inputs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
        let mut dense_aggs = Vec::new();
        let mut vars: Vec<usize> = Vec::new();
        for filter in &value_filters {
            for v in uses(filter).vars {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
        }
        let scan_schema = Arc::new(schema.project(&source.projection)?);
        for agg in aggs {
            let Some((kind, arg)) = classify_aggregate(agg, &source.columns)? else {
                return Ok(None);
            };
            let Some(arg) = arg else {
                dense_aggs.push(DenseAgg {
                    kind,
                    input: 0,
                    name: agg.name().to_string(),
                });
                continue;
            };
            let u = uses(&arg);
            if u.other || !u.dims.is_empty() || u.vars.is_empty() {
                return Ok(None);
            }
            let arg_type = arg.data_type(&scan_schema)?;
            if !value_type_supported(kind, &arg_type) {
                return Ok(None);
            }
            for v in u.vars {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
            let arg = strip_widening_cast(&arg, &scan_schema)?;
            let input = match inputs.iter().position(|e| e.as_ref() == arg.as_ref()) {
                Some(i) => i,
                None => {
                    inputs.push(arg);
                    inputs.len() - 1
                }
            };
            dense_aggs.push(DenseAgg {
                kind,
                input,
                name: agg.name().to_string(),
            });
        }

        // Value expressions over a batch of just the variables read.
        let value_schema = Arc::new(Schema::new(
            vars.iter()
                .map(|v| schema.field(ndims + v).clone())
                .collect::<Vec<Field>>(),
        ));
        let var_position = |scan_index: usize| match class(scan_index) {
            ScanColumn::Var(v) => vars.iter().position(|x| *x == v).unwrap_or(0),
            _ => 0,
        };
        let inputs = inputs
            .iter()
            .map(|e| renumber(e, var_position))
            .collect::<Result<Vec<_>>>()?;
        let value_filter = value_filters
            .iter()
            .map(|e| renumber(e, var_position))
            .collect::<Result<Vec<_>>>()?;

        // Codes per dimension from the keys and filters on it.
        let mut dims = Vec::with_capacity(ndims);
        let mut keys: Vec<KeyColumn> = Vec::new();
        for d in 0..ndims {
            let (lo, hi) = source.ranges[d];
            let coords = grid.dim_values(d).slice(lo as usize, (hi - lo) as usize);
            let batch = RecordBatch::try_new(
                Arc::new(Schema::new(vec![schema.field(d).clone()])),
                vec![coords],
            )?;
            let mut mask: Option<BooleanArray> = None;
            for (_, filter) in dim_filters.iter().filter(|(fd, _)| *fd == d) {
                let m = evaluate_on(filter, &batch)?;
                let Some(m) = m.as_any().downcast_ref::<BooleanArray>() else {
                    return Ok(None);
                };
                mask = Some(match mask {
                    Some(prev) => and_kleene(&prev, m)?,
                    None => m.clone(),
                });
            }
            let mut values = Vec::new();
            for (key_dim, expr, name) in &key_exprs {
                if *key_dim == Some(d) {
                    let array = evaluate_on(expr, &batch)?;
                    values.push(Arc::clone(&array));
                    keys.push(KeyColumn {
                        dim: Some(d),
                        values: array,
                        name: name.clone(),
                    });
                }
            }
            dims.push(dim_codes(batch.num_rows(), &values, mask.as_ref())?);
        }
        // Keys in GROUP BY order; constant keys take one value.
        let mut ordered = Vec::with_capacity(key_exprs.len());
        for (key_dim, expr, name) in &key_exprs {
            match key_dim {
                Some(_) => {
                    let Some(i) = keys.iter().position(|k| &k.name == name) else {
                        return Ok(None);
                    };
                    ordered.push(keys.remove(i));
                }
                None => {
                    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
                    let value = expr.evaluate(&empty)?.into_array(1)?;
                    ordered.push(KeyColumn {
                        dim: None,
                        values: value,
                        name: name.clone(),
                    });
                }
            }
        }
        let mut group_strides = vec![0; ndims];
        let mut ngroups: usize = 1;
        for d in (0..ndims).rev() {
            group_strides[d] = ngroups;
            ngroups = match ngroups.checked_mul(dims[d].ncodes.max(1)) {
                Some(n) if n <= MAX_GROUPS => n,
                _ => return Ok(None),
            };
        }
        Ok(Some(Self {
            grid: Arc::clone(grid),
            ranges: source.ranges.clone(),
            dims,
            group_strides,
            ngroups,
            keys: ordered,
            vars,
            value_schema,
            inputs,
            value_filter,
            aggs: dense_aggs,
            output_schema,
        }))
    }
}

/// An aggregate's dense kind and its argument over the scan columns (`None` for `count(*)`).
type ClassifiedAgg = (AggKind, Option<Arc<dyn PhysicalExpr>>);

/// The dense kind of an aggregate and its argument over the scan columns (`None` for
/// `count(*)`), or `None` when it has no dense form.
fn classify_aggregate(
    agg: &AggregateFunctionExpr,
    columns: &[Arc<dyn PhysicalExpr>],
) -> Result<Option<ClassifiedAgg>> {
    if agg.is_distinct() || agg.ignore_nulls() || !agg.order_bys().is_empty() {
        return Ok(None);
    }
    let args = agg.expressions();
    let [arg] = args.as_slice() else {
        return Ok(None);
    };
    let kind = match agg.fun().name() {
        "count" => AggKind::Count,
        "sum" => AggKind::Sum,
        "avg" => AggKind::Avg,
        "min" => AggKind::Min,
        "max" => AggKind::Max,
        "var" => AggKind::VarSamp,
        "var_pop" => AggKind::VarPop,
        "stddev" => AggKind::StddevSamp,
        "stddev_pop" => AggKind::StddevPop,
        "first_value" => AggKind::First,
        "last_value" => AggKind::Last,
        _ => return Ok(None),
    };
    let arg = substitute(arg, columns)?;
    if kind == AggKind::Count && collect_columns(&arg).is_empty() {
        let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
        let value = arg.evaluate(&empty)?.into_array(1)?;
        return Ok((value.null_count() == 0).then_some((AggKind::CountRows, None)));
    }
    Ok(Some((kind, Some(arg))))
}

/// Whether the kernel (which computes in f64) gives the generic plan's answer for `kind`
/// over values of `data_type`.
fn value_type_supported(kind: AggKind, data_type: &DataType) -> bool {
    use DataType::*;
    match kind {
        AggKind::Count | AggKind::CountRows => data_type.is_primitive(),
        AggKind::Sum => matches!(data_type, Float16 | Float32 | Float64),
        AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last => matches!(
            data_type,
            Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Float32 | Float64
        ),
        _ => matches!(
            data_type,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64
        ),
    }
}

/// `CAST(x AS DOUBLE)` of a float or small integer `x` is `x` for a kernel computing in f64.
fn strip_widening_cast(
    expr: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        let inner = cast.expr();
        let lossless = matches!(
            inner.data_type(schema)?,
            DataType::Float32 | DataType::Int8 | DataType::Int16 | DataType::Int32
        ) | matches!(
            inner.data_type(schema)?,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32
        );
        if cast.cast_type() == &DataType::Float64
            && lossless
            && inner.downcast_ref::<Column>().is_some()
        {
            return Ok(Arc::clone(inner));
        }
    }
    Ok(Arc::clone(expr))
}

/// Evaluates `expr` (over one dimension's column) on a one-column batch of that dimension,
/// whatever index the column had in the scan.
fn evaluate_on(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ArrayRef> {
    let expr = renumber(expr, |_| 0)?;
    expr.evaluate(batch)?.into_array(batch.num_rows())
}

/// Codes of `n` indices from the key values on this dimension (distinct value tuples in
/// order of first appearance), with indices outside `mask` excluded.
fn dim_codes(n: usize, keys: &[ArrayRef], mask: Option<&BooleanArray>) -> Result<DimCodes> {
    let kept = |i: usize| mask.is_none_or(|m| m.is_valid(i) && m.value(i));
    if keys.is_empty() {
        let codes: Vec<u32> = (0..n).map(|i| if kept(i) { 0 } else { EXCLUDED }).collect();
        return Ok(DimCodes {
            representative: vec![codes.iter().position(|c| *c == 0).unwrap_or(0)],
            codes,
            ncodes: 1,
        });
    }
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(keys)?;
    let mut seen = HashMap::new();
    let mut codes = Vec::with_capacity(n);
    let mut representative = Vec::new();
    for i in 0..n {
        if !kept(i) {
            codes.push(EXCLUDED);
            continue;
        }
        let next = representative.len() as u32;
        let code = *seen.entry(rows.row(i)).or_insert_with(|| {
            representative.push(i);
            next
        });
        codes.push(code);
    }
    Ok(DimCodes {
        ncodes: representative.len(),
        codes,
        representative,
    })
}

/// A key column's values for the given dimension indices (constant keys repeat).
pub(crate) fn key_values(key: &KeyColumn, indices: &[usize]) -> Result<ArrayRef> {
    use datafusion::arrow::array::UInt64Array;
    let take_at: UInt64Array = match key.dim {
        Some(_) => indices.iter().map(|i| *i as u64).collect::<Vec<_>>().into(),
        None => vec![0u64; indices.len()].into(),
    };
    if key.values.is_empty() {
        return Ok(new_null_array(key.values.data_type(), indices.len()));
    }
    Ok(datafusion::arrow::compute::take(
        key.values.as_ref(),
        &take_at,
        None,
    )?)
}

/// Casts a computed column to the type the generic plan gives it.
pub(crate) fn to_output_type(array: ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if array.data_type() == data_type {
        Ok(array)
    } else {
        Ok(cast(&array, data_type)?)
    }
}
