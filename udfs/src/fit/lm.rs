//! Levenberg–Marquardt least squares for the small problems `curve_fit` solves (a few
//! parameters, up to millions of points): normal equations with Marquardt's diagonal
//! scaling, Nielsen's damping update, analytic Jacobians from [`Model`].
//!
//! Measured against `levenberg-marquardt` (nalgebra) and `rmpfit` in the design notes:
//! for 2-3 parameters the normal equations are a few dozen flops, so a hand-written solver
//! without dynamic matrices is the fastest and adds no dependency.

use super::bounds::Bounds;
use super::linalg::{cholesky_solve_into, inverse_diagonal};
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

/// The points of one fit, with what the model precomputes per point ([`Model::prepare`]).
pub(crate) struct Problem<'a> {
    model: &'a Model,
    x: &'a [f64],
    y: &'a [f64],
    aux: Vec<f64>,
}

impl<'a> Problem<'a> {
    /// The problem of fitting `model` to `(x, y)`.
    pub(crate) fn new(model: &'a Model, x: &'a [f64], y: &'a [f64]) -> Self {
        Self {
            model,
            x,
            y,
            aux: model.prepare(x),
        }
    }

    /// Writes `JᵀJ` (row-major, n x n) to `a` and `Jᵀr` to `g` at `p`; returns the residual
    /// sum of squares.
    pub(crate) fn normal_equations(
        &self,
        p: &[f64],
        a: &mut [f64],
        g: &mut [f64],
        row: &mut [f64],
    ) -> f64 {
        let n = p.len();
        if n == 2 {
            return self.normal_equations_2(p, a, g);
        }
        let (a, g, row) = (&mut a[..n * n], &mut g[..n], &mut row[..n]);
        a.fill(0.0);
        g.fill(0.0);
        let mut s = 0.0;
        for (k, (x, y)) in self.x.iter().zip(self.y).enumerate() {
            let r = y - self.model.eval_prepared(*x, &self.aux, k, p, Some(row));
            s += r * r;
            for i in 0..n {
                g[i] += row[i] * r;
                for j in 0..=i {
                    a[i * n + j] += row[i] * row[j];
                }
            }
        }
        for i in 0..n {
            for j in 0..i {
                a[j * n + i] = a[i * n + j];
            }
        }
        s
    }
}

impl Problem<'_> {
    /// [`Problem::normal_equations`] for two parameters (power, linear and most user
    /// models), with the sums in registers instead of the general loops over n.
    fn normal_equations_2(&self, p: &[f64], a: &mut [f64], g: &mut [f64]) -> f64 {
        let mut row = [0.0; 2];
        let (mut a00, mut a10, mut a11, mut g0, mut g1, mut s) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (k, (x, y)) in self.x.iter().zip(self.y).enumerate() {
            let r = y - self
                .model
                .eval_prepared(*x, &self.aux, k, p, Some(&mut row));
            s += r * r;
            g0 += row[0] * r;
            g1 += row[1] * r;
            a00 += row[0] * row[0];
            a10 += row[1] * row[0];
            a11 += row[1] * row[1];
        }
        a[..4].copy_from_slice(&[a00, a10, a10, a11]);
        g[..2].copy_from_slice(&[g0, g1]);
        s
    }
}

/// The most parameters a model has (`poly10`; expressions have at most 8).
pub const MAX_PARAMS: usize = 11;

/// Buffers of one fit, on the stack, reused by every iteration and attempt; a model with
/// `n` parameters uses the first `n` (vectors) or `n * n` (matrices) entries.
struct Work {
    /// `JᵀJ` at the current point.
    a: [f64; MAX_PARAMS * MAX_PARAMS],
    /// `Jᵀr` at the current point.
    g: [f64; MAX_PARAMS],
    /// `JᵀJ` and `Jᵀr` at the trial point, computed with its residual (one pass over the
    /// points per step), swapped in when the step is accepted.
    a_new: [f64; MAX_PARAMS * MAX_PARAMS],
    g_new: [f64; MAX_PARAMS],
    /// One row of the Jacobian.
    row: [f64; MAX_PARAMS],
    /// The damped system, its right-hand side, its Cholesky factor and solution.
    damped: [f64; MAX_PARAMS * MAX_PARAMS],
    rhs: [f64; MAX_PARAMS],
    factor: [f64; MAX_PARAMS * MAX_PARAMS],
    step: [f64; MAX_PARAMS],
    /// The trial point and the step actually taken to it (after clamping).
    pnew: [f64; MAX_PARAMS],
    h: [f64; MAX_PARAMS],
}

impl Work {
    fn new() -> Self {
        Self {
            a: [0.0; MAX_PARAMS * MAX_PARAMS],
            g: [0.0; MAX_PARAMS],
            a_new: [0.0; MAX_PARAMS * MAX_PARAMS],
            g_new: [0.0; MAX_PARAMS],
            row: [0.0; MAX_PARAMS],
            damped: [0.0; MAX_PARAMS * MAX_PARAMS],
            rhs: [0.0; MAX_PARAMS],
            factor: [0.0; MAX_PARAMS * MAX_PARAMS],
            step: [0.0; MAX_PARAMS],
            pnew: [0.0; MAX_PARAMS],
            h: [0.0; MAX_PARAMS],
        }
    }
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
    if is_degenerate(model, x, y, p0, bounds) {
        return FitResult::degenerate();
    }
    let problem = Problem::new(model, x, y);
    let mut work = Work::new();
    let mut auto: Option<Vec<f64>> = None;
    let mut iterations = 0;
    for &(from_p0, mu) in attempts(p0) {
        let start = start_point(&problem, p0.filter(|_| from_p0), bounds, &mut auto);
        let run = fit_from(&problem, start, mu, bounds, opts, &mut work);
        let result = conclude(&problem, Some(&work.a), run);
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

/// One run of [`fit`] from `start` with damping `mu` (what a batch solver computes).
pub(crate) fn run_from(
    model: &Model,
    x: &[f64],
    y: &[f64],
    start: Vec<f64>,
    mu: f64,
    bounds: Option<&Bounds>,
    opts: &Options,
) -> Run {
    fit_from(
        &Problem::new(model, x, y),
        start,
        mu,
        bounds,
        opts,
        &mut Work::new(),
    )
}

/// Whether [`fit`] gives up before any iteration: too few points or parameters beyond
/// [`MAX_PARAMS`], x and y of different lengths, a non-finite value, data outside the
/// model's domain, a `p0` or `bounds` of the wrong length.
pub(crate) fn is_degenerate(
    model: &Model,
    x: &[f64],
    y: &[f64],
    p0: Option<&[f64]>,
    bounds: Option<&Bounds>,
) -> bool {
    let n = model.n_params();
    x.len() < n
        || n > MAX_PARAMS
        || x.len() != y.len()
        || x.iter().chain(y).any(|v| !v.is_finite())
        || model.domain_problem(x).is_some()
        || p0.is_some_and(|p| p.len() != n || p.iter().any(|v| !v.is_finite()))
        || bounds.is_some_and(|b| b.lower.len() != n || b.upper.len() != n)
}

/// The attempts of a fit in order, each `(from p0, initial damping)`: p0 (if given), p0
/// again with heavy damping (short, gradient-like first steps instead of a Gauss-Newton
/// leap), the automatic start.
pub(crate) fn attempts(p0: Option<&[f64]>) -> &'static [(bool, f64)] {
    match p0 {
        Some(_) => &[(true, 1e-3), (true, 1e3), (false, 1e-3)],
        None => &[(false, 1e-3), (false, 1e3)],
    }
}

/// The starting point of an attempt: `p0` with its scale solved in closed form, else the
/// automatic start (computed once into `auto`); clamped into `bounds`.
pub(crate) fn start_point(
    problem: &Problem,
    p0: Option<&[f64]>,
    bounds: Option<&Bounds>,
    auto: &mut Option<Vec<f64>>,
) -> Vec<f64> {
    let (model, x, y) = (problem.model, problem.x, problem.y);
    let mut start = match p0 {
        Some(p0) => {
            let mut start = p0.to_vec();
            model.solve_scale(x, &problem.aux, y, &mut start);
            start
        }
        None => auto
            .get_or_insert_with(|| model.initial_guess(x, y))
            .clone(),
    };
    if let Some(b) = bounds {
        b.project(&mut start);
    }
    start
}

/// Where one Levenberg–Marquardt run from a start ended: on the CPU ([`fit`]) or on another
/// device (`super::batch`). [`conclude`] turns it into a [`FitResult`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    /// The last accepted parameters.
    pub p: Vec<f64>,
    /// Marquardt's scaling: the largest diagonal of `JᵀJ` seen during the run.
    pub diag: Vec<f64>,
    /// The residual sum of squares at `p`.
    pub rss: f64,
    /// Iterations (Jacobian evaluations) used.
    pub iterations: usize,
    /// Whether a convergence criterion was met.
    pub converged: bool,
}

impl Run {
    /// A run that could not start (a non-finite start or residual).
    pub fn failed() -> Self {
        Self::default()
    }
}

/// The result of `run`: parameters only for a converged run that is not stuck on a plateau,
/// with standard errors from `JᵀJ` at `run.p`. `exact` is that matrix when the run computed
/// it in f64 (then `run.rss` is exact too); otherwise both are recomputed here in f64.
pub(crate) fn conclude(problem: &Problem, exact: Option<&[f64]>, run: Run) -> FitResult {
    let n = run.p.len();
    let failed = FitResult {
        iterations: run.iterations,
        ..FitResult::degenerate()
    };
    if !run.converged || n == 0 || run.diag.len() != n || run.p.iter().any(|v| !v.is_finite()) {
        return failed;
    }
    let mut recomputed = [0.0; MAX_PARAMS * MAX_PARAMS];
    let (a, s) = match exact {
        Some(a) => (&a[..n * n], run.rss),
        None => {
            let (mut g, mut row) = ([0.0; MAX_PARAMS], [0.0; MAX_PARAMS]);
            let s = problem.normal_equations(&run.p, &mut recomputed, &mut g, &mut row);
            (&recomputed[..n * n], s)
        }
    };
    // A parameter whose derivative vanished everywhere is not determined by the data: the
    // solver stopped on a plateau, not at a minimum.
    // Likewise parameters that only their combination determines (constant x for a line).
    let inverse = inverse_diagonal(a, n);
    let plateau = (0..n).any(|i| a[i * n + i] <= 1e-12 * run.diag[i]) || inverse.is_none();
    if plateau || !s.is_finite() {
        return failed;
    }
    let y = problem.y;
    let dof = y.len() as f64 - n as f64;
    let stderrs = if dof > 0.0 {
        inverse.map(|d| {
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
        params: Some(run.p),
        stderrs: Some(stderrs.unwrap_or_else(|| vec![None; n])),
        r2: (tss > 0.0).then(|| 1.0 - s / tss),
        rss: Some(s),
        iterations: run.iterations,
        converged: true,
    }
}

/// One Levenberg–Marquardt run from `p`; `w.a` ends as `JᵀJ` at the run's last point.
fn fit_from(
    problem: &Problem,
    mut p: Vec<f64>,
    mu0: f64,
    bounds: Option<&Bounds>,
    opts: &Options,
    w: &mut Work,
) -> Run {
    let n = p.len();
    if p.iter().any(|v| !v.is_finite()) {
        return Run::failed();
    }
    let mut s = problem.normal_equations(&p, &mut w.a, &mut w.g, &mut w.row);
    if !s.is_finite() {
        return Run::failed();
    }
    let mut diag = [0.0; MAX_PARAMS];
    for (i, d) in diag.iter_mut().enumerate().take(n) {
        *d = w.a[i * n + i].max(f64::MIN_POSITIVE);
    }
    let mut mu = mu0;
    let mut nu = 2.0;
    let mut converged = false;
    let mut iterations = 0;
    let y = problem.y;
    let tiny = 1e-30 * y.iter().map(|v| v * v).sum::<f64>().max(f64::MIN_POSITIVE);
    // Parameters held on their bound for this iteration (never set without bounds).
    let mut fixed = [false; MAX_PARAMS];
    while iterations < opts.max_iterations {
        iterations += 1;
        for (i, f) in fixed.iter_mut().enumerate().take(n) {
            *f = bounds.is_some_and(|b| b.blocked(i, &p, &w.g));
        }
        let gmax = (0..n)
            .filter(|i| !fixed[*i])
            .map(|i| w.g[i].abs() / (diag[i].sqrt() * s.sqrt().max(f64::MIN_POSITIVE)))
            .fold(0.0, f64::max);
        if gmax <= opts.gtol || s <= tiny {
            converged = true;
            break;
        }
        // Inner loop: raise the damping until a step lowers the residual.
        let mut accepted = false;
        for _ in 0..60 {
            w.damped[..n * n].copy_from_slice(&w.a[..n * n]);
            w.rhs[..n].copy_from_slice(&w.g[..n]);
            for i in 0..n {
                w.damped[i * n + i] += mu * diag[i];
                if fixed[i] {
                    for j in 0..n {
                        w.damped[i * n + j] = 0.0;
                        w.damped[j * n + i] = 0.0;
                    }
                    w.damped[i * n + i] = 1.0;
                    w.rhs[i] = 0.0;
                }
            }
            if !cholesky_solve_into(&w.damped, &w.rhs, n, &mut w.factor, &mut w.step[..n]) {
                mu *= nu;
                nu *= 2.0;
                continue;
            }
            for ((new, p), step) in w.pnew.iter_mut().zip(&p).zip(&w.step) {
                *new = p + step;
            }
            if let Some(b) = bounds {
                b.project(&mut w.pnew[..n]);
            }
            for ((h, new), p) in w.h.iter_mut().zip(&w.pnew).zip(&p) {
                *h = new - p;
            }
            let h = &w.h[..n];
            let pnorm = p.iter().map(|v| v * v).sum::<f64>().sqrt();
            let hnorm = h.iter().map(|v| v * v).sum::<f64>().sqrt();
            let snew =
                problem.normal_equations(&w.pnew[..n], &mut w.a_new, &mut w.g_new, &mut w.row);
            // Reduction the linear model predicts for step h: 2 h.g - h.A.h.
            let mut predicted = 0.0;
            for i in 0..n {
                let ah: f64 = (0..n).map(|j| w.a[i * n + j] * h[j]).sum();
                predicted += h[i] * (2.0 * w.g[i] - ah);
            }
            let rho = if predicted > 0.0 {
                (s - snew) / predicted
            } else {
                -1.0
            };
            if snew.is_finite() && rho > 0.0 {
                let small_step = hnorm <= opts.xtol * (pnorm + opts.xtol);
                let small_gain = s - snew <= opts.ftol * snew;
                p.copy_from_slice(&w.pnew[..n]);
                w.a[..n * n].swap_with_slice(&mut w.a_new[..n * n]);
                w.g[..n].swap_with_slice(&mut w.g_new[..n]);
                s = snew;
                for (i, d) in diag.iter_mut().enumerate().take(n) {
                    *d = d.max(w.a[i * n + i]);
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
    Run {
        p,
        diag: diag[..n].to_vec(),
        rss: s,
        iterations,
        converged,
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
