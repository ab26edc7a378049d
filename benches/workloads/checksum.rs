//! Checksums that agree with `../shared/bench/peers/_common.py` to the last character:
//! `math.fsum` (correctly rounded sum) and Python's `format(x, ".6g")`.

/// `seq_checksum` of `_common.py`: count, sum and position-weighted sum (weights 1, 2, ...)
/// of values already in canonical order, each with 6 significant digits.
pub fn seq_checksum(values: &[f64]) -> String {
    let sum = fsum(values.iter().copied());
    let weighted = fsum(values.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v));
    format!(
        "n={};sum={};wsum={}",
        values.len(),
        format_g(sum, 6),
        format_g(weighted, 6)
    )
}

/// Python's `math.fsum`: the correctly rounded sum of the values (Shewchuk's algorithm with
/// the half-way correction of CPython's `mathmodule.c`). Non-finite input gives the plain sum.
pub fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    let mut special = 0.0;
    let mut has_special = false;
    for mut x in values {
        if !x.is_finite() {
            special += x;
            has_special = true;
            continue;
        }
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    if has_special {
        return special;
    }
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    // Round half-even across the remaining partials, as CPython does.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let yr = x - hi;
        if y == yr {
            hi = x;
        }
    }
    hi
}

/// Python's `format(x, f".{precision}g")` (and C's `%.{precision}g` without `#`).
pub fn format_g(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent of x once rounded to p significant digits decides the notation.
    let scientific = format!("{:.*e}", p - 1, x);
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} formatting always has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("{:e} formatting has an integer exponent");
    if exponent < -4 || exponent >= p as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            strip_fraction_zeros(mantissa),
            exponent.abs()
        )
    } else {
        let decimals = (p as i32 - 1 - exponent) as usize;
        strip_fraction_zeros(&format!("{x:.decimals$}"))
    }
}

fn strip_fraction_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

/// Self-checks against values printed by Python 3.11 (`format(x, ".6g")`, `math.fsum`,
/// `_common.seq_checksum`); run by `cargo test` (see main.rs).
pub fn self_checks() -> Vec<(&'static str, Result<(), String>)> {
    fn expect(got: String, want: &str) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("got {got:?}, want {want:?}"))
        }
    }
    fn all(checks: impl IntoIterator<Item = Result<(), String>>) -> Result<(), String> {
        checks
            .into_iter()
            .collect::<Result<Vec<()>, String>>()
            .map(|_| ())
    }
    vec![
        (
            "format_g matches Python's .6g",
            all(FORMAT_G_CASES
                .iter()
                .map(|(x, want)| expect(format_g(*x, 6), want).map_err(|e| format!("{x:e}: {e}")))),
        ),
        (
            "fsum is exact where naive summation is not",
            all([
                expect(format!("{:?}", fsum([0.1; 10])), "1.0"),
                expect(
                    format!(
                        "{:?}",
                        fsum([1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50])
                    ),
                    "1e-100",
                ),
                expect(
                    format!("{:?}", fsum([1.0, 1e-16, 1e-16])),
                    "1.0000000000000002",
                ),
                expect(
                    format!("{:?}", fsum([2.0f64.powi(53), 1.0, 2.0f64.powi(-52)])),
                    "9007199254740994.0",
                ),
                expect(format!("{:?}", fsum(Vec::<f64>::new())), "0.0"),
            ]),
        ),
        (
            "seq_checksum matches _common.seq_checksum",
            all([
                expect(seq_checksum(&[]), "n=0;sum=0;wsum=0"),
                expect(seq_checksum(&[0.1, 0.2, 0.3]), "n=3;sum=0.6;wsum=1.4"),
                expect(
                    seq_checksum(&[0.5, 1.0 / 3.0, 279.11, -42.8791, 1e-7]),
                    "n=5;sum=237.064;wsum=666.98",
                ),
                expect(
                    seq_checksum(&[1e20, 3.0, -1e20, 12345678.9]),
                    "n=4;sum=1.23457e+07;wsum=-2e+20",
                ),
            ]),
        ),
    ]
}

/// `(x, format(x, ".6g"))` as printed by Python 3.11, ties included.
const FORMAT_G_CASES: &[(f64, &str)] = &[
    (0.0, "0"),
    (-0.0, "-0"),
    (1.0, "1"),
    (-2.5, "-2.5"),
    (2.29284, "2.29284"),
    (5.145272, "5.14527"),
    (0.6, "0.6"),
    (100000.0, "100000"),
    (999999.0, "999999"),
    (999999.5, "1e+06"),
    (1000000.0, "1e+06"),
    (1234567.0, "1.23457e+06"),
    (123456.5, "123456"),
    (123457.5, "123458"),
    (0.0001, "0.0001"),
    (0.00012345678, "0.000123457"),
    (0.00001, "1e-05"),
    (0.000099999951, "0.0001"),
    (1e-100, "1e-100"),
    (1.5e300, "1.5e+300"),
    (14287400.5, "1.42874e+07"),
    (3.67002e11, "3.67002e+11"),
    (3073.53, "3073.53"),
    (18454.49, "18454.5"),
    (0.125, "0.125"),
    (1.0000005, "1"),
    (1.0000015, "1"),
    (2.0000025, "2"),
    (f64::INFINITY, "inf"),
    (f64::NEG_INFINITY, "-inf"),
    (f64::NAN, "nan"),
];
