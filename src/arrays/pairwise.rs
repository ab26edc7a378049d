//! `pairwise_distance(points [, others], metric => 'euclidean')`: the distance between every
//! row of `points` and every row of `others` (itself when absent), like scipy's `cdist`.
//! Each query's first column names the rows (any type), the others are their coordinates
//! (numbers, the same count in both). One output row `(i, j, distance)` per pair, in input
//! order; a NULL coordinate makes the pair's distance NULL, NaN makes it NaN.
//!
//! The CPU twin of `gpu/kernels/pairwise_distance.rs` is [`cpu_distances`].

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result, plan_err};
use rayon::prelude::*;

use super::axis::long_form;
use super::{ArrayFunction, Call, Kernel, Runner, expect_number, floats};

/// A distance between two rows of coordinates (scipy's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// sqrt(Σ (x − y)²)
    Euclidean,
    /// Σ (x − y)²
    SqEuclidean,
    /// Σ |x − y| (scipy's `cityblock`)
    Manhattan,
    /// 1 − x·y / (‖x‖ ‖y‖)
    Cosine,
}

impl Metric {
    /// Every metric, for the kernel's differential tests.
    #[cfg(all(test, feature = "gpu"))]
    pub(crate) const ALL: [Metric; 4] = [
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Manhattan,
        Metric::Cosine,
    ];

    fn parse(name: &str) -> Option<Metric> {
        match name.to_ascii_lowercase().as_str() {
            "euclidean" | "l2" => Some(Metric::Euclidean),
            "sqeuclidean" => Some(Metric::SqEuclidean),
            "manhattan" | "cityblock" | "l1" => Some(Metric::Manhattan),
            "cosine" => Some(Metric::Cosine),
            _ => None,
        }
    }

    /// The shader's code for the metric.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn code(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Euclidean => "euclidean",
            Metric::SqEuclidean => "sqeuclidean",
            Metric::Manhattan => "manhattan",
            Metric::Cosine => "cosine",
        })
    }
}

/// Distances between the rows of `a` and of `b` (`dims` coordinates each, row-major),
/// row-major `n × m`, in f64.
pub(crate) fn cpu_distances(a: &[f64], b: &[f64], dims: usize, metric: Metric) -> Vec<f64> {
    let dims = dims.max(1);
    let m = b.len() / dims;
    let mut out = vec![0.0; (a.len() / dims) * m];
    if m == 0 {
        return out;
    }
    out.par_chunks_mut(m)
        .zip(a.par_chunks(dims))
        .for_each(|(row, x)| {
            for (cell, y) in row.iter_mut().zip(b.chunks(dims)) {
                *cell = distance(x, y, metric);
            }
        });
    out
}

/// One distance, summing in the order the shader does.
fn distance(x: &[f64], y: &[f64], metric: Metric) -> f64 {
    match metric {
        Metric::Euclidean | Metric::SqEuclidean => {
            let s: f64 = x.iter().zip(y).fold(0.0, |acc, (a, b)| {
                let t = a - b;
                acc + t * t
            });
            if metric == Metric::Euclidean {
                s.sqrt()
            } else {
                s
            }
        }
        Metric::Manhattan => x.iter().zip(y).fold(0.0, |acc, (a, b)| acc + (a - b).abs()),
        Metric::Cosine => {
            let (mut dot, mut xx, mut yy) = (0.0, 0.0, 0.0);
            for (a, b) in x.iter().zip(y) {
                dot += a * b;
                xx += a * a;
                yy += b * b;
            }
            1.0 - dot / (xx.sqrt() * yy.sqrt())
        }
    }
}

/// `pairwise_distance` bound to its inputs and metric.
#[derive(Debug)]
pub(crate) struct PairwiseDistance {
    metric: Metric,
    dims: usize,
    schema: SchemaRef,
}

impl PairwiseDistance {
    pub(crate) fn new(call: &Call) -> Result<Self> {
        const F: &str = "pairwise_distance";
        call.check_options(&["metric"])?;
        let metric_name = call.text_option("metric", "euclidean")?;
        let Some(metric) = Metric::parse(metric_name) else {
            return plan_err!(
                "{F}: unknown metric '{metric_name}' (accepted: euclidean, sqeuclidean, manhattan, cosine)"
            );
        };
        let schemas: Vec<_> = call.inputs.iter().map(|p| p.schema()).collect();
        if schemas.is_empty() || schemas.len() > 2 {
            return plan_err!(
                "{F}: expected one or two (query) arguments, each (SELECT id, x, y, ... FROM t), got {}",
                schemas.len()
            );
        }
        let dims = schemas[0].fields().len().saturating_sub(1);
        for schema in &schemas {
            if schema.fields().len() < 2 {
                return plan_err!(
                    "{F}: each query needs a first column naming the rows and at least one coordinate column, got {} column(s)",
                    schema.fields().len()
                );
            }
            if schema.fields().len() - 1 != dims {
                return plan_err!(
                    "{F}: the queries have {dims} and {} coordinate columns; they must match",
                    schema.fields().len() - 1
                );
            }
            for index in 1..schema.fields().len() {
                expect_number(F, schema, index)?;
            }
        }
        let key = |s: &datafusion::common::DFSchema| s.field(0).data_type().clone();
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", key(schemas[0]), true),
            Field::new("j", key(schemas[schemas.len() - 1]), true),
            Field::new("distance", DataType::Float64, true),
        ]));
        Ok(Self {
            metric,
            dims,
            schema,
        })
    }
}

/// The coordinates of `batch` row-major (NULL as NaN) and which rows have a NULL.
fn coordinates(batch: &RecordBatch, dims: usize) -> Result<(Vec<f64>, Vec<bool>)> {
    let n = batch.num_rows();
    let mut values = vec![0.0; n * dims];
    let mut null = vec![false; n];
    for d in 0..dims {
        let column = floats(batch.column(d + 1))?;
        for (i, v) in column.iter().enumerate() {
            match v {
                Some(v) => values[i * dims + d] = v,
                None => {
                    values[i * dims + d] = f64::NAN;
                    null[i] = true;
                }
            }
        }
    }
    Ok((values, null))
}

impl ArrayFunction for PairwiseDistance {
    fn describe(&self) -> String {
        format!("pairwise_distance(metric={})", self.metric)
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn run(&self, inputs: &[RecordBatch], runner: &mut Runner) -> Result<RecordBatch> {
        let first = &inputs[0];
        let second = inputs.get(1).unwrap_or(first);
        let (n, m) = (first.num_rows(), second.num_rows());
        let Some(pairs) = n.checked_mul(m).filter(|p| *p <= u32::MAX as usize) else {
            return plan_err!("pairwise_distance: {n} x {m} pairs are too many for one result");
        };
        runner.reserve((n + m) * self.dims * 8 + pairs * (8 + 8 + 1))?;
        let (a, a_null) = coordinates(first, self.dims)?;
        let (b, b_null) = coordinates(second, self.dims)?;
        let distances = runner.run(&Kernel::Pairwise {
            a: &a,
            b: &b,
            dims: self.dims,
            metric: self.metric,
        })?;
        let valid: Vec<bool> = (0..pairs)
            .map(|p| !(a_null[p / m] || b_null[p % m]))
            .collect();
        let distance = Float64Array::new(distances.into(), Some(NullBuffer::from(valid)));
        long_form(
            self.schema(),
            first.column(0),
            second.column(0),
            Arc::new(distance),
        )
    }
}
