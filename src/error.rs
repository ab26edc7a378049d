//! The crate's domain error: what can go wrong outside DataFusion's own traits (engine
//! options, shell commands), convertible into a [`DataFusionError`] where the two meet.

use datafusion::error::DataFusionError;

/// An error of quiver itself; DataFusion's errors pass through as [`Error::DataFusion`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting given by the user is not valid.
    #[error("invalid value {value:?} for {option}: {reason}")]
    InvalidOption {
        /// The option, as the user spelled it (`--memory-limit`, `.maxrows`).
        option: String,
        /// The value given.
        value: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An error from the query engine.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for DataFusionError {
    fn from(error: Error) -> Self {
        match error {
            Error::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// The message shown to a user for `error`: DataFusion's text, with parser errors shown as
/// the parser's own message (which gives the line and column).
pub fn user_message(error: &DataFusionError) -> String {
    if let Some(denied) = crate::datasource::access::access_denied(error) {
        return denied.to_string();
    }
    match error.find_root() {
        DataFusionError::SQL(parser_error, _) => parser_error.to_string(),
        _ => error.to_string(),
    }
}

/// Parses a memory size such as `4GB`, `512MiB`, `1.5g` or `1000000` (bytes).
pub fn parse_memory_size(option: &str, text: &str) -> Result<usize> {
    let invalid = |reason: &str| Error::InvalidOption {
        option: option.to_string(),
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| invalid("expected a number with an optional unit, such as 4GB or 512MB"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid("unknown unit (use B, KB, MB, GB or TB)")),
    };
    let bytes = number * multiplier;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(invalid("must be at least one byte"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("m", "4GB").unwrap(), 4 << 30);
        assert_eq!(parse_memory_size("m", "512 mib").unwrap(), 512 << 20);
        assert_eq!(parse_memory_size("m", "1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory_size("m", "1000").unwrap(), 1000);
        let err = parse_memory_size("--memory-limit", "4XB").unwrap_err();
        assert!(err.to_string().contains("--memory-limit"), "{err}");
        assert!(parse_memory_size("m", "0").is_err());
        assert!(parse_memory_size("m", "lots").is_err());
    }
}
