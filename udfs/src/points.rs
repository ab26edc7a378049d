//! The machinery shared by the fitting functions: every fit is a function of a set of
//! points `(x, y)`, gathered either per group by an aggregate (`curve_fit(model, x, y)`)
//! or per row from two list columns (`list_curve_fit(model, [..], [..])`). Fits run in
//! parallel on the rayon pool, across groups or across the rows of a batch.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{Signature, Volatility};
use rayon::prelude::*;

/// A configured fit: what one set of points becomes, and how results become an array.
pub trait Fitter: Send + Sync {
    /// The result of one fit.
    type Output: Send;
    /// The SQL type of a result.
    fn data_type(&self) -> DataType;
    /// Fits one set of points (finite or not; NULL pairs already removed).
    fn fit(&self, x: &[f64], y: &[f64]) -> Self::Output;
    /// Fits every point set (an aggregate's groups at emit, a batch's list rows); empty
    /// sets give `None`. In parallel on the rayon pool unless the fit has a batch solver of
    /// its own.
    fn fit_sets(&self, sets: &[PointSet]) -> Vec<Option<Self::Output>> {
        fit_in_parallel(self, sets)
    }
    /// Builds the result array; `None` entries become NULL.
    fn build(&self, outputs: Vec<Option<Self::Output>>) -> Result<ArrayRef>;
}

/// One set of points to fit: its x and its y.
pub type PointSet<'a> = (&'a [f64], &'a [f64]);

/// Fits every non-empty point set with [`Fitter::fit`], in parallel on the rayon pool.
pub fn fit_in_parallel<F: Fitter + ?Sized>(
    fitter: &F,
    sets: &[PointSet],
) -> Vec<Option<F::Output>> {
    sets.par_iter()
        .map(|(x, y)| (!x.is_empty()).then(|| fitter.fit(x, y)))
        .collect()
}

/// One fitting function family (`curve_fit`, `polyfit`, `linregress`).
pub trait FitKind: Debug + Send + Sync + PartialEq + Eq + Hash + Clone + 'static {
    /// The configured fit.
    type Fitter: Fitter;
    /// The aggregate's SQL name.
    const NAME: &'static str;
    /// The list function's SQL name.
    const LIST_NAME: &'static str;
    /// Positions of the x and y arguments.
    const XY: (usize, usize);
    /// The accepted numbers of arguments.
    const ARITY: &'static [usize];
    /// The parameter names, for named arguments (`p0 => [1, 2]`).
    const PARAMS: &'static [&'static str];
    /// Builds the fit from the constant arguments (`None` where an argument is not a
    /// constant or not known yet, as at planning time for some arguments).
    fn configure(&self, consts: &[Option<ScalarValue>]) -> Result<Self::Fitter>;
    /// SQL-level documentation of the aggregate.
    fn aggregate_doc(&self) -> &'static datafusion::logical_expr::Documentation;
    /// SQL-level documentation of the list function.
    fn list_doc(&self) -> &'static datafusion::logical_expr::Documentation;
}

/// Checks the argument count and coerces x and y to `target` (other arguments unchanged).
pub fn coerce<K: FitKind>(
    name: &str,
    args: &[DataType],
    target: &DataType,
) -> Result<Vec<DataType>> {
    if !K::ARITY.contains(&args.len()) {
        let counts: Vec<String> = K::ARITY.iter().map(|n| n.to_string()).collect();
        return plan_err!(
            "{name} takes {} arguments, got {}",
            counts.join(" or "),
            args.len()
        );
    }
    let (xi, yi) = K::XY;
    let mut out = args.to_vec();
    for i in [xi, yi] {
        let ok = match target {
            DataType::Float64 => args[i].is_numeric() || args[i].is_null(),
            _ => is_number_list(&args[i]),
        };
        if !ok {
            let what = if target == &DataType::Float64 {
                "a number"
            } else {
                "a list of numbers"
            };
            return plan_err!("{name}: argument {} must be {what}, got {}", i + 1, args[i]);
        }
        out[i] = target.clone();
    }
    Ok(out)
}

/// The function's signature: any types (checked by [`coerce`]), named parameters.
pub fn signature<K: FitKind>() -> Signature {
    let signature = Signature::user_defined(Volatility::Immutable);
    signature
        .clone()
        .with_parameter_names(K::PARAMS.to_vec())
        .unwrap_or(signature)
}

/// Fails unless every argument other than x and y is a constant (`consts[i]` is `Some`),
/// as at run time, after constant folding.
pub fn require_constants<K: FitKind>(name: &str, consts: &[Option<ScalarValue>]) -> Result<()> {
    let (xi, yi) = K::XY;
    for (i, c) in consts.iter().enumerate() {
        if c.is_none() && i != xi && i != yi {
            let param = K::PARAMS.get(i).copied().unwrap_or("argument");
            return plan_err!("{name}: {param} must be a constant, not a column or expression");
        }
    }
    Ok(())
}

/// Whether `t` is a list of numbers (or NULL).
pub fn is_number_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().is_numeric() || f.data_type().is_null()
        }
        DataType::Null => true,
        _ => false,
    }
}

/// The list type x and y are coerced to by the list functions.
pub fn float_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// Rows of two `List<Float64>` arrays as point sets, fitted together ([`Fitter::fit_sets`]).
/// A NULL row gives NULL; a row with no points (or only NULL pairs) gives the fit's answer
/// for no points.
pub fn fit_list_rows<F: Fitter>(
    name: &str,
    fitter: &F,
    xs: &ArrayRef,
    ys: &ArrayRef,
) -> Result<ArrayRef> {
    let xs = as_float_list(xs)?;
    let ys = as_float_list(ys)?;
    let (xv, yv) = (values(&xs)?, values(&ys)?);
    let mut rows = Vec::with_capacity(xs.len());
    for row in 0..xs.len() {
        if xs.is_null(row) || ys.is_null(row) {
            rows.push(None);
            continue;
        }
        let (xo, yo) = (xs.value_offsets(), ys.value_offsets());
        let xr = xo[row] as usize..xo[row + 1] as usize;
        let yr = yo[row] as usize..yo[row + 1] as usize;
        if xr.len() != yr.len() {
            return exec_err!(
                "{name}: x and y have different lengths ({} and {}) in row {}",
                xr.len(),
                yr.len(),
                row + 1
            );
        }
        rows.push(Some((xr, yr)));
    }
    // With NULL values, each row's non-NULL pairs are copied out; else the rows are slices.
    let has_nulls = xv.null_count() > 0 || yv.null_count() > 0;
    let owned: Vec<(Vec<f64>, Vec<f64>)> = if has_nulls {
        rows.par_iter()
            .map(|r| match r {
                Some((xr, yr)) => non_null_pairs(&xv, &yv, xr.clone(), yr.clone()),
                None => Default::default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let sets: Vec<PointSet> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| match (r, owned.get(i)) {
            (_, Some((x, y))) => (x.as_slice(), y.as_slice()),
            (Some((xr, yr)), None) => (&xv.values()[xr.clone()], &yv.values()[yr.clone()]),
            (None, None) => (&[][..], &[][..]),
        })
        .collect();
    let mut outputs = fitter.fit_sets(&sets);
    for (out, row) in outputs.iter_mut().zip(&rows) {
        if out.is_none() && row.is_some() {
            *out = Some(fitter.fit(&[], &[]));
        }
    }
    fitter.build(outputs)
}

fn non_null_pairs(
    xv: &Float64Array,
    yv: &Float64Array,
    xr: std::ops::Range<usize>,
    yr: std::ops::Range<usize>,
) -> (Vec<f64>, Vec<f64>) {
    xr.zip(yr)
        .filter(|(i, j)| xv.is_valid(*i) && yv.is_valid(*j))
        .map(|(i, j)| (xv.value(i), yv.value(j)))
        .unzip()
}

fn as_float_list(array: &ArrayRef) -> Result<ListArray> {
    let array = cast(array, &float_list())?;
    Ok(array.as_list::<i32>().clone())
}

fn values(list: &ListArray) -> Result<Float64Array> {
    match list.values().as_primitive_opt::<Float64Type>() {
        Some(v) => Ok(v.clone()),
        None => exec_err!("expected a list of numbers, got {}", list.data_type()),
    }
}

/// Appends the non-NULL `(x, y)` pairs of two Float64 arrays to per-group point sets.
pub fn append_points(
    x: &Float64Array,
    y: &Float64Array,
    group_indices: &[usize],
    filter: Option<&BooleanArray>,
    points: &mut [(Vec<f64>, Vec<f64>)],
) {
    for (row, group) in group_indices.iter().enumerate() {
        let keep = filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        if keep && x.is_valid(row) && y.is_valid(row) {
            let p = &mut points[*group];
            p.0.push(x.value(row));
            p.1.push(y.value(row));
        }
    }
}

/// Selects x or y of a point set.
type PickFn = fn(&(Vec<f64>, Vec<f64>)) -> &Vec<f64>;

/// Point sets as two `List<Float64>` arrays (the aggregate's intermediate state).
pub fn points_to_lists(points: &[(Vec<f64>, Vec<f64>)]) -> Vec<ArrayRef> {
    let field = Arc::new(Field::new_list_field(DataType::Float64, true));
    let lengths = points.iter().map(|p| p.0.len());
    let make = |pick: PickFn| -> ArrayRef {
        let values: Vec<f64> = points
            .iter()
            .flat_map(|p| pick(p).iter().copied())
            .collect();
        Arc::new(ListArray::new(
            Arc::clone(&field),
            OffsetBuffer::from_lengths(lengths.clone()),
            Arc::new(Float64Array::from(values)),
            None,
        ))
    };
    vec![make(|p| &p.0), make(|p| &p.1)]
}

/// Appends the points of state lists (from [`points_to_lists`]) to per-group point sets.
pub fn merge_lists(
    states: &[ArrayRef],
    group_indices: &[usize],
    points: &mut [(Vec<f64>, Vec<f64>)],
) -> Result<()> {
    let [xs, ys] = states else {
        return exec_err!("fit state must have two columns, got {}", states.len());
    };
    let (xs, ys) = (as_float_list(xs)?, as_float_list(ys)?);
    for (row, group) in group_indices.iter().enumerate() {
        if xs.is_null(row) || ys.is_null(row) {
            continue;
        }
        let (x, y) = (xs.value(row), ys.value(row));
        let (x, y) = (
            x.as_primitive::<Float64Type>(),
            y.as_primitive::<Float64Type>(),
        );
        let p = &mut points[*group];
        p.0.extend(x.values().iter());
        p.1.extend(y.values().iter());
    }
    Ok(())
}

/// Fits every point set ([`Fitter::fit_sets`]); empty sets give NULL, as other SQL
/// aggregates do.
pub fn fit_groups<F: Fitter>(fitter: &F, points: &[(Vec<f64>, Vec<f64>)]) -> Result<ArrayRef> {
    let sets: Vec<PointSet> = points
        .iter()
        .map(|(x, y)| (x.as_slice(), y.as_slice()))
        .collect();
    fitter.build(fitter.fit_sets(&sets))
}

/// The constant value of argument `i` at run time (a scalar), else `None`.
pub fn const_arg(
    args: &[datafusion::logical_expr::ColumnarValue],
    i: usize,
) -> Option<ScalarValue> {
    match args.get(i) {
        Some(datafusion::logical_expr::ColumnarValue::Scalar(s)) => Some(s.clone()),
        _ => None,
    }
}
