alias real = f32; // the accumulators: f64 where the adapter has it (kernels/mod.rs)
// Dense grouped reduction (see grouped_reduce.rs): values with a group code each are
// counted into groups (histogram, giving each value its rank in its group), scattered into
// group order, and every segment of a group (at most SEGMENT values) is reduced: one of more
// than SMALL values by a workgroup (`reduce`), a smaller one by a single invocation
// (`reduce_small`, so that many small groups do not each occupy a workgroup): count, sum,
// min, max, and the sums of deviations from the segment's mean.
// Values are f32; sums, the mean and the deviations accumulate in `real`. The scatter pass
// computes each value from the columns read (`value_at`, kernel 2: expression.rs).

const WORKGROUP: u32 = 256u;
// The most values one invocation reduces alone, in order (grouped_reduce.rs: SMALL).
const SMALL: u32 = 64u;
// A value no group takes (filtered out or NULL).
const SKIP: u32 = 0xffffffffu;

struct Params {
    n: u32,
    segments: u32,
    // How many segments have more than SMALL values (listed in `large`).
    large_segments: u32,
    _pad: u32,
}

struct Segment {
    start: u32,
    end: u32,
    group: u32,
    _pad: u32,
}

// The reals first, so that the layout is the same for f32 and f64 but for their size.
struct Partial {
    sum: real,
    mean: real,
    s1: real,
    s2: real,
    count: u32,
    min_key: u32,
    max_key: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> ranks: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
// The columns a value reads, one after another, `params.n` values each.
@group(0) @binding(5) var<storage, read> columns: array<f32>;
@group(0) @binding(6) var<storage, read_write> sorted: array<f32>;
@group(0) @binding(7) var<storage, read> segments: array<Segment>;
@group(0) @binding(8) var<storage, read_write> partials: array<Partial>;
// The segments of more than SMALL values, by index.
@group(0) @binding(9) var<storage, read> large: array<u32>;

// Each value's rank in its group; counts[g] ends as the group's size.
@compute @workgroup_size(256)
fn histogram(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * WORKGROUP;
    for (var i = gid.x; i < params.n; i += stride) {
        let c = codes[i];
        if c != SKIP {
            ranks[i] = atomicAdd(&counts[c], 1u);
        }
    }
}

// Values into group order: group g occupies offsets[g] .. offsets[g] + counts[g].
@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * WORKGROUP;
    for (var i = gid.x; i < params.n; i += stride) {
        let c = codes[i];
        if c != SKIP {
            sorted[offsets[c] + ranks[i]] = value_at(i);
        }
    }
}

// An order-preserving u32 key of an f32: unsigned order of keys is the IEEE total order
// (-NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN), as Rust's f32::total_cmp.
fn total_key(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if (b & 0x80000000u) != 0u {
        return ~b;
    }
    return b | 0x80000000u;
}

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// The first pass's state over some values: count, sum, min and max keys.
struct Pass1 {
    count: u32,
    sum: real,
    lo: u32,
    hi: u32,
}

// `a` with `x` added: min ignores NaN (a segment of only NaN keeps the empty key), max
// takes the total order.
fn pass1(a: Pass1, x: f32) -> Pass1 {
    let k = total_key(x);
    let lo = select(min(a.lo, k), a.lo, is_nan(x));
    return Pass1(a.count + 1u, a.sum + real(x), lo, max(a.hi, k));
}

var<workgroup> w_count: array<u32, 256>;
var<workgroup> w_sum: array<real, 256>;
var<workgroup> w_min: array<u32, 256>;
var<workgroup> w_max: array<u32, 256>;
var<workgroup> w_s2: array<real, 256>;

// One workgroup per segment of more than SMALL values (looping when there are more such
// segments than workgroups).
@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) lid: u32,
          @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) groups: vec3<u32>) {
    for (var j = wid.x; j < params.large_segments; j += groups.x) {
        let s = large[j];
        let seg = segments[s];
        // Pass 1: count, sum, min (NaN only when nothing else), max (total order).
        var first = Pass1(0u, real(0), 0xffffffffu, 0u);
        for (var i = seg.start + lid; i < seg.end; i += WORKGROUP) {
            first = pass1(first, sorted[i]);
        }
        w_count[lid] = first.count;
        w_sum[lid] = first.sum;
        w_min[lid] = first.lo;
        w_max[lid] = first.hi;
        workgroupBarrier();
        for (var step = WORKGROUP / 2u; step > 0u; step >>= 1u) {
            if lid < step {
                w_count[lid] += w_count[lid + step];
                w_sum[lid] += w_sum[lid + step];
                w_min[lid] = min(w_min[lid], w_min[lid + step]);
                w_max[lid] = max(w_max[lid], w_max[lid + step]);
            }
            workgroupBarrier();
        }
        let n = w_count[0];
        let total = w_sum[0];
        let mean = total / real(n);
        workgroupBarrier();
        // Pass 2: deviations from the segment mean (stable variance).
        var s1 = real(0);
        var s2 = real(0);
        for (var i = seg.start + lid; i < seg.end; i += WORKGROUP) {
            let d = real(sorted[i]) - mean;
            s1 += d;
            s2 += d * d;
        }
        w_sum[lid] = s1;
        w_s2[lid] = s2;
        workgroupBarrier();
        for (var step = WORKGROUP / 2u; step > 0u; step >>= 1u) {
            if lid < step {
                w_sum[lid] += w_sum[lid + step];
                w_s2[lid] += w_s2[lid + step];
            }
            workgroupBarrier();
        }
        if lid == 0u {
            partials[s] = Partial(total, mean, w_sum[0], w_s2[0], n, w_min[0], w_max[0], 0u);
        }
        workgroupBarrier();
    }
}

// One invocation per segment of at most SMALL values, the same two passes in order.
@compute @workgroup_size(256)
fn reduce_small(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * WORKGROUP;
    for (var s = gid.x; s < params.segments; s += stride) {
        let seg = segments[s];
        if seg.end - seg.start > SMALL {
            continue;
        }
        var first = Pass1(0u, real(0), 0xffffffffu, 0u);
        for (var i = seg.start; i < seg.end; i += 1u) {
            first = pass1(first, sorted[i]);
        }
        let mean = first.sum / real(first.count);
        var s1 = real(0);
        var s2 = real(0);
        for (var i = seg.start; i < seg.end; i += 1u) {
            let d = real(sorted[i]) - mean;
            s1 += d;
            s2 += d * d;
        }
        partials[s] = Partial(first.sum, mean, s1, s2, first.count, first.lo, first.hi, 0u);
    }
}

// Kernel 2 (expression.rs): the value of element i from the columns it reads. The host puts
// the query's value expression, over `col` and the helpers below, in place of VALUE.
fn value_at(i: u32) -> f32 {
    return f32(VALUE);
}

fn col(k: u32, i: u32) -> real {
    return real(columns[k * params.n + i]);
}

// IEEE results where the device's are undefined (division by zero, functions outside their
// domain), as the CPU computes them; functions run in f32 (no f64 transcendentals).
fn q_nan() -> real {
    return real(bitcast<f32>(0x7fc00000u));
}

fn q_inf() -> real {
    return real(bitcast<f32>(0x7f800000u));
}

fn q_div(a: real, b: real) -> real {
    if b != real(0) || is_nan(f32(b)) {
        return a / b;
    }
    if a == real(0) || is_nan(f32(a)) {
        return q_nan();
    }
    let negative_zero = (bitcast<u32>(f32(b)) & 0x80000000u) != 0u;
    return select(q_inf(), -q_inf(), (a < real(0)) != negative_zero);
}

// Rust's total_cmp, as Arrow compares floats: -NaN < -inf < ... < -0 < +0 < ... < inf < NaN.
fn q_cmp(a: real, b: real) -> i32 {
    let x = f32(a);
    let y = f32(b);
    if is_nan(x) || is_nan(y) || (a == real(0) && b == real(0)) {
        let kx = total_key(x);
        let ky = total_key(y);
        return select(select(0, 1, kx > ky), -1, kx < ky);
    }
    return select(select(0, 1, a > b), -1, a < b);
}

fn q_sqrt(x: real) -> real {
    if is_nan(f32(x)) || x < real(0) {
        return q_nan();
    }
    return real(sqrt(f32(x)));
}

// ln, with ln(0) = -inf and NaN below zero; `scale` turns it into another base.
fn q_log_scaled(x: real, scale: f32) -> real {
    if is_nan(f32(x)) || x < real(0) {
        return q_nan();
    }
    if x == real(0) {
        return -q_inf();
    }
    return real(log(f32(x)) * scale);
}

fn q_ln(x: real) -> real {
    return q_log_scaled(x, 1.0);
}

fn q_log2(x: real) -> real {
    return q_log_scaled(x, 1.4426950408889634);
}

fn q_log10(x: real) -> real {
    return q_log_scaled(x, 0.4342944819032518);
}

fn q_exp(x: real) -> real {
    if is_nan(f32(x)) {
        return q_nan();
    }
    return real(exp(f32(x)));
}

fn q_sin(x: real) -> real {
    return real(sin(f32(x)));
}

fn q_cos(x: real) -> real {
    return real(cos(f32(x)));
}

fn q_tan(x: real) -> real {
    return real(tan(f32(x)));
}
