alias real = f32; // or f64 (kernels/mod.rs)

// Batched Levenberg–Marquardt (see batch_fit.rs): one invocation per fit, running the loop of
// quiver_udfs::fit::lm's fit_from on that fit's points, with the normal equations, Marquardt
// scaling, Nielsen's damping update, projected steps and an in-place Cholesky solve in
// private memory. The host concludes (plateau check, standard errors) in f64.

const MAXP: u32 = 11u;
const MAXP2: u32 = 121u;

struct Params {
    fits: u32,
    n: u32,             // parameters
    model: u32,         // 0 power, 1 exp, 2 linear, 3 gauss, 4 logistic, 5 polynomial
    max_iterations: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// xtol, ftol, gtol, the largest finite real, the smallest positive normal real,
// then n lower and n upper bounds (open sides: minus / plus the largest finite real).
@group(0) @binding(1) var<storage, read> consts: array<real>;
@group(0) @binding(2) var<storage, read> xs: array<real>;
@group(0) @binding(3) var<storage, read> ys: array<real>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;    // fits + 1 point offsets
@group(0) @binding(5) var<storage, read> starts: array<real>;    // per fit: n values, mu
// Per fit: p (n), diag (n), rss, iterations, converged (1 or 0).
@group(0) @binding(6) var<storage, read_write> out: array<real>;

// Two parameter vectors and their normal equations; `cur` picks the accepted one, the
// other holds the trial point (lm.rs swaps buffers the same way).
var<private> pp: array<real, 22>;
var<private> aa: array<real, 242>;
var<private> gg: array<real, 22>;
var<private> row: array<real, 11>;
var<private> m: array<real, 121>;
var<private> rhs: array<real, 11>;
var<private> step: array<real, 11>;
var<private> h: array<real, 11>;
var<private> diag: array<real, 11>;
var<private> fixed: array<bool, 11>;

fn finite(v: real) -> bool {
    // NaN fails both comparisons; the bound is a run-time value, so nothing folds this away.
    return abs(v) <= consts[3];
}

// e^v: v = k ln 2 + r with |r| <= ln(2)/2 (ln 2 split in two for exactness), a degree-14
// Taylor polynomial of e^r, scaled by 2^k.
fn rexp(v: real) -> real {
    if v > real(760.0) {
        return consts[3] * consts[3];
    }
    if v < real(-760.0) {
        return real(0.0);
    }
    let k = round(v * real(1.4426950408889634));
    let r = (v - k * real(6.93147180369123816490e-01)) - k * real(1.90821492927058770002e-10);
    var t = real(1.0);
    for (var i = 14; i >= 1; i--) {
        t = real(1.0) + t * r / real(i);
    }
    // 2^k in two halves, so that neither overflows before the product does.
    let k1 = i32(k) / 2;
    return ldexp(ldexp(t, k1), i32(k) - k1);
}

// ln v for finite v > 0: the native f32 logarithm, refined by one Halley step on e^y = v
// (cubic convergence: f32's 1e-7 becomes f64's 1e-16).
fn rlog(v: real) -> real {
    let y = real(log(f32(v)));
    let e = rexp(y);
    return y + real(2.0) * (v - e) / (v + e);
}

// The model at x for parameters `q` (0 or 1 of pp); writes df/dp to `row`.
fn model_at(x: real, q: u32) -> real {
    let o = q * MAXP;
    var f = real(0.0);
    switch params.model {
        case 0u: {
            let lnx = rlog(x);
            let xb = rexp(pp[o + 1u] * lnx);
            f = pp[o] * xb;
            row[0] = xb;
            row[1] = f * lnx;
        }
        case 1u: {
            let e = rexp(pp[o + 1u] * x);
            row[0] = e;
            row[1] = pp[o] * x * e;
            row[2] = real(1.0);
            f = pp[o] * e + pp[o + 2u];
        }
        case 2u: {
            row[0] = x;
            row[1] = real(1.0);
            f = pp[o] * x + pp[o + 1u];
        }
        case 3u: {
            let d = x - pp[o + 1u];
            let s2 = pp[o + 2u] * pp[o + 2u];
            let e = rexp(-d * d / (real(2.0) * s2));
            row[0] = e;
            row[1] = pp[o] * e * d / s2;
            row[2] = pp[o] * e * d * d / (s2 * pp[o + 2u]);
            f = pp[o] * e;
        }
        case 4u: {
            let e = rexp(-pp[o + 1u] * (x - pp[o + 2u]));
            let g = pp[o] * e / ((real(1.0) + e) * (real(1.0) + e));
            row[0] = real(1.0) / (real(1.0) + e);
            row[1] = g * (x - pp[o + 2u]);
            row[2] = -g * pp[o + 1u];
            f = pp[o] / (real(1.0) + e);
        }
        default: {
            var xi = real(1.0);
            for (var i = 0u; i < params.n; i++) {
                row[i] = xi;
                f += pp[o + i] * xi;
                xi *= x;
            }
        }
    }
    return f;
}

// JᵀJ and Jᵀr at parameters q into aa/gg slot q; returns the residual sum of squares.
fn normal_equations(q: u32, first: u32, last: u32) -> real {
    let n = params.n;
    let ao = q * MAXP2;
    let go = q * MAXP;
    for (var i = 0u; i < n * n; i++) {
        aa[ao + i] = real(0.0);
    }
    for (var i = 0u; i < n; i++) {
        gg[go + i] = real(0.0);
    }
    var s = real(0.0);
    for (var k = first; k < last; k++) {
        let r = ys[k] - model_at(xs[k], q);
        s += r * r;
        for (var i = 0u; i < n; i++) {
            gg[go + i] += row[i] * r;
            for (var j = 0u; j <= i; j++) {
                aa[ao + i * n + j] += row[i] * row[j];
            }
        }
    }
    for (var i = 0u; i < n; i++) {
        for (var j = 0u; j < i; j++) {
            aa[ao + j * n + i] = aa[ao + i * n + j];
        }
    }
    return s;
}

// Solves m · step = rhs by Cholesky, factoring m in place; false when m is not
// numerically positive definite (linalg.rs's cholesky_solve_into).
fn cholesky_solve() -> bool {
    let n = params.n;
    for (var i = 0u; i < n; i++) {
        for (var j = 0u; j <= i; j++) {
            var s = m[i * n + j];
            for (var k = 0u; k < j; k++) {
                s -= m[i * n + k] * m[j * n + k];
            }
            if i == j {
                if !(s > real(0.0) && finite(s)) {
                    return false;
                }
                m[i * n + i] = sqrt(s);
            } else {
                m[i * n + j] = s / m[j * n + j];
            }
        }
    }
    for (var i = 0u; i < n; i++) {
        var s = rhs[i];
        for (var k = 0u; k < i; k++) {
            s -= m[i * n + k] * step[k];
        }
        step[i] = s / m[i * n + i];
    }
    for (var ii = 0u; ii < n; ii++) {
        let i = n - 1u - ii;
        var s = step[i];
        for (var k = i + 1u; k < n; k++) {
            s -= m[k * n + i] * step[k];
        }
        step[i] = s / m[i * n + i];
    }
    return true;
}

fn lower(i: u32) -> real {
    return consts[5u + i];
}

fn upper(i: u32) -> real {
    return consts[5u + params.n + i];
}

fn write(fit: u32, cur: u32, s: real, iterations: u32, converged: bool) {
    let n = params.n;
    let o = fit * (2u * n + 3u);
    for (var i = 0u; i < n; i++) {
        out[o + i] = pp[cur * MAXP + i];
        out[o + n + i] = diag[i];
    }
    out[o + 2u * n] = s;
    out[o + 2u * n + 1u] = real(iterations);
    out[o + 2u * n + 2u] = select(real(0.0), real(1.0), converged);
}

@compute @workgroup_size(64)
fn fit(@builtin(global_invocation_id) id: vec3<u32>) {
    let fit = id.x;
    if fit >= params.fits {
        return;
    }
    let n = params.n;
    let first = offsets[fit];
    let last = offsets[fit + 1u];
    let xtol = consts[0];
    let ftol = consts[1];
    let gtol = consts[2];
    let min_positive = consts[4];
    for (var i = 0u; i < n; i++) {
        pp[i] = starts[fit * (n + 1u) + i];
        diag[i] = real(0.0);
    }
    var mu = starts[fit * (n + 1u) + n];
    var cur = 0u;
    var s = normal_equations(0u, first, last);
    if !finite(s) {
        write(fit, cur, s, 0u, false);
        return;
    }
    for (var i = 0u; i < n; i++) {
        diag[i] = max(aa[i * n + i], min_positive);
    }
    var nu = real(2.0);
    var converged = false;
    var iterations = 0u;
    var yy = real(0.0);
    for (var k = first; k < last; k++) {
        yy += ys[k] * ys[k];
    }
    let tiny = real(1e-30) * max(yy, min_positive);
    while iterations < params.max_iterations {
        iterations++;
        let p = cur * MAXP;
        let a = cur * MAXP2;
        let trial = 1u - cur;
        let t = trial * MAXP;
        for (var i = 0u; i < n; i++) {
            let g = gg[p + i];
            fixed[i] = (pp[p + i] <= lower(i) && g < real(0.0))
                || (pp[p + i] >= upper(i) && g > real(0.0));
        }
        var gmax = real(0.0);
        let sn = max(sqrt(s), min_positive);
        for (var i = 0u; i < n; i++) {
            if !fixed[i] {
                gmax = max(gmax, abs(gg[p + i]) / (sqrt(diag[i]) * sn));
            }
        }
        if gmax <= gtol || s <= tiny {
            converged = true;
            break;
        }
        var accepted = false;
        for (var inner = 0; inner < 60; inner++) {
            for (var i = 0u; i < n * n; i++) {
                m[i] = aa[a + i];
            }
            for (var i = 0u; i < n; i++) {
                rhs[i] = gg[p + i];
            }
            for (var i = 0u; i < n; i++) {
                m[i * n + i] += mu * diag[i];
                if fixed[i] {
                    for (var j = 0u; j < n; j++) {
                        m[i * n + j] = real(0.0);
                        m[j * n + i] = real(0.0);
                    }
                    m[i * n + i] = real(1.0);
                    rhs[i] = real(0.0);
                }
            }
            if !cholesky_solve() {
                mu *= nu;
                nu *= real(2.0);
                continue;
            }
            var pnorm = real(0.0);
            var hnorm = real(0.0);
            for (var i = 0u; i < n; i++) {
                let v = min(max(pp[p + i] + step[i], lower(i)), upper(i));
                pp[t + i] = v;
                h[i] = v - pp[p + i];
                pnorm += pp[p + i] * pp[p + i];
                hnorm += h[i] * h[i];
            }
            pnorm = sqrt(pnorm);
            hnorm = sqrt(hnorm);
            let snew = normal_equations(trial, first, last);
            var predicted = real(0.0);
            for (var i = 0u; i < n; i++) {
                var ah = real(0.0);
                for (var j = 0u; j < n; j++) {
                    ah += aa[a + i * n + j] * h[j];
                }
                predicted += h[i] * (real(2.0) * gg[p + i] - ah);
            }
            var rho = real(-1.0);
            if predicted > real(0.0) {
                rho = (s - snew) / predicted;
            }
            if finite(snew) && rho > real(0.0) {
                let small_step = hnorm <= xtol * (pnorm + xtol);
                let small_gain = s - snew <= ftol * snew;
                cur = trial;
                s = snew;
                for (var i = 0u; i < n; i++) {
                    diag[i] = max(diag[i], aa[trial * MAXP2 + i * n + i]);
                }
                let c = real(2.0) * rho - real(1.0);
                mu *= max(real(1.0) - c * c * c, real(1.0) / real(3.0));
                nu = real(2.0);
                accepted = true;
                converged = small_step || small_gain;
                break;
            }
            if hnorm <= xtol * (pnorm + xtol) {
                converged = true;
                break;
            }
            mu *= nu;
            nu *= real(2.0);
            if !finite(mu) {
                break;
            }
        }
        if converged || !accepted {
            break;
        }
    }
    write(fit, cur, s, iterations, converged);
}
