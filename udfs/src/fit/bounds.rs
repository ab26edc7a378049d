//! Box constraints on fit parameters (`curve_fit(..., bounds => ...)`), for the projected
//! Levenberg–Marquardt of [`super::lm`]: steps are clamped into the box, and a parameter
//! that sits on a bound while the gradient pushes it outwards is held fixed for that step.

/// `lower[i] <= p[i] <= upper[i]`; an open side is infinite.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Lower bounds, one per parameter (`-inf` where open).
    pub lower: Vec<f64>,
    /// Upper bounds, one per parameter (`+inf` where open).
    pub upper: Vec<f64>,
}

impl Bounds {
    /// Checked bounds: as many on each side as parameters, no NaN, lower < upper
    /// (`scipy.optimize.curve_fit`'s rule); the error says which parameter is wrong.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>, names: &[String]) -> Result<Self, String> {
        if lower.len() != names.len() || upper.len() != names.len() {
            return Err(format!(
                "bounds need {} lower and {} upper values (one per parameter: {}), got {} and {}",
                names.len(),
                names.len(),
                names.join(", "),
                lower.len(),
                upper.len()
            ));
        }
        for ((lo, hi), name) in lower.iter().zip(&upper).zip(names) {
            if lo.is_nan() || hi.is_nan() || lo >= hi {
                return Err(format!(
                    "the lower bound of {name} must be below its upper bound, got [{lo}, {hi}]"
                ));
            }
        }
        Ok(Self { lower, upper })
    }

    /// Whether `v` lies within the bounds of parameter `i`.
    pub fn contains_value(&self, i: usize, v: f64) -> bool {
        self.lower[i] <= v && v <= self.upper[i]
    }

    /// Clamps `p` into the box.
    pub fn project(&self, p: &mut [f64]) {
        for (v, (lo, hi)) in p.iter_mut().zip(self.lower.iter().zip(&self.upper)) {
            *v = v.max(*lo).min(*hi);
        }
    }

    /// Whether parameter `i` at `p[i]` cannot move along the descent direction `g[i]`.
    pub fn blocked(&self, i: usize, p: &[f64], g: &[f64]) -> bool {
        (p[i] <= self.lower[i] && g[i] < 0.0) || (p[i] >= self.upper[i] && g[i] > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn checks_and_projects() {
        assert!(Bounds::new(vec![0.0], vec![1.0, 2.0], &names()).is_err());
        assert!(Bounds::new(vec![0.0, 3.0], vec![1.0, 2.0], &names()).is_err());
        assert!(Bounds::new(vec![0.0, f64::NAN], vec![1.0, 2.0], &names()).is_err());
        let b = Bounds::new(vec![0.0, f64::NEG_INFINITY], vec![1.0, 0.0], &names())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut p = [5.0, 3.0];
        assert!(!b.contains_value(0, p[0]));
        b.project(&mut p);
        assert_eq!(p, [1.0, 0.0]);
        assert!(b.contains_value(0, p[0]) && b.contains_value(1, p[1]));
        assert!(b.blocked(0, &p, &[1.0, 0.0]));
        assert!(!b.blocked(0, &p, &[-1.0, 0.0]));
    }
}
