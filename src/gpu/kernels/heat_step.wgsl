alias real = f32; // or f64 (kernels/mod.rs)

// One explicit step of the 2-D heat equation (see heat_step.rs): every interior cell moves
// towards the mean of its four neighbours, u' = u + alpha (N + S + W + E - 4u); edge cells
// keep their values (fixed boundary). The host swaps `src` and `dst` between steps.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<real>;
@group(0) @binding(2) var<storage, read_write> dst: array<real>;
@group(0) @binding(3) var<storage, read> alpha: array<real>;

@compute @workgroup_size(16, 16)
fn step(@builtin(global_invocation_id) id: vec3<u32>) {
    let y = id.y;
    let x = id.x;
    let rows = params.rows;
    let cols = params.cols;
    if y >= rows || x >= cols {
        return;
    }
    let k = y * cols + x;
    let u = src[k];
    if y == 0u || x == 0u || y == rows - 1u || x == cols - 1u {
        dst[k] = u;
        return;
    }
    let neighbours = src[k - cols] + src[k + cols] + src[k - 1u] + src[k + 1u];
    dst[k] = u + alpha[0] * (neighbours - real(4) * u);
}
