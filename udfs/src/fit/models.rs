//! The built-in model functions of `curve_fit`: their parameter names, values, analytic
//! derivatives and automatic starting values.

use datafusion::common::{Result, plan_err};

use super::expr::ExprModel;
use super::linalg::lstsq;

/// A model `y = f(x; p)` with named parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Model {
    /// `a * x^b`
    Power,
    /// `a * exp(b * x) + c`
    Exp,
    /// `a * x + b`
    Linear,
    /// `a * exp(-(x - mu)^2 / (2 * sigma^2))`
    Gauss,
    /// `l / (1 + exp(-k * (x - x0)))`
    Logistic,
    /// `c0 + c1 * x + ... + cN * x^N`
    Poly(usize),
    /// A user expression in `x` and named parameters.
    Expr(Box<ExprModel>),
}

/// The model names `curve_fit` accepts, for error messages and docs.
pub const MODEL_NAMES: &str =
    "power, exp, linear, gauss, logistic, poly1 .. poly10, or an expression such as 'a * x^b + c'";

impl Model {
    /// Parses a model name (case-insensitive).
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "power" | "powerlaw" | "power_law" => Model::Power,
            "exp" | "exponential" => Model::Exp,
            "linear" | "line" => Model::Linear,
            "gauss" | "gaussian" => Model::Gauss,
            "logistic" | "sigmoid" => Model::Logistic,
            other => match other.strip_prefix("poly").map(str::parse::<usize>) {
                Some(Ok(n)) if (1..=10).contains(&n) => Model::Poly(n),
                _ if !other.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    Model::Expr(Box::new(ExprModel::parse(name)?))
                }
                _ => {
                    return plan_err!(
                        "curve_fit: unknown model '{name}' (valid models: {MODEL_NAMES})"
                    );
                }
            },
        })
    }

    /// The parameter names, in order.
    pub fn param_names(&self) -> Vec<String> {
        let fixed: &[&str] = match self {
            Model::Power => &["a", "b"],
            Model::Exp => &["a", "b", "c"],
            Model::Linear => &["a", "b"],
            Model::Gauss => &["a", "mu", "sigma"],
            Model::Logistic => &["l", "k", "x0"],
            Model::Poly(n) => return (0..=*n).map(|i| format!("c{i}")).collect(),
            Model::Expr(e) => return e.param_names().to_vec(),
        };
        fixed.iter().map(|s| s.to_string()).collect()
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        match self {
            Model::Power | Model::Linear => 2,
            Model::Exp | Model::Gauss | Model::Logistic => 3,
            Model::Poly(n) => n + 1,
            Model::Expr(e) => e.param_names().len(),
        }
    }

    /// Why the data cannot be fitted by this model at all, if so (e.g. x <= 0 for a power law).
    pub fn domain_problem(&self, x: &[f64]) -> Option<&'static str> {
        match self {
            Model::Power if x.iter().any(|x| *x <= 0.0) => Some("x <= 0"),
            _ => None,
        }
    }

    /// What [`Model::eval_prepared`] reuses per point across evaluations: `ln x` for a power
    /// law (so that `x^b = exp(b ln x)` needs no `powf`), nothing for other models.
    pub fn prepare(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Model::Power => x.iter().map(|v| v.ln()).collect(),
            _ => Vec::new(),
        }
    }

    /// [`Model::eval`] at point `k` of the points that `aux` was prepared for.
    #[inline(always)]
    pub fn eval_prepared(
        &self,
        x: f64,
        aux: &[f64],
        k: usize,
        p: &[f64],
        jac: Option<&mut [f64]>,
    ) -> f64 {
        match (self, aux.get(k)) {
            (Model::Power, Some(lnx)) => {
                let xb = (p[1] * lnx).exp();
                let f = p[0] * xb;
                if let Some(j) = jac {
                    j[0] = xb;
                    j[1] = f * lnx;
                }
                f
            }
            _ => self.eval(x, p, jac),
        }
    }

    /// Sets the scale parameter of a model `p[0] * g(x; p[1..])` (power, gauss, logistic) to
    /// its least-squares value for the other parameters of `p`, a closed form: starting
    /// from `p0 = [100, -1]` for data of scale 1e4 then costs no iterations on the scale.
    /// Other models, or a `g` that vanishes or overflows at every point, leave `p` as it is.
    pub fn solve_scale(&self, x: &[f64], aux: &[f64], y: &[f64], p: &mut [f64]) {
        if !matches!(self, Model::Power | Model::Gauss | Model::Logistic) {
            return;
        }
        let mut buffer = [0.0; 16];
        let Some(unit) = buffer.get_mut(..p.len()).filter(|u| !u.is_empty()) else {
            return;
        };
        unit.copy_from_slice(p);
        unit[0] = 1.0;
        let unit = &*unit;
        let (mut gy, mut gg) = (0.0, 0.0);
        for (k, (x, y)) in x.iter().zip(y).enumerate() {
            let g = self.eval_prepared(*x, aux, k, unit, None);
            gy += g * y;
            gg += g * g;
        }
        let scale = gy / gg;
        if gg > 0.0 && scale.is_finite() && scale != 0.0 {
            p[0] = scale;
        }
    }

    /// `f(x; p)` and, when `jac` is given, its row of partial derivatives `df/dp`.
    #[inline]
    pub fn eval(&self, x: f64, p: &[f64], jac: Option<&mut [f64]>) -> f64 {
        match self {
            Model::Expr(e) => e.eval(x, p, jac),
            Model::Power => {
                let xb = x.powf(p[1]);
                let f = p[0] * xb;
                if let Some(j) = jac {
                    j[0] = xb;
                    j[1] = f * x.ln();
                }
                f
            }
            Model::Exp => {
                let e = (p[1] * x).exp();
                if let Some(j) = jac {
                    j[0] = e;
                    j[1] = p[0] * x * e;
                    j[2] = 1.0;
                }
                p[0] * e + p[2]
            }
            Model::Linear => {
                if let Some(j) = jac {
                    j[0] = x;
                    j[1] = 1.0;
                }
                p[0] * x + p[1]
            }
            Model::Gauss => {
                let d = x - p[1];
                let s2 = p[2] * p[2];
                let e = (-d * d / (2.0 * s2)).exp();
                if let Some(j) = jac {
                    j[0] = e;
                    j[1] = p[0] * e * d / s2;
                    j[2] = p[0] * e * d * d / (s2 * p[2]);
                }
                p[0] * e
            }
            Model::Logistic => {
                let q = (-p[1] * (x - p[2])).exp();
                let f = p[0] / (1.0 + q);
                if let Some(j) = jac {
                    let g = p[0] * q / ((1.0 + q) * (1.0 + q));
                    j[0] = 1.0 / (1.0 + q);
                    j[1] = g * (x - p[2]);
                    j[2] = -g * p[1];
                }
                f
            }
            Model::Poly(n) => {
                let mut f = 0.0;
                let mut xi = 1.0;
                match jac {
                    Some(j) => {
                        for (i, c) in p.iter().enumerate().take(n + 1) {
                            j[i] = xi;
                            f += c * xi;
                            xi *= x;
                        }
                    }
                    None => {
                        for c in p.iter().rev() {
                            f = f * x + c;
                        }
                    }
                }
                f
            }
        }
    }

    /// Automatic starting values: log-linear fits for power and exp, moments for gauss,
    /// the half-maximum crossing for logistic, linear least squares for polynomials.
    pub fn initial_guess(&self, x: &[f64], y: &[f64]) -> Vec<f64> {
        match self {
            Model::Power => {
                let sign = if y.iter().all(|v| *v < 0.0) {
                    -1.0
                } else {
                    1.0
                };
                let (lx, ly): (Vec<f64>, Vec<f64>) = x
                    .iter()
                    .zip(y)
                    .filter(|(x, y)| **x > 0.0 && sign * **y > 0.0)
                    .map(|(x, y)| (x.ln(), (sign * y).ln()))
                    .unzip();
                match line_fit(&lx, &ly) {
                    Some((slope, intercept)) => vec![sign * intercept.exp(), slope],
                    None => vec![mean(y), 0.0],
                }
            }
            Model::Exp => {
                let sign = if y.iter().all(|v| *v < 0.0) {
                    -1.0
                } else {
                    1.0
                };
                let (lx, ly): (Vec<f64>, Vec<f64>) = x
                    .iter()
                    .zip(y)
                    .filter(|(_, y)| sign * **y > 0.0)
                    .map(|(x, y)| (*x, (sign * y).ln()))
                    .unzip();
                match line_fit(&lx, &ly) {
                    Some((slope, intercept)) => vec![sign * intercept.exp(), slope, 0.0],
                    None => vec![mean(y), 0.0, 0.0],
                }
            }
            Model::Linear => match line_fit(x, y) {
                Some((slope, intercept)) => vec![slope, intercept],
                None => vec![0.0, mean(y)],
            },
            Model::Gauss => {
                let (imax, _) = y.iter().enumerate().fold((0, f64::MIN), |best, (i, v)| {
                    if v.abs() > best.1 { (i, v.abs()) } else { best }
                });
                let a = y[imax];
                let mu = x[imax];
                let w: f64 = y.iter().map(|v| (v / a).max(0.0)).sum();
                let var: f64 = x
                    .iter()
                    .zip(y)
                    .map(|(x, v)| (v / a).max(0.0) * (x - mu).powi(2))
                    .sum::<f64>()
                    / w.max(f64::MIN_POSITIVE);
                let sigma = if var > 0.0 {
                    var.sqrt()
                } else {
                    spread(x) / 4.0
                };
                vec![a, mu, if sigma > 0.0 { sigma } else { 1.0 }]
            }
            Model::Logistic => {
                let (lo, hi) = min_max(y);
                let l = if hi.abs() >= lo.abs() { hi } else { lo };
                let half = l / 2.0;
                let mut pairs: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let x0 = pairs
                    .windows(2)
                    .find(|w| (w[0].1 - half) * (w[1].1 - half) <= 0.0)
                    .map(|w| (w[0].0 + w[1].0) / 2.0)
                    .unwrap_or_else(|| mean(x));
                let rising = line_fit(x, y).map(|(s, _)| s * l >= 0.0).unwrap_or(true);
                let range = spread(x);
                let k = if range > 0.0 { 4.0 / range } else { 1.0 };
                vec![l, if rising { k } else { -k }, x0]
            }
            Model::Poly(n) => polyfit_increasing(x, y, *n).unwrap_or_else(|| vec![0.0; n + 1]),
            Model::Expr(e) => vec![1.0; e.param_names().len()],
        }
    }
}

/// Least-squares polynomial coefficients, constant term first; `None` if rank deficient.
pub fn polyfit_increasing(x: &[f64], y: &[f64], degree: usize) -> Option<Vec<f64>> {
    let n = degree + 1;
    let mut a = Vec::with_capacity(x.len() * n);
    for xv in x {
        let mut p = 1.0;
        for _ in 0..n {
            a.push(p);
            p *= xv;
        }
    }
    lstsq(&a, y, x.len(), n)
}

/// Slope and intercept of the least-squares line, `None` for fewer than 2 distinct x.
pub fn line_fit(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if x.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// The arithmetic mean (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = min_max(v);
    hi - lo
}
