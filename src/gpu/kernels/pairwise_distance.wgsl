alias real = f32; // or f64 (kernels/mod.rs)

// Pairwise distances (see pairwise_distance.rs): one invocation per (i, j) output cell,
// reading row i of `a` and row j of `b` (row-major, `dims` coordinates each).

struct Params {
    n: u32,      // rows of a (this chunk)
    m: u32,      // rows of b
    dims: u32,
    metric: u32, // 0 euclidean, 1 sqeuclidean, 2 manhattan, 3 cosine
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<real>;
@group(0) @binding(2) var<storage, read> b: array<real>;
@group(0) @binding(3) var<storage, read_write> out: array<real>;

@compute @workgroup_size(16, 16)
fn distances(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.y;
    let j = id.x;
    if i >= params.n || j >= params.m {
        return;
    }
    let dims = params.dims;
    var acc = real(0);
    var aa = real(0);
    var bb = real(0);
    for (var d = 0u; d < dims; d++) {
        let x = a[i * dims + d];
        let y = b[j * dims + d];
        switch params.metric {
            case 0u, 1u: {
                let t = x - y;
                acc += t * t;
            }
            case 2u: {
                acc += abs(x - y);
            }
            default: {
                acc += x * y;
                aa += x * x;
                bb += y * y;
            }
        }
    }
    var r = acc;
    if params.metric == 0u {
        r = sqrt(acc);
    } else if params.metric == 3u {
        r = real(1) - acc / (sqrt(aa) * sqrt(bb));
    }
    out[i * params.m + j] = r;
}
