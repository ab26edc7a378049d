//! Size limits of the array formats (NetCDF, HDF5). quiver keeps each dimension's
//! coordinates (or indices) in memory, 8 bytes per element, and counts rows in 64 bits; a
//! header declaring more is far more often corrupt than real, so it is refused with an error
//! naming the file and the dimension before anything is allocated.

use datafusion::common::{Result, plan_err};

/// The longest dimension quiver reads: 2^30 elements (8 GiB of coordinates).
pub(crate) const MAX_DIMENSION_LEN: u64 = 1 << 30;

/// The most rows (product of the dimensions) one file's table may have: 2^62.
pub(crate) const MAX_ROWS: u64 = 1 << 62;

/// Checks the `(name, size)` dimensions of `what` (a variable or dataset) in `path`.
pub(crate) fn check_dimensions<'a>(
    path: &str,
    what: &str,
    dims: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<()> {
    let mut rows: u64 = 1;
    for (name, size) in dims {
        if size > MAX_DIMENSION_LEN {
            return plan_err!(
                "dimension \"{name}\" of {what} in '{path}' has {size} elements, more than quiver reads ({MAX_DIMENSION_LEN}); the file is corrupt or too large"
            );
        }
        rows = match rows.checked_mul(size) {
            Some(rows) if rows <= MAX_ROWS => rows,
            _ => {
                return plan_err!(
                    "{what} in '{path}' spans more than {MAX_ROWS} rows (dimension \"{name}\" has {size}); the file is corrupt or too large"
                );
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_but_sane_dimensions_pass_and_absurd_ones_fail() {
        assert!(check_dimensions("f.nc", "variable \"v\"", [("t", 1 << 20), ("x", 4096)]).is_ok());
        let err = check_dimensions("f.nc", "variable \"v\"", [("t", 1 << 40)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("dimension \"t\" of variable \"v\" in 'f.nc'"),
            "{text}"
        );
        assert!(text.contains("1099511627776"), "{text}");
        let dims = [("a", 1 << 30), ("b", 1 << 30), ("c", 1 << 30)];
        let err = check_dimensions("f.h5", "dataset '/d'", dims).unwrap_err();
        assert!(
            err.to_string()
                .contains("more than 4611686018427387904 rows"),
            "{err}"
        );
    }
}
