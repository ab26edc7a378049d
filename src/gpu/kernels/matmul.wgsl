alias real = f32; // or f64 (kernels/mod.rs)

// Matrix product c = a b (see matmul.rs), a: n x k, b: k x m, c: n x m, all row-major.
// Each 16x16 workgroup computes one tile of c, staging 16x16 tiles of a and b in workgroup
// memory; every cell sums its k products in ascending k, as the CPU twin does.

struct Params {
    n: u32,
    k: u32,
    m: u32,
    pad: u32,
}

const TILE: u32 = 16u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<real>;
@group(0) @binding(2) var<storage, read> b: array<real>;
@group(0) @binding(3) var<storage, read_write> c: array<real>;

var<workgroup> tile_a: array<array<real, 16>, 16>;
var<workgroup> tile_b: array<array<real, 16>, 16>;

@compute @workgroup_size(16, 16)
fn product(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let row = id.y;
    let col = id.x;
    let n = params.n;
    let k = params.k;
    let m = params.m;
    var acc = real(0);
    let tiles = (k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t++) {
        let ka = t * TILE + local.x;
        var va = real(0);
        if row < n && ka < k {
            va = a[row * k + ka];
        }
        tile_a[local.y][local.x] = va;
        let kb = t * TILE + local.y;
        var vb = real(0);
        if col < m && kb < k {
            vb = b[kb * m + col];
        }
        tile_b[local.y][local.x] = vb;
        workgroupBarrier();
        let last = min(TILE, k - t * TILE);
        for (var q = 0u; q < last; q++) {
            acc += tile_a[local.y][q] * tile_b[q][local.x];
        }
        workgroupBarrier();
    }
    if row < n && col < m {
        c[row * m + col] = acc;
    }
}
