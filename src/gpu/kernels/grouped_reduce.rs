//! Kernel 1, dense grouped reduction: per group count, sum, min, max and the shifted sums
//! that give mean and variance, over f32 values with a group code each — the GPU form of the
//! dense aggregation's inner loop. The values are f32 columns as they are, or computed from
//! them by a translated expression in the scatter pass (kernel 2, `expression.rs`). Its CPU twin is that loop itself,
//! [`Stats::push`](crate::dense::kernel::Stats::push); the tests compare the two.
//!
//! On the device (`grouped_reduce.wgsl`): a histogram pass counts each group's values with
//! integer atomics (giving each value its rank in its group), the host turns the counts into
//! offsets and cuts every group into segments of at most [`SEGMENT`] values, a scatter pass
//! puts the values in group order, and one workgroup per segment reduces it — count, sum,
//! min, max, then the sums of deviations from the segment's own mean (two passes, so the
//! variance is stable far from zero); a segment of at most [`SMALL`] values is reduced the
//! same way by one invocation, in order, so that many small groups (a grid mean over few
//! time steps) do not each take a workgroup. The host merges the segments of a group in f64 with
//! Chan's formula ([`Stats::add`](crate::dense::kernel::Stats::add)).
//!
//! Conventions, as the CPU kernel: a value whose code is [`SKIP`] (filtered out or NULL) is
//! not counted; NaN is a value — it makes sum, mean and variance NaN, max takes it (the
//! total order: NaN greatest), min ignores it unless the segment has nothing else.
//!
//! Precision: the values are f32 (f64 variables stay on the CPU: the placement keeps such
//! aggregations there); sums, means and deviations accumulate in f64 on adapters with
//! `SHADER_F64` and in f32 elsewhere, within a segment (each thread ≤ 16 values, then a
//! 256-way tree; or one invocation over ≤ 64 values); segments merge on the host in f64. No
//! compensated summation: a segment's f32 error is already bounded by (16 + 8 + 1)·u·Σ|x|
//! (64·u·Σ|x| for a small one) with u = 2⁻²⁴.
//!
//! Tolerance against the CPU's f64 accumulation: in f32, |gpu − cpu| ≤ 1e-5 · Σ|x| for the
//! sum and 1e-5 relative for mean and variance of a group, and values beyond ±1.8e19 can
//! overflow the squares (variance inf or NaN); in f64, 1e-12 for each. Count, min and max are
//! exact. The order within a group follows the atomic ranks, so the last bits of a sum may
//! differ between runs.

use bytemuck::{Pod, Zeroable};
use datafusion::common::{Result, exec_err};
use wgpu::{Buffer, ComputePipeline};

use crate::dense::kernel::GroupStats;
use crate::gpu::buffer::{pack, read, scoped, uniform, upload, zeroed};
use crate::gpu::device::Gpu;
use crate::gpu::kernels::expression::PLAIN;
use crate::gpu::kernels::{Real, Timings, bind, finish, pipeline};

/// A code that no group takes.
pub(crate) const SKIP: u32 = u32::MAX;
/// The most values one workgroup reduces (16 per thread).
const SEGMENT: u32 = 4096;
/// Invocations per workgroup (as in the shader).
const WORKGROUP: u32 = 256;
/// The most values of a segment one invocation reduces alone, in order (as in the shader):
/// many small groups then take an invocation each instead of a workgroup each.
const SMALL: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    segments: u32,
    /// Segments of more than [`SMALL`] values (a workgroup each; the others one invocation
    /// each).
    large_segments: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Segment {
    start: u32,
    end: u32,
    group: u32,
    pad: u32,
}

/// The shader's `Partial` in `T`: four reals (sum, mean, s1, s2), then four u32 (count,
/// min key, max key, padding).
fn partial_size<T: Real>() -> usize {
    4 * size_of::<T>() + 16
}

struct Pipelines {
    histogram: ComputePipeline,
    scatter: ComputePipeline,
    reduce: ComputePipeline,
    reduce_small: ComputePipeline,
}

/// The passes (histogram, scatter, reduce of large and of small segments), the scatter
/// computing each value as `value` (WGSL over `col`, see
/// `expression.rs`).
fn pipelines<T: Real>(gpu: &Gpu, value: &str) -> Result<Pipelines> {
    let source = include_str!("grouped_reduce.wgsl");
    let plain = source.replace("VALUE", PLAIN);
    let entry = |text: &str, name| pipeline::<T>(gpu, "grouped_reduce", text, name);
    Ok(Pipelines {
        histogram: entry(&plain, "histogram")?,
        scatter: entry(&source.replace("VALUE", value), "scatter")?,
        reduce: entry(&plain, "reduce")?,
        reduce_small: entry(&plain, "reduce_small")?,
    })
}

/// Statistics of every group that has values among `values` (one code per value, codes
/// below `ngroups` or [`SKIP`]), as `(group, statistics)` pairs: one or more per group,
/// to merge with [`Stats::add`](crate::dense::kernel::Stats::add). Accumulates in f64
/// where the adapter has `SHADER_F64`.
#[cfg(test)]
pub(crate) fn reduce(
    gpu: &'static Gpu,
    values: &[f32],
    codes: &[u32],
    ngroups: usize,
) -> Result<Vec<(usize, GroupStats)>> {
    let values = upload(gpu, "values", values);
    reduce_on_device(
        gpu,
        &[&values],
        PLAIN,
        codes,
        ngroups,
        &mut Timings::default(),
    )
}

/// [`reduce`] of the values `value` (WGSL from
/// [`translate`](crate::gpu::kernels::expression::translate)) computes from `columns`,
/// buffers on the device with `codes.len()` f32 values each (uploaded for the call, or
/// kept there by [`resident`](crate::gpu::resident)): only the codes are uploaded; several
/// columns are packed one after another by a copy on the device. Adds the time spent
/// uploading the codes, computing and reading the results back to `timings`: uploads are
/// the host's copies into buffers, without a wait (the copies to the device finish with the
/// next submission, inside the compute wait), so that concurrent blocks do not stall on
/// each other's work.
pub(crate) fn reduce_on_device(
    gpu: &'static Gpu,
    columns: &[&Buffer],
    value: &str,
    codes: &[u32],
    ngroups: usize,
    timings: &mut Timings,
) -> Result<Vec<(usize, GroupStats)>> {
    if gpu.info.f64 {
        reduce_in::<f64>(gpu, columns, value, codes, ngroups, timings)
    } else {
        reduce_in::<f32>(gpu, columns, value, codes, ngroups, timings)
    }
}

/// [`reduce_on_device`], accumulating in `T`.
fn reduce_in<T: Real>(
    gpu: &'static Gpu,
    columns: &[&Buffer],
    value: &str,
    codes: &[u32],
    ngroups: usize,
    timings: &mut Timings,
) -> Result<Vec<(usize, GroupStats)>> {
    if columns.is_empty() {
        return exec_err!("grouped reduce: a value must read at least one column");
    }
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = codes.len() as u64 * 4;
    if let Some(c) = columns.iter().find(|c| c.size() < bytes) {
        return exec_err!(
            "grouped reduce: a column of {} bytes for {} codes",
            c.size(),
            codes.len()
        );
    }
    // The packed columns, the codes and the groups' counts each fit one binding.
    let limit = gpu.info.max_storage_binding.min(gpu.info.max_buffer_size);
    if bytes * columns.len() as u64 > limit || ngroups as u64 * 4 > limit {
        return exec_err!(
            "grouped reduce: {} values of {} columns in {ngroups} groups exceed the GPU's \
             buffer limit of {limit} bytes",
            codes.len(),
            columns.len()
        );
    }
    scoped(gpu, || {
        let packed;
        let columns = match columns {
            [one] => *one,
            many => {
                packed = pack(gpu, "columns", many, bytes);
                &packed
            }
        };
        let p = pipelines::<T>(gpu, value)?;
        reduce_chunk::<T>(gpu, &p, columns, codes, ngroups, timings)
    })
}

/// The reduction of `columns` (the columns read, `codes.len()` values each, one after
/// another).
fn reduce_chunk<T: Real>(
    gpu: &Gpu,
    p: &Pipelines,
    columns: &Buffer,
    codes: &[u32],
    ngroups: usize,
    timings: &mut Timings,
) -> Result<Vec<(usize, GroupStats)>> {
    if let Some(bad) = codes
        .iter()
        .find(|c| **c != SKIP && **c as usize >= ngroups)
    {
        return exec_err!("grouped reduce: code {bad} outside {ngroups} groups");
    }
    let n = codes.len() as u32;
    let wide = |work: u32| {
        work.div_ceil(WORKGROUP)
            .clamp(1, gpu.info.max_workgroups_per_dimension)
    };
    let (codes_buf, counts, ranks, params) = timings.time(
        |t| &mut t.upload,
        || {
            let codes_buf = upload(gpu, "codes", codes);
            let counts = zeroed(gpu, "counts", ngroups as u64 * 4);
            let ranks = zeroed(gpu, "ranks", n as u64 * 4);
            let params = Params {
                n,
                segments: 0,
                large_segments: 0,
                pad: 0,
            };
            let params = uniform(gpu, "params", &params);
            Ok((codes_buf, counts, ranks, params))
        },
    )?;
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let group = bind(
            gpu,
            &p.histogram,
            &[(0, &params), (1, &codes_buf), (2, &counts), (3, &ranks)],
        );
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p.histogram);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(wide(n), 1, 1);
    }
    gpu.queue.submit([encoder.finish()]);
    timings.time(|t| &mut t.compute, || finish(gpu))?;
    let sizes: Vec<u32> = timings.time(|t| &mut t.download, || read(gpu, &counts, ngroups))?;

    // Offsets of the groups in group order, and their segments.
    let mut offsets = Vec::with_capacity(ngroups);
    let mut segments = Vec::new();
    let mut total = 0u32;
    for (g, &size) in sizes.iter().enumerate() {
        offsets.push(total);
        let mut start = total;
        total += size;
        while start < total {
            let end = total.min(start + SEGMENT);
            segments.push(Segment {
                start,
                end,
                group: g as u32,
                pad: 0,
            });
            start = end;
        }
    }
    if segments.is_empty() {
        return Ok(Vec::new());
    }
    let large: Vec<u32> = (0u32..)
        .zip(&segments)
        .filter(|(_, s)| s.end - s.start > SMALL)
        .map(|(i, _)| i)
        .collect();
    let (params, offsets_buf, sorted, segments_buf, large_buf, partials) = timings.time(
        |t| &mut t.upload,
        || {
            let params = Params {
                n,
                segments: segments.len() as u32,
                large_segments: large.len() as u32,
                pad: 0,
            };
            let params = uniform(gpu, "params", &params);
            let offsets_buf = upload(gpu, "offsets", &offsets);
            let sorted = zeroed(gpu, "sorted", total as u64 * 4);
            let segments_buf = upload(gpu, "segments", &segments);
            let large_buf = (!large.is_empty()).then(|| upload(gpu, "large", &large));
            let bytes = (segments.len() * partial_size::<T>()) as u64;
            let partials = zeroed(gpu, "partials", bytes);
            Ok((
                params,
                offsets_buf,
                sorted,
                segments_buf,
                large_buf,
                partials,
            ))
        },
    )?;
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let group = bind(
            gpu,
            &p.scatter,
            &[
                (0, &params),
                (1, &codes_buf),
                (3, &ranks),
                (4, &offsets_buf),
                (5, columns),
                (6, &sorted),
            ],
        );
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p.scatter);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(wide(n), 1, 1);
    }
    let reduced = [
        (0, &params),
        (6, &sorted),
        (7, &segments_buf),
        (8, &partials),
    ];
    if let Some(large_buf) = &large_buf {
        let mut buffers = reduced.to_vec();
        buffers.push((9, large_buf));
        let group = bind(gpu, &p.reduce, &buffers);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p.reduce);
        pass.set_bind_group(0, &group, &[]);
        let workgroups = (large.len() as u32).clamp(1, gpu.info.max_workgroups_per_dimension);
        pass.dispatch_workgroups(workgroups, 1, 1);
    }
    if large.len() < segments.len() {
        let group = bind(gpu, &p.reduce_small, &reduced);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p.reduce_small);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(wide(segments.len() as u32), 1, 1);
    }
    gpu.queue.submit([encoder.finish()]);
    timings.time(|t| &mut t.compute, || finish(gpu))?;
    let bytes = segments.len() * partial_size::<T>();
    let partials: Vec<u8> = timings.time(|t| &mut t.download, || read(gpu, &partials, bytes))?;
    Ok(segments
        .iter()
        .zip(partials.chunks_exact(partial_size::<T>()))
        .map(|(s, p)| (s.group as usize, group_stats::<T>(p)))
        .collect())
}

/// The f32 whose total-order key (as the shader's `total_key`) is `key`.
fn from_key(key: u32) -> f32 {
    if key & 0x8000_0000 != 0 {
        f32::from_bits(key & 0x7fff_ffff)
    } else {
        f32::from_bits(!key)
    }
}

/// The statistics in one `Partial` of `T` (see [`partial_size`]).
fn group_stats<T: Real>(p: &[u8]) -> GroupStats {
    let w = size_of::<T>();
    let real = |i: usize| bytemuck::pod_read_unaligned::<T>(&p[i * w..(i + 1) * w]).to_f64();
    let word = |i: usize| bytemuck::pod_read_unaligned::<u32>(&p[4 * w + 4 * i..][..4]);
    GroupStats {
        count: word(0) as u64,
        sum: real(0),
        min: from_key(word(1)) as f64,
        max: from_key(word(2)) as f64,
        shift: real(1),
        s1: real(2),
        s2: real(3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::kernel::{Needs, Stats};
    use crate::gpu::kernels::testing::{Rng, gpu_or_skip};

    /// Values around 280 (like temperatures in kelvin) with NaN, ±inf-free, and codes with
    /// SKIP (NULL or filtered) and some groups left empty or all-NaN.
    fn input(n: usize, ngroups: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = Rng(seed);
        let mut values = Vec::with_capacity(n);
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            let g = rng.below(ngroups as u64) as u32;
            let v = if g % 7 == 3 || rng.below(50) == 0 {
                f32::NAN
            } else if rng.below(100) == 0 {
                // x86's 0/0: the sign bit set.
                -f32::NAN
            } else {
                280.0 + (rng.below(20_000) as f32 - 10_000.0) / 100.0
            };
            // Group 0 gets no values (all skipped); 1 in 10 values is NULL.
            let code = if g == 0 || rng.below(10) == 0 {
                SKIP
            } else {
                g
            };
            values.push(v);
            codes.push(code);
        }
        (values, codes)
    }

    /// The CPU twin: the dense kernel's per-value update.
    fn cpu(values: &[f32], codes: &[u32], ngroups: usize) -> Stats {
        let mut s = Stats::new(Needs::REDUCTIONS, ngroups);
        for (v, c) in values.iter().zip(codes) {
            if *c != SKIP {
                s.push(Needs::REDUCTIONS, *c as usize, *v as f64);
            }
        }
        s
    }

    fn on_gpu<T: Real>(g: &'static Gpu, values: &[f32], codes: &[u32], ngroups: usize) -> Stats {
        let mut s = Stats::new(Needs::REDUCTIONS, ngroups);
        let values = upload(g, "values", values);
        let mut timings = Timings::default();
        let parts = reduce_in::<T>(g, &[&values], PLAIN, codes, ngroups, &mut timings);
        for (group, part) in parts.unwrap() {
            s.add(group, &part);
        }
        s
    }

    /// The documented relative tolerance when accumulating in `T`.
    fn tolerance<T: Real>() -> f64 {
        if size_of::<T>() == 8 { 1e-12 } else { 1e-5 }
    }

    /// [`check_in`] accumulating in f32, and in f64 where the adapter has it.
    fn check(g: &'static Gpu, values: &[f32], codes: &[u32], ngroups: usize) {
        check_in::<f32>(g, values, codes, ngroups);
        if g.info.f64 {
            check_in::<f64>(g, values, codes, ngroups);
        }
    }

    /// GPU vs CPU per group: count, min and max exactly; sum within the tolerance of Σ|x|;
    /// mean and variance within the tolerance, relative.
    fn check_in<T: Real>(g: &'static Gpu, values: &[f32], codes: &[u32], ngroups: usize) {
        let close = |got: f64, want: f64, scale: f64| {
            (got.is_nan() && want.is_nan())
                || got == want
                || (got - want).abs() <= tolerance::<T>() * scale
        };
        let want = cpu(values, codes, ngroups);
        let got = on_gpu::<T>(g, values, codes, ngroups);
        let mut abs_sum = vec![0.0f64; ngroups];
        for (v, c) in values.iter().zip(codes) {
            if *c != SKIP {
                abs_sum[*c as usize] += (*v as f64).abs();
            }
        }
        for (k, abs_sum) in abs_sum.iter().enumerate() {
            let at = format!("group {k} of {ngroups}, n = {}, {}", values.len(), T::WGSL);
            assert_eq!(got.count[k], want.count[k], "count, {at}");
            if want.count[k] == 0 {
                continue;
            }
            assert!(
                close(got.sum[k], want.sum[k], *abs_sum),
                "sum {} vs {}, {at}",
                got.sum[k],
                want.sum[k]
            );
            let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b;
            assert!(
                same(got.min[k], want.min[k]),
                "min {} vs {}, {at}",
                got.min[k],
                want.min[k]
            );
            assert!(
                same(got.max[k], want.max[k]),
                "max {} vs {}, {at}",
                got.max[k],
                want.max[k]
            );
            let (gm, gv) = got.moments(k);
            let (wm, wv) = want.moments(k);
            assert!(close(gm, wm, wm.abs()), "mean {gm} vs {wm}, {at}");
            assert!(close(gv, wv, wv.abs()), "M2 {gv} vs {wv}, {at}");
        }
    }

    #[test]
    fn matches_the_cpu_kernel_across_sizes() {
        let Some(g) = gpu_or_skip() else { return };
        eprintln!("adapter: {} ({})", g.info.name, g.info.backend);
        for (n, ngroups) in [
            (0, 1),
            (1, 2),
            (255, 3),
            (256, 5),
            (257, 9),
            (4097, 2),
            (100_003, 12),
            (100_003, 50_000),
        ] {
            let (values, codes) = input(n, ngroups, n as u64 * 31 + ngroups as u64);
            check(g, &values, &codes, ngroups);
        }
    }

    /// Groups of 1 to 64 values (one invocation each), of 65 and 300 (a workgroup each) and
    /// of 9,000 (three segments) in one call, in both accumulation precisions the adapter has.
    #[test]
    fn small_and_large_segments_in_one_call() {
        let Some(g) = gpu_or_skip() else { return };
        let sizes = [1, 2, 63, 64, 65, 300, 9_000, 7, 0, 64];
        let mut values = Vec::new();
        let mut codes = Vec::new();
        let mut rng = Rng(11);
        for (group, size) in sizes.iter().enumerate() {
            for _ in 0..*size {
                values.push(1e4 + (rng.below(2_000) as f32 - 1_000.0) / 8.0);
                codes.push(group as u32);
            }
        }
        // Interleaved, as a block's codes are.
        let order: Vec<usize> = (0..values.len())
            .map(|i| (i * 7919) % values.len())
            .collect();
        let values: Vec<f32> = order.iter().map(|&i| values[i]).collect();
        let codes: Vec<u32> = order.iter().map(|&i| codes[i]).collect();
        check(g, &values, &codes, sizes.len());
    }

    #[test]
    fn one_group_of_a_million_values_is_stable() {
        let Some(g) = gpu_or_skip() else { return };
        // Far from zero with a small spread: naive f32 sums of squares would lose it all.
        let n = 1 << 20;
        let values: Vec<f32> = (0..n).map(|i| 10_000.0 + (i % 17) as f32 * 0.25).collect();
        check(g, &values, &vec![0; n], 1);
    }

    #[test]
    fn nan_infinity_and_all_skipped_groups() {
        let Some(g) = gpu_or_skip() else { return };
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        // Groups: 0 all NaN, 1 NaN among numbers, 2 all skipped, 3 with -inf and +inf,
        // 4 one value, 5 a negative NaN first.
        let values = [
            nan, nan, 1.0, nan, -2.0, 5.0, 9.0, -inf, 3.0, inf, 7.5, -nan, 4.0, -1.0,
        ];
        let codes = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 5, 5, 5];
        let codes: Vec<u32> = codes
            .iter()
            .map(|c| if *c == 2 { SKIP } else { *c })
            .collect();
        check(g, &values, &codes, 6);
        let got = on_gpu::<f32>(g, &values, &codes, 6);
        assert!(got.min[0].is_nan() && got.max[0].is_nan());
        assert_eq!((got.min[1], got.sum[1].is_nan()), (-2.0, true));
        assert!(got.max[1].is_nan());
        assert_eq!(got.count[2], 0);
        assert_eq!((got.min[3], got.max[3]), (f64::NEG_INFINITY, f64::INFINITY));
        assert_eq!((got.sum[4], got.moments(4)), (7.5, (7.5, 0.0)));
        // NaN of either sign is the minimum only of a group with nothing else; -NaN is the
        // smallest in the total order, so max ignores it.
        assert_eq!((got.min[5], got.max[5]), (-1.0, 4.0));
        let want = cpu(&values, &codes, 6);
        assert_eq!((want.min[5], want.max[5]), (-1.0, 4.0));
    }

    #[test]
    fn bad_codes_are_errors() {
        let Some(g) = gpu_or_skip() else { return };
        let err = reduce(g, &[1.0, 2.0], &[0, 5], 2).unwrap_err().to_string();
        assert!(err.contains("code 5 outside 2 groups"), "{err}");
        let err = reduce(g, &[1.0], &[0, 0], 1).unwrap_err().to_string();
        assert!(err.contains("a column of 4 bytes for 2 codes"), "{err}");
    }

    /// Two columns on the device, packed by a device copy, read by a value expression.
    #[test]
    fn columns_on_the_device_are_packed_for_an_expression() {
        let Some(g) = gpu_or_skip() else { return };
        let mut rng = Rng(3);
        let n = 5000;
        let mut value = || 280.0 + (rng.below(20_000) as f32 - 10_000.0) / 100.0;
        let a: Vec<f32> = (0..n).map(|_| value()).collect();
        let b: Vec<f32> = (0..n).map(|_| value()).collect();
        let codes: Vec<u32> = (0..n as u32)
            .map(|i| if i % 11 == 0 { SKIP } else { i % 7 })
            .collect();
        let (da, db) = (upload(g, "a", &a), upload(g, "b", &b));
        let mut got = Stats::new(Needs::REDUCTIONS, 7);
        let parts = reduce_on_device(
            g,
            &[&da, &db],
            "(col(0u, i) - col(1u, i))",
            &codes,
            7,
            &mut Timings::default(),
        );
        for (group, part) in parts.unwrap() {
            got.add(group, &part);
        }
        // The CPU twin in f64 (the shader subtracts in f64 where the adapter has it).
        let diff: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| *x as f64 - *y as f64)
            .collect();
        let mut want = Stats::new(Needs::REDUCTIONS, 7);
        for (d, c) in diff.iter().zip(&codes) {
            if *c != SKIP {
                want.push(Needs::REDUCTIONS, *c as usize, *d);
            }
        }
        assert_eq!(got.count, want.count);
        for k in 0..7 {
            let scale: f64 = diff
                .iter()
                .zip(&codes)
                .filter(|(_, c)| **c == k as u32)
                .map(|(d, _)| d.abs())
                .sum();
            assert!(
                (got.min[k] - want.min[k]).abs() <= 1e-5 * want.min[k].abs(),
                "group {k}"
            );
            assert!(
                (got.max[k] - want.max[k]).abs() <= 1e-5 * want.max[k].abs(),
                "group {k}"
            );
            assert!(
                (got.sum[k] - want.sum[k]).abs() <= 1e-5 * scale.max(1.0),
                "group {k}"
            );
        }
    }
}
