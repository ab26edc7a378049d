//! Maps engine errors to PostgreSQL SQLSTATE codes, so that clients (psql, JDBC, ODBC) can
//! tell a syntax error from a missing table or bad data, and so that an error is always an
//! error response on a connection that stays usable, never a dropped connection.

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// `42601`: syntax error.
pub const SYNTAX_ERROR: &str = "42601";
/// `42P01`: undefined table.
pub const UNDEFINED_TABLE: &str = "42P01";
/// `42703`: undefined column.
pub const UNDEFINED_COLUMN: &str = "42703";
/// `42883`: undefined function.
pub const UNDEFINED_FUNCTION: &str = "42883";
/// `42000`: other planning errors (syntax error or access rule violation).
pub const PLAN_ERROR: &str = "42000";
/// `0A000`: feature not supported.
pub const NOT_IMPLEMENTED: &str = "0A000";
/// `22000`: data exception.
pub const DATA_ERROR: &str = "22000";
/// `22012`: division by zero.
pub const DIVISION_BY_ZERO: &str = "22012";
/// `22023`: invalid parameter value.
pub const INVALID_PARAMETER: &str = "22023";
/// `25006`: read-only SQL transaction (the server runs with `--read-only`).
pub const READ_ONLY: &str = "25006";
/// `42501`: insufficient privilege (a file outside the data root).
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// `53200`: out of memory.
pub const OUT_OF_MEMORY: &str = "53200";
/// `53300`: too many connections.
pub const TOO_MANY_CONNECTIONS: &str = "53300";
/// `57014`: query canceled (statement timeout or a cancel request).
pub const QUERY_CANCELED: &str = "57014";
/// `57P01`: admin shutdown (the server is shutting down).
pub const ADMIN_SHUTDOWN: &str = "57P01";
/// `58030`: I/O error.
pub const IO_ERROR: &str = "58030";
/// `XX000`: internal error.
pub const INTERNAL_ERROR: &str = "XX000";

/// The SQLSTATE for an engine error.
pub fn sqlstate(error: &DataFusionError) -> &'static str {
    if crate::datasource::access::access_denied(error).is_some() {
        return INSUFFICIENT_PRIVILEGE;
    }
    match error.find_root() {
        DataFusionError::SQL(_, _) => SYNTAX_ERROR,
        DataFusionError::NotImplemented(_) => NOT_IMPLEMENTED,
        DataFusionError::ResourcesExhausted(_) => OUT_OF_MEMORY,
        DataFusionError::Configuration(_) => INVALID_PARAMETER,
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => IO_ERROR,
        DataFusionError::SchemaError(error, _) => match error.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { .. } => UNDEFINED_COLUMN,
            _ => PLAN_ERROR,
        },
        DataFusionError::ArrowError(error, _) => arrow_sqlstate(error),
        DataFusionError::Plan(message) => plan_sqlstate(message),
        DataFusionError::Execution(_) | DataFusionError::ExecutionJoin(_) => DATA_ERROR,
        DataFusionError::External(error) => match error.downcast_ref::<ArrowError>() {
            Some(arrow) => arrow_sqlstate(arrow),
            None if error.downcast_ref::<std::io::Error>().is_some() => IO_ERROR,
            None => DATA_ERROR,
        },
        _ => INTERNAL_ERROR,
    }
}

fn arrow_sqlstate(error: &ArrowError) -> &'static str {
    match error {
        ArrowError::DivideByZero => DIVISION_BY_ZERO,
        ArrowError::NotYetImplemented(_) => NOT_IMPLEMENTED,
        ArrowError::MemoryError(_) => OUT_OF_MEMORY,
        ArrowError::IoError(_, _) => IO_ERROR,
        _ => DATA_ERROR,
    }
}

fn plan_sqlstate(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if lower.starts_with("table '") && lower.contains("not found")
        || lower.starts_with("no such file or directory")
    {
        UNDEFINED_TABLE
    } else if lower.starts_with("invalid function") || lower.contains("function not found") {
        UNDEFINED_FUNCTION
    } else {
        PLAN_ERROR
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::parser::ParserError;

    #[test]
    fn codes() {
        let syntax = DataFusionError::SQL(Box::new(ParserError::ParserError("x".into())), None);
        assert_eq!(sqlstate(&syntax), SYNTAX_ERROR);
        let table = DataFusionError::Plan("table 'datafusion.public.t' not found".into());
        assert_eq!(sqlstate(&table), UNDEFINED_TABLE);
        let nested = DataFusionError::Context("planning".into(), Box::new(table));
        assert_eq!(sqlstate(&nested), UNDEFINED_TABLE);
        let todo = DataFusionError::NotImplemented("x".into());
        assert_eq!(sqlstate(&todo), NOT_IMPLEMENTED);
        let zero = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None);
        assert_eq!(sqlstate(&zero), DIVISION_BY_ZERO);
        let cast = DataFusionError::ArrowError(Box::new(ArrowError::CastError("x".into())), None);
        assert_eq!(sqlstate(&cast), DATA_ERROR);
        let memory = DataFusionError::ResourcesExhausted("x".into());
        assert_eq!(sqlstate(&memory), OUT_OF_MEMORY);
    }
}
