//! The dense aggregation kernel: per-group statistics accumulated block by block with the
//! group index computed from dimension indices (no hashing), merged across threads.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float32Array, Float64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};

use super::spec::{AggKind, DenseSpec, EXCLUDED};
#[cfg(feature = "gpu")]
use crate::gpu::kernels::grouped_reduce::SKIP;

/// Which statistics an input needs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Needs {
    sum: bool,
    min: bool,
    max: bool,
    var: bool,
    first: bool,
    last: bool,
}

impl Needs {
    /// Everything a group reduction gives: count, sum, min, max and variance.
    #[cfg(all(test, feature = "gpu"))]
    pub(crate) const REDUCTIONS: Needs = Needs {
        sum: true,
        min: true,
        max: true,
        var: true,
        first: false,
        last: false,
    };

    /// The statistics the aggregates of `spec` need, per value input.
    pub(crate) fn of(spec: &DenseSpec) -> Vec<Needs> {
        let mut needs = vec![Needs::default(); spec.inputs.len()];
        for agg in &spec.aggs {
            let Some(n) = needs.get_mut(agg.input) else {
                continue;
            };
            match agg.kind {
                AggKind::Sum | AggKind::Avg => n.sum = true,
                AggKind::Min => n.min = true,
                AggKind::Max => n.max = true,
                AggKind::VarSamp | AggKind::VarPop | AggKind::StddevSamp | AggKind::StddevPop => {
                    n.var = true
                }
                AggKind::First => n.first = true,
                AggKind::Last => n.last = true,
                AggKind::Count | AggKind::CountRows => {}
            }
        }
        needs
    }
}

/// Per-group statistics of one value input. Variance uses sums shifted by the group's
/// first value (`s1 = Σ(x-k)`, `s2 = Σ(x-k)²`), stable for data far from zero.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub count: Vec<u64>,
    pub sum: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub shift: Vec<f64>,
    pub s1: Vec<f64>,
    pub s2: Vec<f64>,
    /// Position (scan order) and value of the first / last row; position u64::MAX = none.
    pub first: Vec<(u64, Option<f64>)>,
    pub last: Vec<(u64, Option<f64>)>,
}

fn sized<T: Clone>(on: bool, n: usize, v: T) -> Vec<T> {
    if on { vec![v; n] } else { Vec::new() }
}

impl Stats {
    pub(crate) fn new(needs: Needs, n: usize) -> Self {
        Self {
            count: vec![0; n],
            sum: sized(needs.sum, n, 0.0),
            min: sized(needs.min, n, f64::NAN),
            max: sized(needs.max, n, f64::NAN),
            shift: sized(needs.var, n, 0.0),
            s1: sized(needs.var, n, 0.0),
            s2: sized(needs.var, n, 0.0),
            first: sized(needs.first, n, (u64::MAX, None)),
            last: sized(needs.last, n, (u64::MAX, None)),
        }
    }

    /// Group `g`'s statistics (those not kept read as zero or NaN).
    fn group(&self, g: usize) -> GroupStats {
        let at = |v: &Vec<f64>, default: f64| v.get(g).copied().unwrap_or(default);
        GroupStats {
            count: self.count[g],
            sum: at(&self.sum, 0.0),
            min: at(&self.min, f64::NAN),
            max: at(&self.max, f64::NAN),
            shift: at(&self.shift, 0.0),
            s1: at(&self.s1, 0.0),
            s2: at(&self.s2, 0.0),
        }
    }

    /// Mean and sum of squared deviations of group `g`.
    pub(crate) fn moments(&self, g: usize) -> (f64, f64) {
        self.group(g).moments()
    }

    /// Adds one value `v` to group `g` (the statistics `needs` asks for).
    #[inline]
    pub(crate) fn push(&mut self, needs: Needs, g: usize, v: f64) {
        let first_value = self.count[g] == 0;
        self.count[g] += 1;
        if needs.sum {
            self.sum[g] += v;
        }
        if needs.min && (first_value || min_replaces(v, self.min[g])) {
            self.min[g] = v;
        }
        if needs.max && (first_value || v.total_cmp(&self.max[g]).is_gt()) {
            self.max[g] = v;
        }
        if needs.var {
            if first_value {
                self.shift[g] = v;
            }
            let d = v - self.shift[g];
            self.s1[g] += d;
            self.s2[g] += d * d;
        }
    }

    /// Merges the partial statistics `b` of group `g` into this group's.
    pub(crate) fn add(&mut self, g: usize, b: &GroupStats) {
        let (na, nb) = (self.count[g], b.count);
        if !self.s1.is_empty() && nb > 0 {
            if na == 0 {
                self.shift[g] = b.shift;
                self.s1[g] = b.s1;
                self.s2[g] = b.s2;
            } else {
                // Chan et al.: combine (n, mean, M2), stored back with shift = mean.
                let (ma, qa) = self.moments(g);
                let (mb, qb) = b.moments();
                let n = (na + nb) as f64;
                let delta = mb - ma;
                self.shift[g] = ma + delta * nb as f64 / n;
                self.s1[g] = 0.0;
                self.s2[g] = qa + qb + delta * delta * na as f64 * nb as f64 / n;
            }
        }
        self.count[g] = na + nb;
        if !self.sum.is_empty() {
            self.sum[g] += b.sum;
        }
        if !self.min.is_empty() && nb > 0 && (na == 0 || min_replaces(b.min, self.min[g])) {
            self.min[g] = b.min;
        }
        if !self.max.is_empty() && nb > 0 && (na == 0 || b.max.total_cmp(&self.max[g]).is_gt()) {
            self.max[g] = b.max;
        }
    }

    fn merge(&mut self, other: &Stats) {
        for g in 0..self.count.len() {
            self.add(g, &other.group(g));
            if !self.first.is_empty() && other.first[g].0 < self.first[g].0 {
                self.first[g] = other.first[g];
            }
            if !self.last.is_empty()
                && other.last[g].0 != u64::MAX
                && (self.last[g].0 == u64::MAX || other.last[g].0 > self.last[g].0)
            {
                self.last[g] = other.last[g];
            }
        }
    }
}

/// Whether `v` is a smaller minimum than `min`: NaN (of either sign) never is and every
/// number is smaller than NaN, so the minimum is NaN only when a group has nothing else,
/// whatever the order; otherwise the total order (-0 < +0).
fn min_replaces(v: f64, min: f64) -> bool {
    !v.is_nan() && (min.is_nan() || v.total_cmp(&min).is_lt())
}

/// One group's count, sum, extremes and sums shifted by `shift` (`s1 = Σ(x-shift)`,
/// `s2 = Σ(x-shift)²`): a partial result to merge into [`Stats`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupStats {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub shift: f64,
    pub s1: f64,
    pub s2: f64,
}

impl GroupStats {
    /// Mean and sum of squared deviations.
    fn moments(&self) -> (f64, f64) {
        let n = self.count as f64;
        if n == 0.0 {
            return (f64::NAN, f64::NAN);
        }
        // Rounding can leave a tiny negative sum; NaN stays NaN.
        let m2 = self.s2 - self.s1 * self.s1 / n;
        (self.shift + self.s1 / n, if m2 < 0.0 { 0.0 } else { m2 })
    }
}

/// Statistics of every group: rows (after filters) and each input's statistics.
#[derive(Debug, Clone)]
pub(crate) struct Partial {
    pub rows: Vec<u64>,
    pub inputs: Vec<Stats>,
}

impl Partial {
    pub(crate) fn new(needs: &[Needs], ngroups: usize) -> Self {
        Self {
            rows: vec![0; ngroups],
            inputs: needs.iter().map(|n| Stats::new(*n, ngroups)).collect(),
        }
    }

    pub(crate) fn merge(mut self, other: Partial) -> Partial {
        for (a, b) in self.rows.iter_mut().zip(&other.rows) {
            *a += b;
        }
        for (a, b) in self.inputs.iter_mut().zip(&other.inputs) {
            a.merge(b);
        }
        self
    }
}

/// Where a block lies: its index range per dimension (relative to the selected ranges)
/// and the scan position of its first element.
pub(crate) struct Block<'a> {
    pub spec: &'a DenseSpec,
    pub start: Vec<usize>,
    pub len: Vec<usize>,
    pub position: u64,
}

/// How the innermost dimension's indices of a block map to groups.
#[derive(Debug, Clone, Copy)]
enum Inner {
    /// Every index to the group at this offset (the dimension is not a key).
    Same(usize),
    /// Index j to the group at offset + j (the dimension is a key, values distinct).
    Consecutive(usize),
    /// Look each index's code up (excluded indices, repeated values).
    Mixed,
}

impl Block<'_> {
    /// The group codes of the innermost dimension over this block.
    fn inner_codes(&self) -> &[u32] {
        let last = self.len.len() - 1;
        &self.spec.dims[last].codes[self.start[last]..self.start[last] + self.len[last]]
    }

    fn inner_shape(&self) -> Inner {
        let codes = self.inner_codes();
        let stride = self.spec.group_strides[self.len.len() - 1];
        match codes.first() {
            Some(&c0) if c0 != EXCLUDED && codes.iter().all(|c| *c == c0) => {
                Inner::Same(c0 as usize * stride)
            }
            Some(&c0)
                if c0 != EXCLUDED
                    && stride == 1
                    && codes
                        .iter()
                        .enumerate()
                        .all(|(j, c)| *c as usize == c0 as usize + j) =>
            {
                Inner::Consecutive(c0 as usize)
            }
            _ => Inner::Mixed,
        }
    }

    /// Calls `f(element, base)` for every run of the innermost dimension (C order) whose
    /// outer indices a group takes; `base` is the group offset of those outer indices.
    #[inline]
    fn runs(&self, mut f: impl FnMut(usize, usize)) {
        let nd = self.len.len();
        if nd == 0 || self.len.contains(&0) {
            return;
        }
        let dims = &self.spec.dims;
        let strides = &self.spec.group_strides;
        let last = nd - 1;
        let inner = self.len[last];
        let mut idx = vec![0usize; last];
        let mut element = 0;
        loop {
            let mut base = 0;
            let mut excluded = false;
            for d in 0..last {
                let code = dims[d].codes[self.start[d] + idx[d]];
                if code == EXCLUDED {
                    excluded = true;
                    break;
                }
                base += code as usize * strides[d];
            }
            if !excluded {
                f(element, base);
            }
            element += inner;
            let mut d = last;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < self.len[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    /// Calls `f(element, group)` for every element of the block (C order) that a group
    /// takes.
    #[inline]
    fn visit(&self, mut f: impl FnMut(usize, usize)) {
        let codes = self.inner_codes();
        let stride = self.spec.group_strides[self.len.len().saturating_sub(1)];
        self.runs(|element, base| {
            for (j, &code) in codes.iter().enumerate() {
                if code != EXCLUDED {
                    f(element + j, base + code as usize * stride);
                }
            }
        });
    }

    /// The group of every element of the block (C order), or [`SKIP`] where no group takes
    /// it, `keep` drops it or its value is NULL: the codes the GPU kernel reduces by.
    #[cfg(feature = "gpu")]
    pub(crate) fn element_groups(
        &self,
        keep: Option<&BooleanArray>,
        nulls: Option<&NullBuffer>,
    ) -> Vec<u32> {
        let mut codes = vec![SKIP; self.len.iter().product()];
        self.visit(|e, g| {
            if keep.is_none_or(|k| k.value(e)) && nulls.is_none_or(|n| n.is_valid(e)) {
                codes[e] = g as u32;
            }
        });
        codes
    }

    /// Adds the block's rows (those `keep` allows) to `partial.rows`.
    pub(crate) fn count_rows(&self, keep: Option<&BooleanArray>, rows: &mut [u64]) {
        let inner = self.len.last().copied().unwrap_or(0);
        match (keep, self.inner_shape()) {
            (None, Inner::Same(offset)) => self.runs(|_, base| rows[base + offset] += inner as u64),
            (None, Inner::Consecutive(offset)) => self.runs(|_, base| {
                let start = base + offset;
                rows[start..start + inner].iter_mut().for_each(|r| *r += 1);
            }),
            (None, Inner::Mixed) => self.visit(|_, g| rows[g] += 1),
            (Some(k), _) => self.visit(|e, g| {
                if k.value(e) {
                    rows[g] += 1
                }
            }),
        }
    }

    /// Adds `values` (one per element of the block) to `stats`.
    pub(crate) fn accumulate(
        &self,
        values: &ArrayRef,
        keep: Option<&BooleanArray>,
        needs: Needs,
        stats: &mut Stats,
    ) -> Result<()> {
        let nulls = values.logical_nulls();
        if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
            self.accumulate_slice(v.values(), nulls.as_ref(), keep, needs, stats);
        } else if let Some(v) = values.as_any().downcast_ref::<Float64Array>() {
            self.accumulate_slice(v.values(), nulls.as_ref(), keep, needs, stats);
        } else {
            let as_f64 = cast(values, &DataType::Float64)?;
            let Some(v) = as_f64.as_any().downcast_ref::<Float64Array>() else {
                return exec_err!("dense aggregate: cannot read {} values", values.data_type());
            };
            self.accumulate_slice(v.values(), nulls.as_ref(), keep, needs, stats);
        }
        Ok(())
    }

    fn accumulate_slice<T: Copy + Into<f64>>(
        &self,
        values: &[T],
        nulls: Option<&NullBuffer>,
        keep: Option<&BooleanArray>,
        needs: Needs,
        s: &mut Stats,
    ) {
        let plain = keep.is_none()
            && nulls.is_none()
            && !(needs.min || needs.max || needs.var || needs.first || needs.last);
        if plain {
            self.accumulate_plain(values, needs.sum, s);
            return;
        }
        let position = self.position;
        self.visit(|e, g| {
            if keep.is_some_and(|k| !k.value(e)) {
                return;
            }
            let valid = nulls.is_none_or(|n| n.is_valid(e));
            let v: f64 = values[e].into();
            let pos = position + e as u64;
            if needs.first && pos < s.first[g].0 {
                s.first[g] = (pos, valid.then_some(v));
            }
            if needs.last && (s.last[g].0 == u64::MAX || pos > s.last[g].0) {
                s.last[g] = (pos, valid.then_some(v));
            }
            if valid {
                s.push(needs, g, v);
            }
        });
    }

    /// Count and sum of values without NULLs, filters or other statistics, a run at a time:
    /// a run into one group is summed in eight lanes, a run over consecutive groups adds
    /// element-wise (both vectorise).
    fn accumulate_plain<T: Copy + Into<f64>>(&self, values: &[T], sum: bool, s: &mut Stats) {
        let inner = self.len.last().copied().unwrap_or(0);
        match self.inner_shape() {
            Inner::Same(offset) => self.runs(|e, base| {
                let g = base + offset;
                s.count[g] += inner as u64;
                if sum {
                    s.sum[g] += lane_sum(&values[e..e + inner]);
                }
            }),
            Inner::Consecutive(offset) => self.runs(|e, base| {
                let g = base + offset;
                s.count[g..g + inner].iter_mut().for_each(|c| *c += 1);
                if sum {
                    for (acc, v) in s.sum[g..g + inner].iter_mut().zip(&values[e..e + inner]) {
                        *acc += (*v).into();
                    }
                }
            }),
            Inner::Mixed => self.visit(|e, g| {
                s.count[g] += 1;
                if sum {
                    s.sum[g] += values[e].into();
                }
            }),
        }
    }
}

/// The sum of `values` in f64, accumulated in eight independent lanes.
fn lane_sum<T: Copy + Into<f64>>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|v| (*v).into()).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += (*v).into();
        }
    }
    lanes.iter().sum::<f64>() + rest
}
