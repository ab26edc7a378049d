//! Index ranges of the array tables. Filters on dimension columns, shared by NetCDF and HDF5:
//! `=`, `<`, `<=`, `>`, `>=` and `BETWEEN` between a dimension column and a constant keep
//! the indices from the first to the last coordinate that passes, so a scan reads only that
//! hyperslab. The range is a superset where coordinates are not monotonic, so the filter is
//! pushed down as inexact and still applied to the rows. And hyperslabs as flat indices.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use datafusion::arrow::compute::kernels::cmp;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

/// The dimensions of a table: each one's column name and coordinate values.
pub(crate) struct Dimensions<'a>(pub Vec<(&'a str, &'a ArrayRef)>);

impl Dimensions<'_> {
    /// The index range `(dimension, start, end)` of dimension column `column` that
    /// `column op literal` keeps, if `column` is a dimension and the literal converts to
    /// its type.
    fn range(
        &self,
        column: &str,
        op: Operator,
        literal: &ScalarValue,
    ) -> Option<(usize, u64, u64)> {
        let k = self.0.iter().position(|(name, _)| *name == column)?;
        let values = self.0[k].1;
        let literal = literal.cast_to(values.data_type()).ok()?;
        if literal.is_null() {
            return None;
        }
        let scalar = Scalar::new(literal.to_array().ok()?);
        let mask: BooleanArray = match op {
            Operator::Eq => cmp::eq(values, &scalar),
            Operator::Gt => cmp::gt(values, &scalar),
            Operator::GtEq => cmp::gt_eq(values, &scalar),
            Operator::Lt => cmp::lt(values, &scalar),
            Operator::LtEq => cmp::lt_eq(values, &scalar),
            _ => return None,
        }
        .ok()?;
        let kept = |i: &usize| mask.is_valid(*i) && mask.value(*i);
        let first = (0..mask.len()).find(kept);
        let last = (0..mask.len()).rev().find(kept);
        Some(match (first, last) {
            (Some(a), Some(b)) => (k, a as u64, b as u64 + 1),
            _ => (k, 0, 0),
        })
    }

    /// The ranges on dimension indices that `filter` implies (empty when none).
    fn filter_ranges(&self, filter: &Expr) -> Vec<(usize, u64, u64)> {
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                match (left.as_ref(), right.as_ref()) {
                    (Expr::Column(c), Expr::Literal(v, _)) => {
                        self.range(&c.name, *op, v).into_iter().collect()
                    }
                    (Expr::Literal(v, _), Expr::Column(c)) => op
                        .swap()
                        .and_then(|op| self.range(&c.name, op, v))
                        .into_iter()
                        .collect(),
                    (l, r) if *op == Operator::And => {
                        let mut out = self.filter_ranges(l);
                        out.extend(self.filter_ranges(r));
                        out
                    }
                    _ => Vec::new(),
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => match (expr.as_ref(), low.as_ref(), high.as_ref()) {
                (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) => self
                    .range(&c.name, Operator::GtEq, lo)
                    .into_iter()
                    .chain(self.range(&c.name, Operator::LtEq, hi))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// How each filter is pushed down: inexact when it implies a range (DataFusion still
    /// applies it to the rows), unsupported otherwise.
    pub(crate) fn pushdown(&self, filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
        filters
            .iter()
            .map(|f| {
                if self.filter_ranges(f).is_empty() {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect()
    }

    /// `base` narrowed by every filter's ranges.
    pub(crate) fn narrow(&self, mut base: Vec<(u64, u64)>, filters: &[Expr]) -> Vec<(u64, u64)> {
        for filter in filters {
            for (k, lo, hi) in self.filter_ranges(filter) {
                let r = &mut base[k];
                r.0 = r.0.max(lo);
                r.1 = r.1.min(hi).max(r.0);
            }
        }
        base
    }
}

/// Flat (C order) indices of the elements that `(start, end, step)` along each dimension
/// select from an array of `shape`.
pub(crate) fn flat_indices(shape: &[u64], ranges: &[(u64, u64, u64)]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (k, (start, end, step)) in ranges.iter().enumerate() {
        let stride: u64 = shape[k + 1..].iter().product();
        let picked: Vec<u64> = (*start..*end).step_by((*step).max(1) as usize).collect();
        out = out
            .iter()
            .flat_map(|base| picked.iter().map(move |i| base + (*i * stride) as usize))
            .collect();
    }
    out
}
