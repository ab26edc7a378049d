//! Simple linear regression as `scipy.stats.linregress` computes it, with the two-sided
//! p-value from Student's t distribution (regularized incomplete beta function).

/// The result of [`linregress`], field for field as scipy's `LinregressResult`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linregress {
    /// Slope of the regression line.
    pub slope: f64,
    /// Intercept of the regression line.
    pub intercept: f64,
    /// Pearson correlation coefficient.
    pub rvalue: f64,
    /// Two-sided p-value of the null hypothesis slope = 0 (t test, n - 2 degrees of freedom).
    pub pvalue: f64,
    /// Standard error of the slope.
    pub stderr: f64,
    /// Standard error of the intercept.
    pub intercept_stderr: f64,
}

/// `scipy.stats.linregress(x, y)`; `None` for fewer than 2 points, non-finite values or
/// all-equal x (scipy raises there).
pub fn linregress(x: &[f64], y: &[f64]) -> Option<Linregress> {
    let n = x.len();
    if n < 2 || n != y.len() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let xmean = x.iter().sum::<f64>() / nf;
    let ymean = y.iter().sum::<f64>() / nf;
    let (mut ssxm, mut ssym, mut ssxym) = (0.0, 0.0, 0.0);
    for (xv, yv) in x.iter().zip(y) {
        let (dx, dy) = (xv - xmean, yv - ymean);
        ssxm += dx * dx;
        ssym += dy * dy;
        ssxym += dx * dy;
    }
    let (ssxm, ssym, ssxym) = (ssxm / nf, ssym / nf, ssxym / nf);
    if ssxm == 0.0 {
        return None;
    }
    let r = if ssym == 0.0 {
        0.0
    } else {
        (ssxym / (ssxm * ssym).sqrt()).clamp(-1.0, 1.0)
    };
    let slope = ssxym / ssxm;
    let intercept = ymean - slope * xmean;
    let (pvalue, stderr, intercept_stderr) = if n == 2 {
        (if ssym == 0.0 { 1.0 } else { 0.0 }, 0.0, 0.0)
    } else {
        let df = nf - 2.0;
        let t = r * (df / ((1.0 - r) * (1.0 + r) + 1e-20)).sqrt();
        let pvalue = student_t_two_sided(t, df);
        let stderr = ((1.0 - r * r) * ssym / ssxm / df).sqrt();
        (pvalue, stderr, stderr * (ssxm + xmean * xmean).sqrt())
    };
    Some(Linregress {
        slope,
        intercept,
        rvalue: r,
        pvalue,
        stderr,
        intercept_stderr,
    })
}

/// `2 * t.sf(|t|, df)`.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    beta_inc(df / 2.0, 0.5, df / (df + t * t))
}

/// The regularized incomplete beta function `I_x(a, b)`.
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; ~1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        s += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy_linregress() {
        // scipy.stats.linregress([1,2,3,4,5], [2.0,4.1,5.9,8.2,9.9]) (scipy 1.17)
        let r = linregress(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.1, 5.9, 8.2, 9.9]);
        let Some(r) = r else {
            panic!("no fit");
        };
        let want = [
            (r.slope, 1.99),
            (r.intercept, 0.050_000_000_000_000_71),
            (r.rvalue, 0.999_155_133_672_189_6),
            (r.pvalue, 2.947_547_510_689_91e-5),
            (r.stderr, 0.047_258_156_262_526_746),
            (r.intercept_stderr, 0.156_737_572_606_785_5),
        ];
        for (got, want) in want {
            assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
        }
        assert!(linregress(&[1.0, 1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn t_distribution_tail() {
        // 2 * scipy.stats.t.sf(2.0, 10) = 0.07338803477074037
        assert!((student_t_two_sided(2.0, 10.0) - 0.073_388_034_770_740_37).abs() < 1e-13);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
    }
}
