//! Levenberg–Marquardt least squares for the small problems `curve_fit` solves (a few
//! parameters, up to millions of points): normal equations with Marquardt's diagonal
//! scaling, Nielsen's damping update, analytic Jacobians from [`Model`].
//!
//! Measured against `levenberg-marquardt` (nalgebra) and `rmpfit` in the design notes:
//! for 2-3 parameters the normal equations are a few dozen flops, so a hand-written solver
//! without dynamic matrices is the fastest and adds no dependency.

use super::bounds::Bounds;
use super::linalg::{cholesky_solve, inverse_diagonal, well_conditioned};
use super::models::{Model, mean};

/// Tolerances and limits of one fit.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stop when the step is below `xtol * (|p| + xtol)`.
    pub xtol: f64,
    /// Stop when an accepted step reduces the residual sum of squares by less than
    /// `ftol` relative.
    pub ftol: f64,
    /// Stop when the largest scaled gradient component is below this.
    pub gtol: f64,
    /// The most iterations (Jacobian evaluations).
    pub max_iterations: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            xtol: 1e-12,
            ftol: 1e-14,
            gtol: 1e-14,
            max_iterations: 400,
        }
    }
}

/// The outcome of one fit. `params` is `None` when there was nothing to fit (degenerate
/// input) or the fit did not converge: quiver never returns parameters it does not trust.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitResult {
    /// Parameters, in the model's order.
    pub params: Option<Vec<f64>>,
    /// Standard errors (sqrt of the diagonal of scipy's `pcov`), `None` where undefined.
    pub stderrs: Option<Vec<Option<f64>>>,
    /// Coefficient of determination, `1 - rss / tss`.
    pub r2: Option<f64>,
    /// Residual sum of squares.
    pub rss: Option<f64>,
    /// Iterations used.
    pub iterations: usize,
    /// Whether a convergence criterion was met.
    pub converged: bool,
}

impl FitResult {
    /// The result for input that cannot be fitted.
    pub fn degenerate() -> Self {
        Self::default()
    }
}

/// Residual sum of squares of `p`.
fn rss(model: &Model, x: &[f64], y: &[f64], p: &[f64]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(x, y)| {
            let r = y - model.eval(*x, p, None);
            r * r
        })
        .sum()
}

/// `JᵀJ` (row-major, n x n), `Jᵀr` and the residual sum of squares at `p`.
fn normal_equations(model: &Model, x: &[f64], y: &[f64], p: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let n = p.len();
    let mut jtj = vec![0.0; n * n];
    let mut jtr = vec![0.0; n];
    let mut row = vec![0.0; n];
    let mut s = 0.0;
    for (xv, yv) in x.iter().zip(y) {
        let r = yv - model.eval(*xv, p, Some(&mut row));
        s += r * r;
        for i in 0..n {
            jtr[i] += row[i] * r;
            for j in 0..=i {
                jtj[i * n + j] += row[i] * row[j];
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            jtj[j * n + i] = jtj[i * n + j];
        }
    }
    (jtj, jtr, s)
}

/// Fits `model` to the points `(x, y)` from `p0` (or automatic starting values), within
/// `bounds` when given (projected steps; starting values are clamped into the box).
///
/// A fit from `p0` that ends on a plateau (a parameter whose Jacobian column vanished, as
/// `a * x^b` with b -> -inf fitting only the first point) or does not converge is retried
/// from the automatic starting values; only a converged, identifiable fit returns params.
pub fn fit(
    model: &Model,
    x: &[f64],
    y: &[f64],
    p0: Option<&[f64]>,
    bounds: Option<&Bounds>,
    opts: &Options,
) -> FitResult {
    let n = model.n_params();
    let degenerate = x.len() < n
        || x.len() != y.len()
        || x.iter().chain(y).any(|v| !v.is_finite())
        || model.domain_problem(x).is_some()
        || p0.is_some_and(|p| p.len() != n || p.iter().any(|v| !v.is_finite()))
        || bounds.is_some_and(|b| b.lower.len() != n || b.upper.len() != n);
    if degenerate {
        return FitResult::degenerate();
    }
    // Starting points in order: p0 (if given), p0 again with heavy damping (short,
    // gradient-like first steps instead of a Gauss-Newton leap), the automatic start.
    let auto = model.initial_guess(x, y);
    let mut attempts: Vec<(Vec<f64>, f64)> = Vec::new();
    if let Some(p0) = p0 {
        attempts.push((p0.to_vec(), 1e-3));
        attempts.push((p0.to_vec(), 1e3));
    }
    attempts.push((auto.clone(), 1e-3));
    if p0.is_none() {
        attempts.push((auto, 1e3));
    }
    let mut iterations = 0;
    for (mut start, mu) in attempts {
        if let Some(b) = bounds {
            b.project(&mut start);
        }
        let result = fit_from(model, x, y, start, mu, bounds, opts);
        iterations += result.iterations;
        if result.converged {
            return FitResult {
                iterations,
                ..result
            };
        }
    }
    FitResult {
        iterations,
        ..FitResult::degenerate()
    }
}

/// One Levenberg–Marquardt run from `p`.
fn fit_from(
    model: &Model,
    x: &[f64],
    y: &[f64],
    mut p: Vec<f64>,
    mu0: f64,
    bounds: Option<&Bounds>,
    opts: &Options,
) -> FitResult {
    let n = p.len();
    if p.iter().any(|v| !v.is_finite()) {
        return FitResult::degenerate();
    }
    let (mut a, mut g, mut s) = normal_equations(model, x, y, &p);
    if !s.is_finite() {
        return FitResult::degenerate();
    }
    let mut diag: Vec<f64> = (0..n)
        .map(|i| a[i * n + i].max(f64::MIN_POSITIVE))
        .collect();
    let mut mu = mu0;
    let mut nu = 2.0;
    let mut converged = false;
    let mut iterations = 0;
    let tiny = 1e-30 * y.iter().map(|v| v * v).sum::<f64>().max(f64::MIN_POSITIVE);
    // Parameters held on their bound for this iteration (never set without bounds).
    let mut fixed = vec![false; n];
    let mut damped = vec![0.0; n * n];
    let mut pnew = vec![0.0; n];
    let mut h = vec![0.0; n];
    while iterations < opts.max_iterations {
        iterations += 1;
        for (i, f) in fixed.iter_mut().enumerate() {
            *f = bounds.is_some_and(|b| b.blocked(i, &p, &g));
        }
        let gmax = (0..n)
            .filter(|i| !fixed[*i])
            .map(|i| g[i].abs() / (diag[i].sqrt() * s.sqrt().max(f64::MIN_POSITIVE)))
            .fold(0.0, f64::max);
        if gmax <= opts.gtol || s <= tiny {
            converged = true;
            break;
        }
        // Inner loop: raise the damping until a step lowers the residual.
        let mut accepted = false;
        for _ in 0..60 {
            damped.copy_from_slice(&a);
            let mut rhs = g.clone();
            for i in 0..n {
                damped[i * n + i] += mu * diag[i];
                if fixed[i] {
                    for j in 0..n {
                        damped[i * n + j] = 0.0;
                        damped[j * n + i] = 0.0;
                    }
                    damped[i * n + i] = 1.0;
                    rhs[i] = 0.0;
                }
            }
            let Some(step) = cholesky_solve(&damped, &rhs, n) else {
                mu *= nu;
                nu *= 2.0;
                continue;
            };
            for i in 0..n {
                pnew[i] = p[i] + step[i];
            }
            if let Some(b) = bounds {
                b.project(&mut pnew);
            }
            for i in 0..n {
                h[i] = pnew[i] - p[i];
            }
            let pnorm = p.iter().map(|v| v * v).sum::<f64>().sqrt();
            let hnorm = h.iter().map(|v| v * v).sum::<f64>().sqrt();
            let snew = rss(model, x, y, &pnew);
            // Reduction the linear model predicts for step h: 2 h.g - h.A.h.
            let predicted: f64 = (0..n)
                .map(|i| h[i] * (2.0 * g[i] - (0..n).map(|j| a[i * n + j] * h[j]).sum::<f64>()))
                .sum();
            let rho = if predicted > 0.0 {
                (s - snew) / predicted
            } else {
                -1.0
            };
            if snew.is_finite() && rho > 0.0 {
                let small_step = hnorm <= opts.xtol * (pnorm + opts.xtol);
                let small_gain = s - snew <= opts.ftol * snew;
                p.copy_from_slice(&pnew);
                (a, g, s) = normal_equations(model, x, y, &p);
                for (i, d) in diag.iter_mut().enumerate() {
                    *d = d.max(a[i * n + i]);
                }
                mu *= (1.0 - (2.0 * rho - 1.0).powi(3)).max(1.0 / 3.0);
                nu = 2.0;
                accepted = true;
                converged = small_step || small_gain;
                break;
            }
            if hnorm <= opts.xtol * (pnorm + opts.xtol) {
                // No lower point in reach: p is a minimum to working precision.
                converged = true;
                break;
            }
            mu *= nu;
            nu *= 2.0;
            if !mu.is_finite() {
                break;
            }
        }
        if converged || !accepted {
            break;
        }
    }
    // A parameter whose derivative vanished everywhere is not determined by the data: the
    // solver stopped on a plateau, not at a minimum.
    // Likewise parameters that only their combination determines (constant x for a line).
    let plateau = (0..n).any(|i| a[i * n + i] <= 1e-12 * diag[i]) || !well_conditioned(&a, n);
    if !converged || plateau || p.iter().any(|v| !v.is_finite()) || !s.is_finite() {
        return FitResult {
            iterations,
            ..FitResult::degenerate()
        };
    }
    let dof = x.len() as f64 - n as f64;
    let stderrs = if dof > 0.0 {
        inverse_diagonal(&a, n).map(|d| {
            d.iter()
                .map(|v| {
                    let e = (v * s / dof).sqrt();
                    e.is_finite().then_some(e)
                })
                .collect()
        })
    } else {
        None
    };
    let my = mean(y);
    let tss: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    FitResult {
        params: Some(p),
        stderrs: Some(stderrs.unwrap_or_else(|| vec![None; n])),
        r2: (tss > 0.0).then(|| 1.0 - s / tss),
        rss: Some(s),
        iterations,
        converged: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn recovers_exact_models() {
        let x: Vec<f64> = (1..=20).map(|i| i as f64 * 0.5).collect();
        let cases = [
            (Model::Power, vec![300.0, -0.8]),
            (Model::Exp, vec![2.0, -0.3, 1.5]),
            (Model::Linear, vec![-1.5, 4.0]),
            (Model::Gauss, vec![3.0, 5.0, 1.7]),
            (Model::Logistic, vec![10.0, 1.2, 4.5]),
            (Model::Poly(3), vec![1.0, -2.0, 0.5, 0.1]),
            (
                Model::parse("a * x^b + c").unwrap_or(Model::Linear),
                vec![2.0, 1.5, -1.0],
            ),
            (
                Model::parse("a * exp(-x / tau)").unwrap_or(Model::Linear),
                vec![5.0, 2.5],
            ),
        ];
        for (model, truth) in cases {
            let y: Vec<f64> = x.iter().map(|x| model.eval(*x, &truth, None)).collect();
            let r = fit(&model, &x, &y, None, None, &Options::default());
            assert!(r.converged, "{model:?}: {r:?}");
            let p = r.params.unwrap_or_default();
            for (got, want) in p.iter().zip(&truth) {
                assert!(close(*got, *want, 1e-7), "{model:?}: {p:?} vs {truth:?}");
            }
        }
    }

    #[test]
    fn plateau_from_p0_is_not_a_fit() {
        // pg115 of results.csv: from p0 = [100, -1] the solver can reach a = y[0],
        // b -> -inf (only the first point fitted); the result must be the real minimum.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y = [
            55933.0, 29041.0, 21998.0, 12643.0, 3691.0, 2600.0, 1941.0, 1628.0, 1552.0, 1548.0,
        ];
        let r = fit(
            &Model::Power,
            &x,
            &y,
            Some(&[100.0, -1.0]),
            None,
            &Options::default(),
        );
        assert!(r.converged);
        let b = r.params.map(|p| p[1]).unwrap_or_default();
        assert!((b / -1.212_893_713_787_399 - 1.0).abs() < 1e-5, "{b}");
    }

    #[test]
    fn bounds_hold_and_give_the_constrained_minimum() {
        // y = 2x + 1 exactly; with the slope bounded to [0, 1.5] the minimum sits on the
        // bound and the intercept is the least-squares one for slope 1.5: mean(y - 1.5x).
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|x| 2.0 * x + 1.0).collect();
        let names = vec!["a".to_string(), "b".to_string()];
        let b = Bounds::new(
            vec![0.0, f64::NEG_INFINITY],
            vec![1.5, f64::INFINITY],
            &names,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let o = Options::default();
        for p0 in [None, Some(&[0.5, 0.0][..])] {
            let r = fit(&Model::Linear, &x, &y, p0, Some(&b), &o);
            assert!(r.converged, "{r:?}");
            let p = r.params.unwrap_or_default();
            assert!(
                (p[0] - 1.5).abs() < 1e-12 && (p[1] - 2.0).abs() < 1e-9,
                "{p:?}"
            );
        }
        // bounds that do not bind change nothing
        let wide = Bounds::new(vec![-10.0, -10.0], vec![10.0, 10.0], &names)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = fit(&Model::Linear, &x, &y, None, Some(&wide), &o);
        let p = r.params.unwrap_or_default();
        assert!(
            (p[0] - 2.0).abs() < 1e-12 && (p[1] - 1.0).abs() < 1e-12,
            "{p:?}"
        );
    }

    #[test]
    fn degenerate_input_gives_no_params() {
        let o = Options::default();
        assert_eq!(
            fit(&Model::Power, &[1.0], &[2.0], None, None, &o),
            FitResult::degenerate()
        );
        let r = fit(
            &Model::Power,
            &[0.0, 1.0, 2.0],
            &[1.0, 2.0, 3.0],
            None,
            None,
            &o,
        );
        assert!(!r.converged && r.params.is_none());
        let r = fit(
            &Model::Linear,
            &[1.0, f64::NAN, 2.0],
            &[1.0, 2.0, 3.0],
            None,
            None,
            &o,
        );
        assert!(!r.converged && r.params.is_none());
        // zero variance in x: a line is not determined
        let r = fit(
            &Model::Linear,
            &[1.0, 1.0, 1.0],
            &[1.0, 2.0, 3.0],
            None,
            None,
            &o,
        );
        assert!(!r.converged || r.params.is_some_and(|p| p.iter().all(|v| v.is_finite())));
    }
}
