//! The array table functions on the GPU (`quiver.gpu = 'on'`) against the CPU, through SQL:
//! seeded inputs of several sizes (single rows, sizes that are not multiples of the 16 × 16
//! workgroup, empty input, NaN and NULL); `EXPLAIN ANALYZE` shows every kernel ran on the
//! GPU with no CPU fallback; values agree within the documented tolerance (the f32 bound;
//! the f64 one, on adapters with `SHADER_F64`, is far smaller). Without an adapter, 'auto'
//! gives the CPU's rows and 'on' is a planning error.

use std::process::Command;

use crate::dense::{Cell, run_with};
use crate::gpu::{adapter, analyze_on_gpu};

/// Unit roundoff of f32, the shader's float on adapters without `SHADER_F64`.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// A seeded pseudo-random value in [-1, 1) from the integer expression `n` (SQL).
fn noise(n: &str, seed: u32) -> String {
    format!("(((({n}) * 7919 + {seed}) * 104729) % 20011) / 10005.5 - 1.0")
}

/// `sql` with the GPU off and on: the same row count and cells within `bound`; the GPU run
/// put its kernel on the GPU without falling back.
async fn gpu_agrees(sql: &str, bound: f64) {
    let analyzed = analyze_on_gpu(sql).await;
    assert!(
        analyzed.contains("gpu_kernels=1") && analyzed.contains("gpu_fallbacks=0"),
        "{sql}\n{analyzed}"
    );
    let (want, plan) = run_with(sql, &[], 2).await;
    assert!(plan.contains("device=cpu"), "{plan}");
    let (got, plan) = run_with(sql, &[("quiver.gpu", "on")], 2).await;
    assert!(plan.contains("device=gpu"), "{plan}");
    assert_eq!(got.len(), want.len(), "row count: {sql}");
    for (g, w) in got.iter().zip(&want) {
        let same = g.len() == w.len()
            && g.iter().zip(w).all(|(a, b)| match (a, b) {
                (Cell::Number(x), Cell::Number(y)) => {
                    (x.is_nan() && y.is_nan()) || (x - y).abs() <= bound
                }
                _ => a == b,
            });
        assert!(same, "{sql}\n got {g:?}\nwant {w:?} (bound {bound})");
    }
}

/// `n` points of three coordinates in [-1, 1); point 2 has a NaN coordinate, point 4 a NULL.
fn points(n: usize, seed: u32) -> String {
    format!(
        "(SELECT id, CASE WHEN id = 2 THEN CAST('NaN' AS DOUBLE) ELSE {} END AS x, \
         CASE WHEN id = 4 THEN NULL ELSE {} END AS y, {} AS z \
         FROM generate_series(1, {n}) AS t(id))",
        noise("id", seed),
        noise("id", seed + 1),
        noise("id", seed + 2)
    )
}

#[tokio::test]
async fn pairwise_distances_agree_on_gpu() {
    if !adapter() {
        return;
    }
    // Coordinates in [-1, 1): S ≤ 2·sqrt(3) (euclidean), 12 (sqeuclidean), 6 (manhattan).
    for (metric, scale) in [
        ("euclidean", 3.5),
        ("sqeuclidean", 12.0),
        ("manhattan", 6.0),
        ("cosine", 4.0),
    ] {
        let bound = (3.0 + 8.0) * U * scale;
        for (n, m) in [(1, 1), (15, 17), (0, 5), (257, 33)] {
            let sql = format!(
                "SELECT * FROM pairwise_distance({}, {}, metric => '{metric}') ORDER BY i, j",
                points(n, 1),
                points(m, 7)
            );
            gpu_agrees(&sql, bound).await;
        }
        let one_input = format!(
            "SELECT * FROM pairwise_distance({}, metric => '{metric}') ORDER BY i, j",
            points(100, 3)
        );
        gpu_agrees(&one_input, bound).await;
    }
}

#[tokio::test]
async fn heat_steps_agree_on_gpu() {
    if !adapter() {
        return;
    }
    for (rows, cols, steps) in [(1, 1, 3), (3, 3, 1), (17, 31, 10), (100, 33, 25)] {
        let bound = 8.0 * (steps as f64 + 1.0) * U;
        let nan = if rows > 5 { "y = 5 AND x = 2" } else { "false" };
        let sql = format!(
            "SELECT * FROM heat_step((SELECT y, x, CASE WHEN {nan} THEN CAST('NaN' AS DOUBLE) \
             ELSE {} END AS v FROM generate_series(1, {rows}) AS a(y) \
             CROSS JOIN generate_series(1, {cols}) AS b(x)), steps => {steps}, alpha => 0.2) \
             ORDER BY y, x",
            noise("y * 1000 + x", 5)
        );
        gpu_agrees(&sql, bound).await;
    }
}

#[tokio::test]
async fn matrix_products_agree_on_gpu() {
    if !adapter() {
        return;
    }
    for (n, k, m) in [(1, 1, 1), (17, 33, 15), (64, 100, 20), (3, 1000, 2)] {
        // Entries in [-1, 1): Σ|a·b| ≤ k.
        let bound = (k as f64 + 3.0) * U * k as f64;
        let matrix = |rows: usize, cols: usize, seed: u32| {
            format!(
                "(SELECT r, c, CASE WHEN r = 2 AND c = 3 THEN NULL ELSE {} END AS v \
                 FROM generate_series(1, {rows}) AS a(r) CROSS JOIN generate_series(1, {cols}) AS b(c) \
                 WHERE (r + c) % 7 <> 0)",
                noise("r * 1000 + c", seed)
            )
        };
        let sql = format!(
            "SELECT * FROM matmul({}, {}) ORDER BY 1, 2",
            matrix(n, k, 11),
            matrix(k, m, 13)
        );
        gpu_agrees(&sql, bound).await;
    }
}

/// The `quiver` binary with no adapter (a backend Linux lacks).
#[cfg(target_os = "linux")]
fn quiver_without_adapter(sql: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["-c", sql])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .expect("quiver runs")
}

#[cfg(target_os = "linux")]
#[test]
fn without_an_adapter_auto_runs_on_cpu_and_on_is_a_planning_error() {
    let query = "SELECT * FROM matmul((SELECT * FROM (VALUES (1, 1, 2.0)) t(i, k, v)), \
                 (SELECT * FROM (VALUES (1, 1, 3.0)) t(k, j, v)))";
    let off = quiver_without_adapter(query);
    assert!(off.status.success(), "{off:?}");
    assert!(
        String::from_utf8_lossy(&off.stdout).contains("6.0"),
        "{off:?}"
    );
    let auto = quiver_without_adapter(&format!(
        "SET quiver.gpu = 'auto'; SET quiver.gpu_min_values = 0; {query}"
    ));
    assert!(auto.status.success(), "{auto:?}");
    assert_eq!(auto.stdout, off.stdout);
    let on = quiver_without_adapter(&format!("SET quiver.gpu = 'on'; {query}"));
    let stderr = String::from_utf8_lossy(&on.stderr);
    assert_eq!(on.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quiver.gpu = 'on' but no GPU adapter: "),
        "{stderr}"
    );
}
